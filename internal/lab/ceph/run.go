package ceph

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/irischaos/irischaos/internal/lab/localcluster/proc"
)

// CLI runs the ceph tool against the cluster. --connect-timeout: a call to a
// monitor that is not (yet) up fails instead of waiting forever.
func (c *Cluster) CLI(ctx context.Context, args ...string) ([]byte, error) {
	return run(ctx, "ceph", append([]string{"-c", c.Conf(), "--connect-timeout", "10"}, args...)...)
}

func run(ctx context.Context, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// Version is the installed Ceph's version, e.g. "16.2.15".
func Version(ctx context.Context) (string, error) {
	out, err := run(ctx, "ceph", "--version")
	if err != nil {
		return "", fmt.Errorf("%w (is ceph-common installed? make deps)", err)
	}
	m := regexp.MustCompile(`ceph version (\d+\.\d+\.\d+)`).FindStringSubmatch(string(out))
	if m == nil {
		return "", fmt.Errorf("ceph --version printed %q: no version in it", strings.TrimSpace(string(out)))
	}
	return m[1], nil
}

// Binaries are the host tools the cluster needs (package ceph-mon, ceph-mgr,
// ceph-osd, ceph-common, rbd-fuse).
var Binaries = []string{"ceph-mon", "ceph-mgr", "ceph-osd", "ceph", "rbd", "monmaptool", "rbd-fuse"}

// Missing lists the Ceph tools not on PATH.
func Missing() []string {
	var out []string
	for _, b := range Binaries {
		if _, err := exec.LookPath(b); err != nil {
			out = append(out, b)
		}
	}
	return out
}

// Starter starts a long-running daemon and records it for teardown.
type Starter func(spec proc.Spec) (*proc.Started, error)

// StartMonitors writes the configuration, creates and starts the monitor
// (waiting for quorum) and the manager on the host, and creates every OSD's
// identity and BlueStore (mkfs), ready for OSDArgv to start them in their
// nodes. logs names a component's log file.
func (c *Cluster) StartMonitors(ctx context.Context, start Starter, logs func(component string) string, progress io.Writer) error {
	for _, d := range []string{c.Dir, filepath.Join(c.Dir, "run"), filepath.Join(c.Dir, "mon"), filepath.Join(c.Dir, "mgr", "ceph-"+MgrID)} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("ceph: %w", err)
		}
	}
	if err := os.WriteFile(c.Conf(), []byte(c.Render()), 0o644); err != nil {
		return fmt.Errorf("ceph: writing %s: %w", c.Conf(), err)
	}
	monmap := filepath.Join(c.Dir, "monmap")
	if _, err := run(ctx, "monmaptool", "--create", "--clobber", "--fsid", c.FSID, "--addv", MonID, c.MonHost(), monmap); err != nil {
		return fmt.Errorf("ceph: creating the monitor map: %w", err)
	}
	if _, err := run(ctx, "ceph-mon", "-c", c.Conf(), "--mkfs", "-i", MonID, "--monmap", monmap); err != nil {
		return fmt.Errorf("ceph: creating the monitor's store: %w", err)
	}
	mon, err := start(proc.Spec{Component: "ceph-mon", Log: logs("ceph-mon"), Dir: c.Dir,
		Argv: []string{"ceph-mon", "-c", c.Conf(), "-d", "-i", MonID, "--public-addr", c.MonIP}})
	if err != nil {
		return err
	}
	if err := c.waitQuorum(ctx, mon, logs("ceph-mon")); err != nil {
		return err
	}
	fmt.Fprintf(progress, "ceph: monitor %s in quorum at %s\n", MonID, c.MonHost())
	if _, err := start(proc.Spec{Component: "ceph-mgr", Log: logs("ceph-mgr"), Dir: c.Dir,
		Argv: []string{"ceph-mgr", "-c", c.Conf(), "-d", "-i", MgrID}}); err != nil {
		return err
	}
	// The OSDs' identities in the OSD map, then their stores, in parallel.
	for _, o := range c.OSDs {
		out, err := c.CLI(ctx, "osd", "new", o.UUID, strconv.Itoa(o.ID))
		if err != nil {
			return fmt.Errorf("ceph: registering osd.%d of %s: %w", o.ID, o.Host, err)
		}
		if got := strings.TrimSpace(string(out)); got != strconv.Itoa(o.ID) {
			return fmt.Errorf("ceph: osd new gave id %q for %s, want %d (a stale OSD map? remove the cluster and start again)", got, o.Host, o.ID)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, len(c.OSDs))
	for i, o := range c.OSDs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := os.MkdirAll(o.Data, 0o755); err != nil {
				errs[i] = err
				return
			}
			if _, err := run(ctx, "ceph-osd", "-c", c.Conf(), "-i", strconv.Itoa(o.ID), "--mkfs", "--osd-uuid", o.UUID); err != nil {
				errs[i] = fmt.Errorf("ceph: creating osd.%d's BlueStore in %s: %w", o.ID, o.Data, err)
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	fmt.Fprintf(progress, "ceph: manager %s started; %d OSDs created (BlueStore, %d MiB each)\n", MgrID, len(c.OSDs), OSDBytes>>20)
	return nil
}

func (c *Cluster) waitQuorum(ctx context.Context, mon *proc.Started, log string) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := c.CLI(qctx, "mon", "stat")
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-mon.Exited:
			return fmt.Errorf("ceph-mon exited during start-up (%v): see %s", *mon.Err, log)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("ceph-mon not in quorum after 60 s (%v): see %s", err, log)
		}
	}
}

