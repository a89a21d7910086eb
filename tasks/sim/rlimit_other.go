//go:build !unix

package sim

// OpenFilesLimit is unknown here.
func OpenFilesLimit() (uint64, bool) { return 0, false }
