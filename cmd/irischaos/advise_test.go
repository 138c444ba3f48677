package main

import (
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	fakediscovery "k8s.io/client-go/discovery/fake"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/irischaos/irischaos/pkg/fault"
	"github.com/irischaos/irischaos/pkg/mitigation"
	"github.com/irischaos/irischaos/pkg/scenario"
	"github.com/irischaos/irischaos/pkg/storagehealth"
)

func TestAdviseExpand(t *testing.T) {
	file := "name: node-lost\nfault: {type: vm-poweroff}\nbudgets: {rto: 2m}\nmitigations:\n- name: none\n  expect: {verdict: fail, why: stuck}\n- name: out-of-service-taint\n"
	s, err := scenario.Parse("node-lost.yaml", []byte(file))
	if err != nil {
		t.Fatal(err)
	}
	loaded := s.Expand() // as scenario.Load gives them
	m := &adviseMode{mitigations: []string{"none", "short-tolerations", "out-of-service-taint"}}
	got, err := m.expand(loaded)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range got {
		names = append(names, g.Name+"/"+string(g.MitigationName()))
	}
	if strings.Join(names, " ") != "node-lost/none node-lost-short-tolerations/short-tolerations node-lost-out-of-service-taint/out-of-service-taint" {
		t.Fatalf("expanded to %v", names)
	}
	if got[0].Expect == nil || got[0].Expect.Why != "stuck" || got[1].Expect != nil {
		t.Errorf("expectations: %+v, %+v", got[0].Expect, got[1].Expect)
	}

	tests := []struct {
		name, want  string
		mitigations []string
		fault       fault.Name
	}{
		{"unknown mitigation", `--mitigations: unknown mitigation "reboot"`, []string{"none", "reboot"}, fault.VMPowerOff},
		{"none", "--mitigations: name at least one", nil, fault.VMPowerOff},
		{"not a node loss", "advise measures node loss, a vm-* fault (vm-poweroff), not pod-delete", []string{"none"}, fault.PodDelete},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := &adviseMode{mitigations: tc.mitigations}
			_, err := m.expand([]scenario.Scenario{{Name: "x", Fault: scenario.Fault{Type: tc.fault}}})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
	if !strings.Contains(mitigationHelp(), string(mitigation.OutOfServiceTaint)) {
		t.Error("advise's help does not list the mitigations")
	}
}

// advise's default measures the Longhorn policy only where Longhorn is
// served; a list given with --mitigations is run as given.
func TestAdviseLonghornDefault(t *testing.T) {
	def := []string{"none", "short-tolerations", "out-of-service-taint"}
	without := fake.NewClientset().Discovery()
	with := fake.NewClientset().Discovery().(*fakediscovery.FakeDiscovery)
	with.Resources = []*metav1.APIResourceList{{GroupVersion: storagehealth.LonghornVolumes.GroupVersion().String(),
		APIResources: []metav1.APIResource{{Name: storagehealth.LonghornVolumes.Resource, Namespaced: true, Kind: "Volume"}}}}
	for _, tc := range []struct {
		name  string
		given bool
		d     discovery.DiscoveryInterface
		want  bool
	}{
		{"no Longhorn", false, without, false},
		{"Longhorn", false, with, true},
		{"Longhorn, list given", true, with, false},
	} {
		m := &adviseMode{mitigations: slices.Clone(def)}
		added := m.longhornDefault(tc.given, tc.d)
		has := slices.Contains(m.mitigations, string(mitigation.LonghornNodeDownPolicy))
		if added != tc.want || has != tc.want {
			t.Errorf("%s: added %v, mitigations %v", tc.name, added, m.mitigations)
		}
	}
}
