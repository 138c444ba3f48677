package checker

import (
	"github.com/irischaos/irischaos/pkg/history"
)

// BudgetsFromMeta reads the budgets the runner recorded in the history's meta
// records, starting from DefaultBudgets for what is absent.
func BudgetsFromMeta(recs []history.Record) (Budgets, error) {
	return budgetsFrom(history.MetaOf(recs))
}

func budgetsFrom(meta map[string]string) (Budgets, error) {
	b := DefaultBudgets()
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
