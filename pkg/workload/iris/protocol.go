package iris

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// The client never scrapes prompts: every command it sends ends by writing a
// sentinel line, found at the start of a line after whatever prompt IRIS
// printed before it (`USER>`, `TL1:USER>`, `USER 1d0>`). The command lines
// never contain a sentinel literally (it is concatenated at run time, see
// lit): real IRIS answers an error by echoing the whole offending source
// line, a caret line and $ZERROR, and an echoed line that carried
// "##ACK:" would read as an acknowledgement of a write that failed.
const (
	sentinelAck    = "##ACK:"   // ##ACK:<seq>:<subscript>:<value>
	sentinelErr    = "##ERR:"   // ##ERR:<seq>:<$ZERROR>, the write's CATCH
	sentinelRB     = "##RB:"    // ##RB:<subscript>:<value>
	sentinelRBEnd  = "##RBEND"  // end of a read-back
	sentinelHello  = "##HELLO:" // ##HELLO:<$zv>, a session answering
	sentinelZV     = "##ZV:"    // ##ZV:<$zv>
	sentinelValue  = "##VAL:"   // ##VAL:<name>:<value>, a probe's answer (Commands.Value)
	defaultGlobal  = "^k8stest"
	markerKeyword  = "seq="
	markerRunField = "run="
)

// What IRIS prints instead of a prompt when it will not run commands.
const (
	// licenseLimit is IRIS's error when no license unit is free for a new
	// process: Community Edition has few, each session takes one and IRIS
	// releases it about a second after the session ends.
	licenseLimit = "<LICENSE LIMIT EXCEEDED>"
	// licenseRelease is how long after a session ends IRIS frees its
	// license unit: retrying a refused session sooner is refused again.
	licenseRelease = time.Second
	// loginPrompt is printed (without a newline) when the terminal service
	// requires a password: nothing the client sends will run.
	loginPrompt = "Username:"
)

// lit is the ObjectScript expression that evaluates to sentinel s without
// containing it: "#"_"#ACK:".
func lit(s string) string { return `"` + s[:1] + `"_"` + s[1:] + `"` }

// LineKind says what a line of session output is.
type LineKind int

// Kinds of output line.
const (
	LineOther       LineKind = iota // prompt, banner, echoed source, caret: ignored
	LineAck                         // a write's acknowledgement
	LineReadback                    // one marker read back
	LineReadbackEnd                 // the read-back loop finished
	LineHello                       // the session answered (carries $zv)
	LineIdentity                    // $zv
	LineError                       // an ObjectScript error such as <UNDEFINED>; Seq > 0 when a write's CATCH reported it
	LineLicense                     // <LICENSE LIMIT EXCEEDED>: IRIS refused the session
	LineLogin                       // a Username: prompt: IRIS wants a password
	LineValue                       // a named value (Commands.Value): Subscript the name, Value the value
)

// Line is one parsed line of session output.
type Line struct {
	Kind      LineKind
	Seq       int64  // LineAck, LineError from a write: the harness's sequence number
	Subscript string // LineAck, LineReadback: the marker's subscript in the global
	Value     string // LineAck, LineReadback: the marker's value; LineHello, LineIdentity: $zv; LineError: the error text
}

// promptRE is what may precede a sentinel or an error on its line: any
// number of prompts such as `USER>`, `%SYS>`, `TL1:USER>`, `USER 1d0>`.
const promptRE = `^(?:(?:TL\d+:)?[%\w.-]+(?: \d+d\d+)?>\s*)*`

// errorRE matches an ObjectScript error as a session prints it (the third
// line of IRIS's echo, source, caret): `<UNDEFINED> *x`, `USER><SYNTAX>`.
var errorRE = regexp.MustCompile(promptRE + `(<[A-Z][A-Z0-9 _-]*>.*)$`)

// sentinelLineRE splits a line into the prompts and what follows them.
var sentinelLineRE = regexp.MustCompile(promptRE)

