package scenario

import (
	"github.com/irischaos/irischaos/pkg/fault"
	"github.com/irischaos/irischaos/pkg/mitigation"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const good = `name: pod-delete
description: delete the IRIS pod gracefully
failureDomain: Pod / container
fault:
  type: pod-delete
  gracePeriod: 0
budgets:
  rto: 30s
iterations: 3
observation:
  maxRecovery: 2m
workload:
  interval: 50ms
  streams: 2
`

func TestParseGood(t *testing.T) {
	s, err := Parse("pod.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "pod-delete" || s.Fault.Type != fault.PodDelete || s.IterationCount() != 3 || s.StreamCount() != 2 {
		t.Errorf("decoded %+v", s)
	}
	if g := s.Fault.GracePeriodSeconds(); g == nil || *g != 0 {
		t.Errorf("grace period = %v, want 0", g)
	}
	checks := []struct {
		what      string
		got, want time.Duration
	}{
		{"rto", s.RTO(), 30 * time.Second},
		{"rpo default", s.RPO(), 2 * time.Second},
		{"warmup default", s.WarmupD(), DefaultWarmup},
		{"max recovery", s.MaxRecovery(), 2 * time.Minute},
		{"after recovery default", s.AfterRecovery(), DefaultAfterRecovery},
		{"interval", s.Interval(), 50 * time.Millisecond},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %s, want %s", c.what, c.got, c.want)
		}
	}
	if s.MitigatedBy != MitigatedBy[fault.DomainPod] {
		t.Errorf("mitigatedBy default = %q", s.MitigatedBy)
	}
}

