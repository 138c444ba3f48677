package stackcheck_test

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/irischaos/irischaos/pkg/podexec"
	"github.com/irischaos/irischaos/pkg/preflight"
	"github.com/irischaos/irischaos/pkg/stackcheck"
	"github.com/irischaos/irischaos/pkg/stackcheck/stackchecktest"
)

// replay answers every `iris session` with the "at start" output of one of
// the workload client's transcripts (IRIS refusing the session), then ends
// with exit 1 or waits for the end of input as the file says.
type replay struct {
	start string
	exits bool
}

func (r replay) Exec(_ context.Context, _ podexec.Target, cmd []string, stdin io.Reader, stdout, _ io.Writer) error {
	if cmd[1] == "qlist" {
		_, err := io.WriteString(stdout, stackchecktest.QlistRunning+"\n")
		return err
	}
	if _, err := io.WriteString(stdout, r.start); err != nil {
		return err
	}
	if r.exits {
		return podexec.ExitError(1, "command terminated with exit code 1")
	}
	_, err := io.Copy(io.Discard, stdin)
	return err
}

func readReplay(t *testing.T, name string) replay {
	t.Helper()
	b, err := os.ReadFile("../workload/iris/testdata/transcripts/" + name)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	_, rest, ok := strings.Cut(s, "-- at start --\n")
	if !ok {
		t.Fatalf("%s: no 'at start' section", name)
	}
	start, _, _ := strings.Cut(rest, "\n-- ")
	return replay{start: start, exits: strings.Contains(s, "\nends: exit ")}
}

// IRIS's refusals as the workload client's transcripts show them: every
// probe that opens a session is a FAIL naming the cause, decided by what
// IRIS printed (well within the timeout), and qlist still answers.
func TestTranscriptRefusals(t *testing.T) {
	for _, tt := range []struct {
		file, why string
	}{
		{"fail-license-limit.txt", "LICENSE LIMIT EXCEEDED"},
		{"fail-username-prompt.txt", "username"},
	} {
		t.Run(tt.file, func(t *testing.T) {
			const timeout = 4 * time.Second
			start := time.Now()
			r, err := stackcheck.Run(context.Background(), stackcheck.Options{Kube: fake.NewClientset(irisPod()), Exec: readReplay(t, tt.file), Namespace: "ns", Timeout: timeout})
			if err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d > timeout {
				t.Errorf("took %s: decided by a timeout, not by what IRIS printed", d)
			}
			for _, p := range r.Probes {
				want := preflight.Fail
				switch p.ID {
				case stackcheck.ProbeQlist:
					want = preflight.Pass
				case stackcheck.ProbeError:
					want = preflight.Unknown // nothing ran, so nothing was classified
				}
				if p.Status != want {
					t.Errorf("%s: %s (%s); want %s", p.ID, p.Status, p.Reason, want)
				}
				if p.ID != stackcheck.ProbeQlist && !strings.Contains(p.Reason, tt.why) {
					t.Errorf("%s: reason %q lacks %q", p.ID, p.Reason, tt.why)
				}
			}
			if r.ExitCode() != 1 {
				t.Errorf("exit %d, want 1", r.ExitCode())
			}
		})
	}
}
