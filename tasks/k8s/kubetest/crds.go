package kubetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
)

// decodeOne decodes the one object of a YAML file (a leading "---" is
// allowed).
func decodeOne(path string, b []byte) (*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(b), 64*1024)
	for {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("kubetest: %s holds no object", path)
			}
			return nil, fmt.Errorf("kubetest: %s: %w", path, err)
		}
		if len(m) > 0 {
			return &unstructured.Unstructured{Object: m}, nil
		}
	}
}

// InstallCRDs creates the monitoring.coreos.com CRDs named (plural names,
// files in crdDir) and waits until each is Established and its resource is
// served by discovery. A CRD that exists already is left as it is.
func InstallCRDs(ctx context.Context, cfg *rest.Config, crdDir string, names ...string) error {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return err
	}
	var crds []*unstructured.Unstructured
	for _, n := range names {
		crd, err := ReadCRD(crdDir, n)
		if err != nil {
			return err
		}
		crds = append(crds, crd)
	}
	for _, crd := range crds {
		if _, err := dyn.Resource(CRDResource).Create(ctx, crd, metav1.CreateOptions{FieldManager: "kubetest"}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("kubetest: create CRD %s: %w", crd.GetName(), err)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for _, crd := range crds {
		if err := waitEstablished(ctx, dyn, dc, crd); err != nil {
			return err
		}
	}
	return nil
}

func waitEstablished(ctx context.Context, dyn dynamic.Interface, dc discovery.DiscoveryInterface, crd *unstructured.Unstructured) error {
	group, _, _ := unstructured.NestedString(crd.Object, "spec", "group")
	plural, _, _ := unstructured.NestedString(crd.Object, "spec", "names", "plural")
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	var served []string
	for _, v := range versions {
		if vm, ok := v.(map[string]any); ok {
			if s, _ := vm["served"].(bool); s {
				name, _ := vm["name"].(string)
				served = append(served, name)
			}
		}
	}
	var last string
	for {
		ok, why := established(ctx, dyn, crd.GetName())
		if ok {
			for _, v := range served {
				if !inDiscovery(dc, group+"/"+v, plural) {
					ok = false
					why = fmt.Sprintf("%s/%s %s not in discovery yet", group, v, plural)
				}
			}
			if ok {
				return nil
			}
		}
		last = why
		select {
		case <-ctx.Done():
			return fmt.Errorf("kubetest: CRD %s not ready: %s", crd.GetName(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func established(ctx context.Context, dyn dynamic.Interface, name string) (bool, string) {
	got, err := dyn.Resource(CRDResource).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return false, err.Error()
	}
	conds, _, _ := unstructured.NestedSlice(got.Object, "status", "conditions")
	for _, c := range conds {
		cm, _ := c.(map[string]any)
		if cm["type"] == "Established" {
			if cm["status"] == "True" {
				return true, ""
			}
			return false, fmt.Sprintf("Established=%v: %v", cm["status"], cm["message"])
		}
	}
	return false, "no Established condition yet"
}

func inDiscovery(dc discovery.DiscoveryInterface, groupVersion, plural string) bool {
	rl, err := dc.ServerResourcesForGroupVersion(groupVersion)
	if err != nil {
		return false
	}
	for _, r := range rl.APIResources {
		if r.Name == plural {
			return true
		}
	}
	return false
}
