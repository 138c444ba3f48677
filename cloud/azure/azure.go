// Package azure powers Azure VMs through Azure Resource Manager with the
// official armcompute/v7 SDK: AKS node pool instances (virtual machine scale
// set VMs) and standalone VMs, credentials from azidentity's default chain.
package azure

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"

	"github.com/irischaos/irischaos/cloud"
)

// Scheme is the providerID scheme of Azure nodes.
const Scheme = "azure"

// APIVersion is the Microsoft.Compute API version armcompute/v7.3.0 sends;
// Describe shows it so a dry run prints the very request. A test pins it to
// what the SDK really sends.
const APIVersion = "2025-04-01"

// Options configure the provider. Zero values are production defaults.
type Options struct {
	// Credential authenticates to ARM; nil means azidentity's
	// DefaultAzureCredential (environment, workload identity, managed
	// identity, Azure CLI, ...).
	Credential azcore.TokenCredential
	// ClientOptions for the armcompute clients; tests put a fake transport here.
	ClientOptions *arm.ClientOptions
	// Recorder receives every API call. May be nil.
	Recorder cloud.Recorder
	// Progress receives lines while long operations run. May be nil.
	Progress io.Writer
	// Timeout bounds one action including its polling; default 10 minutes.
	Timeout time.Duration
	// PollFrequency is how often a long-running operation is polled when ARM
	// gives no Retry-After; default 5s.
	PollFrequency time.Duration
	// ProgressEvery is how often a waiting line is written; default 5s.
	ProgressEvery time.Duration
	// ForceDelete deletes with forceDeletion=true (no graceful teardown).
	ForceDelete bool
	// ThrottleRetries is how often an operation still throttled (HTTP 429)
	// after the SDK's own retries is started again, waiting as Retry-After
	// asks; default 3.
	ThrottleRetries int
	// ThrottleBackoff is the wait when a 429 carries no Retry-After; default 10s.
	ThrottleBackoff time.Duration
	// Endpoint is the ARM endpoint shown by Describe; default management.azure.com.
	Endpoint string
}

// Provider is the Azure VM provider.
type Provider struct {
	o    Options
	cred azcore.TokenCredential

	mu      sync.Mutex
	clients map[string]*clients // by subscription
}

type clients struct {
	vmss *armcompute.VirtualMachineScaleSetVMsClient
	vm   *armcompute.VirtualMachinesClient
}

// errCredential marks failures to get a token, whatever credential failed.
var errCredential = errors.New("no usable Azure credential")

// markedCredential wraps a credential so that its failures are recognisable
// after travelling through the SDK pipeline.
type markedCredential struct{ inner azcore.TokenCredential }

func (m markedCredential) GetToken(ctx context.Context, o policy.TokenRequestOptions) (azcore.AccessToken, error) {
	t, err := m.inner.GetToken(ctx, o)
	if err != nil {
		return t, fmt.Errorf("%w: %w", errCredential, err)
	}
	return t, nil
}

// New returns an Azure provider. It does not call Azure.
func New(o Options) (*Provider, error) {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Minute
	}
	if o.PollFrequency <= 0 {
		o.PollFrequency = 5 * time.Second
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 5 * time.Second
	}
	if o.ThrottleRetries == 0 {
		o.ThrottleRetries = 3
	}
	if o.ThrottleBackoff <= 0 {
		o.ThrottleBackoff = 10 * time.Second
	}
	if o.Endpoint == "" {
		o.Endpoint = "https://management.azure.com"
	}
	cred := o.Credential
	if cred == nil {
		c, err := azidentity.NewDefaultAzureCredential(nil)
		if err != nil {
			return nil, fmt.Errorf("%w: %v: log in with `az login`, or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET (or use workload or managed identity)", cloud.ErrAuth, err)
		}
		cred = c
	}
	return &Provider{o: o, cred: markedCredential{cred}, clients: map[string]*clients{}}, nil
}

// Name implements cloud.Provider.
func (p *Provider) Name() string { return Scheme }

