//go:build chaos

// Package e2e holds the chaos end-to-end tests (`go test ./e2e -tags chaos`),
// a certification suite for a user's cluster as well as the lab's.
// TestMain uses the cluster of --kubeconfig or $KUBECONFIG when given, and
// otherwise brings the embedded local cluster up and, on every exit path,
// down again, through e2e-framework's cluster provider interface
// (internal/lab/localcluster/provider: `irischaos cluster up` / `down`).
// The suite's parameters, what the target can give, its namespaces, the
// summary and the JUnit file are in suite_test.go.
package e2e

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/e2e-framework/pkg/env"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/envfuncs"
	"sigs.k8s.io/e2e-framework/support"

	"github.com/irischaos/irischaos/internal/lab/image"
	"github.com/irischaos/irischaos/internal/lab/localcluster"
	"github.com/irischaos/irischaos/internal/lab/localcluster/binaries"
	"github.com/irischaos/irischaos/internal/lab/localcluster/provider"
	"github.com/irischaos/irischaos/internal/lab/localcluster/state"
	"github.com/irischaos/irischaos/internal/suite"
	"github.com/irischaos/irischaos/pkg/stack"
)

// What the features of this package share.
var (
	// testenv runs features against the cluster under test.
	testenv env.Environment
	// envCfg is testenv's configuration (its Client() talks to the cluster).
	envCfg *envconf.Config
	// kubeconfigPath is the cluster's kubeconfig.
	kubeconfigPath string
	// clusterName names the local cluster under test ("" for a foreign cluster).
	clusterName string
	// localCluster is true when the cluster is an irischaos local cluster,
	// whose nodes can be powered through nodepower.Discover(clusterName).
	localCluster bool
)

// e2eClusterName is the local cluster TestMain creates.
const e2eClusterName = "irischaos-e2e"

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	params = suite.Register(flag.CommandLine)
	cfg, err := envconf.NewFromFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 2
	}
	if err := params.FromEnv(flag.CommandLine, nil); err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 2
	}
	if params.Namespace == "" {
		params.Namespace = cfg.Namespace() // e2e-framework's own --namespace
	}
	kubeconfigPath = cfg.KubeconfigFile()
	if kubeconfigPath == "" {
		kubeconfigPath = os.Getenv("KUBECONFIG")
	}
	envCfg = cfg
	testenv = instrumented{env.NewWithConfig(cfg)}
	root, _ := binaries.RepoRoot()
	defaults := suite.Defaults{StandinImage: image.StandinRef, Image: stack.DefaultImage, StorageClass: stack.DefaultStorageClass}
	// What the suite does on the cluster first: know what it can give, and
	// heal what a killed run left (its ledger is in the reports directory).
	heal := func(ctx context.Context, _ *envconf.Config) (context.Context, error) {
		if err := healLeftovers(ctx, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "e2e: healing what an earlier run left:", err)
			recorder.SuiteError("healing what an earlier run left: %v", err)
		}
		return ctx, nil
	}
	if kubeconfigPath != "" {
		clusterName, localCluster = localClusterOf(kubeconfigPath)
		params.Resolve(localCluster, defaults, root)
		cfg.WithKubeconfigFile(kubeconfigPath)
		fmt.Printf("e2e: using the cluster of %s (local cluster: %v)\n", kubeconfigPath, localCluster)
		defer onInterrupt(nil)()
		testenv.Setup(probeTarget, heal)
		// A cluster the suite did not bring up is left as found.
		testenv.Finish(releaseStep)
		return finish(testenv.Run(m))
	}
	exe, err := irischaosBinary()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: local cluster:", err)
		return 2
	}
	clusterName, localCluster = freeClusterName(), true
	params.Resolve(true, defaults, root)
	cluster := provider.New().WithPath(exe)
	defer onInterrupt(cluster)()
	testenv.Setup(
		envfuncs.CreateClusterWithOpts(cluster, clusterName),
		func(ctx context.Context, cfg *envconf.Config) (context.Context, error) {
			kubeconfigPath = cfg.KubeconfigFile()
			return ctx, nil
		},
		probeTarget, heal)
	// Finish runs also when Setup failed: always down, so a failed run
	// never leaves a node's processes behind (and with it everything the
	// suite created). The logs go to build/ first.
	testenv.Finish(
		func(ctx context.Context, _ *envconf.Config) (context.Context, error) {
			if root != "" {
				dest := filepath.Join(root, "build", "cluster-logs", clusterName)
				if err := cluster.ExportLogs(ctx, dest); err == nil {
					fmt.Printf("e2e: local cluster logs in %s\n", dest)
				}
			}
			return ctx, nil
		},
		func(ctx context.Context, _ *envconf.Config) (context.Context, error) {
			return ctx, cluster.Destroy(ctx)
		})
	fmt.Printf("e2e: bringing local cluster %q up with %s\n", clusterName, exe)
	return finish(testenv.Run(m))
}

// releaseStep removes the suite's namespaces (or, in one it was told to
// use, its own objects) at the end.
func releaseStep(ctx context.Context, _ *envconf.Config) (context.Context, error) {
	if err := releaseNamespaces(ctx, os.Stdout, 3*time.Minute); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: removing what the suite created:", err)
		recorder.SuiteError("removing what the suite created: %v", err)
	}
	return ctx, nil
}

