package aws

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/ec2/imds"
	"github.com/aws/smithy-go"

	"github.com/irischaos/irischaos/cloud"
	"github.com/irischaos/irischaos/internal/lab/awsemulator"
)

// moto is the moto_server shared by the tests of this package; nil when
// moto_server is not installed (those tests skip, saying so).
var (
	moto     *awsemulator.Server
	motoSkip string
)

func TestMain(m *testing.M) {
	code := func() int {
		if _, err := awsemulator.Binary(); err != nil {
			motoSkip = err.Error()
			return m.Run()
		}
		dir, err := os.MkdirTemp("", "irischaos-aws-test")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		defer os.RemoveAll(dir)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		moto, err = awsemulator.Start(ctx, filepath.Join(dir, "moto.log"))
		cancel()
		if err != nil {
			fmt.Fprintln(os.Stderr, "starting moto_server:", err)
			return 2
		}
		defer moto.Stop()
		return m.Run()
	}()
	os.Exit(code)
}

func needMoto(t *testing.T) *awsemulator.Server {
	t.Helper()
	if moto == nil {
		t.Skipf("skipping: needs moto_server: %s", motoSkip)
	}
	return moto
}

// isolated keeps the SDK away from the developer's own AWS configuration.
func isolated(t *testing.T) {
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	for _, k := range []string{"AWS_PROFILE", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_EC2", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_FULL_URI", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CA_BUNDLE"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
}

type env struct {
	p        *Provider
	log      *cloud.CallLog
	progress *bytes.Buffer
	wire     *wire
}

// wire keeps the form body of every EC2 request the SDK sends.
type wire struct {
	mu    sync.Mutex
	forms []url.Values
}

func (w *wire) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		if f, err := url.ParseQuery(string(b)); err == nil {
			w.mu.Lock()
			w.forms = append(w.forms, f)
			w.mu.Unlock()
		}
	}
	return http.DefaultTransport.RoundTrip(r)
}

// last returns the last request with the given Action.
func (w *wire) last(action string) url.Values {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := len(w.forms) - 1; i >= 0; i-- {
		if w.forms[i].Get("Action") == action {
			return w.forms[i]
		}
	}
	return nil
}

func newProvider(t *testing.T, endpoint string) env {
	t.Helper()
	isolated(t)
	log := &cloud.CallLog{}
	progress := &bytes.Buffer{}
	w := &wire{}
	p := New(Options{
		Endpoint: endpoint,
		LoadOptions: []func(*config.LoadOptions) error{
			config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("testing", "testing", "")),
			config.WithHTTPClient(&http.Client{Transport: w}),
		},
		Recorder:      log.Recorder(),
		Progress:      progress,
		PollInterval:  20 * time.Millisecond,
		ProgressEvery: time.Millisecond,
		Timeout:       20 * time.Second,
	})
	return env{p: p, log: log, progress: progress, wire: w}
}

// launch registers one instance in moto and returns its providerID.
func launch(t *testing.T, srv *awsemulator.Server, zone string) string {
	t.Helper()
	insts, err := awsemulator.Launch(context.Background(), srv.URL, []awsemulator.NodeSpec{{Name: t.Name(), Zone: zone}})
	if err != nil {
		t.Fatal(err)
	}
	return insts[t.Name()].ProviderID
}

func TestActionsAgainstMoto(t *testing.T) {
	srv := needMoto(t)
	e := newProvider(t, srv.URL)
	ctx := context.Background()
	vm, err := e.p.Parse(launch(t, srv, "us-east-1b"))
	if err != nil {
		t.Fatal(err)
	}
	if vm.Fields[FieldRegion] != "us-east-1" || vm.Zone != "us-east-1b" {
		t.Fatalf("parsed %+v", vm)
	}
	steps := []struct {
		a     cloud.Action
		op    string
		force string // the Force parameter on the wire
		want  cloud.State
	}{
		{cloud.PowerOff, "ec2:StopInstances", "true", cloud.Stopped},
		{cloud.PowerOn, "ec2:StartInstances", "", cloud.Running},
		{cloud.Restart, "ec2:RebootInstances", "", cloud.Running},
		{cloud.Delete, "ec2:TerminateInstances", "", cloud.Terminated},
	}
	for _, s := range steps {
		before := len(e.log.Calls())
		if err := e.p.Do(ctx, vm, s.a); err != nil {
			t.Fatalf("%s: %v", s.a, err)
		}
		sent := e.wire.last(strings.TrimPrefix(s.op, "ec2:"))
		if sent == nil || sent.Get("InstanceId.1") != vm.ID || sent.Get("InstanceId.2") != "" || sent.Get("Force") != s.force {
			t.Errorf("%s: the SDK sent %v; want InstanceId.1=%s only and Force=%q", s.a, sent, vm.ID, s.force)
		}
		st, err := e.p.State(ctx, vm)
		if err != nil || st != s.want {
			t.Fatalf("after %s: state %s, %v; want %s", s.a, st, err, s.want)
		}
		calls := e.log.Calls()[before:]
		// the action, the wait, the State call
		if len(calls) != 3 {
			t.Fatalf("after %s recorded %d calls: %+v", s.a, len(calls), calls)
		}
		if calls[0].Action != s.op || calls[0].Err != nil || calls[0].Request != e.p.Describe(vm, s.a) || calls[0].Target != vm.ProviderID {
			t.Errorf("%s recorded %+v; want %s with the Describe text", s.a, calls[0], s.op)
		}
		if calls[1].Action != "ec2:DescribeInstances" || !strings.Contains(calls[1].Response, "State="+string(s.want)) {
			t.Errorf("%s: wait recorded as %+v", s.a, calls[1])
		}
	}
	if got := e.log.Calls()[0].Response; !strings.Contains(got, "running -> stopp") {
		t.Errorf("StopInstances response %q does not show the transition", got)
	}
}

