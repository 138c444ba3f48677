// Package binaries locates, and when missing builds, the local cluster's
// Kubernetes and etcd binaries from the tools modules in the repository
// (tools/k8s, tools/etcd), caching them under
// ${XDG_CACHE_HOME:-$HOME/.cache}/irischaos/bin/<component>-<version>/.
package binaries

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Versions the tools modules pin.
const (
	KubernetesVersion = "v1.36.3"
	EtcdVersion       = "v3.6.8"
)

// Module is the main module's path, used to find the repository root.
const Module = "github.com/irischaos/irischaos"

// Set is the paths of every cluster binary.
type Set struct {
	APIServer, ControllerManager, Scheduler, Kubelet, Etcd string
}

// Options tune Ensure.
type Options struct {
	ToolsDir string    // the repository's tools/ directory; found from the working directory when empty
	CacheDir string    // default CacheDir()
	Progress io.Writer // progress lines; nil discards
	// Tick is how often a running build reports that it is still going (default 10 s).
	Tick time.Duration
}

// CacheDir is ${XDG_CACHE_HOME:-$HOME/.cache}/irischaos/bin.
func CacheDir() string {
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "irischaos", "bin")
	}
	home, err := os.UserHomeDir()
	if err != nil || home == "" {
		home = os.TempDir()
	}
	return filepath.Join(home, ".cache", "irischaos", "bin")
}

// Paths returns where the binaries live in cacheDir, whether or not they exist.
func Paths(cacheDir string) Set {
	k := filepath.Join(cacheDir, "k8s-"+KubernetesVersion)
	return Set{
		APIServer:         filepath.Join(k, "kube-apiserver"),
		ControllerManager: filepath.Join(k, "kube-controller-manager"),
		Scheduler:         filepath.Join(k, "kube-scheduler"),
		Kubelet:           filepath.Join(k, "kubelet"),
		Etcd:              filepath.Join(cacheDir, "etcd-"+EtcdVersion, "etcd"),
	}
}

func (s Set) k8s() []string {
	return []string{s.APIServer, s.ControllerManager, s.Scheduler, s.Kubelet}
}

// Missing lists the binaries of s that do not exist.
func (s Set) Missing() []string {
	var out []string
	for _, p := range append(s.k8s(), s.Etcd) {
		if st, err := os.Stat(p); err != nil || st.Mode()&0o111 == 0 {
			out = append(out, p)
		}
	}
	return out
}

// Build is one `go build` Ensure runs: in Dir (a tools module), go Args,
// with CGO_ENABLED=0.
type Build struct {
	What string // e.g. "Kubernetes v1.36.3"
	Dir  string
	Args []string
}

