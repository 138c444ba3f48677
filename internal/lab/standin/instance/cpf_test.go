package instance

import (
	"strings"
	"testing"
	"time"
)

func TestParseMerge(t *testing.T) {
	def := DefaultSettings()
	tests := []struct {
		name, in string
		want     Settings
		err      string
	}{
		{"seed merge file", "[config]\nglobals=0,0,500,0,0,0\ngmheap=256000\n", def, ""},
		{"empty", "", def, ""},
		{"synch commit", "[Miscellaneous]\nSynchCommit=1\n", Settings{SynchCommit: true, JournalBufferMB: 64, FlushInterval: 2 * time.Second, CheckpointInterval: 30 * time.Second}, ""},
		{"case and comments", "; c\n[MISCELLANEOUS]\n synchcommit = 1 \n[journal]\nStandinFlushInterval=0.25\nStandinCheckpointInterval=5\n[config]\njrnbufs=8\n",
			Settings{SynchCommit: true, JournalBufferMB: 8, FlushInterval: 250 * time.Millisecond, CheckpointInterval: 5 * time.Second}, ""},
		{"bad synch", "[Miscellaneous]\nSynchCommit=yes\n", def, "want 0 or 1"},
		{"bad interval", "[Journal]\nStandinFlushInterval=0\n", def, "seconds from"},
		{"bad jrnbufs", "[config]\njrnbufs=-1\n", def, "size in MB"},
		{"no section", "SynchCommit=1\n", def, "before any [Section]"},
		{"garbage", "[config]\nnot a setting\n", def, "neither"},
		{"unclosed", "[config\n", def, "lacks ']'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseMerge(strings.NewReader(tc.in))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
			again, err := ParseMerge(strings.NewReader(got.CPF()))
			if err != nil || again != got {
				t.Errorf("CPF() does not round-trip: %+v, %v", again, err)
			}
		})
	}
}
