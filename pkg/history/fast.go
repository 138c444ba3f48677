package history

import (
	"bytes"
	"encoding/binary"
	"time"
	"unicode/utf8"
	"unsafe"
)

// The hand-written decoder for the lines a history is made of (ops and
// read-backs, millions of them in a long soak): one pass over the bytes, no
// reflection, strings shared between lines where they repeat. It accepts a
// strict subset of what the slow path accepts (no escapes in strings, times
// in UTC "Z" form, integers without exponent, only keys of the format, each
// once) and gives up (false) on anything else; the slow path then decodes the
// line, or names its error. So both paths agree on every line the fast one
// takes.

type fastParser struct {
	b    []byte
	i    int
	view bool
}

// intern shares repeated field values (kinds, results, pods, errors) between
// lines; bounded so a history of unique strings cannot grow it without end.
var internMax = 4096

type interner map[string]string

func (in interner) get(b []byte) string {
	if s, ok := in[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(in) < internMax {
		in[s] = s
	}
	return s
}

// decoder decodes lines; view: the long free-text fields may alias the line.
type decoder struct {
	in   interner
	view bool
}

func (d decoder) fast(b []byte, rec *Record, seen *uint32) bool {
	p := fastParser{b: b, view: d.view}
	in := d.in
	p.ws()
	if !p.eat('{') {
		return false
	}
	p.ws()
	if p.eat('}') {
		p.ws()
		return p.i == len(p.b)
	}
	for {
		p.ws()
		key, ok := p.str()
		if !ok {
			return false
		}
		bit := keyBit(key)
		if bit == 0 || *seen&bit != 0 || bit == fDuration || bit == fMeta || bit == fZones {
			return false
		}
		p.ws()
		if !p.eat(':') {
			return false
		}
		p.ws()
		if !p.value(rec, bit, in) {
			return false
		}
		*seen |= bit
		p.ws()
		if p.eat(',') {
			continue
		}
		if p.eat('}') {
			break
		}
		return false
	}
	p.ws()
	return p.i == len(p.b)
}

func (p *fastParser) value(r *Record, bit uint32, in interner) bool {
	switch bit {
	case fSeq:
		return p.int64(&r.Seq)
	case fStream, fAttempt:
		var v int64
		if !p.int64(&v) {
			return false
		}
		if bit == fStream {
			r.Stream = int(v)
		} else {
			r.Attempt = int(v)
		}
		return true
	case fInvoke, fComplete, fT, fEffectT:
		s, ok := p.str()
		if !ok {
			return false
		}
		t, ok := parseUTC(s)
		if !ok {
			return false
		}
		switch bit {
		case fInvoke:
			r.Invoke = t
		case fComplete:
			r.Complete = t
		case fT:
			r.T = t
		default:
			r.EffectT = t
		}
		return true
	case fSeqs:
		return p.int64s(&r.Seqs)
	case fExtra:
		if !p.eat('[') {
			return false
		}
		r.Extra = []string{}
		p.ws()
		if p.eat(']') {
			return true
		}
		for {
			p.ws()
			s, ok := p.str()
			if !ok {
				return false
			}
			r.Extra = append(r.Extra, string(s))
			p.ws()
			if p.eat(',') {
				continue
			}
			return p.eat(']')
		}
	}
	s, ok := p.str()
	if !ok {
		return false
	}
	switch bit {
	case fKind:
		r.Kind = constant(s, in)
	case fResult:
		r.Result = constant(s, in)
	case fValue:
		r.Value = p.text(s)
	case fPod:
		r.Pod = in.get(s)
	case fError:
		r.Error = in.get(s)
	case fName:
		r.Name = in.get(s)
	case fTarget:
		r.Target = in.get(s)
	case fSource:
		r.Source = in.get(s)
	case fPhase:
		r.Phase = in.get(s)
	case fReason:
		r.Reason = in.get(s)
	case fMessage:
		r.Message = p.text(s)
	case fNode:
		r.Node = in.get(s)
	case fProvider:
		r.Provider = in.get(s)
	case fRequest:
		r.Request = p.text(s)
	default:
		return false
	}
	return true
}

// text is a free-text field: a copy, or in view mode the line's own bytes.
func (p *fastParser) text(s []byte) string {
	if p.view && len(s) > 0 {
		return unsafe.String(&s[0], len(s))
	}
	return string(s)
}

func (p *fastParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\r', '\n':
			p.i++
		default:
			return
		}
	}
}

