package report

import (
	"strings"

	"github.com/irischaos/irischaos/pkg/history"
)

// CloudCallsFrom lists the cloud_call records of a history, in order, as the
// report shows them. Never nil.
func CloudCallsFrom(recs []history.Record) []CloudCall {
	out := []CloudCall{}
	for _, r := range recs {
		if r.Kind != history.KindCloudCall {
			continue
		}
		c := CloudCall{Provider: r.Provider, Action: r.Name, Target: r.Target, Request: r.Request, Start: r.T.UTC(), DurationSeconds: r.Duration, Error: r.Error}
		if c.Error == "" && r.Result == history.Fail {
			c.Error = "failed"
		}
		out = append(out, c)
	}
	return out
}

// EnvironmentFromMeta reads what was measured from a history's meta keys.
func EnvironmentFromMeta(meta map[string]string) Environment {
	e := Environment{
		Database:           meta[history.MetaDatabase],
		DatabaseStandIn:    meta[history.MetaDatabaseStandIn] == "true",
		StorageClass:       meta[history.MetaStorageClass],
		Provisioner:        meta[history.MetaProvisioner],
		StorageStandIn:     meta[history.MetaStorageStandIn] == "true",
		StorageDescription: meta[history.MetaStorageDescription],
		Kubernetes:         meta[history.MetaKubernetesVersion],
		Namespace:          meta[history.MetaNamespace],
		Irischaos:          meta[history.MetaIrischaosVersion],
	}
	if n := meta[history.MetaNodes]; n != "" {
		e.Nodes = strings.Split(n, ",")
	}
	return e
}

// Meta is the environment as history meta keys (the inverse of
// EnvironmentFromMeta), for the meta record the runner writes first.
func (e Environment) Meta() map[string]string {
	m := map[string]string{}
	set := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	set(history.MetaDatabase, e.Database)
	set(history.MetaStorageClass, e.StorageClass)
	set(history.MetaProvisioner, e.Provisioner)
	set(history.MetaKubernetesVersion, e.Kubernetes)
	set(history.MetaNamespace, e.Namespace)
	set(history.MetaIrischaosVersion, e.Irischaos)
	set(history.MetaNodes, strings.Join(e.Nodes, ","))
	if e.DatabaseStandIn {
		m[history.MetaDatabaseStandIn] = "true"
	}
	if e.StorageStandIn {
		m[history.MetaStorageStandIn] = "true"
	}
	return m
}
