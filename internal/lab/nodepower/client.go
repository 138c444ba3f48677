package nodepower

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Client talks to one local cluster's power API.
type Client struct {
	Cluster  string // cluster name, for error messages
	endpoint Endpoint
	http     *http.Client
}

// NewClient returns a client for the API at baseURL authenticated by token.
func NewClient(cluster, baseURL, token string) *Client {
	return &Client{
		Cluster:  cluster,
		endpoint: Endpoint{URL: strings.TrimRight(baseURL, "/"), Token: token},
		// Power actions wait until they took effect; poweron waits for the
		// node's runtime, so allow well beyond a few seconds.
		http: &http.Client{Timeout: 3 * time.Minute},
	}
}

// Discover finds the power API of the named local cluster from its state directory.
func Discover(cluster string) (*Client, error) {
	if cluster == "" {
		return nil, errors.New("node power: empty cluster name")
	}
	path := filepath.Join(ClusterDir(cluster), EndpointFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("local cluster %q is not running (no %s): start it with `irischaos cluster up --name %s`", cluster, path, cluster)
	}
	if err != nil {
		return nil, fmt.Errorf("local cluster %q: reading node power endpoint: %w", cluster, err)
	}
	var ep Endpoint
	if err := json.Unmarshal(b, &ep); err != nil || ep.URL == "" || ep.Token == "" {
		return nil, fmt.Errorf("local cluster %q: %s is corrupt (%v): run `irischaos cluster down --name %s` and `irischaos cluster up --name %s`", cluster, path, err, cluster, cluster)
	}
	return NewClient(cluster, ep.URL, ep.Token), nil
}

// Nodes lists every node the cluster has had, deleted ones included.
func (c *Client) Nodes(ctx context.Context) ([]Node, error) {
	var out []Node
	if err := c.call(ctx, http.MethodGet, "/v1/nodes", &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Node returns one node.
func (c *Client) Node(ctx context.Context, name string) (Node, error) {
	var out Node
	err := c.call(ctx, http.MethodGet, "/v1/nodes/"+url.PathEscape(name), &out)
	return out, err
}

// Do performs action on node and returns once it has taken effect.
func (c *Client) Do(ctx context.Context, node string, action Action) error {
	if _, err := ParseAction(string(action)); err != nil {
		return err
	}
	return c.call(ctx, http.MethodPost, "/v1/nodes/"+url.PathEscape(node)+"/"+string(action), nil)
}

func (c *Client) call(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.endpoint.URL+path, nil)
	if err != nil {
		return fmt.Errorf("local cluster %q node power: %w", c.Cluster, err)
	}
	req.Header.Set("Authorization", "Bearer "+c.endpoint.Token)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("local cluster %q node power API %s %s: %w (is the supervisor running? see `irischaos cluster status --name %s`)", c.Cluster, method, path, err, c.Cluster)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		var e apiError
		msg := strings.TrimSpace(string(body))
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		err := &statusError{msg: fmt.Sprintf("local cluster %q node power API %s %s: %s (HTTP %d)", c.Cluster, method, path, msg, resp.StatusCode)}
		switch resp.StatusCode {
		case http.StatusNotFound:
			err.kind = ErrNotFound
		case http.StatusConflict:
			err.kind = ErrConflict
		}
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("local cluster %q node power API %s %s: bad response: %w", c.Cluster, method, path, err)
	}
	return nil
}

// statusError is an API error; errors.Is matches ErrNotFound / ErrConflict.
type statusError struct {
	msg  string
	kind error
}

func (e *statusError) Error() string        { return e.msg }
func (e *statusError) Is(target error) bool { return e.kind != nil && target == e.kind }

type apiError struct {
	Error string `json:"error"`
}
