package mailx

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// argKind is how a command's arguments are parsed.
type argKind uint8

const (
	noList    argKind = iota // no arguments
	msgList                  // a message list; empty = the current message
	delList                  // a message list of deleted messages (undelete)
	strList                  // words
	rawList                  // the rest of the line as typed
	msgAndStr                // a message list, then words (save, pipe, copy...)
)

// flagSet says when a command may run and what follows it.
type flagSet uint16

const (
	fFolder    flagSet = 1 << iota // needs an open folder
	fWrite                         // changes the folder: not when read-only
	fCompose                       // allowed from ~: while composing
	fCond                          // runs even inside a false if branch
	fAutoprint                     // print the new current message if autoprint is set
	fNoRC                          // not in a start-up file (POSIX: it would act or wait on a user)
	fSystem                        // only in the system mailbox (POSIX: hold, preserve, mbox, touch)
)

// args is a parsed command line.
type args struct {
	list  []int    // message indexes
	words []string // words after the list
	raw   string   // the rest of the line, for rawList
}

// command is one row of the command table.
type command struct {
	Name  string
	Func  func(*Session, *args) error
	Arg   argKind
	Flags flagSet
	Min   int // words needed
	Max   int // words allowed; -1 = any
	Help  string
}

// commands is the command table. The order matters: a command may be
// abbreviated to any prefix, and a prefix names the first command in this
// table that it begins (so "p" is print and "pre" preserve), giving the
// abbreviations of POSIX mailx and mail(1).
var commands []command

