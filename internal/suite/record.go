package suite

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"
	"sigs.k8s.io/e2e-framework/pkg/types"

	"github.com/irischaos/irischaos/pkg/checker"
	"github.com/irischaos/irischaos/pkg/report"
)

// Outcome is what became of a step or a feature.
type Outcome string

// Outcomes.
const (
	NotRun  Outcome = "not run"
	Passed  Outcome = "passed"
	Failed  Outcome = "failed"
	Skipped Outcome = "skipped"
)

// Levels of a step, as e2e-framework runs them.
const (
	LevelSetup    = "setup"
	LevelAssess   = "assess"
	LevelTeardown = "teardown"
)

// Step is one setup, assessment or teardown of a feature.
type Step struct {
	Name     string
	Level    string
	Outcome  Outcome
	Message  string // why it failed or was skipped, when known
	TestName string // go test's name of the subtest that ran it
	Start    time.Time
	Duration time.Duration
	Runs     []Run // irischaos runs it made
}

// Run is one irischaos run made by a step, and its run directory.
type Run struct {
	Dir string
	Run report.Run
}

// Feature is one feature of the suite, or a test skipped before it built
// any (Skip says why).
type Feature struct {
	Test   string // the go test function
	Name   string
	Labels map[string][]string
	Skip   string // why the whole feature was skipped ("" when it ran)
	Steps  []*Step
	Start  time.Time
}

// Recorder records the suite's features as they run. Safe for concurrent use.
type Recorder struct {
	// Target decides which features can run (their NeedsLabel).
	Target Target

	mu       sync.Mutex
	features []*Feature
	errors   []string // what went wrong outside any feature
}

// SuiteError records what went wrong outside any feature (the cluster not
// reachable, an interrupt): the JUnit file shows it as an error and the
// suite fails.
func (r *Recorder) SuiteError(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.errors = append(r.errors, fmt.Sprintf(format, args...))
}

// Errors returns what SuiteError recorded.
func (r *Recorder) Errors() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.errors...)
}

// NewRecorder records against target.
func NewRecorder(target Target) *Recorder { return &Recorder{Target: target} }

// Features returns what was recorded, in order.
func (r *Recorder) Features() []*Feature {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*Feature(nil), r.features...)
}

// SkipTest records that test t was skipped before it built its features
// (the target cannot give what the whole test needs), then skips it.
func (r *Recorder) SkipTest(t *testing.T, reason string) {
	t.Helper()
	r.mu.Lock()
	r.features = append(r.features, &Feature{Test: t.Name(), Name: t.Name(), Skip: reason})
	r.mu.Unlock()
	t.Skip("skipping: " + reason)
}

// Instrument returns fs recording into r: every step's outcome and time,
// and a first setup step that skips the feature, saying why, when the
// target cannot give what it needs (NeedsLabel).
func (r *Recorder) Instrument(t *testing.T, fs ...features.Feature) []features.Feature {
	out := make([]features.Feature, len(fs))
	for i, f := range fs {
		rec := &Feature{Test: t.Name(), Name: f.Name(), Labels: map[string][]string(f.Labels())}
		inst := &feature{name: f.Name(), labels: f.Labels()}
		needs := Needs(f)
		inst.steps = append(inst.steps, &step{name: "what it needs", level: types.LevelSetup, fn: func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			r.mu.Lock()
			rec.Start = time.Now()
			why := r.Target.Missing(needs...)
			rec.Skip = why
			r.mu.Unlock()
			if why != "" {
				t.Skip("skipping: " + why)
			}
			return ctx
		}})
		for _, s := range f.Steps() {
			st := &Step{Name: s.Name(), Level: levelName(s.Level()), Outcome: NotRun}
			rec.Steps = append(rec.Steps, st)
			inst.steps = append(inst.steps, &step{name: s.Name(), level: s.Level(), fn: r.wrap(st, s.Func())})
		}
		r.mu.Lock()
		r.features = append(r.features, rec)
		r.mu.Unlock()
		out[i] = inst
	}
	return out
}

