package sysexits

import (
	"errors"
	"fmt"
	"testing"
)

func TestCodeFindsTheAttachedCodeThroughWrapping(t *testing.T) {
	base := errors.New("disk full")
	tests := []struct {
		err  error
		code int
	}{
		{nil, OK},
		{base, Software},
		{Wrap(TempFail, base), TempFail},
		{fmt.Errorf("deliver to bob: %w", Wrap(NoUser, base)), NoUser},
		{Wrap(Config, Wrap(TempFail, base)), Config},
	}
	for _, tt := range tests {
		if got := Code(tt.err); got != tt.code {
			t.Errorf("Code(%v) = %d, want %d", tt.err, got, tt.code)
		}
	}
	if Wrap(TempFail, nil) != nil {
		t.Error("Wrap of nil is not nil")
	}
	if !errors.Is(Wrap(TempFail, base), base) {
		t.Error("the cause is lost")
	}
}
