package imapstore

import (
	"cmp"
	"slices"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
)

// Thread is a message of a THREAD response (RFC 5256) with the messages
// that answer it. Num is 0 for a message the mailbox lacks (one that was
// referred to, or a shared subject) holding its children together.
type Thread struct {
	Num      uint32
	Children []Thread
}

// The threading algorithms.
const (
	ThreadOrderedSubject = imap.ThreadOrderedSubject
	ThreadReferences     = imap.ThreadReferences
)

// Thread is THREAD: the messages matching criteria, threaded by alg.
func (s *Session) Thread(kind imapserver.NumKind, criteria *imap.SearchCriteria, alg imap.ThreadAlgorithm) ([]Thread, error) {
	items, err := s.orderItems(criteria, need{date: true, subject: true, ids: alg == ThreadReferences})
	if err != nil {
		return nil, err
	}
	if alg == ThreadReferences {
		return threadReferences(items, kind), nil
	}
	return threadOrderedSubject(items, kind), nil
}

// bySent orders messages by sent date, then by their place in the mailbox.
func bySent(a, b *sortItem) int {
	if c := cmp.Compare(a.date, b.date); c != 0 {
		return c
	}
	return cmp.Compare(a.seq, b.seq)
}

// threadOrderedSubject is ORDEREDSUBJECT: one thread per base subject,
// its first message (by sent date) the parent of all the others, the
// threads in the order of their first messages.
func threadOrderedSubject(items []sortItem, kind imapserver.NumKind) []Thread {
	slices.SortFunc(items, func(a, b sortItem) int {
		if c := cmp.Compare(a.subject, b.subject); c != 0 {
			return c
		}
		return bySent(&a, &b)
	})
	var out []Thread
	var firsts []*sortItem
	for i := 0; i < len(items); {
		j := i + 1
		for j < len(items) && items[j].subject == items[i].subject {
			j++
		}
		t := Thread{Num: items[i].num(kind)}
		for k := i + 1; k < j; k++ {
			t.Children = append(t.Children, Thread{Num: items[k].num(kind)})
		}
		out = append(out, t)
		firsts = append(firsts, &items[i])
		i = j
	}
	order := make([]int, len(out))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return bySent(firsts[a], firsts[b]) })
	sorted := make([]Thread, len(out))
	for i, k := range order {
		sorted[i] = out[k]
	}
	return sorted
}

// container is a node of REFERENCES threading: a message, or a dummy
// standing for one the mailbox lacks.
type container struct {
	item     *sortItem
	parent   *container
	children []*container
}

func (c *container) adopt(child *container) {
	if child.parent != nil {
		p := child.parent
		p.children = slices.DeleteFunc(p.children, func(x *container) bool { return x == child })
	}
	child.parent = c
	c.children = append(c.children, child)
}

// isAncestorOf reports whether c is x or above it.
func (c *container) isAncestorOf(x *container) bool {
	for ; x != nil; x = x.parent {
		if x == c {
			return true
		}
	}
	return false
}

// threadReferences is RFC 5256's REFERENCES algorithm (section 3): links
// by Message-ID, References and In-Reply-To, dummies pruned, root
// threads of one base subject gathered, every level by sent date.
func threadReferences(items []sortItem, kind imapserver.NumKind) []Thread {
	// Sized for a Message-ID a message, as most have: grown from
	// empty, the map was rebuilt again and again for a big folder.
	byID := make(map[string]*container, len(items))
	find := func(id string) *container {
		c := byID[id]
		if c == nil {
			c = &container{}
			byID[id] = c
		}
		return c
	}
	all := make([]*container, 0, len(items))
	for i := range items {
		it := &items[i]
		var c *container
		if it.msgID != "" && (byID[it.msgID] == nil || byID[it.msgID].item == nil) {
			c = find(it.msgID)
		} else {
			c = &container{} // no Message-ID, or one already taken
		}
		c.item = it
		all = append(all, c)
		var prev *container
		for _, ref := range it.refs {
			r := find(ref)
			if prev != nil && r.parent == nil && !r.isAncestorOf(prev) {
				prev.adopt(r)
			}
			prev = r
		}
		if prev != nil && !c.isAncestorOf(prev) {
			prev.adopt(c)
		} else if c.parent != nil {
			p := c.parent
			p.children = slices.DeleteFunc(p.children, func(x *container) bool { return x == c })
			c.parent = nil
		}
	}
	var roots []*container
	seen := map[*container]bool{}
	addRoot := func(c *container) {
		if c.parent == nil && !seen[c] {
			seen[c] = true
			roots = append(roots, c)
		}
	}
	for _, c := range all {
		for c.parent != nil {
			c = c.parent
		}
		addRoot(c)
	}
	roots = pruneDummies(roots, true)
	roots = gatherBySubject(roots)
	sortThreads(roots)
	return toThreads(roots, kind)
}

