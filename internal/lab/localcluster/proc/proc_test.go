package proc

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestStartStop(t *testing.T) {
	log := filepath.Join(t.TempDir(), "logs", "sleeper.log")
	// A process that ignores SIGTERM must still be stopped, by SIGKILL.
	s, err := Start(Spec{Component: "sleeper", Argv: []string{"/bin/sh", "-c", "trap '' TERM; echo up; sleep 30 & wait"}, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Proc.Alive() {
		t.Fatal("not alive after start")
	}
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	if err := Stop(context.Background(), s.Proc, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 5*time.Second {
		t.Error("stop took too long")
	}
	<-s.Exited
	b, _ := os.ReadFile(log)
	if !strings.Contains(string(b), "starting sleeper") || !strings.Contains(string(b), "up") {
		t.Errorf("log = %q", b)
	}
	// Stopping again is a no-op.
	if err := Stop(context.Background(), s.Proc, time.Second); err != nil {
		t.Error(err)
	}
	if _, err := Start(Spec{Component: "x", Log: log}); err == nil {
		t.Error("empty argv accepted")
	}
	if _, err := Start(Spec{Component: "x", Argv: []string{"/nonexistent/bin"}, Log: log}); err == nil || !strings.Contains(err.Error(), "starting x") {
		t.Errorf("missing binary: %v", err)
	}
}
