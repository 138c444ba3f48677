package localcluster

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/irischaos/irischaos/internal/lab/localcluster/cgroups"
	"github.com/irischaos/irischaos/internal/lab/localcluster/state"
	"github.com/irischaos/irischaos/internal/lab/nodepower"
)

func TestOptionsDefaults(t *testing.T) {
	tests := []struct {
		in      Options
		wantErr string
	}{
		{Options{}, ""},
		{Options{Name: "Bad_Name"}, "cluster name"},
		{Options{Nodes: 30}, "between 1 and 26"},
		{Options{Nodes: -1}, "between 1 and 26"},
		{Options{Cloud: "gcp"}, "--cloud"},
		{Options{Cloud: CloudAWSEmulator}, ""},
	}
	for _, tc := range tests {
		o := tc.in
		err := o.defaults()
		if tc.wantErr == "" {
			if err != nil || o.Name != DefaultName || o.Nodes < 1 || o.Cloud == "" {
				t.Errorf("defaults(%+v) = %+v, %v", tc.in, o, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("defaults(%+v) err = %v, want %q", tc.in, err, tc.wantErr)
		}
	}
}

func TestPlan(t *testing.T) {
	h := cgroups.Host{Base: "/process_api/x"}
	c := plan(Options{Name: "c", Nodes: 3, Cloud: CloudLocal}, 4, h)
	if c.Bridge != "icbr4" || c.BridgeIP != "10.250.4.1" || c.CgroupBase != "/process_api/x/irischaos-c" {
		t.Errorf("cluster plan: %+v", c)
	}
	seen := map[string]bool{}
	for i, n := range c.Nodes {
		for _, v := range []string{n.IP, n.NS, n.HostVeth, n.Cgroup, n.Zone, n.PodSubnet, n.ProviderID} {
			if seen[v] {
				t.Errorf("node %s shares %s with another node", n.Name, v)
			}
			seen[v] = true
		}
		if len(n.HostVeth) > 15 {
			t.Errorf("link name %s longer than IFNAMSIZ", n.HostVeth)
		}
		if want := "zone-" + string(rune('a'+i)); n.Zone != want {
			t.Errorf("zone %s, want %s", n.Zone, want)
		}
		if !strings.HasPrefix(n.Cgroup, c.CgroupBase+"/") {
			t.Errorf("node cgroup %s outside the cluster's %s", n.Cgroup, c.CgroupBase)
		}
	}
	if c.Nodes[1].ProviderID != "local://c/node-2" || c.Nodes[2].IP != "10.250.4.13" {
		t.Errorf("nodes: %+v", c.Nodes)
	}
}

func TestDownOfAbsentClusterIsNoop(t *testing.T) {
	t.Setenv("IRISCHAOS_STATE_DIR", t.TempDir())
	var out strings.Builder
	for i := 0; i < 2; i++ {
		if err := Down(context.Background(), "nope", &out); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(out.String(), "does not exist") {
		t.Errorf("output %q", out.String())
	}
	if _, err := GetStatus(context.Background(), "nope"); err == nil || !strings.Contains(err.Error(), "cluster up --name nope") {
		t.Errorf("status of absent cluster: %v", err)
	}
}

// TestDoRejectsUnknownAndDeleted checks the power controller without real nodes.
func TestDoRejectsUnknownAndDeleted(t *testing.T) {
	t.Setenv("IRISCHAOS_STATE_DIR", t.TempDir())
	s := &supervisor{o: Options{Name: "c"}, l: state.For("c"), c: &state.Cluster{Nodes: []state.Node{{Name: "node-1", Power: nodepower.Deleted}}}}
	if err := s.Do(context.Background(), "node-9", nodepower.PowerOff); !errors.Is(err, nodepower.ErrNotFound) {
		t.Errorf("unknown node: %v", err)
	}
	if got := s.Nodes(); len(got) != 1 || got[0].State != nodepower.Deleted {
		t.Errorf("Nodes = %+v", got)
	}
}

func TestRunStepsInOrderStopsAtFirstFailure(t *testing.T) {
	var out strings.Builder
	s := &supervisor{say: func(f string, a ...any) { out.WriteString(fmt.Sprintf(f, a...) + "\n") }}
	var ran []string
	mk := func(name string, err error) step {
		return step{name, func(*supervisor, context.Context) error { ran = append(ran, name); return err }}
	}
	boom := errors.New("boom")
	err := s.runSteps(context.Background(), []step{mk("a", nil), mk("b", boom), mk("c", nil)})
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), `step "b"`) {
		t.Errorf("err = %v, want boom naming step b", err)
	}
	if strings.Join(ran, ",") != "a,b" {
		t.Errorf("ran %v, want a,b", ran)
	}
	for _, want := range []string{"[1/3] a\n", "[1/3] a: done in ", "[2/3] b: failed after "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("progress lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "[3/3]") {
		t.Errorf("step after the failure was announced:\n%s", out.String())
	}
}

func TestUpStepsNamed(t *testing.T) {
	seen := map[string]bool{}
	for _, st := range upSteps {
		if st.name == "" || st.run == nil || seen[st.name] {
			t.Errorf("step %q: empty, without a function, or named twice", st.name)
		}
		seen[st.name] = true
	}
}

func TestUpStepFromSupervisorLines(t *testing.T) {
	for line, want := range map[string]string{
		"[ 12.3s] [7/15] control plane\n":             "[7/15] control plane",
		"[  0.0s] [1/15] prerequisites":               "[1/15] prerequisites",
		"[ 14.0s] [7/15] control plane: done in 1.7s": "",
		"[ 14.0s] [8/15] nodes: failed after 3s":      "",
		"[ 14.1s] images: 3 built in 20s":             "",
		"cluster \"lab\": supervisor started":         "",
	} {
		got, ok := upStep(line)
		if got != want || ok != (want != "") {
			t.Errorf("upStep(%q) = %q, %v; want %q", line, got, ok, want)
		}
	}
}
