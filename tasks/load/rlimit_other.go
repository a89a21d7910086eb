//go:build !unix

package load

func openFileLimit() string { return "unknown" }
