package runner

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/irischaos/irischaos/cloud"
	"github.com/irischaos/irischaos/pkg/checker"
	"github.com/irischaos/irischaos/pkg/history"
	"github.com/irischaos/irischaos/pkg/nemesis"
	"github.com/irischaos/irischaos/pkg/report"
	"github.com/irischaos/irischaos/pkg/rundir"
	"github.com/irischaos/irischaos/pkg/scenario"
)

// iteration runs scenario s once. It always returns the iteration (with the
// checker's result over whatever history was gathered) and the faults it
// could not heal.
func (r *Runner) iteration(ctx context.Context, runDir string, env report.Environment, s scenario.Scenario, i int) (report.Iteration, []report.Unhealed) {
	b := r.budgets(s)
	it := report.Iteration{
		Scenario: s.Name, Iteration: i, FailureDomain: s.FailureDomain, MitigatedBy: s.MitigatedBy,
		Fault: string(s.Fault.Type), Started: r.cfg.Now().UTC(), History: relHistory(runDir, s.Name, i),
		CloudCalls: []report.CloudCall{},
	}
	r.printf("== %s #%d/%d: %s (%s)", s.Name, i, s.IterationCount(), s.Fault.Type, s.FailureDomain)

	path := rundir.HistoryPath(runDir, s.Name, i)
	var h *history.Writer
	err := os.MkdirAll(filepath.Dir(path), 0o755)
	if err == nil {
		h, err = history.Create(path)
	}
	if err != nil {
		it.Error = err.Error()
		it.Result = checker.Check(nil, b)
		return it, nil
	}
	if s.Mitigation != "" {
		it.Mitigation = string(s.Mitigation)
	}
	if e := s.Expect; e != nil {
		it.Expected = &report.Expected{Verdict: checker.Verdict(e.Verdict), Why: e.Why}
	}
	calls := &cloud.CallLog{}
	st := &iterState{h: h}
	unhealed, err := r.play(ctx, s, i, b, env, h, cloud.Tee(calls.Recorder(), cloudCallRecorder(h)), st)
	if st.mit != nil {
		it.MitigationAppliedSeconds = st.mit.appliedAfter(st.issued)
		it.MitigationApplied = st.mit.wasApplied()
		it.MitigationError = st.mit.failure()
	}
	if err != nil {
		it.Error = err.Error()
		_ = h.Add(history.Record{Kind: history.KindNote, T: r.cfg.Now(), Message: "iteration error: " + err.Error()})
	}
	if cerr := h.Close(); cerr != nil {
		it.Error = strings.TrimPrefix(it.Error+"; "+cerr.Error(), "; ")
	}
	it.Target = st.target
	it.Result = checker.Check(h.Records(), b)
	it.Finished = r.cfg.Now().UTC()
	for _, c := range calls.Calls() {
		cc := report.CloudCall{Provider: c.Provider, Action: c.Action, Target: c.Target, Request: c.Request, Start: c.Start.UTC(), DurationSeconds: c.Duration.Seconds()}
		if c.Err != nil {
			cc.Error = c.Err.Error()
		}
		it.CloudCalls = append(it.CloudCalls, cc)
	}
	for k := range unhealed {
		unhealed[k].Scenario, unhealed[k].Iteration = s.Name, i
	}
	return it, unhealed
}

type iterState struct {
	h      *history.Writer
	target string
	mit    *mitigator
	issued time.Time // t_fault
}

