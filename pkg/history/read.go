package history

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// Scan reads a JSONL history from r and calls fn with every record and its
// 1-based line number, in file order. rec is reused from call to call: fn
// must copy what it keeps. There is no limit on a line's length (a
// read-back of millions of markers is one line). The schema is strict (see
// docs/history.md): keys are case-sensitive, a key repeated in one object is
// an error, required fields are required; unknown keys are ignored and
// records of an unknown kind are passed on (the checker reports them). Every
// error names its line; an error returned by fn stops the scan and is
// returned as is.
func Scan(r io.Reader, fn func(line int, rec *Record) error) error {
	return scan(r, fn, false)
}

// ScanView is Scan without a copy of the long free-text fields: rec's
// Value, Message and Request may alias the reader's buffer and are valid
// only during the call (Record.Clone makes a record that owns them). For
// readers of millions of records that keep none of those strings, such as
// the checker's Evidence.
func ScanView(r io.Reader, fn func(line int, rec *Record) error) error {
	return scan(r, fn, true)
}

func scan(r io.Reader, fn func(line int, rec *Record) error, view bool) error {
	br := bufio.NewReaderSize(r, 256*1024)
	var rec Record
	d := decoder{in: interner{}, view: view}
	var long []byte // a line longer than the reader's buffer
	line := 0
	for {
		b, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long[:0], b...)
			for errors.Is(err, bufio.ErrBufferFull) {
				b, err = br.ReadSlice('\n')
				long = append(long, b...)
			}
			b = long
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("line %d: %w", line+1, err)
		}
		if len(b) > 0 {
			line++
			if t := trimSpace(bytes.TrimSuffix(b, []byte("\n"))); len(t) > 0 {
				if derr := d.line(t, &rec); derr != nil {
					return fmt.Errorf("line %d: %w", line, derr)
				}
				if ferr := fn(line, &rec); ferr != nil {
					return ferr
				}
			}
		}
		if err == io.EOF {
			return nil
		}
	}
}

// Clone is a copy of r that owns all its strings and slices (a record from
// ScanView may alias the reader's buffer).
func (r *Record) Clone() Record {
	c := *r
	c.Value, c.Message, c.Request = strings.Clone(r.Value), strings.Clone(r.Message), strings.Clone(r.Request)
	return c
}

// ScanFile is Scan over a file; "-" is standard input. Errors name the file.
func ScanFile(path string, fn func(line int, rec *Record) error) error {
	return scanFile(path, fn, false)
}

// ScanFileView is ScanView over a file; "-" is standard input.
func ScanFileView(path string, fn func(line int, rec *Record) error) error {
	return scanFile(path, fn, true)
}

func scanFile(path string, fn func(line int, rec *Record) error, view bool) error {
	var r io.Reader = os.Stdin
	name := "standard input"
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("open history: %w", err)
		}
		defer f.Close()
		r, name = f, path
	}
	if err := scan(r, fn, view); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// Read parses a whole JSONL history into memory (see Scan for the schema).
