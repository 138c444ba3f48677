package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/irischaos/irischaos/pkg/podexec"
	"github.com/irischaos/irischaos/pkg/progress"
	"github.com/irischaos/irischaos/pkg/stackid"
)

// Options say where and what to deploy. Zero values take the defaults.
type Options struct {
	Namespace       string            // required
	Image           string            // DefaultImage
	ImagePullPolicy corev1.PullPolicy // IfNotPresent as in the manifest when empty
	StorageClass    string            // DefaultStorageClass
	Size            string            // DefaultSize
	GracePeriod     time.Duration     // terminationGracePeriodSeconds; DefaultGracePeriod
	// NodeLossTolerationSeconds, when set, adds NoExecute tolerations for
	// not-ready/unreachable nodes with this many seconds (Kubernetes' default
	// is 300), so the pod leaves a lost node sooner.
	NodeLossTolerationSeconds *int64
	// Instance is the IRIS instance in the image (the probes' iris qlist,
	// the session asking $zv); stackid.Instance when empty.
	Instance string
	// MergeCPF is appended to the CPF merge file, e.g.
	// "[Miscellaneous]\nSynchCommit=1". Empty: the seed's settings only.
	MergeCPF string
	// ImagePullSecrets name Secrets in Namespace the IRIS pod pulls its
	// image with (a private registry such as containers.intersystems.com).
	ImagePullSecrets []string
	// LicenseKeySecret names a Secret in Namespace holding the IRIS license
	// key as LicenseKeyFile; IRIS starts with it (iris-main --key).
	LicenseKeySecret string
	CreateNamespace  bool          // create the namespace when missing instead of failing
	Timeout          time.Duration // for Deploy and Teardown; DefaultTimeout
	Progress         io.Writer     // progress lines; nil for none
}

func (o *Options) defaults() {
	if o.Image == "" {
		o.Image = DefaultImage
	}
	if o.StorageClass == "" {
		o.StorageClass = DefaultStorageClass
	}
	if o.Size == "" {
		o.Size = DefaultSize
	}
	if o.GracePeriod <= 0 {
		o.GracePeriod = DefaultGracePeriod
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Instance == "" {
		o.Instance = stackid.Instance
	}
}

func (o *Options) logf(format string, args ...any) {
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, format+"\n", args...)
	}
}

// step starts a long step on the progress writer (a status line on a
// terminal, one line when it ends in a log); nil when progress is not shown.
func (o *Options) step(what, awaited string) *progress.Step {
	if o.Progress == nil {
		return nil
	}
	p, ok := o.Progress.(*progress.Printer)
	if !ok {
		p = progress.New(o.Progress)
		o.Progress = p
	}
	s := p.Start(what)
	s.Await(awaited)
	return s
}

// Clients reach the cluster: the API for objects, exec for IRIS sessions.
type Clients struct {
	Kube kubernetes.Interface
	Exec podexec.Execer
	// Host names the API server in errors (rest.Config.Host).
	Host string
}

// State is what Status reports about a deployed stack.
type State struct {
	Namespace  string `json:"namespace"`
	Deployment string `json:"deployment,omitempty"` // empty when not deployed
	Image      string `json:"image,omitempty"`
	Available  bool   `json:"available"`

	Pods []PodState `json:"pods,omitempty"`

	PVC          string `json:"pvc,omitempty"`
	PVCPhase     string `json:"pvc_phase,omitempty"`
	Volume       string `json:"volume,omitempty"`
	StorageClass string `json:"storage_class,omitempty"`
	Provisioner  string `json:"provisioner,omitempty"`
	// StandIn is the storage class's irischaos.io/stand-in annotation: what
	// it stands in for (empty for real storage such as Longhorn).
	StandIn string `json:"storage_stand_in,omitempty"`

	Service     string `json:"service,omitempty"`
	ServiceType string `json:"service_type,omitempty"`
	ExternalIP  string `json:"external_ip,omitempty"`

	// Database is $zv from the running pod; DatabaseError why it is missing.
	Database      string `json:"database,omitempty"`
	DatabaseError string `json:"database_error,omitempty"`
}

// PodState is one IRIS pod.
type PodState struct {
	Name     string    `json:"name"`
	Node     string    `json:"node,omitempty"`
	Phase    string    `json:"phase"`
	Ready    bool      `json:"ready"`
	Restarts int32     `json:"restarts"`
	Waiting  string    `json:"waiting,omitempty"` // reason the container waits, e.g. ContainerCreating
	Deleting bool      `json:"deleting,omitempty"`
	Created  time.Time `json:"created"`
}

