// Package emulator registers the local cluster's nodes as EC2 instances in a
// moto_server (an independent EC2 emulator) and lets instance state drive
// node power, so the AWS provider can be exercised end to end without AWS:
//
//	srv, err := emulator.Start(ctx, filepath.Join(clusterDir, "moto.log"))
//	defer srv.Stop()
//	insts, err := emulator.Launch(ctx, srv.URL, []emulator.NodeSpec{{Name: "n1", Zone: emulator.Zone(0)}, ...})
//	// set each Node's spec.providerID to insts[name].ProviderID, then:
//	go emulator.Sync(ctx, srv.URL, insts, power, logWriter)
//
// and point irischaos at srv.URL with --aws-endpoint (or AWS_ENDPOINT_URL_EC2),
// with any static credentials (AWS_ACCESS_KEY_ID=testing ...).
package awsemulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Binary finds moto_server: $MOTO_SERVER, then PATH, then pyenv's shims.
func Binary() (string, error) {
	if p := os.Getenv("MOTO_SERVER"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("moto_server"); err == nil {
		return p, nil
	}
	home, _ := os.UserHomeDir()
	for _, p := range []string{filepath.Join(home, ".pyenv", "shims", "moto_server"), "/root/.pyenv/shims/moto_server"} {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
	}
	return "", errors.New("moto_server not found (set MOTO_SERVER, or install it: pip install 'moto[server]')")
}

// Server is a running moto_server behind a small recording proxy. EC2
// clients use URL; the proxy forwards everything to moto and remembers
// RebootInstances calls, which leave no trace in moto's instance state, so
// that Sync can turn them into node restarts.
type Server struct {
	URL     string // endpoint for EC2 clients (the proxy)
	MotoURL string // moto_server itself

	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	http    *http.Server
	logFile *os.File

	stopOnce sync.Once
	stopErr  error

	mu      sync.Mutex
	reboots []Reboot
}

// Reboot is one instance named in a successful RebootInstances call.
type Reboot struct {
	Seq      int       `json:"seq"`
	Instance string    `json:"instance"`
	T        time.Time `json:"t"`
}

// RebootsPath is where the proxy lists reboots: GET RebootsPath?after=<seq>.
const RebootsPath = "/_irischaos/reboots"

// Start runs moto_server on a free loopback port, writing its output to
// logPath, and waits until it answers (at most 60s or until ctx ends).
func Start(ctx context.Context, logPath string) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, fmt.Errorf("moto_server log directory: %w", err)
	}
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("moto_server log: %w", err)
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	s := &Server{MotoURL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd, exited: make(chan struct{}), logFile: logf}
	go func() { s.waitErr = cmd.Wait(); close(s.exited) }()

	if err := s.waitReady(ctx, logPath); err != nil {
		_ = s.Stop()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		_ = s.Stop()
		return nil, fmt.Errorf("moto proxy: %w", err)
	}
	s.URL = "http://" + ln.Addr().String()
	s.http = &http.Server{Handler: s.handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.http.Serve(ln) }()
	return s, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free loopback port for moto_server: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) waitReady(ctx context.Context, logPath string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.MotoURL+"/moto-api/", nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			return nil
		}
		select {
		case <-s.exited:
			return fmt.Errorf("moto_server exited before answering (%v); see %s:\n%s", s.waitErr, logPath, tail(logPath))
		case <-ctx.Done():
			return fmt.Errorf("moto_server on %s did not answer: %w; see %s:\n%s", s.MotoURL, ctx.Err(), logPath, tail(logPath))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// Stop ends the proxy and moto_server (its whole process group) and waits
// for them. Calling it again does nothing.
func (s *Server) Stop() error {
	if s == nil {
		return nil
	}
	s.stopOnce.Do(func() { s.stopErr = s.stop() })
	return s.stopErr
}

func (s *Server) stop() error {
	if s.http != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_ = s.http.Shutdown(ctx)
		cancel()
	}
	if s.cmd != nil && s.cmd.Process != nil {
		select {
		case <-s.exited:
		default:
			_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
			select {
			case <-s.exited:
			case <-time.After(5 * time.Second):
				_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
				<-s.exited
			}
		}
	}
	if s.logFile != nil {
		return s.logFile.Close()
	}
	return nil
}

// Reboots returns the reboots recorded after sequence number after.
func (s *Server) Reboots(after int) []Reboot {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Reboot
	for _, r := range s.reboots {
		if r.Seq > after {
			out = append(out, r)
		}
	}
	return out
}

// statusRecorder keeps the status code the upstream answered.
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (w *statusRecorder) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (s *Server) handler() http.Handler {
	target, _ := url.Parse(s.MotoURL)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ErrorLog = log.New(s.logFile, "irischaos moto proxy: ", log.LstdFlags)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == RebootsPath {
			after, _ := strconv.Atoi(r.URL.Query().Get("after"))
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(s.Reboots(after))
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 16<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		var rebooted []string
		if form, err := url.ParseQuery(string(body)); err == nil && form.Get("Action") == "RebootInstances" {
			for k, v := range form {
				if strings.HasPrefix(k, "InstanceId.") && len(v) > 0 {
					rebooted = append(rebooted, v[0])
				}
			}
		}
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		proxy.ServeHTTP(rec, r)
		if len(rebooted) > 0 && rec.code/100 == 2 {
			s.mu.Lock()
			for _, id := range rebooted {
				s.reboots = append(s.reboots, Reboot{Seq: len(s.reboots) + 1, Instance: id, T: time.Now()})
			}
			s.mu.Unlock()
		}
	})
}
