// Package load is a load generator for LLM inference servers (vLLM's
// OpenAI-compatible API, Triton's generate extension with the vLLM backend
// or a TensorRT-LLM ensemble). It streams requests from a fixed number of
// workers (closed loop) or at a request rate (open loop: poisson, gamma or
// constant arrivals, optionally capped in concurrency), measures TTFT, ITL,
// TPOT and E2E per request, and checks service-level objectives.
//
// # Metric definitions
//
//   - TTFT: from the send time to the first content chunk (the first stream
//     event whose generated text is non-empty; role-only and usage-only
//     chunks do not count; reasoning text counts as content).
//   - ITL: every gap between consecutive content chunks (per chunk, not per
//     token; a chunk that bundles several tokens is one gap).
//   - E2E: from the send time to the end of the response (OpenAI "[DONE]",
//     the end of a Triton stream, or the full body when not streamed).
//   - TPOT: (E2E - TTFT) / (output tokens - 1), for streamed requests with
//     at least two output tokens.
//   - Output tokens: the server's usage.completion_tokens (OpenAI, with
//     stream_options.include_usage) or Triton's num_output_tokens when
//     present; otherwise the number of content chunks (streamed) or the
//     words of the text (non-streamed). output_tokens_source in the results
//     says which.
//   - Non-streamed requests: TTFT equals E2E and there is no ITL or TPOT.
//
// # Coordinated omission
//
// Every request has an intended send time: in an open loop the arrival time
// drawn from the load shape, in a closed loop the moment its worker became
// free. The generator records both the latencies from the actual send
// (service time: ttft_seconds, e2e_seconds) and from the intended send
// (response time: ttft_from_intended_seconds, e2e_from_intended_seconds),
// plus the scheduling lag between the two. A request held back by a
// concurrency cap or a slow client is late, and the lateness shows in the
// intended-time figures instead of vanishing. The TTFT SLO and goodput use
// the intended-time TTFT (equal to the actual-send TTFT in a closed loop,
// where there is no client queue).
//
// # Misbehaving servers
//
// Every request has a first-byte, a first-token and a stall timeout
// (Options.TimeoutFirstByte, TimeoutFirstToken, TimeoutStall; see
// guard.go), so a request the server never answers fails ("timeout",
// "stall") instead of holding a worker; every buffer the server fills is
// bounded ("oversized"); requests still running when a bounded run's drain
// period ends are reported as in_flight_at_end and count against
// availability unless SLO.IgnoreInFlightAtEnd; the generator's own
// failures (no descriptors, no local ports) are "client" errors, apart
// from the server's, and make the result suspect.
package load