func init() {
	commands = []command{
		{Name: "next", Func: cmdNext, Arg: msgList, Flags: fFolder, Max: -1, Help: "go to and print the next message"},
		{Name: "alias", Func: cmdAlias, Arg: strList, Flags: fCompose, Max: -1, Help: "define or show aliases"},
		{Name: "alternates", Func: cmdAlternates, Arg: strList, Flags: fCompose, Max: -1, Help: "other addresses that are you"},
		{Name: "attachments", Func: cmdAttachments, Arg: strList, Flags: fFolder, Max: 3, Help: "list a message's MIME parts; with part and file, save one"},
		{Name: "print", Func: cmdPrint, Arg: msgList, Flags: fFolder | fCompose, Max: -1, Help: "print messages"},
		{Name: "Print", Func: cmdPrintRaw, Arg: msgList, Flags: fFolder | fCompose, Max: -1, Help: "print messages as they are, every header"},
		{Name: "type", Func: cmdPrint, Arg: msgList, Flags: fFolder | fCompose, Max: -1, Help: "print messages"},
		{Name: "Type", Func: cmdPrintRaw, Arg: msgList, Flags: fFolder | fCompose, Max: -1, Help: "print messages as they are, every header"},
		{Name: "top", Func: cmdTop, Arg: msgList, Flags: fFolder | fCompose, Max: -1, Help: "print the first toplines lines of messages"},
		{Name: "touch", Func: cmdTouch, Arg: msgList, Flags: fFolder | fSystem, Max: -1, Help: "mark messages read (they go to MBOX)"},
		{Name: "preserve", Func: cmdHold, Arg: msgList, Flags: fFolder | fWrite | fNoRC | fSystem, Max: -1, Help: "keep messages in the system mailbox"},
		{Name: "delete", Func: cmdDelete, Arg: msgList, Flags: fFolder | fWrite | fAutoprint, Max: -1, Help: "delete messages"},
		{Name: "discard", Func: cmdIgnore, Arg: strList, Flags: fCompose, Max: -1, Help: "header fields not to show"},
		{Name: "dp", Func: cmdDeletePrint, Arg: msgList, Flags: fFolder | fWrite, Max: -1, Help: "delete, then print the next message"},
		{Name: "dt", Func: cmdDeletePrint, Arg: msgList, Flags: fFolder | fWrite, Max: -1, Help: "delete, then print the next message"},
		{Name: "undelete", Func: cmdUndelete, Arg: delList, Flags: fFolder | fAutoprint, Max: -1, Help: "undelete messages"},
		{Name: "unalias", Func: cmdUnalias, Arg: strList, Flags: fCompose, Min: 1, Max: -1, Help: "remove aliases"},
		{Name: "unset", Func: cmdUnset, Arg: strList, Flags: fCompose, Min: 1, Max: -1, Help: "unset variables"},
		{Name: "unread", Func: cmdUnread, Arg: msgList, Flags: fFolder, Max: -1, Help: "mark messages unread"},
		{Name: "Unread", Func: cmdUnread, Arg: msgList, Flags: fFolder, Max: -1, Help: "mark messages unread"},
		{Name: "mail", Func: cmdMail, Arg: strList, Flags: fNoRC, Min: 1, Max: -1, Help: "compose a message to users"},
		{Name: "mbox", Func: cmdMbox, Arg: msgList, Flags: fFolder | fWrite | fSystem, Max: -1, Help: "move messages to MBOX at quit"},
		{Name: "more", Func: cmdMore, Arg: msgList, Flags: fFolder | fCompose, Max: -1, Help: "print messages through the pager"},
		{Name: "More", Func: cmdMoreRaw, Arg: msgList, Flags: fFolder | fCompose, Max: -1, Help: "print raw messages through the pager"},
		{Name: "page", Func: cmdMore, Arg: msgList, Flags: fFolder | fCompose, Max: -1, Help: "print messages through the pager"},
		{Name: "Page", Func: cmdMoreRaw, Arg: msgList, Flags: fFolder | fCompose, Max: -1, Help: "print raw messages through the pager"},
		{Name: "pipe", Func: cmdPipe, Arg: msgAndStr, Flags: fFolder, Max: -1, Help: "pipe messages to a shell command"},
		{Name: "copy", Func: cmdCopy, Arg: msgAndStr, Flags: fFolder, Max: 1, Help: "copy messages to a file"},
		{Name: "Copy", Func: cmdCopyUser, Arg: msgList, Flags: fFolder | fNoRC, Max: -1, Help: "copy messages to a file named after the sender"},
		{Name: "cd", Func: cmdCd, Arg: strList, Flags: fCompose, Max: 1, Help: "change directory"},
		{Name: "chdir", Func: cmdCd, Arg: strList, Flags: fCompose, Max: 1, Help: "change directory"},
		{Name: "save", Func: cmdSave, Arg: msgAndStr, Flags: fFolder, Max: 1, Help: "append messages to a file"},
		{Name: "Save", Func: cmdSaveUser, Arg: msgList, Flags: fFolder | fNoRC, Max: -1, Help: "save messages to a file named after the sender"},
		{Name: "set", Func: cmdSet, Arg: strList, Flags: fCompose, Max: -1, Help: "set variables"},
		{Name: "shell", Func: cmdShell, Arg: noList, Flags: fCompose | fNoRC, Help: "run an interactive shell"},
		{Name: "size", Func: cmdSize, Arg: msgList, Flags: fFolder | fCompose, Max: -1, Help: "show message sizes"},
		{Name: "source", Func: cmdSource, Arg: strList, Flags: fCompose, Min: 1, Max: 1, Help: "read commands from a file"},
		{Name: "write", Func: cmdWrite, Arg: msgAndStr, Flags: fFolder, Max: 1, Help: "write message bodies to a file"},
		{Name: "from", Func: cmdFrom, Arg: msgList, Flags: fFolder | fCompose, Max: -1, Help: "show header lines of messages"},
		{Name: "file", Func: cmdFile, Arg: strList, Max: 1, Help: "show or change the folder"},
		{Name: "followup", Func: cmdFollowup, Arg: msgList, Flags: fFolder | fNoRC, Max: -1, Help: "reply to the sender, record in a file named after them"},
		{Name: "Followup", Func: cmdFollowupAll, Arg: msgList, Flags: fFolder | fNoRC, Max: -1, Help: "reply to the senders of messages, recorded"},
		{Name: "folder", Func: cmdFile, Arg: strList, Max: 1, Help: "show or change the folder"},
		{Name: "folders", Func: cmdFolders, Arg: noList, Flags: fCompose, Help: "list the folders"},
		{Name: "headers", Func: cmdHeaders, Arg: msgList, Flags: fFolder | fCompose, Max: -1, Help: "show the screen of headers"},
		{Name: "help", Func: cmdHelp, Arg: noList, Flags: fCompose, Help: "this list"},
		{Name: "hold", Func: cmdHold, Arg: msgList, Flags: fFolder | fWrite | fNoRC | fSystem, Max: -1, Help: "keep messages in the system mailbox"},
		{Name: "if", Func: cmdIf, Arg: strList, Flags: fCond | fCompose, Min: 1, Max: 1, Help: "if receive|send|term"},
		{Name: "ignore", Func: cmdIgnore, Arg: strList, Flags: fCompose, Max: -1, Help: "header fields not to show"},
		{Name: "list", Func: cmdList, Arg: noList, Flags: fCompose, Help: "list the commands"},
		{Name: "newmail", Func: cmdNewmail, Arg: noList, Flags: fFolder, Help: "check for mail delivered since the folder was opened"},
		{Name: "quit", Func: cmdQuit, Arg: noList, Help: "save changes and leave"},
		{Name: "reply", Func: cmdReplyAll, Arg: msgList, Flags: fFolder | fNoRC, Max: -1, Help: "reply to the sender and all recipients"},
		{Name: "Reply", Func: cmdReplySender, Arg: msgList, Flags: fFolder | fNoRC, Max: -1, Help: "reply to the senders only"},
		{Name: "respond", Func: cmdReplyAll, Arg: msgList, Flags: fFolder | fNoRC, Max: -1, Help: "reply to the sender and all recipients"},
		{Name: "Respond", Func: cmdReplySender, Arg: msgList, Flags: fFolder | fNoRC, Max: -1, Help: "reply to the senders only"},
		{Name: "retain", Func: cmdRetain, Arg: strList, Flags: fCompose, Max: -1, Help: "header fields to show (only these)"},
		{Name: "visual", Func: cmdVisual, Arg: msgList, Flags: fFolder | fNoRC, Max: -1, Help: "view messages in $VISUAL"},
		{Name: "edit", Func: cmdEdit, Arg: msgList, Flags: fFolder | fNoRC, Max: -1, Help: "view messages in $EDITOR"},
		{Name: "echo", Func: cmdEcho, Arg: strList, Flags: fCompose, Max: -1, Help: "print words"},
		{Name: "else", Func: cmdElse, Arg: noList, Flags: fCond | fCompose, Help: "if branch"},
		{Name: "endif", Func: cmdEndif, Arg: noList, Flags: fCond | fCompose, Help: "end of if"},
		{Name: "exit", Func: cmdExit, Arg: noList, Help: "leave without changing the folder"},
		{Name: "xit", Func: cmdExit, Arg: noList, Help: "leave without changing the folder"},
		{Name: "flag", Func: cmdFlag, Arg: msgList, Flags: fFolder | fWrite, Max: -1, Help: "flag messages"},
		{Name: "unflag", Func: cmdUnflag, Arg: msgList, Flags: fFolder | fWrite, Max: -1, Help: "unflag messages"},
		{Name: "group", Func: cmdAlias, Arg: strList, Flags: fCompose, Max: -1, Help: "define or show aliases"},
		{Name: "unignore", Func: cmdUnignore, Arg: strList, Flags: fCompose, Min: 1, Max: -1, Help: "show header fields again"},
		{Name: "unretain", Func: cmdUnretain, Arg: strList, Flags: fCompose, Min: 1, Max: -1, Help: "drop fields from the retain list"},
		{Name: "version", Func: cmdVersion, Arg: noList, Flags: fCompose, Help: "show the version"},
		{Name: "z", Func: cmdZ, Arg: strList, Flags: fFolder, Max: 1, Help: "next (z, z+) or previous (z-) screen of headers"},
		{Name: "=", Func: cmdEquals, Arg: noList, Flags: fFolder | fCompose, Help: "show the current message number"},
		{Name: "?", Func: cmdHelp, Arg: noList, Flags: fCompose, Help: "this list"},
		{Name: "!", Func: cmdShellCmd, Arg: rawList, Flags: fCompose | fNoRC, Help: "run a shell command"},
		{Name: "|", Func: cmdPipe, Arg: msgAndStr, Flags: fFolder, Max: -1, Help: "pipe messages to a shell command"},
		{Name: "-", Func: cmdPrevious, Arg: noList, Flags: fFolder, Help: "print the previous message"},
		{Name: "#", Func: func(*Session, *args) error { return nil }, Arg: rawList, Flags: fCompose, Help: "a comment"},
	}
}

