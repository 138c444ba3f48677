package azure

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7/fake"

	"github.com/irischaos/irischaos/cloud"
)

const (
	sub     = "00000000-1111-2222-3333-444444444444"
	rg      = "MC_rg_aks_westeurope"
	vmssID  = "azure:///subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/Microsoft.Compute/virtualMachineScaleSets/aks-nodepool1-123-vmss/virtualMachines/3"
	plainID = "azure:///subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/Microsoft.Compute/virtualMachines/vm-iris-1"
)

func TestParse(t *testing.T) {
	t.Setenv("AZURE_SUBSCRIPTION_ID", "")
	tests := []struct {
		id                       string
		sub, rg, vmss, inst, err string
	}{
		{id: vmssID, sub: sub, rg: rg, vmss: "aks-nodepool1-123-vmss", inst: "3"},
		{id: plainID, sub: sub, rg: rg, inst: "vm-iris-1"},
		// cloud-provider-azure lower-cases resource groups; some tools write lower-case keys
		{id: "azure:///subscriptions/s/resourcegroups/mc_rg/providers/microsoft.compute/virtualmachinescalesets/pool/virtualmachines/0", sub: "s", rg: "mc_rg", vmss: "pool", inst: "0"},
		{id: "AZURE:///SUBSCRIPTIONS/S/RESOURCEGROUPS/RG/PROVIDERS/MICROSOFT.COMPUTE/VIRTUALMACHINES/VM1", sub: "S", rg: "RG", inst: "VM1"},
		{id: "aws:///us-east-1a/i-0123456789abcdef0", err: "not an azure:// ID"},
		{id: "azure:///subscriptions/s/resourceGroups/rg", err: "not a Microsoft.Compute resource"},
		{id: "azure:///subscriptions/s/resourceGroups/rg/providers/Microsoft.Network/virtualMachines/x", err: "not a Microsoft.Compute resource"},
		{id: "azure:///subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachineScaleSets/p", err: "no virtualMachines segment"},
		{id: "azure:///subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines", err: "odd number"},
		{id: "azure:///subscriptions/s/resourceGroups//providers/Microsoft.Compute/virtualMachines/x", err: "empty resourceGroups"},
		{id: "azure:///resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/x", err: "AZURE_SUBSCRIPTION_ID is not set"},
		{id: "azure:///subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/disks/d/virtualMachines/x", err: "unexpected segment disks"},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			vm, err := parse(tt.id)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			f := vm.Fields
			if f[FieldSubscription] != tt.sub || f[FieldResourceGroup] != tt.rg || f[FieldScaleSet] != tt.vmss || f[FieldInstance] != tt.inst {
				t.Errorf("parsed %v, want sub=%s rg=%s vmss=%s instance=%s", f, tt.sub, tt.rg, tt.vmss, tt.inst)
			}
			if vm.ProviderID != tt.id || vm.Provider != Scheme {
				t.Errorf("VM %+v does not keep the providerID and scheme", vm)
			}
		})
	}
	t.Run("subscription from AZURE_SUBSCRIPTION_ID", func(t *testing.T) {
		t.Setenv("AZURE_SUBSCRIPTION_ID", "envsub")
		vm, err := parse("azure:///resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/x")
		if err != nil || vm.Fields[FieldSubscription] != "envsub" {
			t.Fatalf("got %v, %v; want subscription envsub", vm.Fields, err)
		}
	})
}

// fleet is the state behind the fake servers: the power state of each
// instance ("vmss/instance" or VM name), and what the fakes were asked.
type fleet struct {
	mu    sync.Mutex
	power map[string]string // PowerState/<x>
	calls []string          // "BeginPowerOff rg vmss 3 skipShutdown=true"
	// pending non-terminal poller responses each operation returns first
	pending int
	// errs makes the next Begin* answer with this status, once per entry
	errs []int
}

func (f *fleet) record(s string) {
	f.mu.Lock()
	f.calls = append(f.calls, s)
	f.mu.Unlock()
}

