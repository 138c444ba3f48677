package stackid

import (
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func pod(name string, phase corev1.PodPhase, deleting bool) corev1.Pod {
	p := corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.PodStatus{Phase: phase}}
	if deleting {
		now := metav1.Now()
		p.DeletionTimestamp = &now
	}
	return p
}

func TestPick(t *testing.T) {
	tests := []struct {
		name    string
		pods    []corev1.Pod
		want    string // pod picked by Pick
		running string // pod picked by Running
		err     string
	}{
		{"none", nil, "", "", "no live IRIS pod"},
		{"one running", []corev1.Pod{pod("a", corev1.PodRunning, false)}, "a", "a", ""},
		{"old terminating, replacement pending",
			[]corev1.Pod{pod("old", corev1.PodRunning, true), pod("new", corev1.PodPending, false)}, "new", "", "Pending"},
		{"finished ones skipped",
			[]corev1.Pod{pod("done", corev1.PodSucceeded, false), pod("crashed", corev1.PodFailed, false), pod("a", corev1.PodRunning, false)}, "a", "a", ""},
		{"only deleting", []corev1.Pod{pod("old", corev1.PodRunning, true)}, "", "", "none live"},
		{"two live", []corev1.Pod{pod("b", corev1.PodRunning, false), pod("a", corev1.PodPending, false)}, "", "", "2 live IRIS pods (a, b)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Pick(tt.pods)
			if got := name(p); got != tt.want {
				t.Errorf("Pick = %q, %v; want %q", got, err, tt.want)
			}
			r, rerr := Running(tt.pods)
			if got := name(r); got != tt.running {
				t.Errorf("Running = %q, %v; want %q", got, rerr, tt.running)
			}
			if tt.err != "" && (rerr == nil || !strings.Contains(rerr.Error(), tt.err)) {
				t.Errorf("Running error %v, want %q", rerr, tt.err)
			}
			if tt.want == "" && len(tt.pods) < 2 && !errors.Is(err, ErrNoPod) {
				t.Errorf("Pick error %v is not ErrNoPod", err)
			}
		})
	}
}

func name(p *corev1.Pod) string {
	if p == nil {
		return ""
	}
	return p.Name
}
