package state

import (
	"errors"
	"io/fs"
	"os"
	"testing"
)

func TestValidName(t *testing.T) {
	for name, ok := range map[string]bool{"irischaos": true, "a": true, "c-1": true, "": false, "-a": false, "A": false, "a_b": false, "abcdefghijklmnopqrstu": false} {
		if err := ValidName(name); (err == nil) != ok {
			t.Errorf("ValidName(%q) = %v", name, err)
		}
	}
}

func TestSaveLoadAndIndexes(t *testing.T) {
	t.Setenv("IRISCHAOS_STATE_DIR", t.TempDir())
	if _, err := Load(For("x")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load of absent cluster: %v", err)
	}
	i, err := FreeIndex()
	if err != nil || i != 0 {
		t.Fatalf("FreeIndex on empty root = %d, %v", i, err)
	}
	for idx, name := range []string{"a", "b"} {
		l := For(name)
		os.MkdirAll(l.Dir, 0o755)
		c := &Cluster{Name: name, Index: idx, Nodes: []Node{{Name: "node-1", Power: "on"}}}
		if err := c.Save(l); err != nil {
			t.Fatal(err)
		}
	}
	c, err := Load(For("b"))
	if err != nil || c.Index != 1 || c.Nodes[0].Name != "node-1" {
		t.Fatalf("Load = %+v, %v", c, err)
	}
	if err := c.AddProc(For("b"), Proc{Component: "etcd", PID: 1, Start: 2}); err != nil {
		t.Fatal(err)
	}
	c, _ = Load(For("b"))
	if len(c.Procs) != 1 || c.Procs[0].Component != "etcd" {
		t.Errorf("procs = %+v", c.Procs)
	}
	if i, _ := FreeIndex(); i != 2 {
		t.Errorf("FreeIndex = %d, want 2", i)
	}
	names, _ := List()
	if len(names) != 2 {
		t.Errorf("List = %v", names)
	}
	os.WriteFile(For("a").StateFile(), []byte("{"), 0o600)
	if _, err := Load(For("a")); err == nil {
		t.Error("corrupt state loaded")
	}
}

func TestProcIdentity(t *testing.T) {
	st, err := StartTime(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if !(Proc{PID: os.Getpid(), Start: st}).Alive() {
		t.Error("own process not alive")
	}
	if (Proc{PID: os.Getpid(), Start: st + 1}).Alive() {
		t.Error("reused PID taken for ours")
	}
	if (Proc{}).Alive() {
		t.Error("zero proc alive")
	}
}
