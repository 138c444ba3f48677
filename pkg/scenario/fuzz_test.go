package scenario

import (
	"strings"
	"testing"
)

// FuzzParse: any input is a scenario or an error naming the file; never a panic.
func FuzzParse(f *testing.F) {
	f.Add([]byte(good))
	f.Add([]byte("fault: {type: vm-poweroff, powerOn: false}\nbudgets: {rto: 90s}\ntargets: {node: w1}\n"))
	f.Add([]byte("fault:\n  type: [a]\nbudgets: {rto: &a 1s, rpo: *a}\n"))
	f.Add([]byte("- 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("f.yaml", data)
		if err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				if !strings.HasPrefix(line, "f.yaml") {
					t.Fatalf("error line %q does not name the file", line)
				}
			}
			return
		}
		if s.RTO() <= 0 || s.IterationCount() < 1 || s.StreamCount() < 1 || !knownFault(s.Fault.Type) {
			t.Fatalf("accepted an invalid scenario: %+v", s)
		}
	})
}