func TestUnknownInstance(t *testing.T) {
	srv := needMoto(t)
	e := newProvider(t, srv.URL)
	vm, err := e.p.Parse("aws:///us-east-1a/i-0123456789abcdef0")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range []cloud.Action{cloud.PowerOff, cloud.PowerOn, cloud.Restart, cloud.Delete} {
		err := e.p.Do(context.Background(), vm, a)
		if !errors.Is(err, cloud.ErrNotFound) || !strings.Contains(err.Error(), "check the node's spec.providerID") {
			t.Errorf("%s of an unknown instance: %v; want ErrNotFound with a hint", a, err)
		}
	}
	if _, err := e.p.State(context.Background(), vm); !errors.Is(err, cloud.ErrNotFound) {
		t.Errorf("State of an unknown instance: %v; want ErrNotFound", err)
	}
	calls := e.log.Calls()
	if len(calls) != 5 || calls[0].Err == nil {
		t.Errorf("recorded %+v; want 5 failed calls", calls)
	}
}

func TestWaitTimesOut(t *testing.T) {
	srv := needMoto(t)
	e := newProvider(t, srv.URL)
	vm, _ := e.p.Parse(launch(t, srv, "us-east-1a"))
	c, err := e.p.client(context.Background(), "us-east-1")
	if err != nil {
		t.Fatal(err)
	}
	// moto stops at once; wait for a state the instance never reaches.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err = e.p.wait(ctx, c, vm, cloud.Stopped)
	if !errors.Is(err, cloud.ErrTimeout) || !strings.Contains(err.Error(), "still running") {
		t.Fatalf("wait: %v; want ErrTimeout saying it is still running", err)
	}
	if !strings.Contains(e.progress.String(), "waiting for "+vm.ID+" to be stopped: running") {
		t.Errorf("progress %q does not say what it waits for", e.progress.String())
	}
}

func TestEndpointFromEnvironment(t *testing.T) {
	srv := needMoto(t)
	id := launch(t, srv, "us-east-1c")
	for _, v := range []string{"AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL"} {
		t.Run(v, func(t *testing.T) {
			e := newProvider(t, "")
			t.Setenv(v, srv.URL)
			vm, _ := e.p.Parse(id)
			st, err := e.p.State(context.Background(), vm)
			if err != nil || st != cloud.Running {
				t.Fatalf("State through %s: %s, %v", v, st, err)
			}
			if d := e.p.Describe(vm, cloud.PowerOff); !strings.HasSuffix(d, "endpoint "+srv.URL) {
				t.Errorf("Describe %q does not name the endpoint", d)
			}
		})
	}
}

func TestMissingCredentials(t *testing.T) {
	srv := needMoto(t)
	isolated(t)
	p := New(Options{Endpoint: srv.URL, LoadOptions: []func(*config.LoadOptions) error{config.WithEC2IMDSClientEnableState(imds.ClientDisabled)}})
	vm, _ := p.Parse("aws:///us-east-1a/i-0123456789abcdef0")
	err := p.Do(context.Background(), vm, cloud.PowerOff)
	if !errors.Is(err, cloud.ErrAuth) || !strings.Contains(err.Error(), "AWS_ACCESS_KEY_ID") {
		t.Fatalf("error = %v; want ErrAuth naming what to set", err)
	}
}