func Read(r io.Reader) ([]Record, error) {
	var out []Record
	err := Scan(r, func(_ int, rec *Record) error {
		out = append(out, *rec)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ReadFile reads a history file into memory; "-" is standard input. Errors
// name the file.
func ReadFile(path string) ([]Record, error) {
	var out []Record
	err := ScanFile(path, func(_ int, rec *Record) error {
		out = append(out, *rec)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// KnownKind reports whether kind is one this version of the format defines.
func KnownKind(kind string) bool {
	switch kind {
	case KindOp, KindFault, KindReadback, KindEvent, KindHeal, KindCloudCall, KindMeta, KindNote:
		return true
	}
	return false
}

// Field bits: which keys a line carried.
const (
	fKind = 1 << iota
	fSeq
	fInvoke
	fComplete
	fResult
	fStream
	fValue
	fPod
	fError
	fAttempt
	fT
	fEffectT
	fName
	fTarget
	fSeqs
	fExtra
	fSource
	fPhase
	fReason
	fMessage
	fNode
	fProvider
	fRequest
	fDuration
	fMeta
	fZones
)

// keys maps every key of the format to its bit.
var keys = map[string]uint32{
	"kind": fKind, "seq": fSeq, "invoke": fInvoke, "complete": fComplete, "result": fResult,
	"stream": fStream, "value": fValue, "pod": fPod, "error": fError, "attempt": fAttempt,
	"t": fT, "effect_t": fEffectT, "name": fName, "target": fTarget, "seqs": fSeqs, "extra": fExtra,
	"source": fSource, "phase": fPhase, "reason": fReason, "message": fMessage, "node": fNode,
	"provider": fProvider, "request": fRequest, "duration_seconds": fDuration, "meta": fMeta,
	"zones": fZones,
}

// required lists, per kind, the keys a record must carry (not null): what
// the checker cannot do without. Other kinds need only "kind".
var required = map[string][]string{
	KindOp:       {"seq", "invoke", "complete", "result"},
	KindFault:    {"t"},
	KindReadback: {"t"},
}

// line decodes one non-blank line into rec (reset first). The common
// records (ops, read-backs) take a hand-written path over the bytes; any
// line it does not fully understand is decoded again by the strict slow path,
// which gives the error if there is one.
func (d decoder) line(b []byte, rec *Record) error {
	*rec = Record{}
	var seen uint32
	if ok := d.fast(b, rec, &seen); !ok {
		*rec = Record{}
		seen = 0
		if err := slowDecode(b, rec, &seen); err != nil {
			return err
		}
	}
	if seen&fKind == 0 || rec.Kind == "" {
		return errors.New(`record has no "kind"`)
	}
	for _, k := range required[rec.Kind] {
		if seen&keys[k] == 0 {
			return fmt.Errorf("%s record has no %q (required)", rec.Kind, k)
		}
	}
	return nil
}

// slowDecode is the strict reference decoder: encoding/json per field, keys
// matched exactly (encoding/json alone would match "Seq" to "seq").
func slowDecode(b []byte, rec *Record, seen *uint32) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("a record is a JSON object, not %v", tok)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("key %q: %w", key, err)
		}
		bit, known := keys[key]
		if !known {
			for k := range keys {
				if strings.EqualFold(k, key) { // as encoding/json would match it (Kelvin sign and long s included)
					return fmt.Errorf("key %q: keys are case-sensitive (did you mean %q?)", key, k)
				}
			}
			continue // a field from a newer format: ignored
		}
		if *seen&bit != 0 {
			return fmt.Errorf("key %q appears twice", key)
		}
		if string(raw) == "null" {
			continue // as absent
		}
		*seen |= bit
		if err := json.Unmarshal(raw, fieldOf(rec, bit)); err != nil {
			return fmt.Errorf("key %q: %w", key, err)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("more than one JSON value on the line")
	}
	return nil
}

func fieldOf(r *Record, bit uint32) any {
	switch bit {
	case fKind:
		return &r.Kind
	case fSeq:
		return &r.Seq
	case fInvoke:
		return &r.Invoke
	case fComplete:
		return &r.Complete
	case fResult:
		return &r.Result
	case fStream:
		return &r.Stream
	case fValue:
		return &r.Value
	case fPod:
		return &r.Pod
	case fError:
		return &r.Error
	case fAttempt:
		return &r.Attempt
	case fT:
		return &r.T
	case fEffectT:
		return &r.EffectT
	case fName:
		return &r.Name
	case fTarget:
		return &r.Target
	case fSeqs:
		return &r.Seqs
	case fExtra:
		return &r.Extra
	case fSource:
		return &r.Source
	case fPhase:
		return &r.Phase
	case fReason:
		return &r.Reason
	case fMessage:
		return &r.Message
	case fNode:
		return &r.Node
	case fProvider:
		return &r.Provider
	case fRequest:
		return &r.Request
	case fDuration:
		return &r.Duration
	case fMeta:
		return &r.Meta
	case fZones:
		return &r.Zones
	}
	panic("history: no field for key bit")
}