// Print writes s for a terminal.
func (s *State) Print(w io.Writer) {
	if s.Deployment == "" {
		fmt.Fprintf(w, "no IRIS stack in namespace %s (run `irischaos stack deploy`)\n", s.Namespace)
		return
	}
	fmt.Fprintf(w, "namespace:     %s\n", s.Namespace)
	fmt.Fprintf(w, "deployment:    %s (available: %t)\n", s.Deployment, s.Available)
	fmt.Fprintf(w, "image:         %s\n", s.Image)
	if len(s.Pods) == 0 {
		fmt.Fprintf(w, "pod:           none\n")
	}
	for _, p := range s.Pods {
		extra := ""
		if p.Waiting != "" {
			extra += ", waiting: " + p.Waiting
		}
		if p.Deleting {
			extra += ", being deleted"
		}
		node := p.Node
		if node == "" {
			node = "(not scheduled)"
		}
		fmt.Fprintf(w, "pod:           %s on %s: %s, ready %t, %d restarts%s\n", p.Name, node, p.Phase, p.Ready, p.Restarts, extra)
	}
	if s.PVC != "" {
		standIn := ""
		if s.StandIn != "" {
			standIn = fmt.Sprintf(" [stand-in: %s]", s.StandIn)
		}
		fmt.Fprintf(w, "volume:        pvc %s (%s) -> %s, class %s, provisioner %s%s\n", s.PVC, s.PVCPhase, orDash(s.Volume), orDash(s.StorageClass), orDash(s.Provisioner), standIn)
	}
	if s.Service != "" {
		fmt.Fprintf(w, "service:       %s %s %s\n", s.Service, s.ServiceType, orDash(s.ExternalIP))
	}
	if s.Database != "" {
		fmt.Fprintf(w, "database:      %s\n", s.Database)
	} else if s.DatabaseError != "" {
		fmt.Fprintf(w, "database:      not answering: %s\n", s.DatabaseError)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Reachable checks the API server answers, with an error that says where.
func Reachable(ctx context.Context, c Clients) error {
	if c.Kube == nil {
		return errors.New("no Kubernetes client")
	}
	if _, err := c.Kube.Discovery().ServerVersion(); err != nil {
		host := c.Host
		if host == "" {
			host = "the API server"
		}
		return fmt.Errorf("cannot reach the Kubernetes API at %s: %w (check --kubeconfig and --context)", host, err)
	}
	return ctx.Err()
}

// checkNamespace makes sure the namespace exists, creating it when asked.
func checkNamespace(ctx context.Context, c Clients, o *Options) error {
	if o.Namespace == "" {
		return errors.New("no namespace given")
	}
	_, err := c.Kube.CoreV1().Namespaces().Get(ctx, o.Namespace, metav1.GetOptions{})
	switch {
	case err == nil:
		return nil
	case apierrors.IsNotFound(err) && o.CreateNamespace:
		o.logf("creating namespace %s", o.Namespace)
		_, err = c.Kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name: o.Namespace, Labels: map[string]string{stackid.ManagedByLabel: stackid.ManagedBy},
		}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create namespace %s: %w", o.Namespace, err)
		}
		return nil
	case apierrors.IsNotFound(err):
		return fmt.Errorf("namespace %s does not exist: create it (kubectl create namespace %s) or pass --create-namespace", o.Namespace, o.Namespace)
	case apierrors.IsForbidden(err):
		// Namespaced RBAC may not allow reading namespaces; the apply will
		// say if the namespace is really missing.
		return nil
	default:
		return fmt.Errorf("get namespace %s: %w", o.Namespace, err)
	}
}

// checkStorageClass makes sure the class exists and says which ones do when
// it does not.
func checkStorageClass(ctx context.Context, c Clients, o *Options) (*storagev1.StorageClass, error) {
	sc, err := c.Kube.StorageV1().StorageClasses().Get(ctx, o.StorageClass, metav1.GetOptions{})
	if err == nil {
		return sc, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, fmt.Errorf("get storage class %s: %w", o.StorageClass, err)
	}
	list, lerr := c.Kube.StorageV1().StorageClasses().List(ctx, metav1.ListOptions{})
	if lerr != nil {
		return nil, fmt.Errorf("storage class %s does not exist (and listing classes failed: %v)", o.StorageClass, lerr)
	}
	var names []string
	for _, s := range list.Items {
		n := s.Name + " (" + s.Provisioner
		if v := s.Annotations[StandInAnnotation]; v != "" {
			n += ", stand-in for " + v
		}
		names = append(names, n+")")
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil, fmt.Errorf("storage class %s does not exist and the cluster has none: install Longhorn (see README) or pass --storage-class", o.StorageClass)
	}
	return nil, fmt.Errorf("storage class %s does not exist; the cluster has: %s (pass --storage-class)", o.StorageClass, strings.Join(names, ", "))
}
