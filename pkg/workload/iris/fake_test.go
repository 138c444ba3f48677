package iris

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/irischaos/irischaos/pkg/podexec"
)

// action is what the fake database does with one write.
type action int

const (
	ack             action = iota // apply and acknowledge
	breakBefore                   // cut the stream before applying
	breakAfter                    // apply, then cut the stream before the ack
	silent                        // apply, never answer
	objectScriptErr               // the write's CATCH reports an error, nothing applied
	echoedErr                     // IRIS's uncaught form: source line, caret, error; nothing applied
)

// fakeIRIS is an in-process stand-in for `iris session` behind the exec API:
// it understands exactly the lines Commands produces, keeps the global in
// memory (shared by all pods, as a replicated volume would be), and can break
// streams on cue. It checks the command and the target like the API server
// would: exec into a pod that is not live fails before anything runs.
type fakeIRIS struct {
	mu       sync.Mutex
	live     map[string]bool    // pods exec works in
	counter  int                // ^k8stest
	global   map[int]string     // ^k8stest(k)
	writes   int                // writes seen, for onWrite
	onWrite  func(n int) action // nil: always ack
	execs    int
	sessions []string // pod of each exec, in order
}

func newFake(pods ...string) *fakeIRIS {
	f := &fakeIRIS{live: map[string]bool{}, global: map[int]string{}}
	for _, p := range pods {
		f.live[p] = true
	}
	return f
}

var (
	writeRE = regexp.MustCompile(`^try \{ set k=\$i\((\^\w+)\),\^\w+\(k\)="seq=(\d+) run=(\S+) t="_\$zdt\(\$zts,3,1,6\)_" host="_\$system\.INetInfo\.LocalHostName\(\),a="#"_"#ACK:"_"(\d+):"_k_":"_\^\w+\(k\) write a,! \} catch \{ write !,"#"_"#ERR:"_"(\d+):",\$zerror,! \}$`)
	rbRE    = regexp.MustCompile(`^set k=("(?:[^"]|"")*"|[-0-9.]+) for  set k=\$order\(\^\w+\(k\)\) quit:k=""  write "#"_"#RB:",k,":",\^\w+\(k\),!$`)
)

func (f *fakeIRIS) setLive(pod string, live bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.live[pod] = live
}

func (f *fakeIRIS) Exec(ctx context.Context, t podexec.Target, cmd []string, stdin io.Reader, stdout, stderr io.Writer) error {
	f.mu.Lock()
	f.execs++
	live := f.live[t.Pod]
	f.sessions = append(f.sessions, t.Pod)
	f.mu.Unlock()
	if !live {
		return fmt.Errorf("unable to upgrade connection: pod %s not found", t.Pod)
	}
	if !slices.Equal(cmd, []string{"iris", "session", "iris", "-U", "USER"}) {
		fmt.Fprintf(stderr, "unexpected command %q\n", cmd)
		return podexec.ExitError(1, "bad command")
	}
	if stdin == nil {
		return errors.New("no stdin")
	}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdin)
		for sc.Scan() {
			select {
			case lines <- sc.Text():
			case <-ctx.Done():
				return
			}
		}
	}()
	out := func(s string) { fmt.Fprintf(stdout, "USER>%s\n", s) }
	for {
		var line string
		var ok bool
		select {
		case <-ctx.Done():
			return ctx.Err()
		case line, ok = <-lines:
		}
		if !ok {
			return nil // end of input ends the session, as in IRIS
		}
		switch {
		case line == "halt" || line == "h":
			return nil
		case line == Commands{}.Hello():
			out("##HELLO:fake IRIS")
		case line == Commands{}.Identity():
			out("##ZV:fake IRIS")
		case line == `write "#"_"#RBEND",!`:
			out("##RBEND")
		case writeRE.MatchString(line):
			m := writeRE.FindStringSubmatch(line)
			f.mu.Lock()
			f.writes++
			a := ack
			if f.onWrite != nil {
				a = f.onWrite(f.writes)
			}
			if a == breakBefore {
				f.mu.Unlock()
				return errors.New("connection reset by peer")
			}
			switch a {
			case objectScriptErr:
				f.mu.Unlock()
				fmt.Fprintf(stdout, "USER>\n##ERR:%s:<PROTECT> ^k8stest,/external/iris/mgr/user/\n", m[5])
				continue
			case echoedErr:
				f.mu.Unlock()
				fmt.Fprintf(stdout, "USER>\n%s\n^\n<SYNTAX>\n", line)
				continue
			}
			f.counter++
			k := f.counter
			v := fmt.Sprintf("seq=%s run=%s t=2026-11-27 10:00:00.%06d host=%s", m[2], m[3], k, t.Pod)
			f.global[k] = v
			f.mu.Unlock()
			switch a {
			case breakAfter:
				return errors.New("connection reset by peer")
			case silent:
				continue
			}
			out(fmt.Sprintf("##ACK:%s:%d:%s", m[4], k, v))
		case rbRE.MatchString(line):
			start := rbRE.FindStringSubmatch(line)[1]
			from := -1 << 62
			if start != `""` {
				n, err := strconv.ParseFloat(start, 64)
				if err != nil {
					return fmt.Errorf("fake: readback start %q", start)
				}
				from = int(n)
			}
			f.mu.Lock()
			var keys []int
			for k := range f.global {
				if k > from {
					keys = append(keys, k)
				}
			}
			slices.Sort(keys)
			var b strings.Builder
			for _, k := range keys {
				fmt.Fprintf(&b, "##RB:%d:%s\n", k, f.global[k])
			}
			f.mu.Unlock()
			_, _ = io.WriteString(stdout, b.String())
		default:
			fmt.Fprintf(stdout, "USER><SYNTAX>%s\n", line)
		}
	}
}

// runningPod builds a Running pod, bound to its own node (nodeOf).
func runningPod(name string, created time.Time) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{"app": "iris"}, CreationTimestamp: metav1.NewTime(created)},
		Spec:       corev1.PodSpec{NodeName: nodeOf(name)},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
}

func nodeOf(pod string) string { return "node-of-" + pod }

func newKube(t *testing.T, pods ...*corev1.Pod) *fake.Clientset {
	t.Helper()
	cs := fake.NewClientset()
	for _, p := range pods {
		if _, err := cs.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	return cs
}

func podexecTarget(pod string) podexec.Target {
	return podexec.Target{Namespace: "ns", Pod: pod, Container: "iris"}
}
