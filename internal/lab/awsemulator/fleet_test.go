package awsemulator

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
)

func TestFleet(t *testing.T) {
	if _, err := Binary(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	old := SyncInterval
	SyncInterval = 50 * time.Millisecond
	t.Cleanup(func() { SyncInterval = old })

	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f, err := StartFleet(ctx, dir, []NodeSpec{{Name: "node-1"}, {Name: "node-2"}})
	if err != nil {
		t.Fatal(err)
	}
	ep, ok, err := ReadEndpoint(dir)
	if err != nil || !ok || ep.URL != f.Server.URL || ep.Instances["node-2"] != f.Instances["node-2"] || f.Instances["node-2"].Zone != "us-east-1b" {
		t.Fatalf("endpoint file %+v, %v, %v; fleet %+v", ep, ok, err, f.Instances)
	}
	p := &powerLog{}
	go func() { _ = f.Sync(ctx, p.power, nil) }()
	if _, err := Client(ep.URL).StopInstances(ctx, &ec2.StopInstancesInput{InstanceIds: []string{f.Instances["node-2"].ID}, Force: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	p.waitFor(t, "node-2 poweroff")
	cancel()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := ReadEndpoint(dir); ok {
		t.Error("endpoint file left after Close")
	}
}