func TestParseDefaults(t *testing.T) {
	s, err := Parse("dir/node-lost.yaml", []byte("fault: {type: vm-poweroff}\nbudgets: {rto: 90s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "node-lost" || s.FailureDomain != fault.DomainNodeLost || !s.Fault.PowerOnAfter() || s.IterationCount() != 1 || s.StreamCount() != 1 {
		t.Errorf("defaults not applied: %+v", s)
	}
	if s.Fault.GracePeriodSeconds() != nil {
		t.Error("no gracePeriod must mean the pod's own")
	}
	if s.MaxRecovery() != DefaultMaxRecovery {
		t.Errorf("maxRecovery = %s, want the default", s.MaxRecovery())
	}
	long, err := Parse("f.yaml", []byte("fault: {type: vm-poweroff}\nbudgets: {rto: 10m}\n"))
	if err != nil || long.MaxRecovery() != 20*time.Minute {
		t.Errorf("maxRecovery with a 10m budget = %s (%v), want twice the budget", long.MaxRecovery(), err)
	}
}

// TestParseErrors holds the exact messages users see (golden).
func TestParseErrors(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"unknown top-level field", "fault: {type: pod-delete}\nbudgets: {rto: 30s}\nrepeat: 3\n",
			`f.yaml:3: unknown field "repeat" (known: name, description, failureDomain, mitigatedBy, fault, targets, budgets, iterations, warmup, observation, workload, mitigations, expect)`},
		{"unknown nested field", "fault:\n  type: pod-delete\n  grace: 0\nbudgets: {rto: 30s}\n",
			`f.yaml:3: unknown field "grace" in fault (known: type, gracePeriod, drainTimeout, powerOn, method, direction, peers, storage, duration, via)`},
		{"bad duration", "fault: {type: pod-delete}\nbudgets:\n  rto: 30 seconds\n",
			`f.yaml:3: bad duration "30 seconds": use a Go duration such as 30s, 1m30s or 250ms`},
		{"duration without unit", "fault: {type: pod-delete}\nbudgets:\n  rto: 30\n",
			`f.yaml:3: duration "30" has no unit: write e.g. 30s or 30ms`},
		{"duration as a list", "fault: {type: pod-delete}\nbudgets:\n  rto: [1s]\n",
			`f.yaml:3: a duration is a string such as 30s, not a list`},
		{"unknown fault type", "fault:\n  type: node-kill\nbudgets: {rto: 30s}\n",
			`f.yaml:2: unknown fault type "node-kill" (known: iris-stop, iris-force, pod-delete, node-drain, vm-poweroff, vm-restart, vm-delete, node-partition, zone-outage)`},
		{"missing fault and rto", "name: x\n",
			"f.yaml:1: fault.type is required (one of iris-stop, iris-force, pod-delete, node-drain, vm-poweroff, vm-restart, vm-delete, node-partition, zone-outage)\n" +
				"f.yaml:1: budgets.rto is required: the longest recovery this failure domain may take, e.g. rto: 60s"},
		{"parameter of another fault", "fault:\n  type: iris-stop\n  drainTimeout: 1m\ntargets:\n  node: w1\nbudgets: {rto: 30s}\n",
			"f.yaml:3: fault.drainTimeout applies to node-drain only, not iris-stop\n" +
				"f.yaml:5: targets.node applies to node faults (node-drain, vm-*, node-partition), not iris-stop: it always hits the IRIS pod"},
		{"grace period in fractions", "fault:\n  type: pod-delete\n  gracePeriod: 1500ms\nbudgets: {rto: 30s}\n",
			`f.yaml:3: fault.gracePeriod 1.5s: Kubernetes takes whole seconds`},
		{"bad domain and name", "name: Pod_Delete\nfailureDomain: Zone\nfault: {type: pod-delete}\nbudgets: {rto: 30s}\n",
			"f.yaml:1: name \"Pod_Delete\": use lower-case letters, digits and dashes (at most 63), it names the run's directories\n" +
				`f.yaml:2: unknown failure domain "Zone" (known: ["IRIS instance" "Pod / container" "Node temporarily unavailable" "Node or disk permanently lost" "Network partition" "Zone off-line"])`},
		{"ranges", "fault: {type: vm-delete, powerOn: true}\nbudgets: {rto: 2m, rpo: -1s}\niterations: 0\nobservation:\n  maxRecovery: 1m\nworkload:\n  interval: 0\n  streams: 100\n",
			"f.yaml:1: fault.powerOn applies to vm-poweroff only, not vm-delete\n" +
				"f.yaml:2: budgets.rpo must not be negative, got -1s\n" +
				"f.yaml:3: iterations must be between 1 and 1000, got 0\n" +
				"f.yaml:5: observation.maxRecovery 1m0s is shorter than budgets.rto 2m0s: the run would stop waiting before the budget is spent\n" +
				"f.yaml:7: workload.interval must be at least 1ms, got 0s\n" +
				"f.yaml:8: workload.streams must be between 1 and 64, got 100"},
		{"wrong type", "fault: {type: pod-delete}\nbudgets: {rto: 30s}\niterations: many\n",
			"f.yaml:3: cannot unmarshal !!str `many` into int"},
		{"scalar for a mapping", "fault: pod-delete\nbudgets: {rto: 30s}\n",
			"f.yaml:1: cannot unmarshal !!str `pod-delete` into fault (a mapping of type, gracePeriod, drainTimeout, powerOn, method, direction, peers, storage, duration, via)"},
		{"partition options", "fault:\n  type: node-partition\n  direction: sideways\n  via: ssh\ntargets: {zone: a}\nbudgets: {rto: 30s}\n",
			"f.yaml:5: targets.zone applies to zone-outage only, not node-partition\n" +
				"f.yaml:3: unknown partition direction \"sideways\" (both, incoming or outgoing)\n" +
				"f.yaml:4: fault.via \"ssh\": auto, agent or provider"},
		{"storage peer without addresses", "fault:\n  type: zone-outage\n  method: partition\n  peers: [storage]\nbudgets: {rto: 30s}\n",
			"f.yaml:4: partition peer storage needs the storage's addresses (scenario fault.storage, flag --storage-address)"},
		{"partition options on a power off", "fault:\n  type: zone-outage\n  method: flood\n  duration: 5m\nbudgets: {rto: 30s}\n",
			"f.yaml:3: fault.method: unknown zone-outage method \"flood\" (poweroff or partition)\n" +
				"f.yaml:4: fault.duration applies to node-partition and zone-outage by partition only, not zone-outage"},
		{"syntax", "fault:\n  type: pod-delete\n budgets: 1\n",
			"f.yaml:2: did not find expected key"},
		{"empty", "\n# nothing\n", "f.yaml: empty scenario: it needs at least fault.type and budgets.rto"},
		{"not a mapping", "- a\n- b\n", "f.yaml:1: a scenario is a mapping of fields (name, fault, budgets, ...)"},
		{"mitigations", "fault: {type: node-drain}\nbudgets: {rto: 30s}\nmitigations:\n- name: out-of-service-taint\n- name: magic\n- {}\n- name: none\n  expect: {verdict: pass}\n",
			"f.yaml:3: mitigations[0]: out-of-service-taint acts on a node whose VM is off: it needs a vm-* fault, not node-drain\n" +
				"f.yaml:3: mitigations[1]: unknown mitigation \"magic\" (valid: none, short-tolerations, out-of-service-taint, longhorn-node-down-policy)\n" +
				"f.yaml:3: mitigations[2]: name is required (one of none, short-tolerations, out-of-service-taint, longhorn-node-down-policy)\n" +
				"f.yaml:3: expect.verdict \"pass\": only \"fail\" can be expected (a pass needs no expectation)\n" +
				"f.yaml:3: expect.why is required: say what the known finding is, the report shows it"},
		{"unknown field in a mitigation", "fault: {type: vm-poweroff}\nbudgets: {rto: 30s}\nmitigations:\n- name: none\n  when: now\n",
			`f.yaml:5: unknown field "when" in a mitigations entry (known: name, expect)`},
		{"expect with mitigations", "fault: {type: vm-poweroff}\nbudgets: {rto: 30s}\nexpect: {verdict: fail, why: stuck}\nmitigations:\n- name: none\n",
			"f.yaml:3: expect: with mitigations: goes into each mitigations entry, whose outcomes differ"},
		{"two documents", "fault: {type: pod-delete}\nbudgets: {rto: 30s}\n---\nname: b\n", "f.yaml:3: more than one YAML document: write one scenario per file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("f.yaml", []byte(tc.in))
			if err == nil {
				t.Fatalf("no error, want:\n%s", tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("error:\n%s\nwant:\n%s", err, tc.want)
			}
		})
	}
}

