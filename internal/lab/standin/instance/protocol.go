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

// frameWriter turns each Write into one output frame, written with one
// write call (one syscall per flushed batch of output). It reuses its
// buffer: a session flushes once per acknowledged line.
type frameWriter struct {
	w   io.Writer
	buf []byte
}

func (f *frameWriter) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	f.buf = appendFrame(f.buf[:0], frameOut, p)
	if _, err := f.w.Write(f.buf); err != nil {
		return 0, err
	}
	return len(p), nil
}

func appendFrame(b []byte, typ byte, p []byte) []byte {
	b = append(b, typ, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(b[len(b)-4:], uint32(len(p)))
	return append(b, p...)
}

func writeFrame(w io.Writer, typ byte, p []byte) error {
	_, err := w.Write(appendFrame(make([]byte, 0, 5+len(p)), typ, p))
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