func (f *fleet) set(key, state string) {
	f.mu.Lock()
	f.power[key] = state
	f.mu.Unlock()
}

// nextErr pops a queued error status, 0 when none.
func (f *fleet) nextErr() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.errs) == 0 {
		return 0
	}
	e := f.errs[0]
	f.errs = f.errs[1:]
	return e
}

func lro[T any](f *fleet, key, newState string, result T) (resp azfake.PollerResponder[T], errResp azfake.ErrorResponder) {
	if code := f.nextErr(); code != 0 {
		errResp.SetResponseError(code, http.StatusText(code))
		return
	}
	if _, ok := f.power[key]; !ok {
		errResp.SetResponseError(http.StatusNotFound, "ResourceNotFound")
		return
	}
	for range f.pending {
		resp.AddNonTerminalResponse(http.StatusAccepted, nil)
	}
	if newState == "" {
		f.mu.Lock()
		delete(f.power, key)
		f.mu.Unlock()
	} else {
		f.set(key, newState)
	}
	resp.SetTerminalResponse(http.StatusOK, result, nil)
	return
}

func boolOpt(b *bool) string {
	if b == nil {
		return "<unset>"
	}
	if *b {
		return "true"
	}
	return "false"
}

func (f *fleet) servers() *fake.ServerFactory {
	vmss := fake.VirtualMachineScaleSetVMsServer{
		BeginPowerOff: func(ctx context.Context, rg, ss, id string, o *armcompute.VirtualMachineScaleSetVMsClientBeginPowerOffOptions) (azfake.PollerResponder[armcompute.VirtualMachineScaleSetVMsClientPowerOffResponse], azfake.ErrorResponder) {
			var skip *bool
			if o != nil {
				skip = o.SkipShutdown
			}
			f.record("vmss.BeginPowerOff " + rg + " " + ss + " " + id + " skipShutdown=" + boolOpt(skip))
			return lro(f, ss+"/"+id, "PowerState/stopped", armcompute.VirtualMachineScaleSetVMsClientPowerOffResponse{})
		},
		BeginStart: func(ctx context.Context, rg, ss, id string, o *armcompute.VirtualMachineScaleSetVMsClientBeginStartOptions) (azfake.PollerResponder[armcompute.VirtualMachineScaleSetVMsClientStartResponse], azfake.ErrorResponder) {
			f.record("vmss.BeginStart " + rg + " " + ss + " " + id)
			return lro(f, ss+"/"+id, "PowerState/running", armcompute.VirtualMachineScaleSetVMsClientStartResponse{})
		},
		BeginRestart: func(ctx context.Context, rg, ss, id string, o *armcompute.VirtualMachineScaleSetVMsClientBeginRestartOptions) (azfake.PollerResponder[armcompute.VirtualMachineScaleSetVMsClientRestartResponse], azfake.ErrorResponder) {
			f.record("vmss.BeginRestart " + rg + " " + ss + " " + id)
			return lro(f, ss+"/"+id, "PowerState/running", armcompute.VirtualMachineScaleSetVMsClientRestartResponse{})
		},
		BeginDeallocate: func(ctx context.Context, rg, ss, id string, o *armcompute.VirtualMachineScaleSetVMsClientBeginDeallocateOptions) (azfake.PollerResponder[armcompute.VirtualMachineScaleSetVMsClientDeallocateResponse], azfake.ErrorResponder) {
			f.record("vmss.BeginDeallocate " + rg + " " + ss + " " + id)
			return lro(f, ss+"/"+id, "PowerState/deallocated", armcompute.VirtualMachineScaleSetVMsClientDeallocateResponse{})
		},
		BeginDelete: func(ctx context.Context, rg, ss, id string, o *armcompute.VirtualMachineScaleSetVMsClientBeginDeleteOptions) (azfake.PollerResponder[armcompute.VirtualMachineScaleSetVMsClientDeleteResponse], azfake.ErrorResponder) {
			var force *bool
			if o != nil {
				force = o.ForceDeletion
			}
			f.record("vmss.BeginDelete " + rg + " " + ss + " " + id + " forceDeletion=" + boolOpt(force))
			return lro(f, ss+"/"+id, "", armcompute.VirtualMachineScaleSetVMsClientDeleteResponse{})
		},
		GetInstanceView: func(ctx context.Context, rg, ss, id string, o *armcompute.VirtualMachineScaleSetVMsClientGetInstanceViewOptions) (resp azfake.Responder[armcompute.VirtualMachineScaleSetVMsClientGetInstanceViewResponse], errResp azfake.ErrorResponder) {
			f.mu.Lock()
			st, ok := f.power[ss+"/"+id]
			f.mu.Unlock()
			if !ok {
				errResp.SetResponseError(http.StatusNotFound, "NotFound")
				return
			}
			resp.SetResponse(http.StatusOK, armcompute.VirtualMachineScaleSetVMsClientGetInstanceViewResponse{
				VirtualMachineScaleSetVMInstanceView: armcompute.VirtualMachineScaleSetVMInstanceView{
					Statuses: []*armcompute.InstanceViewStatus{{Code: to.Ptr("ProvisioningState/succeeded")}, {Code: to.Ptr(st)}},
				},
			}, nil)
			return
		},
	}
	vms := fake.VirtualMachinesServer{
		BeginPowerOff: func(ctx context.Context, rg, name string, o *armcompute.VirtualMachinesClientBeginPowerOffOptions) (azfake.PollerResponder[armcompute.VirtualMachinesClientPowerOffResponse], azfake.ErrorResponder) {
			var skip *bool
			if o != nil {
				skip = o.SkipShutdown
			}
			f.record("vm.BeginPowerOff " + rg + " " + name + " skipShutdown=" + boolOpt(skip))
			return lro(f, name, "PowerState/stopped", armcompute.VirtualMachinesClientPowerOffResponse{})
		},
		BeginStart: func(ctx context.Context, rg, name string, o *armcompute.VirtualMachinesClientBeginStartOptions) (azfake.PollerResponder[armcompute.VirtualMachinesClientStartResponse], azfake.ErrorResponder) {
			f.record("vm.BeginStart " + rg + " " + name)
			return lro(f, name, "PowerState/running", armcompute.VirtualMachinesClientStartResponse{})
		},
		BeginRestart: func(ctx context.Context, rg, name string, o *armcompute.VirtualMachinesClientBeginRestartOptions) (azfake.PollerResponder[armcompute.VirtualMachinesClientRestartResponse], azfake.ErrorResponder) {
			f.record("vm.BeginRestart " + rg + " " + name)
			return lro(f, name, "PowerState/running", armcompute.VirtualMachinesClientRestartResponse{})
		},
		BeginDeallocate: func(ctx context.Context, rg, name string, o *armcompute.VirtualMachinesClientBeginDeallocateOptions) (azfake.PollerResponder[armcompute.VirtualMachinesClientDeallocateResponse], azfake.ErrorResponder) {
			f.record("vm.BeginDeallocate " + rg + " " + name)
			return lro(f, name, "PowerState/deallocated", armcompute.VirtualMachinesClientDeallocateResponse{})
		},
		BeginDelete: func(ctx context.Context, rg, name string, o *armcompute.VirtualMachinesClientBeginDeleteOptions) (azfake.PollerResponder[armcompute.VirtualMachinesClientDeleteResponse], azfake.ErrorResponder) {
			var force *bool
			if o != nil {
				force = o.ForceDeletion
			}
			f.record("vm.BeginDelete " + rg + " " + name + " forceDeletion=" + boolOpt(force))
			return lro(f, name, "", armcompute.VirtualMachinesClientDeleteResponse{})
		},
		InstanceView: func(ctx context.Context, rg, name string, o *armcompute.VirtualMachinesClientInstanceViewOptions) (resp azfake.Responder[armcompute.VirtualMachinesClientInstanceViewResponse], errResp azfake.ErrorResponder) {
			f.mu.Lock()
			st, ok := f.power[name]
			f.mu.Unlock()
			if !ok {
				errResp.SetResponseError(http.StatusNotFound, "NotFound")
				return
			}
			resp.SetResponse(http.StatusOK, armcompute.VirtualMachinesClientInstanceViewResponse{
				VirtualMachineInstanceView: armcompute.VirtualMachineInstanceView{
					Statuses: []*armcompute.InstanceViewStatus{{Code: to.Ptr(st)}},
				},
			}, nil)
			return
		},
	}
	return &fake.ServerFactory{VirtualMachineScaleSetVMsServer: vmss, VirtualMachinesServer: vms}
}

