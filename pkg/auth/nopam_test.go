//go:build !pam

package auth

import (
	"strings"
	"testing"

	"unixmail/pkg/config"
	"unixmail/pkg/userdb"
)

func TestNewExplainsThatPAMNeedsTheBuildTag(t *testing.T) {
	_, err := New(&config.Config{Auth: "pam"}, userdb.Open("system"))
	if err == nil || !strings.Contains(err.Error(), "-tags pam") {
		t.Fatalf("New(pam) = %v", err)
	}
}
