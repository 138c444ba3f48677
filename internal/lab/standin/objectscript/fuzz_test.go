package objectscript

import (
	"bufio"
	"context"
	"io"
	"testing"
	"time"

	"github.com/irischaos/irischaos/internal/lab/standin/engine"
)

// FuzzParse feeds arbitrary lines to the parser and, when they parse, to the
// interpreter: neither may panic, and a line that parses must run to an
// end (result or ObjectScript error) within a bounded time. The seed corpus
// is in testdata/fuzz/FuzzParse. Run: go test -fuzz FuzzParse ./pkg/standin/objectscript
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`set ^k8stest($i(^k8stest))="seq=42 t="_$zdt($zts,3,1,6)_" host="_$system.INetInfo.LocalHostName() write "##ACK:42:",^k8stest,!`,
		`set k="" for  set k=$order(^k8stest(k)) quit:k=""  write "##RB:",k,":",^k8stest(k),!`,
		`zw ^k8stest`, `tstart  set ^a(1)=2 tcommit`, `w $zdt($h,3),!`, `k ^x(1,"a")`, `if 1 w 1 ; c`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		cmds, err := Parse(line)
		if err != nil {
			if _, ok := err.(*SyntaxError); !ok {
				t.Fatalf("Parse(%q) returned %T, want *SyntaxError", line, err)
			}
			return
		}
		_ = cmds
		w := bufio.NewWriter(io.Discard)
		in := New(engine.Memory(), "USER", w)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		in.Exec(ctx, line) // endless FORs and long HANGs end with ctx
		in.Exec(ctx, line) // again, through the parse cache's tree
	})
}