func TestParse(t *testing.T) {
	p := New(Options{Region: "eu-west-1"})
	tests := []struct {
		id, zone, inst, region, err string
	}{
		{id: "aws:///us-east-1a/i-0abc1234", zone: "us-east-1a", inst: "i-0abc1234", region: "us-east-1"},
		{id: "aws:///us-west-2-lax-1a/i-0cd1c351f3c0d11a1", zone: "us-west-2-lax-1a", inst: "i-0cd1c351f3c0d11a1", region: "us-west-2"},
		{id: "aws://ap-southeast-2c/i-0cd1c351f3c0d11a1", zone: "ap-southeast-2c", inst: "i-0cd1c351f3c0d11a1", region: "ap-southeast-2"},
		{id: "aws:////i-0cd1c351f3c0d11a1", inst: "i-0cd1c351f3c0d11a1", region: "eu-west-1"},
		{id: "AWS:///us-gov-west-1a/i-0abc1234", zone: "us-gov-west-1a", inst: "i-0abc1234", region: "us-gov-west-1"},
		{id: "aws:///us-east-1a/fargate-ip-10-0-1-2", err: "Fargate"},
		{id: "aws:///nowhere/i-0abc1234", err: "region of zone"},
		{id: "aws:///a/b/i-0abc1234", err: "expected aws:///<zone>/<instance-id>"},
		{id: "azure:///subscriptions/x", err: "not an aws:// ID"},
	}
	for _, tt := range tests {
		vm, err := p.Parse(tt.id)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Parse(%s) error = %v; want %q", tt.id, err, tt.err)
			}
			continue
		}
		if err != nil || vm.Zone != tt.zone || vm.ID != tt.inst || vm.Fields[FieldRegion] != tt.region || vm.ProviderID != tt.id {
			t.Errorf("Parse(%s) = %+v, %v; want zone %s id %s region %s", tt.id, vm, err, tt.zone, tt.inst, tt.region)
		}
	}
}

func TestRegionOf(t *testing.T) {
	tests := map[string]string{
		"us-east-1a":              "us-east-1",
		"eu-central-1c":           "eu-central-1",
		"us-west-2-lax-1a":        "us-west-2",
		"us-east-1-wl1-bos-wlz-1": "us-east-1",
		"cn-north-1a":             "cn-north-1",
		"us-gov-east-1b":          "us-gov-east-1",
		"ap-northeast-3a":         "ap-northeast-3",
		"zone-a":                  "",
		"":                        "",
	}
	for zone, want := range tests {
		if got := RegionOf(zone); got != want {
			t.Errorf("RegionOf(%q) = %q, want %q", zone, got, want)
		}
	}
}

func TestDescribe(t *testing.T) {
	isolated(t)
	p := New(Options{})
	vm, _ := p.Parse("aws:///us-east-1a/i-0abc1234")
	tests := map[cloud.Action]string{
		cloud.PowerOff:   "ec2:StopInstances {InstanceIds:[i-0abc1234], Force:true} region us-east-1",
		cloud.PowerOn:    "ec2:StartInstances {InstanceIds:[i-0abc1234]} region us-east-1",
		cloud.Restart:    "ec2:RebootInstances {InstanceIds:[i-0abc1234]} region us-east-1",
		cloud.Delete:     "ec2:TerminateInstances {InstanceIds:[i-0abc1234]} region us-east-1",
		cloud.Deallocate: "action not supported",
	}
	for a, want := range tests {
		if got := p.Describe(vm, a); !strings.HasPrefix(got, want) {
			t.Errorf("Describe(%s) = %q, want %q", a, got, want)
		}
	}
	if err := p.Do(context.Background(), vm, cloud.Deallocate); !errors.Is(err, cloud.ErrUnsupported) {
		t.Errorf("Do(deallocate) = %v; want ErrUnsupported", err)
	}
}

func TestExplain(t *testing.T) {
	vm := cloud.VM{ID: "i-1", Fields: map[string]string{FieldRegion: "us-east-1"}}
	tests := []struct {
		code string
		kind error
		hint string
	}{
		{"InvalidInstanceID.NotFound", cloud.ErrNotFound, "check the node's spec.providerID"},
		{"InvalidInstanceID.Malformed", cloud.ErrNotFound, "no such instance"},
		{"UnauthorizedOperation", cloud.ErrAuth, "IAM permission ec2:StopInstances"},
		{"AuthFailure", cloud.ErrAuth, "credentials were rejected"},
		{"IncorrectInstanceState", cloud.ErrConflict, "current transition"},
		{"RequestLimitExceeded", cloud.ErrThrottled, "wait and retry"},
		{"OperationNotPermitted", cloud.ErrConflict, "protection"},
	}
	for _, tt := range tests {
		err := explain(vm, "ec2:StopInstances", &smithy.GenericAPIError{Code: tt.code, Message: "m"})
		if !errors.Is(err, tt.kind) || !strings.Contains(err.Error(), tt.hint) {
			t.Errorf("%s: %v; want %v with %q", tt.code, err, tt.kind, tt.hint)
		}
	}
}
