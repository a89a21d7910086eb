package targets

import (
	"strings"
	"testing"
	"time"
)

func TestK8sLoadArgs(t *testing.T) {
	s := func(v string) *string { return &v }
	i := func(v int) *int { return &v }
	d := func(v time.Duration) *time.Duration { return &v }
	f64 := func(v float64) *float64 { return &v }
	b := func(v bool) *bool { return &v }
	args, err := K8sLoadArgs("vllm", 2000, K8sLoadFlags{Pods: i(8), Image: s("reg/loadgen:1"), CPU: s("2"), Namespace: s("bench"),
		ReadyTimeout: d(90 * time.Second), KeepJob: b(true), Out: s("m.json"),
		Load: LoadFlags{URL: s("http://vllm-router.ns.svc:8000"), Duration: d(time.Minute), Rate: f64(250.5), Shape: s("constant"),
			NoStream: b(false), Dataset: s("https://example.org/d.jsonl"), Checksum: s("sha256:ab")}})
	if err != nil {
		t.Fatal(err)
	}
	want := "load -image=reg/loadgen:1 -out=m.json -pods=8 -cpu=2 -namespace=bench -readytimeout=1m30s -keepjob=true -- " +
		"-backend=vllm -concurrency=2000 -duration=1m0s -url=http://vllm-router.ns.svc:8000 -rate=250.5 -shape=constant " +
		"-dataset=https://example.org/d.jsonl -checksum=sha256:ab -nostream=false"
	if got := strings.Join(args, " "); got != want {
		t.Fatalf("args\n got %s\nwant %s", got, want)
	}
	// No -duration is no time limit, as load:* (cmd/loadgen's own default is 30 s).
	args, err = K8sLoadArgs("sim", 4, K8sLoadFlags{Image: s("x"), Load: LoadFlags{URL: s("http://x"), Requests: i(40)}})
	if err != nil || !strings.HasSuffix(strings.Join(args, " "), "-- -backend=sim -concurrency=4 -duration=0s -requests=40 -url=http://x") {
		t.Fatalf("%q %v", args, err)
	}
	for _, c := range []struct {
		f    K8sLoadFlags
		want string
	}{
		{K8sLoadFlags{Image: s("x")}, "k8s:load needs -url"},
		{K8sLoadFlags{Load: LoadFlags{URL: s("http://x")}}, "k8s:load needs -image"},
		{K8sLoadFlags{Image: s("x"), Load: LoadFlags{URL: s("http://x"), Dataset: s("data/p.jsonl")}}, "-dataset=data/p.jsonl is a file on this machine"},
		{K8sLoadFlags{Image: s("x"), Load: LoadFlags{URL: s("http://x"), Records: s("r.jsonl")}}, "-records writes a file on each pod"},
	} {
		if _, err := K8sLoadArgs("sim", 4, c.f); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.f, err, c.want)
		}
	}
	if _, err := K8sLoadArgs("nope", 4, K8sLoadFlags{Image: s("x"), Load: LoadFlags{URL: s("http://x")}}); err == nil {
		t.Error("unknown backend accepted")
	}
}
