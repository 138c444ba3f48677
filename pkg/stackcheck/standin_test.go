package stackcheck_test

import (
	"bufio"
	"context"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes/fake"

	"github.com/irischaos/irischaos/internal/lab/standin/engine"
	"github.com/irischaos/irischaos/internal/lab/standin/objectscript"
	"github.com/irischaos/irischaos/pkg/podexec"
	"github.com/irischaos/irischaos/pkg/preflight"
	"github.com/irischaos/irischaos/pkg/stackcheck"
)

// standinExec runs the stand-in's real interpreter and terminal loop
// in-process, strict (IRIS's echoed errors) or lenient, and answers qlist
// as the strict stand-in prints it (cpf file name only).
type standinExec struct {
	db     *engine.DB
	strict bool
}

func (s standinExec) Exec(ctx context.Context, _ podexec.Target, cmd []string, stdin io.Reader, stdout, _ io.Writer) error {
	if strings.Join(cmd, " ") == "iris qlist iris" {
		_, err := io.WriteString(stdout, "IRIS^/usr/irissys^0.1.0 (irischaos IRIS stand-in)^running, since Wed Dec  2 15:00:00 2026^iris.cpf^1972^52773^1972^ok^irischaos IRIS stand-in^^^/external/iris/mgr\n")
		return err
	}
	w := bufio.NewWriter(stdout)
	in := objectscript.New(s.db, "USER", w)
	in.Strict = s.strict
	in.License = func() (int, int) { return 4, 1 }
	defer in.Close()
	return objectscript.Run(ctx, in, bufio.NewReader(stdin), "\nNode: iris-a, Instance: IRIS\n\n")
}

var caretRE = regexp.MustCompile(`\n *\^\n`)

// Every probe passes against the stand-in's interpreter, strict and
// lenient, and the scratch global is gone afterwards.
func TestAgainstStandinInterpreter(t *testing.T) {
	for _, strict := range []bool{false, true} {
		t.Run(map[bool]string{false: "lenient", true: "strict"}[strict], func(t *testing.T) {
			db := engine.Memory()
			defer db.Close()
			cs := fake.NewClientset(irisPod())
			r, err := stackcheck.Run(context.Background(), stackcheck.Options{Kube: cs, Exec: standinExec{db: db, strict: strict}, Namespace: "ns", Timeout: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range r.Probes {
				if p.Status != preflight.Pass {
					t.Errorf("%s %s: %s\n%s", p.ID, p.Status, p.Reason, p.Output)
				}
			}
			p, _ := r.Probe(stackcheck.ProbeError)
			if echoed := caretRE.MatchString(p.Output); echoed != strict {
				t.Errorf("error echoed %v in strict=%v:\n%s", echoed, strict, p.Output)
			}
			if names := db.Names(); len(names) != 0 {
				t.Errorf("globals left: %v", names)
			}
		})
	}
}
