// Package fakes holds stand-ins for external programs and services that
// testscript scripts use to check exact command lines and failures a real
// engine cannot produce.
package fakes

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Environment of the fake docker and docker-compose commands.
const (
	// FakeDockerLog turns fake mode on: each call appends its argv as one
	// line to this file. Without it the fakes run the real program.
	FakeDockerLog = "FAKE_DOCKER_LOG"
	// FakeDockerNoCompose makes `docker compose` unknown, as where only
	// docker-compose is installed.
	FakeDockerNoCompose = "FAKE_DOCKER_NO_COMPOSE"
	// FakeDockerFail makes every call whose argv contains this word fail
	// with exit code 1 and a message on stderr.
	FakeDockerFail = "FAKE_DOCKER_FAIL"
)

// Docker is the fake `docker` command.
func Docker() int { return fake("docker") }

// DockerCompose is the fake `docker-compose` command.
func DockerCompose() int { return fake("docker-compose") }

func fake(name string) int {
	logPath := os.Getenv(FakeDockerLog)
	if logPath == "" {
		return passThrough(name)
	}
	args := os.Args[1:]
	f, err := os.OpenFile(logPath, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake", name+":", err)
		return 99
	}
	fmt.Fprintln(f, name+" "+strings.Join(args, " "))
	f.Close()
	if name == "docker" && len(args) > 0 && args[0] == "compose" {
		if os.Getenv(FakeDockerNoCompose) != "" {
			fmt.Fprintln(os.Stderr, "docker: 'compose' is not a docker command.")
			return 1
		}
		if len(args) > 1 && args[1] == "version" {
			fmt.Println("Docker Compose version v2.40.3")
			return 0
		}
	}
	if name == "docker-compose" && len(args) > 0 && args[0] == "version" {
		fmt.Println("docker-compose version 1.29.2, build unknown")
		return 0
	}
	if w := os.Getenv(FakeDockerFail); w != "" {
		for _, a := range args {
			if a == w {
				fmt.Fprintf(os.Stderr, "Error response from daemon: fake failure of %q\n", w)
				return 1
			}
		}
	}
	return 0
}

// passThrough runs the real program of that name: the first one on PATH
// that is not this fake.
func passThrough(name string) int {
	self, _ := os.Executable()
	selfDir := filepath.Dir(self)
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if dir == selfDir || dir == "" {
			continue
		}
		p := filepath.Join(dir, name)
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			err := syscall.Exec(p, append([]string{p}, os.Args[1:]...), os.Environ())
			fmt.Fprintln(os.Stderr, "exec", p+":", err)
			return 127
		}
	}
	fmt.Fprintf(os.Stderr, "%s: command not found\n", name)
	return 127
}

// ExitCode parses an exit code from the environment, with a default.
func ExitCode(key string, def int) int {
	if v := os.Getenv(key); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	return def
}
