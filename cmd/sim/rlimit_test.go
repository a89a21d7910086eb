//go:build unix

package main

import (
	"syscall"
	"testing"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/sim"
)

func TestOpenFilesLimitRaised(t *testing.T) {
	// The README says the soft limit needs no raising: Go does it at start-up.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Skipf("no open-files limit here: %v", err)
	}
	if lim.Cur+1 < lim.Max {
		t.Errorf("soft open-files limit %d, hard %d: Go should have raised the soft one to (just under) the hard one", lim.Cur, lim.Max)
	}
	if got, ok := sim.OpenFilesLimit(); !ok || got != uint64(lim.Cur) {
		t.Errorf("sim.OpenFilesLimit() = %d, %v; want %d", got, ok, lim.Cur)
	}
}
