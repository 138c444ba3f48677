package history

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

const okOp = `{"kind":"op","seq":1,"invoke":"2026-11-27T10:00:00Z","complete":"2026-11-27T10:00:00.1Z","result":"ok"}`

// TestReadStrict: the schema is strict, and every error names its line.
func TestReadStrict(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string // want: error substring; "" = no error
	}{
		{"keys are case-sensitive", `{"kind":"op","Seq":1,"seq":2,"invoke":"2026-11-27T10:00:00Z","complete":"2026-11-27T10:00:00Z","result":"ok"}`, `line 1: key "Seq": keys are case-sensitive (did you mean "seq"?)`},
		{"kind key case", `{"Kind":"op"}`, `line 1: key "Kind": keys are case-sensitive`},
		{"Kelvin sign folds for encoding/json", "{\"\u212aind\":\"note\",\"kind\":\"note\"}", `keys are case-sensitive`},
		{"op without seq", `{"kind":"op","invoke":"2026-11-27T10:00:00Z","complete":"2026-11-27T10:00:00Z","result":"ok"}`, `line 1: op record has no "seq" (required)`},
		{"op without result", `{"kind":"op","seq":1,"invoke":"2026-11-27T10:00:00Z","complete":"2026-11-27T10:00:00Z"}`, `op record has no "result"`},
		{"op with null complete", `{"kind":"op","seq":1,"invoke":"2026-11-27T10:00:00Z","complete":null,"result":"ok"}`, `op record has no "complete"`},
		{"fault without t", `{"kind":"fault","name":"pod-delete"}`, `line 1: fault record has no "t"`},
		{"readback without t", `{"kind":"readback","seqs":[1]}`, `readback record has no "t"`},
		{"no kind", `{"seq":1}`, `line 1: record has no "kind"`},
		{"empty kind", `{"kind":""}`, `record has no "kind"`},
		{"duplicate key", `{"kind":"op","seq":1,"seq":2,"invoke":"2026-11-27T10:00:00Z","complete":"2026-11-27T10:00:00Z","result":"ok"}`, `key "seq" appears twice`},
		{"two values on a line", `{"kind":"note"} {"kind":"note"}`, `line 1: more than one JSON value`},
		{"not an object", `[1,2]`, `line 1: a record is a JSON object`},
		{"seq not an integer", `{"kind":"op","seq":1.5,"invoke":"2026-11-27T10:00:00Z","complete":"2026-11-27T10:00:00Z","result":"ok"}`, `line 1: key "seq"`},
		{"bad time", `{"kind":"fault","t":"2026-02-30T10:00:00Z"}`, `line 1: key "t"`},
		{"error on a later line", "\n" + okOp + "\n\n{bad", "line 4: "},
		{"unknown kind is passed on", `{"kind":"partition","t":"2026-11-27T10:00:00Z"}`, ""},
		{"unknown keys are ignored", `{"kind":"note","colour":"blue","t":"2026-11-27T10:00:00Z"}`, ""},
		{"escapes and offsets take the slow path", `{"kind":"note","message":"a\"b\u00e9","t":"2026-11-27T11:00:00+01:00"}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Read(strings.NewReader(tc.in))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("error %v, want none", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestFastMatchesSlow: the fast path and the strict slow path decode the
// same lines to the same records.
func TestFastMatchesSlow(t *testing.T) {
	for _, line := range []string{
		okOp,
		`{"kind":"op","seq":42,"invoke":"2026-11-27T10:15:02.100123456Z","complete":"2026-11-27T10:15:02.104Z","result":"info","stream":2,"value":"seq=42 t=2026-11-27 10:15:02.101 host=é","pod":"iris-0","node":"node-1","error":"timeout","attempt":3}`,
		`{"kind":"readback","t":"2026-11-27T10:16:30Z","seqs":[1,2,-3,0],"extra":["x","y"]}`,
		`{"kind":"readback","t":"2024-02-29T00:00:00.5Z","seqs":[],"extra":[]}`,
		`{"kind":"event","t":"2026-11-27T10:15:12.5Z","source":"pod","phase":"pod_scheduled","target":"pod/x","node":"n","reason":"Scheduled","message":"m"}`,
		`{ "kind" : "fault" , "t" : "2026-11-27T10:15:10Z", "effect_t":"2026-11-27T10:15:10.8Z","name":"pod-delete","target":"pod/x" }`,
	} {
		var fast, slow Record
		var fs, ss uint32
		if !(decoder{in: interner{}}).fast([]byte(line), &fast, &fs) {
			t.Errorf("fast path gave up on %s", line)
			continue
		}
		if err := slowDecode([]byte(line), &slow, &ss); err != nil {
			t.Fatalf("slow path: %v", err)
		}
		if !reflect.DeepEqual(fast, slow) || fs != ss {
			t.Errorf("fast %+v (%b)\nslow %+v (%b)", fast, fs, slow, ss)
		}
	}
}

// FuzzFastMatchesSlow: whatever the fast path accepts, the slow path decodes
// to the same record.
func FuzzFastMatchesSlow(f *testing.F) {
	f.Add([]byte(okOp))
	f.Add([]byte(`{"kind":"readback","t":"2026-11-27T10:16:30Z","seqs":[1,2],"extra":["x"]}`))
	f.Add([]byte(`{"kind":"op","seq":01,"invoke":"2026-13-27T10:00:00Z"}`))
	f.Add([]byte(`{"kind":"event","message":"abcdefghijklmnop\"qrstuvwxyz","reason":"abcdefghijklmnopé","t":"2026-11-27T10:00:00Z"}`))
	f.Add([]byte("{\"kind\":\"event\",\"message\":\"abcdefghijklmnop\tq\",\"reason\":\"abcdefghijklmnop\xff\xfe\"}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast, slow Record
		var fs, ss uint32
		if !(decoder{in: interner{}}).fast(b, &fast, &fs) {
			return
		}
		if err := slowDecode(b, &slow, &ss); err != nil {
			t.Fatalf("fast path took %q, slow path: %v", b, err)
		}
		if !reflect.DeepEqual(fast, slow) || fs != ss {
			t.Fatalf("%q:\nfast %+v\nslow %+v", b, fast, slow)
		}
	})
}

// TestReadLongLine: a read-back of millions of markers is one line; there
// is no line-size limit.
func TestReadLongLine(t *testing.T) {
	var b bytes.Buffer
	b.WriteString(`{"kind":"readback","t":"2026-11-27T10:16:30Z","seqs":[`)
	const n = 3_000_000 // ~24 MB on one line
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteByte(',')
		}
		b.WriteString("1234567")
	}
	b.WriteString("]}\n" + okOp + "\n")
	recs, err := Read(&b)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || len(recs[0].Seqs) != n || recs[1].Seq != 1 {
		t.Fatalf("got %d records, %d seqs", len(recs), len(recs[0].Seqs))
	}
}

func TestScanFileStdinAndLines(t *testing.T) {
	p := filepath.Join(t.TempDir(), "h.jsonl")
	if err := os.WriteFile(p, []byte("\n"+okOp+"\n"+`{"kind":"note","t":"2026-11-27T10:00:00Z"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	var lines []int
	if err := ScanFile(p, func(line int, rec *Record) error { lines = append(lines, line); return nil }); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(lines, []int{2, 3}) {
		t.Errorf("lines = %v, want [2 3]", lines)
	}
	f, _ := os.Open(p)
	defer f.Close()
	old := os.Stdin
	os.Stdin = f
	defer func() { os.Stdin = old }()
	recs, err := ReadFile("-")
	if err != nil || len(recs) != 2 {
		t.Fatalf("stdin: %d records, %v", len(recs), err)
	}
	_, err = ReadFile(filepath.Join(t.TempDir(), "absent"))
	if err == nil {
		t.Error("absent file: no error")
	}
}

// TestWriterRoundTrip: what the Writer writes, Read reads back the same
// (the fast path takes the Writer's lines).
func TestWriterRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "h.jsonl")
	w, err := Create(p)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 123456789, time.UTC)
	in := []Record{
		{Kind: KindMeta, Meta: map[string]string{MetaScenario: "pod"}},
		{Kind: KindOp, Seq: 1, Invoke: t0, Complete: t0.Add(time.Millisecond), Result: OK, Stream: 1, Value: "seq=1", Pod: "iris-0", Attempt: 1},
		{Kind: KindFault, T: t0, EffectT: t0.Add(time.Second), Name: "pod-delete", Target: "pod/iris-0"},
		{Kind: KindReadback, T: t0.Add(time.Minute), Seqs: []int64{1}, Extra: []string{"x"}},
		{Kind: KindCloudCall, T: t0, Provider: "aws", Name: "stop", Duration: 1.5, Result: OK},
		{Kind: KindEvent, T: t0, Source: SourceStorage, Target: "volume pvc-1", Reason: RedundancyClean, Zones: map[string]int{"zone-a": 1, "": 2}},
	}
	for _, r := range in {
		if err := w.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	out, err := ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(in)
	b, _ := json.Marshal(out)
	if string(a) != string(b) {
		t.Errorf("round trip:\n%s\n%s", a, b)
	}
}

// TestScanViewClone: records kept from ScanView through Clone are the
// records Scan gives, though the reader's buffer is reused.
func TestScanViewClone(t *testing.T) {
	var in bytes.Buffer
	for i := 0; i < 5000; i++ { // several buffers' worth
		in.WriteString(`{"kind":"op","seq":` + strings.Repeat("1", 1+i%9) + `,"invoke":"2026-11-27T10:00:00Z","complete":"2026-11-27T10:00:00.1Z","result":"ok","value":"seq=` + strings.Repeat("v", i%300) + `"}` + "\n")
		in.WriteString(`{"kind":"event","t":"2026-11-27T10:00:00Z","message":"` + strings.Repeat("m", i%200) + `","request":"r"}` + "\n")
	}
	want, err := Read(bytes.NewReader(in.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	var got []Record
	if err := ScanView(bytes.NewReader(in.Bytes()), func(_ int, r *Record) error { got = append(got, r.Clone()); return nil }); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Error("ScanView+Clone differs from Scan")
	}
}