// play is one iteration's flow; the deferred heal runs on every exit path.
func (r *Runner) play(ctx context.Context, s scenario.Scenario, i int, b checker.Budgets, env report.Environment, h *history.Writer, rec cloud.Recorder, st *iterState) (unhealed []report.Unhealed, err error) {
	meta := map[string]string{
		history.MetaScenario:           s.Name,
		history.MetaIteration:          strconv.Itoa(i),
		history.MetaFailureDomain:      s.FailureDomain,
		history.MetaMitigatedBy:        s.MitigatedBy,
		history.MetaFault:              string(s.Fault.Type),
		history.MetaRPOBudget:          b.RPO.String(),
		history.MetaDatabase:           env.Database,
		history.MetaDatabaseStandIn:    strconv.FormatBool(env.DatabaseStandIn),
		history.MetaStorageClass:       env.StorageClass,
		history.MetaProvisioner:        env.Provisioner,
		history.MetaStorageStandIn:     strconv.FormatBool(env.StorageStandIn),
		history.MetaStorageDescription: env.StorageDescription,
		history.MetaKubernetesVersion:  env.Kubernetes,
		history.MetaNodes:              strings.Join(env.Nodes, ","),
		history.MetaNamespace:          r.cfg.Namespace,
		history.MetaIrischaosVersion:   env.Irischaos,
	}
	if b.RTO > 0 {
		meta[history.MetaRTOBudget] = b.RTO.String()
	}
	// What the waits below need arrives through a subscription: no copy of
	// the history, no polling.
	sub := h.Subscribe()
	defer sub.Close()
	seen := &seenRecords{sub: sub}
	if err := h.Add(history.Record{Kind: history.KindMeta, T: r.cfg.Now(), Meta: meta}); err != nil {
		return nil, err
	}

	ictx, cancel := context.WithCancel(ctx)
	defer cancel()
	if r.cfg.OnOp != nil {
		done := make(chan struct{})
		ops := h.Subscribe() // here, so no write is missed
		go func() { defer close(done); r.feedOps(ictx, s.Name, ops) }()
		defer func() { cancel(); <-done }()
	}

	ob, err := r.cfg.NewObserver(h)
	if err != nil {
		return nil, fmt.Errorf("observer: %w", err)
	}
	r.printf("starting the observer (pods, nodes, events, volume attachments)")
	if err := ob.Start(ictx); err != nil {
		return nil, fmt.Errorf("observer: %w", err)
	}

	// A mitigation that changes the stack is made before the workload
	// starts, since it recreates the IRIS pod; it is undone after the
	// fault's heal, on every way out.
	mit := r.mitigator(s, h, rec)
	st.mit = mit
	defer func() {
		if u := mit.undo(ctx); u != nil && !slices.Contains(unhealed, *u) {
			unhealed = append(unhealed, *u)
		}
	}()
	if err := mit.beforeFault(ictx); err != nil {
		return nil, err
	}

	wl, err := r.cfg.NewWorkload(s, h)
	if err != nil {
		return nil, fmt.Errorf("workload: %w", err)
	}
	wctx, wcancel := context.WithCancel(ictx)
	defer wcancel()
	wdone := make(chan error, 1)
	go func() { wdone <- wl.Run(wctx) }()
	stopWorkload := func() {
		wl.Stop()
		select {
		case <-wdone:
		case <-time.After(30 * time.Second):
			wcancel()
			<-wdone
		}
	}
	stopped := false
	defer func() {
		if !stopped {
			stopWorkload()
		}
	}()

	// Warm-up: the database must be answering before anything is broken,
	// or there is nothing to measure.
	r.printf("warm-up %s: writing markers (%s interval, %d stream(s))", s.WarmupD(), s.Interval(), s.StreamCount())
	if err := r.warmup(ictx, seen, s.WarmupD(), wdone); err != nil {
		return nil, err
	}

	// The target is resolved only now that the database answers: after an
	// earlier iteration the replacement pod may have been still starting.
	t, err := r.findTarget(ictx, s)
	if err != nil {
		return nil, err
	}
	st.target = t.String()
	sp := r.spec(s, r.cfg.Allow)
	sp.Copies = r.copies(ictx, s)
	f, err := nemesis.New(r.env(rec), sp, t)
	if err != nil {
		return nil, err
	}
	for _, step := range f.Plan() {
		r.printf("plan: %s", step)
	}

	// The fault: ledger first, then inject; healed on every way out.
	var effectCh <-chan time.Time
	if e := f.Effect(); e.Kind != "" {
		effectCh = ob.ExpectEffect(e)
	}
	if r.cfg.OnFault != nil {
		r.cfg.OnFault(s, true)
	}
	var res nemesis.Result
	faultWritten := false
	writeFault := func(effect time.Time) {
		if faultWritten || res.Issued.IsZero() {
			return
		}
		faultWritten = true
		_ = h.Add(history.Record{Kind: history.KindFault, T: res.Issued, EffectT: effect, Name: string(f.Name()), Target: t.String(), Message: res.Detail})
	}
	r.printf("inject %s on %s", f.Name(), t)
	active, err := r.guard(rec).Inject(ictx, f)
	if active == nil {
		if r.cfg.OnFault != nil {
			r.cfg.OnFault(s, false)
		}
		return nil, err
	}
	res = active.Result
	st.issued = res.Issued
	defer func() {
		writeFault(time.Time{})
		if u := r.heal(ctx, active, h); u != nil {
			if len(unhealed) == 0 {
				unhealed = append(unhealed, *u)
			}
		} else if r.cfg.OnFault != nil {
			r.cfg.OnFault(s, false)
		}
	}()
	if err != nil {
		return nil, err
	}
	mit.onFault(ictx, t, res.Issued)
	r.printf("fault issued at %s, its call returned after %s%s", res.Issued.UTC().Format("15:04:05.000"), res.Done.Sub(res.Issued).Round(time.Millisecond), errText(res.Detail))

	wait := r.progress.Start(fmt.Sprintf("%s #%d: recovery", s.Name, i))
	wait.Await("the fault's effect and the first acknowledged write after the outage")
	effect, recovered, why := r.awaitRecovery(ictx, seen, res, effectCh, s)
	if recovered {
		wait.Done(nil)
	} else {
		wait.Done(errors.New(why))
	}
	writeFault(effect)
	if ctx.Err() != nil {
		return nil, fmt.Errorf("interrupted: %w", context.Cause(ctx))
	}
	if !recovered {
		r.printf("not recovered: %s", why)
		_ = h.Add(history.Record{Kind: history.KindNote, T: r.cfg.Now(), Message: "not recovered: " + why})
	} else {
		r.printf("recovered: %s; writing %s more", why, s.AfterRecovery())
		if !sleepCtx(ictx, s.AfterRecovery()) {
			return nil, fmt.Errorf("interrupted: %w", context.Cause(ctx))
		}
	}
	stopWorkload()
	stopped = true

	// Heal before reading back: a cordoned node or a VM off may be what keeps
	// the database from answering the read-back.
	if u := r.heal(ctx, active, h); u != nil {
		return []report.Unhealed{*u}, errors.New("heal failed: " + u.Error)
	}
	if u := mit.undo(ctx); u != nil {
		return []report.Unhealed{*u}, errors.New("undoing the mitigation failed: " + u.Error)
	}

	r.printf("reading every marker back")
	rctx, rcancel := context.WithTimeout(ictx, readBackTimeout)
	defer rcancel()
	if _, err := wl.ReadBack(rctx); err != nil {
		return nil, fmt.Errorf("read-back: %w", err)
	}
	r.awaitRedundancy(ictx, seen, s, i)
	return nil, nil
}

