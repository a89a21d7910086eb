package fakes

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
)

// EngineState is what the fake Docker Engine API reports: the containers of
// one compose project.
type EngineState struct {
	Project    string          `json:"project"`
	Containers []FakeContainer `json:"containers"`
	// Info is returned verbatim by GET /info.
	Info map[string]any `json:"info,omitempty"`
}

// FakeContainer is one container of the fake engine.
type FakeContainer struct {
	Service  string `json:"service"`
	State    string `json:"state"`  // running, exited, ...
	Health   string `json:"health"` // "", starting, healthy, unhealthy
	Exit     int    `json:"exit"`
	Logs     string `json:"logs"`
	HealthLo string `json:"health_log"`
}

var versionPrefix = regexp.MustCompile(`^/v[0-9.]+`)

// StartEngine serves a fake Docker Engine API from the JSON state file at
// path, re-read on every request, and returns its URL (tcp://host:port).
func StartEngine(path string) (url string, closeFn func(), err error) {
	read := func() (*EngineState, error) {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		var s EngineState
		if err := json.Unmarshal(data, &s); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		return &s, nil
	}
	if _, err := read(); err != nil {
		return "", nil, err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.41")
		p := versionPrefix.ReplaceAllString(r.URL.Path, "")
		st, err := read()
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		find := func(id string) *FakeContainer {
			for i := range st.Containers {
				if st.Containers[i].Service == id || "id-"+st.Containers[i].Service == id {
					return &st.Containers[i]
				}
			}
			return nil
		}
		switch {
		case p == "/_ping":
			w.Write([]byte("OK"))
		case p == "/info":
			json.NewEncoder(w).Encode(st.Info)
		case p == "/containers/json":
			var list []map[string]any
			for _, c := range st.Containers {
				list = append(list, map[string]any{
					"Id": "id-" + c.Service, "Names": []string{"/" + st.Project + "-" + c.Service + "-1"},
					"Image": "fake/" + c.Service, "State": c.State,
					"Labels": map[string]string{"com.docker.compose.project": st.Project, "com.docker.compose.service": c.Service},
				})
			}
			json.NewEncoder(w).Encode(list)
		case strings.HasPrefix(p, "/containers/") && strings.HasSuffix(p, "/json"):
			c := find(strings.TrimSuffix(strings.TrimPrefix(p, "/containers/"), "/json"))
			if c == nil {
				http.Error(w, `{"message":"No such container"}`, 404)
				return
			}
			state := map[string]any{"Status": c.State, "Running": c.State == "running", "ExitCode": c.Exit}
			if c.Health != "" {
				h := map[string]any{"Status": c.Health}
				if c.HealthLo != "" {
					h["Log"] = []map[string]any{{"ExitCode": 1, "Output": c.HealthLo}}
				}
				state["Health"] = h
			}
			json.NewEncoder(w).Encode(map[string]any{"Id": "id-" + c.Service, "Name": "/" + c.Service, "State": state})
		case strings.HasPrefix(p, "/containers/") && strings.HasSuffix(p, "/logs"):
			c := find(strings.TrimSuffix(strings.TrimPrefix(p, "/containers/"), "/logs"))
			if c == nil {
				http.Error(w, `{"message":"No such container"}`, 404)
				return
			}
			w.Header().Set("Content-Type", "application/vnd.docker.multiplexed-stream")
			frame := make([]byte, 8)
			frame[0] = 2 // stderr
			binary.BigEndian.PutUint32(frame[4:], uint32(len(c.Logs)))
			w.Write(append(frame, c.Logs...))
		default:
			http.Error(w, `{"message":"fake engine: not implemented: `+p+`"}`, 404)
		}
	})
	srv := httptest.NewServer(h)
	return "tcp://" + strings.TrimPrefix(srv.URL, "http://"), srv.Close, nil
}
