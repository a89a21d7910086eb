package gpu

import (
	"bytes"
	"encoding/csv"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func seedFiles(f *testing.F, pattern string) {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", pattern))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed files %s: %v", pattern, err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// formatCSV writes gpus the way nvidia-smi --format=csv does (with a header
// and units), quoting values that need it.
func formatCSV(gpus []GPU) []byte {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write([]string{"index", "name", "uuid", "compute_cap", "driver_version", "memory.total [MiB]",
		"memory.used [MiB]", "utilization.gpu [%]", "pci.bus_id", "mig.mode.current"})
	num := func(n int, unit string) string {
		if n < 0 {
			return "[N/A]"
		}
		return strconv.Itoa(n) + " " + unit
	}
	str := func(s string) string {
		if s == "" {
			return "[N/A]"
		}
		return s
	}
	for _, g := range gpus {
		mig := "Disabled"
		if g.MIG {
			mig = "Enabled"
		}
		_ = w.Write([]string{strconv.Itoa(g.Index), g.Name, str(g.UUID), str(g.ComputeCap), str(g.Driver),
			num(g.MemoryTotalMiB, "MiB"), num(g.MemoryUsedMiB, "MiB"), num(g.UtilizationPct, "%"), str(g.PCIBusID), mig})
	}
	w.Flush()
	return b.Bytes()
}

func FuzzParseQueryCSV(f *testing.F) {
	seedFiles(f, "*/query-*.txt")
	f.Add([]byte("index, name, memory.total [MiB]\r\n0, \"A, B\", 12 MiB\r\n"))
	f.Add([]byte("index, name, utilization.gpu [%]\n0, X, [N/A]\n1, Y, 5 %\n"))
	f.Add([]byte("0, A, 7.5, 535.104.05, 8192\n1, B, 8.0, 535.104.05, 40960\n"))
	f.Add([]byte("\x00garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		gpus, err := ParseQueryCSV(data)
		if err != nil {
			if gpus != nil {
				t.Fatalf("error %v with GPUs %+v", err, gpus)
			}
			return
		}
		seen := map[int]bool{}
		for _, g := range gpus {
			if g.Index < 0 || seen[g.Index] || g.Name == "" || notAvailable(g.Name) {
				t.Fatalf("bad GPU %+v", g)
			}
			seen[g.Index] = true
			if g.MemoryTotalMiB < -1 || g.MemoryUsedMiB < -1 || g.UtilizationPct < -1 {
				t.Fatalf("negative number %+v", g)
			}
			if g.ComputeCap != "" {
				if _, _, err := ParseComputeCap(g.ComputeCap); err != nil {
					t.Fatalf("accepted compute cap %q", g.ComputeCap)
				}
			}
		}
		// What was parsed survives being written back as nvidia-smi CSV.
		again, err := ParseQueryCSV(formatCSV(gpus))
		if err != nil {
			t.Fatalf("re-parse: %v\n%s", err, formatCSV(gpus))
		}
		if len(gpus) == 0 && len(again) == 0 {
			return
		}
		if !reflect.DeepEqual(gpus, again) {
			t.Fatalf("round trip:\n%+v\n%+v", gpus, again)
		}
	})
}

func FuzzParseSMIHeader(f *testing.F) {
	seedFiles(f, "*/nvidia-smi.txt")
	f.Add([]byte("Driver Version: 1 CUDA Version: N/A"))
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := ParseSMIHeader(data)
		if err != nil {
			return
		}
		if h.Driver == "" || !bytes.Contains(data, []byte(h.Driver)) {
			t.Fatalf("driver %q not from input", h.Driver)
		}
		if h.CUDA != "" && !strings.Contains(h.CUDA, ".") {
			t.Fatalf("CUDA %q", h.CUDA)
		}
	})
}

func FuzzParseVersion(f *testing.F) {
	seedFiles(f, "*/version.txt")
	f.Add([]byte("DRIVER version : 1.2\nCUDA Version : x"))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := ParseVersion(data)
		if err != nil {
			return
		}
		for _, s := range []string{v.SMI, v.NVML, v.Driver, v.CUDA} {
			if s != "" && !versionLike(s) {
				t.Fatalf("accepted %q", s)
			}
		}
	})
}

func FuzzParseQueryXML(f *testing.F) {
	seedFiles(f, "h200/nvidia-smi-q.xml")
	f.Add([]byte("<nvidia_smi_log><cuda_version>N/A</cuda_version><gpu id='x'><product_name>A</product_name></gpu></nvidia_smi_log>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		gpus, err := ParseQueryXML(data)
		if err != nil {
			return
		}
		for i, g := range gpus {
			if g.Index != i || g.Name == "" || g.MemoryTotalMiB < -1 || g.MemoryUsedMiB < -1 {
				t.Fatalf("bad GPU %+v", g)
			}
			if notAvailable(g.Brand) && g.Brand != "" || g.Brand != strings.TrimSpace(g.Brand) {
				t.Fatalf("brand %q", g.Brand)
			}
			_ = g.Class() // must not panic
		}
	})
}

func FuzzClassify(f *testing.F) {
	for _, s := range []string{"NVIDIA H200", "Tesla T4", "NVIDIA GeForce RTX 4090", "NVIDIA RTX A6000", "-", " ", "NVIDIA "} {
		f.Add(s, "NVIDIA")
	}
	f.Fuzz(func(t *testing.T, name, brand string) {
		c := Classify(name, brand)
		switch c {
		case ClassUnknown, ClassDataCenter, ClassConsumer, ClassWorkstation:
		default:
			t.Fatalf("Classify(%q, %q) = %q", name, brand, c)
		}
		// Spacing does not matter.
		if d := Classify(" "+strings.ReplaceAll(name, " ", "  ")+"\t", " "+brand+" "); d != c {
			t.Fatalf("Classify(%q, %q) = %q, but %q with other spacing", name, brand, c, d)
		}
	})
}

func FuzzParseDriverVersion(f *testing.F) {
	for _, s := range []string{"580.159.04", "590.44.01", "580", "1.2.3.4", "-1", "+5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseDriverVersion(s)
		if err != nil {
			return
		}
		if v[0] <= 0 || v[1] < 0 || v[2] < 0 || v.Compare(v) != 0 {
			t.Fatalf("ParseDriverVersion(%q) = %v", s, v)
		}
		if m, err := DriverMajor(s); err != nil || m != v[0] {
			t.Fatalf("DriverMajor(%q) = %d, %v; ParseDriverVersion %v", s, m, err, v)
		}
	})
}
