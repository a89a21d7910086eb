package load

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"sync"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/wire/stream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Run executes a load test and returns its result. Canceling ctx (Ctrl+C)
// ends the run gracefully: in-flight requests are canceled (kind
// "canceled", not failures) and Run returns the result with a nil error.
// A bounded run (Duration or Requests) that breaks an SLO returns the
// result and an error wrapping ErrSLO; its requests still running when the
// drain period ends are cut and counted as in_flight_at_end. Out is
// checked writable before any request is sent, but Run does not write it:
// the caller passes the result to Report, which prints the summary and
// writes Out. Run prints the live status to Options.Status when it is set.
func Run(ctx context.Context, o Options) (*Result, error) {
	traceCap := o.Concurrency // a trace's in-flight cap: 0 is none, not one worker
	o.withDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.Out != "" {
		if err := CheckWritable(o.Out); err != nil {
			return nil, err
		}
	}
	var records *recordWriter
	if o.Records != "" {
		var err error
		if records, err = openRecords(o.Records); err != nil {
			return nil, err
		}
		// Closed at once on the way out unless the run took it over.
		defer func() {
			if records != nil {
				records.close()
			}
		}()
	}
	wl, err := openWorkload(ctx, &o)
	if err != nil {
		return nil, err
	}
	defer wl.close()
	if wl.timed && len(o.Stages) > 0 {
		return nil, errors.New("load: a trace is replayed at its own times: drop the stages")
	}
	client := o.HTTPClient
	if client == nil {
		// net/http asks for the model (once); the requests of the run go
		// through the run's own client (h1.go) below.
		client = newHTTPClient(1)
		defer client.CloseIdleConnections()
	}
	if o.Model == "" {
		if o.Model, err = discoverModel(ctx, client, o.URL, o.APIKey); err != nil {
			return nil, err
		}
	}
	bodies := &bodies{o: &o}
	var h1 *h1Client
	if o.HTTPClient == nil {
		if h1, err = newH1Client(bodies.endpoint(), requestHeader(&o), o.connections()); err != nil {
			return nil, err
		}
		defer h1.closeIdle()
	}
	fd, err := wl.feed(bodies, o.Prompts.Once)
	if err != nil {
		return nil, err
	}

	reg := o.Registry
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	met, err := newMetrics(reg, o.Backend, o.Model)
	if err != nil {
		return nil, fmt.Errorf("load: register metrics: %w", err)
	}
	stopMetrics, err := serveMetrics(&o, reg)
	if err != nil {
		return nil, err
	}
	defer stopMetrics()
	header := requestHeader(&o)

	// A few shards keep recording contention low; each costs ~1.3 MB of
	// histograms, so their number is capped.
	nShards := runtime.GOMAXPROCS(0)
	if o.Concurrency > 0 && o.Concurrency < nShards {
		nShards = o.Concurrency
	}
	nShards = max(1, min(nShards, 8))
	g := &gen{o: o, client: client, endpoint: bodies.endpoint(), feed: fd, header: header, met: met,
		stopCh: make(chan struct{}), causes: newCauses(&o), runID: newRunID(), records: records, h1: h1}
	records = nil // g closes it
	for range nShards {
		g.shards = append(g.shards, &shard{stats: newStats()})
	}
	g.oaPool.New = func() any { r := stream.NewOpenAIReader(nil); r.SetMaxEventBytes(o.MaxEventBytes); return r }
	g.trPool.New = func() any { r := stream.NewTritonReader(nil); r.SetMaxEventBytes(o.MaxEventBytes); return r }
	g.gapPool.New = func() any { s := make([]int64, 0, 256); return &s }
	g.feedPool.New = func() any { return new(sseFeed) }

	hardCtx, cancelHard := context.WithCancel(ctx)
	defer cancelHard()
	g.hardCtx = hardCtx
	g.start = time.Now()
	g.cpu = startCPU()
	if o.Warmup > 0 {
		g.warmEnd = g.start.Add(o.Warmup)
	}
	started := time.Now()

	var arr *Arrivals
	if o.Rate > 0 {
		if arr, err = NewArrivals(o.Shape, o.Rate, o.Burstiness, o.Seed); err != nil {
			return nil, err
		}
	}

	var statusWG sync.WaitGroup
	statusDone := make(chan struct{})
	if o.Status != nil || o.Progress != nil {
		statusWG.Add(1)
		go func() { defer statusWG.Done(); g.statusLoop(statusDone) }()
	}

	if wl.sessions != nil {
		g.sessions = &sessionFeed{rd: wl.sessions, b: bodies}
	}
	var wg sync.WaitGroup
	switch {
	case len(o.Stages) > 0:
		g.startStages(&wg)
	case wl.timed:
		wg.Add(1)
		go func() { defer wg.Done(); g.traceLoop(&wg, traceCap) }()
	case g.sessions != nil:
		var sw sync.WaitGroup
		for w := 0; w < o.Concurrency; w++ {
			wg.Add(1)
			sw.Add(1)
			go func() { defer wg.Done(); defer sw.Done(); g.sessionWorker(w) }()
		}
		go func() { sw.Wait(); g.stop(stopDatasetEnd) }()
	case o.Rate > 0:
		wg.Add(1)
		go func() { defer wg.Done(); g.openLoop(arr, &wg) }()
	default:
		for w := 0; w < o.Concurrency; w++ {
			wg.Add(1)
			go func() { defer wg.Done(); g.worker(w) }()
		}
	}

	// Wait for the stop (bound reached or ctx canceled), then drain.
	select {
	case <-g.stopCh:
	case <-ctx.Done():
		g.stop(stopCanceled)
	}
	allDone := make(chan struct{})
	go func() { wg.Wait(); close(allDone) }()
	if ctx.Err() != nil {
		cancelHard()
	} else {
		t := time.NewTimer(o.DrainTimeout)
		select {
		case <-allDone:
		case <-t.C:
			g.mu.Lock()
			g.stopReason += stopDrainTimeout
			g.mu.Unlock()
			g.cutAtEnd.Store(true)
		case <-ctx.Done():
			g.mu.Lock()
			g.stopReason = stopCanceled
			g.mu.Unlock()
		}
		t.Stop()
		cancelHard()
	}
	<-allDone
	g.mu.Lock()
	if g.deadlineT != nil {
		g.deadlineT.Stop()
	}
	reason := g.stopReason
	g.mu.Unlock()
	close(statusDone)
	statusWG.Wait()

	var recErr error
	if g.records != nil {
		recErr = g.records.close() // every request has ended: nothing more to write
	}
	res := g.result(started, reason)
	res.ByTurn = g.turns.byTurn()
	res.DatasetSkipped = wl.skippedCount()
	res.Finite = o.bounded() || wl.finite() || o.Prompts.Once
	switch {
	case wl.timed:
		res.Config.Shape, res.Config.Concurrency = ShapeTrace, traceCap
	case wl.sessions != nil:
		res.Config.Shape = ShapeSessions
	}
	if g.feedErr != nil {
		return res, errors.Join(fmt.Errorf("load: the workload: %w", g.feedErr), recErr)
	}
	if res.Finite && reason != stopCanceled {
		if err := res.SLOError(); err != nil {
			return res, errors.Join(err, recErr)
		}
	}
	return res, recErr
}

// serveMetrics serves reg's /metrics on Options.MetricsListener or
// MetricsAddr, when either is set, until stop is called.
func serveMetrics(o *Options, reg *prometheus.Registry) (stop func(), err error) {
	if o.MetricsListener == nil && o.MetricsAddr == "" {
		return func() {}, nil
	}
	ln := o.MetricsListener
	if ln == nil {
		if ln, err = net.Listen("tcp", o.MetricsAddr); err != nil {
			return nil, fmt.Errorf("load: metrics address %q: %w (use host:port, e.g. :9400)", o.MetricsAddr, err)
		}
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return func() { srv.Close() }, nil
}

// requestHeader is the header of every request: JSON in, the stream or
// JSON out, and the API key when there is one.
func requestHeader(o *Options) http.Header {
	header := http.Header{"Content-Type": {"application/json"}}
	if o.Stream {
		header.Set("Accept", "text/event-stream")
	} else {
		header.Set("Accept", "application/json")
	}
	if o.APIKey != "" {
		header.Set("Authorization", "Bearer "+o.APIKey)
	}
	return header
}
