package mta

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"unixmail/pkg/sysexits"
)

// Modes of operation (-bX).
const (
	ModeDeliver = 'm' // read a message on stdin and send it (default)
	ModeSMTP    = 's' // SMTP on stdin/stdout
	ModeDaemon  = 'd' // SMTP server on smtp_listen, queue runs
	ModePrint   = 'p' // mailq
	ModeAliases = 'i' // newaliases
	ModeQueue   = 'q' // -q without -bd: run the queue
	ModeVerify  = 'v' // -bv: say whether each recipient would be accepted
	ModeIgnore  = 'h' // -bh, -bH: host status, which nothing here keeps
	ModeDKIMKey = 'k' // -bk domain [type]: make a DKIM key, print its DNS record
)

// Args is sendmail's command line, parsed.
type Args struct {
	Mode         rune
	ConfigFile   string   // -C
	Overrides    []string // -o key=value
	Sender       string   // -f / -r
	SenderGiven  bool
	FullName     string        // -F
	FromHeaders  bool          // -t
	IgnoreDots   bool          // -i, -oi
	DeliveryMode rune          // -odi (i, default), -odb (b), -odq (q)
	QueueRun     bool          // -q given
	Interval     time.Duration // -qINTERVAL; 0 = once
	Verbose      bool          // -v
	Notify       string        // -N
	Ret          string        // -R
	EnvID        string        // -V
	Rcpts        []string
}

// flagsWithValue take a value, attached (-fuser) or as the next argument,
// the same letters as Postfix's. Those that mean nothing here are read
// and ignored: -A (submission type), -B (body type), -e (error mode),
// -h (hop count), -L (syslog label), -O (option), -p (protocol), -X
// (traffic log).
const flagsWithValue = "AbCFfhLNOoqRrVBXep"

// ParseArgs parses sendmail's own command-line syntax: single-letter
// flags that may be grouped (-ti), values attached or separate (-f addr,
// -faddr), -o and -b with a letter, -q with an optional interval. Unknown
// flags are accepted silently, as Postfix does, since callers pass many
// that only some sendmails know. The first argument that is not a flag,
// or the one after "--", starts the recipients. argv0 "mailq" means -bp,
// "newaliases" -bi.
func ParseArgs(argv0 string, args []string) (*Args, error) {
	a := &Args{Mode: ModeDeliver, DeliveryMode: 'i'}
	switch filepath.Base(argv0) {
	case "mailq":
		a.Mode = ModePrint
	case "newaliases":
		a.Mode = ModeAliases
	}
	modeGiven := a.Mode != ModeDeliver
	i := 0
	for ; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			i++
			break
		}
		if len(arg) < 2 || arg[0] != '-' {
			break
		}
		if strings.HasPrefix(arg, "--") {
			// No sendmail has long options; read as letters, a typo such
			// as --version would pass unnoticed.
			return nil, sysexits.Wrap(sysexits.Usage, fmt.Errorf("unknown option %s", arg))
		}
		for j := 1; j < len(arg); j++ {
			c := arg[j]
			if !strings.ContainsRune(flagsWithValue, rune(c)) {
				switch c {
				case 't':
					a.FromHeaders = true
				case 'i':
					a.IgnoreDots = true
				case 'v':
					a.Verbose = true
				case 'I':
					a.Mode, modeGiven = ModeAliases, true
				}
				continue // other letters (-m, -n, -U, -G, -Ac...) mean nothing here
			}
			value := arg[j+1:]
			// -q alone means "now": its value is optional.
			if value == "" && c != 'q' {
				if i+1 >= len(args) {
					return nil, sysexits.Wrap(sysexits.Usage, fmt.Errorf("option -%c needs a value", c))
				}
				i++
				value = args[i]
			}
			if err := a.set(c, value, &modeGiven); err != nil {
				return nil, err
			}
			break
		}
	}
	a.Rcpts = append(a.Rcpts, args[i:]...)
	if a.QueueRun && a.Mode == ModeDeliver && !modeGiven {
		a.Mode = ModeQueue
	}
	// As Postfix: only sending takes recipients or -t.
	if a.Mode != ModeDeliver && a.Mode != ModeVerify && a.Mode != ModeIgnore && a.Mode != ModeDKIMKey {
		if len(a.Rcpts) > 0 {
			return nil, sysexits.Wrap(sysexits.Usage, fmt.Errorf("%s takes no recipients", a.modeName()))
		}
	}
	if a.FromHeaders && a.Mode != ModeDeliver {
		return nil, sysexits.Wrap(sysexits.Usage, fmt.Errorf("-t can be used only in delivery mode"))
	}
	return a, nil
}

