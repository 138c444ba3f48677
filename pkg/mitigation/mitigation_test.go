package mitigation

import (
	"strings"
	"testing"
)

func TestGain(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	tests := []struct {
		name                string
		deployed, mitigated *float64
		want                string
	}{
		{"faster", f(400), f(45.2), "removes 5m54.8s"},
		{"slower", f(40), f(50), "adds 10s"},
		{"within a second", f(40), f(40.6), "no change"},
		{"unknown", nil, f(40), ""},
	}
	for _, tc := range tests {
		if got := Gain(tc.deployed, tc.mitigated); got != tc.want {
			t.Errorf("%s: Gain = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestLookup(t *testing.T) {
	for _, i := range All() {
		got, err := Lookup(i.Name)
		if err != nil || got.Summary == "" || got.Permanent == "" {
			t.Errorf("%s: %+v, %v: every mitigation says what it does and how to keep it", i.Name, got, err)
		}
	}
	if _, err := Lookup("reboot"); err == nil || !strings.Contains(err.Error(), "valid: none, short-tolerations") {
		t.Errorf("unknown mitigation: %v", err)
	}
}
