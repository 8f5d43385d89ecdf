package mimeview

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// checkDisplaySafe fails when text could upset a terminal: invalid UTF-8,
// ESC or another control character (a line break too, for one-line text).
func checkDisplaySafe(t *testing.T, what, s string, oneLine bool) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Fatalf("%s is not valid UTF-8: %q", what, s)
	}
	for _, r := range s {
		if r == '\n' && !oneLine || r == '\t' && !oneLine {
			continue
		}
		if r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 {
			t.Fatalf("%s has control character %U: %q", what, r, s)
		}
	}
}

func addMessageSeeds(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.eml")
	for _, name := range files {
		if b, err := os.ReadFile(name); err == nil {
			f.Add(b)
		}
	}
}

func FuzzRender(f *testing.F) {
	addMessageSeeds(f)
	f.Fuzz(func(t *testing.T, msg []byte) {
		var out bytes.Buffer
		if err := Render(&out, bytes.NewReader(msg), Options{Width: 40}); err != nil {
			t.Fatalf("Render: %v", err)
		}
		checkDisplaySafe(t, "Render output", out.String(), false)
		parts, err := Parts(bytes.NewReader(msg))
		if err != nil {
			t.Fatalf("Parts: %v", err)
		}
		if len(parts) == 0 {
			t.Fatal("Parts found no part")
		}
		for _, p := range parts {
			var b bytes.Buffer
			err := WritePart(&b, bytes.NewReader(msg), p.Num)
			if err != nil && strings.Contains(err.Error(), "no part") {
				t.Fatalf("Parts lists %s but WritePart cannot find it", p.Num)
			}
			if int64(b.Len()) != p.Size {
				t.Fatalf("part %s: WritePart wrote %d bytes, Parts says %d", p.Num, b.Len(), p.Size)
			}
		}
	})
}

func FuzzDecodeHeader(f *testing.F) {
	for _, s := range []string{
		"=?UTF-8?Q?Sch=C3=B6ne_Gr=C3=BC=C3=9Fe?=", "=?iso-8859-1?B?R3L832U=?= aus =?iso-8859-1?Q?K=F6ln?=",
		"=?x-unknown?q?a?= b", "=?utf-8?q?a=0D=0Ab?=", "raw caf\xe9", "=?utf-16?b?AGEAYg==?=", "=?utf-8*de?q?x?=",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		checkDisplaySafe(t, "DecodeHeader", DecodeHeader(v), true)
	})
}

func FuzzSummary(f *testing.F) {
	f.Add(benchHeader)
	addMessageSeeds(f)
	f.Fuzz(func(t *testing.T, h []byte) {
		from, subject, _ := Summary(h)
		checkDisplaySafe(t, "from", from, true)
		checkDisplaySafe(t, "subject", subject, true)
	})
}

func FuzzHTMLToText(f *testing.F) {
	for _, s := range []string{"<p>a<br>b</p>", "<a href='x'>y</a>", "<pre>x</pre><script>", "<!--", "<img alt=\"q>", "&#0;&#x1b;"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := htmlToText(s)
		if strings.Contains(out, "\n\n\n") {
			t.Fatalf("more than one empty line in a row: %q", out)
		}
	})
}
