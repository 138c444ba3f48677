package objectscript

import (
	"bufio"
	"context"
	"errors"
	"io"
	"strconv"
	"strings"
)

// MaxLine is the longest command line a session accepts.
const MaxLine = 1 << 20

// Run is the terminal loop of `iris session`: it prints the banner and a
// prompt ("USER>", "TL1:USER>" in a transaction), reads one line at a time
// from r, runs it, prints errors ("<UNDEFINED> *x" on its own line; with
// Strict, after the echoed source line and a caret line, as IRIS) and goes on, until HALT or
// the end of input. Output is buffered and flushed whenever no further input
// is already buffered, so a pipelined client gets batched output and an
// interactive one gets its answer at once. banner is the text printed
// before the first prompt.
func Run(ctx context.Context, in *Interp, r *bufio.Reader, banner string) error {
	in.emit(banner)
	for {
		if in.x > 0 {
			in.emit("\n")
		}
		if tl := in.sess.TLevel(); tl > 0 && in.Strict {
			in.emit("TL" + strconv.Itoa(tl) + ":")
		}
		in.emit(in.namespace)
		in.emit(">")
		if r.Buffered() == 0 {
			if err := in.out.Flush(); err != nil {
				return err
			}
		}
		line, tooLong, err := readLine(r)
		if err != nil {
			in.out.Flush()
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if tooLong {
			in.printErr("", &Error{Code: "MAXSTRING"})
			continue
		}
		err = in.Exec(ctx, line)
		var oe *Error
		switch {
		case err == nil:
		case errors.Is(err, ErrHalt):
			if in.x > 0 {
				in.emit("\n")
			}
			return in.out.Flush()
		case errors.As(err, &oe):
			in.printErr(line, oe)
		default:
			in.out.Flush()
			return err
		}
	}
}

// printErr prints an error on its own line; in Strict mode first the
// offending source line and a caret under the failing command, as IRIS's
// terminal does.
func (in *Interp) printErr(line string, e *Error) {
	if in.x > 0 {
		in.emit("\n")
	}
	if in.Strict && line != "" {
		in.emit(line + "\n" + strings.Repeat(" ", min(in.errCol, len(line))) + "^\n")
	}
	in.emit(e.Error() + "\n")
}

// readLine reads one line without its newline; a line longer than MaxLine
// is consumed and reported as tooLong. A last line without a newline counts.
func readLine(r *bufio.Reader) (line string, tooLong bool, err error) {
	var buf []byte
	for {
		chunk, err := r.ReadSlice('\n')
		if err == nil && buf == nil {
			return trimEOL(chunk), len(chunk) > MaxLine, nil // the usual case: one copy
		}
		if len(buf)+len(chunk) <= MaxLine {
			buf = append(buf, chunk...)
		} else {
			tooLong = true
		}
		switch {
		case err == nil:
			return trimEOL(buf), tooLong, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(buf) > 0:
			return trimEOL(buf), tooLong, nil
		default:
			return "", false, err
		}
	}
}

func trimEOL(b []byte) string {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return string(b)
}