// lookup finds a command by name or abbreviation.
func lookup(name string) *command {
	for i := range commands {
		if commands[i].Name == name {
			return &commands[i]
		}
	}
	for i := range commands {
		if strings.HasPrefix(commands[i].Name, name) {
			return &commands[i]
		}
	}
	return nil
}

// splitCommand splits a line into the command word and the rest. A
// command made of punctuation (!, |, =, ?, #, -) needs no space after it.
func splitCommand(line string) (string, string) {
	line = strings.TrimLeft(line, " \t")
	if line == "" {
		return "", ""
	}
	if strings.ContainsRune("!|=?#-", rune(line[0])) {
		return line[:1], strings.TrimSpace(line[1:])
	}
	i := strings.IndexFunc(line, func(r rune) bool {
		return unicode.IsSpace(r) || r == '!' || r == '|' || r == '/' || r == '"' || r == '\''
	})
	if i < 0 {
		return line, ""
	}
	return line[:i], strings.TrimSpace(line[i:])
}

// execute runs one command line.
func (s *Session) execute(line string) {
	name, rest := splitCommand(line)
	if name == "" {
		if !s.running() || s.sending {
			return
		}
		// An empty line in a folder goes to the next message (POSIX).
		name = "next"
	}
	if name == "z-" || name == "z+" {
		name, rest = "z", name[1:]
	}
	// A bare message number (or . ^ $) prints it.
	if isNumberish(name) && name != "-" {
		rest, name = strings.TrimSpace(name+" "+rest), "print"
	}
	c := lookup(name)
	if c == nil {
		if s.running() {
			s.warn("Unknown command: %q", name)
		}
		return
	}
	if !s.running() && c.Flags&fCond == 0 {
		return
	}
	if err := s.run(c, rest); errors.Is(err, errInterrupted) {
		fmt.Fprintln(s.out) // POSIX: the command is over, the prompt comes back
	} else if err != nil {
		s.warn("%v", err)
	}
}

