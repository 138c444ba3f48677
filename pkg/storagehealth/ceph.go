package storagehealth

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"time"
)

// Ceph reads a Ceph pool's redundancy through the ceph CLI (the manager's
// PG statistics and the OSD map), run on the host that reaches the monitor.
// An RBD image's objects spread over every PG of its pool, so the pool's
// state is the volume's.
type Ceph struct {
	Conf    string // ceph.conf
	Pool    string
	Backend string // how reports name it, e.g. "Ceph RBD 16.2.15 (...)"
	// Run runs the ceph CLI with args and returns its stdout; nil runs
	// `ceph -c Conf`. Tests replace it.
	Run func(ctx context.Context, args ...string) ([]byte, error)
}

func (c Ceph) run(ctx context.Context, args ...string) ([]byte, error) {
	if c.Run != nil {
		return c.Run(ctx, args...)
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	argv := append([]string{"-c", c.Conf, "--log-file", "/dev/null", "--connect-timeout", "10"}, args...)
	cmd := exec.CommandContext(ctx, "ceph", argv...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("ceph %s (config %s): %v: %s", strings.Join(args, " "), c.Conf, err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// pgList is `ceph pg ls-by-pool POOL --format json`, reduced to what is
// read here: one pool's PGs (the device_health_metrics pool is not the
// volume's and stays out).
type pgList struct {
	PGStats []struct {
		PGID  string `json:"pgid"`
		State string `json:"state"`
		Up    []int  `json:"up"`
	} `json:"pg_stats"`
}

type osdTree struct {
	Nodes []struct {
		ID       int    `json:"id"`
		Name     string `json:"name"`
		Type     string `json:"type"`
		Status   string `json:"status"`
		Children []int  `json:"children"`
	} `json:"nodes"`
}

// Health implements Source.
func (c Ceph) Health(ctx context.Context) (Status, error) {
	st := Status{Backend: c.Backend, Scope: "pool " + c.Pool, Redundancy: Unknown}
	out, err := c.run(ctx, "pg", "ls-by-pool", c.Pool, "--format", "json")
	if err != nil {
		return st, err
	}
	var pl pgList
	if err := json.Unmarshal(out, &pl); err != nil {
		return st, fmt.Errorf("ceph pg ls-by-pool %s: unexpected output: %w", c.Pool, err)
	}
	counts := map[string]int{}
	for _, pg := range pl.PGStats {
		counts[pg.State]++
	}
	st.Redundancy, st.Detail = classify(counts)
	if out, err := c.run(ctx, "osd", "tree", "--format", "json"); err == nil {
		st.Replicas, _ = replicas(out)
	}
	return st, nil
}

// classify turns PG counts by state into the worst redundancy and a detail
// line, e.g. "32 PGs: 20 active+undersized+degraded, 12 active+clean".
func classify(counts map[string]int) (Redundancy, string) {
	total := 0
	var states []string
	for s, n := range counts {
		total += n
		states = append(states, s)
	}
	if total == 0 {
		return Unknown, "no PGs reported (is the manager up?)"
	}
	sort.Slice(states, func(i, j int) bool {
		if counts[states[i]] != counts[states[j]] {
			return counts[states[i]] > counts[states[j]]
		}
		return states[i] < states[j]
	})
	var parts []string
	worst := Clean
	rank := map[Redundancy]int{Unavailable: 0, Unknown: 1, Recovering: 2, Degraded: 3, Undersized: 4, Clean: 5}
	for _, s := range states {
		parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		if r := pgRedundancy(s); rank[r] < rank[worst] {
			worst = r
		}
	}
	return worst, fmt.Sprintf("%d PGs: %s", total, strings.Join(parts, ", "))
}

// pgRedundancy reads one PG state string (flags joined by '+').
func pgRedundancy(state string) Redundancy {
	flags := map[string]bool{}
	for _, f := range strings.Split(state, "+") {
		flags[f] = true
	}
	switch {
	case flags["unknown"]:
		return Unknown
	case !flags["active"] || flags["down"] || flags["incomplete"] || flags["stale"] || flags["peering"]:
		return Unavailable
	case flags["recovering"] || flags["recovery_wait"] || flags["backfilling"] || flags["backfill_wait"]:
		return Recovering
	case flags["degraded"]:
		return Degraded
	case flags["undersized"]:
		return Undersized
	case flags["clean"]:
		return Clean
	}
	// active but neither clean nor any flag above (e.g. remapped, peered):
	// copies are not where they belong yet.
	return Degraded
}

// replicas lists every OSD with the host bucket holding it.
func replicas(tree []byte) ([]Replica, error) {
	var t osdTree
	if err := json.Unmarshal(tree, &t); err != nil {
		return nil, err
	}
	host := map[int]string{}
	for _, n := range t.Nodes {
		if n.Type == "host" {
			for _, ch := range n.Children {
				host[ch] = n.Name
			}
		}
	}
	var out []Replica
	for _, n := range t.Nodes {
		if n.Type == "osd" {
			out = append(out, Replica{Node: host[n.ID], ID: n.Name, Up: n.Status == "up"})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Node < out[j].Node })
	return out, nil
}

// Replication is how a Ceph pool keeps its copies.
type Replication struct {
	Size          int    // copies per object
	MinSize       int    // copies that must be up for I/O
	FailureDomain string // the CRUSH bucket type copies are spread over: host, zone, osd...
}

// Replication reads the pool's size, min_size and the failure domain of
// its CRUSH rule.
func (c Ceph) Replication(ctx context.Context) (Replication, error) {
	var r Replication
	get := func(key string, v any) error {
		out, err := c.run(ctx, "osd", "pool", "get", c.Pool, key, "--format", "json")
		if err != nil {
			return err
		}
		if err := json.Unmarshal(out, v); err != nil {
			return fmt.Errorf("ceph osd pool get %s %s: unexpected output: %w", c.Pool, key, err)
		}
		return nil
	}
	var size struct {
		Size int `json:"size"`
	}
	var minSize struct {
		MinSize int `json:"min_size"`
	}
	var rule struct {
		Rule string `json:"crush_rule"`
	}
	if err := get("size", &size); err != nil {
		return r, err
	}
	if err := get("min_size", &minSize); err != nil {
		return r, err
	}
	if err := get("crush_rule", &rule); err != nil {
		return r, err
	}
	r.Size, r.MinSize = size.Size, minSize.MinSize
	out, err := c.run(ctx, "osd", "crush", "rule", "dump", rule.Rule, "--format", "json")
	if err != nil {
		return r, err
	}
	var dump struct {
		Steps []struct {
			Op   string `json:"op"`
			Type string `json:"type"`
		} `json:"steps"`
	}
	if err := json.Unmarshal(out, &dump); err != nil {
		return r, fmt.Errorf("ceph osd crush rule dump %s: unexpected output: %w", rule.Rule, err)
	}
	for _, s := range dump.Steps {
		if strings.HasPrefix(s.Op, "choose") {
			r.FailureDomain = s.Type
		}
	}
	return r, nil
}
