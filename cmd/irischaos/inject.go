package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/irischaos/irischaos/pkg/fault"
	"github.com/irischaos/irischaos/pkg/ledger"
	"github.com/irischaos/irischaos/pkg/nemesis"
	"github.com/irischaos/irischaos/pkg/observe"
	"github.com/irischaos/irischaos/pkg/runner"
	"github.com/irischaos/irischaos/pkg/target"
)

// injectCmd is `irischaos inject`.
func injectCmd(a *app) *cobra.Command {
	var (
		node, providerID, pod string
		grace                 time.Duration
		drainTimeout          time.Duration
		dryRun, allowVM       bool
		healAfter             time.Duration
		noHeal                bool
		effectTimeout         time.Duration
		reportsDir            string
		healTimeout           time.Duration
		cf                    cloudFlags
		nf                    nodeActionFlags
		direction, peers, via string
		storageAddrs          []string
		duration              time.Duration
		zone, zoneMethod      string
	)
	cmd := &cobra.Command{
		Use:   "inject FAULT",
		Short: "Inject one fault by hand, confirm its effect, and heal it",
		Long: `inject runs one fault against the stack, outside any scenario: no markers are
written and nothing is measured. By default the target is the stack's IRIS pod,
its node and that node's VM; --pod, --node or --provider-id name another.
A VM fault with --provider-id needs no cluster: without a kubeconfig it goes
through the cloud API alone, and its effect is the VM state that API reports.

Faults:
` + faultHelp() + `

The fault is written to <reports>/ledger.jsonl before it is injected. After
its effect is confirmed (or --effect-timeout) it is healed at once, after
--heal-after, or never with --no-heal (irischaos recover heals it later).
Ctrl-C heals at once; a second Ctrl-C aborts healing and says what is left.
VM faults refuse to run without --allow-vm-actions, partitions (node-partition,
zone-outage --zone-method partition) without --allow-node-actions; --dry-run
prints the exact calls and iptables rules and changes nothing.

A partition cuts the node off its peers (--peers: control-plane, nodes,
storage with --storage-address), both ways or one (--direction), its
processes running. On the local cluster the node's link goes down through its
node power API; elsewhere (or for a one-way or partial cut) an agent pod on
the node (--agent-image, --agent-namespace; hostNetwork, NET_ADMIN) sets
iptables rules and removes them by itself after --duration, even if irischaos
is killed. Every rule is in the ledger; irischaos recover removes them.`,
		Example: `  # what would a VM power off do, changing nothing
  irischaos inject vm-poweroff --dry-run

  # delete the IRIS pod at once
  irischaos inject pod-delete --grace-period 0

  # drain a node, uncordon it after 2 minutes
  irischaos inject node-drain --node worker-2 --heal-after 2m

  # the exact iptables rules a one-way partition of a node would set
  irischaos inject node-partition --node worker-2 --direction incoming --dry-run

  # cut the IRIS pod's node off for at most 3 minutes, reconnect after 1
  irischaos inject node-partition --allow-node-actions --duration 3m --heal-after 1m

  # power off every node of zone-b at once
  irischaos inject zone-outage --zone zone-b --allow-vm-actions

  # power a VM off through an EC2 emulator and leave it off
  irischaos inject vm-poweroff --provider-id aws:///us-east-1a/i-0abc12345678 --allow-vm-actions --no-heal --aws-endpoint http://127.0.0.1:5000
  irischaos inject vm-poweron --provider-id aws:///us-east-1a/i-0abc12345678 --allow-vm-actions --aws-endpoint http://127.0.0.1:5000`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := fault.Name(args[0])
			set := 0
			for _, s := range []string{node, providerID, pod} {
				if s != "" {
					set++
				}
			}
			info, err := fault.Lookup(name)
			if err != nil {
				return withCode(exitUnknown, err)
			}
			if set > 1 {
				return withCode(exitUnknown, errors.New("give at most one of --node, --provider-id, --pod"))
			}
			method, err := fault.ParseZoneMethod(zoneMethod)
			if err != nil {
				return withCode(exitUnknown, err)
			}
			info = info.Via(method)
			allow := fault.Allow{VMActions: allowVM, NodeActions: nf.allow}
			if err := info.Permit(allow); err != nil && !dryRun {
				return withCode(exitUnknown, err)
			}
			if noHeal && cmd.Flags().Changed("heal-after") {
				return withCode(exitUnknown, errors.New("--heal-after and --no-heal exclude each other"))
			}
			out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
			ctx := a.ctx
			clouds := cf.registry(errOut)(printCalls(errOut))
			// A VM named by its providerID needs no cluster: without one
			// configured, the fault goes through the cloud API alone and its
			// effect is the VM state that API reports.
			var (
				cl      *runner.Cluster
				t       target.Target
				env     nemesis.Env
				against string
			)
			if info.Kind == fault.KindVM && providerID != "" && noClusterConfigured(a) {
				t = target.Target{ProviderID: providerID}
				env = nemesis.Env{Clouds: clouds, Out: errOut}
				against = "the cloud API (no cluster configured)"
			} else {
				if cl, err = connect(a); err != nil {
					return err
				}
				fd := target.Finder{Client: cl.Kube, Namespace: cl.Namespace}
				switch {
				case pod != "":
					t, err = fd.Pod(ctx, pod)
				case node != "":
					t, err = fd.Node(ctx, node)
				case providerID != "":
					t, err = fd.ByProviderID(ctx, providerID)
				default:
					t, err = fd.IRIS(ctx)
				}
				if err != nil {
					return withCode(exitUnknown, err)
				}
				env = cl.Nemesis(clouds, errOut)
				against = cl.Host
			}
			ps, err := fault.ParsePeers(peers)
			if err != nil {
				return withCode(exitUnknown, err)
			}
			spec := nemesis.Spec{Name: name, DrainTimeout: drainTimeout, Allow: fault.Allow{VMActions: allowVM || dryRun, NodeActions: nf.allow || dryRun},
				Partition:    fault.Partition{Direction: fault.Direction(direction), Peers: ps, Storage: storageAddrs, Duration: duration},
				PartitionVia: via, AgentImage: nf.agentImage, AgentNamespace: nf.agentNamespace, Zone: zone, ZoneMethod: method}
			if cmd.Flags().Changed("grace-period") {
				spec.GracePeriod = &grace
			}
			if spec.AgentNamespace == "" && cl != nil {
				spec.AgentNamespace = cl.Namespace // the stack's, also for a node named by hand
			}
			if name == fault.ZoneOutage && cl != nil {
				spec.Copies = runner.VolumeCopies(ctx, cl.Kube, cl.Dynamic, cl.Namespace)
			}
			f, err := nemesis.New(env, spec, t)
			if err != nil {
				return withCode(exitUnknown, err)
			}
			if dryRun {
				fmt.Fprintf(out, "dry run against %s: nothing will be changed\n%s on %s\n", against, f.Name(), t)
				for _, s := range f.Plan() {
					fmt.Fprintf(out, "  - %s\n", s)
				}
				if err := info.Permit(allow); err != nil {
					fmt.Fprintf(out, "  ! a real run refuses: %v\n", err)
				}
				return nil
			}

			l, err := ledger.Open(reportsDir)
			if err != nil {
				return withCode(exitUnknown, err)
			}
			if pend, _ := l.Pending(); len(pend) > 0 {
				fmt.Fprintf(errOut, "note: the ledger %s lists %d unhealed fault(s) from before; irischaos recover heals them\n", l.Path(), len(pend))
			}

			// Confirm the effect with the same watches a run uses.
			var effectCh <-chan time.Time
			octx, ocancel := context.WithCancel(ctx)
			defer ocancel()
			host := ""
			if cl != nil {
				host = cl.Host
			}
			if e := f.Effect(); e.Kind != "" && cl != nil {
				ob, err := observe.New(cl.Kube, observe.Options{Namespace: cl.Namespace, Progress: errOut, Dynamic: cl.Dynamic})
				if err != nil {
					return withCode(exitUnknown, err)
				}
				if err := ob.Start(octx); err != nil {
					return withCode(exitUnknown, err)
				}
				effectCh = ob.ExpectEffect(e)
			}

			abort, stop := healGuard(ctx, errOut)
			defer stop()
			g := nemesis.Guard{Ledger: l, Env: env, Cluster: host, Run: "inject", HealTimeout: healTimeout, Abort: abort}
			heal := func(active *nemesis.Active) error {
				if err := active.Heal(ctx); err != nil {
					printLeft(errOut, l)
					return withCode(exitUnknown, fmt.Errorf("heal %s: %w", f.Name(), err))
				}
				return nil
			}
			fmt.Fprintf(errOut, "injecting %s on %s\n", f.Name(), t)
			active, ierr := g.Inject(ctx, f)
			if active == nil {
				return withCode(exitUnknown, ierr)
			}
			if ierr != nil {
				return withCode(exitUnknown, errors.Join(ierr, heal(active)))
			}
			res := active.Result
			fmt.Fprintf(out, "%s issued at %s; its call returned after %s\n", f.Name(), res.Issued.UTC().Format(time.RFC3339Nano), res.Done.Sub(res.Issued).Round(time.Millisecond))
			if res.Detail != "" {
				fmt.Fprintf(out, "  %s\n", res.Detail)
			}
			switch {
			case !res.Effect.IsZero():
				fmt.Fprintf(out, "effect confirmed at %s (+%s): %s, seen by the fault itself\n", res.Effect.UTC().Format(time.RFC3339Nano), res.Effect.Sub(res.Issued).Round(time.Millisecond), f.Effect().Kind)
			case effectCh != nil:
				select {
				case te := <-effectCh:
					fmt.Fprintf(out, "effect confirmed at %s (+%s): %s\n", te.UTC().Format(time.RFC3339Nano), te.Sub(res.Issued).Round(time.Millisecond), f.Effect().Kind)
				case <-time.After(effectTimeout):
					fmt.Fprintf(out, "effect %s not confirmed within %s\n", f.Effect().Kind, effectTimeout)
				case <-ctx.Done():
				}
			case info.Kind == fault.KindVM:
				// No node to watch (none configured, or the VM carries none):
				// the cloud API's state is the effect.
				cctx, ccancel := context.WithTimeout(ctx, effectTimeout)
				te, st, err := nemesis.ConfirmVMState(cctx, f, time.Second)
				ccancel()
				if err != nil {
					fmt.Fprintf(out, "effect not confirmed within %s: %v\n", effectTimeout, err)
				} else {
					fmt.Fprintf(out, "effect confirmed at %s (+%s): VM %s (cloud API state)\n", te.UTC().Format(time.RFC3339Nano), te.Sub(res.Issued).Round(time.Millisecond), st)
				}
			}
			ocancel()
			if f.HealAction() == ledger.HealNone {
				return active.Close()
			}
			if noHeal {
				fmt.Fprintf(out, "left in effect (--no-heal): %s; recorded in %s, `irischaos recover --reports %s` heals it\n", f.HealAction(), l.Path(), reportsDir)
				return nil
			}
			if healAfter > 0 && ctx.Err() == nil {
				fmt.Fprintf(errOut, "healing in %s (Ctrl-C heals now)\n", healAfter)
				select {
				case <-time.After(healAfter):
				case <-ctx.Done():
				}
			}
			return heal(active)
		},
	}
	cmd.Flags().StringVar(&node, "node", "", "act on this node (node-drain, vm-*, node-partition) instead of the IRIS pod's")
	cmd.Flags().StringVar(&providerID, "provider-id", "", "act on this VM (vm-*), e.g. aws:///us-east-1a/i-0abc12345678")
	cmd.Flags().StringVar(&pod, "pod", "", "act on this pod instead of the stack's IRIS pod")
	cmd.Flags().DurationVar(&grace, "grace-period", 0, "pod-delete / node-drain: deletion grace period (default: the pod's own; 0 deletes at once)")
	cmd.Flags().DurationVar(&drainTimeout, "drain-timeout", fault.DefaultDrainTimeout, "node-drain: how long the drain may take")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "print the exact calls and change nothing")
	cmd.Flags().BoolVar(&allowVM, "allow-vm-actions", false, "allow VM faults (power off, restart, delete real machines through the cloud API)")
	cmd.Flags().DurationVar(&healAfter, "heal-after", 0, "wait this long after the effect before healing")
	cmd.Flags().BoolVar(&noHeal, "no-heal", false, "leave the fault in effect (recorded in the ledger for irischaos recover)")
	cmd.Flags().DurationVar(&effectTimeout, "effect-timeout", 5*time.Minute, "how long to wait for the effect to be confirmed")
	cmd.Flags().StringVar(&reportsDir, "reports", "reports", "directory holding the fault ledger")
	cmd.Flags().DurationVar(&healTimeout, "heal-timeout", nemesis.DefaultHealTimeout, "how long healing the fault may take")
	nf.add(cmd)
	cmd.Flags().StringVar(&direction, "direction", string(fault.Both), "partition: both, incoming (the node receives nothing from its peers) or outgoing (what it sends is dropped)")
	cmd.Flags().StringVar(&peers, "peers", fault.PeerList(fault.DefaultPeers), "partition: the peers cut, of "+fault.PeerList(fault.AllPeers))
	cmd.Flags().StringSliceVar(&storageAddrs, "storage-address", nil, "partition peer storage: its addresses or CIDRs (repeat or comma-separate)")
	cmd.Flags().DurationVar(&duration, "duration", fault.DefaultPartitionDuration, "partition: the agent removes its rules by itself after this (its dead man's switch), healed or not")
	cmd.Flags().StringVar(&via, "via", nemesis.ViaAuto, "partition: auto (the node's provider when it can and the cut is full, else the agent), agent or provider")
	cmd.Flags().StringVar(&zone, "zone", "", "zone-outage: the zone (topology.kubernetes.io/zone) taken off (default: the IRIS pod's)")
	cmd.Flags().StringVar(&zoneMethod, "zone-method", string(fault.ZonePowerOff), "zone-outage: poweroff (needs --allow-vm-actions) or partition (needs --allow-node-actions)")
	cf.add(cmd)
	return cmd
}

// faultHelp lists the vocabulary for --help, one fault a line.
func faultHelp() string {
	var b strings.Builder
	for _, i := range fault.All() {
		fmt.Fprintf(&b, "  %-14s %s\n", i.Name, i.Does)
	}
	return strings.TrimSuffix(b.String(), "\n")
}
