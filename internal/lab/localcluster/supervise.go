package localcluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/irischaos/irischaos/internal/lab/awsemulator"
	"github.com/irischaos/irischaos/internal/lab/ceph"
	"github.com/irischaos/irischaos/internal/lab/image"
	"github.com/irischaos/irischaos/internal/lab/localcluster/binaries"
	"github.com/irischaos/irischaos/internal/lab/localcluster/cgroups"
	"github.com/irischaos/irischaos/internal/lab/localcluster/controlplane"
	"github.com/irischaos/irischaos/internal/lab/localcluster/netns"
	"github.com/irischaos/irischaos/internal/lab/localcluster/node"
	"github.com/irischaos/irischaos/internal/lab/localcluster/proc"
	"github.com/irischaos/irischaos/internal/lab/localcluster/state"
	"github.com/irischaos/irischaos/internal/lab/nodepower"
)

// NodeNames returns the node names of an n-node cluster.
func NodeNames(n int) []string {
	var out []string
	for i := 1; i <= n; i++ {
		out = append(out, fmt.Sprintf("node-%d", i))
	}
	return out
}

// plan fills the cluster state: addresses, names, cgroups, identities.
func plan(o Options, index int, h cgroups.Host) *state.Cluster {
	c := &state.Cluster{
		Name: o.Name, Index: index, Cloud: o.Cloud, Timings: string(o.timings),
		Bridge:     fmt.Sprintf("icbr%d", index),
		BridgeIP:   fmt.Sprintf("10.250.%d.1", index),
		CgroupBase: h.Sub("irischaos-" + o.Name).Path,
	}
	for i, name := range NodeNames(o.Nodes) {
		c.Nodes = append(c.Nodes, state.Node{
			Name: name, Index: i + 1,
			IP:         fmt.Sprintf("10.250.%d.%d", index, 11+i),
			NS:         fmt.Sprintf("irischaos-%s-%s", o.Name, name),
			HostVeth:   fmt.Sprintf("ic%dn%d", index, i+1),
			Cgroup:     c.CgroupBase + "/" + name,
			Zone:       "zone-" + string(rune('a'+i)),
			PodSubnet:  fmt.Sprintf("10.244.%d.0/24", i+1),
			ProviderID: "local://" + o.Name + "/" + name,
			Power:      nodepower.On,
		})
	}
	return c
}

// Identity assigns each node its providerID before its kubelet first starts
// (a Node's providerID is immutable once set) and may keep node power in
// step with an external API afterwards.
type Identity interface {
	Assign(ctx context.Context, c *state.Cluster) error
	// Sync runs until ctx ends; it may call ctrl to power nodes.
	Sync(ctx context.Context, ctrl nodepower.Controller)
	Close()
}

// localIdentity is the default: local://<cluster>/<node>, set by plan.
type localIdentity struct{}

func (localIdentity) Assign(context.Context, *state.Cluster) error { return nil }
func (localIdentity) Sync(context.Context, nodepower.Controller)   {}
func (localIdentity) Close()                                       {}

// identityFor picks the Identity of a cloud.
func identityFor(cloud string, l state.Layout, logw io.Writer) (Identity, error) {
	switch cloud {
	case CloudLocal:
		return localIdentity{}, nil
	case CloudAWSEmulator:
		return &awsIdentity{dir: l.Dir, log: logw}, nil
	}
	return nil, fmt.Errorf("unknown cloud %q", cloud)
}

// awsIdentity registers every node as an EC2 instance in a moto_server
// (cloud/aws/emulator) before its kubelet starts, so nodes carry
// aws:///<zone>/<instance-id>, and lets instance state drive node power.
type awsIdentity struct {
	dir   string
	log   io.Writer
	fleet *awsemulator.Fleet
}

func (a *awsIdentity) Assign(ctx context.Context, c *state.Cluster) error {
	var specs []awsemulator.NodeSpec
	for i, n := range c.Nodes {
		specs = append(specs, awsemulator.NodeSpec{Name: n.Name, Zone: awsemulator.Zone(i)})
	}
	f, err := awsemulator.StartFleet(ctx, a.dir, specs)
	if err != nil {
		return fmt.Errorf("--cloud aws-emulator: %w", err)
	}
	a.fleet = f
	return c.Update(state.Layout{Dir: a.dir}, func(c *state.Cluster) {
		for i := range c.Nodes {
			in := f.Instances[c.Nodes[i].Name]
			c.Nodes[i].ProviderID, c.Nodes[i].Zone = in.ProviderID, in.Zone
		}
	})
}

