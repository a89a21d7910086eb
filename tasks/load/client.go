package load

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/wire"
)

// newHTTPClient returns a keep-alive HTTP/1.1 client (no HTTP/2, no h2c, no
// proxy, no transparent compression, which would buffer SSE) whose idle
// pool keeps one connection per concurrent request.
func newHTTPClient(conns int) *http.Client {
	if conns <= 0 {
		conns = 1024
	}
	var protos http.Protocols
	protos.SetHTTP1(true)
	tr := &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        0,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
		// The first-byte timeout is enforced per request (Options); the
		// header block is bounded here.
		MaxResponseHeaderBytes: MaxResponseHeaderBytes,
		DisableCompression:     true,
		ForceAttemptHTTP2:      false,
		Protocols:              &protos,
		ReadBufferSize:         16 << 10,
	}
	return &http.Client{Transport: tr}
}

// discoverModel asks an OpenAI-compatible server for its first model.
func discoverModel(ctx context.Context, c *http.Client, base, apiKey string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+wire.PathModels, nil)
	if err != nil {
		return "", err
	}
	if apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+apiKey)
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", fmt.Errorf("load: no server answers at %s (asked GET %s/v1/models for the model: %w); start one: `mage up:sim` runs the simulator with Prometheus and Grafana, `mage sim` the simulator alone, `mage up:vllm` vLLM; or point -url at a running server", base, base, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("load: discover model: GET %s/v1/models: %s; the server is up but lists no model: name it with -model=NAME", base, resp.Status)
	}
	var m struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(body, &m); err != nil || len(m.Data) == 0 || m.Data[0].ID == "" {
		return "", fmt.Errorf("load: discover model: GET %s/v1/models returned no model id; the server is up but lists no model: name it with -model=NAME", base)
	}
	return m.Data[0].ID, nil
}
