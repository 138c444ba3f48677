package checker

// RunVerdict is the verdict of a whole run: every iteration's verdict
// combined (one fail fails the run; otherwise one unknown makes it unknown).
// A run that did not complete (interrupted, killed before it wrote its
// result, or nothing ran) is at best unknown: what it skipped was not judged.
func RunVerdict(iterations []Verdict, complete bool) Verdict {
	v := Combine(iterations...)
	if !complete {
		v = Combine(v, Unknown)
	}
	return v
}