// pruneDummies drops dummies without children and puts the children of
// the others in their place, except a root dummy with several children,
// which holds its siblings together.
func pruneDummies(list []*container, root bool) []*container {
	var out []*container
	for _, c := range list {
		c.children = pruneDummies(c.children, false)
		for _, ch := range c.children {
			ch.parent = c
		}
		switch {
		case c.item != nil:
			out = append(out, c)
		case len(c.children) == 0:
		case root && len(c.children) > 1:
			out = append(out, c)
		default:
			for _, ch := range c.children {
				ch.parent = c.parent
			}
			out = append(out, c.children...)
		}
	}
	return out
}

// subjectOf is a thread's subject: its message's, or a dummy's first
// child's.
func subjectOf(c *container) *sortItem {
	if c.item == nil && len(c.children) > 0 {
		c = c.children[0]
	}
	return c.item
}

// gatherBySubject joins root threads of one base subject (section 3,
// step 5).
func gatherBySubject(roots []*container) []*container {
	table := make(map[string]*container, len(roots))
	for _, c := range roots {
		it := subjectOf(c)
		if it == nil || it.subject == "" {
			continue
		}
		old := table[it.subject]
		if old == nil || (old.item != nil && c.item == nil) || (old.item != nil && c.item != nil && old.item.reply && !it.reply) {
			table[it.subject] = c
		}
	}
	var out []*container
	for _, c := range roots {
		if c.parent != nil {
			continue // merged below another root already
		}
		it := subjectOf(c)
		if it == nil || it.subject == "" {
			out = append(out, c)
			continue
		}
		t := table[it.subject]
		switch {
		case t == c:
			out = append(out, c)
		case t.item == nil && c.item == nil:
			for _, ch := range slices.Clone(c.children) {
				t.adopt(ch)
			}
		case t.item == nil:
			t.adopt(c)
		case c.item == nil:
			c.adopt(t)
			table[it.subject] = c
			out = replaceRoot(out, t, c)
		case c.item.reply && !t.item.reply:
			t.adopt(c)
		default:
			d := &container{}
			d.adopt(t)
			d.adopt(c)
			table[it.subject] = d
			out = replaceRoot(out, t, d)
		}
	}
	return out
}

// replaceRoot puts n where old stood among the roots kept so far, or
// keeps n for later when old is not yet there (it then never will be:
// old now hangs below n).
func replaceRoot(out []*container, old, n *container) []*container {
	if i := slices.Index(out, old); i >= 0 {
		out[i] = n
		return out
	}
	return append(out, n)
}

// sortThreads orders every level by sent date; a dummy goes by its
// first child's.
func sortThreads(list []*container) {
	for _, c := range list {
		sortThreads(c.children)
	}
	slices.SortStableFunc(list, func(a, b *container) int { return bySent(firstItem(a), firstItem(b)) })
}

func firstItem(c *container) *sortItem {
	for c.item == nil && len(c.children) > 0 {
		c = c.children[0]
	}
	if c.item == nil {
		return &sortItem{}
	}
	return c.item
}

func toThreads(list []*container, kind imapserver.NumKind) []Thread {
	out := make([]Thread, len(list))
	for i, c := range list {
		if c.item != nil {
			out[i].Num = c.item.num(kind)
		}
		out[i].Children = toThreads(c.children, kind)
	}
	return out
}
