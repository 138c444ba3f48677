package instance

import (
	"encoding/binary"
	"fmt"
	"io"
)

// The client opens a connection with one JSON line (hello); for a session
// the raw bytes of its standard input follow, and it half-closes at the end
// of its input. The daemon answers with frames: a type byte, a big-endian
// uint32 length and the payload.
const (
	frameOut  byte = 'o' // session output
	frameExit byte = 'x' // payload: the exit code as one byte; last frame
)

type hello struct {
	Op        string `json:"op"` // session, stop, ping
	Namespace string `json:"ns,omitempty"`
	Command   string `json:"cmd,omitempty"`
	HasCmd    bool   `json:"hasCmd,omitempty"`
}

// frameWriter turns each Write into one output frame.
type frameWriter struct{ w io.Writer }

func (f frameWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if err := writeFrame(f.w, frameOut, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func writeFrame(w io.Writer, typ byte, p []byte) error {
	b := make([]byte, 5+len(p))
	b[0] = typ
	binary.BigEndian.PutUint32(b[1:], uint32(len(p)))
	copy(b[5:], p)
	_, err := w.Write(b)
	return err
}

const maxFrame = 16 << 20

// readFrame reads one frame into buf (grown as needed).
func readFrame(r io.Reader, buf []byte) (byte, []byte, error) {
	var h [5]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(h[1:])
	if n > maxFrame {
		return 0, nil, fmt.Errorf("protocol error: frame of %d bytes", n)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		return 0, nil, err
	}
	return h[0], buf, nil
}
