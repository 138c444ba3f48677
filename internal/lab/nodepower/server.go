package nodepower

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// Controller carries out power actions; the cluster supervisor implements it
// over real nodes, tests over fakes.
type Controller interface {
	Nodes() []Node
	// Do performs action on node and returns once it took effect. It returns
	// an error wrapping ErrNotFound or ErrConflict where those apply.
	Do(ctx context.Context, node string, action Action) error
}

// Handler serves the power API for ctrl, requiring "Authorization: Bearer token".
// logf, when not nil, records every action.
func Handler(ctrl Controller, token string, logf func(format string, args ...any)) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/nodes", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, ctrl.Nodes())
	})
	mux.HandleFunc("GET /v1/nodes/{name}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		for _, n := range ctrl.Nodes() {
			if n.Name == name {
				writeJSON(w, http.StatusOK, n)
				return
			}
		}
		writeJSON(w, http.StatusNotFound, apiError{Error: fmt.Sprintf("node %q not found", name)})
	})
	mux.HandleFunc("POST /v1/nodes/{name}/{action}", func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		a, err := ParseAction(r.PathValue("action"))
		if err != nil {
			writeJSON(w, http.StatusBadRequest, apiError{Error: err.Error()})
			return
		}
		start := time.Now()
		err = ctrl.Do(r.Context(), name, a)
		if logf != nil {
			logf("power API: %s %s: took %s, err=%v", a, name, time.Since(start).Round(time.Millisecond), err)
		}
		switch {
		case err == nil:
			writeJSON(w, http.StatusOK, map[string]string{"node": name, "action": string(a), "result": "done"})
		case errors.Is(err, ErrNotFound):
			writeJSON(w, http.StatusNotFound, apiError{Error: err.Error()})
		case errors.Is(err, ErrConflict):
			writeJSON(w, http.StatusConflict, apiError{Error: err.Error()})
		default:
			writeJSON(w, http.StatusInternalServerError, apiError{Error: err.Error()})
		}
	})
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token == "" || subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			writeJSON(w, http.StatusUnauthorized, apiError{Error: "missing or wrong bearer token (read it from " + EndpointFile + " in the cluster directory)"})
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// NewToken returns a random bearer token.
func NewToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generating node power API token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// Serve listens on a random loopback port, writes the endpoint file into
// clusterDir (mode 0600) and serves until ctx ends; then it removes the file.
// It returns once the API is reachable; errors after that go to errc.
func Serve(ctx context.Context, clusterDir string, ctrl Controller, logger *log.Logger) (Endpoint, <-chan error, error) {
	token, err := NewToken()
	if err != nil {
		return Endpoint{}, nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Endpoint{}, nil, fmt.Errorf("node power API: listening on 127.0.0.1: %w", err)
	}
	ep := Endpoint{URL: "http://" + ln.Addr().String(), Token: token}
	var logf func(string, ...any)
	if logger != nil {
		logf = logger.Printf
	}
	srv := &http.Server{Handler: Handler(ctrl, token, logf), ReadHeaderTimeout: 10 * time.Second}
	path := filepath.Join(clusterDir, EndpointFile)
	if err := writeEndpoint(path, ep); err != nil {
		ln.Close()
		return Endpoint{}, nil, err
	}
	errc := make(chan error, 1)
	go func() {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		errc <- err
	}()
	go func() {
		<-ctx.Done()
		os.Remove(path)
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	return ep, errc, nil
}

func writeEndpoint(path string, ep Endpoint) error {
	b, err := json.Marshal(ep)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("node power API: writing %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("node power API: writing %s: %w", path, err)
	}
	return nil
}
