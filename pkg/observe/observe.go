// Package observe watches the cluster while a fault plays out and turns every
// transition of the stack's pods, the nodes, the volume attachments and the
// Kubernetes events into a timestamped history event. It marks the phases
// the checker breaks RTO into (effect confirmed, pod scheduled, volume
// attached, container started). Informers, not polling: each transition is
// recorded when the API server tells us, to within the watch latency.
package observe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/irischaos/irischaos/pkg/fault"
	"github.com/irischaos/irischaos/pkg/history"
	"github.com/irischaos/irischaos/pkg/stackid"
	"github.com/irischaos/irischaos/pkg/storagehealth"
)

// Options say what to watch.
type Options struct {
	// Namespace is the stack's namespace (pods, events, PVC); the stack's
	// pods, container and PVC are those pkg/stackid names.
	Namespace string

	// Dynamic, when set, also watches Longhorn volumes (volumes.longhorn.io
	// in longhorn-system) if the cluster serves them.
	Dynamic dynamic.Interface

	// Storage, when set, is the redundancy of the volume's storage, polled
	// every StoragePoll (2 s when 0) into the history.
	Storage     storagehealth.Source
	StoragePoll time.Duration
	// StorageSkipped, when Storage is nil, says why in one line (e.g.
	// "Longhorn: skipped, longhorn.io/v1beta2 is not served (Longhorn not
	// installed)"); storagehealth.ForVolume gives it.
	StorageSkipped string

	History  *history.Writer // where events go; may be nil (tests read Events)
	Progress io.Writer       // one line per event; nil for none
	Now      func() time.Time
}

type expectation struct {
	fault.Effect
	restarts int32 // container restart count when armed
	ch       chan time.Time
	done     bool
}

// Observer records cluster transitions into the history.
type Observer struct {
	kube kubernetes.Interface
	o    Options
	sel  labels.Selector

	mu      sync.Mutex
	events  []history.Record
	expects []*expectation
	pv      string // the PVC's volume, once bound

	pods    cache.SharedIndexInformer
	synced  chan struct{}
	started bool
}

