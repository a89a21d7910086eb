package sim

import (
	"math"
	"net/http"
)

// hang implements -hang-rate: evenly spaced generation requests (for 0.04
// the 25th, 50th, ...) are accepted, their body read, and never answered:
// no status line, no headers, until the client goes away or the server
// stops. It reports whether this request was one of them (the handler
// then returns without writing).
func (s *Server) hang(hr *http.Request) bool {
	rate := s.cfg.HangRate
	if rate <= 0 {
		return false
	}
	n := float64(s.hangSeq.Add(1))
	if math.Floor(n*rate) == math.Floor((n-1)*rate) {
		return false
	}
	<-hr.Context().Done()
	return true
}