// Fields of a parsed Azure VM.
const (
	FieldSubscription  = "subscription"
	FieldResourceGroup = "resourceGroup"
	FieldScaleSet      = "scaleSet" // empty for a standalone VM
	FieldInstance      = "instance" // VMSS instance id, or the VM's name
)

// Parse implements cloud.Provider. It accepts
//
//	azure:///subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.Compute/virtualMachineScaleSets/<vmss>/virtualMachines/<id>
//	azure:///subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.Compute/virtualMachines/<name>
//
// with keys in any case (cloud-provider-azure lower-cases resource groups and
// some tools write "resourcegroups"). Without a subscription segment,
// AZURE_SUBSCRIPTION_ID is used.
func (p *Provider) Parse(providerID string) (cloud.VM, error) { return parse(providerID) }

func parse(providerID string) (cloud.VM, error) {
	bad := func(why string) (cloud.VM, error) {
		return cloud.VM{}, fmt.Errorf("azure providerID %q: %s (expected azure:///subscriptions/<sub>/resourceGroups/<rg>/providers/Microsoft.Compute/virtualMachineScaleSets/<vmss>/virtualMachines/<instance> or .../providers/Microsoft.Compute/virtualMachines/<name>)", providerID, why)
	}
	scheme, rest, ok := strings.Cut(providerID, "://")
	if !ok || !strings.EqualFold(scheme, Scheme) {
		return bad("not an azure:// ID")
	}
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	if len(parts)%2 != 0 {
		return bad("odd number of path segments")
	}
	kv := map[string]string{}
	for i := 0; i < len(parts); i += 2 {
		k, v := strings.ToLower(parts[i]), parts[i+1]
		if v == "" {
			return bad("empty " + parts[i])
		}
		if _, dup := kv[k]; dup {
			return bad("repeated " + parts[i])
		}
		kv[k] = v
	}
	sub := kv["subscriptions"]
	if sub == "" {
		sub = os.Getenv("AZURE_SUBSCRIPTION_ID")
		if sub == "" {
			return bad("no subscription in it and AZURE_SUBSCRIPTION_ID is not set: set AZURE_SUBSCRIPTION_ID to the subscription holding the cluster's VMs")
		}
	}
	rg := kv["resourcegroups"]
	if rg == "" {
		return bad("no resourceGroups segment")
	}
	if prov, ok := kv["providers"]; !ok || !strings.EqualFold(prov, "Microsoft.Compute") {
		return bad("not a Microsoft.Compute resource")
	}
	inst := kv["virtualmachines"]
	if inst == "" {
		return bad("no virtualMachines segment")
	}
	vmss := kv["virtualmachinescalesets"]
	for k := range kv {
		switch k {
		case "subscriptions", "resourcegroups", "providers", "virtualmachinescalesets", "virtualmachines":
		default:
			return bad("unexpected segment " + k)
		}
	}
	id := inst
	if vmss != "" {
		id = vmss + "/" + inst
	}
	return cloud.VM{
		ProviderID: providerID,
		Provider:   Scheme,
		ID:         id,
		Fields: map[string]string{
			FieldSubscription:  sub,
			FieldResourceGroup: rg,
			FieldScaleSet:      vmss,
			FieldInstance:      inst,
		},
	}, nil
}

// resourcePath is the ARM path of the VM, as the SDK builds it.
func resourcePath(vm cloud.VM) string {
	f := vm.Fields
	p := "/subscriptions/" + url.PathEscape(f[FieldSubscription]) +
		"/resourceGroups/" + url.PathEscape(f[FieldResourceGroup]) +
		"/providers/Microsoft.Compute/"
	if f[FieldScaleSet] != "" {
		return p + "virtualMachineScaleSets/" + url.PathEscape(f[FieldScaleSet]) +
			"/virtualMachines/" + url.PathEscape(f[FieldInstance])
	}
	return p + "virtualMachines/" + url.PathEscape(f[FieldInstance])
}

