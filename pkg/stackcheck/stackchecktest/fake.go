// Package stackchecktest is a fake IRIS behind the exec API for tests of
// the stack check and its callers: it answers `iris qlist` and the lines
// the probes send in the output forms IRIS is documented to print (see
// pkg/workload/iris/testdata/transcripts) or the stand-in's lenient ones.
package stackchecktest

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"

	"github.com/irischaos/irischaos/pkg/podexec"
)

// Banner is what IRIS prints when a piped session starts.
const Banner = "\nNode: iris-7b9c6d-x2x4q, Instance: IRIS\n\n"

// ZV is a real IRIS's $zv (public transcripts).
const ZV = "IRIS for UNIX (Ubuntu Server LTS for x86-64 Containers) 2025.1 (Build 223U) Tue Mar 11 2025 18:14:42 EDT"

// IRIS is the fake. Its zero value is a lenient stand-in-like IRIS with
// prompt USER>, no license functions and no qlist.
type IRIS struct {
	Qlist  string // `iris qlist` output; empty: the command fails
	Prompt string // "USER>" when empty; "TL1:USER>" inside a transaction
	ZV     string // ZV when empty
	// Strict echoes an error as IRIS does: source line, caret, error.
	// Otherwise it prints "<ERROR> *x" after the prompt (the stand-in).
	Strict bool
	// License answers $system.License.*: method (lower case, e.g.
	// "luavailable") to value; nil: <METHOD DOES NOT EXIST>.
	License map[string]string
	// Refuse is printed instead of the banner and the session ends (exit
	// 1): "<LICENSE LIMIT EXCEEDED>", or "Username: " to ask for a login.
	Refuse string
	// AckErrors answers a failing write with an ack (a client that reads
	// anything as an ack would pass it; the probe must not).
	AckErrors bool
	// KeepGlobal ignores kill (a global that will not go away).
	KeepGlobal bool

	mu      sync.Mutex
	globals map[string]string
	Execs   []string // every command run, in order
}

var (
	valueRE = regexp.MustCompile(`^write "#"_"#VAL:","(\w+):",(.*),!$`)
	setRE   = regexp.MustCompile(`^set (\^\w+)\("probe"\)="([^"]*)"$`)
	killRE  = regexp.MustCompile(`^kill (\^\w+)$`)
	writeRE = regexp.MustCompile(`^try \{ set k=\$i\((.*?)\),`)
)

// Exec runs `iris qlist` or `iris session`.
func (f *IRIS) Exec(ctx context.Context, _ podexec.Target, cmd []string, stdin io.Reader, stdout, stderr io.Writer) error {
	f.mu.Lock()
	f.Execs = append(f.Execs, strings.Join(cmd, " "))
	if f.globals == nil {
		f.globals = map[string]string{}
	}
	f.mu.Unlock()
	switch {
	case len(cmd) >= 2 && cmd[0] == "iris" && cmd[1] == "qlist":
		if f.Qlist == "" {
			fmt.Fprintln(stderr, "no such instance")
			return podexec.ExitError(1, "command terminated with exit code 1")
		}
		_, err := io.WriteString(stdout, f.Qlist+"\n")
		return err
	case len(cmd) >= 2 && cmd[0] == "iris" && cmd[1] == "session":
	default:
		return podexec.ExitError(127, "command not found")
	}
	if f.Refuse != "" {
		if strings.HasPrefix(f.Refuse, "Username") {
			fmt.Fprint(stdout, Banner+f.Refuse)
		} else {
			fmt.Fprintf(stdout, "\n%s\n", f.Refuse)
		}
		return podexec.ExitError(1, "command terminated with exit code 1")
	}
	prompt := f.Prompt
	if prompt == "" {
		prompt = "USER>"
	}
	zv := f.ZV
	if zv == "" {
		zv = ZV
	}
	fmt.Fprint(stdout, Banner+prompt)
	sc := bufio.NewScanner(stdin)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		line := sc.Text()
		if line == "halt" || line == "h" {
			return nil
		}
		out, errText := f.eval(line, zv)
		switch {
		case errText == "":
			fmt.Fprint(stdout, out)
		case f.Strict:
			fmt.Fprintf(stdout, "\n%s\n^\n%s\n", line, errText)
		default:
			fmt.Fprintf(stdout, "%s\n", errText)
		}
		fmt.Fprint(stdout, prompt)
	}
	return nil
}

// eval answers one line: its output, or the error IRIS would print.
func (f *IRIS) eval(line, zv string) (string, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case line == `write "#"_"#HELLO:",$zv,!`:
		return "##HELLO:" + zv + "\n", ""
	case line == `write "#"_"#ZV:",$zv,!`:
		return "##ZV:" + zv + "\n", ""
	case writeRE.MatchString(line):
		g := writeRE.FindStringSubmatch(line)[1]
		if strings.HasPrefix(g, `^|`) {
			if f.AckErrors {
				return "##ACK:1:1:seq=1 run=stackcheck\n", ""
			}
			return "", "<NAMESPACE> *IRISCHAOSNOSUCHNS"
		}
		return "##ACK:1:1:seq=1\n", ""
	case setRE.MatchString(line):
		m := setRE.FindStringSubmatch(line)
		f.globals[m[1]] = m[2]
		return "", ""
	case killRE.MatchString(line):
		if !f.KeepGlobal {
			delete(f.globals, killRE.FindStringSubmatch(line)[1])
		}
		return "", ""
	case valueRE.MatchString(line):
		m := valueRE.FindStringSubmatch(line)
		v, err := f.expr(m[2])
		if err != nil {
			return "", err.Error()
		}
		return "##VAL:" + m[1] + ":" + v + "\n", ""
	}
	return "", "<SYNTAX>"
}

func (f *IRIS) expr(e string) (string, error) {
	if m, ok := strings.CutPrefix(e, "$system.License."); ok {
		v, found := f.License[strings.ToLower(strings.TrimSuffix(m, "()"))]
		if !found {
			return "", errors.New("<METHOD DOES NOT EXIST> *" + strings.TrimSuffix(m, "()") + ",%SYSTEM.License")
		}
		return v, nil
	}
	if g, ok := strings.CutPrefix(e, "$data("); ok {
		g = strings.TrimSuffix(g, ")")
		if _, ok := f.globals[g]; ok {
			return "10", nil
		}
		return "0", nil
	}
	if g, ok := strings.CutSuffix(e, `("probe")`); ok {
		v, ok := f.globals[g]
		if !ok {
			return "", errors.New("<UNDEFINED> " + e)
		}
		return v, nil
	}
	return "", errors.New("<SYNTAX>")
}

// Globals is what is left in the fake's database.
func (f *IRIS) Globals() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string]string{}
	for k, v := range f.globals {
		out[k] = v
	}
	return out
}

// QlistRunning is `iris qlist iris` of a running IRIS as IRIS prints it
// (cpf file name only).
const QlistRunning = "IRIS^/usr/irissys^2025.1.0.223.0^running, since Tue Dec  2 13:00:00 2026^iris.cpf^1972^52773^62773^ok^IRIS^^^/usr/irissys/mgr/"

// QlistDown is the same instance down: the state field empty.
const QlistDown = "IRIS^/usr/irissys^2025.1.0.223.0^down, last used Tue Dec  2 13:00:00 2026^iris.cpf^1972^52773^62773^^IRIS^^^/usr/irissys/mgr/"
