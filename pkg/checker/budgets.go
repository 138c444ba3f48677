package checker

import (
	"github.com/irischaos/irischaos/pkg/history"
)

// BudgetsFromMeta reads the budgets the runner recorded in the history's meta
// records, starting from DefaultBudgets for what is absent.
func BudgetsFromMeta(recs []history.Record) (Budgets, error) {
	b := DefaultBudgets()
	meta := history.MetaOf(recs)
	if d, ok, err := history.MetaDuration(meta, history.MetaRTOBudget); err != nil {
		return b, err
	} else if ok {
		b.RTO = d
	}
	if d, ok, err := history.MetaDuration(meta, history.MetaRPOBudget); err != nil {
		return b, err
	} else if ok {
		b.RPO = d
	}
	return b, nil
}