// request is the HTTP method, path suffix and query of an action.
func (p *Provider) request(a cloud.Action) (method, suffix string, q url.Values, err error) {
	q = url.Values{"api-version": {APIVersion}}
	switch a {
	case cloud.PowerOff:
		q.Set("skipShutdown", "true")
		return http.MethodPost, "/powerOff", q, nil
	case cloud.PowerOn:
		return http.MethodPost, "/start", q, nil
	case cloud.Restart:
		return http.MethodPost, "/restart", q, nil
	case cloud.Deallocate:
		return http.MethodPost, "/deallocate", q, nil
	case cloud.Delete:
		if p.o.ForceDelete {
			q.Set("forceDeletion", "true")
		}
		return http.MethodDelete, "", q, nil
	}
	return "", "", nil, fmt.Errorf("%w: azure has no action %q (valid: poweroff, poweron, restart, deallocate, delete)", cloud.ErrUnsupported, a)
}

// Describe implements cloud.Provider: the exact ARM request Do sends first.
func (p *Provider) Describe(vm cloud.VM, a cloud.Action) string {
	method, suffix, q, err := p.request(a)
	if err != nil {
		return err.Error()
	}
	return method + " " + strings.TrimRight(p.o.Endpoint, "/") + resourcePath(vm) + suffix + "?" + q.Encode()
}

func (p *Provider) clientsFor(sub string) (*clients, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.clients[sub]; ok {
		return c, nil
	}
	opts := &arm.ClientOptions{}
	if p.o.ClientOptions != nil {
		cp := *p.o.ClientOptions
		opts = &cp
	}
	// The SDK retries 408, 429 and 5xx answers itself, honouring
	// Retry-After up to its MaxRetryDelay; throttleNotice makes those
	// retries visible. A 429 that still surfaces (a longer Retry-After, or
	// retries exhausted) is retried by Do.
	opts.PerRetryPolicies = append(append([]policy.Policy(nil), opts.PerRetryPolicies...), throttleNotice{p.o.Progress})
	vmss, err := armcompute.NewVirtualMachineScaleSetVMsClient(sub, p.cred, opts)
	if err != nil {
		return nil, fmt.Errorf("azure: creating scale set VM client for subscription %s: %w", sub, err)
	}
	vm, err := armcompute.NewVirtualMachinesClient(sub, p.cred, opts)
	if err != nil {
		return nil, fmt.Errorf("azure: creating VM client for subscription %s: %w", sub, err)
	}
	c := &clients{vmss: vmss, vm: vm}
	p.clients[sub] = c
	return c, nil
}

// waiter is what every Begin* returns, reduced to what Do needs.
type waiter func(ctx context.Context) error

func poll[T any](freq time.Duration) func(*runtime.Poller[T], error) (waiter, error) {
	return func(pl *runtime.Poller[T], err error) (waiter, error) {
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) error {
			_, err := pl.PollUntilDone(ctx, &runtime.PollUntilDoneOptions{Frequency: freq})
			return err
		}, nil
	}
}

