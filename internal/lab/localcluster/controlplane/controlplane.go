// Package controlplane issues the local cluster's credentials and runs its
// control plane: etcd (TLS, client certificates), kube-apiserver (RBAC and
// Node authorizers, NodeRestriction, no anonymous access),
// kube-controller-manager and kube-scheduler, each with its own certificate.
package controlplane

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/irischaos/irischaos/internal/lab/localcluster/binaries"
	"github.com/irischaos/irischaos/internal/lab/localcluster/config"
	"github.com/irischaos/irischaos/internal/lab/localcluster/pki"
	"github.com/irischaos/irischaos/internal/lab/localcluster/proc"
	"github.com/irischaos/irischaos/internal/lab/localcluster/state"
)

// Ports on the bridge address (unique per cluster, so clusters never clash).
const (
	EtcdClientPort = 2379
	EtcdPeerPort   = 2380
	APIServerPort  = 6443
	KCMPort        = 10257
	SchedulerPort  = 10259
)

// ServiceCIDR is the cluster's service range; its first address is in the
// apiserver certificate.
const ServiceCIDR = "10.96.0.0/16"

// Server is the apiserver URL of a cluster whose bridge has address ip.
func Server(ip string) string { return fmt.Sprintf("https://%s:%d", ip, APIServerPort) }

// WriteCredentials creates the CA, every control plane certificate, the
// service account key and the kubeconfigs (admin at l.Kubeconfig()).
func WriteCredentials(l state.Layout, cluster, bridgeIP string) error {
	dir := l.PKI()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(l.ComponentKubeconfig("x")), 0o700); err != nil {
		return err
	}
	ca, err := pki.NewCA("irischaos-" + cluster + "-ca")
	if err != nil {
		return err
	}
	if err := ca.Write(dir); err != nil {
		return err
	}
	ip := net.ParseIP(bridgeIP)
	if ip == nil {
		return fmt.Errorf("bridge address %q is not an IP", bridgeIP)
	}
	loop := net.ParseIP("127.0.0.1")
	certs := map[string]pki.Spec{
		"etcd": {CommonName: "etcd", IPs: []net.IP{ip, loop}, DNSNames: []string{"localhost"}, Usage: pki.Server | pki.Client},
		"apiserver": {CommonName: "kube-apiserver", IPs: []net.IP{ip, loop, net.ParseIP("10.96.0.1")},
			DNSNames: []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}, Usage: pki.Server},
		"apiserver-etcd-client":    {CommonName: "kube-apiserver-etcd-client", Usage: pki.Client},
		"apiserver-kubelet-client": {CommonName: "kube-apiserver-kubelet-client", Organization: []string{"system:masters"}, Usage: pki.Client},
		"controller-manager":       {CommonName: "system:kube-controller-manager", IPs: []net.IP{ip}, Usage: pki.Client | pki.Server},
		"scheduler":                {CommonName: "system:kube-scheduler", IPs: []net.IP{ip}, Usage: pki.Client | pki.Server},
		"admin":                    {CommonName: "irischaos-admin", Organization: []string{"system:masters"}, Usage: pki.Client},
	}
	pairs := map[string]pki.Pair{}
	for name, spec := range certs {
		p, err := ca.Issue(spec)
		if err != nil {
			return err
		}
		if err := p.Write(dir, name); err != nil {
			return err
		}
		pairs[name] = p
	}
	priv, pub, err := pki.NewServiceAccountKey()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "sa.key"), priv, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "sa.pub"), pub, 0o644); err != nil {
		return err
	}
	server := Server(bridgeIP)
	for _, kc := range []struct{ name, path string }{
		{"admin", l.Kubeconfig()},
		{"controller-manager", l.ComponentKubeconfig("controller-manager")},
		{"scheduler", l.ComponentKubeconfig("scheduler")},
	} {
		p := pairs[kc.name]
		b, err := config.Kubeconfig("irischaos-"+cluster, server, ca.PEM, p.CertPEM, p.KeyPEM, kc.name)
		if err != nil {
			return err
		}
		if err := os.WriteFile(kc.path, b, 0o600); err != nil {
			return fmt.Errorf("writing kubeconfig %s: %w", kc.path, err)
		}
	}
	return nil
}

// Timings are how fast the control plane gives up on a node and its pods.
type Timings string

