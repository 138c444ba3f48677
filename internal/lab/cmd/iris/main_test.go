package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestSessionArgs(t *testing.T) {
	tests := []struct {
		args       []string
		ns, cmd    string
		hasCmd     bool
		errContain string
	}{
		{nil, "USER", "", false, ""},
		{[]string{"-U", "USER"}, "USER", "", false, ""},
		{[]string{"-U%SYS", "##Class(Backup.General).ExternalFreeze()"}, "%SYS", "##Class(Backup.General).ExternalFreeze()", true, ""},
		{[]string{"-U", "user", "write 1"}, "USER", "write 1", true, ""},
		{[]string{"-U"}, "", "", false, "needs a namespace"},
		{[]string{"-x"}, "", "", false, "unknown option"},
		{[]string{"a", "b"}, "", "", false, "more than one"},
	}
	for _, tc := range tests {
		ns, cmd, has, err := sessionArgs(tc.args)
		if tc.errContain != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errContain) {
				t.Errorf("%q: error %v, want %q", tc.args, err, tc.errContain)
			}
			continue
		}
		if err != nil || ns != tc.ns || cmd != tc.cmd || has != tc.hasCmd {
			t.Errorf("%q: got %q %q %v %v", tc.args, ns, cmd, has, err)
		}
	}
}

func TestRunUsageErrors(t *testing.T) {
	t.Setenv("IRISCHAOS_RUN_DIR", t.TempDir())
	for _, args := range [][]string{nil, {"bogus"}, {"session"}, {"stop", "iris", "loudly"}} {
		var out, errb bytes.Buffer
		if code := run(args, nil, &out, &errb); code != 2 {
			t.Errorf("%q: exit %d, want 2 (stderr %q)", args, code, errb.String())
		}
	}
	var out, errb bytes.Buffer
	if code := run([]string{"qlist", "iris"}, nil, &out, &errb); code != 1 || !strings.Contains(errb.String(), "not found") {
		t.Errorf("qlist of an unknown instance: exit %d, %q", code, errb.String())
	}
}