// finish writes the JUnit file and the summary; the exit status follows
// the verdicts too (an unknown or failed one fails the suite).
func finish(code int) int {
	if err := recorder.WriteJUnit(params.JUnit); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: junit:", err)
		if code == 0 {
			code = 1
		}
	}
	// go test shows a passing package's output only with -v: the summary
	// is also kept beside the JUnit file.
	var sum strings.Builder
	recorder.Summary(&sum)
	fmt.Print(sum.String())
	summaryFile := strings.TrimSuffix(params.JUnit, ".xml") + "-summary.txt"
	if err := os.WriteFile(summaryFile, []byte(sum.String()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: summary:", err)
	}
	fmt.Printf("e2e: JUnit file %s, summary %s; irischaos run directories and the fault ledger in %s\n", params.JUnit, summaryFile, params.Reports)
	if code == 0 && recorder.Failed() {
		code = 1
	}
	return code
}

// localClusterOf tells whether kubeconfig is that of a local cluster.
func localClusterOf(kubeconfig string) (string, bool) {
	abs, _ := filepath.Abs(kubeconfig)
	names, _ := state.List()
	for _, n := range names {
		if state.For(n).Kubeconfig() == abs && localcluster.Exists(n) {
			return n, true
		}
	}
	return "", false
}

// freeClusterName picks e2eClusterName, or irischaos-e2e-N when another
// test run holds it, so that concurrent runs never share (or tear down) a
// cluster.
func freeClusterName() string {
	for i := 1; i < 100; i++ {
		name := e2eClusterName
		if i > 1 {
			name = fmt.Sprintf("%s-%d", e2eClusterName, i)
		}
		if _, err := os.Stat(state.For(name).Dir); os.IsNotExist(err) {
			return name
		}
	}
	return fmt.Sprintf("%s-%d", e2eClusterName, os.Getpid()%1000)
}

// onInterrupt cleans up when go test is interrupted (SIGINT, SIGTERM: a
// test binary dies of them without running Finish) or is about to time
// out (-timeout panics without running anything): it heals what the ledger
// lists, removes the suite's namespaces, writes the JUnit file and the
// summary, takes the local cluster down when TestMain brought it up
// (cluster non-nil), and exits 2. The returned function stops watching.
func onInterrupt(cluster support.E2EClusterProvider) func() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	var alarm <-chan time.Time
	if d := testTimeout(); d > 0 {
		// Early enough to heal and clean up before the test binary panics.
		margin := min(3*time.Minute, d/5)
		alarm = time.After(d - margin)
	}
	done := make(chan struct{})
	go func() {
		why := ""
		select {
		case s := <-sig:
			why = s.String()
		case <-alarm:
			why = "the go test -timeout is near"
		case <-done:
			return
		}
		fmt.Fprintf(os.Stderr, "e2e: %s: healing, removing the suite's objects and stopping\n", why)
		recorder.SuiteError("stopped early: %s", why)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		if kubeconfigPath != "" {
			if err := healLeftovers(ctx, os.Stderr); err != nil {
				fmt.Fprintln(os.Stderr, "e2e: healing:", err, "(run irischaos recover --reports", params.Reports+")")
			}
		}
		if kubeconfigPath != "" && cluster == nil { // a cluster TestMain brought up goes down whole
			if err := releaseNamespaces(ctx, os.Stderr, time.Minute); err != nil {
				fmt.Fprintln(os.Stderr, "e2e:", err)
			}
		}
		finish(2)
		if cluster != nil {
			fmt.Fprintln(os.Stderr, "e2e: taking the local cluster down")
			if err := cluster.Destroy(ctx); err != nil {
				fmt.Fprintln(os.Stderr, "e2e: cluster down:", err)
			}
		}
		os.Exit(2)
	}()
	return func() { signal.Stop(sig); close(done) }
}

// testTimeout is go test's -timeout (0: none).
func testTimeout() time.Duration {
	f := flag.Lookup("test.timeout")
	if f == nil {
		return 0
	}
	d, _ := time.ParseDuration(f.Value.String())
	return d
}

// irischaosBinary is $IRISCHAOS_BIN, else bin/irischaos of the source tree
// (make e2e builds it), else one built now: the cluster's supervisor is a
// re-executed irischaos.
func irischaosBinary() (string, error) {
	if p := os.Getenv("IRISCHAOS_BIN"); p != "" {
		return p, nil
	}
	root, err := binaries.RepoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(root, "bin")
	if os.Getenv("IRISCHAOS_E2E_REBUILD") == "" {
		if _, err := os.Stat(filepath.Join(bin, "irischaos")); err == nil {
			return filepath.Join(bin, "irischaos"), nil
		}
	}
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return "", err
	}
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin+"/", "./cmd/irischaos", "./internal/lab/cmd/iris", "./internal/lab/cmd/iris-main", "./internal/lab/cmd/pause")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("building bin/irischaos for the cluster supervisor: %w", err)
	}
	return filepath.Join(bin, "irischaos"), nil
}
