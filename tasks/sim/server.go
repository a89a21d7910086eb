package sim

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Server is one simulated inference server.
type Server struct {
	cfg     Config
	eng     *engine
	gpu     *gpuModel
	vm      *vllmMetrics   // vllm personality
	http    *httpMetrics   // vllm personality
	tm      *tritonMetrics // triton personalities
	started time.Time

	engOnce   sync.Once
	engCancel context.CancelFunc
	engDone   chan struct{}
	readyAt   atomic.Int64 // unix nanos

	reqSeq atomic.Uint64 // for fault decisions and ids
	api    http.Handler

	hangSeq atomic.Uint64 // -hang-rate (hang.go)

	bodies *bodyBudget // -max-body-memory
	conns  *connTable  // -max-connections, set by Start
}

// Running describes a started server. URLs have no trailing slash;
// MetricsURL and DCGMURL end in /metrics (DCGMURL is "" when off).
// MaxConnections is the cap of open connections in effect.
type Running struct {
	APIURL, MetricsURL, DCGMURL string
	MaxConnections              int
	Done                        <-chan struct{}
}

// New checks cfg and builds the server. The engine starts with the first
// Start or Handler call.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	now := time.Now()
	s := &Server{cfg: cfg, started: now, engDone: make(chan struct{})}
	s.bodies = &bodyBudget{max: cfg.MaxBodyMemory}
	s.eng = newEngine(cfg)
	s.gpu = newGPUModel(&s.cfg, s.eng, now)
	if cfg.Personality == PersonalityVLLM {
		s.vm = newVLLMMetrics(&s.cfg, s.eng, now)
		s.http = newHTTPMetrics(now)
		s.eng.recorders = append(s.eng.recorders, s.vm)
		s.api = s.instrument(s.vllmRoutes())
	} else {
		s.tm = newTritonMetrics(&s.cfg, s.eng, s.gpu)
		s.eng.recorders = append(s.eng.recorders, s.tm)
		s.api = s.tritonRoutes()
	}
	s.readyAt.Store(now.Add(cfg.StartupDelay).UnixNano())
	return s, nil
}

// Config returns the configuration in use.
func (s *Server) Config() Config { return s.cfg }

func (s *Server) startEngine() {
	s.engOnce.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		s.engCancel = cancel
		s.readyAt.Store(time.Now().Add(s.cfg.StartupDelay).UnixNano())
		go func() {
			defer close(s.engDone)
			s.eng.run(ctx)
		}()
	})
}

// Close stops the engine (Start's context does it too).
func (s *Server) Close() {
	s.startEngine()
	s.engCancel()
	<-s.engDone
}

func (s *Server) ready() bool { return time.Now().UnixNano() >= s.readyAt.Load() }

// Handler is the API (for vllm it includes /metrics).
func (s *Server) Handler() http.Handler {
	s.startEngine()
	return s.api
}

// MetricsHandler is the metrics page: vLLM's /metrics or Triton's :8002.
func (s *Server) MetricsHandler() http.Handler {
	if s.cfg.Personality == PersonalityVLLM {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", s.vllmMetricsHandler())
		return mux
	}
	return s.tritonMetricsHandler()
}

// DCGMHandler is the dcgm-exporter look-alike (/metrics).
func (s *Server) DCGMHandler() http.Handler { return s.dcgmHandler() }

// Start listens on the configured addresses (":0" ports allowed) and serves
// until ctx is done; Done closes when everything has stopped.
//
// Every listener has -read-header-timeout, -read-timeout (net/http lifts it
// once a request's body is read, so streams run as long as they need; there
// is no write timeout) and -idle-timeout, and all of them share one cap of open
// connections (-max-connections): at the cap a new connection closes the
// longest-waiting one that has no request in progress, so idle or slow
// clients cannot use up the file descriptors and starve /health.
func (s *Server) Start(ctx context.Context) (*Running, error) {
	type srv struct {
		addr string
		h    http.Handler
		url  *string
		path string
	}
	s.conns = &connTable{max: s.cfg.maxConnections()}
	run := &Running{MaxConnections: s.conns.max}
	list := []srv{{s.cfg.Addr, rawConnHandler(s.Handler()), &run.APIURL, ""}}
	if ma := s.cfg.effectiveMetricsAddr(); ma != "" {
		list = append(list, srv{ma, s.MetricsHandler(), &run.MetricsURL, "/metrics"})
	}
	if s.cfg.DCGMAddr != "" {
		list = append(list, srv{s.cfg.DCGMAddr, s.DCGMHandler(), &run.DCGMURL, "/metrics"})
	}
	var lns []net.Listener
	closeAll := func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}
	for _, x := range list {
		ln, err := net.Listen("tcp", x.addr)
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("listen on %s: %w (change the address flag or free the port)", x.addr, err)
		}
		lns = append(lns, tableListener{ln, s.conns})
		*x.url = "http://" + urlHost(ln.Addr()) + x.path
	}
	if run.MetricsURL == "" {
		run.MetricsURL = run.APIURL + "/metrics"
	}
	done := make(chan struct{})
	run.Done = done
	var servers []*http.Server
	var wg sync.WaitGroup
	for i, ln := range lns {
		hs := &http.Server{Handler: list[i].h, ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
			ReadTimeout: s.cfg.ReadTimeout, IdleTimeout: s.cfg.IdleTimeout, ConnState: s.conns.connState,
			ConnContext: rawConnContext}
		servers = append(servers, hs)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				_ = err // the listener failed; Done reports the stop
			}
		}()
	}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		for _, hs := range servers {
			_ = hs.Shutdown(sctx)
		}
		cancel()
		for _, hs := range servers {
			_ = hs.Close()
		}
		wg.Wait()
		s.Close()
		close(done)
	}()
	return run, nil
}