// OSDArgv is the command a node runs to start its OSD (in its network
// namespace and cgroup subtree, on every boot). As the Debian unit's
// Restart=on-failure with StartLimitBurst=3 does, a failed OSD is started
// again up to 3 times, 1 s apart (not the unit's 10 s, to keep `cluster up`
// short): a fresh OSD's first start is known to fail now and then with
// "wrong fsid" in update_crush_device_class.
func (c *Cluster) OSDArgv(host string) ([]string, bool) {
	for _, o := range c.OSDs {
		if o.Host == host {
			script := fmt.Sprintf(`n=0; while :; do ceph-osd -c '%s' -d -i %d && exit 0; rc=$?; n=$((n+1)); [ $n -le 3 ] || exit $rc; echo "irischaos: ceph-osd exited with $rc; restart $n of 3 in 1 s"; sleep 1; done`, c.Conf(), o.ID)
			return []string{"/bin/sh", "-c", script}, true
		}
	}
	return nil, false
}

// osdDump is the part of `ceph osd dump --format json` read here.
type osdDump struct {
	OSDs []struct {
		OSD int `json:"osd"`
		Up  int `json:"up"`
		In  int `json:"in"`
	} `json:"osds"`
}

// UpOSDs returns the ids of the OSDs the monitor has up.
func (c *Cluster) UpOSDs(ctx context.Context) (map[int]bool, error) {
	out, err := c.CLI(ctx, "osd", "dump", "--format", "json")
	if err != nil {
		return nil, err
	}
	var d osdDump
	if err := json.Unmarshal(out, &d); err != nil {
		return nil, fmt.Errorf("ceph osd dump: %w", err)
	}
	up := map[int]bool{}
	for _, o := range d.OSDs {
		if o.Up == 1 {
			up[o.OSD] = true
		}
	}
	return up, nil
}

// WaitOSDsUp waits until every OSD is up.
func (c *Cluster) WaitOSDsUp(ctx context.Context, timeout time.Duration, logs func(host string) string) error {
	deadline := time.Now().Add(timeout)
	for {
		up, err := c.UpOSDs(ctx)
		var down []string
		for _, o := range c.OSDs {
			if !up[o.ID] {
				down = append(down, fmt.Sprintf("osd.%d (%s, log %s)", o.ID, o.Host, logs(o.Host)))
			}
		}
		if err == nil && len(down) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			if err != nil {
				return fmt.Errorf("ceph: OSD map unreadable after %s: %w", timeout, err)
			}
			return fmt.Errorf("ceph: not up after %s: %s", timeout, strings.Join(down, ", "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// CreatePool creates Pool (size and min_size from the configuration's
// defaults, PG autoscaling off) and initialises it for RBD.
func (c *Cluster) CreatePool(ctx context.Context) error {
	for _, args := range [][]string{
		{"osd", "pool", "create", Pool, strconv.Itoa(PGs), strconv.Itoa(PGs), "replicated", "replicated_rule"},
		{"osd", "pool", "set", Pool, "pg_autoscale_mode", "off"},
		{"osd", "pool", "application", "enable", Pool, "rbd"},
	} {
		if _, err := c.CLI(ctx, args...); err != nil {
			return fmt.Errorf("ceph: creating pool %s: %w", Pool, err)
		}
	}
	if _, err := run(ctx, "rbd", "-c", c.Conf(), "pool", "init", Pool); err != nil {
		return fmt.Errorf("ceph: initialising pool %s for RBD: %w", Pool, err)
	}
	return nil
}
