package fault

import (
	"errors"
	"slices"
	"testing"
)

func TestCatalog(t *testing.T) {
	seen := map[Name]bool{}
	for _, i := range All() {
		if seen[i.Name] {
			t.Errorf("%s listed twice", i.Name)
		}
		seen[i.Name] = true
		if i.Domain != "" && !slices.Contains(Domains, i.Domain) {
			t.Errorf("%s: default domain %q is not a failure domain", i.Name, i.Domain)
		}
		if i.Kind == "" || i.Does == "" {
			t.Errorf("%s: kind or help missing", i.Name)
		}
		if got := i.Name.Info(); got != i {
			t.Errorf("Lookup(%s) = %+v", i.Name, got)
		}
	}
	if slices.ContainsFunc(Scenario(), func(i Info) bool { return i.Name == VMPowerOn }) {
		t.Error("vm-poweron is by hand only, not a scenario fault")
	}
}

func TestPermit(t *testing.T) {
	for _, i := range All() {
		err := i.Permit(Allow{})
		if wantRefused := i.Kind == KindVM; (err != nil) != wantRefused || (err != nil && !errors.Is(err, ErrVMActionsNotAllowed)) {
			t.Errorf("%s without opt-ins: %v", i.Name, err)
		}
		if err := i.Permit(Allow{VMActions: true}); err != nil {
			t.Errorf("%s with every opt-in: %v", i.Name, err)
		}
	}
	if _, err := Lookup("node-kill"); err == nil {
		t.Error("unknown fault accepted")
	}
}
