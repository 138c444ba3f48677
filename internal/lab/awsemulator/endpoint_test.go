package awsemulator

import (
	"os"
	"path/filepath"
	"testing"
)

func TestEndpointFile(t *testing.T) {
	dir := t.TempDir()
	if _, ok, err := ReadEndpoint(dir); ok || err != nil {
		t.Fatalf("no file: ok=%v err=%v", ok, err)
	}
	want := Endpoint{URL: "http://127.0.0.1:5000", Instances: map[string]Instance{"node-1": {ID: "i-1", Zone: "us-east-1a", ProviderID: "aws:///us-east-1a/i-1"}}}
	if err := WriteEndpoint(dir, want); err != nil {
		t.Fatal(err)
	}
	got, ok, err := ReadEndpoint(dir)
	if err != nil || !ok || got.URL != want.URL || got.Region != Region || got.Instances["node-1"] != want.Instances["node-1"] {
		t.Fatalf("read %+v, %v, %v", got, ok, err)
	}
	if err := os.WriteFile(filepath.Join(dir, EndpointFile), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ReadEndpoint(dir); err == nil {
		t.Error("corrupt file accepted")
	}
}
