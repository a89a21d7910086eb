package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/k8s/loadjob"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/k8s/podapi"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/load"
)

// k8sWorker makes o this pod's share of the whole load of job (workers
// pods; the index is the pod's JOB_COMPLETION_INDEX), says it is ready,
// waits for the coordinator's start and has o publish its progress. It
// returns the worker, whose Publish the caller calls with the result.
func k8sWorker(ctx context.Context, o *load.Options, job string, workers int, stderr io.Writer) (*loadjob.Worker, error) {
	idx, err := loadjob.IndexFromEnv(workers)
	if err != nil {
		return nil, err
	}
	shares, err := loadjob.Split(loadjob.Load{Concurrency: o.Concurrency, Rate: o.Rate, Shape: string(o.Shape),
		Requests: o.Requests, WarmupRequests: o.WarmupRequests, Seed: o.Seed}, workers)
	if err != nil {
		return nil, err
	}
	s := shares[idx]
	o.Concurrency, o.Rate, o.Requests, o.WarmupRequests, o.Seed = s.Concurrency, s.Rate, s.Requests, s.WarmupRequests, s.Seed
	api, err := podapi.InCluster()
	if err != nil {
		return nil, err
	}
	w := &loadjob.Worker{API: api, Job: job, Index: idx}
	// The coordinator creates the maps before the Job; a transient error
	// (the API server briefly away) is tried again for a while.
	deadline := time.Now().Add(time.Minute)
	for {
		err = w.Ready(ctx)
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(time.Second)
	}
	if err != nil {
		return nil, fmt.Errorf("say ready: %w", err)
	}
	fmt.Fprintf(stderr, "loadgen: worker %d of %d (job %s): %d streams, %.4g req/s; waiting for the start\n", idx, workers, job, s.Concurrency, s.Rate)
	start, err := w.WaitStart(ctx)
	if err != nil {
		return w, err
	}
	if d := time.Until(start.Add(s.Offset)); d > 0 {
		select {
		case <-ctx.Done():
			return w, ctx.Err()
		case <-time.After(d):
		}
	}
	o.Progress = w.Progress
	o.StatusInterval = time.Second
	return w, nil
}
