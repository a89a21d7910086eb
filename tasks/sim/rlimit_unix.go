//go:build unix

package sim

import "syscall"

// OpenFilesLimit is the process's soft RLIMIT_NOFILE (Go raises it to the
// hard limit at start-up, so this is in effect the hard limit).
func OpenFilesLimit() (uint64, bool) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, false
	}
	return uint64(lim.Cur), true
}
