package stackcheck_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/irischaos/irischaos/pkg/preflight"
	"github.com/irischaos/irischaos/pkg/stackcheck"
	"github.com/irischaos/irischaos/pkg/stackcheck/stackchecktest"
)

func irisPod(probeCmd ...string) *corev1.Pod {
	ct := corev1.Container{Name: "iris"}
	if len(probeCmd) > 0 {
		ct.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: probeCmd}}}
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "iris-0", Namespace: "ns", Labels: map[string]string{"app": "iris"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{ct}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
}

func run(t *testing.T, f *stackchecktest.IRIS, streams int, pods ...*corev1.Pod) stackcheck.Report {
	t.Helper()
	if len(pods) == 0 {
		pods = []*corev1.Pod{irisPod()}
	}
	cs := fake.NewClientset()
	for _, p := range pods {
		if _, err := cs.CoreV1().Pods(p.Namespace).Create(context.Background(), p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	r, err := stackcheck.Run(context.Background(), stackcheck.Options{Kube: cs, Exec: f, Namespace: "ns", Streams: streams, Timeout: 3 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

var community = map[string]string{"luavailable": "4", "luconsumed": "1", "keycustomername": "InterSystems IRIS Community"}

// Every probe over the output forms IRIS is documented to print (banner,
// USER> and TL1:USER> prompts, the three-line echoed error, qlist's cpf
// file name) and the stand-in's lenient ones.
func TestProbes(t *testing.T) {
	tests := []struct {
		name string
		f    *stackchecktest.IRIS
		want map[string]preflight.Status
		why  map[string]string // a text each probe's reason must contain
	}{
		{
			name: "IRIS documented forms",
			f:    &stackchecktest.IRIS{Qlist: stackchecktest.QlistRunning, Strict: true, License: community},
			want: map[string]preflight.Status{"license": preflight.Pass, "qlist": preflight.Pass, "zv": preflight.Pass, "session": preflight.Pass, "error": preflight.Pass, "global": preflight.Pass},
			why:  map[string]string{"license": "5 license unit(s) free", "qlist": "cpf iris.cpf", "zv": "2025.1 (Build 223U)", "error": "<NAMESPACE>", "global": "killed"},
		},
		{
			name: "inside a transaction",
			f:    &stackchecktest.IRIS{Qlist: stackchecktest.QlistRunning, Strict: true, Prompt: "TL1:USER>", License: community},
			want: map[string]preflight.Status{"license": preflight.Pass, "qlist": preflight.Pass, "zv": preflight.Pass, "session": preflight.Pass, "error": preflight.Pass, "global": preflight.Pass},
		},
		{
			name: "stand-in lenient errors, no license functions",
			f: &stackchecktest.IRIS{Qlist: "IRIS^/usr/irissys^0.1.0 (irischaos IRIS stand-in)^running, since Tue Dec  2 13:00:00 2026^/external/iris/mgr/iris.cpf^1972^52773^1972^ok^irischaos IRIS stand-in^^^/external/iris/mgr",
				ZV: "irischaos IRIS stand-in 0.1.0"},
			want: map[string]preflight.Status{"license": preflight.Unknown, "qlist": preflight.Pass, "zv": preflight.Pass, "session": preflight.Pass, "error": preflight.Pass, "global": preflight.Pass},
			why:  map[string]string{"license": "<METHOD DOES NOT EXIST>", "zv": "stand-in"},
		},
		{
			name: "instance down: qlist state empty",
			f:    &stackchecktest.IRIS{Qlist: stackchecktest.QlistDown, Strict: true, License: community},
			want: map[string]preflight.Status{"qlist": preflight.Fail},
			why:  map[string]string{"qlist": `"down, last used`},
		},
		{
			name: "license limit exceeded",
			f:    &stackchecktest.IRIS{Qlist: stackchecktest.QlistRunning, Refuse: "<LICENSE LIMIT EXCEEDED>"},
			want: map[string]preflight.Status{"license": preflight.Fail, "qlist": preflight.Pass, "zv": preflight.Fail, "session": preflight.Fail, "error": preflight.Unknown, "global": preflight.Fail},
			why:  map[string]string{"license": "LICENSE LIMIT EXCEEDED", "session": "LICENSE LIMIT EXCEEDED", "error": "LICENSE LIMIT EXCEEDED"},
		},
		{
			name: "Username prompt",
			f:    &stackchecktest.IRIS{Qlist: stackchecktest.QlistRunning, Refuse: "Username: "},
			want: map[string]preflight.Status{"license": preflight.Fail, "session": preflight.Fail, "global": preflight.Fail},
			why:  map[string]string{"license": "username", "session": "username"},
		},
		{
			name: "a failing write acknowledged",
			f:    &stackchecktest.IRIS{Qlist: stackchecktest.QlistRunning, Strict: true, License: community, AckErrors: true},
			want: map[string]preflight.Status{"error": preflight.Fail},
			why:  map[string]string{"error": "read as acknowledged"},
		},
		{
			name: "global survives its kill",
			f:    &stackchecktest.IRIS{Qlist: stackchecktest.QlistRunning, Strict: true, License: community, KeepGlobal: true},
			want: map[string]preflight.Status{"global": preflight.Fail},
			why:  map[string]string{"global": "still there after kill"},
		},
		{
			name: "wrong instance name",
			f:    &stackchecktest.IRIS{Qlist: strings.Replace(stackchecktest.QlistRunning, "IRIS^", "PROD^", 1), License: community},
			want: map[string]preflight.Status{"qlist": preflight.Fail},
			why:  map[string]string{"qlist": `names instance "PROD"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := run(t, tt.f, 1)
			if len(r.Probes) != 6 || r.Pod != "iris-0" {
				t.Fatalf("probes %d on %q", len(r.Probes), r.Pod)
			}
			for id, want := range tt.want {
				p, _ := r.Probe(id)
				if p.Status != want {
					t.Errorf("%s: %s (%s); want %s\n%s", id, p.Status, p.Reason, want, p.Output)
				}
				if w := tt.why[id]; w != "" && !strings.Contains(p.Reason, w) {
					t.Errorf("%s: reason %q lacks %q", id, p.Reason, w)
				}
				if p.Command == "" || p.Output == "" {
					t.Errorf("%s: transcript not kept: command %q output %q", id, p.Command, p.Output)
				}
			}
			if g := tt.f.Globals(); len(g) != 0 && !tt.f.KeepGlobal {
				t.Errorf("scratch global left behind: %v", g)
			}
		})
	}
}

// The deliberate error's echoed source must never read as an ack: the
// probe's transcript holds the echoed write line, and the verdict is PASS.
func TestDeliberateErrorEchoed(t *testing.T) {
	f := &stackchecktest.IRIS{Qlist: stackchecktest.QlistRunning, Strict: true, License: community}
	p, _ := run(t, f, 1).Probe(stackcheck.ProbeError)
	if p.Status != preflight.Pass || !strings.Contains(p.Output, "\n^\n<NAMESPACE>") || !strings.Contains(p.Output, `"#"_"#ACK:"`) {
		t.Errorf("%s %s\n%s", p.Status, p.Reason, p.Output)
	}
	if !strings.Contains(p.Input, `^|"IRISCHAOSNOSUCHNS"|irischaosCheck`) {
		t.Errorf("input %q", p.Input)
	}
}

// Community Edition with fewer units than the streams and the stack's own
// sessions: WARN with the fix; counts include the pod's session probes.
func TestLicenseWarning(t *testing.T) {
	tests := []struct {
		name    string
		streams int
		pod     *corev1.Pod
		want    preflight.Status
		why     string
		fix     string
	}{
		{"4 streams fit 5 units", 4, irisPod(), preflight.Pass, "a run holds 5", ""},
		{"5 streams do not", 5, irisPod(), preflight.Warn, "Community Edition leaves 5 license unit(s) free (LUAvailable 4 + this probe's), a run holds 6: 5 stream(s) + 1 of irischaos' own + 0 of the pod's probes", "workload.streams <= 4"},
		{"a session readiness probe takes one", 4, irisPod("/bin/sh", "-c", "iris session iris -U USER '##class(%SYSTEM.Process).Terminate(,0)'"), preflight.Warn, "1 of the pod's probes", "workload.streams <= 3"},
		{"qlist probes take none", 4, irisPod("/bin/sh", "-c", "iris qlist iris | grep running"), preflight.Pass, "0 of the pod's probes", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &stackchecktest.IRIS{Qlist: stackchecktest.QlistRunning, License: community}
			p, _ := run(t, f, tt.streams, tt.pod).Probe(stackcheck.ProbeLicense)
			if p.Status != tt.want || !strings.Contains(p.Reason, tt.why) || !strings.Contains(p.Fix, tt.fix) {
				t.Errorf("%s %q fix %q; want %s %q fix %q", p.Status, p.Reason, p.Fix, tt.want, tt.why, tt.fix)
			}
		})
	}
	// Another key with too few units says so without calling it Community.
	f := &stackchecktest.IRIS{Qlist: stackchecktest.QlistRunning, License: map[string]string{"luavailable": "1", "luconsumed": "9", "keycustomername": "ACME"}}
	p, _ := run(t, f, 2).Probe(stackcheck.ProbeLicense)
	if p.Status != preflight.Warn || !strings.HasPrefix(p.Reason, "the license key leaves 2") {
		t.Errorf("%s %q", p.Status, p.Reason)
	}
}

func TestParseQlist(t *testing.T) {
	f, ok := stackcheck.ParseQlist(stackchecktest.QlistDown + "\n")
	if !ok || f["name"] != "IRIS" || f["cpf"] != "iris.cpf" || f["state"] != "" || !strings.HasPrefix(f["status"], "down") || f["data_directory"] != "/usr/irissys/mgr/" {
		t.Errorf("%v %v", f, ok)
	}
	if _, ok := stackcheck.ParseQlist("iris: no such instance\n"); ok {
		t.Error("an error message parsed as qlist")
	}
}

func TestRunNoPod(t *testing.T) {
	_, err := stackcheck.Run(context.Background(), stackcheck.Options{Kube: fake.NewClientset(), Exec: &stackchecktest.IRIS{}, Namespace: "ns"})
	if err == nil || !strings.Contains(err.Error(), "no IRIS pod to check in namespace ns") {
		t.Errorf("err %v", err)
	}
}

func TestWrite(t *testing.T) {
	f := &stackchecktest.IRIS{Qlist: stackchecktest.QlistRunning, Strict: true, License: community}
	r := run(t, f, 5)
	if r.ExitCode() != 0 || r.Worst() != preflight.Warn || r.Line() != "WARN: 5 PASS, 1 WARN, 0 FAIL, 0 UNKNOWN" {
		t.Errorf("exit %d %s", r.ExitCode(), r.Line())
	}
	var b bytes.Buffer
	for _, format := range preflight.Formats {
		b.Reset()
		if err := stackcheck.Write(&b, r, format); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(b.String(), "license") || !strings.Contains(b.String(), "workload.streams <= 4") {
			t.Errorf("%s:\n%s", format, b.String())
		}
	}
	var back stackcheck.Report
	if err := json.Unmarshal(b.Bytes(), &back); err == nil {
		t.Error("last format is md, not JSON")
	}
	b.Reset()
	_ = stackcheck.Write(&b, r, "json")
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || len(back.Probes) != 6 || !strings.Contains(back.Probes[0].Output, "##VAL:available:4") {
		t.Errorf("json: %v %+v", err, back.Probes)
	}
	b.Reset()
	_ = stackcheck.WriteTranscript(&b, r)
	if !strings.Contains(b.String(), "== error PASS") || !strings.Contains(b.String(), "$ iris session iris -U USER") {
		t.Errorf("transcript:\n%s", b.String())
	}
	if err := stackcheck.Write(&b, r, "yaml"); err == nil {
		t.Error("yaml accepted")
	}
}
