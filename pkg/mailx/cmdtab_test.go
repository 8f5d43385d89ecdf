package mailx

import "testing"

// TestPOSIXAbbreviationsNameTheirCommands checks every abbreviation of the
// POSIX mailx synopses (the letters before the brackets, as in ex[it]).
func TestPOSIXAbbreviationsNameTheirCommands(t *testing.T) {
	for abbr, name := range map[string]string{
		"a": "alias", "alt": "alternates", "cd": "cd", "ch": "chdir", "c": "copy", "C": "Copy",
		"d": "delete", "di": "discard", "dp": "dp", "dt": "dt", "ec": "echo", "e": "edit",
		"ex": "exit", "x": "xit", "fi": "file", "fold": "folder", "folders": "folders",
		"fo": "followup", "F": "Followup", "f": "from", "h": "headers", "hel": "help",
		"ho": "hold", "pre": "preserve", "i": "if", "el": "else", "en": "endif", "ig": "ignore",
		"l": "list", "m": "mail", "mb": "mbox", "n": "next", "pi": "pipe", "P": "Print",
		"T": "Type", "p": "print", "t": "type", "q": "quit", "r": "reply", "R": "Reply",
		"res": "respond", "Res": "Respond", "ret": "retain", "s": "save", "S": "Save", "se": "set",
		"sh": "shell", "si": "size", "so": "source", "to": "top", "tou": "touch",
		"una": "unalias", "u": "undelete", "uns": "unset", "v": "visual", "w": "write",
		"z": "z", "g": "group", "=": "=", "!": "!", "|": "|", "?": "?",
	} {
		if c := lookup(abbr); c == nil || c.Name != name {
			got := "nothing"
			if c != nil {
				got = c.Name
			}
			t.Errorf("%q names %s, want %s", abbr, got, name)
		}
	}
}