// begin starts the long-running operation for a on vm.
func (p *Provider) begin(ctx context.Context, c *clients, vm cloud.VM, a cloud.Action) (waiter, error) {
	f := vm.Fields
	rg, vmss, inst := f[FieldResourceGroup], f[FieldScaleSet], f[FieldInstance]
	freq := p.o.PollFrequency
	force := p.o.ForceDelete
	if vmss != "" {
		switch a {
		case cloud.PowerOff:
			return poll[armcompute.VirtualMachineScaleSetVMsClientPowerOffResponse](freq)(c.vmss.BeginPowerOff(ctx, rg, vmss, inst, &armcompute.VirtualMachineScaleSetVMsClientBeginPowerOffOptions{SkipShutdown: to.Ptr(true)}))
		case cloud.PowerOn:
			return poll[armcompute.VirtualMachineScaleSetVMsClientStartResponse](freq)(c.vmss.BeginStart(ctx, rg, vmss, inst, nil))
		case cloud.Restart:
			return poll[armcompute.VirtualMachineScaleSetVMsClientRestartResponse](freq)(c.vmss.BeginRestart(ctx, rg, vmss, inst, nil))
		case cloud.Deallocate:
			return poll[armcompute.VirtualMachineScaleSetVMsClientDeallocateResponse](freq)(c.vmss.BeginDeallocate(ctx, rg, vmss, inst, nil))
		case cloud.Delete:
			var o *armcompute.VirtualMachineScaleSetVMsClientBeginDeleteOptions
			if force {
				o = &armcompute.VirtualMachineScaleSetVMsClientBeginDeleteOptions{ForceDeletion: to.Ptr(true)}
			}
			return poll[armcompute.VirtualMachineScaleSetVMsClientDeleteResponse](freq)(c.vmss.BeginDelete(ctx, rg, vmss, inst, o))
		}
	} else {
		switch a {
		case cloud.PowerOff:
			return poll[armcompute.VirtualMachinesClientPowerOffResponse](freq)(c.vm.BeginPowerOff(ctx, rg, inst, &armcompute.VirtualMachinesClientBeginPowerOffOptions{SkipShutdown: to.Ptr(true)}))
		case cloud.PowerOn:
			return poll[armcompute.VirtualMachinesClientStartResponse](freq)(c.vm.BeginStart(ctx, rg, inst, nil))
		case cloud.Restart:
			return poll[armcompute.VirtualMachinesClientRestartResponse](freq)(c.vm.BeginRestart(ctx, rg, inst, nil))
		case cloud.Deallocate:
			return poll[armcompute.VirtualMachinesClientDeallocateResponse](freq)(c.vm.BeginDeallocate(ctx, rg, inst, nil))
		case cloud.Delete:
			var o *armcompute.VirtualMachinesClientBeginDeleteOptions
			if force {
				o = &armcompute.VirtualMachinesClientBeginDeleteOptions{ForceDeletion: to.Ptr(true)}
			}
			return poll[armcompute.VirtualMachinesClientDeleteResponse](freq)(c.vm.BeginDelete(ctx, rg, inst, o))
		}
	}
	_, _, _, err := p.request(a)
	return nil, err
}

func operation(vm cloud.VM, a cloud.Action) string {
	kind := "virtualMachines"
	if vm.Fields[FieldScaleSet] != "" {
		kind = "virtualMachineScaleSets/virtualMachines"
	}
	switch a {
	case cloud.PowerOff:
		return kind + "/powerOff"
	case cloud.PowerOn:
		return kind + "/start"
	case cloud.Restart:
		return kind + "/restart"
	case cloud.Deallocate:
		return kind + "/deallocate"
	case cloud.Delete:
		return kind + "/delete"
	}
	return kind + "/" + string(a)
}

// Do implements cloud.Provider: it starts the operation (retrying while
// throttled), polls it to completion, then confirms the VM's state.
func (p *Provider) Do(ctx context.Context, vm cloud.VM, a cloud.Action) error {
	if _, _, _, err := p.request(a); err != nil {
		return err
	}
	if vm.Fields == nil {
		return fmt.Errorf("azure: VM %q was not parsed by the azure provider", vm.ProviderID)
	}
	c, err := p.clientsFor(vm.Fields[FieldSubscription])
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, p.o.Timeout)
	defer cancel()

	what := fmt.Sprintf("Azure %s of %s", operation(vm, a), vm.ID)
	start := time.Now()
	err = p.withThrottleRetry(ctx, what, func() error {
		w, err := p.begin(ctx, c, vm, a)
		if err != nil {
			return err
		}
		stop := cloud.Ticker(p.o.Progress, p.o.ProgressEvery, what+" to complete")
		defer stop()
		return w(ctx)
	})
	err = p.explain(ctx, vm, a, err)
	p.o.Recorder.Record(cloud.Call{
		Provider: Scheme, Action: "Microsoft.Compute/" + operation(vm, a), Target: vm.ProviderID,
		Request: p.Describe(vm, a), Start: start, Duration: time.Since(start), Err: err,
		Response: responseText(err),
	})
	if err != nil {
		return err
	}
	return p.confirm(ctx, vm, a)
}

