package nodepower

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

type fakeCtrl struct {
	mu    sync.Mutex
	nodes map[string]*Node
	calls []string
}

func (f *fakeCtrl) Nodes() []Node {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Node
	for _, name := range []string{"n1", "n2"} {
		if n, ok := f.nodes[name]; ok {
			out = append(out, *n)
		}
	}
	return out
}

func (f *fakeCtrl) Do(_ context.Context, name string, a Action) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, ok := f.nodes[name]
	if !ok {
		return fmt.Errorf("node %q: %w", name, ErrNotFound)
	}
	if n.State == Deleted {
		return fmt.Errorf("node %q is deleted: %w", name, ErrConflict)
	}
	f.calls = append(f.calls, name+":"+string(a))
	switch a {
	case PowerOff:
		n.State = Off
	case PowerOn, Restart:
		n.State = On
	case Delete:
		n.State = Deleted
	case Partition:
		n.Partitioned = true
	case Heal:
		n.Partitioned = false
	}
	return nil
}

func newFake() *fakeCtrl {
	return &fakeCtrl{nodes: map[string]*Node{
		"n1": {Name: "n1", State: On, ProviderID: "local://c/n1", Zone: "zone-a"},
		"n2": {Name: "n2", State: On, ProviderID: "local://c/n2", Zone: "zone-b"},
	}}
}

func TestClientServer(t *testing.T) {
	ctrl := newFake()
	srv := httptest.NewServer(Handler(ctrl, "secret", nil))
	defer srv.Close()
	c := NewClient("c", srv.URL, "secret")
	ctx := context.Background()

	nodes, err := c.Nodes(ctx)
	if err != nil || len(nodes) != 2 || nodes[0].Zone != "zone-a" {
		t.Fatalf("Nodes = %+v, %v", nodes, err)
	}
	tests := []struct {
		node    string
		action  Action
		want    State
		part    bool
		wantErr error
	}{
		{"n1", PowerOff, Off, false, nil},
		{"n1", PowerOn, On, false, nil},
		{"n2", Partition, On, true, nil},
		{"n2", Heal, On, false, nil},
		{"n2", Delete, Deleted, false, nil},
		{"n2", PowerOn, Deleted, false, ErrConflict},
		{"nope", PowerOff, "", false, ErrNotFound},
	}
	for _, tc := range tests {
		err := c.Do(ctx, tc.node, tc.action)
		if tc.wantErr != nil {
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("%s %s: err = %v, want %v", tc.action, tc.node, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s %s: %v", tc.action, tc.node, err)
		}
		n, err := c.Node(ctx, tc.node)
		if err != nil {
			t.Fatal(err)
		}
		if n.State != tc.want || n.Partitioned != tc.part {
			t.Errorf("after %s %s: %+v", tc.action, tc.node, n)
		}
	}
	if _, err := c.Node(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Node(nope) err = %v", err)
	}
	if err := c.Do(ctx, "n1", "reboot"); err == nil || !strings.Contains(err.Error(), "valid:") {
		t.Errorf("bad action accepted: %v", err)
	}
}

func TestAuth(t *testing.T) {
	srv := httptest.NewServer(Handler(newFake(), "secret", nil))
	defer srv.Close()
	for _, tok := range []string{"", "wrong", "secretx"} {
		_, err := NewClient("c", srv.URL, tok).Nodes(context.Background())
		if err == nil || !strings.Contains(err.Error(), "401") {
			t.Errorf("token %q: err = %v, want 401", tok, err)
		}
	}
	// An empty server token must never authenticate anyone.
	srv2 := httptest.NewServer(Handler(newFake(), "", nil))
	defer srv2.Close()
	if _, err := NewClient("c", srv2.URL, "").Nodes(context.Background()); err == nil {
		t.Error("empty token accepted")
	}
}

func TestServeAndDiscover(t *testing.T) {
	t.Setenv("IRISCHAOS_STATE_DIR", t.TempDir())
	if _, err := Discover("absent"); err == nil || !strings.Contains(err.Error(), "irischaos cluster up --name absent") {
		t.Fatalf("Discover(absent) err = %v", err)
	}
	dir := ClusterDir("c1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ep, _, err := Serve(ctx, dir, newFake(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ep.URL, "http://127.0.0.1:") {
		t.Errorf("URL %s not on loopback", ep.URL)
	}
	st, err := os.Stat(filepath.Join(dir, EndpointFile))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("endpoint file: %v %v", st, err)
	}
	c, err := Discover("c1")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, "n1", PowerOff); err != nil {
		t.Fatal(err)
	}
	cancel()
	// Serve removes the endpoint file when it stops.
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(filepath.Join(dir, EndpointFile)); err != nil {
			break
		}
		if i == 99 {
			t.Error("endpoint file left behind")
		}
		waitABit()
	}
	// A corrupt file is reported as such.
	os.WriteFile(filepath.Join(dir, EndpointFile), []byte("{"), 0o600)
	if _, err := Discover("c1"); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("corrupt endpoint: %v", err)
	}
	b, _ := json.Marshal(Endpoint{URL: "http://x", Token: "t"})
	os.WriteFile(filepath.Join(dir, EndpointFile), b, 0o600)
	if c, err := Discover("c1"); err != nil || c.endpoint.URL != "http://x" {
		t.Errorf("Discover = %v %v", c, err)
	}
}

func TestStateRoot(t *testing.T) {
	t.Setenv("IRISCHAOS_STATE_DIR", "")
	t.Setenv("XDG_STATE_HOME", "/x")
	if got := ClusterDir("a"); got != "/x/irischaos/clusters/a" {
		t.Errorf("ClusterDir = %s", got)
	}
	t.Setenv("IRISCHAOS_STATE_DIR", "/s")
	if got := StateRoot(); got != "/s" {
		t.Errorf("StateRoot = %s", got)
	}
}

func waitABit() { time.Sleep(10 * time.Millisecond) }
