package lock

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func turnMailbox(t *testing.T) (string, *os.File) {
	t.Helper()
	box := filepath.Join(t.TempDir(), "Mailbox")
	f, err := os.Create(box)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return box, f
}

// A queued waiter sleeping for long is woken as soon as the holder lets
// the locks go, and the holder's turn ends when the waiter is done trying.
func TestAQueuedWaiterIsWokenWhenTheLocksGoAndTheHolderWaitsForItsTry(t *testing.T) {
	box, f := turnMailbox(t)
	w := Queue(box)
	if w == nil {
		t.Fatal("could not queue")
	}
	woken := make(chan time.Time, 1)
	tried := make(chan struct{})
	go func() {
		w.Sleep(time.Minute)
		woken <- time.Now()
		<-tried
		w.Close() // has the locks: the holder may go on
	}()
	time.Sleep(10 * time.Millisecond)
	turn := Wake(f)
	if turn == nil {
		t.Fatal("Wake found no waiter")
	}
	select {
	case <-woken:
	case <-time.After(30 * time.Second):
		t.Fatal("the waiter slept on")
	}
	ended := make(chan struct{})
	go func() { turn.Wait(time.Minute); close(ended) }()
	select {
	case <-ended:
		t.Fatal("the turn ended before the waiter's try")
	case <-time.After(20 * time.Millisecond):
	}
	close(tried)
	select {
	case <-ended:
	case <-time.After(30 * time.Second):
		t.Fatal("the turn did not end when the waiter left the queue")
	}
}

func TestWithNoWaiterWakeGivesNoTurnAndASecondWaiterIsNotQueued(t *testing.T) {
	box, f := turnMailbox(t)
	if turn := Wake(f); turn != nil {
		t.Error("a turn with no one waiting")
	}
	w := Queue(box)
	if w == nil {
		t.Fatal("could not queue")
	}
	if second := Queue(box); second != nil {
		second.Close()
		t.Error("a second waiter was queued beside the first")
	}
	w.Close()
	again := Queue(box)
	if again == nil {
		t.Error("the place was not freed")
	}
	again.Close()
	if Queue(filepath.Join(t.TempDir(), "missing")) != nil {
		t.Error("queued for a mailbox that is not there")
	}
}

// A wake that comes while the waiter is not asleep (trying) is not lost:
// its next sleep ends at once.
func TestAWakeWhileTheWaiterTriesEndsItsNextSleep(t *testing.T) {
	box, f := turnMailbox(t)
	w := Queue(box)
	defer w.Close()
	turn := Wake(f)
	defer turn.Close()
	start := time.Now()
	w.Sleep(time.Minute)
	if time.Since(start) > 30*time.Second {
		t.Error("the wake was lost")
	}
}

func TestATurnWithNoAnswerEndsAfterItsLimit(t *testing.T) {
	box, f := turnMailbox(t)
	w := Queue(box) // never sleeps, never answers
	defer w.Close()
	Wake(f).Wait(10 * time.Millisecond) // returns: the test would hang otherwise
	var nilTurn *Turn
	nilTurn.Wait(time.Minute)
	var nilWaiter *Waiter
	nilWaiter.Sleep(time.Millisecond)
	nilWaiter.Close()
}
