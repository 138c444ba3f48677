// Package podexec runs a command in a pod's container over the Kubernetes exec
// API (what `kubectl exec -i` does), streaming stdin and stdout. It is the one
// seam between irischaos and a process inside a pod: the workload client opens
// long-lived IRIS sessions through it, the stack and the faults run one-shot
// commands through it, and tests swap in an in-process fake.
package podexec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
	"k8s.io/streaming/pkg/httpstream"
)

// Target names one container of one pod.
type Target struct {
	Namespace string
	Pod       string
	Container string
}

func (t Target) String() string {
	s := t.Namespace + "/" + t.Pod
	if t.Container != "" {
		s += " (container " + t.Container + ")"
	}
	return s
}

// Execer runs cmd in t and streams stdin to it and its output back, until the
// command exits, the stream breaks, or ctx ends. stdin may be nil. A command
// that ran and exited non-zero gives an error for which ExitCode reports ok.
type Execer interface {
	Exec(ctx context.Context, t Target, cmd []string, stdin io.Reader, stdout, stderr io.Writer) error
}

// Remote is the Execer over a real API server: WebSocket (exec protocol v5)
// first, SPDY when the server or a proxy in between cannot upgrade, as kubectl
// does.
type Remote struct {
	config *rest.Config
	client rest.Interface
}

// New returns a Remote Execer for the cluster config points at.
func New(config *rest.Config) (*Remote, error) {
	if config == nil {
		return nil, errors.New("podexec: no REST config")
	}
	cfg := rest.CopyConfig(config)
	cfg.GroupVersion = &corev1.SchemeGroupVersion
	cfg.APIPath = "/api"
	cfg.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	if cfg.UserAgent == "" {
		cfg.UserAgent = rest.DefaultKubernetesUserAgent()
	}
	client, err := rest.RESTClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("podexec: REST client for %s: %w", config.Host, err)
	}
	return &Remote{config: config, client: client}, nil
}

// Exec implements Execer.
func (r *Remote) Exec(ctx context.Context, t Target, cmd []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if t.Namespace == "" || t.Pod == "" {
		return fmt.Errorf("exec %q: no pod named (namespace %q, pod %q)", strings.Join(cmd, " "), t.Namespace, t.Pod)
	}
	req := r.client.Post().Resource("pods").Namespace(t.Namespace).Name(t.Pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: t.Container,
			Command:   cmd,
			Stdin:     stdin != nil,
			Stdout:    stdout != nil,
			Stderr:    stderr != nil,
		}, scheme.ParameterCodec)
	spdy, err := remotecommand.NewSPDYExecutor(r.config, "POST", req.URL())
	if err != nil {
		return fmt.Errorf("exec in %s: %w", t, err)
	}
	// WebSocket upgrades must be GET (RFC 6455 4.1).
	ws, err := remotecommand.NewWebSocketExecutor(r.config, "GET", req.URL().String())
	if err != nil {
		return fmt.Errorf("exec in %s: %w", t, err)
	}
	exec, err := remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	if err != nil {
		return fmt.Errorf("exec in %s: %w", t, err)
	}
	err = exec.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: stdin, Stdout: stdout, Stderr: stderr})
	if err != nil {
		if _, ok := ExitCode(err); ok {
			return fmt.Errorf("%q in %s: %w", strings.Join(cmd, " "), t, err)
		}
		return fmt.Errorf("exec %q in %s: %w", strings.Join(cmd, " "), t, err)
	}
	return nil
}

// ExitCode reports the exit status of a command that ran and failed. ok is
// false when err is not an exit status (the exec itself failed).
func ExitCode(err error) (code int, ok bool) {
	var ee utilexec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitStatus(), true
	}
	return 0, false
}

// ExitError is what fakes return for a command that exited non-zero, so that
// ExitCode works the same on fakes and on a real cluster.
func ExitError(code int, msg string) error {
	return utilexec.CodeExitError{Err: errors.New(msg), Code: code}
}

// Run runs cmd with the given stdin (may be empty) and returns its stdout;
// stderr is appended to the error when the command fails.
func Run(ctx context.Context, e Execer, t Target, stdin string, cmd ...string) (string, error) {
	var out, errb bytes.Buffer
	var in io.Reader
	if stdin != "" {
		in = strings.NewReader(stdin)
	}
	err := e.Exec(ctx, t, cmd, in, &out, &errb)
	if err != nil {
		if s := strings.TrimSpace(errb.String()); s != "" {
			err = fmt.Errorf("%w: %s", err, s)
		}
		return out.String(), err
	}
	return out.String(), nil
}

// NotStarted reports whether err says the exec never reached the container:
// the API server or the kubelet refused to open the stream (no such pod or
// container, container not running, forbidden), so the command did not run.
func NotStarted(err error) bool {
	if err == nil {
		return false
	}
	if _, ok := ExitCode(err); ok {
		return false
	}
	if httpstream.IsUpgradeFailure(err) {
		return true
	}
	// SPDY reports a refused upgrade as plain text.
	return strings.Contains(err.Error(), "unable to upgrade connection")
}
