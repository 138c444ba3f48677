package iris

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// The client never scrapes prompts: every command it sends ends by writing a
// sentinel line it can find anywhere in the output, after whatever prompt
// (`USER>`, `USER 1d0>`) or banner IRIS prints before it.
const (
	sentinelAck    = "##ACK:"   // ##ACK:<seq>:<subscript>:<value>
	sentinelRB     = "##RB:"    // ##RB:<subscript>:<value>
	sentinelRBEnd  = "##RBEND"  // end of a read-back
	sentinelHello  = "##HELLO:" // ##HELLO:<$zv>, a session answering
	sentinelZV     = "##ZV:"    // ##ZV:<$zv>
	defaultGlobal  = "^k8stest"
	markerKeyword  = "seq="
	markerRunField = "run="
)

// LineKind says what a line of session output is.
type LineKind int

// Kinds of output line.
const (
	LineOther       LineKind = iota // prompt, banner, echo: ignored
	LineAck                         // a write's acknowledgement
	LineReadback                    // one marker read back
	LineReadbackEnd                 // the read-back loop finished
	LineHello                       // the session answered (carries $zv)
	LineIdentity                    // $zv
	LineError                       // an ObjectScript error such as <UNDEFINED>
)

// Line is one parsed line of session output.
type Line struct {
	Kind      LineKind
	Seq       int64  // LineAck: the harness's sequence number
	Subscript string // LineAck, LineReadback: the marker's subscript in the global
	Value     string // LineAck, LineReadback: the marker's value; LineHello, LineIdentity: $zv; LineError: the error text
}

// errorRE matches an ObjectScript error as a session prints it, after an
// optional prompt: `<UNDEFINED>x`, `USER 1d0><SYNTAX>`.
var errorRE = regexp.MustCompile(`^(?:[%\w.-]+(?: \d+\w*)?>\s*)*(<[A-Z][A-Z0-9 _-]*>.*)$`)

// ParseLine classifies one line of output (without its newline). It never
// fails: anything it does not recognise is LineOther.
func ParseLine(s string) Line {
	s = strings.TrimRight(s, "\r")
	if i := strings.Index(s, sentinelAck); i >= 0 {
		rest := s[i+len(sentinelAck):]
		seqText, rest, _ := strings.Cut(rest, ":")
		seq, err := strconv.ParseInt(seqText, 10, 64)
		if err != nil || seq < 0 {
			return Line{Kind: LineOther}
		}
		sub, val, _ := strings.Cut(rest, ":")
		return Line{Kind: LineAck, Seq: seq, Subscript: sub, Value: val}
	}
	if i := strings.Index(s, sentinelRBEnd); i >= 0 {
		return Line{Kind: LineReadbackEnd}
	}
	if i := strings.Index(s, sentinelRB); i >= 0 {
		rest := s[i+len(sentinelRB):]
		sub, val, ok := strings.Cut(rest, ":")
		if !ok || sub == "" {
			return Line{Kind: LineOther}
		}
		return Line{Kind: LineReadback, Subscript: sub, Value: val}
	}
	if i := strings.Index(s, sentinelHello); i >= 0 {
		return Line{Kind: LineHello, Value: s[i+len(sentinelHello):]}
	}
	if i := strings.Index(s, sentinelZV); i >= 0 {
		return Line{Kind: LineIdentity, Value: s[i+len(sentinelZV):]}
	}
	if m := errorRE.FindStringSubmatch(s); m != nil {
		return Line{Kind: LineError, Value: strings.TrimSpace(m[1])}
	}
	return Line{Kind: LineOther}
}

// Marker is what a marker's value says about itself.
type Marker struct {
	Seq int64
	Run string // the run that wrote it; empty for markers from elsewhere
}

// ParseMarker reads the sequence number and run id out of a marker value
// such as `seq=42 run=r1 t=2026-11-27 10:15:03.123456 host=iris-0`. ok is
// false when the value carries no sequence number (e.g. a marker written by
// hand the seed's way: `01/14/2021 14:13:19 running on iris-...`).
func ParseMarker(v string) (m Marker, ok bool) {
	for f := range strings.FieldsSeq(v) {
		switch {
		case strings.HasPrefix(f, markerKeyword) && !ok:
			n, err := strconv.ParseInt(f[len(markerKeyword):], 10, 64)
			if err != nil || n < 0 {
				return Marker{}, false
			}
			m.Seq, ok = n, true
		case strings.HasPrefix(f, markerRunField) && m.Run == "":
			m.Run = f[len(markerRunField):]
		}
	}
	return m, ok
}

// Commands builds the ObjectScript lines the client sends. Global is the
// marker global (default ^k8stest), Run the id every marker carries so that a
// read-back can tell this run's markers from earlier runs on the same volume.
type Commands struct {
	Global string
	Run    string
}

func (c Commands) global() string {
	if c.Global == "" {
		return defaultGlobal
	}
	return c.Global
}

// Write is the line that writes marker seq in the seed's shape
// ^k8stest($i(^k8stest)) and acknowledges it with the subscript and the value
// as stored. $zts is UTC with microseconds, so markers order to well below
// the 2 s journal cycle.
func (c Commands) Write(seq int64) string {
	g := c.global()
	return fmt.Sprintf(`set k=$i(%s),%s(k)="seq=%d run=%s t="_$zdt($zts,3,1,6)_" host="_$system.INetInfo.LocalHostName() write "%s%d:",k,":",%s(k),!`,
		g, g, seq, c.Run, sentinelAck, seq, g)
}

// Hello is the line a freshly opened session answers first: proof that the
// database takes commands, and its identity.
func (c Commands) Hello() string {
	return `write "` + sentinelHello + `",$zv,!`
}

// Identity writes $zv.
func (c Commands) Identity() string {
	return `write "` + sentinelZV + `",$zv,!`
}

// ReadBack lists every marker after subscript from ("" = all) in subscript
// order, then the end sentinel.
func (c Commands) ReadBack(from string) string {
	g := c.global()
	start := `""`
	if from != "" {
		start = from
		if _, err := strconv.ParseFloat(from, 64); err != nil {
			start = `"` + strings.ReplaceAll(from, `"`, `""`) + `"`
		}
	}
	return fmt.Sprintf(`set k=%s for  set k=$order(%s(k)) quit:k=""  write "%s",k,":",%s(k),!`, start, g, sentinelRB, g) +
		"\n" + `write "` + sentinelRBEnd + `",!`
}