const (
	// TimingsFast: a node is NotReady 20 s after its last heartbeat and its
	// pods are evicted 20 s later, so a node-lost scenario ends in about a
	// minute.
	TimingsFast Timings = "fast"
	// TimingsUpstream: what a fresh cluster does: node-monitor-grace-period
	// 50 s, node-monitor-period 5 s, pods evicted after the default
	// not-ready/unreachable toleration of 300 s; nothing else changed.
	TimingsUpstream Timings = "upstream"
)

// ParseTimings checks a --timings value; empty means fast.
func ParseTimings(s string) (Timings, error) {
	switch Timings(s) {
	case "", TimingsFast:
		return TimingsFast, nil
	case TimingsUpstream:
		return TimingsUpstream, nil
	}
	return "", fmt.Errorf("--timings %q: use %s (Kubernetes' defaults: node lost after 50 s, pods evicted 300 s later) or %s (20 s + 20 s)", s, TimingsUpstream, TimingsFast)
}

// flags returns the apiserver's and the controller manager's flags for t.
// Upstream's values are written out although they are the defaults, so a
// reader of the command line sees them.
func (t Timings) flags() (apiserver, kcm []string) {
	if t == TimingsUpstream {
		return []string{"--default-not-ready-toleration-seconds=300", "--default-unreachable-toleration-seconds=300"},
			[]string{"--node-monitor-grace-period=50s", "--node-monitor-period=5s"}
	}
	return []string{"--default-not-ready-toleration-seconds=20", "--default-unreachable-toleration-seconds=20"},
		[]string{"--node-monitor-grace-period=20s", "--node-monitor-period=2s"}
}

// Args returns each component's command line, in start order.
func Args(l state.Layout, b binaries.Set, bridgeIP string, t Timings) [][]string {
	apiTimings, kcmTimings := t.flags()
	p := func(n string) string { return filepath.Join(l.PKI(), n) }
	ip := bridgeIP
	etcdURL := fmt.Sprintf("https://%s:%d", ip, EtcdClientPort)
	peerURL := fmt.Sprintf("https://%s:%d", ip, EtcdPeerPort)
	etcd := []string{b.Etcd,
		"--name=etcd", "--data-dir=" + l.Etcd(),
		"--listen-client-urls=" + etcdURL, "--advertise-client-urls=" + etcdURL,
		"--listen-peer-urls=" + peerURL, "--initial-advertise-peer-urls=" + peerURL,
		"--initial-cluster=etcd=" + peerURL, "--initial-cluster-state=new",
		"--client-cert-auth", "--trusted-ca-file=" + p("ca.crt"), "--cert-file=" + p("etcd.crt"), "--key-file=" + p("etcd.key"),
		"--peer-client-cert-auth", "--peer-trusted-ca-file=" + p("ca.crt"), "--peer-cert-file=" + p("etcd.crt"), "--peer-key-file=" + p("etcd.key"),
		"--log-level=warn",
	}
	apiserver := []string{b.APIServer,
		"--advertise-address=" + ip, "--bind-address=" + ip, fmt.Sprintf("--secure-port=%d", APIServerPort),
		"--etcd-servers=" + etcdURL, "--etcd-cafile=" + p("ca.crt"), "--etcd-certfile=" + p("apiserver-etcd-client.crt"), "--etcd-keyfile=" + p("apiserver-etcd-client.key"),
		"--client-ca-file=" + p("ca.crt"), "--tls-cert-file=" + p("apiserver.crt"), "--tls-private-key-file=" + p("apiserver.key"),
		"--kubelet-client-certificate=" + p("apiserver-kubelet-client.crt"), "--kubelet-client-key=" + p("apiserver-kubelet-client.key"),
		"--kubelet-certificate-authority=" + p("ca.crt"), "--kubelet-preferred-address-types=InternalIP",
		"--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction", "--anonymous-auth=false",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + p("sa.pub"), "--service-account-signing-key-file=" + p("sa.key"),
		"--service-cluster-ip-range=" + ServiceCIDR, "--allow-privileged=true", "--profiling=false",
	}
	apiserver = append(apiserver, apiTimings...)
	kcm := []string{b.ControllerManager,
		"--kubeconfig=" + l.ComponentKubeconfig("controller-manager"),
		"--authentication-kubeconfig=" + l.ComponentKubeconfig("controller-manager"),
		"--authorization-kubeconfig=" + l.ComponentKubeconfig("controller-manager"),
		"--bind-address=" + ip, fmt.Sprintf("--secure-port=%d", KCMPort),
		"--tls-cert-file=" + p("controller-manager.crt"), "--tls-private-key-file=" + p("controller-manager.key"),
		"--client-ca-file=" + p("ca.crt"), "--root-ca-file=" + p("ca.crt"),
		"--cluster-signing-cert-file=" + p("ca.crt"), "--cluster-signing-key-file=" + p("ca.key"),
		"--service-account-private-key-file=" + p("sa.key"), "--use-service-account-credentials=true",
		// No cloud provider: the cloud controllers stay off; node power is
		// the supervisor's job, as a cloud controller's would be.
		"--controllers=*", "--leader-elect=false", "--allocate-node-cidrs=false",
		"--service-cluster-ip-range=" + ServiceCIDR,
	}
	kcm = append(kcm, kcmTimings...)
	sched := []string{b.Scheduler,
		"--kubeconfig=" + l.ComponentKubeconfig("scheduler"),
		"--authentication-kubeconfig=" + l.ComponentKubeconfig("scheduler"),
		"--authorization-kubeconfig=" + l.ComponentKubeconfig("scheduler"),
		"--bind-address=" + ip, fmt.Sprintf("--secure-port=%d", SchedulerPort),
		"--tls-cert-file=" + p("scheduler.crt"), "--tls-private-key-file=" + p("scheduler.key"),
		"--client-ca-file=" + p("ca.crt"), "--leader-elect=false",
	}
	return [][]string{etcd, apiserver, kcm, sched}
}

