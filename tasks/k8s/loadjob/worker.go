package loadjob

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/k8s/podapi"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/load"
)

// The ConfigMaps of a job NAME: NAME-control, written by the coordinator
// (KeyStart: the agreed start, RFC 3339 with nanoseconds; KeyAbort: why
// the run will not start), and NAME-w-I for worker I, written by the
// worker (KeyReady, KeyProgress: load.Progress as JSON, KeyResult: its
// results file, KeyError: why it has no result). The coordinator creates
// them all, owned by the Job, before the pods; the workers' Role may only
// get the control map and get and patch their own maps.
const (
	KeyStart    = "start"
	KeyAbort    = "abort"
	KeyReady    = "ready"
	KeyProgress = "progress"
	KeyResult   = "result"
	KeyError    = "error"
)

// ControlName is the name of job's control ConfigMap.
func ControlName(job string) string { return job + "-control" }

// WorkerName is the name of worker i's ConfigMap.
func WorkerName(job string, i int) string { return job + "-w-" + strconv.Itoa(i) }

// IndexFromEnv is the worker's index in its Indexed Job, from the variable
// Kubernetes sets in each of its pods.
func IndexFromEnv(workers int) (int, error) {
	v := os.Getenv("JOB_COMPLETION_INDEX")
	if v == "" {
		return 0, fmt.Errorf("loadjob: JOB_COMPLETION_INDEX is not set: a worker runs as a pod of the Indexed Job that mage k8s:load creates")
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 0 || i >= workers {
		return 0, fmt.Errorf("loadjob: JOB_COMPLETION_INDEX=%q: want 0 to %d (the job has %d workers)", v, workers-1, workers)
	}
	return i, nil
}

// Worker is one generator pod's side of the protocol.
type Worker struct {
	API   *podapi.Client
	Job   string
	Index int
	// Poll is how often it reads the control map while it waits (default
	// 250 ms); ProgressEvery how often it publishes progress (default 2 s).
	Poll, ProgressEvery time.Duration

	mu       sync.Mutex
	last     time.Time
	inFlight bool
}

func (w *Worker) name() string { return WorkerName(w.Job, w.Index) }

// Ready says the worker is up and waits for the start.
func (w *Worker) Ready(ctx context.Context) error {
	return w.API.PatchConfigMapData(ctx, w.name(), map[string]string{KeyReady: time.Now().UTC().Format(time.RFC3339Nano)})
}

// WaitStart polls the control map until the coordinator writes the start
// (returned) or an abort (an error), or ctx ends.
func (w *Worker) WaitStart(ctx context.Context) (time.Time, error) {
	every := w.Poll
	if every <= 0 {
		every = 250 * time.Millisecond
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		data, err := w.API.ConfigMapData(ctx, ControlName(w.Job))
		if err != nil && ctx.Err() == nil && !retryable(err) {
			return time.Time{}, err
		}
		if why := data[KeyAbort]; why != "" {
			return time.Time{}, fmt.Errorf("loadjob: the coordinator aborted the run: %s", why)
		}
		if s := data[KeyStart]; s != "" {
			start, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return time.Time{}, fmt.Errorf("loadjob: control map %s: start %q is not an RFC 3339 time", ControlName(w.Job), s)
			}
			return start, nil
		}
		select {
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-t.C:
		}
	}
}

// retryable: a map not there yet, the API server briefly away or busy
// (a 403 or a 400 is not).
func retryable(err error) bool {
	var se *podapi.StatusError
	if errors.As(err, &se) {
		return se.Code == 404 || se.Code == 429 || se.Code >= 500
	}
	return true
}

// Progress publishes p, at most every ProgressEvery and never two at once;
// it does not block the caller (load.Options.Progress).
func (w *Worker) Progress(p load.Progress) {
	every := w.ProgressEvery
	if every <= 0 {
		every = 2 * time.Second
	}
	w.mu.Lock()
	if w.inFlight || time.Since(w.last) < every {
		w.mu.Unlock()
		return
	}
	w.inFlight, w.last = true, time.Now()
	w.mu.Unlock()
	go func() {
		defer func() { w.mu.Lock(); w.inFlight = false; w.mu.Unlock() }()
		b, _ := json.Marshal(p)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = w.API.PatchConfigMapData(ctx, w.name(), map[string]string{KeyProgress: string(b)})
	}()
}

// Publish writes the worker's result (and, when the run failed, why) to
// its map. It is called whatever the run's outcome, with a context of its
// own: a worker stopped by SIGTERM still publishes what it measured.
func (w *Worker) Publish(res *load.Result, runErr error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	data := map[string]string{}
	if res != nil {
		b, err := json.Marshal(res)
		if err != nil {
			return err
		}
		data[KeyResult] = string(b)
	}
	if runErr != nil {
		data[KeyError] = runErr.Error()
	}
	if len(data) == 0 {
		data[KeyError] = "no result"
	}
	return w.API.PatchConfigMapData(ctx, w.name(), data)
}