func TestLoadDir(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("b.yaml", "fault: {type: pod-delete}\nbudgets: {rto: 30s}\n")
	write("a.yml", "fault: {type: iris-stop}\nbudgets: {rto: 60s}\n")
	write("notes.txt", "ignored")
	got, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Name != "a" || got[1].Name != "b" {
		t.Fatalf("loaded %v, want a then b", got)
	}
	one, err := Load(filepath.Join(dir, "b.yaml"))
	if err != nil || len(one) != 1 || one[0].File != filepath.Join(dir, "b.yaml") {
		t.Fatalf("single file: %v, %v", one, err)
	}

	write("c.yaml", "name: a\nfault: {type: pod-delete}\nbudgets: {rto: 30s}\n")
	write("d.yaml", "fault: {type: pod-delete}\n")
	_, err = Load(dir)
	if err == nil || !strings.Contains(err.Error(), `c.yaml: scenario name "a" is already used by `) || !strings.Contains(err.Error(), "d.yaml:1: budgets.rto is required") {
		t.Errorf("err = %v, want the duplicate name and the missing budget", err)
	}
	if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no *.yaml files") {
		t.Errorf("empty dir: err = %v", err)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Error("missing file: no error")
	}
}

// TestShippedScenarios: every file of scenarios/ loads, and every failure
// domain is covered (partition and zone outage by scenarios/extra/ only,
// until they are part of the default set).
func TestShippedScenarios(t *testing.T) {
	got, err := Load("../../scenarios")
	if err != nil {
		t.Fatal(err)
	}
	extra, err := Load("../../scenarios/extra")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, extra...)
	domains := map[string]bool{}
	for _, s := range got {
		domains[s.FailureDomain] = true
	}
	for _, d := range Domains {
		if !domains[d] {
			t.Errorf("no scenario for failure domain %q", d)
		}
	}
}

func TestExpandMitigations(t *testing.T) {
	in := "name: node-lost\nfault: {type: vm-poweroff}\nbudgets: {rto: 2m}\nmitigations:\n- name: none\n  expect: {verdict: fail, why: stuck on Multi-Attach}\n- name: out-of-service-taint\n"
	s, err := Parse("f.yaml", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	got := s.Expand()
	if len(got) != 2 {
		t.Fatalf("expanded into %d scenarios, want 2", len(got))
	}
	if got[0].Name != "node-lost" || got[0].MitigationName() != mitigation.None || got[0].Expect == nil || got[0].Expect.Why != "stuck on Multi-Attach" {
		t.Errorf("as deployed: %+v", got[0])
	}
	if got[1].Name != "node-lost-out-of-service-taint" || got[1].Mitigation != mitigation.OutOfServiceTaint || got[1].Expect != nil {
		t.Errorf("mitigated: %+v", got[1])
	}
	if !strings.Contains(got[1].MitigatedBy, "out-of-service taint") {
		t.Errorf("mitigatedBy does not name the mitigation: %q", got[1].MitigatedBy)
	}
	if one := (Scenario{Name: "x"}).Expand(); len(one) != 1 || one[0].MitigationName() != mitigation.None {
		t.Errorf("a scenario without mitigations expands to %+v", one)
	}
}
