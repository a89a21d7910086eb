// Package gpu reads the GPUs of this host from nvidia-smi: its CSV query
// output (--query-gpu=... --format=csv), the table header of plain
// `nvidia-smi`, `nvidia-smi --version` and `nvidia-smi -q -x`.
//
// The parsers take the raw bytes of a capture, so they are tested on real
// captures (testdata/h200) and never need a GPU; Query runs the program.
package gpu

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// GPU is one device as nvidia-smi reports it. Numbers nvidia-smi reports as
// "[N/A]" (or "[Not Supported]", ...) are -1; strings it reports so are "".
type GPU struct {
	Index          int    `json:"index"`
	Name           string `json:"name"`
	UUID           string `json:"uuid,omitempty"`
	ComputeCap     string `json:"compute_cap,omitempty"` // "9.0"; "" when unknown (driver < 510 has no compute_cap field)
	MemoryTotalMiB int    `json:"memory_total_mib"`      // -1 when unknown
	MemoryUsedMiB  int    `json:"memory_used_mib"`       // -1 when unknown
	UtilizationPct int    `json:"utilization_pct"`       // -1 when unknown (always under MIG)
	PCIBusID       string `json:"pci_bus_id,omitempty"`
	Driver         string `json:"driver,omitempty"` // "580.159.04"
	CUDA           string `json:"cuda,omitempty"`   // highest CUDA version the driver supports, "13.0"; "" when unknown
	MIG            bool   `json:"mig"`              // MIG mode currently enabled
	// Brand and Architecture are product_brand ("NVIDIA", "GeForce",
	// "Tesla", ...) and product_architecture ("Hopper") of `nvidia-smi -q
	// -x`; --query-gpu has no such fields, so Query asks -q -x only when the
	// name does not tell the GPU's Class. "" when not asked or unknown.
	Brand        string `json:"brand,omitempty"`
	Architecture string `json:"architecture,omitempty"`
}

// QueryFields is the --query-gpu list Query asks for. Its first nine fields
// are the ones of the real H200 capture (testdata/h200/query-csv.txt, taken
// with --format=csv); mig.mode.current is appended. Parsing goes by the
// header, so output without some of these columns still parses.
var QueryFields = []string{
	"index", "name", "uuid", "compute_cap", "driver_version",
	"memory.total", "memory.used", "utilization.gpu", "pci.bus_id",
	"mig.mode.current",
}

// Column layouts that output without a header (--format=csv,noheader) is
// assumed to have, chosen by the number of columns.
var noHeaderLayouts = [][]string{
	// the H200 capture query-noheader.txt:
	// --query-gpu=index,name,compute_cap,driver_version,memory.total --format=csv,noheader,nounits
	{"index", "name", "compute_cap", "driver_version", "memory.total"},
	QueryFields[:9], // the H200 capture query-csv.txt without its header
	QueryFields,
}

// canonical maps header names (and their --query-gpu aliases) to the
// field names this package knows.
var canonical = map[string]string{
	"index":                   "index",
	"name":                    "name",
	"gpu_name":                "name",
	"uuid":                    "uuid",
	"gpu_uuid":                "uuid",
	"compute_cap":             "compute_cap",
	"driver_version":          "driver_version",
	"memory.total":            "memory.total",
	"memory.used":             "memory.used",
	"utilization.gpu":         "utilization.gpu",
	"pci.bus_id":              "pci.bus_id",
	"gpu_bus_id":              "pci.bus_id",
	"mig.mode.current":        "mig.mode.current",
	"memory.free":             "memory.free",
	"pci.device_id":           "pci.device_id",
	"persistence_mode":        "persistence_mode",
	"temperature.gpu":         "temperature.gpu",
	"power.draw":              "power.draw",
	"power.limit":             "power.limit",
	"clocks.current.sm":       "clocks.current.sm",
	"vbios_version":           "vbios_version",
	"count":                   "count",
	"serial":                  "serial",
	"display_mode":            "display_mode",
	"compute_mode":            "compute_mode",
	"mig.mode.pending":        "mig.mode.pending",
	"ecc.mode.current":        "ecc.mode.current",
	"utilization.memory":      "utilization.memory",
	"memory.reserved":         "memory.reserved",
	"gpu_serial":              "serial",
	"driver_model.current":    "driver_model.current",
	"pstate":                  "pstate",
	"fan.speed":               "fan.speed",
	"power.draw.instant":      "power.draw.instant",
	"enforced.power.limit":    "enforced.power.limit",
	"clocks.max.sm":           "clocks.max.sm",
	"temperature.memory":      "temperature.memory",
	"pcie.link.gen.current":   "pcie.link.gen.current",
	"pcie.link.width.current": "pcie.link.width.current",
}

// ParseError is a problem in nvidia-smi output, located by line and field.
type ParseError struct {
	Line  int    // 1-based line of the output; 0 when not about one line
	Field string // query field, "" when not about one field
	Value string
	Msg   string
}

