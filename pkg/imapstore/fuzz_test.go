package imapstore

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseParts: any message gives parts that lie within it, in order,
// and a BODYSTRUCTURE with sizes that add up.
func FuzzParseParts(f *testing.F) {
	f.Fuzz(func(t *testing.T, msg string) {
		top := parseParts(strings.NewReader(msg))
		var check func(p *part, depth int)
		check = func(p *part, depth int) {
			if depth > maxDepth+2 {
				t.Fatalf("nested %d deep", depth)
			}
			if !(0 <= p.hdrStart && p.hdrStart <= p.bodyStart && p.bodyStart <= p.end && p.end <= int64(len(msg))) {
				t.Fatalf("part out of order or outside the message: %d %d %d (len %d)", p.hdrStart, p.bodyStart, p.end, len(msg))
			}
			for _, c := range p.children {
				if c.hdrStart < p.bodyStart || c.end > p.end {
					t.Fatalf("child %d-%d outside its parent %d-%d", c.hdrStart, c.end, p.bodyStart, p.end)
				}
				check(c, depth+1)
			}
			if p.msg != nil {
				check(p.msg, depth+1)
			}
		}
		check(top, 0)
		top.bodyStructure(true)
		if diff := sameParts(top, parseStored([]byte(msg))); diff != "" {
			t.Fatalf("parsed in memory for SEARCH, the parts differ: %s", diff)
		}
	})
}

// sameParts compares what SEARCH uses of two parses of one message.
func sameParts(a, b *part) string {
	if a.hdrStart != b.hdrStart || a.bodyStart != b.bodyStart || a.end != b.end || a.lines != b.lines || a.mediaType != b.mediaType ||
		len(a.children) != len(b.children) || (a.msg == nil) != (b.msg == nil) {
		return fmt.Sprintf("%+v and %+v", *a, *b)
	}
	for i := range a.children {
		if d := sameParts(a.children[i], b.children[i]); d != "" {
			return d
		}
	}
	if a.msg != nil {
		return sameParts(a.msg, b.msg)
	}
	return ""
}

// FuzzCheckName: no accepted name reaches outside folder_dir.
func FuzzCheckName(f *testing.F) {
	f.Fuzz(func(t *testing.T, name string) {
		if checkName(name) != nil {
			return
		}
		if !utf8.ValidString(name) || strings.HasPrefix(name, "/") || strings.Contains(name, "\x00") {
			t.Fatalf("accepted %q", name)
		}
		for _, c := range strings.Split(name, "/") {
			if c == "" || c == "." || c == ".." || strings.HasPrefix(c, ".") {
				t.Fatalf("accepted %q", name)
			}
		}
	})
}