func (p *fastParser) eat(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// str reads a string without escapes and returns its bytes (aliasing the
// line). Control characters, escapes and invalid UTF-8 make it give up.
func (p *fastParser) str() ([]byte, bool) {
	if !p.eat('"') {
		return nil, false
	}
	start := p.i
	ascii := true
	b := p.b
	i := p.i
	// Eight bytes at a time while none is special: '"', '\\', a control
	// character or a non-ASCII byte.
	for ; i+8 <= len(b); i += 8 {
		if special(binary.LittleEndian.Uint64(b[i:])) {
			break
		}
	}
	for ; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '"':
			s := b[start:i]
			p.i = i + 1
			if !ascii && !utf8.Valid(s) {
				return nil, false
			}
			return s, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= 0x80:
			ascii = false
		}
	}
	return nil, false
}

const (
	lo7 = 0x0101010101010101
	hi  = 0x8080808080808080
)

// special reports whether one of x's bytes is '"', '\\', below 0x20 or
// 0x80 and above (SWAR; a false positive only sends the bytes to the loop
// that decides).
func special(x uint64) bool {
	hasZero := func(v uint64) uint64 { return (v - lo7) & ^v & hi }
	return (hasZero(x^(lo7*'"')) | hasZero(x^(lo7*'\\')) | ((x - lo7*0x20) &^ x & hi) | (x & hi)) != 0
}

// int64 reads a JSON integer of at most 18 digits (no fraction, no exponent).
func (p *fastParser) int64(v *int64) bool {
	neg := p.eat('-')
	start := p.i
	var n int64
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		n = n*10 + int64(p.b[p.i]-'0')
		p.i++
	}
	digits := p.i - start
	if digits == 0 || digits > 18 || (digits > 1 && p.b[start] == '0') {
		return false
	}
	if p.i < len(p.b) {
		switch p.b[p.i] {
		case '.', 'e', 'E':
			return false
		}
	}
	if neg {
		n = -n
	}
	*v = n
	return true
}

func (p *fastParser) int64s(out *[]int64) bool {
	if !p.eat('[') {
		return false
	}
	n := 16
	if end := bytes.IndexByte(p.b[p.i:], ']'); end > 0 {
		n = bytes.Count(p.b[p.i:p.i+end], []byte{','}) + 1 // sized once: a read-back holds millions
	}
	s := make([]int64, 0, n)
	p.ws()
	if p.eat(']') {
		*out = s
		return true
	}
	for {
		p.ws()
		var v int64
		if !p.int64(&v) {
			return false
		}
		s = append(s, v)
		p.ws()
		if p.eat(',') {
			continue
		}
		if !p.eat(']') {
			return false
		}
		*out = s
		return true
	}
}

// parseUTC parses RFC 3339 in its UTC form, "2006-01-02T15:04:05Z" with an
// optional fraction of 1 to 9 digits, checking every range as time.Parse
// does. Other forms (offsets, lower-case letters) are left to time.Parse.
func parseUTC(b []byte) (time.Time, bool) {
	if len(b) < 20 || b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' || b[len(b)-1] != 'Z' {
		return time.Time{}, false
	}
	num := func(s []byte) (int, bool) {
		n := 0
		for _, c := range s {
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	y, ok1 := num(b[0:4])
	mo, ok2 := num(b[5:7])
	d, ok3 := num(b[8:10])
	h, ok4 := num(b[11:13])
	mi, ok5 := num(b[14:16])
	s, ok6 := num(b[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || mo < 1 || mo > 12 || d < 1 || d > daysIn(mo, y) || h > 23 || mi > 59 || s > 59 {
		return time.Time{}, false
	}
	ns := 0
	if frac := b[19 : len(b)-1]; len(frac) > 0 {
		if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 {
			return time.Time{}, false
		}
		n, ok := num(frac[1:])
		if !ok {
			return time.Time{}, false
		}
		for k := len(frac) - 1; k < 9; k++ {
			n *= 10
		}
		ns = n
	}
	return time.Date(y, time.Month(mo), d, h, mi, s, ns, time.UTC), true
}

func daysIn(m, y int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// constant returns the kinds' and results' constants without a lookup.
func constant(s []byte, in interner) string {
	switch string(s) {
	case KindOp:
		return KindOp
	case OK:
		return OK
	case Info:
		return Info
	case Fail:
		return Fail
	case KindEvent:
		return KindEvent
	}
	return in.get(s)
}

// keyBit is keys[string(b)], the common keys without hashing.
func keyBit(b []byte) uint32 {
	switch string(b) {
	case "kind":
		return fKind
	case "seq":
		return fSeq
	case "invoke":
		return fInvoke
	case "complete":
		return fComplete
	case "result":
		return fResult
	case "stream":
		return fStream
	case "value":
		return fValue
	case "pod":
		return fPod
	case "node": // every op's, as of the split-brain check
		return fNode
	case "error":
		return fError
	case "attempt":
		return fAttempt
	case "t":
		return fT
	case "seqs":
		return fSeqs
	}
	return keys[string(b)]
}