// Raw chunks: a stream writer sends each token's SSE events in one write
// system call, instead of through net/http's ResponseWriter (its buffer,
// the chunked encoder's size line written with fmt, a second buffer, the
// flush), which cost as much CPU as the rest of a token's work but the
// write itself. Once the handler has sent the header (WriteHeader, Flush:
// net/http has then written the status line and the headers, with
// Transfer-Encoding: chunked for an HTTP/1.1 request, and holds nothing
// buffered), the stream frames its chunks itself (oaStream.send) and
// writes them to the connection net/http still owns; when the handler
// returns, net/http ends the body with its zero-length chunk as for any
// chunked answer, and the connection stays open for the next request.
// Nothing else writes to the connection while the handler runs, and the
// stream writes nothing after it returns (oaStream.closed).

// rawConn is what rawConnContext keeps of a connection: the connection,
// and whether its request in progress may get raw chunks (HTTP/1.1, so
// net/http answers it chunked). A connection serves its
// requests one at a time, so the flag is the current request's.
type rawConn struct {
	c       net.Conn
	chunked atomic.Bool
}

type rawConnKey struct{}

// rawConnContext is the API server's ConnContext: it keeps the connection
// for rawConnOf.
func rawConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, rawConnKey{}, &rawConn{c: c})
}

// rawConnHandler marks each request on a connection of rawConnContext
// that may get raw chunks.
func rawConnHandler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rc, ok := r.Context().Value(rawConnKey{}).(*rawConn); ok {
			// HTTP/1.1 only: an HTTP/2 connection has frames of its own.
			rc.chunked.Store(r.ProtoMajor == 1 && r.ProtoMinor >= 1 && r.Method != http.MethodHead)
		}
		h.ServeHTTP(w, r)
	})
}

// rawConnOf is the connection a stream of the request of ctx may write
// raw chunks to once its header is flushed, or nil (not served by Start,
// or an HTTP/1.0 request).
func rawConnOf(ctx context.Context) net.Conn {
	rc, ok := ctx.Value(rawConnKey{}).(*rawConn)
	if !ok || !rc.chunked.Load() {
		return nil
	}
	return rc.c
}

func urlHost(a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	ip := ta.IP
	if ip == nil || ip.IsUnspecified() {
		if ip.To4() == nil && ip != nil {
			ip = net.IPv6loopback
		} else {
			ip = net.IPv4(127, 0, 0, 1)
		}
	}
	return net.JoinHostPort(ip.String(), fmt.Sprint(ta.Port))
}

// injectError decides whether this request fails with HTTP 500 (-error-rate).
func (s *Server) injectError() bool {
	if s.cfg.ErrorRate <= 0 {
		return false
	}
	n := s.reqSeq.Add(1)
	return unitFloat(splitmix64(s.cfg.Seed^splitmix64(n^0xe770))) < s.cfg.ErrorRate
}

// ReadyPath is the readiness path of a personality (for -healthcheck).
func ReadyPath(personality string) string {
	if personality == PersonalityVLLM || personality == "" {
		return "/health"
	}
	return "/v2/health/ready"
}

// Healthcheck GETs url (with the personality's ReadyPath when url has no
// path) and returns nil on a 2xx answer.
func Healthcheck(ctx context.Context, url, personality string) error {
	u := url
	if rest := trimScheme(u); !containsSlash(rest) {
		u += ReadyPath(personality)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("-healthcheck %q: %w (want a URL such as http://127.0.0.1:8000/health)", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck GET %s: %w", u, err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("healthcheck GET %s: HTTP %d", u, resp.StatusCode)
	}
	return nil
}

func trimScheme(u string) string {
	for _, p := range []string{"http://", "https://"} {
		if len(u) >= len(p) && u[:len(p)] == p {
			return u[len(p):]
		}
	}
	return u
}

func containsSlash(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return true
		}
	}
	return false
}
