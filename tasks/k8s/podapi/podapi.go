// Package podapi is the Kubernetes API as a pod of the pack sees it: the
// API server named by KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT,
// the pod's service account token and CA, and its namespace, all read
// from the service account's folder. It reads and patches ConfigMaps over
// net/http, which is all a load worker needs (mage k8s:load), so that
// cmd/loadgen links no Kubernetes client library. The token is re-read
// for every request (the kubelet rotates projected tokens) and never
// printed.
package podapi

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// ServiceAccountDir is where Kubernetes mounts a pod's service account;
// $LOP_K8S_SA_DIR overrides it (tests run workers outside a pod).
const ServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// Client talks to the API server for one namespace.
type Client struct {
	base      string // https://host:port
	tokenFile string
	Namespace string
	hc        *http.Client
}

// InCluster builds a Client from the pod's environment.
func InCluster() (*Client, error) {
	host, port := os.Getenv("KUBERNETES_SERVICE_HOST"), os.Getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return nil, errors.New("podapi: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set: this runs in a Kubernetes pod (set them, and LOP_K8S_SA_DIR, to run it elsewhere)")
	}
	dir := os.Getenv("LOP_K8S_SA_DIR")
	if dir == "" {
		dir = ServiceAccountDir
	}
	ca, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("podapi: the service account's CA: %w (is a service account token mounted?)", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("podapi: %s holds no PEM certificate", filepath.Join(dir, "ca.crt"))
	}
	ns, err := os.ReadFile(filepath.Join(dir, "namespace"))
	if err != nil {
		return nil, fmt.Errorf("podapi: the pod's namespace: %w", err)
	}
	c := &Client{
		base:      "https://" + net.JoinHostPort(host, port),
		tokenFile: filepath.Join(dir, "token"),
		Namespace: strings.TrimSpace(string(ns)),
		hc: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
			Proxy:           nil,
		}},
	}
	if _, err := c.token(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Client) token() (string, error) {
	b, err := os.ReadFile(c.tokenFile)
	if err != nil {
		return "", fmt.Errorf("podapi: the service account token: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("podapi: the service account token file %s is empty", c.tokenFile)
	}
	return t, nil
}

// StatusError is an answer of the API server other than success.
type StatusError struct {
	Code    int
	Message string // the Status object's message
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("the API server answered %d: %s", e.Code, e.Message)
}

// IsNotFound reports whether err is a 404 of the API server.
func IsNotFound(err error) bool {
	var se *StatusError
	return errors.As(err, &se) && se.Code == http.StatusNotFound
}

func (c *Client) do(ctx context.Context, method, name, contentType string, body []byte) ([]byte, error) {
	tok, err := c.token()
	if err != nil {
		return nil, err
	}
	u := c.base + "/api/v1/namespaces/" + url.PathEscape(c.Namespace) + "/configmaps/" + url.PathEscape(name)
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("podapi: %s configmap %s/%s: %w", method, c.Namespace, name, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, fmt.Errorf("podapi: %s configmap %s/%s: %w", method, c.Namespace, name, err)
	}
	if resp.StatusCode/100 != 2 {
		var st struct {
			Message string `json:"message"`
		}
		msg := resp.Status
		if json.Unmarshal(b, &st) == nil && st.Message != "" {
			msg = st.Message
		}
		return nil, fmt.Errorf("podapi: %s configmap %s/%s: %w", method, c.Namespace, name, &StatusError{Code: resp.StatusCode, Message: msg})
	}
	return b, nil
}

// ConfigMapData returns the data of ConfigMap name.
func (c *Client) ConfigMapData(ctx context.Context, name string) (map[string]string, error) {
	b, err := c.do(ctx, http.MethodGet, name, "", nil)
	if err != nil {
		return nil, err
	}
	var cm struct {
		Data map[string]string `json:"data"`
	}
	if err := json.Unmarshal(b, &cm); err != nil {
		return nil, fmt.Errorf("podapi: configmap %s/%s: %w", c.Namespace, name, err)
	}
	return cm.Data, nil
}

// PatchConfigMapData sets the keys of data in ConfigMap name (a JSON merge
// patch: other keys stay).
func (c *Client) PatchConfigMapData(ctx context.Context, name string, data map[string]string) error {
	body, err := json.Marshal(map[string]any{"data": data})
	if err != nil {
		return err
	}
	_, err = c.do(ctx, http.MethodPatch, name, "application/merge-patch+json", body)
	return err
}