// captured records the first line of every request the SDK sends.
type captured struct {
	mu   sync.Mutex
	reqs []string
}

func (c *captured) Do(req *policy.Request) (*http.Response, error) {
	r := req.Raw()
	c.mu.Lock()
	c.reqs = append(c.reqs, r.Method+" "+r.URL.String())
	c.mu.Unlock()
	return req.Next()
}

func (c *captured) all() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.reqs...)
}

type harness struct {
	p        *Provider
	fleet    *fleet
	log      *cloud.CallLog
	reqs     *captured
	progress *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newHarness(t *testing.T, o Options, transport func(policy.Transporter) policy.Transporter, retry ...policy.RetryOptions) *harness {
	t.Helper()
	f := &fleet{power: map[string]string{
		"aks-nodepool1-123-vmss/3": "PowerState/running",
		"vm-iris-1":                "PowerState/running",
	}}
	var tr policy.Transporter = fake.NewServerFactoryTransport(f.servers())
	if transport != nil {
		tr = transport(tr)
	}
	reqs := &captured{}
	log := &cloud.CallLog{}
	progress := &syncBuffer{}
	o.Credential = &azfake.TokenCredential{}
	ro := policy.RetryOptions{RetryDelay: time.Millisecond, MaxRetryDelay: time.Millisecond}
	if len(retry) > 0 {
		ro = retry[0]
	}
	o.ClientOptions = &arm.ClientOptions{ClientOptions: azcore.ClientOptions{
		Transport:       tr,
		PerCallPolicies: []policy.Policy{reqs},
		Retry:           ro,
	}}
	o.Recorder = log.Recorder()
	o.Progress = progress
	if o.PollFrequency == 0 {
		o.PollFrequency = 10 * time.Millisecond
	}
	if o.ThrottleBackoff == 0 {
		o.ThrottleBackoff = 10 * time.Millisecond
	}
	if o.ProgressEvery == 0 {
		o.ProgressEvery = 5 * time.Millisecond
	}
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return &harness{p: p, fleet: f, log: log, reqs: reqs, progress: progress}
}

func (h *harness) vm(t *testing.T, id string) cloud.VM {
	t.Helper()
	vm, err := h.p.Parse(id)
	if err != nil {
		t.Fatal(err)
	}
	return vm
}

func TestDo(t *testing.T) {
	tests := []struct {
		name     string
		id       string
		action   cloud.Action
		force    bool
		start    string // initial power state
		wantCall string
		want     cloud.State
	}{
		{"vmss poweroff", vmssID, cloud.PowerOff, false, "PowerState/running", "vmss.BeginPowerOff " + rg + " aks-nodepool1-123-vmss 3 skipShutdown=true", cloud.Stopped},
		{"vmss poweron", vmssID, cloud.PowerOn, false, "PowerState/stopped", "vmss.BeginStart " + rg + " aks-nodepool1-123-vmss 3", cloud.Running},
		{"vmss restart", vmssID, cloud.Restart, false, "PowerState/running", "vmss.BeginRestart " + rg + " aks-nodepool1-123-vmss 3", cloud.Running},
		{"vmss deallocate", vmssID, cloud.Deallocate, false, "PowerState/running", "vmss.BeginDeallocate " + rg + " aks-nodepool1-123-vmss 3", cloud.Stopped},
		{"vmss delete", vmssID, cloud.Delete, false, "PowerState/running", "vmss.BeginDelete " + rg + " aks-nodepool1-123-vmss 3 forceDeletion=<unset>", cloud.Terminated},
		{"vmss force delete", vmssID, cloud.Delete, true, "PowerState/running", "vmss.BeginDelete " + rg + " aks-nodepool1-123-vmss 3 forceDeletion=true", cloud.Terminated},
		{"vm poweroff", plainID, cloud.PowerOff, false, "PowerState/running", "vm.BeginPowerOff " + rg + " vm-iris-1 skipShutdown=true", cloud.Stopped},
		{"vm poweron", plainID, cloud.PowerOn, false, "PowerState/deallocated", "vm.BeginStart " + rg + " vm-iris-1", cloud.Running},
		{"vm restart", plainID, cloud.Restart, false, "PowerState/running", "vm.BeginRestart " + rg + " vm-iris-1", cloud.Running},
		{"vm deallocate", plainID, cloud.Deallocate, false, "PowerState/running", "vm.BeginDeallocate " + rg + " vm-iris-1", cloud.Stopped},
		{"vm force delete", plainID, cloud.Delete, true, "PowerState/running", "vm.BeginDelete " + rg + " vm-iris-1 forceDeletion=true", cloud.Terminated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{ForceDelete: tt.force}, nil)
			h.fleet.pending = 3 // the operation answers "InProgress" three times first
			vm := h.vm(t, tt.id)
			h.fleet.set(vm.Fields[FieldScaleSet]+"/"+vm.Fields[FieldInstance], tt.start)
			h.fleet.set(vm.Fields[FieldInstance], tt.start)
			if err := h.p.Do(context.Background(), vm, tt.action); err != nil {
				t.Fatalf("Do(%s): %v", tt.action, err)
			}
			if len(h.fleet.calls) != 1 || h.fleet.calls[0] != tt.wantCall {
				t.Errorf("fake server saw %q, want exactly [%q]", h.fleet.calls, tt.wantCall)
			}
			reqs := h.reqs.all()
			// first request is the operation itself, then >= 3 polls, then the instance view
			if len(reqs) < 5 {
				t.Fatalf("SDK sent %d requests (%q); want the operation, 3 non-terminal polls and a state read", len(reqs), reqs)
			}
			if reqs[0] != h.p.Describe(vm, tt.action) {
				t.Errorf("Describe = %q\nbut the SDK sent %q", h.p.Describe(vm, tt.action), reqs[0])
			}
			if !strings.Contains(reqs[len(reqs)-1], "/instanceView?") && tt.want != cloud.Terminated {
				t.Errorf("last request %q is not the state check", reqs[len(reqs)-1])
			}
			st, err := h.p.State(context.Background(), vm)
			if tt.want == cloud.Terminated {
				if !errors.Is(err, cloud.ErrNotFound) {
					t.Errorf("State after delete = %s, %v; want ErrNotFound", st, err)
				}
			} else if err != nil || st != tt.want {
				t.Errorf("State after %s = %s, %v; want %s", tt.action, st, err, tt.want)
			}
			calls := h.log.Calls()
			if len(calls) < 2 || calls[0].Err != nil || calls[0].Request != reqs[0] || calls[0].Target != tt.id || calls[0].Duration <= 0 {
				t.Errorf("recorded calls %+v; want the operation first with its exact request, target and duration", calls)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name    string
		id      string
		errs    []int
		kind    error
		msg     string
		retries int
	}{
		{"not found", "azure:///subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/Microsoft.Compute/virtualMachineScaleSets/aks-nodepool1-123-vmss/virtualMachines/99", nil, cloud.ErrNotFound, "does not exist; check the node's spec.providerID", 0},
		{"conflict", vmssID, []int{409}, cloud.ErrConflict, "another operation is running", 0},
		{"forbidden", vmssID, []int{403}, cloud.ErrAuth, "Virtual Machine Contributor", 0},
		{"unauthorized", plainID, []int{401}, cloud.ErrAuth, "az login", 0},
		{"throttled for good", vmssID, []int{429, 429, 429}, cloud.ErrThrottled, "after 2 retries", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{ThrottleRetries: tt.retries}, nil)
			h.fleet.errs = tt.errs
			err := h.p.Do(context.Background(), h.vm(t, tt.id), cloud.PowerOff)
			if !errors.Is(err, tt.kind) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error = %v; want %v saying %q", err, tt.kind, tt.msg)
			}
			calls := h.log.Calls()
			if len(calls) != 1 || calls[0].Err == nil {
				t.Errorf("recorded %+v; want one failed call", calls)
			}
		})
	}
}