// Components names Args' entries.
var Components = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"}

// Start runs the control plane and returns once the apiserver is ready.
// record is called for every started process before anything waits on it,
// so a failure part-way leaves nothing unrecorded.
func Start(ctx context.Context, l state.Layout, b binaries.Set, bridgeIP string, t Timings, progress io.Writer, record func(*proc.Started) error) error {
	args := Args(l, b, bridgeIP, t)
	start := func(i int) (*proc.Started, error) {
		s, err := proc.Start(proc.Spec{Component: Components[i], Argv: args[i], Log: l.Log(Components[i]), Dir: l.Dir})
		if err != nil {
			return nil, err
		}
		return s, record(s)
	}
	etcd, err := start(0)
	if err != nil {
		return err
	}
	if err := waitTCP(ctx, fmt.Sprintf("%s:%d", bridgeIP, EtcdClientPort), etcd, l.Log("etcd")); err != nil {
		return err
	}
	fmt.Fprintf(progress, "control plane: etcd up\n")
	api, err := start(1)
	if err != nil {
		return err
	}
	if err := WaitReady(ctx, l.Kubeconfig(), api, l.Log("kube-apiserver")); err != nil {
		return err
	}
	fmt.Fprintf(progress, "control plane: kube-apiserver ready at %s\n", Server(bridgeIP))
	for i := 2; i < 4; i++ {
		if _, err := start(i); err != nil {
			return err
		}
	}
	fmt.Fprintf(progress, "control plane: kube-controller-manager and kube-scheduler started\n")
	return nil
}

func exitedErr(s *proc.Started, log string) error {
	return fmt.Errorf("%s exited during start-up (%v): see %s:\n%s", s.Proc.Component, *s.Err, log, Tail(log, 15))
}

func waitTCP(ctx context.Context, addr string, s *proc.Started, log string) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-s.Exited:
			return exitedErr(s, log)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening on %s after 60 s: see %s", s.Proc.Component, addr, log)
		}
	}
}

// WaitReady polls the apiserver's /readyz with the admin kubeconfig.
func WaitReady(ctx context.Context, kubeconfig string, s *proc.Started, log string) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return err
	}
	cfg.Timeout = 2 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(90 * time.Second)
	var last error
	for {
		_, last = cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if last == nil {
			return nil
		}
		var exited <-chan struct{}
		if s != nil {
			exited = s.Exited
		}
		select {
		case <-exited:
			return exitedErr(s, log)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("kube-apiserver not ready after 90 s (%v): see %s", last, log)
		}
	}
}

// Tail returns the last n lines of a log file, for error messages.
func Tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}
