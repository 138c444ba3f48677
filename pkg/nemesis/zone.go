package nemesis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/irischaos/irischaos/cloud"
	"github.com/irischaos/irischaos/pkg/fault"
	"github.com/irischaos/irischaos/pkg/ledger"
	"github.com/irischaos/irischaos/pkg/target"
)

// ZoneLabel is the well-known label of a node's zone.
const ZoneLabel = corev1.LabelTopologyZone

// ErrZoneRefused: a zone outage that would leave nothing to fail over to.
var ErrZoneRefused = errors.New("zone outage refused")

// ZoneNodes picks the nodes of a zone outage: zone, or when empty the zone
// of node home (the IRIS pod's). It refuses, as a preflight does, a zone
// without nodes, one holding every node (nothing would be left to fail
// over to), and one holding every usable copy of the volume where copies
// (usable copies per zone, nil when not readable) says so.
func ZoneNodes(nodes []corev1.Node, zone, home string, copies map[string]int) (string, []corev1.Node, error) {
	if zone == "" {
		for _, n := range nodes {
			if n.Name == home {
				zone = n.Labels[ZoneLabel]
			}
		}
		if zone == "" {
			if home == "" {
				return "", nil, errors.New("zone-outage needs a zone: the IRIS pod is not scheduled; name one (targets.zone, --zone)")
			}
			return "", nil, fmt.Errorf("zone-outage: node %s has no %s label; name a zone (targets.zone, --zone)", home, ZoneLabel)
		}
	}
	var in []corev1.Node
	zones := map[string]bool{}
	for _, n := range nodes {
		zones[n.Labels[ZoneLabel]] = true
		if n.Labels[ZoneLabel] == zone {
			in = append(in, n)
		}
	}
	sort.Slice(in, func(i, j int) bool { return in[i].Name < in[j].Name })
	switch {
	case len(in) == 0:
		var known []string
		for z := range zones {
			if z != "" {
				known = append(known, z)
			}
		}
		slices.Sort(known)
		return zone, nil, fmt.Errorf("%w: no node is in zone %q (zones: %s)", ErrZoneRefused, zone, strings.Join(known, ", "))
	case len(in) == len(nodes):
		return zone, nil, fmt.Errorf("%w: zone %q holds every node (%d): nothing would be left to fail over to", ErrZoneRefused, zone, len(nodes))
	}
	if copies != nil {
		total := 0
		for _, n := range copies {
			total += n
		}
		if total > 0 && copies[zone] == total {
			return zone, nil, fmt.Errorf("%w: zone %q holds every usable copy of the volume (%d): the data would be lost with it", ErrZoneRefused, zone, total)
		}
	}
	return zone, in, nil
}

// zoneOutage takes every node of a zone off at once: each node's VM powered
// off (vmFault), or each node cut off (nodeCut).
type zoneOutage struct {
	env    Env
	t      target.Target
	zone   string
	method fault.ZoneMethod
	vms    []*vmFault
	cuts   []*nodeCut
	effect string // the node whose NotReady confirms it
}

