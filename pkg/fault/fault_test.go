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
		wantErr := map[Safety]error{SafetyVM: ErrVMActionsNotAllowed, SafetyNode: ErrNodeActionsNotAllowed}[i.Safety]
		if (err != nil) != (wantErr != nil) || (err != nil && !errors.Is(err, wantErr)) {
			t.Errorf("%s without opt-ins: %v", i.Name, err)
		}
		if err := i.Permit(Allow{VMActions: true, NodeActions: true}); err != nil {
			t.Errorf("%s with every opt-in: %v", i.Name, err)
		}
	}
	// One opt-in per blast radius: each opt-in alone allows its class only.
	for _, c := range []struct {
		name   Name
		method ZoneMethod
		allow  Allow
		want   error
	}{
		{VMPowerOff, "", Allow{NodeActions: true}, ErrVMActionsNotAllowed},
		{NodePartition, "", Allow{VMActions: true}, ErrNodeActionsNotAllowed},
		{NodePartition, "", Allow{NodeActions: true}, nil},
		{ZoneOutage, "", Allow{NodeActions: true}, ErrVMActionsNotAllowed},
		{ZoneOutage, ZonePowerOff, Allow{VMActions: true}, nil},
		{ZoneOutage, ZonePartition, Allow{VMActions: true}, ErrNodeActionsNotAllowed},
		{ZoneOutage, ZonePartition, Allow{NodeActions: true}, nil},
		{VMPowerOff, ZonePartition, Allow{VMActions: true}, nil}, // a method changes zone-outage only
	} {
		err := c.name.Info().Via(c.method).Permit(c.allow)
		if (err == nil) != (c.want == nil) || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%s via %q with %+v: %v, want %v", c.name, c.method, c.allow, err, c.want)
		}
	}
	if _, err := Lookup("node-kill"); err == nil {
		t.Error("unknown fault accepted")
	}
}
