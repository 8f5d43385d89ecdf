package sandbox

import "os"

// SmtpSinkUser is the flag Postfix's smtp-sink needs to be told whom to run
// as when started by root; any other user must not give it (smtp-sink then
// fails in initgroups).
func SmtpSinkUser() []string {
	if os.Geteuid() == 0 {
		return []string{"-u", "root"}
	}
	return nil
}
