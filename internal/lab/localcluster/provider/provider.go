// Package provider is the local cluster as an e2e-framework cluster
// provider (support.E2EClusterProvider), as e2e-framework's kind provider is
// kind's: Create and Destroy run `irischaos cluster up` and `cluster down`,
// so tests bring the cluster up exactly as a user does. Use it with
// envfuncs.CreateCluster / CreateClusterWithOpts in env.Setup and Destroy
// (or envfuncs.DestroyCluster) in env.Finish.
package provider

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/e2e-framework/klient"
	"sigs.k8s.io/e2e-framework/support"

	"github.com/irischaos/irischaos/internal/lab/localcluster"
	"github.com/irischaos/irischaos/internal/lab/localcluster/binaries"
	"github.com/irischaos/irischaos/internal/lab/localcluster/state"
)

// Cluster is one local cluster, driven through the irischaos binary.
type Cluster struct {
	name, path, version string
	out                 io.Writer
	kubeconfig          string
	// owned is set once Create ran `cluster up`: Destroy takes down only a
	// cluster this provider started, never one another run holds.
	owned bool
}

var _ support.E2EClusterProvider = (*Cluster)(nil)

// New returns a provider; SetDefaults fills what is not set.
func New() *Cluster { return &Cluster{} }

// SetDefaults: binary `irischaos` on PATH, cluster name
// localcluster.DefaultName, progress on stdout.
func (c *Cluster) SetDefaults() support.E2EClusterProvider {
	if c.path == "" {
		c.path = "irischaos"
	}
	if c.name == "" {
		c.name = localcluster.DefaultName
	}
	if c.out == nil {
		c.out = os.Stdout
	}
	return c
}

func (c *Cluster) WithName(name string) support.E2EClusterProvider { c.name = name; return c }

// WithVersion accepts only the Kubernetes version the local cluster is
// built from (binaries.KubernetesVersion); Create refuses any other.
func (c *Cluster) WithVersion(v string) support.E2EClusterProvider { c.version = v; return c }

// WithPath sets the irischaos binary.
func (c *Cluster) WithPath(path string) support.E2EClusterProvider { c.path = path; return c }

// WithOutput sets where the commands' progress goes.
func (c *Cluster) WithOutput(w io.Writer) *Cluster { c.out = w; return c }

func (c *Cluster) WithOpts(opts ...support.ClusterOpts) support.E2EClusterProvider {
	for _, o := range opts {
		o(c)
	}
	return c
}

// Create runs `irischaos cluster up --name NAME ARGS...` (e.g. "--nodes", "3")
// and returns the cluster's kubeconfig. `cluster up` removes what it started
// when it fails or is interrupted (ctx cancelled sends it SIGINT).
func (c *Cluster) Create(ctx context.Context, args ...string) (string, error) {
	c.SetDefaults()
	if c.version != "" && c.version != binaries.KubernetesVersion {
		return "", fmt.Errorf("local cluster %q: Kubernetes %s requested, but the local cluster is built from %s only", c.name, c.version, binaries.KubernetesVersion)
	}
	if localcluster.Exists(c.name) {
		return "", fmt.Errorf("local cluster %q already runs (another test run?): point KUBECONFIG at it, or take it down with `irischaos cluster down --name %s`", c.name, c.name)
	}
	c.owned = true
	if err := c.run(ctx, c.out, append([]string{"up", "--name", c.name}, args...)...); err != nil {
		return "", err
	}
	c.kubeconfig = state.For(c.name).Kubeconfig()
	return c.kubeconfig, nil
}

// CreateWithConfig is Create: the local cluster takes flags, not a
// configuration file, so configFile must be empty.
func (c *Cluster) CreateWithConfig(ctx context.Context, configFile string) (string, error) {
	if configFile != "" {
		return "", fmt.Errorf("local cluster %q takes no configuration file (%s): pass `cluster up` flags to Create", c.name, configFile)
	}
	return c.Create(ctx)
}

func (c *Cluster) GetKubeconfig() string { return c.kubeconfig }

// GenerateKubeconfig asks `irischaos cluster kubeconfig` for the path.
func (c *Cluster) GenerateKubeconfig(...string) (string, error) {
	var out bytes.Buffer
	if err := c.run(context.Background(), &out, "kubeconfig", "--name", c.name); err != nil {
		return "", err
	}
	return strings.TrimSpace(out.String()), nil
}

// GetKubectlContext is the kubeconfig's current context.
func (c *Cluster) GetKubectlContext() string {
	kc, err := clientcmd.LoadFromFile(c.kubeconfig)
	if err != nil {
		return ""
	}
	return kc.CurrentContext
}

// ExportLogs copies the cluster's component and node logs into dest.
func (c *Cluster) ExportLogs(_ context.Context, dest string) error {
	src := filepath.Dir(state.For(c.name).Log("x"))
	ents, err := os.ReadDir(src)
	if err != nil {
		return fmt.Errorf("local cluster %q logs: %w", c.name, err)
	}
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return err
	}
	var errs []error
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err == nil {
			err = os.WriteFile(filepath.Join(dest, e.Name()), b, 0o644)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Destroy runs `irischaos cluster down` for a cluster Create started
// (whether or not it came up); it is safe to call twice.
func (c *Cluster) Destroy(ctx context.Context) error {
	if !c.owned {
		return nil
	}
	if err := c.run(ctx, c.out, "down", "--name", c.name); err != nil {
		return err
	}
	c.kubeconfig = ""
	return nil
}

// WaitForControlPlane checks what `cluster up` waited for: every node Ready.
func (c *Cluster) WaitForControlPlane(ctx context.Context, client klient.Client) error {
	var nodes corev1.NodeList
	if err := client.Resources().List(ctx, &nodes); err != nil {
		return fmt.Errorf("local cluster %q: listing nodes: %w", c.name, err)
	}
	if len(nodes.Items) == 0 {
		return fmt.Errorf("local cluster %q has no nodes: see %s", c.name, state.For(c.name).Log("supervisor"))
	}
	for _, n := range nodes.Items {
		ready := false
		for _, cond := range n.Status.Conditions {
			ready = ready || cond.Type == corev1.NodeReady && cond.Status == corev1.ConditionTrue
		}
		if !ready {
			return fmt.Errorf("local cluster %q: node %s is not Ready after `cluster up`: see its kubelet log in %s", c.name, n.Name, filepath.Dir(state.For(c.name).Log("x")))
		}
	}
	return nil
}

func (c *Cluster) KubernetesRestConfig() *rest.Config {
	cfg, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	if err != nil {
		return nil
	}
	return cfg
}

// run runs `irischaos cluster ARGS...`; a cancelled ctx interrupts it (as
// Ctrl-C would) so that it cleans up, and kills it only a while later.
func (c *Cluster) run(ctx context.Context, out io.Writer, args ...string) error {
	c.SetDefaults()
	cmd := exec.CommandContext(ctx, c.path, append([]string{"cluster"}, args...)...)
	cmd.Stdout, cmd.Stderr = out, c.out
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Minute
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("`%s cluster %s` failed: %w", c.path, strings.Join(args, " "), err)
	}
	return nil
}