func TestThrottleRetrySucceeds(t *testing.T) {
	h := newHarness(t, Options{}, nil)
	h.fleet.errs = []int{429, 429}
	vm := h.vm(t, vmssID)
	if err := h.p.Do(context.Background(), vm, cloud.PowerOff); err != nil {
		t.Fatalf("Do after two throttled answers: %v", err)
	}
	if n := len(h.fleet.calls); n != 3 {
		t.Errorf("fake saw %d power-off calls, want 3 (two throttled, one accepted)", n)
	}
	if !strings.Contains(h.progress.String(), "throttled by Azure (HTTP 429), retry 2/3") {
		t.Errorf("progress %q does not report the retries", h.progress.String())
	}
}

// retryAfterOnce answers the first operation request with a real 429 carrying
// Retry-After, as ARM does, then lets the fake server answer.
type retryAfterOnce struct {
	next policy.Transporter
	once sync.Once
}

func (r *retryAfterOnce) Do(req *http.Request) (*http.Response, error) {
	var resp *http.Response
	r.once.Do(func() {
		resp = &http.Response{
			StatusCode: http.StatusTooManyRequests,
			Status:     "429 Too Many Requests",
			Header:     http.Header{"Retry-After": {"1"}, "Content-Type": {"application/json"}},
			Body:       io.NopCloser(strings.NewReader(`{"error":{"code":"TooManyRequests","message":"slow down"}}`)),
			Request:    req,
		}
	})
	if resp != nil {
		return resp, nil
	}
	return r.next.Do(req)
}