func (e *ParseError) Error() string {
	var b strings.Builder
	b.WriteString("nvidia-smi output")
	if e.Line > 0 {
		fmt.Fprintf(&b, " line %d", e.Line)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, " field %s=%q", e.Field, e.Value)
	}
	b.WriteString(": ")
	b.WriteString(e.Msg)
	return b.String()
}

// ParseQueryCSV parses `nvidia-smi --query-gpu=... --format=csv[,noheader][,nounits]`.
// With a header, columns are mapped by name (units such as "[MiB]" are
// stripped, unknown columns are ignored). Without a header the column count
// must match one of the known layouts: the 5 columns of the H200 capture
// query-noheader.txt (index,name,compute_cap,driver_version,memory.total),
// the 9 of its query-csv.txt, or QueryFields; use ParseQueryCSVFields for
// any other field list.
func ParseQueryCSV(data []byte) ([]GPU, error) {
	recs, err := readCSV(data)
	if err != nil {
		return nil, err
	}
	if len(recs) == 0 {
		return nil, &ParseError{Msg: "empty output; expected a CSV header line such as \"index, name, ...\" from --format=csv"}
	}
	if isHeader(recs[0].fields) {
		fields := make([]string, len(recs[0].fields))
		for i, h := range recs[0].fields {
			fields[i] = headerName(h)
		}
		if err := checkColumns(fields); err != nil {
			return nil, err
		}
		return parseRecords(recs[1:], fields)
	}
	n := len(recs[0].fields)
	for _, layout := range noHeaderLayouts {
		if len(layout) == n {
			return parseRecords(recs, layout)
		}
	}
	return nil, &ParseError{Line: recs[0].line, Msg: fmt.Sprintf(
		"%d columns and no header: cannot tell which field is which; run with --format=csv (with header) or parse with ParseQueryCSVFields", n)}
}

// ParseQueryCSVFields parses CSV output without a header whose columns are
// the given --query-gpu fields in order. A header line, if present, is
// skipped.
func ParseQueryCSVFields(data []byte, fields []string) ([]GPU, error) {
	canon := make([]string, len(fields))
	for i, f := range fields {
		canon[i] = headerName(f)
	}
	if err := checkColumns(canon); err != nil {
		return nil, err
	}
	recs, err := readCSV(data)
	if err != nil {
		return nil, err
	}
	if len(recs) > 0 && isHeader(recs[0].fields) {
		recs = recs[1:]
	}
	return parseRecords(recs, canon)
}

type record struct {
	line   int
	fields []string
}

func readCSV(data []byte) ([]record, error) {
	if bytes.IndexByte(data, 0) >= 0 {
		return nil, &ParseError{Msg: "binary data (NUL byte); expected CSV text from nvidia-smi --format=csv"}
	}
	r := csv.NewReader(bytes.NewReader(data))
	r.FieldsPerRecord = -1
	r.TrimLeadingSpace = true
	r.LazyQuotes = true
	r.ReuseRecord = false
	var out []record
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			line := 0
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				line = pe.Line
			}
			return nil, &ParseError{Line: line, Msg: "not CSV: " + err.Error()}
		}
		line, _ := r.FieldPos(0)
		for i := range rec {
			rec[i] = strings.TrimSpace(rec[i])
		}
		if len(rec) == 1 && rec[0] == "" {
			continue
		}
		out = append(out, record{line: line, fields: rec})
	}
	return out, nil
}

// headerName turns "memory.total [MiB]" into "memory.total".
func headerName(h string) string {
	h = strings.TrimSpace(h)
	if i := strings.Index(h, " ["); i >= 0 && strings.HasSuffix(h, "]") {
		h = h[:i]
	}
	if c, ok := canonical[strings.ToLower(h)]; ok {
		return c
	}
	return strings.ToLower(h)
}

func isHeader(fields []string) bool {
	if len(fields) == 0 {
		return false
	}
	known := 0
	for _, f := range fields {
		if _, ok := canonical[headerName(f)]; ok {
			known++
		}
	}
	return known > 0 && known*2 >= len(fields)
}

func checkColumns(fields []string) error {
	seen := map[string]bool{}
	for _, f := range fields {
		if seen[f] {
			return &ParseError{Line: 1, Field: f, Msg: "column appears twice in the header"}
		}
		seen[f] = true
	}
	for _, need := range []string{"index", "name"} {
		if !seen[need] {
			return &ParseError{Line: 1, Msg: fmt.Sprintf("no %q column in %v; query at least --query-gpu=index,name", need, fields)}
		}
	}
	return nil
}

