package report

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/irischaos/irischaos/pkg/checker"
	"github.com/irischaos/irischaos/pkg/history"
)

// Rebuild reconstructs a run from its iteration directories when result.json
// is missing because the run did not finish. Each iteration takes the
// checker's result saved next to its history; an iteration cut short before
// that has its partial history checked (verdicts still come from the
// checker). The run's verdict includes unknown: it did not finish.
func Rebuild(dir string) (Run, error) {
	histories, err := filepath.Glob(filepath.Join(dir, "*", "*", "history.jsonl"))
	if err != nil {
		return Run{}, err
	}
	if len(histories) == 0 {
		return Run{}, errors.New("no <scenario>/<iteration>/history.jsonl in it")
	}
	run := Run{Name: runName(filepath.Base(dir)), Unhealed: []Unhealed{}}
	var problems []string
	for _, hp := range histories {
		it, err := rebuildIteration(dir, hp)
		if err != nil {
			problems = append(problems, err.Error())
			continue
		}
		if run.Environment.Kubernetes == "" && run.Environment.Database == "" {
			if recs, err := history.ReadFile(hp); err == nil {
				run.Environment = EnvironmentFromMeta(history.MetaOf(recs))
			}
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
	var vs []checker.Verdict
	for _, it := range run.Iterations {
		vs = append(vs, it.Result.Verdict)
	}
	run.Verdict = checker.Combine(append(vs, checker.Unknown)...)
	return run, nil
}

func rebuildIteration(dir, hp string) (Iteration, error) {
	recs, err := history.ReadFile(hp)
	if err != nil {
		return Iteration{}, err
	}
	meta := history.MetaOf(recs)
	idir := filepath.Dir(hp)
	n, _ := strconv.Atoi(filepath.Base(idir))
	if v, err := strconv.Atoi(meta[history.MetaIteration]); err == nil {
		n = v
	}
	rel, _ := filepath.Rel(dir, hp)
	it := Iteration{
		Scenario:      orElse(meta[history.MetaScenario], filepath.Base(filepath.Dir(idir))),
		Iteration:     n,
		FailureDomain: meta[history.MetaFailureDomain],
		MitigatedBy:   meta[history.MetaMitigatedBy],
		Fault:         meta[history.MetaFault],
		History:       filepath.ToSlash(rel),
		CloudCalls:    CloudCallsFrom(recs),
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
	b, err := os.ReadFile(filepath.Join(idir, ResultFile))
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &it.Result); err != nil {
			return Iteration{}, fmt.Errorf("%s: %w", filepath.Join(idir, ResultFile), err)
		}
	case errors.Is(err, fs.ErrNotExist):
		budgets, berr := checker.BudgetsFromMeta(recs)
		if berr != nil {
			return Iteration{}, fmt.Errorf("%s: %w", hp, berr)
		}
		it.Result = checker.Check(recs, budgets)
		it.Error = "the iteration did not finish: result checked from its partial history"
	default:
		return Iteration{}, err
	}
	return it, nil
}

// runName strips the "<UTC time>-" prefix of a run directory's name.
func runName(base string) string {
	if i := strings.IndexByte(base, '-'); i == len(TimeFormat) {
		if _, err := time.Parse(TimeFormat, base[:i]); err == nil {
			return base[i+1:]
		}
	}
	return base
}

func orElse(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
