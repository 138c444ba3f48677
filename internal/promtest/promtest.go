// Package promtest runs Debian's Prometheus and Pushgateway for tests: each
// on a free loopback port with its own temporary directory, killed when the
// test ends; and asks Prometheus' HTTP API for instant vectors. A missing
// binary fails the test saying what to install (IRISCHAOS_SKIP_TOOLS=1:
// skips), so a proof that did not run never passes as one that did.
package promtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// NeedTool is the path of program name, from Debian package pkg.
func NeedTool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	ToolMissing(t, fmt.Sprintf("%s not found: install Debian's %s (hack/deps.sh does), or set IRISCHAOS_SKIP_TOOLS=1 to skip", name, pkg))
	return ""
}

// ToolMissing ends a test that lacks an external program: it fails, so a
// proof that did not run never passes as one that did, unless
// IRISCHAOS_SKIP_TOOLS is set (a machine that deliberately lacks it).
func ToolMissing(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv("IRISCHAOS_SKIP_TOOLS") != "" {
		t.Skip(msg)
	}
	t.Fatal(msg)
}

// FreeAddr is a loopback address whose port was free a moment ago.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// Pushgateway starts prometheus-pushgateway (no persistence) and returns
// its base URL once it is ready.
func Pushgateway(t testing.TB, ctx context.Context) string {
	t.Helper()
	bin := NeedTool(t, "prometheus-pushgateway", "prometheus-pushgateway")
	addr := FreeAddr(t)
	start(t, ctx, "pushgateway", bin, "--web.listen-address="+addr, "--log.level=warn")
	u := "http://" + addr
	waitReady(t, ctx, u+"/-/ready")
	return u
}

// Target is what Prometheus scrapes: a job's one address, every second.
type Target struct {
	Job, Addr string
	// HonorLabels keeps the scraped job and instance (for a Pushgateway).
	HonorLabels bool
}

// Prometheus starts prometheus scraping targets every second, with its
// storage in a temporary directory, and returns its base URL once ready.
func Prometheus(t testing.TB, ctx context.Context, targets ...Target) string {
	t.Helper()
	bin := NeedTool(t, "prometheus", "prometheus")
	dir := t.TempDir()
	var cfg strings.Builder
	cfg.WriteString("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n")
	for _, tg := range targets {
		fmt.Fprintf(&cfg, "  - job_name: %q\n    honor_labels: %v\n    static_configs: [{targets: [%q]}]\n", tg.Job, tg.HonorLabels, tg.Addr)
	}
	conf := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(conf, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := FreeAddr(t)
	start(t, ctx, "prometheus", bin, "--config.file="+conf, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	u := "http://" + addr
	waitReady(t, ctx, u+"/-/ready")
	return u
}

// Sample is one element of an instant vector.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Query asks Prometheus at api for the instant vector of q, retrying every
// 300 ms until it has want samples (want < 0: at least one) or ctx ends,
// which is a test error (the result is then nil).
func Query(t testing.TB, ctx context.Context, api, q string, want int) []Sample {
	t.Helper()
	var last string
	for {
		got, err := QueryOnce(ctx, api, q)
		if err == nil && (want < 0 && len(got) > 0 || len(got) == want) {
			return got
		}
		last = fmt.Sprintf("%d sample(s), error %v", len(got), err)
		select {
		case <-ctx.Done():
			t.Errorf("query %s: want %d sample(s); last answer: %s", q, want, last)
			return nil
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// QueryOnce is one GET /api/v1/query.
func QueryOnce(ctx context.Context, api, q string) ([]Sample, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, api+"/api/v1/query?"+url.Values{"query": {q}}.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, err
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("status %s: %s", body.Status, body.Error)
	}
	var out []Sample
	for _, r := range body.Data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, err
		}
		out = append(out, Sample{r.Metric, v})
	}
	return out, nil
}

// start starts a server for the test; it is killed when the test ends and
// its output logged if the test failed.
func start(t testing.TB, ctx context.Context, name, bin string, args ...string) {
	t.Helper()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Dir = t.TempDir()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s output:\n%s", name, out.String())
		}
	})
}

func waitReady(t testing.TB, ctx context.Context, u string) {
	t.Helper()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s not ready", u)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
