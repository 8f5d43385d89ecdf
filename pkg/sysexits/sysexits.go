// Package sysexits holds the exit codes of sysexits(3), the contract between
// unixmail's binaries and the programs that call them: sendmail retries a
// delivery that exits TempFail and bounces one that exits with any other failure.
package sysexits

const (
	OK          = 0
	Usage       = 64 // EX_USAGE: the command was used incorrectly
	DataErr     = 65 // EX_DATAERR: the input data was bad
	NoInput     = 66 // EX_NOINPUT: an input file did not exist or was not readable
	NoUser      = 67 // EX_NOUSER: addressee unknown
	NoHost      = 68 // EX_NOHOST: host name unknown
	Unavailable = 69 // EX_UNAVAILABLE: service unavailable
	Software    = 70 // EX_SOFTWARE: internal software error
	OSErr       = 71 // EX_OSERR: system error (e.g. can't fork)
	OSFile      = 72 // EX_OSFILE: critical OS file missing
	CantCreat   = 73 // EX_CANTCREAT: can't create (user) output file
	IOErr       = 74 // EX_IOERR: input/output error
	TempFail    = 75 // EX_TEMPFAIL: temporary failure; the caller should retry
	Protocol    = 76 // EX_PROTOCOL: remote error in protocol
	NoPerm      = 77 // EX_NOPERM: permission denied
	Config      = 78 // EX_CONFIG: configuration error
)

// Error carries an exit code with the error that caused it, so that a
// package deep down can decide the code and a thin main can exit with it.
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Wrap attaches code to err; a nil err stays nil.
func Wrap(code int, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Err: err}
}

// Code is the exit code err asks for: OK for nil, the innermost attached
// code if there is one, else Software.
func Code(err error) int {
	if err == nil {
		return OK
	}
	for e := err; e != nil; {
		if se, ok := e.(*Error); ok {
			return se.Code
		}
		u, ok := e.(interface{ Unwrap() error })
		if !ok {
			break
		}
		e = u.Unwrap()
	}
	return Software
}
