package podexec

import (
	"errors"
	"fmt"
	"testing"

	"k8s.io/streaming/pkg/httpstream"
)

func TestNotStartedAndExitCode(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		notStarted bool
		code       int
		exited     bool
	}{
		{"nil", nil, false, 0, false},
		{"exit 3", fmt.Errorf("wrapped: %w", ExitError(3, "command terminated with exit code 3")), false, 3, true},
		{"websocket refused", &httpstream.UpgradeFailureError{Cause: errors.New("404")}, true, 0, false},
		{"spdy refused", errors.New("unable to upgrade connection: pod does not exist"), true, 0, false},
		{"stream cut", errors.New("connection reset by peer"), false, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NotStarted(tt.err); got != tt.notStarted {
				t.Errorf("NotStarted = %t, want %t", got, tt.notStarted)
			}
			code, ok := ExitCode(tt.err)
			if code != tt.code || ok != tt.exited {
				t.Errorf("ExitCode = %d, %t; want %d, %t", code, ok, tt.code, tt.exited)
			}
		})
	}
}

func TestNewNeedsConfig(t *testing.T) {
	if _, err := New(nil); err == nil {
		t.Fatal("New(nil) succeeded")
	}
}
