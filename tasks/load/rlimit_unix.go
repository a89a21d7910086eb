//go:build unix

package load

import (
	"strconv"
	"syscall"
)

// openFileLimit is the soft RLIMIT_NOFILE, for the message of an EMFILE error.
func openFileLimit() string {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return "unknown"
	}
	return strconv.FormatUint(uint64(l.Cur), 10)
}
