package nemesis

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/irischaos/irischaos/pkg/fault"
	"github.com/irischaos/irischaos/pkg/ledger"
	"github.com/irischaos/irischaos/pkg/podexec"
	"github.com/irischaos/irischaos/pkg/target"
)

// irisProcess stops the IRIS instance inside its container: `iris stop iris
// quietly` (clean shutdown) or `iris force iris quietly` (forced, no prompt). iris-main then
// exits and the kubelet restarts the container; Kubernetes heals it.
type irisProcess struct {
	env  Env
	name fault.Name
	t    target.Target
}

func (f *irisProcess) Name() fault.Name      { return f.name }
func (f *irisProcess) Target() target.Target { return f.t }
func (f *irisProcess) HealAction() string    { return ledger.HealNone }
func (f *irisProcess) Heal(context.Context) error {
	return nil // the kubelet restarts the container; nothing of ours to undo
}

func (f *irisProcess) command() []string {
	if f.name == fault.IrisForce {
		return []string{"iris", "force", f.env.instance(), "quietly"} // no confirmation prompt
	}
	return []string{"iris", "stop", f.env.instance(), "quietly"}
}

func (f *irisProcess) Plan() []string {
	return []string{
		fmt.Sprintf("exec %q in pod %s/%s container %s (node %s)", strings.Join(f.command(), " "), f.t.Namespace, f.t.Pod, f.t.Container, orNone(f.t.Node)),
		"effect: right after, `iris qlist " + f.env.instance() + "` no longer says running (or the container is gone); else the container stops or restarts (restartCount rises)",
		"heal: none needed (the kubelet restarts the container)",
	}
}

func (f *irisProcess) Effect() fault.Effect {
	return fault.Effect{Kind: fault.EffectContainerRestart, Pod: f.t.Pod}
}

func (f *irisProcess) Inject(ctx context.Context) (Result, error) {
	// The pod must still be the one targeted: a replacement is not ours to stop.
	p, err := f.env.Client.CoreV1().Pods(f.t.Namespace).Get(ctx, f.t.Pod, metav1.GetOptions{})
	if err != nil {
		return Result{}, fmt.Errorf("%s: get pod %s/%s: %w", f.name, f.t.Namespace, f.t.Pod, err)
	}
	if f.t.PodUID != "" && p.UID != f.t.PodUID {
		return Result{}, fmt.Errorf("%s: pod %s/%s was replaced since it was targeted (uid %s, now %s); run again", f.name, f.t.Namespace, f.t.Pod, f.t.PodUID, p.UID)
	}
	f.env.printf("nemesis: %s: exec %q in %s/%s", f.name, strings.Join(f.command(), " "), f.t.Namespace, f.t.Pod)
	var out bytes.Buffer
	res := Result{Issued: time.Now()}
	err = f.env.Exec.Exec(ctx, f.exec(), f.command(), nil, &out, &out)
	res.Done = time.Now()
	res.Detail = strings.TrimSpace(out.String())
	if err == nil {
		f.confirmDown(ctx, &res)
		return res, nil
	}
	if apierrors.ReasonForError(err) != metav1.StatusReasonUnknown {
		// The API server refused the exec: nothing was issued.
		return Result{}, fmt.Errorf("%s: exec in %s/%s refused: %w", f.name, f.t.Namespace, f.t.Pod, err)
	}
	if code, ok := podexec.ExitCode(err); ok && code < 128 {
		// The command ran and said it failed (127: no iris command; 1: no such instance).
		return res, fmt.Errorf("%s: %q exited %d in %s/%s: %s", f.name, strings.Join(f.command(), " "), code, f.t.Namespace, f.t.Pod, firstLine(res.Detail, err))
	}
	// Killed by a signal or the stream cut: the container went down under
	// the exec, which is the fault taking hold. The observer confirms it.
	res.Detail = strings.TrimSpace(res.Detail + " (exec ended with the container: " + err.Error() + ")")
	f.confirmDown(ctx, &res)
	return res, nil
}

func (f *irisProcess) exec() podexec.Target {
	return podexec.Target{Namespace: f.t.Namespace, Pod: f.t.Pod, Container: f.t.Container}
}

// confirmDown checks, right after the stop, that the instance is down where
// it runs: `iris qlist` (what the liveness probe reads) no longer says
// running, or the container is gone under the exec. Then the effect is
// confirmed now, not when the readiness probe notices seconds later. An
// instance still reported running leaves the confirmation to the observer.
func (f *irisProcess) confirmDown(ctx context.Context, res *Result) {
	var out bytes.Buffer
	qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := f.env.Exec.Exec(qctx, f.exec(), []string{"iris", "qlist", f.env.instance()}, nil, &out, &out)
	now := time.Now()
	status := qlistStatus(out.String())
	switch {
	case err != nil && qctx.Err() == nil:
		res.Effect = now
		res.Detail = strings.TrimSpace(res.Detail + "; instance down: container gone (" + err.Error() + ")")
	case err == nil && status != "" && !strings.HasPrefix(status, "running"):
		res.Effect = now
		res.Detail = strings.TrimSpace(res.Detail + "; instance down: iris qlist says " + status)
	}
}

// qlistStatus is the status field of `iris qlist INSTANCE` (the fourth
// ^-separated field: "running, since ...", "down, last used ..."); empty
// when the output is not a qlist line.
func qlistStatus(out string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
	f := strings.Split(line, "^")
	if len(f) < 4 {
		return ""
	}
	return strings.TrimSpace(f[3])
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func firstLine(s string, err error) string {
	if s = strings.TrimSpace(s); s == "" {
		return err.Error()
	}
	if i := strings.IndexByte(s, '\n'); i > 0 {
		s = s[:i]
	}
	return s
}
