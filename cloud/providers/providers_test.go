package providers

import (
	"errors"
	"strings"
	"testing"

	"github.com/irischaos/irischaos/cloud"
	"github.com/irischaos/irischaos/internal/lab/nodepower"
)

func TestNew(t *testing.T) {
	t.Setenv("AZURE_CLIENT_ID", "")
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	discovered := ""
	r := New(Options{
		AWSEndpoint: "http://127.0.0.1:1",
		LocalDiscover: func(c string) (*nodepower.Client, error) {
			discovered = c
			return nil, errors.New("not running")
		},
	})
	if got := strings.Join(r.Schemes(), ","); got != "aws,azure,local" {
		t.Fatalf("schemes %s", got)
	}
	tests := []struct{ id, provider, vmID string }{
		{"aws:///us-east-1a/i-0abc12345", "aws", "i-0abc12345"},
		{"azure:///subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/pool/virtualMachines/2", "azure", "pool/2"},
		{"local://c1/n1", "local", "n1"},
	}
	for _, tt := range tests {
		p, vm, err := r.For(tt.id)
		if err != nil || p.Name() != tt.provider || vm.ID != tt.vmID {
			t.Errorf("For(%s) = %v, %+v, %v", tt.id, p, vm, err)
		}
	}
	// The options reach the providers: the AWS endpoint shows in Describe,
	// and the local provider uses the given discovery.
	p, vm, _ := r.For("aws:///us-east-1a/i-0abc12345")
	if d := p.Describe(vm, cloud.PowerOff); !strings.HasSuffix(d, "endpoint http://127.0.0.1:1") {
		t.Errorf("aws Describe %q lacks the endpoint", d)
	}
	p, vm, _ = r.For("local://c1/n1")
	if err := p.Do(t.Context(), vm, cloud.PowerOff); err == nil || discovered != "c1" {
		t.Errorf("local Do = %v (discovered %q); want the injected discovery's error", err, discovered)
	}
	if _, _, err := r.For("gce://p/z/n"); err == nil || !strings.Contains(err.Error(), "supported: aws, azure, local") {
		t.Errorf("unknown scheme: %v", err)
	}
}