// awaitRedundancy keeps observing, after the read-back, until the volume's
// storage reports full redundancy again (bounded by RedundancyWait), so the
// report says when the lost copies were rebuilt and the next scenario does
// not start on degraded storage. Storage that reports nothing is not waited for.
func (r *Runner) awaitRedundancy(ctx context.Context, seen *seenRecords, s scenario.Scenario, i int) {
	seen.take()
	if seen.redundancy == "" || seen.redundancy == history.RedundancyClean || r.cfg.RedundancyWait < 0 {
		return
	}
	limit := r.cfg.RedundancyWait
	if limit == 0 {
		limit = DefaultRedundancyWait
	}
	wait := r.progress.Start(fmt.Sprintf("%s #%d: storage redundancy", s.Name, i))
	wait.Await("the volume's storage back to full redundancy (" + seen.redundancy + " now)")
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	for {
		seen.take()
		if seen.redundancy == history.RedundancyClean {
			wait.Done(nil)
			return
		}
		select {
		case <-ctx.Done():
			wait.Done(ctx.Err())
			return
		case <-deadline.C:
			wait.Done(fmt.Errorf("still %s after %s; the report shows it as not restored", seen.redundancy, limit))
			return
		case <-seen.sub.Ready():
		}
	}
}

// heal heals the active fault (once: later calls give the same answer) and
// records it in the history; it returns the fault as unhealed when healing
// failed or was aborted.
func (r *Runner) heal(ctx context.Context, a *nemesis.Active, h *history.Writer) *report.Unhealed {
	again := !a.HealStarted().IsZero()
	err := a.Heal(ctx)
	start := a.HealStarted()
	if !again {
		rec := history.Record{Kind: history.KindHeal, T: start, Name: string(a.Fault.Name()), Target: a.Fault.Target().String(), Result: history.OK, Duration: r.cfg.Now().Sub(start).Seconds()}
		if err != nil {
			rec.Result, rec.Error = history.Fail, err.Error()
			r.printf("UNHEALED: %s on %s: %v (kept in %s; run `irischaos recover`)", a.Fault.Name(), a.Fault.Target(), err, r.cfg.Ledger.Path())
		}
		_ = h.Add(rec)
	}
	if err == nil {
		return nil
	}
	return &report.Unhealed{Fault: string(a.Fault.Name()), Target: a.Fault.Target().String(), Since: start.UTC(), Error: err.Error()}
}

