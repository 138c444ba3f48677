package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/irischaos/irischaos/pkg/runner"
)

// connect builds the real seams (runner.Connect, the same constructor the e2e
// rig uses) from the kubectl-style flags: the clients, the exec transport and
// the stack's namespace.
func connect(a *app) (*runner.Cluster, error) {
	if noClusterConfigured(a) {
		return nil, withCode(exitUnknown, errNoCluster)
	}
	rc, err := a.kube.ToRESTConfig()
	if err != nil {
		return nil, withCode(exitUnknown, fmt.Errorf("kubeconfig: %w (set --kubeconfig or KUBECONFIG)", err))
	}
	ns, _, err := a.kube.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, withCode(exitUnknown, fmt.Errorf("namespace: %w", err))
	}
	cl, err := runner.Connect(a.ctx, rc, ns, kubeContextName(a))
	if err != nil {
		return nil, withCode(exitUnknown, err)
	}
	cl.Instance = a.instance
	return cl, nil
}

var errNoCluster = errors.New("no cluster configured: no --kubeconfig, --server, KUBECONFIG or ~/.kube/config; for the embedded local cluster run `irischaos cluster up` and `export KUBECONFIG=$(irischaos cluster kubeconfig)`")

// noClusterConfigured says whether client-go found no configuration at all
// and fell back to its legacy default of http://localhost:8080.
func noClusterConfigured(a *app) bool {
	if a.kube.KubeConfig != nil && *a.kube.KubeConfig != "" || a.kube.APIServer != nil && *a.kube.APIServer != "" || os.Getenv("KUBECONFIG") != "" {
		return false
	}
	raw, err := a.kube.ToRawKubeConfigLoader().RawConfig()
	return err == nil && len(raw.Clusters) == 0
}

// kubeContextName is the kubeconfig context in use, for the report.
func kubeContextName(a *app) string {
	if a.kube.Context != nil && *a.kube.Context != "" {
		return *a.kube.Context
	}
	raw, err := a.kube.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return ""
	}
	return raw.CurrentContext
}