func TestThrottleHonoursRetryAfter(t *testing.T) {
	tests := []struct {
		name  string
		retry policy.RetryOptions
		says  string
	}{
		// Retry-After beyond the SDK's MaxRetryDelay: the SDK gives up, Do waits.
		{"by Do", policy.RetryOptions{RetryDelay: time.Millisecond, MaxRetryDelay: time.Millisecond}, "retry 1/3 in 1s"},
		// Within MaxRetryDelay: the SDK waits and retries, and it is reported.
		{"by the SDK", policy.RetryOptions{RetryDelay: time.Millisecond}, "throttled by Azure (HTTP 429) on POST /subscriptions/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, Options{ThrottleBackoff: time.Hour}, func(next policy.Transporter) policy.Transporter {
				return &retryAfterOnce{next: next}
			}, tt.retry)
			start := time.Now()
			if err := h.p.Do(context.Background(), h.vm(t, plainID), cloud.PowerOff); err != nil {
				t.Fatal(err)
			}
			if d := time.Since(start); d < time.Second || d > 30*time.Second {
				t.Errorf("Do took %s; want it to wait the 1s Retry-After asked for (and not the 1h default)", d)
			}
			if !strings.Contains(h.progress.String(), tt.says) {
				t.Errorf("progress %q does not say %q", h.progress.String(), tt.says)
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	h := newHarness(t, Options{Timeout: 300 * time.Millisecond, PollFrequency: 50 * time.Millisecond}, nil)
	h.fleet.pending = 1000 // never completes in time
	err := h.p.Do(context.Background(), h.vm(t, vmssID), cloud.PowerOff)
	if !errors.Is(err, cloud.ErrTimeout) {
		t.Fatalf("error = %v; want ErrTimeout", err)
	}
	if !strings.Contains(h.progress.String(), "waiting for Azure virtualMachineScaleSets/virtualMachines/powerOff of aks-nodepool1-123-vmss/3") {
		t.Errorf("progress %q does not say what it waits for", h.progress.String())
	}
}

type failingCredential struct{}

func (failingCredential) GetToken(context.Context, policy.TokenRequestOptions) (azcore.AccessToken, error) {
	return azcore.AccessToken{}, errors.New("DefaultAzureCredential: failed to acquire a token")
}

func TestMissingCredentials(t *testing.T) {
	h := newHarness(t, Options{}, nil)
	h.p.cred = markedCredential{failingCredential{}}
	err := h.p.Do(context.Background(), h.vm(t, vmssID), cloud.PowerOff)
	if !errors.Is(err, cloud.ErrAuth) || !strings.Contains(err.Error(), "az login") {
		t.Fatalf("error = %v; want ErrAuth telling to log in", err)
	}
	if len(h.fleet.calls) != 0 {
		t.Errorf("the fake was called without a token: %q", h.fleet.calls)
	}
}

func TestUnsupportedAction(t *testing.T) {
	h := newHarness(t, Options{}, nil)
	err := h.p.Do(context.Background(), h.vm(t, vmssID), cloud.Action("hibernate"))
	if !errors.Is(err, cloud.ErrUnsupported) {
		t.Fatalf("error = %v; want ErrUnsupported", err)
	}
}

func TestDescribe(t *testing.T) {
	h := newHarness(t, Options{ForceDelete: true}, nil)
	vm := h.vm(t, vmssID)
	want := "POST https://management.azure.com/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/Microsoft.Compute/virtualMachineScaleSets/aks-nodepool1-123-vmss/virtualMachines/3/powerOff?api-version=" + APIVersion + "&skipShutdown=true"
	if got := h.p.Describe(vm, cloud.PowerOff); got != want {
		t.Errorf("Describe(poweroff) =\n%s\nwant\n%s", got, want)
	}
	if got := h.p.Describe(h.vm(t, plainID), cloud.Delete); !strings.HasPrefix(got, "DELETE ") || !strings.HasSuffix(got, "/virtualMachines/vm-iris-1?api-version="+APIVersion+"&forceDeletion=true") {
		t.Errorf("Describe(delete) = %s", got)
	}
}

func TestPowerState(t *testing.T) {
	tests := map[string]cloud.State{
		"PowerState/running":      cloud.Running,
		"PowerState/starting":     cloud.Starting,
		"PowerState/stopping":     cloud.Stopping,
		"PowerState/deallocating": cloud.Stopping,
		"PowerState/stopped":      cloud.Stopped,
		"powerstate/Deallocated":  cloud.Stopped,
		"PowerState/unknown":      cloud.Unknown,
		"ProvisioningState/ok":    cloud.Unknown,
	}
	for code, want := range tests {
		got := powerState([]*armcompute.InstanceViewStatus{nil, {Code: nil}, {Code: to.Ptr(code)}})
		if got != want {
			t.Errorf("powerState(%s) = %s, want %s", code, got, want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	def := 7 * time.Second
	resp := func(h ...string) *http.Response {
		r := &http.Response{Header: http.Header{}}
		for i := 0; i+1 < len(h); i += 2 {
			r.Header.Set(h[i], h[i+1])
		}
		return r
	}
	future := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	tests := []struct {
		name string
		resp *http.Response
		min  time.Duration
		max  time.Duration
	}{
		{"no response", nil, def, def},
		{"no header", resp(), def, def},
		{"seconds", resp("Retry-After", "17"), 17 * time.Second, 17 * time.Second},
		{"milliseconds", resp("retry-after-ms", "250", "Retry-After", "17"), 250 * time.Millisecond, 250 * time.Millisecond},
		{"x-ms milliseconds", resp("x-ms-retry-after-ms", "40"), 40 * time.Millisecond, 40 * time.Millisecond},
		{"http date", resp("Retry-After", future), 80 * time.Second, 91 * time.Second},
		{"garbage", resp("Retry-After", "soon"), def, def},
	}
	for _, tt := range tests {
		if got := retryAfter(tt.resp, def); got < tt.min || got > tt.max {
			t.Errorf("%s: retryAfter = %s, want in [%s, %s]", tt.name, got, tt.min, tt.max)
		}
	}
}
