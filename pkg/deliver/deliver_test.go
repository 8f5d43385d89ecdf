package deliver

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"

	"unixmail/pkg/lock"
	"unixmail/pkg/mbox"
	"unixmail/pkg/sysexits"
)

func TestClassifyDecidesRetryOrBounce(t *testing.T) {
	tests := []struct {
		err  error
		code int
	}{
		{fmt.Errorf("open: %w", mbox.ErrUnsafe), sysexits.NoPerm},
		{fmt.Errorf("create: %w", os.ErrPermission), sysexits.CantCreat},
		{fmt.Errorf("create: %w", syscall.ENOENT), sysexits.CantCreat},
		{fmt.Errorf("write: %w", syscall.ENOSPC), sysexits.TempFail},
		{fmt.Errorf("write: %w", syscall.EFBIG), sysexits.TempFail},
		{fmt.Errorf("write: %w", syscall.EDQUOT), sysexits.TempFail},
		{fmt.Errorf("lock: %w", lock.ErrTimeout), sysexits.TempFail},
		{sysexits.Wrap(sysexits.NoUser, errors.New("no such user")), sysexits.NoUser},
	}
	for _, tt := range tests {
		if got := sysexits.Code(classify(tt.err)); got != tt.code {
			t.Errorf("classify(%v) = %d, want %d", tt.err, got, tt.code)
		}
	}
}

func TestExitCodePrefersRetryOverBounce(t *testing.T) {
	ok := Result{}
	bounce := Result{Err: sysexits.Wrap(sysexits.NoUser, errors.New("x"))}
	retry := Result{Err: sysexits.Wrap(sysexits.TempFail, errors.New("y"))}
	tests := []struct {
		rs   []Result
		code int
	}{
		{[]Result{ok, ok}, 0},
		{[]Result{ok, bounce}, sysexits.NoUser},
		{[]Result{bounce, retry}, sysexits.TempFail},
		{nil, 0},
	}
	for _, tt := range tests {
		if got := ExitCode(tt.rs); got != tt.code {
			t.Errorf("ExitCode = %d, want %d", got, tt.code)
		}
	}
}

func TestResultStatusWords(t *testing.T) {
	if s := (Result{}).Status(); s != "sent" {
		t.Error(s)
	}
	if s := (Result{Err: sysexits.Wrap(sysexits.TempFail, errors.New("x"))}).Status(); s != "deferred" {
		t.Error(s)
	}
	if s := (Result{Err: sysexits.Wrap(sysexits.NoPerm, errors.New("x"))}).Status(); s != "bounced" {
		t.Error(s)
	}
}