// ParseLine classifies one line of output (without its newline). It never
// fails: anything it does not recognise is LineOther. Sentinels count only at
// the start of the line after optional prompts, never inside echoed source.
func ParseLine(s string) Line {
	s = strings.TrimRight(s, "\r")
	body := s[len(sentinelLineRE.FindString(s)):]
	if !strings.HasPrefix(body, "##") {
		return parseNonSentinel(body, s)
	}
	if rest, ok := strings.CutPrefix(body, sentinelAck); ok {
		seq, rest, ok := cutSeq(rest)
		if !ok {
			return Line{Kind: LineOther}
		}
		sub, val, _ := strings.Cut(rest, ":")
		return Line{Kind: LineAck, Seq: seq, Subscript: sub, Value: val}
	}
	if rest, ok := strings.CutPrefix(body, sentinelErr); ok {
		seq, rest, ok := cutSeq(rest)
		if !ok || seq == 0 {
			return Line{Kind: LineOther}
		}
		return Line{Kind: LineError, Seq: seq, Value: strings.TrimSpace(rest)}
	}
	if strings.HasPrefix(body, sentinelRBEnd) {
		return Line{Kind: LineReadbackEnd}
	}
	if rest, ok := strings.CutPrefix(body, sentinelRB); ok {
		sub, val, ok := strings.Cut(rest, ":")
		if !ok || sub == "" {
			return Line{Kind: LineOther}
		}
		return Line{Kind: LineReadback, Subscript: sub, Value: val}
	}
	if rest, ok := strings.CutPrefix(body, sentinelHello); ok {
		return Line{Kind: LineHello, Value: rest}
	}
	if rest, ok := strings.CutPrefix(body, sentinelZV); ok {
		return Line{Kind: LineIdentity, Value: rest}
	}
	if rest, ok := strings.CutPrefix(body, sentinelValue); ok {
		name, val, ok := strings.Cut(rest, ":")
		if !ok || name == "" {
			return Line{Kind: LineOther}
		}
		return Line{Kind: LineValue, Subscript: name, Value: val}
	}
	return Line{Kind: LineOther}
}

// cutSeq reads the sequence number that starts s, up to the next colon.
func cutSeq(s string) (int64, string, bool) {
	text, rest, _ := strings.Cut(s, ":")
	seq, err := strconv.ParseInt(text, 10, 64)
	if err != nil || seq < 0 {
		return 0, "", false
	}
	return seq, rest, true
}

// parseNonSentinel classifies a line without a sentinel: IRIS's refusals
// and errors.
func parseNonSentinel(body, s string) Line {
	t := strings.TrimSpace(body)
	switch {
	case strings.Contains(t, licenseLimit):
		// Anywhere in the line: no line the client sends contains it, and
		// IRIS may put a location or a message around it.
		return Line{Kind: LineLicense, Value: t}
	case strings.HasPrefix(strings.TrimSpace(s), loginPrompt):
		return Line{Kind: LineLogin, Value: strings.TrimSpace(s)}
	}
	if m := errorRE.FindStringSubmatch(s); m != nil {
		return Line{Kind: LineError, Value: strings.TrimSpace(m[1])}
	}
	return Line{Kind: LineOther}
}

// IsLoginPrompt reports whether partial output that has not ended its line
// yet is IRIS asking for a username (it waits for input after it).
func IsLoginPrompt(partial string) bool {
	return strings.HasPrefix(strings.TrimSpace(partial), loginPrompt)
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
// the 2 s journal cycle. The ack is built in full before it is written, so
// an error part-way never leaves half an ack; the CATCH turns any error of
// the write into an error line carrying seq.
func (c Commands) Write(seq int64) string {
	g := c.global()
	return fmt.Sprintf(`try { set k=$i(%s),%s(k)="seq=%d run=%s t="_$zdt($zts,3,1,6)_" host="_$system.INetInfo.LocalHostName(),a=%s_"%d:"_k_":"_%s(k) write a,! } catch { write !,%s_"%d:",$zerror,! }`,
		g, g, seq, c.Run, lit(sentinelAck), seq, g, lit(sentinelErr), seq)
}

// Hello is the line a freshly opened session answers first: proof that the
// database takes commands, and its identity.
func (c Commands) Hello() string {
	return `write ` + lit(sentinelHello) + `,$zv,!`
}

// Identity writes $zv.
func (c Commands) Identity() string {
	return `write ` + lit(sentinelZV) + `,$zv,!`
}

// Value is the line that writes ObjectScript expression expr as the value
// named name (letters and digits), for probes that read one thing at a time.
func (c Commands) Value(name, expr string) string {
	return `write ` + lit(sentinelValue) + `,"` + name + `:",` + expr + `,!`
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
	return fmt.Sprintf(`set k=%s for  set k=$order(%s(k)) quit:k=""  write %s,k,":",%s(k),!`, start, g, lit(sentinelRB), g) +
		"\n" + `write ` + lit(sentinelRBEnd) + `,!`
}
