// Package providers assembles the cloud Registry with every VM provider
// irischaos has (azure, aws, local), each constructed on first use so that
// missing credentials of one cloud never break another.
package providers

import (
	"io"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/irischaos/irischaos/cloud"
	"github.com/irischaos/irischaos/cloud/aws"
	"github.com/irischaos/irischaos/cloud/azure"
	"github.com/irischaos/irischaos/cloud/local"
	"github.com/irischaos/irischaos/internal/lab/nodepower"
)

// Options for every provider. Zero values are production defaults.
type Options struct {
	// AWSEndpoint overrides the EC2 endpoint (--aws-endpoint), e.g. a moto_server.
	AWSEndpoint string
	// AWSRegion is used for aws:// IDs that carry no zone.
	AWSRegion string
	// AWSLoadOptions are extra config.LoadDefaultConfig options (static credentials in tests).
	AWSLoadOptions []func(*config.LoadOptions) error
	// AzureForceDelete deletes Azure VMs with forceDeletion=true.
	AzureForceDelete bool
	// AzureCredential replaces azidentity's default chain (tests).
	AzureCredential azcore.TokenCredential
	// AzureClientOptions replace the ARM client options (tests: fake transports).
	AzureClientOptions *arm.ClientOptions
	// LocalDiscover finds a local cluster's power API; nil: nodepower.Discover.
	LocalDiscover func(cluster string) (*nodepower.Client, error)

	// Recorder receives every cloud API call of every provider. May be nil.
	Recorder cloud.Recorder
	// Progress receives progress lines of long waits. May be nil.
	Progress io.Writer
	// Timeout bounds one action including its wait; 0 means each provider's default.
	Timeout time.Duration
	// PollInterval is how often state is polled while waiting; 0: provider default.
	PollInterval time.Duration
}

// New returns a registry serving the azure, aws and local schemes.
func New(o Options) *cloud.Registry {
	r := &cloud.Registry{}
	r.Register(azure.Scheme, func() (cloud.Provider, error) {
		return azure.New(azure.Options{
			Credential:    o.AzureCredential,
			ClientOptions: o.AzureClientOptions,
			Recorder:      o.Recorder,
			Progress:      o.Progress,
			Timeout:       o.Timeout,
			PollFrequency: o.PollInterval,
			ForceDelete:   o.AzureForceDelete,
		})
	})
	r.Register(aws.Scheme, func() (cloud.Provider, error) {
		return aws.New(aws.Options{
			Endpoint:     o.AWSEndpoint,
			Region:       o.AWSRegion,
			LoadOptions:  o.AWSLoadOptions,
			Recorder:     o.Recorder,
			Progress:     o.Progress,
			Timeout:      o.Timeout,
			PollInterval: o.PollInterval,
		}), nil
	})
	r.Register(local.Scheme, func() (cloud.Provider, error) {
		return local.New(local.Options{
			Discover: o.LocalDiscover,
			Recorder: o.Recorder,
			Progress: o.Progress,
			Timeout:  o.Timeout,
		}), nil
	})
	return r
}
