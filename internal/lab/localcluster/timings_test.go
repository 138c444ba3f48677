package localcluster

import "testing"

func TestTimingsOption(t *testing.T) {
	o := Options{Timings: "upstream"}
	if err := o.defaults(); err != nil || o.timings != "upstream" {
		t.Errorf("upstream: %v %q", err, o.timings)
	}
	o = Options{}
	if err := o.defaults(); err != nil || o.Timings != "fast" {
		t.Errorf("default timings %q, %v", o.Timings, err)
	}
	if err := (&Options{Timings: "quick"}).defaults(); err == nil {
		t.Error("--timings quick accepted")
	}
}