type stepKey struct{}

// wrap runs fn, recording its outcome into st.
func (r *Recorder) wrap(st *Step, fn types.StepFunc) types.StepFunc {
	return func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
		failedBefore := t.Failed() // a teardown's t has seen the assessments
		r.mu.Lock()
		st.Start, st.TestName = time.Now(), t.Name()
		r.mu.Unlock()
		defer func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			st.Duration = time.Since(st.Start)
			switch {
			case t.Skipped():
				st.Outcome = Skipped
				if st.Message == "" {
					st.Message = "skipped (the reason is in the go test -v output of " + t.Name() + ")"
				}
			case t.Failed() && !failedBefore:
				st.Outcome = Failed
			default:
				st.Outcome = Passed
			}
		}()
		return fn(context.WithValue(ctx, stepKey{}, &stepRef{r: r, st: st}), t, cfg)
	}
}

type stepRef struct {
	r  *Recorder
	st *Step
}

func stepOf(ctx context.Context) *stepRef {
	s, _ := ctx.Value(stepKey{}).(*stepRef)
	return s
}

// Skip records why the current step is skipped, then skips it.
func Skip(ctx context.Context, t *testing.T, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	Note(ctx, msg)
	t.Skip(msg)
}

// Note adds a line to the current step's message (its JUnit text).
func Note(ctx context.Context, msg string) {
	s := stepOf(ctx)
	if s == nil {
		return
	}
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	if s.st.Message != "" {
		s.st.Message += "\n"
	}
	s.st.Message += msg
}

// AddRun attaches an irischaos run (and its directory) to the current step:
// its verdicts, RTO/RPO and budgets go into the JUnit file.
func AddRun(ctx context.Context, dir string, run report.Run) {
	s := stepOf(ctx)
	if s == nil {
		return
	}
	s.r.mu.Lock()
	defer s.r.mu.Unlock()
	s.st.Runs = append(s.st.Runs, Run{Dir: dir, Run: run})
}

// Failed reports whether any step failed or any recorded run has a verdict
// other than pass (the suite's exit status follows it).
func (r *Recorder) Failed() bool {
	if len(r.Errors()) > 0 {
		return true
	}
	for _, f := range r.Features() {
		if f.Outcome() == Failed {
			return true
		}
	}
	return false
}

// Outcome is the feature's: skipped, failed when a step failed or a run's
// verdict is not pass, passed when every step that ran passed, not run when
// none ran (not selected by -feature/-labels/-skip-*).
func (f *Feature) Outcome() Outcome {
	if f.Skip != "" {
		return Skipped
	}
	ran := false
	for _, s := range f.Steps {
		if s.Outcome == Failed || runsFailed(s.Runs) {
			return Failed
		}
		if s.Outcome != NotRun {
			ran = true
		}
	}
	if !ran {
		if f.Start.IsZero() {
			return NotRun
		}
		return Passed
	}
	return Passed
}

func runsFailed(runs []Run) bool {
	for _, r := range runs {
		for _, it := range r.Run.Iterations {
			if it.Verdict() != checker.Pass {
				return true
			}
		}
		if len(r.Run.Unhealed) > 0 || len(r.Run.Errors) > 0 {
			return true
		}
	}
	return false
}

func levelName(l types.Level) string {
	switch l {
	case types.LevelSetup:
		return LevelSetup
	case types.LevelTeardown:
		return LevelTeardown
	}
	return LevelAssess
}

// feature and step implement e2e-framework's Feature and Step over the
// wrapped functions.
type feature struct {
	name   string
	labels types.Labels
	steps  []types.Step
}

func (f *feature) Name() string         { return f.name }
func (f *feature) Labels() types.Labels { return f.labels }
func (f *feature) Steps() []types.Step  { return f.steps }

type step struct {
	name  string
	level types.Level
	fn    types.StepFunc
}

func (s *step) Name() string         { return s.name }
func (s *step) Level() types.Level   { return s.level }
func (s *step) Func() types.StepFunc { return s.fn }
