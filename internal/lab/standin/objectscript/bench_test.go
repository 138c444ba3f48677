package objectscript

import (
	"bufio"
	"context"
	"io"
	"strconv"
	"testing"

	"github.com/irischaos/irischaos/internal/lab/standin/engine"
)

// BenchmarkMarkerSet runs the harness's write-probe line on a journaled
// database, without the session socket: the interpreter's and the engine's
// CPU cost per acknowledged set.
func BenchmarkMarkerSet(b *testing.B) {
	ctx := context.Background()
	db, err := engine.Open(ctx, engine.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	w := bufio.NewWriter(io.Discard)
	in := New(db, "USER", w)
	defer in.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		s := strconv.Itoa(i)
		line := `set ^k8stest($i(^k8stest))="seq=` + s + ` t="_$zdt($zts,3,1,6)_" host="_$system.INetInfo.LocalHostName() write "##ACK:` + s + `:",^k8stest,!`
		if err := in.Exec(ctx, line); err != nil {
			b.Fatalf("set %d: %v", i, err)
		}
	}
}
