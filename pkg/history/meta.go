package history

import "time"

// Keys of a meta record's Meta map. The runner writes one meta record at the
// start of every history so that a history file alone says what was measured
// and against which budgets (irischaos analyze reads the budgets from it).
// Documented in docs/history.md; keys may be added, never renamed.
const (
	MetaScenario           = "scenario"            // scenario name
	MetaIteration          = "iteration"           // 1-based iteration number
	MetaFailureDomain      = "failure_domain"      // e.g. "Pod / container"
	MetaMitigatedBy        = "mitigated_by"        // what is expected to recover it
	MetaFault              = "fault"               // fault type, e.g. "pod-delete"
	MetaRTOBudget          = "rto_budget"          // Go duration, e.g. "60s"
	MetaRPOBudget          = "rpo_budget"          // Go duration, e.g. "2s"
	MetaDatabase           = "database"            // IRIS $zv, or the stand-in's own identity
	MetaDatabaseStandIn    = "database_standin"    // "true" when the database is the irischaos IRIS stand-in
	MetaStorageClass       = "storage_class"       // StorageClass of the IRIS volume
	MetaProvisioner        = "provisioner"         // that StorageClass's provisioner
	MetaStorageStandIn     = "storage_standin"     // "true" when the storage is an irischaos stand-in
	MetaStorageDescription = "storage_description" // what the stand-in storage is
	MetaKubernetesVersion  = "kubernetes_version"  // server version, e.g. "v1.36.3"
	MetaNodes              = "nodes"               // comma-separated node names
	MetaNamespace          = "namespace"           // namespace of the stack
	MetaIrischaosVersion   = "irischaos_version"   // version of the harness
	MetaWriteTimeout       = "write_timeout"       // Go duration: the workload's bound on one write (a write taking longer hung)
)

// MetaOf merges the Meta maps of every meta record, later records winning,
// so a runner may add facts as it learns them.
func MetaOf(recs []Record) map[string]string {
	out := map[string]string{}
	for _, r := range recs {
		if r.Kind != KindMeta {
			continue
		}
		for k, v := range r.Meta {
			out[k] = v
		}
	}
	return out
}

// MetaDuration parses a duration-valued meta key; ok is false when the key is
// absent. A present but unparsable value is an error naming the key.
func MetaDuration(meta map[string]string, key string) (d time.Duration, ok bool, err error) {
	s, ok := meta[key]
	if !ok || s == "" {
		return 0, false, nil
	}
	d, err = time.ParseDuration(s)
	if err != nil {
		return 0, true, &MetaError{Key: key, Value: s, Err: err}
	}
	return d, true, nil
}

// MetaError is a meta value that does not parse.
type MetaError struct {
	Key, Value string
	Err        error
}

func (e *MetaError) Error() string {
	return "meta " + e.Key + "=" + e.Value + ": " + e.Err.Error()
}

func (e *MetaError) Unwrap() error { return e.Err }
