//go:build chaos

package e2e

// The emulated clouds over the local cluster's node power, shared by the
// cloud features (cloud_test.go: one node power cycled through a provider)
// and the VM scenario features (vmscenario_test.go: node-lost through the
// runner):
//
//   - AWS: a moto_server the test starts with one EC2 instance per node,
//     whose instance state drives the node power API (awsemulator.Sync): on a
//     `--cloud local` cluster, the chain `cluster up --cloud aws-emulator` builds.
//   - Azure: the SDK's fake ARM server whose scale set instance i is the
//     i-th node by name; its handlers call the node power API.
//
// Both are reached through the real cloud/aws and cloud/azure providers.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	azfake "github.com/Azure/azure-sdk-for-go/sdk/azcore/fake"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7"
	armfake "github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/compute/armcompute/v7/fake"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/irischaos/irischaos/cloud"
	"github.com/irischaos/irischaos/cloud/providers"
	"github.com/irischaos/irischaos/internal/lab/awsemulator"
	"github.com/irischaos/irischaos/internal/lab/nodepower"
	"github.com/irischaos/irischaos/internal/suite"
)

// startMotoChain starts a moto_server with one instance per node of c whose
// state drives the nodes' power until the test ends; it skips when
// moto_server is not installed.
func startMotoChain(t *testing.T, c *cloudCluster) *awsemulator.Fleet {
	t.Helper()
	if _, err := awsemulator.Binary(); err != nil {
		skipTest(t, "needs %s: %v", suite.Moto, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var specs []awsemulator.NodeSpec
	for _, x := range c.nodes {
		specs = append(specs, awsemulator.NodeSpec{Name: x.Name})
	}
	fleet, err := awsemulator.StartFleet(ctx, t.TempDir(), specs)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	synced := make(chan struct{})
	go func() {
		defer close(synced)
		_ = fleet.Sync(ctx, func(ctx context.Context, node, action string) error {
			return c.power.Do(ctx, node, nodepower.Action(action))
		}, testWriter{t})
	}()
	// Cleanups run last in, first out: Sync stops before moto_server does.
	t.Cleanup(func() { _ = fleet.Close() })
	t.Cleanup(func() { cancel(); <-synced })
	return fleet
}

// awsRegistry builds registries whose aws provider talks to the EC2
// emulator at endpoint with its static credentials.
func awsRegistry(endpoint string, progress io.Writer) func(cloud.Recorder) *cloud.Registry {
	return func(r cloud.Recorder) *cloud.Registry {
		return providers.New(providers.Options{
			AWSEndpoint:    endpoint,
			AWSLoadOptions: []func(*awsconfig.LoadOptions) error{awsconfig.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(awsemulator.AccessKeyID, awsemulator.SecretAccessKey, ""))},
			PollInterval:   500 * time.Millisecond,
			Recorder:       r,
			Progress:       progress,
		})
	}
}

// The scale set the Azure fake serves.
const (
	azureE2ESubscription  = "00000000-0000-0000-0000-00000000e2e0"
	azureE2EResourceGroup = "mc_irischaos_e2e"
	azureE2EScaleSet      = "aks-nodepool1-e2e-vmss"
)

// azureProviderID is the providerID of the fake scale set's instance i (the
// i-th node of the cluster by name), as AKS writes it on a Node.
func azureProviderID(i int) string {
	return fmt.Sprintf("azure:///subscriptions/%s/resourceGroups/%s/providers/Microsoft.Compute/virtualMachineScaleSets/%s/virtualMachines/%d", azureE2ESubscription, azureE2EResourceGroup, azureE2EScaleSet, i)
}

// azureRegistry builds registries whose azure provider talks to the ARM
// fake over c's node power (azureOverNodePower).
func azureRegistry(c *cloudCluster, progress io.Writer) func(cloud.Recorder) *cloud.Registry {
	srv := azureOverNodePower(c)
	return func(r cloud.Recorder) *cloud.Registry {
		return providers.New(providers.Options{
			AzureCredential: &azfake.TokenCredential{},
			AzureClientOptions: &arm.ClientOptions{ClientOptions: azcore.ClientOptions{
				Transport: armfake.NewServerFactoryTransport(srv),
			}},
			PollInterval: time.Second,
			Recorder:     r,
			Progress:     progress,
		})
	}
}

// azureOverNodePower is an ARM fake whose scale set VMs are the cluster's
// nodes. Power off insists on skipShutdown=true, as a hard power off must.
func azureOverNodePower(c *cloudCluster) *armfake.ServerFactory {
	node := func(id string) (string, bool) {
		i, err := strconv.Atoi(id)
		if err != nil || i < 0 || i >= len(c.nodes) {
			return "", false
		}
		return c.nodes[i].Name, true
	}
	act := func(ctx context.Context, id string, a nodepower.Action) (status int) {
		name, ok := node(id)
		if !ok {
			return http.StatusNotFound
		}
		if err := c.power.Do(ctx, name, a); err != nil {
			return http.StatusConflict
		}
		return http.StatusOK
	}
	return &armfake.ServerFactory{VirtualMachineScaleSetVMsServer: armfake.VirtualMachineScaleSetVMsServer{
		BeginPowerOff: func(ctx context.Context, _, _, id string, o *armcompute.VirtualMachineScaleSetVMsClientBeginPowerOffOptions) (resp azfake.PollerResponder[armcompute.VirtualMachineScaleSetVMsClientPowerOffResponse], errResp azfake.ErrorResponder) {
			if o == nil || o.SkipShutdown == nil || !*o.SkipShutdown {
				errResp.SetResponseError(http.StatusBadRequest, "ExpectedSkipShutdown")
				return
			}
			if code := act(ctx, id, nodepower.PowerOff); code != http.StatusOK {
				errResp.SetResponseError(code, http.StatusText(code))
				return
			}
			resp.AddNonTerminalResponse(http.StatusAccepted, nil)
			resp.SetTerminalResponse(http.StatusOK, armcompute.VirtualMachineScaleSetVMsClientPowerOffResponse{}, nil)
			return
		},
		BeginStart: func(ctx context.Context, _, _, id string, _ *armcompute.VirtualMachineScaleSetVMsClientBeginStartOptions) (resp azfake.PollerResponder[armcompute.VirtualMachineScaleSetVMsClientStartResponse], errResp azfake.ErrorResponder) {
			if code := act(ctx, id, nodepower.PowerOn); code != http.StatusOK {
				errResp.SetResponseError(code, http.StatusText(code))
				return
			}
			resp.AddNonTerminalResponse(http.StatusAccepted, nil)
			resp.SetTerminalResponse(http.StatusOK, armcompute.VirtualMachineScaleSetVMsClientStartResponse{}, nil)
			return
		},
		GetInstanceView: func(ctx context.Context, _, _, id string, _ *armcompute.VirtualMachineScaleSetVMsClientGetInstanceViewOptions) (resp azfake.Responder[armcompute.VirtualMachineScaleSetVMsClientGetInstanceViewResponse], errResp azfake.ErrorResponder) {
			name, ok := node(id)
			if !ok {
				errResp.SetResponseError(http.StatusNotFound, "NotFound")
				return
			}
			n, err := c.power.Node(ctx, name)
			if err != nil || n.State == nodepower.Deleted {
				errResp.SetResponseError(http.StatusNotFound, "NotFound")
				return
			}
			code := "PowerState/running"
			if n.State == nodepower.Off {
				code = "PowerState/stopped"
			}
			resp.SetResponse(http.StatusOK, armcompute.VirtualMachineScaleSetVMsClientGetInstanceViewResponse{
				VirtualMachineScaleSetVMInstanceView: armcompute.VirtualMachineScaleSetVMInstanceView{
					Statuses: []*armcompute.InstanceViewStatus{{Code: to.Ptr(code)}},
				},
			}, nil)
			return
		},
	}}
}

// testWriter sends provider progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
