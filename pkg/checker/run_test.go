package checker

import "testing"

func TestRunVerdict(t *testing.T) {
	for _, tc := range []struct {
		its      []Verdict
		complete bool
		want     Verdict
	}{
		{nil, true, Unknown},
		{[]Verdict{Pass, Pass}, true, Pass},
		{[]Verdict{Pass, Unknown}, true, Unknown},
		{[]Verdict{Pass, Fail, Unknown}, true, Fail},
		{[]Verdict{Pass}, false, Unknown},
		{[]Verdict{Fail}, false, Fail},
	} {
		if got := RunVerdict(tc.its, tc.complete); got != tc.want {
			t.Errorf("RunVerdict(%v, complete %v) = %s, want %s", tc.its, tc.complete, got, tc.want)
		}
	}
}
