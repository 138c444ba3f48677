package checker

import (
	"bytes"
	"testing"
	"time"

	"github.com/irischaos/irischaos/pkg/history"
)

// FuzzCheck: any history that parses gives a verdict, with reasons, without
// a panic; RTO and RPO are never negative; a pass always has both known.
func FuzzCheck(f *testing.F) {
	f.Add([]byte(`{"kind":"op","seq":1,"invoke":"2026-11-27T10:00:00Z","complete":"2026-11-27T10:00:00.1Z","result":"ok"}
{"kind":"fault","t":"2026-11-27T10:00:01Z","effect_t":"2026-11-27T10:00:01.5Z"}
{"kind":"op","seq":2,"invoke":"2026-11-27T10:00:01Z","complete":"2026-11-27T10:00:02Z","result":"info"}
{"kind":"op","seq":3,"invoke":"2026-11-27T10:00:03Z","complete":"2026-11-27T10:00:03.1Z","result":"ok"}
{"kind":"event","t":"2026-11-27T10:00:02Z","phase":"pod_scheduled"}
{"kind":"readback","t":"2026-11-27T10:00:09Z","seqs":[1,3,3,7],"extra":["x"]}`))
	f.Add([]byte(`{"kind":"op","seq":1,"invoke":"2026-11-27T10:00:00Z","complete":"2026-11-27T10:00:00.1Z","result":"ok","pod":"a","node":"n1"}
{"kind":"fault","t":"2026-11-27T10:00:01Z","effect_t":"2026-11-27T10:00:01.5Z"}
{"kind":"op","seq":2,"invoke":"2026-11-27T10:00:01Z","complete":"2026-11-27T10:00:03Z","result":"ok","pod":"a","node":"n1"}
{"kind":"op","seq":3,"invoke":"2026-11-27T10:00:02Z","complete":"2026-11-27T10:00:02.1Z","result":"ok","pod":"b","node":"n2"}
{"kind":"event","t":"2026-11-27T10:00:01.8Z","phase":"pod_scheduled","target":"pod/b"}
{"kind":"readback","t":"2026-11-27T10:00:09Z","seqs":[1,3]}`))
	f.Add([]byte(`{"kind":"fault","t":"2026-11-27T10:00:01Z"}`))
	f.Add([]byte(`{"kind":"op","seq":1,"invoke":"2026-11-27T10:00:05Z","complete":"2026-11-27T10:00:00Z","result":"fail"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := history.Read(bytes.NewReader(data))
		if err != nil {
			return
		}
		r := Check(recs, Budgets{RTO: 30 * time.Second, RPO: 2 * time.Second})
		if r.Verdict != Pass && r.Verdict != Fail && r.Verdict != Unknown {
			t.Fatalf("verdict %q", r.Verdict)
		}
		if len(r.Reasons) == 0 {
			t.Fatal("no reasons")
		}
		if r.RPOSeconds != nil && *r.RPOSeconds < 0 {
			t.Fatalf("RPO %v < 0", *r.RPOSeconds)
		}
		if r.RTOSeconds != nil && *r.RTOSeconds < 0 {
			t.Fatalf("RTO %v < 0", *r.RTOSeconds)
		}
		if r.Verdict == Pass && (r.RTOSeconds == nil || r.RPOSeconds == nil || !r.Suffix.Checked) {
			t.Fatalf("pass without RTO, RPO or suffix test: %+v", r)
		}
	})
}

// BenchmarkCheck: an hour of writes at 100 per second.
func BenchmarkCheck(b *testing.B) {
	hist := new(h)
	const n = 360000
	for s := int64(1); s <= n; s++ {
		inv := float64(s) * 0.01
		res := history.OK
		if s > n/2 && s < n/2+3000 {
			res = history.Fail
		}
		hist.op(s, inv, inv+0.005, res)
	}
	hist.fault(float64(n/2) * 0.01)
	hist.readback(seqs(1, n/2-10)...)
	b.ResetTimer()
	for range b.N {
		Check(hist.recs, DefaultBudgets())
	}
}

// FuzzMarkerTime: the hand-written parser of the database's time agrees
// with time.Parse.
func FuzzMarkerTime(f *testing.F) {
	f.Add("2026-11-27 10:15:03.123456")
	f.Add("2026-02-29 10:15:03")
	f.Add("2024-02-29 23:59:59.1")
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseMarkerTime(s)
		want, err := time.Parse(markerTimeLayout, s)
		if ok != (err == nil) || ok && !got.Equal(want) {
			t.Fatalf("%q: %v %v, time.Parse %v %v", s, got, ok, want, err)
		}
	})
}
