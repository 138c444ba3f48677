package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/irischaos/irischaos/internal/lab/localcluster"
	"github.com/irischaos/irischaos/internal/lab/localcluster/binaries"
	"github.com/irischaos/irischaos/internal/lab/localcluster/state"
	"github.com/irischaos/irischaos/internal/lab/nodepower"
)

func clusterCmd(a *app) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "The embedded local cluster: a real multi-node Kubernetes on this machine",
		Example: `  irischaos cluster up --nodes 3
  export KUBECONFIG=$(irischaos cluster kubeconfig)
  irischaos cluster status
  irischaos cluster down`,
		Long: `A real Kubernetes cluster assembled on this machine from upstream parts:
etcd, kube-apiserver, kube-controller-manager, kube-scheduler, and per node a
kubelet, containerd, runc and CNI in its own network namespace and cgroup.
Nodes can be powered off and on, restarted, deleted and partitioned (the local
"cloud"). Needs root. State and logs live in ` + nodepower.ClusterDir("<name>") + `.`,
	}
	cmd.PersistentFlags().StringVar(&name, "name", localcluster.DefaultName, "cluster name")

	var o localcluster.Options
	// The flags up shares with the supervisor it starts, spelled once here
	// and passed on as they were given.
	shared := pflag.NewFlagSet("cluster up", pflag.ContinueOnError)
	upFlags(shared, &o)
	up := &cobra.Command{
		Use:   "up",
		Short: "Create the cluster and return once every node is Ready (a supervisor keeps running in the background)",
		Example: `  irischaos cluster up
  irischaos cluster up --name lab --nodes 4
  irischaos cluster up --cloud aws-emulator   # nodes are EC2 instances in a local moto_server
  irischaos cluster up --timings upstream     # Kubernetes' default failure detection (pods leave a lost node after ~6 minutes)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			exe, err := os.Executable()
			if err != nil {
				return withCode(exitUnknown, fmt.Errorf("finding the irischaos binary to run the cluster supervisor: %w", err))
			}
			o.Name = name
			o.Supervisor = superviseCommand(exe, name, shared)
			if err := localcluster.Up(a.ctx, o, cmd.OutOrStdout()); err != nil {
				return withCode(exitUnknown, err)
			}
			return nil
		},
	}
	up.Flags().AddFlagSet(shared)

	var so localcluster.Options
	supervise := &cobra.Command{
		Use:    superviseUse,
		Short:  "Run the cluster in the foreground (what `up` starts in the background)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			so.Name = name
			l := state.For(name)
			if err := os.MkdirAll(l.Dir, 0o755); err != nil {
				return err
			}
			pf, err := os.OpenFile(l.Progress(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				return err
			}
			defer pf.Close()
			if err := localcluster.Supervise(a.ctx, so, io.MultiWriter(cmd.OutOrStdout(), pf)); err != nil {
				return withCode(exitUnknown, err)
			}
			return nil
		},
	}
	upFlags(supervise.Flags(), &so)

	var all bool
	down := &cobra.Command{
		Use:   "down",
		Short: "Stop the cluster and remove everything it created (safe to run twice)",
		Example: `  irischaos cluster down
  irischaos cluster down --name lab
  irischaos cluster down --all`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			names := []string{name}
			if all {
				var err error
				if names, err = state.List(); err != nil {
					return withCode(exitUnknown, err)
				}
				if len(names) == 0 {
					fmt.Fprintln(cmd.OutOrStdout(), "no local clusters")
				}
			}
			var errs []error
			for _, n := range names {
				errs = append(errs, localcluster.Down(a.ctx, n, cmd.OutOrStdout()))
			}
			if err := errors.Join(errs...); err != nil {
				return withCode(exitUnknown, err)
			}
			return nil
		},
	}
	down.Flags().BoolVar(&all, "all", false, "remove every local cluster")

	status := &cobra.Command{
		Use:   "status",
		Short: "Nodes, power state, storage classes (stand-ins named as such) and component health",
		Example: `  irischaos cluster status
  irischaos cluster status --name lab`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := localcluster.GetStatus(a.ctx, name)
			if err != nil {
				return withCode(exitUnknown, err)
			}
			printStatus(cmd.OutOrStdout(), st)
			return nil
		},
	}

	kubeconfig := &cobra.Command{
		Use:   "kubeconfig",
		Short: "Print the path of the cluster's admin kubeconfig",
		Example: `  export KUBECONFIG=$(irischaos cluster kubeconfig)
  kubectl --kubeconfig $(irischaos cluster kubeconfig --name lab) get nodes`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p := state.For(name).Kubeconfig()
			if _, err := os.Stat(p); err != nil {
				return withCode(exitUnknown, fmt.Errorf("local cluster %q has no kubeconfig (%v): create it with `irischaos cluster up --name %s`", name, err, name))
			}
			fmt.Fprintln(cmd.OutOrStdout(), p)
			return nil
		},
	}

	power := &cobra.Command{
		Use:   "power NODE ACTION",
		Short: "Power a node: poweroff, poweron, restart, delete, partition, heal",
		Example: `  irischaos cluster power node-2 poweroff
  irischaos cluster power node-2 poweron
  irischaos cluster power node-3 partition && irischaos cluster power node-3 heal`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			act, err := nodepower.ParseAction(args[1])
			if err != nil {
				return withCode(exitUnknown, err)
			}
			c, err := nodepower.Discover(name)
			if err != nil {
				return withCode(exitUnknown, err)
			}
			if err := c.Do(a.ctx, args[0], act); err != nil {
				return withCode(exitUnknown, err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "node %s: %s done\n", args[0], act)
			return nil
		},
	}
	cmd.AddCommand(up, down, status, kubeconfig, power, depsCmd(a), supervise)
	return cmd
}

// depsCmd builds (or finds cached) the Kubernetes and etcd binaries the
// local cluster runs; hack/deps.sh calls it, so the recipe lives only in
// package binaries.
func depsCmd(a *app) *cobra.Command {
	var o binaries.Options
	var print bool
	cmd := &cobra.Command{
		Use:   "deps",
		Short: "Build, or find cached, the Kubernetes and etcd binaries the local cluster runs, and print where they are",
		Long: `Builds Kubernetes ` + binaries.KubernetesVersion + ` and etcd ` + binaries.EtcdVersion + ` from the repository's
tools/ modules into the cache (the first Kubernetes build takes 20-25 minutes
on 2 cores; a line every 10 s says it is still going). Fast and silent but for
the paths when everything is cached. Needs no root and no cluster.`,
		Example: `  irischaos cluster deps
  irischaos cluster deps --print            # the go build commands it would run; builds nothing
  irischaos cluster deps --cache-dir /tmp/bins --tools-dir ./tools`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out := cmd.OutOrStdout()
			if print {
				set, builds, err := binaries.Plan(o)
				if err != nil {
					return withCode(exitUnknown, err)
				}
				for _, b := range builds {
					fmt.Fprintf(out, "# %s\n%s\n", b.What, b.Command())
				}
				if len(builds) == 0 {
					fmt.Fprintf(out, "# nothing to build: every binary is cached\n")
				}
				printBinaries(out, set)
				return nil
			}
			o.Progress = out
			set, err := binaries.Ensure(a.ctx, o)
			if err != nil {
				return withCode(exitUnknown, err)
			}
			printBinaries(out, set)
			return nil
		},
	}
	cmd.Flags().StringVar(&o.ToolsDir, "tools-dir", "", "the repository's tools/ directory; found from the working directory when empty")
	cmd.Flags().StringVar(&o.CacheDir, "cache-dir", binaries.CacheDir(), "where the binaries are cached")
	cmd.Flags().BoolVar(&print, "print", false, "print the build commands that would run instead of running them")
	return cmd
}

func printBinaries(w io.Writer, s binaries.Set) {
	fmt.Fprintf(w, "Kubernetes %s: %s\n", binaries.KubernetesVersion, filepath.Dir(s.Kubelet))
	fmt.Fprintf(w, "etcd %s: %s\n", binaries.EtcdVersion, s.Etcd)
}

// superviseUse names the hidden command `up` starts as the supervisor.
const superviseUse = "supervise"

// upFlags binds the flags of `cluster up`, which its supervisor takes too.
func upFlags(fs *pflag.FlagSet, o *localcluster.Options) {
	fs.IntVar(&o.Nodes, "nodes", 3, "number of nodes (zones zone-a, zone-b, ...)")
	fs.StringVar(&o.Cloud, "cloud", localcluster.CloudLocal, "what powers the nodes: local or aws-emulator")
	fs.BoolVar(&o.Ceph, "ceph", true, "run Ceph in the cluster (a monitor and manager on the host, one BlueStore OSD per node inside the node, pool rbd with one copy per node up to 3) and serve the replicated class with Ceph RBD; --ceph=false serves it from a directory every node mounts (no attach, no replicas: a stand-in)")
	fs.StringVar(&o.Timings, "timings", "fast", "node failure detection: fast (node lost after 20 s, pods evicted 20 s later) or upstream (Kubernetes' defaults: 50 s, then 300 s)")
	fs.StringVar(&o.ToolsDir, "tools-dir", "", "the repository's tools/ directory (to build Kubernetes and etcd); found from the working directory when empty")
}

// superviseCommand is the supervisor's command line: exe's hidden
// `cluster supervise` with every flag of shared as it was parsed.
func superviseCommand(exe, name string, shared *pflag.FlagSet) []string {
	args := []string{exe, "cluster", superviseUse, "--name", name}
	shared.VisitAll(func(f *pflag.Flag) { args = append(args, "--"+f.Name+"="+f.Value.String()) })
	return args
}

func printStatus(out io.Writer, st *localcluster.Status) {
	fmt.Fprintf(out, "cluster %s   (cloud %s, %s)\nkubeconfig: %s\nsupervisor: %s\n", st.Name, st.Cloud, st.Dir, st.Kubeconfig, st.Supervisor)
	var comps []string
	for c := range st.Components {
		comps = append(comps, c)
	}
	sort.Strings(comps)
	for _, c := range comps {
		fmt.Fprintf(out, "  %-24s %s\n", c, st.Components[c])
	}
	if st.APIError != "" {
		fmt.Fprintf(out, "apiserver: unreachable: %s\n", st.APIError)
	}
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "\nNODE\tPOWER\tPARTITIONED\tREADY\tZONE\tADDRESS\tPROVIDER ID")
	for _, n := range st.Nodes {
		fmt.Fprintf(w, "%s\t%s\t%v\t%s\t%s\t%s\t%s\n", n.Name, n.State, n.Partitioned, n.Ready, n.Zone, n.Address, n.ProviderID)
	}
	w.Flush()
	if len(st.StorageClasses) > 0 {
		w = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "\nSTORAGE CLASS\tBINDING\tPROVISIONER\tSTAND-IN FOR")
		for _, sc := range st.StorageClasses {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", sc.Name, sc.BindingMode, sc.Provisioner, sc.StandIn)
		}
		w.Flush()
	}
}