func (a *awsIdentity) Sync(ctx context.Context, ctrl nodepower.Controller) {
	if a.fleet == nil {
		return
	}
	_ = a.fleet.Sync(ctx, func(ctx context.Context, node, action string) error {
		act, err := nodepower.ParseAction(action)
		if err != nil {
			return err
		}
		return ctrl.Do(ctx, node, act)
	}, a.log)
}

func (a *awsIdentity) Close() {
	if a.fleet != nil {
		_ = a.fleet.Close()
	}
}

// Supervise builds the cluster and keeps it running until ctx ends, then
// tears it down. progress receives the lines `cluster up` shows.
func Supervise(ctx context.Context, o Options, progress io.Writer) (err error) {
	if err := o.defaults(); err != nil {
		return err
	}
	l := state.For(o.Name)
	if err := os.MkdirAll(l.Dir, 0o755); err != nil {
		return err
	}
	if old, err := state.Load(l); err == nil && old.Supervisor.Alive() && old.Supervisor.PID != os.Getpid() {
		return fmt.Errorf("cluster %q exists (supervisor pid %d): use it, or `irischaos cluster down --name %s`", o.Name, old.Supervisor.PID, o.Name)
	}
	start := time.Now()
	say := func(format string, args ...any) {
		fmt.Fprintf(progress, "[%5.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	h, err := cgroups.Detect()
	if err != nil {
		return err
	}
	index, err := state.FreeIndex()
	if err != nil {
		return err
	}
	c := plan(o, index, h)
	self, _ := state.StartTime(os.Getpid())
	c.Supervisor = state.Proc{Component: "supervisor", PID: os.Getpid(), Start: self}
	if err := c.Save(l); err != nil {
		return err
	}
	s := &supervisor{o: o, l: l, c: c, h: h, say: say, nodes: map[string]*node.Node{},
		net: &netns.Net{Bridge: c.Bridge, BridgeIP: c.BridgeIP, Prefix: 24}}
	defer func() {
		if err != nil {
			_ = os.WriteFile(l.Failed(), []byte(err.Error()+"\n"), 0o644)
		}
		say("tearing down")
		if s.id != nil {
			s.id.Close()
		}
		tctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if terr := Teardown(tctx, l, c, progress); terr != nil {
			say("teardown: %v", terr)
			if err == nil {
				err = terr
			}
		}
	}()
	if err := s.up(ctx); err != nil {
		return err
	}
	if err := os.WriteFile(l.Ready(), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644); err != nil {
		return err
	}
	say("cluster %q ready: %d nodes; kubeconfig %s", o.Name, o.Nodes, l.Kubeconfig())
	<-ctx.Done()
	os.Remove(l.Ready())
	return nil
}

type supervisor struct {
	o     Options
	l     state.Layout
	c     *state.Cluster
	h     cgroups.Host
	net   *netns.Net
	say   func(string, ...any)
	nodes map[string]*node.Node
	cs    kubernetes.Interface
	id    Identity
	bins  binaries.Set
	// images delivers the result of the image build the images step starts.
	images chan imagesBuilt
	ceph   *ceph.Cluster // planned by the ceph monitor step; nil without --ceph
	// cephVersion is the running Ceph's, set by the ceph pool step.
	cephVersion string
}

type imagesBuilt struct {
	built []image.Built
	err   error
}

// step is one named stage of bringing a cluster up.
type step struct {
	name string
	run  func(s *supervisor, ctx context.Context) error
}

// upSteps is `cluster up`, in order: the one place a new stage (an add-on,
// a storage system) is added. Each stage may use what earlier ones left in
// the supervisor; whatever a stage starts is recorded in the cluster state,
// so Teardown removes it whichever stage fails.
var upSteps = []step{
	{"prerequisites", (*supervisor).checkPrerequisites},
	{"binaries", (*supervisor).ensureBinaries},
	{"images", (*supervisor).startImages},
	{"network", (*supervisor).startNetwork},
	{"credentials", (*supervisor).writeCredentials},
	{"cgroups", (*supervisor).createCgroups},
	{"control plane", (*supervisor).startControlPlane},
	{"ceph monitor", (*supervisor).startCephMonitors},
	{"node identities", (*supervisor).assignIdentities},
	{"nodes", (*supervisor).bootNodes},
	{"ceph pool", (*supervisor).startCephPool},
	{"storage", (*supervisor).startStorage},
	{"nodes Ready", (*supervisor).waitAllNodesReady},
	{"default ServiceAccount", (*supervisor).waitDefaultServiceAccount},
	{"node power API", (*supervisor).serveNodePower},
}

func (s *supervisor) up(ctx context.Context) error { return s.runSteps(ctx, upSteps) }

// runSteps runs steps in order, printing each one's start and its elapsed
// time, and stops at the first failure, naming the step.
func (s *supervisor) runSteps(ctx context.Context, steps []step) error {
	for i, st := range steps {
		tag := fmt.Sprintf("[%d/%d] %s", i+1, len(steps), st.name)
		s.say("%s", tag)
		start := time.Now()
		if err := st.run(s, ctx); err != nil {
			s.say("%s: failed after %s", tag, time.Since(start).Round(10*time.Millisecond))
			return fmt.Errorf("cluster up, step %q: %w", st.name, err)
		}
		s.say("%s: done in %s", tag, time.Since(start).Round(10*time.Millisecond))
	}
	return nil
}

func (s *supervisor) record(p *proc.Started) error { return s.c.AddProc(s.l, p.Proc) }

// progress is a writer whose lines go to say.
func (s *supervisor) progress() io.Writer { return writerFunc(func(b string) { s.say("%s", b) }) }

func (s *supervisor) checkPrerequisites(context.Context) error { return CheckPrerequisites() }

func (s *supervisor) ensureBinaries(ctx context.Context) (err error) {
	s.bins, err = binaries.Ensure(ctx, binaries.Options{ToolsDir: s.o.ToolsDir, Progress: s.progress()})
	return err
}

// startImages builds the images in the background, while the control plane
// starts; bootNodes waits for them.
func (s *supervisor) startImages(ctx context.Context) error {
	s.images = make(chan imagesBuilt, 1)
	go func() {
		start := time.Now()
		built, err := image.BuildAll(ctx, image.Options{OutDir: s.l.Images(), BinDir: s.o.BinDir})
		if err == nil {
			s.say("images: %d built in %s (%s)", len(built), time.Since(start).Round(10*time.Millisecond), s.l.Images())
		}
		s.images <- imagesBuilt{built, err}
	}()
	s.say("images: building in the background")
	return nil
}

func (s *supervisor) startNetwork(ctx context.Context) error {
	if err := s.net.Up(ctx); err != nil {
		return err
	}
	s.say("network: bridge %s %s/24", s.c.Bridge, s.c.BridgeIP)
	return nil
}

func (s *supervisor) writeCredentials(context.Context) error {
	return controlplane.WriteCredentials(s.l, s.o.Name, s.c.BridgeIP)
}

func (s *supervisor) createCgroups(context.Context) error {
	return cgroups.Subtree{Host: s.h, Path: s.c.CgroupBase}.Create()
}

func (s *supervisor) startControlPlane(ctx context.Context) error {
	if err := controlplane.Start(ctx, s.l, s.bins, s.c.BridgeIP, s.o.timings, s.progress(), s.record); err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", s.l.Kubeconfig())
	if err != nil {
		return err
	}
	s.cs, err = kubernetes.NewForConfig(cfg)
	return err
}

func (s *supervisor) assignIdentities(ctx context.Context) (err error) {
	if s.id, err = identityFor(s.o.Cloud, s.l, s.progress()); err != nil {
		return err
	}
	if err := s.id.Assign(ctx, s.c); err != nil {
		return err
	}
	return s.c.Save(s.l)
}

// bootNodes starts every node's containerd and kubelet, in parallel, once
// the images they import are built.
func (s *supervisor) bootNodes(ctx context.Context) error {
	var res imagesBuilt
	select {
	case res = <-s.images:
	case <-ctx.Done():
		return ctx.Err()
	}
	if res.err != nil {
		return fmt.Errorf("building images: %w", res.err)
	}
	var images []node.Image
	for _, b := range res.built {
		images = append(images, node.Image{Ref: b.Ref, Path: b.Path})
	}
	var wg sync.WaitGroup
	errs := make([]error, len(s.c.Nodes))
	for i, spec := range s.c.Nodes {
		var routes [][2]string
		for _, other := range s.c.Nodes {
			if other.Name != spec.Name {
				routes = append(routes, [2]string{other.PodSubnet, other.IP})
			}
		}
		n := node.New(node.Config{Layout: s.l, Cluster: s.o.Name, Spec: spec, Net: s.net, Cgroups: s.h, Bins: s.bins,
			BridgeIP: s.c.BridgeIP, SandboxImage: image.PauseRef, Images: images, PodRoutes: routes, Services: s.nodeServices(spec.Name),
			Progress: s.progress()})
		s.nodes[spec.Name] = n
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := n.Prepare(ctx); err != nil {
				errs[i] = err
				return
			}
			if err := n.Boot(ctx, nil); err != nil {
				errs[i] = err
				return
			}
			s.say("node %s: containerd and kubelet started (%s, %s, %s)", spec.Name, spec.IP, spec.Zone, spec.ProviderID)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (s *supervisor) waitAllNodesReady(ctx context.Context) error {
	return s.waitNodesReady(ctx, NodeNames(s.o.Nodes), 3*time.Minute)
}

// serveNodePower starts the node power API (the local "cloud") and lets the
// cloud identity drive it.
func (s *supervisor) serveNodePower(ctx context.Context) error {
	if _, _, err := nodepower.Serve(ctx, s.l.Dir, s, log.New(s.progress(), "", 0)); err != nil {
		return err
	}
	go s.id.Sync(ctx, s)
	return nil
}

// waitNodesReady waits for every named node to report Ready.
func (s *supervisor) waitNodesReady(ctx context.Context, names []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	lastSay := time.Now()
	for {
		list, err := s.cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		ready := map[string]bool{}
		if err == nil {
			for _, n := range list.Items {
				for _, c := range n.Status.Conditions {
					if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
						ready[n.Name] = true
					}
				}
			}
		}
		var waiting []string
		for _, n := range names {
			if !ready[n] {
				waiting = append(waiting, n)
			}
		}
		if len(waiting) == 0 {
			s.say("nodes Ready: %v", names)
			return nil
		}
		if time.Since(lastSay) > 5*time.Second {
			s.say("waiting for nodes to be Ready: %v", waiting)
			lastSay = time.Now()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("nodes %v not Ready after %s: see the kubelet logs in %s/logs", waiting, timeout, s.l.Dir)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// waitDefaultServiceAccount waits for default/default: pods are refused
// until it exists, and a cluster reported up must take pods at once.
func (s *supervisor) waitDefaultServiceAccount(ctx context.Context) error {
	const timeout = time.Minute
	deadline := time.Now().Add(timeout)
	for {
		_, err := s.cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ServiceAccount default/default not created after %s (%v): see %s", timeout, err, s.l.Log("kube-controller-manager"))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Nodes implements nodepower.Controller.
func (s *supervisor) Nodes() []nodepower.Node {
	var out []nodepower.Node
	for _, n := range s.c.Snapshot() {
		out = append(out, nodepower.Node{Name: n.Name, State: n.Power, Partitioned: n.Partitioned, ProviderID: n.ProviderID, Zone: n.Zone, Address: n.IP})
	}
	return out
}

func (s *supervisor) setNode(name string, f func(n *state.Node)) {
	_ = s.c.Update(s.l, func(c *state.Cluster) {
		for i := range c.Nodes {
			if c.Nodes[i].Name == name {
				f(&c.Nodes[i])
			}
		}
	})
}

// Do implements nodepower.Controller.
func (s *supervisor) Do(ctx context.Context, name string, a nodepower.Action) error {
	n, ok := s.nodes[name]
	if !ok {
		return fmt.Errorf("node %q is not a node of local cluster %q: %w", name, s.o.Name, nodepower.ErrNotFound)
	}
	n.Lock()
	defer n.Unlock()
	var cur state.Node
	for _, sn := range s.c.Snapshot() {
		if sn.Name == name {
			cur = sn
		}
	}
	if cur.Power == nodepower.Deleted {
		return fmt.Errorf("node %q was deleted; a deleted node cannot be powered or partitioned: %w", name, nodepower.ErrConflict)
	}
	off := func() error {
		if cur.Power == nodepower.Off {
			return nil
		}
		if err := n.PowerOff(ctx); err != nil {
			return err
		}
		s.setNode(name, func(sn *state.Node) { sn.Power = nodepower.Off; sn.Partitioned = false })
		return nil
	}
	on := func() error {
		if err := n.PowerOn(ctx, nil); err != nil {
			return err
		}
		s.setNode(name, func(sn *state.Node) { sn.Power = nodepower.On; sn.Partitioned = false })
		return nil
	}
	switch a {
	case nodepower.PowerOff:
		return off()
	case nodepower.PowerOn:
		if cur.Power == nodepower.On {
			return nil
		}
		return on()
	case nodepower.Restart:
		if err := off(); err != nil {
			return err
		}
		cur.Power = nodepower.Off
		return on()
	case nodepower.Delete:
		if err := off(); err != nil {
			return err
		}
		if err := n.WipeDisks(); err != nil {
			return err
		}
		// As a cloud controller does when the VM is gone.
		if err := s.cs.CoreV1().Nodes().Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("deleting Node object %s: %w", name, err)
		}
		s.setNode(name, func(sn *state.Node) { sn.Power = nodepower.Deleted })
		return nil
	case nodepower.Partition, nodepower.Heal:
		if cur.Power != nodepower.On {
			return fmt.Errorf("node %q is powered off; partition and heal need a running node: %w", name, nodepower.ErrConflict)
		}
		if err := n.SetLink(ctx, a == nodepower.Heal); err != nil {
			return err
		}
		s.setNode(name, func(sn *state.Node) { sn.Partitioned = a == nodepower.Partition })
		return nil
	}
	return fmt.Errorf("unknown action %q", a)
}

// Teardown removes everything the cluster created, by its recorded state:
// node processes (by cgroup), control plane processes (by PID and start
// time), namespaces, links, mounts, cgroups. Safe to run more than once.
func Teardown(ctx context.Context, l state.Layout, c *state.Cluster, progress io.Writer) error {
	var errs []error
	h, err := cgroups.Detect()
	if err != nil {
		return err
	}
	nw := &netns.Net{Bridge: c.Bridge, BridgeIP: c.BridgeIP, Prefix: 24}
	var wg sync.WaitGroup
	nerrs := make([]error, len(c.Nodes))
	for i, n := range c.Nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			nerrs[i] = node.Destroy(ctx, l, h, nw, n)
		}()
	}
	wg.Wait()
	errs = append(errs, nerrs...)
	for i := len(c.Procs) - 1; i >= 0; i-- {
		if err := proc.Stop(ctx, c.Procs[i], 10*time.Second); err != nil {
			errs = append(errs, err)
		}
	}
	if c.Bridge != "" {
		if err := nw.Down(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if c.CgroupBase != "" {
		if err := (cgroups.Subtree{Host: h, Path: c.CgroupBase}).Remove(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := node.UnmountUnder(l.Dir); err != nil {
		errs = append(errs, err)
	}
	if err := node.DetachLoopsUnder(l.Dir); err != nil {
		errs = append(errs, err)
	}
	fmt.Fprintf(progress, "teardown of cluster %q done\n", c.Name)
	return errors.Join(errs...)
}

// Down stops the named cluster's supervisor (which tears the cluster down),
// removes any leftovers from its state, and deletes its directory. A cluster
// that does not exist is reported, not an error, so Down can run twice.
func Down(ctx context.Context, name string, progress io.Writer) error {
	return down(ctx, name, progress, false)
}

// down is Down; keepLogs leaves the logs directory for a post-mortem.
func down(ctx context.Context, name string, progress io.Writer, keepLogs bool) error {
	if err := state.ValidName(name); err != nil {
		return err
	}
	l := state.For(name)
	c, err := state.Load(l)
	if errors.Is(err, fs.ErrNotExist) {
		if _, serr := os.Stat(l.Dir); serr == nil {
			fmt.Fprintf(progress, "cluster %q: no state recorded; removing %s\n", name, l.Dir)
			if err := node.UnmountUnder(l.Dir); err != nil {
				return err
			}
			return os.RemoveAll(l.Dir)
		}
		fmt.Fprintf(progress, "cluster %q does not exist; nothing to do\n", name)
		return nil
	}
	if err != nil {
		return err
	}
	if c.Supervisor.Alive() && c.Supervisor.PID != os.Getpid() {
		fmt.Fprintf(progress, "cluster %q: stopping supervisor (pid %d), which tears the cluster down\n", name, c.Supervisor.PID)
		if err := proc.Stop(ctx, c.Supervisor, 3*time.Minute); err != nil {
			return err
		}
	}
	// Whatever the supervisor left (a crash, a kill -9) goes now.
	if err := Teardown(ctx, l, c, progress); err != nil {
		return fmt.Errorf("cluster %q teardown incomplete (run `irischaos cluster down --name %s` again): %w", name, name, err)
	}
	if keepLogs {
		ents, _ := os.ReadDir(l.Dir)
		for _, e := range ents {
			if e.Name() != "logs" {
				if err := os.RemoveAll(filepath.Join(l.Dir, e.Name())); err != nil {
					return fmt.Errorf("removing %s: %w", e.Name(), err)
				}
			}
		}
		fmt.Fprintf(progress, "cluster %q removed; its logs are kept in %s\n", name, filepath.Dir(l.Log("x")))
		return nil
	}
	if err := os.RemoveAll(l.Dir); err != nil {
		return fmt.Errorf("removing %s: %w", l.Dir, err)
	}
	fmt.Fprintf(progress, "cluster %q removed\n", name)
	return nil
}

// writerFunc turns complete lines written to it into calls of f.
type writerFunc func(line string)

func (w writerFunc) Write(b []byte) (int, error) {
	for _, l := range splitLines(string(b)) {
		w(l)
	}
	return len(b), nil
}

func splitLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}