func responseText(err error) string {
	if err == nil {
		return "operation succeeded"
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		return fmt.Sprintf("HTTP %d %s", re.StatusCode, re.ErrorCode)
	}
	return ""
}

// confirm reads the instance view until the VM is in the action's target state.
func (p *Provider) confirm(ctx context.Context, vm cloud.VM, a cloud.Action) error {
	want := a.Target()
	return cloud.Poll(ctx, cloud.PollOptions{
		What:          fmt.Sprintf("%s to be %s", vm.ID, want),
		Interval:      p.o.PollFrequency,
		Progress:      p.o.Progress,
		ProgressEvery: p.o.ProgressEvery,
	}, func(ctx context.Context) (bool, string, error) {
		st, err := p.State(ctx, vm)
		if errors.Is(err, cloud.ErrNotFound) && want == cloud.Terminated {
			return true, string(cloud.Terminated), nil
		}
		if err != nil {
			return false, "", err
		}
		return st == want, string(st), nil
	})
}

// withThrottleRetry runs f again while ARM answers 429, waiting as its
// Retry-After header says (or ThrottleBackoff), at most ThrottleRetries times.
func (p *Provider) withThrottleRetry(ctx context.Context, what string, f func() error) error {
	for attempt := 0; ; attempt++ {
		err := f()
		var re *azcore.ResponseError
		if err == nil || !errors.As(err, &re) || re.StatusCode != http.StatusTooManyRequests || attempt >= p.o.ThrottleRetries {
			return err
		}
		wait := retryAfter(re.RawResponse, p.o.ThrottleBackoff)
		if p.o.Progress != nil {
			fmt.Fprintf(p.o.Progress, "  %s throttled by Azure (HTTP 429), retry %d/%d in %s\n", what, attempt+1, p.o.ThrottleRetries, wait.Round(time.Millisecond))
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
	}
}

// throttleNotice reports every throttled answer, which the SDK then retries.
type throttleNotice struct{ w io.Writer }

func (n throttleNotice) Do(req *policy.Request) (*http.Response, error) {
	resp, err := req.Next()
	if n.w != nil && err == nil && resp != nil && resp.StatusCode == http.StatusTooManyRequests {
		fmt.Fprintf(n.w, "  throttled by Azure (HTTP 429) on %s %s; Retry-After %s\n", req.Raw().Method, req.Raw().URL.Path, retryAfter(resp, 0))
	}
	return resp, err
}

// retryAfter reads the wait ARM asks for: Retry-After in seconds or as an
// HTTP date, or the millisecond variants ARM also sends.
func retryAfter(resp *http.Response, def time.Duration) time.Duration {
	if resp == nil {
		return def
	}
	for _, h := range []string{"retry-after-ms", "x-ms-retry-after-ms"} {
		if v := resp.Header.Get(h); v != "" {
			if ms, err := strconv.Atoi(v); err == nil && ms >= 0 {
				return time.Duration(ms) * time.Millisecond
			}
		}
	}
	v := resp.Header.Get("Retry-After")
	if v == "" {
		return def
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
		return 0
	}
	return def
}

// State implements cloud.Provider from the VM's instance view.
func (p *Provider) State(ctx context.Context, vm cloud.VM) (cloud.State, error) {
	if vm.Fields == nil {
		return cloud.Unknown, fmt.Errorf("azure: VM %q was not parsed by the azure provider", vm.ProviderID)
	}
	c, err := p.clientsFor(vm.Fields[FieldSubscription])
	if err != nil {
		return cloud.Unknown, err
	}
	f := vm.Fields
	start := time.Now()
	var statuses []*armcompute.InstanceViewStatus
	if f[FieldScaleSet] != "" {
		var r armcompute.VirtualMachineScaleSetVMsClientGetInstanceViewResponse
		r, err = c.vmss.GetInstanceView(ctx, f[FieldResourceGroup], f[FieldScaleSet], f[FieldInstance], nil)
		statuses = r.Statuses
	} else {
		var r armcompute.VirtualMachinesClientInstanceViewResponse
		r, err = c.vm.InstanceView(ctx, f[FieldResourceGroup], f[FieldInstance], nil)
		statuses = r.Statuses
	}
	st := powerState(statuses)
	err = p.explain(ctx, vm, "", err)
	p.o.Recorder.Record(cloud.Call{
		Provider: Scheme, Action: "Microsoft.Compute/" + operation(vm, "instanceView"), Target: vm.ProviderID,
		Request:  "GET " + strings.TrimRight(p.o.Endpoint, "/") + resourcePath(vm) + "/instanceView?api-version=" + APIVersion,
		Response: "PowerState=" + string(st), Start: start, Duration: time.Since(start), Err: err,
	})
	if err != nil {
		return cloud.Unknown, err
	}
	return st, nil
}

// powerState maps the instance view's PowerState/* status.
func powerState(statuses []*armcompute.InstanceViewStatus) cloud.State {
	for _, s := range statuses {
		if s == nil || s.Code == nil {
			continue
		}
		code, ok := strings.CutPrefix(strings.ToLower(*s.Code), "powerstate/")
		if !ok {
			continue
		}
		switch code {
		case "running":
			return cloud.Running
		case "starting":
			return cloud.Starting
		case "stopping", "deallocating":
			return cloud.Stopping
		case "stopped", "deallocated":
			return cloud.Stopped
		}
		return cloud.Unknown
	}
	return cloud.Unknown
}

// explain turns SDK errors into messages that say what to fix, wrapping the
// cloud error kinds.
func (p *Provider) explain(ctx context.Context, vm cloud.VM, a cloud.Action, err error) error {
	if err == nil {
		return nil
	}
	op := "reading the state of"
	if a != "" {
		op = string(a) + " of"
	}
	subj := fmt.Sprintf("azure: %s %s (resource group %s, subscription %s)", op, vm.ID, vm.Fields[FieldResourceGroup], vm.Fields[FieldSubscription])
	if errors.Is(err, errCredential) {
		return fmt.Errorf("%s: %w: %v: log in with `az login`, or set AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, or run with a workload/managed identity", subj, cloud.ErrAuth, err)
	}
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		code := re.ErrorCode
		switch re.StatusCode {
		case http.StatusNotFound:
			return fmt.Errorf("%s: %w (HTTP 404 %s): the VM does not exist; check the node's spec.providerID, or it was already deleted", subj, cloud.ErrNotFound, code)
		case http.StatusConflict:
			return fmt.Errorf("%s: %w (HTTP 409 %s): another operation is running on the VM or its scale set (upgrade, scale, delete); wait for it to finish and retry", subj, cloud.ErrConflict, code)
		case http.StatusTooManyRequests:
			return fmt.Errorf("%s: %w (HTTP 429 %s) after %d retries: Azure Resource Manager limits request rates per subscription; wait a few minutes and retry, and avoid running other automation at the same time", subj, cloud.ErrThrottled, code, p.o.ThrottleRetries)
		case http.StatusUnauthorized:
			return fmt.Errorf("%s: %w (HTTP 401 %s): the credential was rejected; log in again (`az login`) or check AZURE_TENANT_ID/AZURE_CLIENT_ID/AZURE_CLIENT_SECRET", subj, cloud.ErrAuth, code)
		case http.StatusForbidden:
			return fmt.Errorf("%s: %w (HTTP 403 %s): the identity lacks permission; grant it Virtual Machine Contributor on the resource group (or a role with the Microsoft.Compute actions listed in docs/cloud.md)", subj, cloud.ErrAuth, code)
		}
		return fmt.Errorf("%s: HTTP %d %s: %w", subj, re.StatusCode, code, err)
	}
	if ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w after %s: the operation may still complete in Azure; check the VM in the portal (or raise the timeout)", subj, cloud.ErrTimeout, p.o.Timeout)
	}
	return fmt.Errorf("%s: %w", subj, err)
}
