// Package aws powers EC2 instances (EKS nodes, or any node with an aws://
// providerID) through aws-sdk-go-v2, with credentials and endpoints from the
// SDK's default configuration chain.
package aws

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/ec2/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/irischaos/irischaos/cloud"
)

// Scheme is the providerID scheme of AWS nodes.
const Scheme = "aws"

// Options configure the provider. Zero values are production defaults.
type Options struct {
	// Endpoint overrides the EC2 endpoint (--aws-endpoint), e.g. a
	// moto_server URL. Empty: AWS_ENDPOINT_URL_EC2, AWS_ENDPOINT_URL or the
	// shared config's endpoint_url, else the real EC2 endpoint of the region.
	Endpoint string
	// Region is used when a providerID carries no zone; empty means the
	// default chain's region (AWS_REGION, shared config).
	Region string
	// LoadOptions are passed to config.LoadDefaultConfig (tests put static
	// credentials here).
	LoadOptions []func(*config.LoadOptions) error
	// Recorder receives every API call. May be nil.
	Recorder cloud.Recorder
	// Progress receives lines while waiting for a state. May be nil.
	Progress io.Writer
	// Timeout bounds one action including the wait for its state; default 10 minutes.
	Timeout time.Duration
	// PollInterval is how often DescribeInstances is called while waiting; default 2s.
	PollInterval time.Duration
	// ProgressEvery is how often a waiting line is written; default 5s.
	ProgressEvery time.Duration
}

// Provider is the AWS EC2 provider.
type Provider struct {
	o Options

	mu      sync.Mutex
	clients map[string]*ec2.Client // by region
}

// New returns an AWS provider. It loads no configuration and calls no API
// until first used.
func New(o Options) *Provider {
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Minute
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 2 * time.Second
	}
	if o.ProgressEvery <= 0 {
		o.ProgressEvery = 5 * time.Second
	}
	return &Provider{o: o, clients: map[string]*ec2.Client{}}
}

// Name implements cloud.Provider.
func (p *Provider) Name() string { return Scheme }

// Fields of a parsed AWS VM.
const (
	FieldRegion = "region" // empty when neither the zone nor Options.Region gave one
)

// regionOfZone takes the region prefix of an availability zone name:
// us-east-1a -> us-east-1, us-west-2-lax-1a (Local Zone) -> us-west-2,
// us-east-1-wl1-bos-wlz-1 (Wavelength) -> us-east-1, us-gov-west-1a -> us-gov-west-1.
var regionOfZone = regexp.MustCompile(`^([a-z]{2}(?:-[a-z]+)+-\d+)`)

// RegionOf returns the region of an availability zone, or "" when zone does
// not look like one.
func RegionOf(zone string) string {
	m := regionOfZone.FindStringSubmatch(strings.ToLower(zone))
	if m == nil {
		return ""
	}
	return m[1]
}

var instanceID = regexp.MustCompile(`^i-[0-9a-f]{8,17}$`)

// Parse implements cloud.Provider for aws:///<zone>/<instance-id> (also
// aws://<zone>/<id> and aws:////<id> without a zone, seen in some clusters).
func (p *Provider) Parse(providerID string) (cloud.VM, error) {
	scheme, rest, ok := strings.Cut(providerID, "://")
	if !ok || !strings.EqualFold(scheme, Scheme) {
		return cloud.VM{}, fmt.Errorf("aws providerID %q: not an aws:// ID (expected aws:///<zone>/<instance-id>)", providerID)
	}
	parts := strings.Split(strings.TrimLeft(rest, "/"), "/")
	var zone, id string
	switch len(parts) {
	case 1:
		id = parts[0]
	case 2:
		zone, id = parts[0], parts[1]
	default:
		return cloud.VM{}, fmt.Errorf("aws providerID %q: expected aws:///<zone>/<instance-id>", providerID)
	}
	if !instanceID.MatchString(id) {
		return cloud.VM{}, fmt.Errorf("aws providerID %q: %q is not an EC2 instance id (i-xxxxxxxx); Fargate nodes have no VM to power off", providerID, id)
	}
	region := p.o.Region
	if zone != "" {
		region = RegionOf(zone)
		if region == "" {
			return cloud.VM{}, fmt.Errorf("aws providerID %q: cannot tell the region of zone %q", providerID, zone)
		}
	}
	return cloud.VM{
		ProviderID: providerID,
		Provider:   Scheme,
		ID:         id,
		Zone:       zone,
		Fields:     map[string]string{FieldRegion: region},
	}, nil
}

