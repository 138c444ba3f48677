package engine

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
)

// Journal record operations.
const (
	opSet       byte = 1
	opKill      byte = 2
	opTStart    byte = 3
	opTCommit   byte = 4
	opTRollback byte = 5
	opZKill     byte = 6 // remove a node's value only, keep its descendants

	// Database file only.
	opHeader byte = 0x10 // tid = journal generation the file continues with
	opUndo   byte = 0x11 // undo entry of an open transaction; value = had flag + old value
	opEnd    byte = 0x1f // tid = number of records before it
)

// record is one journaled update. tid is the transaction it belongs to, 0
// outside transactions (and for $increment, which a rollback never undoes).
type record struct {
	op     byte
	tid    uint64
	global string
	subs   []string
	value  string
}

// Framing: every record is [length uint32][crc32 uint32][payload], so a record
// torn by a crash during a write is detected (short, or checksum mismatch).
const frameHeader = 8

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// appendRecord appends r, framed, to b.
func appendRecord(b []byte, r *record) []byte {
	start := len(b)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0)
	b = append(b, r.op)
	b = binary.AppendUvarint(b, r.tid)
	b = appendString(b, r.global)
	b = binary.AppendUvarint(b, uint64(len(r.subs)))
	for _, s := range r.subs {
		b = appendString(b, s)
	}
	b = appendString(b, r.value)
	payload := b[start+frameHeader:]
	binary.LittleEndian.PutUint32(b[start:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(b[start+4:], crc32.Checksum(payload, castagnoli))
	return b
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errTorn = errors.New("torn or corrupt record")

// readRecord decodes the record at the start of b and returns its framed
// size. errTorn means b holds no complete, intact record.
func readRecord(b []byte) (record, int, error) {
	var r record
	if len(b) < frameHeader {
		return r, 0, errTorn
	}
	n := int(binary.LittleEndian.Uint32(b))
	if n < 1 || n > len(b)-frameHeader {
		return r, 0, errTorn
	}
	payload := b[frameHeader : frameHeader+n]
	if crc32.Checksum(payload, castagnoli) != binary.LittleEndian.Uint32(b[4:]) {
		return r, 0, errTorn
	}
	d := decoder{b: payload}
	r.op = d.byte()
	r.tid = d.uvarint()
	r.global = d.string()
	ns := d.uvarint()
	if ns > uint64(len(payload)) {
		return r, 0, errTorn
	}
	if ns > 0 {
		r.subs = make([]string, ns)
		for i := range r.subs {
			r.subs[i] = d.string()
		}
	}
	r.value = d.string()
	if d.err != nil || d.i != len(payload) {
		return r, 0, errTorn
	}
	return r, frameHeader + n, nil
}

// decoder reads the payload encoding; the first error sticks.
type decoder struct {
	b   []byte
	i   int
	err error
}

func (d *decoder) byte() byte {
	if d.err != nil || d.i >= len(d.b) {
		d.err = errTorn
		return 0
	}
	d.i++
	return d.b[d.i-1]
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b[d.i:])
	if n <= 0 {
		d.err = errTorn
		return 0
	}
	d.i += n
	return v
}

func (d *decoder) string() string {
	n := d.uvarint()
	if d.err != nil || n > uint64(len(d.b)-d.i) {
		d.err = errTorn
		return ""
	}
	s := string(d.b[d.i : d.i+int(n)])
	d.i += int(n)
	return s
}