// seenRecords is what the runner has taken from its subscription to the
// history: the acknowledged writes so far, the workload's write timeout (a
// meta record), and, once track is called, the op records completed at or
// after the fault (the only ones the outage after it depends on).
type seenRecords struct {
	sub          *history.Subscription
	okWrites     int
	redundancy   string // the storage's last redundancy reading ("" when it gives none)
	writeTimeout time.Duration
	tracking     bool
	since        time.Time
	ops          []history.Record
}

func (sr *seenRecords) take() {
	for _, rec := range sr.sub.Take() {
		switch rec.Kind {
		case history.KindMeta:
			if d, ok, err := history.MetaDuration(rec.Meta, history.MetaWriteTimeout); err == nil && ok {
				sr.writeTimeout = d
			}
		case history.KindEvent:
			if rec.Source == history.SourceStorage {
				sr.redundancy = rec.Reason
				if rec.Reason == history.ReasonObserved {
					// The state found at start: its redundancy leads the message.
					sr.redundancy, _, _ = strings.Cut(rec.Message, ":")
				}
			}
		case history.KindOp:
			if rec.Result == history.OK {
				sr.okWrites++
			}
			if sr.tracking && !rec.Complete.Before(sr.since) {
				sr.ops = append(sr.ops, rec)
			}
		}
	}
}

// track keeps the op records completed at or after t from now on (records
// still queued included).
func (sr *seenRecords) track(t time.Time) { sr.tracking, sr.since = true, t }

// warmup waits d, then until the first acknowledged write (bounded).
func (r *Runner) warmup(ctx context.Context, seen *seenRecords, d time.Duration, wdone <-chan error) error {
	deadline := r.cfg.Now().Add(d + firstWriteGrace)
	end := r.cfg.Now().Add(d)
	tick := time.NewTicker(200 * time.Millisecond) // for the deadlines only
	defer tick.Stop()
	for {
		seen.take()
		now := r.cfg.Now()
		if !now.Before(end) && seen.okWrites > 0 {
			return nil
		}
		if now.After(deadline) {
			return fmt.Errorf("no acknowledged write within %s of starting the workload: the database is not answering before the fault (check `irischaos stack status`)", d+firstWriteGrace)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("interrupted during warm-up: %w", context.Cause(ctx))
		case err := <-wdone:
			return fmt.Errorf("the workload stopped during warm-up: %v", err)
		case <-seen.sub.Ready():
		case <-tick.C:
		}
	}
}

