package providers

import (
	"github.com/spf13/pflag"
)

// AddFlags registers the cloud provider flags every command that acts on VMs
// shares (inject vm-*, run) and fills o from them:
//
//	--aws-endpoint URL       EC2 endpoint (moto_server, LocalStack); AWS_ENDPOINT_URL_EC2 also works
//	--aws-region REGION      region for aws:// providerIDs without a zone
//	--azure-force-delete     delete Azure VMs with forceDeletion=true
//	--cloud-timeout DURATION bound on one VM action including its wait
func AddFlags(fs *pflag.FlagSet, o *Options) {
	fs.StringVar(&o.AWSEndpoint, "aws-endpoint", o.AWSEndpoint, "EC2 API endpoint, e.g. a moto_server URL (default: AWS_ENDPOINT_URL_EC2, AWS_ENDPOINT_URL, or the region's EC2 endpoint)")
	fs.StringVar(&o.AWSRegion, "aws-region", o.AWSRegion, "AWS region for aws:// providerIDs that carry no zone (default: AWS_REGION / shared config)")
	fs.BoolVar(&o.AzureForceDelete, "azure-force-delete", o.AzureForceDelete, "delete Azure VMs with forceDeletion=true (no graceful teardown)")
	fs.DurationVar(&o.Timeout, "cloud-timeout", o.Timeout, "bound on one VM action including the wait for its effect (0: 10m for Azure and AWS, 5m for the local cluster)")
}
