package iris

import (
	"fmt"
	"strings"
	"testing"
)

func TestParseLine(t *testing.T) {
	tests := []struct {
		in   string
		want Line
	}{
		{"##ACK:42:17:seq=42 run=r t=x host=h", Line{Kind: LineAck, Seq: 42, Subscript: "17", Value: "seq=42 run=r t=x host=h"}},
		{"USER>##ACK:42:17:seq=42 run=r", Line{Kind: LineAck, Seq: 42, Subscript: "17", Value: "seq=42 run=r"}},
		{"USER>##ACK:42:17:a:b:c\r", Line{Kind: LineAck, Seq: 42, Subscript: "17", Value: "a:b:c"}},
		{"##ACK:7", Line{Kind: LineAck, Seq: 7}},
		{"##ACK:x:1:v", Line{Kind: LineOther}},
		{"##ACK:-1:1:v", Line{Kind: LineOther}},
		{"TL1:USER>##ACK:3:9:v", Line{Kind: LineAck, Seq: 3, Subscript: "9", Value: "v"}},
		{"USER 1d0>##ACK:3:9:v", Line{Kind: LineAck, Seq: 3, Subscript: "9", Value: "v"}},
		// Sentinels inside echoed source or other text are not sentinels.
		{`set a="##ACK:3:" write a`, Line{Kind: LineOther}},
		{`x ##ACK:3:9:v`, Line{Kind: LineOther}},
		{"##ERR:7:<UNDEFINED> *k", Line{Kind: LineError, Seq: 7, Value: "<UNDEFINED> *k"}},
		{"##ERR:0:<X>", Line{Kind: LineOther}},
		{"<LICENSE LIMIT EXCEEDED>", Line{Kind: LineLicense, Value: "<LICENSE LIMIT EXCEEDED>"}},
		{"USER><LICENSE LIMIT EXCEEDED>zStart+2^%SYS.X", Line{Kind: LineLicense, Value: "<LICENSE LIMIT EXCEEDED>zStart+2^%SYS.X"}},
		{"Login failed: <LICENSE LIMIT EXCEEDED>", Line{Kind: LineLicense, Value: "Login failed: <LICENSE LIMIT EXCEEDED>"}},
		{"Username: ", Line{Kind: LineLogin, Value: "Username:"}},
		{"TL1:USER><UNDEFINED> *x", Line{Kind: LineError, Value: "<UNDEFINED> *x"}},
		{"##ACK:99999999999999999999:1:v", Line{Kind: LineOther}},
		{"##RB:17:seq=1 run=r", Line{Kind: LineReadback, Subscript: "17", Value: "seq=1 run=r"}},
		{"USER>##RB:3:", Line{Kind: LineReadback, Subscript: "3"}},
		{`USER>write "#"_"#RB:",k`, Line{Kind: LineOther}},
		{"##RB::v", Line{Kind: LineOther}},
		{"##RB:nocolon", Line{Kind: LineOther}},
		{"USER>##RBEND", Line{Kind: LineReadbackEnd}},
		{"##HELLO:IRIS for UNIX 2025.1", Line{Kind: LineHello, Value: "IRIS for UNIX 2025.1"}},
		{"USER>##ZV:irischaos IRIS stand-in 0.1.0", Line{Kind: LineIdentity, Value: "irischaos IRIS stand-in 0.1.0"}},
		{"<UNDEFINED>x", Line{Kind: LineError, Value: "<UNDEFINED>x"}},
		{"USER>##VAL:luavailable:4", Line{Kind: LineValue, Subscript: "luavailable", Value: "4"}},
		{"##VAL:empty:", Line{Kind: LineValue, Subscript: "empty"}},
		{"##VAL::4", Line{Kind: LineOther}},
		{`USER>write "#"_"#VAL:","a:",1,!`, Line{Kind: LineOther}},
		{"USER><SYNTAX>", Line{Kind: LineError, Value: "<SYNTAX>"}},
		{"USER 1d0><PROTECT> ^k8stest", Line{Kind: LineError, Value: "<PROTECT> ^k8stest"}},
		{"%SYS><STORE>", Line{Kind: LineError, Value: "<STORE>"}},
		{"USER>", Line{Kind: LineOther}},
		{"", Line{Kind: LineOther}},
		{"Node: iris-0, Instance: IRIS", Line{Kind: LineOther}},
		{"a <b> c", Line{Kind: LineOther}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := ParseLine(tt.in); got != tt.want {
				t.Errorf("ParseLine(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseMarker(t *testing.T) {
	tests := []struct {
		in     string
		want   Marker
		wantOK bool
	}{
		{"seq=42 run=r1 t=2026-11-27 10:15:03.123456 host=iris-0", Marker{Seq: 42, Run: "r1"}, true},
		{"run=r1 seq=0", Marker{Seq: 0, Run: "r1"}, true},
		{"seq=42", Marker{Seq: 42}, true},
		{"01/14/2021 14:13:19 running on iris-6d8896d584-8lzn5", Marker{}, false},
		{"seq=abc run=r", Marker{}, false},
		{"seq=-3", Marker{}, false},
		{"xseq=3", Marker{}, false},
		{"", Marker{}, false},
	}
	for _, tt := range tests {
		got, ok := ParseMarker(tt.in)
		if ok != tt.wantOK || got != tt.want {
			t.Errorf("ParseMarker(%q) = %+v, %t; want %+v, %t", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestCommands(t *testing.T) {
	c := Commands{Run: "r1"}
	w := c.Write(42)
	for _, want := range []string{`$i(^k8stest)`, `"seq=42 run=r1 t="`, `$zdt($zts,3,1,6)`, `$system.INetInfo.LocalHostName()`, `"#"_"#ACK:"_"42:"`, `catch {`} {
		if !strings.Contains(w, want) {
			t.Errorf("Write(42) = %s; missing %s", w, want)
		}
	}
	if strings.Contains(w, "\n") {
		t.Errorf("Write must be one line: %q", w)
	}
	// No command may carry a sentinel literally: IRIS echoes a failed line.
	for _, line := range []string{w, c.Hello(), c.Identity(), c.ReadBack(""), c.ReadBack("3"), c.Value("zv", "$zv")} {
		for _, s := range []string{sentinelAck, sentinelErr, sentinelRB, sentinelHello, sentinelZV, sentinelValue} {
			if strings.Contains(line, s) {
				t.Errorf("command %s contains the sentinel %s", line, s)
			}
		}
	}
	if got := c.ReadBack(""); !strings.HasPrefix(got, `set k="" for  set k=$order(^k8stest(k)) quit:k=""`) {
		t.Errorf("ReadBack(\"\") = %s", got)
	}
	if got := c.ReadBack("16"); !strings.HasPrefix(got, `set k=16 for`) {
		t.Errorf("ReadBack(16) = %s", got)
	}
	if got := c.ReadBack(`a"b`); !strings.HasPrefix(got, `set k="a""b" for`) {
		t.Errorf("ReadBack(a\"b) = %s", got)
	}
	if got := c.Value("n", "$data(^x)"); got != `write "#"_"#VAL:","n:",$data(^x),!` {
		t.Errorf("Value = %s", got)
	}
	if got := (Commands{Global: "^other"}).Write(1); !strings.Contains(got, "$i(^other),^other(k)=") {
		t.Errorf("custom global: %s", got)
	}
}

// FuzzParseLine: the parser must never panic, and an ack it reports must be
// one that is really in the line: the seq printed right after the sentinel.
func FuzzParseLine(f *testing.F) {
	for _, s := range []string{
		"USER>##ACK:42:17:seq=42 run=r t=x host=h", "##RB:1:v", "##RBEND", "##HELLO:x", "##ZV:y",
		"<UNDEFINED>", "USER 1d0><SYNTAX>", "##ACK:", "##ACK:1", "##RB:", "", "USER>", "##ACK:01:2:3",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		l := ParseLine(s)
		switch l.Kind {
		case LineAck:
			if l.Seq < 0 {
				t.Fatalf("negative seq from %q", s)
			}
			i := strings.Index(s, sentinelAck)
			if i < 0 {
				t.Fatalf("ack without sentinel in %q", s)
			}
			if p := sentinelLineRE.FindString(s); len(p) != i {
				t.Fatalf("ack sentinel not right after the prompts in %q", s)
			}
			rest := strings.TrimRight(s[i+len(sentinelAck):], "\r")
			if !strings.HasPrefix(rest, strings.SplitN(rest, ":", 2)[0]) {
				t.Fatalf("ack seq not at the sentinel in %q", s)
			}
			// Round trip: the fields re-printed parse the same.
			again := ParseLine(fmt.Sprintf("%s%d:%s:%s", sentinelAck, l.Seq, l.Subscript, l.Value))
			if again.Kind != LineAck || again.Seq != l.Seq || (l.Value != "" && again.Value != l.Value) {
				t.Fatalf("round trip of %q: %+v -> %+v", s, l, again)
			}
		case LineReadback:
			if l.Subscript == "" || strings.Contains(l.Subscript, ":") {
				t.Fatalf("bad subscript %q from %q", l.Subscript, s)
			}
		}
	})
}

func TestSort(t *testing.T) {
	lines := []Line{
		{Kind: LineReadback, Subscript: "1", Value: "01/14/2021 14:13:19 running on iris-6d8896d584-8lzn5"},
		{Kind: LineReadback, Subscript: "2", Value: "seq=5 run=old t=x host=h"},
		{Kind: LineReadback, Subscript: "3", Value: "seq=1 run=me t=x host=h"},
		{Kind: LineReadback, Subscript: "4", Value: "seq=3 run=me t=x host=h"},
		{Kind: LineReadback, Subscript: "5", Value: "seq=3 run=me t=y host=h"},
		{Kind: LineReadback, Subscript: "6", Value: "seq=9"},
		{Kind: LineReadbackEnd},
		{Kind: LineHello, Value: "x"},
	}
	rec := Sort(lines, "me")
	if fmt.Sprint(rec.Seqs) != "[1 3 3]" {
		t.Errorf("Seqs = %v, want [1 3 3] (duplicates kept for the checker)", rec.Seqs)
	}
	if len(rec.Extra) != 2 || !strings.HasPrefix(rec.Extra[0], "1=01/14/2021") || rec.Extra[1] != "6=seq=9" {
		t.Errorf("Extra = %q", rec.Extra)
	}
	if rec.Kind != "readback" || !strings.Contains(rec.Message, "1 of other runs") {
		t.Errorf("record = %+v", rec)
	}
}
