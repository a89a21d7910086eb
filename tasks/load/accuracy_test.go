package load_test

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/load"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/sim"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/sim/simtest"
)

// BenchmarkAccuracy holds the generator against the simulator in
// constant-latency mode, where the truth is known: TTFT 50 ms and ITL 10 ms
// for every request. It reports how far the measured p50s lie from the
// truth (ttft-p50-err-ms, itl-p50-err-ms) at concurrency 1, 100 and 1000,
// and the generator's scheduling lag p99. The README quotes its figures.
func BenchmarkAccuracy(b *testing.B) {
	const ttft, itl = 50 * time.Millisecond, 10 * time.Millisecond
	for _, c := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("c=%d", c), func(b *testing.B) {
			ctx := context.Background()
			cfg := sim.DefaultConfig(sim.PersonalityVLLM)
			cfg.ConstantTTFT, cfg.ConstantITL = ttft, itl
			cfg.MaxNumSeqs, cfg.MaxWaiting = 4096, 8192
			run := simtest.Start(b, cfg)
			var ttftErr, itlErr, lag float64
			for i := 0; i < b.N; i++ {
				o, _ := load.Preset("sim", c)
				o.URL, o.Model = run.APIURL, cfg.ServedModelName
				o.MaxTokens, o.IgnoreEOS = 32, true
				o.Requests = max(3*c, 20)
				o.WarmupRequests = c                                        // open every connection before measuring
				o.SLO = load.SLO{Availability: -1, TTFTP95: -1, ITLP95: -1} // measure, do not judge
				res, err := load.Run(ctx, o)
				if err != nil {
					b.Fatal(err)
				}
				if res.Requests.OK != int64(o.Requests) {
					b.Fatalf("ok %d of %d", res.Requests.OK, o.Requests)
				}
				ttftErr += math.Abs(res.TTFT.P50 - ttft.Seconds())
				itlErr += math.Abs(res.ITL.P50 - itl.Seconds())
				lag += res.SchedulingLag.P99
			}
			n := float64(b.N)
			b.ReportMetric(ttftErr/n*1e3, "ttft-p50-err-ms")
			b.ReportMetric(itlErr/n*1e3, "itl-p50-err-ms")
			b.ReportMetric(lag/n*1e3, "sched-lag-p99-ms")
		})
	}
}