// Describe implements cloud.Provider: the exact EC2 call Do makes first.
func (p *Provider) Describe(vm cloud.VM, a cloud.Action) string {
	op, args, err := request(a)
	if err != nil {
		return err.Error()
	}
	s := fmt.Sprintf("ec2:%s {InstanceIds:[%s]%s} region %s", op, vm.ID, args, orDefault(vm.Fields[FieldRegion], "<default>"))
	if ep := p.endpoint(); ep != "" {
		s += " endpoint " + ep
	}
	return s
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// endpoint is the endpoint override in effect, for Describe.
func (p *Provider) endpoint() string {
	if p.o.Endpoint != "" {
		return p.o.Endpoint
	}
	if v := os.Getenv("AWS_ENDPOINT_URL_EC2"); v != "" {
		return v
	}
	return os.Getenv("AWS_ENDPOINT_URL")
}

func request(a cloud.Action) (op, args string, err error) {
	switch a {
	case cloud.PowerOff:
		return "StopInstances", ", Force:true", nil
	case cloud.PowerOn:
		return "StartInstances", "", nil
	case cloud.Restart:
		return "RebootInstances", "", nil
	case cloud.Delete:
		return "TerminateInstances", "", nil
	}
	return "", "", fmt.Errorf("%w: aws has no action %q (valid: poweroff, poweron, restart, delete; EC2 stop already releases the host)", cloud.ErrUnsupported, a)
}

func (p *Provider) client(ctx context.Context, region string) (*ec2.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.clients[region]; ok {
		return c, nil
	}
	opts := append([]func(*config.LoadOptions) error(nil), p.o.LoadOptions...)
	if region != "" {
		opts = append(opts, config.WithRegion(region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("aws: loading configuration (AWS_PROFILE, ~/.aws/config): %w", err)
	}
	if cfg.Region == "" {
		return nil, errors.New("aws: no region: the providerID carries no zone and none is configured; set AWS_REGION")
	}
	// Resolve credentials now: the SDK reports their absence deep inside the
	// first call's error; here it can be said plainly. They are cached.
	if cfg.Credentials == nil {
		return nil, fmt.Errorf("aws: %w: no credential provider configured: %s", cloud.ErrAuth, credentialHelp)
	}
	if _, err := cfg.Credentials.Retrieve(ctx); err != nil {
		return nil, fmt.Errorf("aws: %w: no usable AWS credentials (%v): %s", cloud.ErrAuth, err, credentialHelp)
	}
	c := ec2.NewFromConfig(cfg, func(o *ec2.Options) {
		if p.o.Endpoint != "" {
			o.BaseEndpoint = aws.String(p.o.Endpoint)
		}
	})
	p.clients[region] = c
	return c, nil
}

const credentialHelp = "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, run `aws sso login`, or run where an instance or pod (IRSA) role is available"

// Do implements cloud.Provider: one EC2 call, then DescribeInstances until
// the instance is in the action's target state. RebootInstances leaves the
// instance "running" in EC2's eyes, so a restart is confirmed at once.
func (p *Provider) Do(ctx context.Context, vm cloud.VM, a cloud.Action) error {
	op, _, err := request(a)
	if err != nil {
		return err
	}
	if vm.Fields == nil {
		return fmt.Errorf("aws: VM %q was not parsed by the aws provider", vm.ProviderID)
	}
	ctx, cancel := context.WithTimeout(ctx, p.o.Timeout)
	defer cancel()
	c, err := p.client(ctx, vm.Fields[FieldRegion])
	if err != nil {
		return err
	}
	ids := []string{vm.ID}
	start := time.Now()
	var resp string
	switch a {
	case cloud.PowerOff:
		var out *ec2.StopInstancesOutput
		out, err = c.StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: ids, Force: aws.Bool(true)})
		if out != nil {
			resp = changes(out.StoppingInstances)
		}
	case cloud.PowerOn:
		var out *ec2.StartInstancesOutput
		out, err = c.StartInstances(ctx, &ec2.StartInstancesInput{InstanceIds: ids})
		if out != nil {
			resp = changes(out.StartingInstances)
		}
	case cloud.Restart:
		_, err = c.RebootInstances(ctx, &ec2.RebootInstancesInput{InstanceIds: ids})
		if err == nil {
			resp = "reboot requested"
		}
	case cloud.Delete:
		var out *ec2.TerminateInstancesOutput
		out, err = c.TerminateInstances(ctx, &ec2.TerminateInstancesInput{InstanceIds: ids})
		if out != nil {
			resp = changes(out.TerminatingInstances)
		}
	}
	err = explain(vm, "ec2:"+op, err)
	p.o.Recorder.Record(cloud.Call{
		Provider: Scheme, Action: "ec2:" + op, Target: vm.ProviderID, Request: p.Describe(vm, a),
		Response: resp, Start: start, Duration: time.Since(start), Err: err,
	})
	if err != nil {
		return err
	}
	return p.wait(ctx, c, vm, a.Target())
}

func changes(ch []types.InstanceStateChange) string {
	var s []string
	for _, c := range ch {
		prev, cur := "", ""
		if c.PreviousState != nil {
			prev = string(c.PreviousState.Name)
		}
		if c.CurrentState != nil {
			cur = string(c.CurrentState.Name)
		}
		s = append(s, fmt.Sprintf("%s %s -> %s", aws.ToString(c.InstanceId), prev, cur))
	}
	return strings.Join(s, "; ")
}

// wait polls DescribeInstances until the instance reaches want; the whole
// wait is recorded as one call saying how many requests it took.
func (p *Provider) wait(ctx context.Context, c *ec2.Client, vm cloud.VM, want cloud.State) error {
	start := time.Now()
	n := 0
	last := cloud.Unknown
	err := cloud.Poll(ctx, cloud.PollOptions{
		What:          fmt.Sprintf("%s to be %s", vm.ID, want),
		Interval:      p.o.PollInterval,
		Progress:      p.o.Progress,
		ProgressEvery: p.o.ProgressEvery,
	}, func(ctx context.Context) (bool, string, error) {
		n++
		st, err := p.describe(ctx, c, vm)
		if err != nil {
			return false, "", err
		}
		last = st
		return st == want, string(st), nil
	})
	p.o.Recorder.Record(cloud.Call{
		Provider: Scheme, Action: "ec2:DescribeInstances", Target: vm.ProviderID,
		Request:  fmt.Sprintf("ec2:DescribeInstances {InstanceIds:[%s]} region %s, every %s until State=%s", vm.ID, orDefault(vm.Fields[FieldRegion], "<default>"), p.o.PollInterval, want),
		Response: fmt.Sprintf("State=%s after %d requests", last, n),
		Start:    start, Duration: time.Since(start), Err: err,
	})
	return err
}

// State implements cloud.Provider through DescribeInstances.
func (p *Provider) State(ctx context.Context, vm cloud.VM) (cloud.State, error) {
	if vm.Fields == nil {
		return cloud.Unknown, fmt.Errorf("aws: VM %q was not parsed by the aws provider", vm.ProviderID)
	}
	c, err := p.client(ctx, vm.Fields[FieldRegion])
	if err != nil {
		return cloud.Unknown, err
	}
	start := time.Now()
	st, err := p.describe(ctx, c, vm)
	p.o.Recorder.Record(cloud.Call{
		Provider: Scheme, Action: "ec2:DescribeInstances", Target: vm.ProviderID,
		Request:  fmt.Sprintf("ec2:DescribeInstances {InstanceIds:[%s]} region %s", vm.ID, orDefault(vm.Fields[FieldRegion], "<default>")),
		Response: "State=" + string(st), Start: start, Duration: time.Since(start), Err: err,
	})
	return st, err
}

func (p *Provider) describe(ctx context.Context, c *ec2.Client, vm cloud.VM) (cloud.State, error) {
	out, err := c.DescribeInstances(ctx, &ec2.DescribeInstancesInput{InstanceIds: []string{vm.ID}})
	if err != nil {
		return cloud.Unknown, explain(vm, "ec2:DescribeInstances", err)
	}
	for _, r := range out.Reservations {
		for _, in := range r.Instances {
			if aws.ToString(in.InstanceId) == vm.ID && in.State != nil {
				return MapState(in.State.Name), nil
			}
		}
	}
	return cloud.Unknown, fmt.Errorf("aws: %s: %w: DescribeInstances returned no such instance in region %s; check the node's spec.providerID", vm.ID, cloud.ErrNotFound, vm.Fields[FieldRegion])
}

// MapState normalises an EC2 instance state.
func MapState(s types.InstanceStateName) cloud.State {
	switch s {
	case types.InstanceStateNamePending:
		return cloud.Starting
	case types.InstanceStateNameRunning:
		return cloud.Running
	case types.InstanceStateNameStopping, types.InstanceStateNameShuttingDown:
		return cloud.Stopping
	case types.InstanceStateNameStopped:
		return cloud.Stopped
	case types.InstanceStateNameTerminated:
		return cloud.Terminated
	}
	return cloud.Unknown
}

// explain turns SDK errors into messages that say what to fix.
func explain(vm cloud.VM, op string, err error) error {
	if err == nil {
		return nil
	}
	subj := fmt.Sprintf("aws: %s on %s (region %s)", op, vm.ID, orDefault(vm.Fields[FieldRegion], "<default>"))
	var se *v4.SigningError
	if errors.As(err, &se) {
		return fmt.Errorf("%s: %w: no usable AWS credentials (%v): %s", subj, cloud.ErrAuth, se.Err, credentialHelp)
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		code := ae.ErrorCode()
		switch {
		case code == "InvalidInstanceID.NotFound" || code == "InvalidInstanceID.Malformed":
			return fmt.Errorf("%s: %w (%s): no such instance in this region; check the node's spec.providerID, the region, and the endpoint", subj, cloud.ErrNotFound, code)
		case code == "UnauthorizedOperation" || code == "AccessDenied" || code == "AccessDeniedException":
			return fmt.Errorf("%s: %w (%s): the identity lacks the IAM permission %s on this instance; see docs/cloud.md for the policy", subj, cloud.ErrAuth, code, op)
		case code == "AuthFailure" || code == "InvalidClientTokenId" || code == "SignatureDoesNotMatch" || strings.HasPrefix(code, "ExpiredToken") || code == "RequestExpired":
			return fmt.Errorf("%s: %w (%s): the credentials were rejected; refresh them (aws sso login) and check the clock", subj, cloud.ErrAuth, code)
		case code == "IncorrectInstanceState":
			return fmt.Errorf("%s: %w (%s: %s): wait for the instance's current transition to end, or check it was not terminated", subj, cloud.ErrConflict, code, ae.ErrorMessage())
		case code == "RequestLimitExceeded" || code == "Throttling":
			return fmt.Errorf("%s: %w (%s) even after the SDK's retries: wait and retry, and reduce other EC2 API traffic", subj, cloud.ErrThrottled, code)
		case code == "UnsupportedOperation" || code == "OperationNotPermitted":
			return fmt.Errorf("%s: %w (%s: %s): stop/termination protection or the instance type forbids it", subj, cloud.ErrConflict, code, ae.ErrorMessage())
		}
	}
	var re *smithyhttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusForbidden {
		return fmt.Errorf("%s: %w (HTTP 403): check the IAM policy (docs/cloud.md)", subj, cloud.ErrAuth)
	}
	return fmt.Errorf("%s: %w", subj, err)
}