// run parses a command's arguments and enforces its flags.
func (s *Session) run(c *command, rest string) error {
	defer func() { s.prevCmd = c.Name }()
	if s.sending && c.Flags&fCompose == 0 {
		return fmt.Errorf("%s: not allowed while composing", c.Name)
	}
	if s.startup && c.Flags&fNoRC != 0 {
		return fmt.Errorf("%s: not allowed in a start-up file", c.Name)
	}
	if c.Flags&fFolder != 0 && s.f == nil {
		return fmt.Errorf("%s: no folder is open", c.Name)
	}
	if c.Flags&fSystem != 0 && !s.f.system {
		return fmt.Errorf("%s: only in the system mailbox", c.Name)
	}
	if c.Flags&fWrite != 0 && s.f.readOnly {
		return fmt.Errorf("%s: %s is read-only", c.Name, s.f.path)
	}
	a := &args{raw: rest}
	words, err := splitWords(rest)
	if err != nil {
		return fmt.Errorf("%s: %w", c.Name, err)
	}
	switch c.Arg {
	case noList:
		if len(words) > 0 {
			return fmt.Errorf("%s takes no arguments", c.Name)
		}
	case msgList, delList:
		if a.list, err = parseList(s.f, words, c.Arg == delList); err != nil {
			return err
		}
	case msgAndStr:
		// A file-taking command's last word is the file; otherwise the
		// list runs up to the first word that is not message-list syntax
		// and the rest is the command's own (a shell command, a part).
		n := 0
		if c.Max == 1 {
			n = max(len(words)-1, 0)
		} else {
			for n < len(words) && looksLikeList(words[n]) {
				n++
			}
		}
		if a.list, err = parseList(s.f, words[:n], false); err != nil {
			return err
		}
		a.words = words[n:]
	default:
		a.words = words
	}
	if c.Arg != msgList && c.Arg != delList && c.Arg != rawList {
		if len(a.words) < c.Min || c.Max >= 0 && len(a.words) > c.Max {
			return fmt.Errorf("%s: wrong number of arguments", c.Name)
		}
	}
	if err := c.Func(s, a); err != nil {
		return err
	}
	if c.Flags&fAutoprint != 0 && s.isSet("autoprint") && s.f != nil && s.f.msgs[s.f.dot].mark&mDeleted == 0 {
		return s.printMessages([]int{s.f.dot}, false, false)
	}
	return nil
}

// looksLikeList reports whether a word is message-list syntax (not a file
// name or a command).
func looksLikeList(w string) bool {
	return w == "*" || w == "+" || w == "-" || isNumberish(w) || strings.HasPrefix(w, ":") && len(w) == 2
}

// splitWords splits a command's arguments as mailx does: on blanks, with
// single and double quotes grouping and a backslash outside quotes quoting
// one character; inside quotes a backslash is itself (POSIX), so
// set sign="a\tb" keeps its \t for ~a to turn into a tab.
func splitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	esc := false
	for _, r := range s {
		switch {
		case esc:
			cur.WriteRune(r)
			esc = false
		case r == '\\' && quote == 0:
			esc, inWord = true, true
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '"' || r == '\'':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unmatched %c", quote)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

func cmdList(s *Session, _ *args) error {
	var names []string
	for _, c := range commands {
		names = append(names, c.Name)
	}
	fmt.Fprintln(s.out, strings.Join(names, " "))
	return nil
}

func cmdHelp(s *Session, _ *args) error {
	for _, c := range commands {
		fmt.Fprintf(s.out, "%-12s %s\n", c.Name, c.Help)
	}
	return nil
}