// New returns an Observer; nothing is watched until Start or Run.
func New(kube kubernetes.Interface, o Options) (*Observer, error) {
	if kube == nil {
		return nil, errors.New("observe: no Kubernetes client")
	}
	if o.Namespace == "" {
		return nil, errors.New("observe: no namespace")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Observer{kube: kube, o: o, sel: labels.SelectorFromSet(labels.Set{stackid.AppLabel: stackid.AppValue}), synced: make(chan struct{})}, nil
}

// Run starts the informers, waits for their caches, and blocks until ctx
// ends.
func (ob *Observer) Run(ctx context.Context) error {
	if err := ob.Start(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// Start starts the informers and returns once their caches are synced: from
// then on every transition is recorded. They stop when ctx ends. The state
// found at start is recorded once, as events with reason "Observed".
func (ob *Observer) Start(ctx context.Context) error {
	ob.mu.Lock()
	if ob.started {
		ob.mu.Unlock()
		return errors.New("observe: already started")
	}
	ob.started = true
	ob.mu.Unlock()

	nsf := informers.NewSharedInformerFactoryWithOptions(ob.kube, 0, informers.WithNamespace(ob.o.Namespace))
	clf := informers.NewSharedInformerFactoryWithOptions(ob.kube, 0)
	nodeEvf := informers.NewSharedInformerFactoryWithOptions(ob.kube, 0,
		informers.WithTweakListOptions(func(lo *metav1.ListOptions) { lo.FieldSelector = "involvedObject.kind=Node" }))

	ob.pods = nsf.Core().V1().Pods().Informer()
	handlers := []struct {
		inf cache.SharedIndexInformer
		h   cache.ResourceEventHandler
	}{
		{ob.pods, cache.ResourceEventHandlerDetailedFuncs{AddFunc: ob.podAdd, UpdateFunc: ob.podUpdate, DeleteFunc: ob.podDelete}},
		{nsf.Core().V1().Events().Informer(), cache.ResourceEventHandlerDetailedFuncs{AddFunc: ob.eventAdd, UpdateFunc: ob.eventUpdate}},
		{clf.Core().V1().Nodes().Informer(), cache.ResourceEventHandlerDetailedFuncs{AddFunc: ob.nodeAdd, UpdateFunc: ob.nodeUpdate, DeleteFunc: ob.nodeDelete}},
		{clf.Storage().V1().VolumeAttachments().Informer(), cache.ResourceEventHandlerDetailedFuncs{AddFunc: ob.vaAdd, UpdateFunc: ob.vaUpdate, DeleteFunc: ob.vaDelete}},
	}
	if ob.o.Namespace != metav1.NamespaceAll {
		handlers = append(handlers, struct {
			inf cache.SharedIndexInformer
			h   cache.ResourceEventHandler
		}{nodeEvf.Core().V1().Events().Informer(), cache.ResourceEventHandlerDetailedFuncs{AddFunc: ob.eventAdd, UpdateFunc: ob.eventUpdate}})
	}
	var regs []cache.InformerSynced
	for _, h := range handlers {
		reg, err := h.inf.AddEventHandler(h.h)
		if err != nil {
			return fmt.Errorf("observe: add handler: %w", err)
		}
		regs = append(regs, reg.HasSynced)
	}
	ob.resolvePV(ctx)
	nsf.Start(ctx.Done())
	clf.Start(ctx.Done())
	nodeEvf.Start(ctx.Done())
	for _, f := range []informers.SharedInformerFactory{nsf, clf, nodeEvf} {
		for typ, ok := range f.WaitForCacheSync(ctx.Done()) {
			if !ok {
				return fmt.Errorf("observe: cache of %v did not sync (RBAC needs list/watch on pods, events, nodes, volumeattachments): %w", typ, context.Cause(ctx))
			}
		}
	}
	// The handlers, too, must have seen the initial lists: the state found
	// at start is recorded before anything that follows.
	if !cache.WaitForCacheSync(ctx.Done(), regs...) {
		return fmt.Errorf("observe: initial state not delivered: %w", context.Cause(ctx))
	}
	lh, err := ob.startLonghorn(ctx)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("pods %s and events in %s, nodes, volume attachments", stackid.Selector, ob.o.Namespace)
	if lh {
		what += ", Longhorn volumes"
	}
	if ob.o.Storage != nil {
		poll := ob.o.StoragePoll
		if poll <= 0 {
			poll = 2 * time.Second
		}
		go ob.WatchStorage(ctx, ob.o.Storage, poll)
		what += ", storage redundancy"
	} else {
		why := ob.o.StorageSkipped
		if why == "" {
			why = "not readable for this storage class"
		}
		what += " (storage redundancy: " + why + ")"
	}
	close(ob.synced)
	ob.note(history.Record{Source: "observer", Reason: "Watching", Message: what})
	return nil
}

// Synced is closed once the informers' caches are synced.
func (ob *Observer) Synced() <-chan struct{} { return ob.synced }

// Events returns the events recorded so far.
func (ob *Observer) Events() []history.Record {
	ob.mu.Lock()
	defer ob.mu.Unlock()
	return append([]history.Record(nil), ob.events...)
}

// ExpectEffect arms the confirmation of e; call it before injecting the fault.
// The returned channel receives the instant the effect was seen (and an
// effect_confirmed event is recorded), then is closed. It never fires if the
// effect never shows: select on it with a timeout.
func (ob *Observer) ExpectEffect(e fault.Effect) <-chan time.Time {
	ex := &expectation{Effect: e, ch: make(chan time.Time, 1), restarts: -1}
	if e.Kind == fault.EffectContainerRestart && ob.pods != nil {
		if obj, ok, _ := ob.pods.GetStore().GetByKey(ob.o.Namespace + "/" + e.Pod); ok {
			if cs := ob.container(obj.(*corev1.Pod)); cs != nil {
				ex.restarts = cs.RestartCount
			}
		}
	}
	ob.mu.Lock()
	ob.expects = append(ob.expects, ex)
	ob.mu.Unlock()
	return ex.ch
}

// confirm fires the expectations that match (kind, name).
func (ob *Observer) confirm(kind fault.EffectKind, name, why string, t time.Time, check func(*expectation) bool) {
	ob.mu.Lock()
	var fired []*expectation
	for _, ex := range ob.expects {
		if ex.done || ex.Kind != kind {
			continue
		}
		if (kind == fault.EffectNodeNotReady && ex.Node != name) || (kind != fault.EffectNodeNotReady && ex.Pod != name) {
			continue
		}
		if check != nil && !check(ex) {
			continue
		}
		ex.done = true
		fired = append(fired, ex)
	}
	ob.mu.Unlock()
	for _, ex := range fired {
		src := "pod"
		if kind == fault.EffectNodeNotReady {
			src = "node"
		}
		ob.record(history.Record{T: t, Source: src, Phase: history.PhaseEffectConfirmed, Target: ex.Target(), Reason: string(kind), Message: why, Node: ex.Node})
		ex.ch <- t
		close(ex.ch)
	}
}

// record adds an event to the history (T set if missing).
func (ob *Observer) record(r history.Record) {
	r.Kind = history.KindEvent
	if r.T.IsZero() {
		r.T = ob.o.Now()
	}
	ob.mu.Lock()
	ob.events = append(ob.events, r)
	ob.mu.Unlock()
	if ob.o.History != nil {
		_ = ob.o.History.Add(r)
	}
	if ob.o.Progress != nil {
		phase := ""
		if r.Phase != "" {
			phase = " [" + r.Phase + "]"
		}
		node := ""
		if r.Node != "" {
			node = " on " + r.Node
		}
		fmt.Fprintf(ob.o.Progress, "observe %s %s%s %s%s: %s\n", r.T.UTC().Format("15:04:05.000"), r.Target, node, r.Reason, phase, r.Message)
	}
}

// note records a state found at start or a remark; same as record.
func (ob *Observer) note(r history.Record) { ob.record(r) }
