// Command imagebin is the whole userland of the test images the real-engine
// scripts build FROM scratch (no registry, no busybox). Built static
// (CGO_ENABLED=0) and copied into an image under the names below, it acts by
// the name it is invoked under (argv[0]), or by its first argument when
// invoked as imagebin:
//
//	wget [-q] [-O FILE] [-T SECONDS] URL
//	    GET URL, write the body to FILE (default: the URL's last element;
//	    "-" is stdout); exit 1 on an error or a status other than 2xx. The
//	    health checks of deploy/compose.yaml call `wget -q -O /dev/null URL`
//	    as the real Prometheus and Grafana images' busybox wget answers it.
//	serve ADDR DIR [IGNORED...]
//	    a static file server of DIR on ADDR, logging each request: the
//	    stand-in for Grafana (DIR/api/health on :3000) and for Prometheus
//	    (DIR/-/ready and DIR/api/v1/targets on :9090). Arguments after DIR
//	    (the command compose gives the image, e.g. Prometheus's flags) are
//	    ignored.
//	sim [ARGS]
//	    a broken simulator, by IMAGEBIN_SIM in the environment:
//	    exit3: prints log lines as a server failing on start, exits 3;
//	    never-ready: prints a start line and runs until stopped, and
//	    `sim -healthcheck=URL` prints "not ready: model still loading"
//	    and exits 1.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args, os.Getenv, os.Stdout, os.Stderr))
}

// run dispatches on the base name of args[0], or on args[1] when invoked
// as imagebin.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	name := filepath.Base(args[0])
	args = args[1:]
	if name == "imagebin" {
		if len(args) == 0 {
			fmt.Fprintln(stderr, "usage: imagebin wget|serve|sim ARGS...")
			return 2
		}
		name, args = args[0], args[1:]
	}
	switch name {
	case "wget":
		return wget(ctx, args, stdout, stderr)
	case "serve":
		return serve(ctx, args, stdout, stderr)
	case "sim":
		return sim(ctx, args, getenv("IMAGEBIN_SIM"), stdout, stderr)
	}
	fmt.Fprintf(stderr, "imagebin: unknown command %q (wget, serve, sim)\n", name)
	return 2
}

func wget(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("wget", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quiet := fs.Bool("q", false, "quiet")
	out := fs.String("O", "", "output file (- for stdout)")
	timeout := fs.Int("T", 10, "timeout in seconds")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: wget [-q] [-O FILE] [-T SECONDS] URL")
		return 2
	}
	url := fs.Arg(0)
	if !strings.Contains(url, "://") {
		url = "http://" + url
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(*timeout)*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		fmt.Fprintf(stderr, "wget: %v\n", err)
		return 1
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "wget: %v\n", err)
		return 1
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		fmt.Fprintf(stderr, "wget: server returned error: %s %s\n", resp.Proto, resp.Status)
		return 1
	}
	var w io.Writer
	switch *out {
	case "-":
		w = stdout
	case "/dev/null":
		w = io.Discard
	default:
		file := *out
		if file == "" {
			file = path.Base(req.URL.Path)
			if file == "/" || file == "." {
				file = "index.html"
			}
		}
		f, err := os.Create(file)
		if err != nil {
			fmt.Fprintf(stderr, "wget: %v\n", err)
			return 1
		}
		defer f.Close()
		w = f
	}
	if !*quiet {
		fmt.Fprintf(stderr, "Connecting to %s\n", req.URL.Host)
	}
	if _, err := io.Copy(w, resp.Body); err != nil {
		fmt.Fprintf(stderr, "wget: %v\n", err)
		return 1
	}
	return 0
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) < 2 {
		fmt.Fprintln(stderr, "usage: serve ADDR DIR [IGNORED...]")
		return 2
	}
	l, err := net.Listen("tcp", args[0])
	if err != nil {
		fmt.Fprintf(stderr, "serve: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "serving %s on %s\n", args[1], l.Addr())
	files := http.FileServer(http.Dir(args[1]))
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(stdout, "%s %s\n", r.Method, r.URL.Path)
			files.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 5 * time.Second,
	}
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(stderr, "serve: %v\n", err)
		return 1
	}
	return 0
}

func sim(ctx context.Context, args []string, mode string, stdout, stderr io.Writer) int {
	for _, a := range args {
		if strings.HasPrefix(a, "-healthcheck") || strings.HasPrefix(a, "--healthcheck") {
			fmt.Fprintln(stdout, "not ready: model still loading")
			return 1
		}
	}
	switch mode {
	case "exit3":
		fmt.Fprintln(stdout, "loading model qwen")
		fmt.Fprintln(stderr, "RuntimeError: CUDA error: no kernel image is available for execution on the device")
		return 3
	case "never-ready":
		fmt.Fprintln(stdout, "simulator starting; it never becomes ready")
		<-ctx.Done()
		return 0
	}
	fmt.Fprintf(stderr, "sim: IMAGEBIN_SIM=%q: want exit3 or never-ready\n", mode)
	return 2
}
