package chromium

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFind(t *testing.T) {
	fake := filepath.Join(t.TempDir(), "my-chrome")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvPath, fake)
	if p, err := Find(); err != nil || p != fake {
		t.Errorf("$%s set: %q, %v", EnvPath, p, err)
	}
	t.Setenv(EnvPath, fake+"-missing")
	if _, err := Find(); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), EnvPath) {
		t.Errorf("$%s names a missing file: %v", EnvPath, err)
	}
	t.Setenv(EnvPath, "")
	t.Setenv("PATH", t.TempDir())
	if _, err := Find(); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "apt-get install chromium") {
		t.Errorf("nothing on PATH: %v, want what to install", err)
	}
}

func TestFileURL(t *testing.T) {
	u, err := FileURL("/tmp/a b/report.html")
	if err != nil || u != "file:///tmp/a%20b/report.html" {
		t.Errorf("%q, %v", u, err)
	}
}
