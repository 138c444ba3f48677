package instance

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// Strict mode behaves as IRIS is documented to: qlist fields as IRIS prints
// them, echoed error lines, and a license limit on concurrent sessions with
// a unit released about a second after its session ends.
func TestStrictMode(t *testing.T) {
	t.Setenv(StrictEnv, "1")
	t.Setenv(LicenseUnitsEnv, "1")
	inst := setup(t, "", "")
	line, _ := inst.Qlist()
	if f := strings.Split(line, "^"); len(f) != 13 || f[4] != "iris.cpf" || f[8] != "" || !strings.HasPrefix(f[3], "down") {
		t.Errorf("strict qlist of a down instance: %q; want cpf file name only and an empty state", line)
	}
	start(t, inst)
	line, _ = inst.Qlist()
	if f := strings.Split(line, "^"); f[4] != "iris.cpf" || f[8] != "ok" {
		t.Errorf("strict qlist of a running instance: %q", line)
	}

	// One unit: a session holds it, a second is refused.
	pr, pw := io.Pipe()
	held := make(chan struct{})
	var heldOut syncBuffer
	go func() {
		defer close(held)
		inst.Session("USER", "", false, pr, &heldOut)
	}()
	pw.Write([]byte("write \"up\",!\n"))
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(heldOut.String(), "up") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	var out bytes.Buffer
	code, _ := inst.Session("USER", "", false, strings.NewReader("write 1\n"), &out)
	if code != 1 || !strings.Contains(out.String(), "<LICENSE LIMIT EXCEEDED>") {
		t.Errorf("second session with one unit: exit %d, output %q", code, out.String())
	}
	pw.Close()
	<-held

	// The unit comes back about a second later; the error is echoed.
	time.Sleep(1200 * time.Millisecond)
	out.Reset()
	code, err := inst.Session("USER", "", false, strings.NewReader("write x\nhalt\n"), &out)
	if code != 0 || err != nil || !strings.Contains(out.String(), "\nwrite x\n^\n<UNDEFINED> *x\n") {
		t.Errorf("session after release: exit %d, %v, output %q; want the echoed three-line error", code, err, out.String())
	}
}

// syncBuffer is a bytes.Buffer safe to read while a session writes to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// With password login on, a session shows the banner and IRIS's login
// prompts (no line end, waiting for input), then denies access: exit 1.
// It takes a license unit first, as IRIS does for the process.
func TestStrictPasswordLogin(t *testing.T) {
	t.Setenv(StrictEnv, "1")
	t.Setenv(LicenseUnitsEnv, "1")
	t.Setenv(PasswordLoginEnv, "1")
	inst := setup(t, "", "")
	start(t, inst)
	var out bytes.Buffer
	code, err := inst.Session("USER", "", false, strings.NewReader("write 1\nhalt\n"), &out)
	if code != 1 || err != nil || !strings.Contains(out.String(), ", Instance: IRIS\n\nUsername: Password: \nAccess Denied\n") {
		t.Errorf("exit %d, %v, output %q; want the banner, Username:, Password:, Access Denied", code, err, out.String())
	}
	out.Reset()
	code, _ = inst.Session("USER", "", false, strings.NewReader(""), &out)
	if code != 1 || !strings.Contains(out.String(), "<LICENSE LIMIT EXCEEDED>") {
		t.Errorf("second session within a second: exit %d, output %q; want the license limit (the login took the unit)", code, out.String())
	}
}

// $system.License answers as IRIS's does for the stack check: the units
// free and held, the session asking holding one of them; without a limit,
// unlimitedUnits.
func TestLicenseMethods(t *testing.T) {
	for _, tt := range []struct {
		units string
		want  string
	}{
		{"3", "2 1\n"},
		{"", fmt.Sprintf("%d 1\n", unlimitedUnits-1)},
	} {
		t.Run("units="+tt.units, func(t *testing.T) {
			t.Setenv(StrictEnv, "1")
			t.Setenv(LicenseUnitsEnv, tt.units)
			inst := setup(t, "", "")
			start(t, inst)
			var out bytes.Buffer
			code, err := inst.Session("USER", "", false, strings.NewReader("write $system.License.LUAvailable(),\" \",$system.License.LUConsumed(),!\nwrite $system.License.KeyCustomerName(),!\nhalt\n"), &out)
			if code != 0 || err != nil || !strings.Contains(out.String(), "USER>"+tt.want) || !strings.Contains(out.String(), "irischaos IRIS stand-in\n") {
				t.Errorf("exit %d, %v, output %q; want %q", code, err, out.String(), tt.want)
			}
		})
	}
}