func newZoneOutage(env Env, s Spec, t target.Target) (*zoneOutage, error) {
	if env.Client == nil {
		return nil, errors.New("zone-outage needs the cluster (its nodes and zones)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	list, err := env.Client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("zone-outage: list nodes: %w", err)
	}
	zone, nodes, err := ZoneNodes(list.Items, s.Zone, t.Node, s.Copies)
	if err != nil {
		return nil, err
	}
	z := &zoneOutage{env: env, t: t, zone: zone, method: s.ZoneMethod}
	if z.method == "" {
		z.method = fault.ZonePowerOff
	}
	for _, n := range nodes {
		if n.Name == t.Node || z.effect == "" {
			z.effect = n.Name
		}
		switch z.method {
		case fault.ZonePartition:
			c, err := newCut(ctx, env, s, n.Name, n.Spec.ProviderID, s.AgentNamespace)
			if err != nil {
				return nil, err
			}
			z.cuts = append(z.cuts, c)
		default:
			if n.Spec.ProviderID == "" {
				return nil, fmt.Errorf("zone-outage: node %s has no spec.providerID, so its VM cannot be powered off; use method partition", n.Name)
			}
			if env.Clouds == nil {
				return nil, errors.New("zone-outage: no cloud providers configured")
			}
			p, vm, err := env.Clouds.For(n.Spec.ProviderID)
			if err != nil {
				return nil, fmt.Errorf("zone-outage on node %s: %w", n.Name, err)
			}
			nt := target.Target{Node: n.Name, ProviderID: n.Spec.ProviderID}
			z.vms = append(z.vms, &vmFault{env: env, name: fault.VMPowerOff, t: nt, p: p, vm: vm})
		}
	}
	return z, nil
}

func (z *zoneOutage) Name() fault.Name      { return fault.ZoneOutage }
func (z *zoneOutage) Target() target.Target { return z.t }

func (z *zoneOutage) HealAction() string {
	if z.method == fault.ZonePartition {
		return ledger.HealReconnect
	}
	return ledger.HealPowerOn
}

func (z *zoneOutage) Effect() fault.Effect {
	if z.method == fault.ZonePartition && len(z.cuts) > 0 && !slices.Contains(z.cuts[0].opt.Peers, fault.PeerControlPlane) {
		return fault.Effect{}
	}
	return fault.Effect{Kind: fault.EffectNodeNotReady, Node: z.effect}
}

// Cuts and ProviderIDs go to the ledger.
func (z *zoneOutage) Cuts() []ledger.Cut {
	var out []ledger.Cut
	for _, c := range z.cuts {
		out = append(out, c.record())
	}
	return out
}

func (z *zoneOutage) ProviderIDs() []string {
	var out []string
	for _, v := range z.vms {
		out = append(out, v.vm.ProviderID)
	}
	return out
}

func (z *zoneOutage) nodes() []string {
	var out []string
	for _, v := range z.vms {
		out = append(out, v.t.Node)
	}
	for _, c := range z.cuts {
		out = append(out, c.node)
	}
	return out
}

func (z *zoneOutage) Plan() []string {
	plan := []string{fmt.Sprintf("zone %s off-line (%s) at the same moment: nodes %s", z.zone, z.method, strings.Join(z.nodes(), ", "))}
	var heal []string
	for _, v := range z.vms {
		plan = append(plan, fmt.Sprintf("%s %s of node %s: %s", v.action(), v.vm.ProviderID, v.t.Node, v.p.Describe(v.vm, v.action())))
		heal = append(heal, "heal: power on if not running: "+v.p.Describe(v.vm, cloud.PowerOn))
	}
	for _, c := range z.cuts {
		plan = append(plan, c.plan()...)
		heal = append(heal, c.healPlan()...)
	}
	if e := z.Effect(); e.Kind != "" {
		plan = append(plan, fmt.Sprintf("effect: node %s NotReady", e.Node))
	}
	return append(plan, heal...)
}

// Inject takes every node off concurrently; Issued is the first node's.
func (z *zoneOutage) Inject(ctx context.Context) (Result, error) {
	type one struct {
		issued time.Time
		detail string
		err    error
	}
	n := len(z.vms) + len(z.cuts)
	res := make([]one, n)
	var wg sync.WaitGroup
	for i, v := range z.vms {
		wg.Go(func() {
			r, err := v.Inject(ctx)
			res[i] = one{r.Issued, r.Detail, err}
		})
	}
	for i, c := range z.cuts {
		wg.Go(func() {
			issued, detail, err := c.inject(ctx)
			res[len(z.vms)+i] = one{issued, detail, err}
		})
	}
	wg.Wait()
	out := Result{Done: time.Now()}
	var details []string
	var errs []error
	for _, r := range res {
		if !r.issued.IsZero() && (out.Issued.IsZero() || r.issued.Before(out.Issued)) {
			out.Issued = r.issued
		}
		if r.detail != "" {
			details = append(details, r.detail)
		}
		errs = append(errs, r.err)
	}
	out.Detail = fmt.Sprintf("zone %s: %s", z.zone, strings.Join(details, "; "))
	return out, errors.Join(errs...)
}

// Heal powers on or reconnects every node, concurrently.
func (z *zoneOutage) Heal(ctx context.Context) error {
	errs := make([]error, len(z.vms)+len(z.cuts))
	var wg sync.WaitGroup
	for i, v := range z.vms {
		wg.Go(func() { errs[i] = v.Heal(ctx) })
	}
	for i, c := range z.cuts {
		wg.Go(func() { errs[len(z.vms)+i] = c.heal(ctx) })
	}
	wg.Wait()
	return errors.Join(errs...)
}
