package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/irischaos/irischaos/pkg/runner"
	"github.com/irischaos/irischaos/pkg/stackcheck/stackchecktest"
)

func TestStackCheckBadInput(t *testing.T) {
	dir := t.TempDir()
	kc := unreachableKubeconfig(t, dir)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"stack", "check", "--kubeconfig", filepath.Join(dir, "missing"), "-o", "yaml"}, `--output "yaml"`},
		{[]string{"stack", "check", "--kubeconfig", kc}, "cannot reach the Kubernetes API at https://127.0.0.1:1"},
		{[]string{"stack", "check", "extra"}, "unknown command"},
	} {
		_, code, err := runCLIErr(t, tt.args...)
		if code != exitUnknown || err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: exit %d, err %v; want exit %d and %q", tt.args, code, err, exitUnknown, tt.want)
		}
	}
}

// The command's output and exit status over a fake cluster: 0 with a WARN
// (Community Edition, too many streams) and the transcript file, 1 with a
// FAIL (IRIS down), 2 without a pod.
func TestStackCheckOutput(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "iris-0", Namespace: "ns", Labels: map[string]string{"app": "iris"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "iris"}}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
	community := map[string]string{"luavailable": "4", "luconsumed": "1", "keycustomername": "InterSystems IRIS Community"}
	tests := []struct {
		name    string
		f       *stackchecktest.IRIS
		pods    bool
		streams int
		format  string
		code    int
		want    []string
	}{
		{"warn", &stackchecktest.IRIS{Qlist: stackchecktest.QlistRunning, Strict: true, License: community}, true, 5, "table", exitPass,
			[]string{"Stack check of pod ns/iris-0, instance iris, 5 stream(s)", "WARN    license", "fix: run with workload.streams <= 4", "PASS    error", "IRIS answers every probe"}},
		{"json keeps the transcript", &stackchecktest.IRIS{Qlist: stackchecktest.QlistRunning, Strict: true, License: community}, true, 1, "json", exitPass,
			[]string{`"id": "error"`, `"output": "\nNode: iris-7b9c6d-x2x4q, Instance: IRIS\n\nUSER>\ntry { set k=$i(^|\"IRISCHAOSNOSUCHNS\"`, `^\n<NAMESPACE>`}},
		{"down", &stackchecktest.IRIS{Qlist: stackchecktest.QlistDown, License: community}, true, 1, "md", exitFail,
			[]string{"| FAIL | `qlist` |", "**NOT USABLE: fix every FAIL first**"}},
		{"no pod", &stackchecktest.IRIS{}, false, 1, "table", exitUnknown, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := fake.NewClientset()
			if tt.pods {
				if _, err := cs.CoreV1().Pods("ns").Create(context.Background(), pod, metav1.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			cl := &runner.Cluster{Kube: cs, Exec: tt.f, Namespace: "ns"}
			outFile := filepath.Join(t.TempDir(), "transcript.txt")
			var out bytes.Buffer
			r, err := runStackCheck(context.Background(), cl, tt.streams, 3*time.Second)
			if err == nil {
				err = writeStackCheck(&out, r, tt.format, outFile)
			}
			code := exitPass
			var ee *exitError
			if errors.As(err, &ee) {
				code = ee.code
			}
			if code != tt.code {
				t.Fatalf("exit %d (%v), want %d\n%s", code, err, tt.code, out.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			if tt.pods {
				b, err := os.ReadFile(outFile)
				if err != nil || !strings.Contains(string(b), "== qlist") || !strings.Contains(string(b), "$ iris qlist iris") {
					t.Errorf("--out: %v\n%s", err, b)
				}
			}
		})
	}
}
