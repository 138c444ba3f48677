package rundir

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"time"

	"github.com/irischaos/irischaos/pkg/checker"
	"github.com/irischaos/irischaos/pkg/history"
	"github.com/irischaos/irischaos/pkg/report"
)

// Read reads a run back from dir/result.json. A run that never wrote it
// (the harness was killed) is rebuilt from its iteration directories: see
// Rebuild.
func Read(dir string) (report.Run, error) {
	p := filepath.Join(dir, ResultFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		run, rerr := Rebuild(dir)
		if rerr != nil {
			return report.Run{}, fmt.Errorf("read run: %s has no %s and %w (is it a run directory written by irischaos run?)", dir, ResultFile, rerr)
		}
		return run, nil
	}
	if err != nil {
		return report.Run{}, fmt.Errorf("read run: %w", err)
	}
	var run report.Run
	if err := json.Unmarshal(b, &run); err != nil {
		return report.Run{}, fmt.Errorf("%s: %w", p, err)
	}
	return run, nil
}

// Histories lists the iteration histories in a run directory
// (<scenario>/<iteration>/history.jsonl), sorted.
func Histories(dir string) ([]string, error) {
	return filepath.Glob(filepath.Join(dir, "*", "*", HistoryFile))
}

// Rebuild reconstructs a run from its iteration directories when result.json
// is missing because the run did not finish. Each iteration takes the
// checker's result saved next to its history; an iteration cut short before
// that has its partial history checked (verdicts still come from the
// checker). The run did not complete: see checker.RunVerdict.
func Rebuild(dir string) (report.Run, error) {
	histories, err := Histories(dir)
	if err != nil {
		return report.Run{}, err
	}
	if len(histories) == 0 {
		return report.Run{}, fmt.Errorf("no <scenario>/<iteration>/%s in it", HistoryFile)
	}
	run := report.Run{Name: runName(filepath.Base(dir)), Unhealed: []report.Unhealed{}}
	var problems []string
	for _, hp := range histories {
		it, recs, err := rebuildIteration(dir, hp)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		if run.Environment.Kubernetes == "" && run.Environment.Database == "" {
			run.Environment = report.EnvironmentFromMeta(history.MetaOf(recs))
		}
		run.Iterations = append(run.Iterations, it)
		if run.Started.IsZero() || (!it.Started.IsZero() && it.Started.Before(run.Started)) {
			run.Started = it.Started
		}
	}
	sort.SliceStable(run.Iterations, func(i, j int) bool {
		a, b := run.Iterations[i], run.Iterations[j]
		if !a.Started.Equal(b.Started) {
			return a.Started.Before(b.Started)
		}
		return a.Scenario < b.Scenario || a.Scenario == b.Scenario && a.Iteration < b.Iteration
	})
	run.Errors = append([]string{fmt.Sprintf("%s was missing: the run did not finish; rebuilt from %d iteration(s) on disk", ResultFile, len(run.Iterations))}, problems...)
	run.Verdict = checker.RunVerdict(run.IterationVerdicts(), false)
	return run, nil
}

func rebuildIteration(dir, hp string) (report.Iteration, []history.Record, error) {
	recs, err := history.ReadFile(hp)
	if err != nil {
		return report.Iteration{}, nil, err
	}
	meta := history.MetaOf(recs)
	idir := filepath.Dir(hp)
	n, _ := strconv.Atoi(filepath.Base(idir))
	if v, err := strconv.Atoi(meta[history.MetaIteration]); err == nil {
		n = v
	}
	rel, _ := filepath.Rel(dir, hp)
	it := report.Iteration{
		Scenario:      orElse(meta[history.MetaScenario], filepath.Base(filepath.Dir(idir))),
		Iteration:     n,
		FailureDomain: meta[history.MetaFailureDomain],
		MitigatedBy:   meta[history.MetaMitigatedBy],
		Fault:         meta[history.MetaFault],
		History:       filepath.ToSlash(rel),
		CloudCalls:    report.CloudCallsFrom(recs),
	}
	for _, r := range recs {
		if it.Started.IsZero() && !r.T.IsZero() {
			it.Started = r.T.UTC()
		}
		if it.Started.IsZero() && !r.Invoke.IsZero() {
			it.Started = r.Invoke.UTC()
		}
		if r.Kind == history.KindFault {
			it.Target = r.Target
		}
		for _, t := range []time.Time{r.T, r.Complete} {
			if t.After(it.Finished) {
				it.Finished = t.UTC()
			}
		}
	}
	rp := filepath.Join(idir, ResultFile)
	b, err := os.ReadFile(rp)
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &it.Result); err != nil {
			return report.Iteration{}, nil, fmt.Errorf("%s: %w", rp, err)
		}
	case errors.Is(err, fs.ErrNotExist):
		budgets, berr := checker.BudgetsFromMeta(recs)
		if berr != nil {
			return report.Iteration{}, nil, fmt.Errorf("%s: %w", hp, berr)
		}
		it.Result = checker.Check(recs, budgets)
		it.Error = "the iteration did not finish: result checked from its partial history"
	default:
		return report.Iteration{}, nil, err
	}
	return it, recs, nil
}

func orElse(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
