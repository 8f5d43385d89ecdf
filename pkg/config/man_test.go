package config

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// readManPage returns unixmail.conf(5), which must document every key.
func readManPage(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "man", "unixmail.conf.5"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// keyLineRE matches a key's entry, ".It Cm key Pq default: ...", with an
// optional second key (".It Cm tls_cert , Cm tls_key Pq ...").
var keyLineRE = regexp.MustCompile(`(?m)^\.It Cm (\w+)(?: , Cm (\w+))? Pq default: (.*)$`)

func TestManPageDocumentsEveryKeyAndDefault(t *testing.T) {
	documented := map[string]string{}
	for _, m := range keyLineRE.FindAllStringSubmatch(readManPage(t), -1) {
		documented[m[1]] = m[3]
		if m[2] != "" {
			documented[m[2]] = m[3]
		}
	}
	for _, k := range keys {
		doc, ok := documented[k.name]
		if !ok {
			t.Errorf("key %s is not documented", k.name)
			continue
		}
		delete(documented, k.name)
		if k.def == "" {
			continue // "empty", or a default computed at load time
		}
		if want1, want2 := "Li "+k.def, "Pa "+k.def; doc != want1 && doc != want2 {
			t.Errorf("man page gives %s the default %q, code has %q", k.name, doc, k.def)
		}
	}
	for name := range documented {
		t.Errorf("man page documents %s, which is not a key", name)
	}
}

func TestManPageExampleFilesLoad(t *testing.T) {
	blocks := regexp.MustCompile(`(?s)\.Bd -literal -offset indent\n(# /.*?)\.Ed\n`).FindAllStringSubmatch(readManPage(t), -1)
	if len(blocks) == 0 {
		t.Fatal("no example files found")
	}
	for _, b := range blocks {
		text := strings.ReplaceAll(b[1], `\e`, `\`)
		s := newSettings()
		err := s.parse("example", text)
		if err == nil {
			_, err = build(s, "example.org")
		}
		if err != nil {
			t.Errorf("example\n%s\ndoes not load: %v", text, err)
		}
	}
}