// Command is b as one shell command line (for --print and logs).
func (b Build) Command() string {
	q := make([]string, len(b.Args))
	for i, a := range b.Args {
		q[i] = shellQuote(a)
	}
	return "cd " + shellQuote(b.Dir) + " && CGO_ENABLED=0 go " + strings.Join(q, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:,+@", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Plan returns the binaries' paths in o.CacheDir and the builds that would
// make the missing ones (none when everything is cached). It runs nothing.
func Plan(o Options) (Set, []Build, error) {
	if o.CacheDir == "" {
		o.CacheDir = CacheDir()
	}
	set := Paths(o.CacheDir)
	k8sMissing, etcdMissing := false, false
	for _, p := range set.Missing() {
		if p == set.Etcd {
			etcdMissing = true
		} else {
			k8sMissing = true
		}
	}
	if !k8sMissing && !etcdMissing {
		return set, nil, nil
	}
	if o.ToolsDir == "" {
		root, err := RepoRoot()
		if err != nil {
			return set, nil, fmt.Errorf("cluster binaries missing (%s) and cannot build them: %w", strings.Join(set.Missing(), ", "), err)
		}
		o.ToolsDir = filepath.Join(root, "tools")
	}
	var builds []Build
	if k8sMissing {
		builds = append(builds, Build{What: "Kubernetes " + KubernetesVersion, Dir: filepath.Join(o.ToolsDir, "k8s"), Args: BuildArgsK8s(filepath.Dir(set.Kubelet))})
	}
	if etcdMissing {
		builds = append(builds, Build{What: "etcd " + EtcdVersion, Dir: filepath.Join(o.ToolsDir, "etcd"), Args: BuildArgsEtcd(set.Etcd)})
	}
	return set, builds, nil
}

// Ensure returns the binaries, building whatever is missing. Cached binaries
// are used as they are: the directory name carries the version.
func Ensure(ctx context.Context, o Options) (Set, error) {
	if o.CacheDir == "" {
		o.CacheDir = CacheDir()
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Tick == 0 {
		o.Tick = 10 * time.Second
	}
	set, builds, err := Plan(o)
	if err != nil {
		return set, err
	}
	if len(builds) == 0 {
		fmt.Fprintf(o.Progress, "binaries: Kubernetes %s and etcd %s cached in %s\n", KubernetesVersion, EtcdVersion, o.CacheDir)
		return set, nil
	}
	if _, err := exec.LookPath("go"); err != nil {
		return set, errors.New("cluster binaries missing and no `go` on PATH to build them: install Go 1.26 (https://go.dev/dl) or run `make deps` on a machine that has it")
	}
	for _, b := range builds {
		what := b.What
		if strings.HasPrefix(what, "Kubernetes") {
			what += " (the first build takes 20-25 minutes on 2 cores)"
		}
		if err := run(ctx, o, b.Dir, what, b.Args); err != nil {
			return set, err
		}
	}
	if m := set.Missing(); len(m) > 0 {
		return set, fmt.Errorf("build finished but binaries are still missing: %s", strings.Join(m, ", "))
	}
	return set, nil
}

// BuildArgsK8s is the `go build` argument list for the four Kubernetes
// binaries into outDir. This is the only place the recipe is written:
// hack/deps.sh runs `irischaos cluster deps`, which builds with it.
func BuildArgsK8s(outDir string) []string {
	v := KubernetesVersion
	minor := strings.Split(strings.TrimPrefix(v, "v"), ".")[1]
	return []string{"build", "-trimpath", "-ldflags",
		"-s -w -X k8s.io/component-base/version.gitVersion=" + v +
			" -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=" + minor +
			" -X k8s.io/component-base/version.gitTreeState=clean",
		"-o", outDir + "/",
		"k8s.io/kubernetes/cmd/kube-apiserver", "k8s.io/kubernetes/cmd/kube-controller-manager",
		"k8s.io/kubernetes/cmd/kube-scheduler", "k8s.io/kubernetes/cmd/kubelet"}
}

// BuildArgsEtcd is the `go build` argument list for etcd into out.
func BuildArgsEtcd(out string) []string {
	return []string{"build", "-trimpath", "-ldflags", "-s -w", "-o", out, "go.etcd.io/etcd/server/v3"}
}

// run runs go with args in dir, printing a line every Tick so a long build
// never looks hung, and the build's own output as it comes.
func run(ctx context.Context, o Options, dir, what string, args []string) error {
	if _, err := os.Stat(filepath.Join(dir, "go.mod")); err != nil {
		return fmt.Errorf("building %s: tools module %s not found (pass --tools-dir to the repository's tools/ directory): %w", what, dir, err)
	}
	if err := os.MkdirAll(o.CacheDir, 0o755); err != nil {
		return fmt.Errorf("creating binary cache %s: %w", o.CacheDir, err)
	}
	fmt.Fprintf(o.Progress, "binaries: building %s in %s\n", what, dir)
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var mu sync.Mutex
	last := "compiling"
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			mu.Lock()
			last = sc.Text()
			mu.Unlock()
			fmt.Fprintf(o.Progress, "  go: %s\n", sc.Text())
		}
	}()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		pw.Close()
		return fmt.Errorf("building %s: starting go: %w", what, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t := time.NewTicker(o.Tick)
	defer t.Stop()
	for {
		select {
		case err := <-done:
			pw.Close()
			if err != nil {
				mu.Lock()
				defer mu.Unlock()
				return fmt.Errorf("building %s failed after %s (last output: %s): %w", what, time.Since(start).Round(time.Second), last, err)
			}
			fmt.Fprintf(o.Progress, "binaries: built %s in %s\n", what, time.Since(start).Round(time.Second))
			return nil
		case <-t.C:
			mu.Lock()
			l := last
			mu.Unlock()
			fmt.Fprintf(o.Progress, "binaries: still building %s, %s elapsed (%s)\n", what, time.Since(start).Round(time.Second), l)
		}
	}
}

// RepoRoot walks up from the working directory to the directory whose go.mod
// declares Module.
func RepoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return findRoot(wd)
}

func findRoot(dir string) (string, error) {
	for d := dir; ; {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && declares(b, Module) {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fmt.Errorf("no irischaos source tree (go.mod of module %s) above %s: run from the repository or pass --tools-dir", Module, dir)
		}
		d = parent
	}
}

func declares(gomod []byte, module string) bool {
	for _, l := range strings.Split(string(gomod), "\n") {
		f := strings.Fields(l)
		if len(f) >= 2 && f[0] == "module" && strings.Trim(f[1], `"`) == module {
			return true
		}
	}
	return false
}
