//go:build chaos

// Package e2e holds the chaos end-to-end tests (`go test ./e2e -tags chaos`).
// TestMain uses the cluster of --kubeconfig or $KUBECONFIG when given, and
// otherwise brings the embedded local cluster up and, on every exit path,
// down again, through e2e-framework's cluster provider interface
// (internal/lab/localcluster/provider: `irischaos cluster up` / `down`).
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"sigs.k8s.io/e2e-framework/pkg/env"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/envfuncs"
	"sigs.k8s.io/e2e-framework/support"

	"github.com/irischaos/irischaos/internal/lab/localcluster"
	"github.com/irischaos/irischaos/internal/lab/localcluster/binaries"
	"github.com/irischaos/irischaos/internal/lab/localcluster/provider"
	"github.com/irischaos/irischaos/internal/lab/localcluster/state"
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
	cfg, err := envconf.NewFromFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 2
	}
	kubeconfigPath = cfg.KubeconfigFile()
	if kubeconfigPath == "" {
		kubeconfigPath = os.Getenv("KUBECONFIG")
	}
	envCfg = cfg
	testenv = env.NewWithConfig(cfg)
	if kubeconfigPath != "" {
		clusterName, localCluster = localClusterOf(kubeconfigPath)
		cfg.WithKubeconfigFile(kubeconfigPath)
		fmt.Printf("e2e: using the cluster of %s (local cluster: %v)\n", kubeconfigPath, localCluster)
		return testenv.Run(m)
	}
	exe, err := irischaosBinary()
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: local cluster:", err)
		return 2
	}
	clusterName, localCluster = freeClusterName(), true
	cluster := provider.New().WithPath(exe)
	defer destroyOnSignal(cluster)()
	testenv.Setup(
		envfuncs.CreateClusterWithOpts(cluster, clusterName),
		func(ctx context.Context, cfg *envconf.Config) (context.Context, error) {
			kubeconfigPath = cfg.KubeconfigFile()
			return ctx, nil
		})
	// Finish runs also when Setup failed: always down, so a failed run
	// never leaves a node's processes behind. The logs go to build/ first.
	testenv.Finish(
		func(ctx context.Context, _ *envconf.Config) (context.Context, error) {
			if root, err := binaries.RepoRoot(); err == nil {
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
	return testenv.Run(m)
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

// destroyOnSignal takes the cluster down and exits on SIGINT/SIGTERM
// (a test binary dies of them without running Finish); the returned
// function stops watching.
func destroyOnSignal(cluster support.E2EClusterProvider) func() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sig:
			fmt.Fprintf(os.Stderr, "e2e: %v: taking the local cluster down\n", s)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			if err := cluster.Destroy(ctx); err != nil {
				fmt.Fprintln(os.Stderr, "e2e: cluster down:", err)
			}
			os.Exit(2)
		case <-done:
		}
	}()
	return func() { signal.Stop(sig); close(done) }
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
