// Package csi is the local cluster's CSI driver for Ceph RBD: real
// replicated block storage standing in for Longhorn (the kernel here has no
// RBD, iSCSI or NBD, so a node reaches an image through rbd-fuse -> loop
// device -> ext4). One binary runs the controller side (CreateVolume,
// DeleteVolume, ControllerPublish with fencing, plus the provisioner and
// attacher loops the upstream sidecars would run) and, per node, the node
// side (stage, publish, kubelet plugin registration).
package csi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/irischaos/irischaos/pkg/storagehealth"
)

// DriverName is the CSI driver's name (CSIDriver object, StorageClass
// provisioner, VolumeAttachment attacher).
const DriverName = storagehealth.CephRBDDriver

// Ceph runs the ceph and rbd command-line tools against one cluster and pool.
// Every call goes through the CLI with the client settings of Conf, whose
// [client] section must set rbd_cache = false (see CheckClientConf).
type Ceph struct {
	Conf string // ceph.conf path
	Pool string // RBD pool
	// Timeout bounds each CLI call (a call to a cluster without quorum
	// would otherwise wait forever); 30 s when zero.
	Timeout time.Duration
}

// ErrNotFound is returned for an image that does not exist.
var ErrNotFound = errors.New("rbd image not found")

func (c Ceph) run(ctx context.Context, tool string, args ...string) ([]byte, error) {
	t := c.Timeout
	if t == 0 {
		t = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, t)
	defer cancel()
	// --log-file /dev/null: otherwise every CLI call leaves a log file.
	argv := append([]string{"-c", c.Conf, "--log-file", "/dev/null"}, args...)
	cmd := exec.CommandContext(ctx, tool, argv...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if strings.Contains(msg, "No such file or directory") || strings.Contains(msg, "error opening image") && strings.Contains(msg, "(2)") {
			return out, fmt.Errorf("%s %s: %w: %s", tool, strings.Join(args, " "), ErrNotFound, msg)
		}
		if ctx.Err() != nil {
			return out, fmt.Errorf("%s %s: no answer from Ceph (config %s) after %s: is the monitor up?", tool, strings.Join(args, " "), c.Conf, t)
		}
		return out, fmt.Errorf("%s %s: %v: %s", tool, strings.Join(args, " "), err, msg)
	}
	return out, nil
}

func (c Ceph) spec(image string) string { return c.Pool + "/" + image }

// Version is the cluster tools' version, e.g. "16.2.15".
func (c Ceph) Version(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "ceph", "--version").Output()
	if err != nil {
		return "", fmt.Errorf("ceph --version: %v (is ceph-common installed?)", err)
	}
	return parseVersion(string(out))
}

var versionRE = regexp.MustCompile(`ceph version (\d+\.\d+\.\d+)`)

func parseVersion(s string) (string, error) {
	m := versionRE.FindStringSubmatch(s)
	if m == nil {
		return "", fmt.Errorf("no version in %q", strings.TrimSpace(s))
	}
	return m[1], nil
}

// ImageSize is the image's size in bytes, or ErrNotFound.
func (c Ceph) ImageSize(ctx context.Context, image string) (int64, error) {
	out, err := c.run(ctx, "rbd", "info", "--format", "json", c.spec(image))
	if err != nil {
		return 0, err
	}
	var info struct {
		Size int64 `json:"size"`
	}
	if err := json.Unmarshal(out, &info); err != nil {
		return 0, fmt.Errorf("rbd info %s: %w", c.spec(image), err)
	}
	return info.Size, nil
}

// CreateImage creates an image of size bytes with exclusive-lock (the
// fencing below relies on it).
func (c Ceph) CreateImage(ctx context.Context, image string, size int64) error {
	_, err := c.run(ctx, "rbd", "create", c.spec(image), "--size", strconv.FormatInt(size, 10)+"B",
		"--image-feature", "layering,exclusive-lock")
	return err
}

