package awsemulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/irischaos/irischaos/internal/lab/nodepower"
)

// EndpointFile is the file, in a local cluster's state directory, where the
// supervisor of an aws-emulator cluster records the emulator, so that
// irischaos and the e2e tests find it (--aws-endpoint defaults to it).
const EndpointFile = "aws-emulator.json"

// Endpoint is the content of EndpointFile.
type Endpoint struct {
	URL       string              `json:"url"` // the Server's URL (the recording proxy)
	Region    string              `json:"region"`
	Instances map[string]Instance `json:"instances"` // by node name
}

// WriteEndpoint records ep in dir/EndpointFile.
func WriteEndpoint(dir string, ep Endpoint) error {
	if ep.Region == "" {
		ep.Region = Region
	}
	b, err := json.MarshalIndent(ep, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(dir, EndpointFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

// ReadEndpoint reads dir/EndpointFile; ok is false when the cluster has no
// emulator (a plain local cluster).
func ReadEndpoint(dir string) (ep Endpoint, ok bool, err error) {
	path := filepath.Join(dir, EndpointFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Endpoint{}, false, nil
	}
	if err != nil {
		return Endpoint{}, false, err
	}
	if err := json.Unmarshal(b, &ep); err != nil || ep.URL == "" {
		return Endpoint{}, false, fmt.Errorf("%s is corrupt (%v): restart the cluster", path, err)
	}
	return ep, true, nil
}

// ForCluster reads the EndpointFile of the named local cluster.
func ForCluster(cluster string) (Endpoint, bool, error) {
	return ReadEndpoint(nodepower.ClusterDir(cluster))
}
