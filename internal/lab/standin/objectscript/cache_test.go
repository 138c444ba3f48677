package objectscript

import (
	"bufio"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/irischaos/irischaos/internal/lab/standin/engine"
)

// TestParseCache runs line sequences through a process with the parse cache
// and one without: the output must be the same, and lines of one shape
// must reuse one tree.
func TestParseCache(t *testing.T) {
	time.Local = time.UTC
	tests := []struct {
		name   string
		lines  []string
		shapes int // cached shapes at the end
	}{
		{"marker probe", []string{
			`set ^k8stest($i(^k8stest))="seq=1 t="_$zdt($zts,3,1,6)_" host="_$system.INetInfo.LocalHostName() write "##ACK:1:",^k8stest,!`,
			`set ^k8stest($i(^k8stest))="seq=22 t="_$zdt($zts,3,1,6)_" host="_$system.INetInfo.LocalHostName() write "##ACK:22:",^k8stest,!`,
			`set ^k8stest($i(^k8stest))="seq=333 t="_$zdt($zts,3,1,6)_" host="_$system.INetInfo.LocalHostName() write "##ACK:333:",^k8stest,!`,
			`zw ^k8stest`,
		}, 2},
		{"escaped quotes and empty literals", []string{
			`w "a""b","",!`, `w "","x""""y",!`, `w """","",!`,
		}, 1},
		{"literal as subscript and operand", []string{
			`s x("a")=1,x("b")=2 w $d(x("a")),$d(x("c")),!`,
			`s x("c")=1,x("d")=2 w $d(x("c")),$d(x("e")),!`,
			`w "5"+"6","7"="7",!`, `w "x"+"6","7"="8",!`,
		}, 2},
		{"quotes in a comment are not cached", []string{
			`w "a",! ; say "hi"`, `w "b",! ; say "ho"`,
		}, 0},
		{"tstart with a quoted list is not cached", []string{
			`tstart ("x") w "1",! tcommit`, `tstart ("y") w "2",! tcommit`,
		}, 0},
		{"syntax errors are not cached", []string{
			`w "a`, `w "a"b"`, `w "a"b"`, `w "ok",!`,
		}, 1},
		{"numbers outside literals are part of the shape", []string{
			`w 1+2,"x",!`, `w 3+4,"y",!`, `w 1+2,"z",!`,
		}, 2},
		{"class lookalike in a literal", []string{
			`w "##class(x)",!`, `w "##Class(%SYSTEM.Version).GetVersion()",!`,
		}, 1},
	}
	run := func(cache bool, lines []string) (string, *Interp) {
		var sb strings.Builder
		w := bufio.NewWriter(&sb)
		in := New(engine.Memory(), "USER", w)
		in.Now = func() time.Time { return fixedNow }
		in.Hostname = "h"
		if !cache {
			in.shapes = nil
		}
		for _, l := range lines {
			if err := in.Exec(context.Background(), l); err != nil {
				var oe *Error
				if !asError(err, &oe) {
					t.Fatalf("%q: %v", l, err)
				}
				in.printErr(l, oe)
			}
		}
		w.Flush()
		return sb.String(), in
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, _ := run(false, tt.lines)
			got, in := run(true, tt.lines)
			if got != want {
				t.Errorf("with the parse cache:\n%s\nwithout:\n%s", got, want)
			}
			if len(in.shapes) != tt.shapes {
				t.Errorf("%d shapes cached, want %d", len(in.shapes), tt.shapes)
			}
		})
	}
}

func asError(err error, oe **Error) bool {
	e, ok := err.(*Error)
	*oe = e
	return ok
}