func parseRecords(recs []record, fields []string) ([]GPU, error) {
	gpus := make([]GPU, 0, len(recs))
	seen := map[int]bool{}
	for _, rec := range recs {
		if len(rec.fields) != len(fields) {
			return nil, &ParseError{Line: rec.line, Msg: fmt.Sprintf("%d columns, want %d (%s)", len(rec.fields), len(fields), strings.Join(fields, ","))}
		}
		g := GPU{Index: -1, MemoryTotalMiB: -1, MemoryUsedMiB: -1, UtilizationPct: -1}
		for i, f := range fields {
			v := rec.fields[i]
			if err := setField(&g, f, v); err != nil {
				return nil, &ParseError{Line: rec.line, Field: f, Value: v, Msg: err.Error()}
			}
		}
		if seen[g.Index] {
			return nil, &ParseError{Line: rec.line, Field: "index", Value: strconv.Itoa(g.Index), Msg: "GPU index listed twice"}
		}
		seen[g.Index] = true
		gpus = append(gpus, g)
	}
	return gpus, nil
}

// notAvailable reports values nvidia-smi prints for fields it cannot fill.
func notAvailable(v string) bool {
	switch strings.ToLower(strings.Trim(v, "[]")) {
	case "n/a", "not supported", "insufficient permissions", "unknown error", "requested functionality has been deprecated", "":
		return true
	}
	return false
}

func setField(g *GPU, field, v string) error {
	switch field {
	case "index":
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 || n > 1<<16 {
			return errors.New("GPU index is not a small non-negative integer")
		}
		g.Index = n
	case "name":
		if notAvailable(v) {
			return errors.New("GPU name missing")
		}
		g.Name = v
	case "uuid":
		if !notAvailable(v) {
			g.UUID = v
		}
	case "compute_cap":
		if notAvailable(v) {
			return nil
		}
		if _, _, err := ParseComputeCap(v); err != nil {
			return err
		}
		g.ComputeCap = v
	case "driver_version":
		if !notAvailable(v) {
			g.Driver = v
		}
	case "memory.total", "memory.used":
		n, err := parseUnit(v, "MiB")
		if err != nil {
			return err
		}
		if field == "memory.total" {
			g.MemoryTotalMiB = n
		} else {
			g.MemoryUsedMiB = n
		}
	case "utilization.gpu":
		n, err := parseUnit(v, "%")
		if err != nil {
			return err
		}
		g.UtilizationPct = n
	case "pci.bus_id":
		if !notAvailable(v) {
			g.PCIBusID = v
		}
	case "mig.mode.current":
		switch strings.ToLower(v) {
		case "enabled":
			g.MIG = true
		case "disabled":
			g.MIG = false
		default:
			if !notAvailable(v) {
				return errors.New(`expected "Enabled", "Disabled" or "[N/A]"`)
			}
		}
	}
	return nil
}

// parseUnit parses "143771 MiB", "143771" (nounits) or "[N/A]" (-1).
func parseUnit(v, unit string) (int, error) {
	if notAvailable(v) {
		return -1, nil
	}
	s := strings.TrimSpace(strings.TrimSuffix(v, unit))
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("expected a non-negative integer with optional unit %q, or [N/A]", unit)
	}
	return n, nil
}

// ParseComputeCap splits "8.6" into 8 and 6.
func ParseComputeCap(s string) (major, minor int, err error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), ".")
	if ok {
		major, err = strconv.Atoi(a)
		if err == nil {
			minor, err = strconv.Atoi(b)
		}
	}
	if !ok || err != nil || major < 0 || minor < 0 || major > 99 || minor > 99 || len(a) > 2 || len(b) > 2 {
		return 0, 0, fmt.Errorf("compute capability %q: expected MAJOR.MINOR such as 9.0", s)
	}
	return major, minor, nil
}

// DriverMajor returns 580 for "580.159.04".
func DriverMajor(driver string) (int, error) {
	a, _, _ := strings.Cut(strings.TrimSpace(driver), ".")
	n, err := strconv.Atoi(a)
	if err != nil || n <= 0 || len(a) > 4 {
		return 0, fmt.Errorf("driver version %q: expected MAJOR.MINOR[.PATCH] such as 580.159.04", driver)
	}
	return n, nil
}

// DriverVersion is a driver version as numbers: 580.159.04 is {580, 159, 4};
// missing parts are 0.
type DriverVersion [3]int

// ParseDriverVersion reads "580", "580.65" or "580.159.04".
func ParseDriverVersion(s string) (DriverVersion, error) {
	var v DriverVersion
	parts := strings.Split(strings.TrimSpace(s), ".")
	bad := len(parts) > 3
	for i, p := range parts {
		if bad {
			break
		}
		n, err := strconv.Atoi(p)
		switch {
		case err != nil || p == "" || p[0] == '+' || p[0] == '-' || len(p) > 4:
			bad = true
		case i == 0 && n <= 0:
			bad = true
		default:
			v[i] = n
		}
	}
	if bad {
		return DriverVersion{}, fmt.Errorf("driver version %q: expected MAJOR.MINOR[.PATCH] such as 580.159.04", s)
	}
	return v, nil
}

// Compare returns -1, 0 or 1 as v is older than, the same as or newer than w.
func (v DriverVersion) Compare(w DriverVersion) int {
	for i := range v {
		switch {
		case v[i] < w[i]:
			return -1
		case v[i] > w[i]:
			return 1
		}
	}
	return 0
}
