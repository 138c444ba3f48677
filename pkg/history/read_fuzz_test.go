package history

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzRead: any input either parses or gives an error naming a line; never a
// panic. What parses, written back, reads back the same.
func FuzzRead(f *testing.F) {
	f.Add([]byte(`{"kind":"op","seq":1,"invoke":"2026-11-27T10:00:00.123456789Z","complete":"2026-11-27T10:00:00.2Z","result":"ok"}` + "\n"))
	f.Add([]byte(`{"kind":"fault","t":"2026-11-27T10:00:01Z","name":"pod-delete"}` + "\n\n" + `{"kind":"readback","t":"2026-11-27T10:00:09Z","seqs":[1,2,3]}`))
	f.Add([]byte(`{"kind":"op","seq":"x"}`))
	f.Add([]byte("{}\n"))
	f.Add([]byte("\r\n  \n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := Read(bytes.NewReader(data))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "line ") {
				t.Fatalf("error %q does not name a line", err)
			}
			return
		}
		w := NewMemory()
		var buf bytes.Buffer
		for _, r := range recs {
			if err := w.Add(r); err != nil {
				t.Fatal(err)
			}
		}
		if err := writeAll(&buf, recs); err != nil {
			return // e.g. a time outside what JSON can carry
		}
		again, err := Read(&buf)
		if err != nil {
			t.Fatalf("re-reading what was written: %v", err)
		}
		if len(again) != len(recs) {
			t.Fatalf("round trip: %d records, want %d", len(again), len(recs))
		}
		for i := range recs {
			if again[i].Kind != recs[i].Kind || again[i].Seq != recs[i].Seq || !again[i].T.Equal(recs[i].T) {
				t.Fatalf("round trip record %d: %+v, want %+v", i, again[i], recs[i])
			}
		}
	})
}

func writeAll(buf *bytes.Buffer, recs []Record) error {
	for _, r := range recs {
		b, err := marshalLine(r)
		if err != nil {
			return err
		}
		buf.Write(b)
	}
	return nil
}

func TestReadErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"{\"kind\":\"note\"}\n{bad", "line 2: "},
		{"\n\n{\"seq\":1}", `line 3: record has no "kind"`},
		{`{"kind":"op","seq":1,"invoke":"yesterday","complete":"2026-11-27T10:00:00Z","result":"ok"}`, "line 1: "},
	} {
		_, err := Read(strings.NewReader(tc.in))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Read(%q) error = %v, want prefix %q", tc.in, err, tc.want)
		}
	}
	recs, err := Read(strings.NewReader(`{"kind":"op","seq":3,"invoke":"2026-11-27T10:00:00.123456789Z","complete":"2026-11-27T10:00:01Z","result":"ok","future_field":{"a":1}}`))
	if err != nil || len(recs) != 1 || recs[0].Seq != 3 || recs[0].Invoke.Nanosecond() != 123456789 {
		t.Errorf("unknown fields must be ignored and nanoseconds kept: %+v, %v", recs, err)
	}
}

func marshalLine(r Record) ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}