// awaitRecovery waits for the fault's effect and for recovery as the
// checker defines it (checker.OutageAfter: the first ok write invoked at or
// after the outage start), or, when no write fails, writes that kept
// succeeding for QuietAfterEffect after the effect. It gives up at t_fault +
// maxRecovery. New records come through the subscription as they are added.
func (r *Runner) awaitRecovery(ctx context.Context, seen *seenRecords, res nemesis.Result, effectCh <-chan time.Time, s scenario.Scenario) (effect time.Time, recovered bool, why string) {
	deadline := res.Issued.Add(s.MaxRecovery())
	effectDeadline := res.Issued.Add(s.MaxRecovery())
	if r.cfg.EffectTimeout > 0 {
		effectDeadline = res.Issued.Add(r.cfg.EffectTimeout)
	}
	switch {
	case !res.Effect.IsZero():
		effect, effectCh = res.Effect, nil // the fault saw it take hold (IRIS process down at once)
		r.printf("effect confirmed %s after the fault, by the fault itself", effect.Sub(res.Issued).Round(time.Millisecond))
	case effectCh == nil:
		effect = res.Done // confirmed by the fault's own call (provider state, drain)
	}
	seen.track(res.Issued)
	tick := time.NewTicker(200 * time.Millisecond) // for the deadlines and progress only
	defer tick.Stop()
	lastProgress := r.cfg.Now()
	for {
		seen.take()
		w := checker.OutageAfter(seen.ops, res.Issued, seen.writeTimeout)
		if w.Recovered {
			return effect, true, fmt.Sprintf("first acknowledged write after the outage at +%s", w.Recovery.Sub(res.Issued).Round(time.Millisecond))
		}
		if !w.Began && !effect.IsZero() && w.OKInvokedAfterFault && !w.LastOKInvoke.Before(effect.Add(r.cfg.QuietAfterEffect)) {
			return effect, true, fmt.Sprintf("no interruption observed: writes kept succeeding %s after the effect", r.cfg.QuietAfterEffect)
		}
		now := r.cfg.Now()
		if effectCh != nil && now.After(effectDeadline) {
			r.printf("effect not confirmed within %s; still waiting for recovery", effectDeadline.Sub(res.Issued))
			effectCh = nil
		}
		if now.After(deadline) {
			if w.Began {
				return effect, false, fmt.Sprintf("no acknowledged write within maxRecovery %s (outage since +%s)", s.MaxRecovery(), w.Start.Sub(res.Issued).Round(time.Millisecond))
			}
			return effect, false, fmt.Sprintf("neither an outage nor the effect seen within maxRecovery %s", s.MaxRecovery())
		}
		if now.Sub(lastProgress) >= 10*time.Second {
			lastProgress = now
			down := "no failed write yet"
			if w.Began {
				down = fmt.Sprintf("writes failing since +%s", w.Start.Sub(res.Issued).Round(time.Second))
			}
			r.printf("waiting for recovery: +%s of at most %s, %s", now.Sub(res.Issued).Round(time.Second), s.MaxRecovery(), down)
		}
		select {
		case t, ok := <-effectCh:
			if ok {
				effect = t
				r.printf("effect confirmed %s after the fault", t.Sub(res.Issued).Round(time.Millisecond))
			}
			effectCh = nil
		case <-ctx.Done():
			return effect, false, "interrupted"
		case <-seen.sub.Ready():
		case <-tick.C:
		}
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// feedOps passes every completed write to OnOp as it is added to the
// history (through a subscription: no copy, no polling).
func (r *Runner) feedOps(ctx context.Context, scenarioName string, sub *history.Subscription) {
	defer sub.Close()
	flush := func() {
		for _, rec := range sub.Take() {
			if rec.Kind == history.KindOp {
				r.cfg.OnOp(scenarioName, rec.Result)
			}
		}
	}
	for {
		select {
		case <-ctx.Done():
			flush()
			return
		case <-sub.Ready():
			flush()
		}
	}
}

// cloudCallRecorder writes every cloud call into h as a cloud_call record.
func cloudCallRecorder(h *history.Writer) cloud.Recorder {
	return func(c cloud.Call) { _ = h.Add(cloudCallRecord(c)) }
}

func cloudCallRecord(c cloud.Call) history.Record {
	r := history.Record{
		Kind: history.KindCloudCall, T: c.Start, Name: c.Action, Target: c.Target, Provider: c.Provider,
		Request: c.Request, Message: c.Response, Duration: c.Duration.Seconds(), Result: history.OK,
	}
	if c.Err != nil {
		r.Result, r.Error = history.Fail, c.Err.Error()
	}
	return r
}
