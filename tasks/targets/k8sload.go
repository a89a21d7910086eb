package targets

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/backend"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/engine"
	"github.com/llm-observability-pack/llm-observability-pack/tasks/stack"
)

// K8sLoadFlags are the flags of k8s:load: where and how the generator
// pods run, and the load itself as load:* takes it.
type K8sLoadFlags struct {
	Pods         *int
	Image        *string
	CPU          *string // each pod's CPU request and limit
	Job          *string // the Job's name (default lop-load-TIME)
	ReadyTimeout *time.Duration
	KeepJob      *bool
	Namespace    *string
	Context      *string
	Kubeconfig   *string
	Out          *string // the merged results file
	Load         LoadFlags
}

// K8sLoadArgs is the command line of tasks/k8s/run's load for backend and
// concurrency with the flags given: the coordinator's flags, "--", then
// cmd/loadgen's for the whole load.
func K8sLoadArgs(backendName string, concurrency int, f K8sLoadFlags) ([]string, error) {
	if _, err := backend.Lookup(backendName); err != nil {
		return nil, err
	}
	if f.Load.URL == nil || *f.Load.URL == "" {
		return nil, fmt.Errorf("k8s:load needs -url: the server as the pods reach it, e.g. http://vllm-router.NAMESPACE.svc:8000 (the .env's URLs are this machine's)")
	}
	if f.Image == nil || *f.Image == "" {
		return nil, fmt.Errorf("k8s:load needs -image: the generator image the cluster pulls (mage k8s:image builds %s; push it and pass -image=REGISTRY/loadgen:TAG)", DefaultLoadgenImage)
	}
	out := str(f.Out)
	if out == "" {
		out = filepath.Join("results", fmt.Sprintf("k8s-load-%s-%s.json", backendName, time.Now().Format("20060102-150405")))
	}
	args := []string{"load", "-image=" + *f.Image, "-out=" + out}
	if f.Pods != nil {
		args = append(args, "-pods="+strconv.Itoa(*f.Pods))
	}
	for _, x := range []struct {
		name string
		v    *string
	}{{"cpu", f.CPU}, {"job", f.Job}, {"namespace", f.Namespace}, {"context", f.Context}, {"kubeconfig", f.Kubeconfig}} {
		if x.v != nil {
			args = append(args, "-"+x.name+"="+*x.v)
		}
	}
	if f.ReadyTimeout != nil {
		args = append(args, "-readytimeout="+f.ReadyTimeout.String())
	}
	if f.KeepJob != nil {
		args = append(args, "-keepjob="+strconv.FormatBool(*f.KeepJob))
	}
	load, err := f.Load.LoadgenArgs()
	if err != nil {
		return nil, err
	}
	args = append(args, "--", "-backend="+backendName, "-concurrency="+strconv.Itoa(concurrency))
	if f.Load.Duration == nil {
		// As load:*: no -duration is no time limit (cmd/loadgen's own
		// default is 30 s).
		args = append(args, "-duration=0s")
	}
	return append(args, load...), nil
}

// K8sLoad is k8s:load: tasks/k8s/run's load with K8sLoadArgs.
func K8sLoad(ctx context.Context, backendName string, concurrency int, f K8sLoadFlags) error {
	args, err := K8sLoadArgs(backendName, concurrency, f)
	if err != nil {
		return &K8sUsageError{Sub: "load", Err: err}
	}
	return runK8s(ctx, "load", args)
}

// notForPods are load:* flags that name this machine's files or ports: a
// pod has neither (the coordinator writes the one results file).
var notForPods = map[string]string{
	"out":     "", // the coordinator's -out
	"records": "-records writes a file on each pod, which the pods do not keep; run load:* for records",
	"metrics": "", // the pods serve no /metrics of their own (off)
}

// LoadgenArgs is the cmd/loadgen command line of the load flags given
// (each -name=value, one argument: no shell sees it), for the pods of
// k8s:load. The names are load:*'s, which are cmd/loadgen's
// (TestLoadFlagsMatchLoadgen). A flag that cannot travel to a pod is an
// error naming it.
func (f LoadFlags) LoadgenArgs() ([]string, error) {
	var args []string
	v := reflect.ValueOf(f)
	t := v.Type()
	for i := range t.NumField() {
		p := v.Field(i)
		if p.IsNil() {
			continue
		}
		name := strings.ToLower(t.Field(i).Name)
		if why, ok := notForPods[name]; ok {
			if why != "" {
				return nil, fmt.Errorf("k8s:load: %s", why)
			}
			continue
		}
		var val string
		switch x := p.Elem().Interface().(type) {
		case string:
			val = x
		case int:
			val = strconv.Itoa(x)
		case bool:
			val = strconv.FormatBool(x)
		case float64:
			val = strconv.FormatFloat(x, 'g', -1, 64)
		case time.Duration:
			val = x.String()
		default:
			return nil, fmt.Errorf("k8s:load: flag -%s of type %T cannot be passed on", name, x)
		}
		if name == "dataset" && !strings.Contains(val, "://") {
			return nil, fmt.Errorf("k8s:load: -dataset=%s is a file on this machine, which the pods cannot read: give a URL they can reach (https with -checksum=sha256:HEX)", val)
		}
		args = append(args, "-"+name+"="+val)
	}
	return args, nil
}

// K8sImageFlags are the flags of k8s:image.
type K8sImageFlags struct {
	Tag *string
}

// DefaultLoadgenImage is the tag k8s:image builds by default.
const DefaultLoadgenImage = "llm-observability-pack/loadgen:local"

// K8sImage builds the generator's image FROM scratch (the static
// cmd/loadgen and nothing else) through the Docker Engine API, and says how
// to push it for the cluster.
func K8sImage(ctx context.Context, f K8sImageFlags) error {
	tag := str(f.Tag)
	if tag == "" {
		tag = DefaultLoadgenImage
	}
	eng, err := engine.Connect(ctx)
	if err != nil {
		return err
	}
	defer eng.Close()
	if err := stack.LoadgenImage.Build(ctx, eng, ".", tag, os.Stdout); err != nil {
		return err
	}
	fmt.Printf("built %s; push it where the cluster pulls from (docker push %s, or docker tag it first), then: mage k8s:load BACKEND N -image=%s -url=...\n", tag, tag, tag)
	return nil
}
