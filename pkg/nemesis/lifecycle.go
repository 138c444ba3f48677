package nemesis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/irischaos/irischaos/pkg/ledger"
	"github.com/irischaos/irischaos/pkg/target"
)

// DefaultHealTimeout bounds the healing of one fault (--heal-timeout).
const DefaultHealTimeout = 5 * time.Minute

// Guard is the one guarded fault lifecycle, used by run, inject and recover:
// the fault is written to the ledger before it is injected, healed on a
// context that only Abort (a second Ctrl-C) or HealTimeout cuts short, never
// the caller's own, and marked healed; a fault whose process died before that
// stays pending for Recover.
type Guard struct {
	Ledger *ledger.Ledger
	Env    Env
	// Cluster (the API server) and Run are recorded with each entry.
	Cluster, Run string
	// HealTimeout bounds one heal; DefaultHealTimeout when 0.
	HealTimeout time.Duration
	// Abort, when closed, cuts healing short.
	Abort <-chan struct{}
}

// Active is a fault injected under a Guard, until healed.
type Active struct {
	g     Guard
	Fault Fault
	Entry ledger.Entry
	// Result of Inject.
	Result Result

	healed    bool
	healStart time.Time
	healErr   error
}

// Inject records f in the ledger, then injects it. A nil Active with an error
// means nothing is left to heal (not recorded, or not issued: the entry is
// then closed); a non-nil Active must be healed, even with an error.
func (g Guard) Inject(ctx context.Context, f Fault) (*Active, error) {
	e := LedgerEntry(f)
	e.Cluster, e.Run = g.Cluster, g.Run
	e, err := g.Ledger.Record(e)
	if err != nil {
		return nil, fmt.Errorf("not injecting %s: %w", f.Name(), err)
	}
	a := &Active{g: g, Fault: f, Entry: e}
	a.Result, err = f.Inject(ctx)
	if err != nil && a.Result.Issued.IsZero() {
		// Nothing was issued: nothing to heal beyond the ledger entry.
		_ = g.Ledger.MarkHealed(e.ID, nil)
		return nil, err
	}
	return a, err
}

// Heal heals the fault once (later calls return the first answer) and marks
// the ledger: healed, or still pending with the error.
func (a *Active) Heal(ctx context.Context) error {
	if a.healed {
		return a.healErr
	}
	a.healed = true
	hctx, cancel := a.g.healContext(ctx)
	defer cancel()
	if h := a.Fault.HealAction(); h != ledger.HealNone {
		a.g.Env.printf("heal %s: %s", a.Fault.Name(), h)
	}
	a.healStart = time.Now()
	err := a.Fault.Heal(hctx)
	if merr := a.g.Ledger.MarkHealed(a.Entry.ID, err); merr != nil {
		err = errors.Join(err, merr)
	}
	a.healErr = err
	return err
}

// HealStarted is when Heal began; zero before.
func (a *Active) HealStarted() time.Time { return a.healStart }

// Close marks a fault that needs no healing (Kubernetes heals it) as healed,
// or leaves one that does pending for Recover (inject --no-heal).
func (a *Active) Close() error {
	if a.Fault.HealAction() != ledger.HealNone {
		return nil
	}
	return a.Heal(context.Background())
}

// healContext outlives the caller's context: it ends after HealTimeout or
// when Abort is closed.
func (g Guard) healContext(ctx context.Context) (context.Context, context.CancelFunc) {
	d := g.HealTimeout
	if d <= 0 {
		d = DefaultHealTimeout
	}
	hctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), d)
	if g.Abort != nil {
		go func() {
			select {
			case <-g.Abort:
				cancel()
			case <-hctx.Done():
			}
		}()
	}
	return hctx, cancel
}

// Recover heals every fault the ledger still lists (left by a process that
// crashed, was killed or aborted healing), each on its own heal context, and
// returns those it could not heal. Entries injected through another API
// server than g.Cluster are skipped and returned.
func (g Guard) Recover(ctx context.Context, out io.Writer) ([]ledger.Entry, error) {
	pend, err := g.Ledger.Pending()
	if err != nil {
		return nil, err
	}
	var left []ledger.Entry
	for _, e := range pend {
		if e.Cluster != "" && g.Cluster != "" && e.Cluster != g.Cluster {
			fmt.Fprintf(out, "ledger: %s (%s on %s) was injected through %s, not %s: skipped; heal it with --kubeconfig/--context pointing there\n", e.ID, e.Fault, EntryTarget(e), e.Cluster, g.Cluster)
			left = append(left, e)
			continue
		}
		heal := e.Heal
		if heal == ledger.HealNone {
			heal = "nothing to undo"
		}
		fmt.Fprintf(out, "ledger: healing %s left by an earlier run: %s on %s (heal: %s)\n", e.ID, e.Fault, EntryTarget(e), heal)
		hctx, cancel := g.healContext(ctx)
		herr := recoverEntry(hctx, g.Env, e)
		cancel()
		if merr := g.Ledger.MarkHealed(e.ID, herr); merr != nil {
			return left, merr
		}
		if herr != nil {
			fmt.Fprintf(out, "ledger: %s still unhealed: %v\n", e.ID, herr)
			e.HealError = herr.Error()
			left = append(left, e)
		}
	}
	return left, nil
}

// EntryTarget is the target a ledger entry names.
func EntryTarget(e ledger.Entry) target.Target {
	return target.Target{Namespace: e.Namespace, Pod: e.Pod, Node: e.Node, ProviderID: e.ProviderID}
}