// RemoveImage deletes the image; a missing image is not an error.
func (c Ceph) RemoveImage(ctx context.Context, image string) error {
	_, err := c.run(ctx, "rbd", "rm", "--no-progress", c.spec(image))
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// Locker is one holder of an image's lock.
type Locker struct {
	ID      string `json:"id"`
	Locker  string `json:"locker"`
	Address string `json:"address"`
}

// IP is the host part of the locker's client address ("10.250.0.11:0/123").
func (l Locker) IP() string {
	a := l.Address
	if i := strings.LastIndex(a, "/"); i >= 0 {
		a = a[:i]
	}
	a = strings.TrimPrefix(a, "v1:")
	a = strings.TrimPrefix(a, "v2:")
	if h, _, err := net.SplitHostPort(a); err == nil {
		return h
	}
	return a
}

// Lockers lists the image's lock holders.
func (c Ceph) Lockers(ctx context.Context, image string) ([]Locker, error) {
	out, err := c.run(ctx, "rbd", "lock", "ls", "--format", "json", c.spec(image))
	if err != nil {
		return nil, err
	}
	return parseLockers(out)
}

// parseLockers reads `rbd lock ls --format json`: a list in Pacific and
// later, a map keyed by lock id before.
func parseLockers(b []byte) ([]Locker, error) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, nil
	}
	var list []Locker
	if err := json.Unmarshal(b, &list); err == nil {
		return list, nil
	}
	var m map[string]Locker
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("rbd lock ls: unreadable output %q: %w", b, err)
	}
	for id, l := range m {
		l.ID = id
		list = append(list, l)
	}
	return list, nil
}

// Fence blocklists every lock holder of the image for which keep returns
// false and removes its lock, so that client can never write to the image
// again (its writes fail with EIO; with rbd_cache off nothing is
// acknowledged). It returns the fenced holders.
func (c Ceph) Fence(ctx context.Context, image string, keep func(Locker) bool) ([]Locker, error) {
	lockers, err := c.Lockers(ctx, image)
	if err != nil {
		return nil, err
	}
	var fenced []Locker
	for _, l := range lockers {
		if keep(l) {
			continue
		}
		// Blocklist first: removing the lock alone would let the old client
		// take it back.
		if _, err := c.run(ctx, "ceph", "osd", "blocklist", "add", l.Address); err != nil {
			return fenced, fmt.Errorf("fencing %s of image %s: %w", l.Locker, c.spec(image), err)
		}
		if _, err := c.run(ctx, "rbd", "lock", "rm", c.spec(image), l.ID, l.Locker); err != nil && !errors.Is(err, ErrNotFound) {
			return fenced, fmt.Errorf("removing lock of %s (blocklisted) on image %s: %w", l.Locker, c.spec(image), err)
		}
		fenced = append(fenced, l)
	}
	return fenced, nil
}

// CheckClientConf fails unless conf's [client] (or [global]) section turns
// librbd's cache off: with the write-around cache, rbd-fuse acknowledges a
// write that never reached the OSDs (a fenced writer saw success).
func CheckClientConf(conf string) error {
	section := ""
	setting := map[string]string{} // section -> rbd_cache value
	for _, line := range strings.Split(conf, "\n") {
		line = strings.TrimSpace(line)
		if i := strings.IndexAny(line, "#;"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = strings.TrimSpace(line[1 : len(line)-1])
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || (section != "client" && section != "global") {
			continue
		}
		k = strings.ReplaceAll(strings.TrimSpace(k), " ", "_")
		if k == "rbd_cache" {
			setting[section] = strings.ToLower(strings.TrimSpace(v))
		}
	}
	v, ok := setting["client"]
	if !ok {
		v = setting["global"]
	}
	if v != "false" && v != "0" && v != "no" && v != "off" {
		return errors.New("ceph.conf has no `rbd_cache = false` in [client]: librbd's cache would acknowledge writes a fenced client never wrote; add it")
	}
	return nil
}