func (a *Args) modeName() string {
	if a.Mode == ModeQueue {
		return "-q"
	}
	return "-b" + string(a.Mode)
}

func (a *Args) set(c byte, v string, modeGiven *bool) error {
	switch c {
	case 'b':
		switch v {
		case "m", "s", "d", "p", "i", "v", "k":
			a.Mode, *modeGiven = rune(v[0]), true
		case "l": // sendmail's daemon on loopback only: smtp_listen says where
			a.Mode, *modeGiven = ModeDaemon, true
		case "h", "H": // print or purge host status: Postfix ignores them too
			a.Mode, *modeGiven = ModeIgnore, true
		case "a", "D", "P", "t":
			return sysexits.Wrap(sysexits.Usage, fmt.Errorf("-b%s is not supported", v))
		default:
			return sysexits.Wrap(sysexits.Usage, fmt.Errorf("unknown mode -b%s", v))
		}
	case 'C':
		a.ConfigFile = v
	case 'F':
		a.FullName = v
	case 'f', 'r':
		a.Sender, a.SenderGiven = v, true
	// DSN requests Postfix would not take are ignored, as Postfix ignores
	// them: the defaults then hold (a bounce on failure), rather than a
	// misspelt -N silencing every bounce.
	case 'N':
		if validNotify(v) {
			a.Notify = strings.ToUpper(strings.Join(strings.Fields(v), ""))
		}
	case 'R':
		if strings.EqualFold(v, "hdrs") || strings.EqualFold(v, "full") {
			a.Ret = v
		}
	case 'V':
		if len(v) <= 100 && strings.Trim(v, printableASCII) == "" {
			a.EnvID = v
		}
	case 'q':
		a.QueueRun = true
		if v != "" && v[0] >= '0' && v[0] <= '9' {
			d, err := parseInterval(v)
			if err != nil {
				return sysexits.Wrap(sysexits.Usage, fmt.Errorf("-q%s: %w", v, err))
			}
			a.Interval = d
		}
		// -qIid, -qRsite, -qSsender: run the whole queue now.
	case 'o':
		return a.option(v)
	}
	return nil
}

// printableASCII is what an RFC 3461 ENVID may hold before xtext.
const printableASCII = "!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~"

// validNotify accepts RFC 3461 NOTIFY as sendmail -N takes it: "never"
// alone, or a comma-separated list of success, failure and delay.
func validNotify(v string) bool {
	if strings.EqualFold(v, "never") {
		return true
	}
	for _, k := range strings.Split(v, ",") {
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "success", "failure", "delay":
		default:
			return false
		}
	}
	return true
}

// option handles -o: either "key=value" for unixmail.conf, or a classic
// sendmail option letter with its value.
func (a *Args) option(v string) error {
	if k, _, ok := strings.Cut(v, "="); ok && len(k) > 1 {
		a.Overrides = append(a.Overrides, v)
		return nil
	}
	switch {
	case v == "i":
		a.IgnoreDots = true
	case strings.HasPrefix(v, "d"):
		switch m := strings.TrimPrefix(v, "d"); m {
		case "i", "b", "q":
			a.DeliveryMode = rune(m[0])
		case "", "d", "w":
			a.DeliveryMode = 'i'
		}
	case strings.HasPrefix(v, "Q") && len(v) > 1:
		a.Overrides = append(a.Overrides, "queue_directory="+v[1:])
	case strings.HasPrefix(v, "A") && len(v) > 1:
		a.Overrides = append(a.Overrides, "alias_maps="+v[1:])
	}
	// -oe* (error mode), -om, -oo, -oR... are ignored, as Postfix does.
	return nil
}

// parseInterval reads 30m, 1h, 90s, 1h30m, or a bare number of minutes.
func parseInterval(s string) (time.Duration, error) {
	if strings.Trim(s, "0123456789") == "" {
		s += "m"
	}
	var total time.Duration
	for s != "" {
		n := 0
		k := 0
		for k < len(s) && s[k] >= '0' && s[k] <= '9' {
			n = n*10 + int(s[k]-'0')
			if n > 1e6 {
				return 0, fmt.Errorf("interval too long")
			}
			k++
		}
		if k == 0 || k == len(s) {
			return 0, fmt.Errorf("bad interval")
		}
		unit := map[byte]time.Duration{'s': time.Second, 'm': time.Minute, 'h': time.Hour, 'd': 24 * time.Hour, 'w': 7 * 24 * time.Hour}[s[k]]
		if unit == 0 {
			return 0, fmt.Errorf("bad interval unit %q", s[k])
		}
		total += time.Duration(n) * unit
		s = s[k+1:]
	}
	if total <= 0 {
		return 0, fmt.Errorf("interval must be positive")
	}
	return total, nil
}
