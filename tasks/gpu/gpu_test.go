package gpu

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/llm-observability-pack/llm-observability-pack/tasks/gpu/gpufake"
	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain puts the fake nvidia-smi first on PATH for Query tests.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"nvidia-smi": func() { os.Exit(gpufake.FakeNvidiaSmi()) },
	})
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var h200 = GPU{
	Index: 0, Name: "NVIDIA H200", UUID: "GPU-39e58add-dd91-9448-559a-864cc96a02cc",
	ComputeCap: "9.0", MemoryTotalMiB: 143771, MemoryUsedMiB: 0, UtilizationPct: 0,
	PCIBusID: "00000000:00:06.0", Driver: "580.159.04",
}

func TestParseQueryCSVCaptures(t *testing.T) {
	h100 := func(i int, uuid, bus string, used, util int) GPU {
		return GPU{Index: i, Name: "NVIDIA H100 80GB HBM3", UUID: uuid, ComputeCap: "9.0",
			MemoryTotalMiB: 81559, MemoryUsedMiB: used, UtilizationPct: util, PCIBusID: bus, Driver: "570.133.20"}
	}
	h100s := []GPU{
		h100(0, "GPU-5c1a3f0e-7d1b-2c44-91a8-0f3e6b2d9a11", "00000000:18:00.0", 1, 0),
		h100(1, "GPU-a2b94c71-0e5d-8f63-1b7c-44d2e9f01c52", "00000000:2A:00.0", 1, 0),
		h100(2, "GPU-0f7e2d13-9c84-5ab6-e3d1-7a6b5c4d3e21", "00000000:3A:00.0", 72431, 98),
		h100(3, "GPU-e4d3c2b1-a098-7654-3210-fedcba987654", "00000000:5D:00.0", 1, 0),
	}
	tests := []struct {
		file string
		want []GPU
	}{
		{"h200/query-csv.txt", []GPU{h200}},
		// 5 columns, no header, no units: index,name,compute_cap,driver_version,memory.total
		{"h200/query-noheader.txt", []GPU{{Index: 0, Name: "NVIDIA H200", ComputeCap: "9.0", Driver: "580.159.04",
			MemoryTotalMiB: 143771, MemoryUsedMiB: -1, UtilizationPct: -1}}},
		{"h100x4/query-csv.txt", h100s},
		{"h100x4/query-noheader.txt", h100s},
		{"a100-mig/query-csv.txt", []GPU{
			{Index: 0, Name: "NVIDIA A100-SXM4-40GB", UUID: "GPU-7a1f4e2d-3b9c-d815-6e02-c4a9b7f3d051", ComputeCap: "8.0",
				MemoryTotalMiB: 40960, MemoryUsedMiB: 37, UtilizationPct: -1, PCIBusID: "00000000:07:00.0", Driver: "550.90.07", MIG: true},
			{Index: 1, Name: "NVIDIA A100-SXM4-40GB", UUID: "GPU-1d2c3b4a-5e6f-7081-92a3-b4c5d6e7f809", ComputeCap: "8.0",
				MemoryTotalMiB: 40960, MemoryUsedMiB: 4, UtilizationPct: 0, PCIBusID: "00000000:0F:00.0", Driver: "550.90.07"},
		}},
		{"rtx2070-535/query-csv.txt", []GPU{{Index: 0, Name: "NVIDIA GeForce RTX 2070", UUID: "GPU-3e8d6c1a-94f2-b7e0-5d13-a2c6f8e4b097",
			ComputeCap: "7.5", MemoryTotalMiB: 8192, MemoryUsedMiB: 512, UtilizationPct: 3, PCIBusID: "00000000:01:00.0", Driver: "535.104.05"}}},
		{"rtx2070-535/query-noheader.txt", []GPU{{Index: 0, Name: "NVIDIA GeForce RTX 2070", ComputeCap: "7.5", Driver: "535.104.05",
			MemoryTotalMiB: 8192, MemoryUsedMiB: -1, UtilizationPct: -1}}},
		{"gb10-na/query-csv.txt", []GPU{{Index: 0, Name: "NVIDIA GB10", UUID: "GPU-9b1e7c3d-2a4f-58e6-b0c1-d3e2f4a5b6c7",
			ComputeCap: "12.1", MemoryTotalMiB: -1, MemoryUsedMiB: -1, UtilizationPct: 0, PCIBusID: "0000000F:01:00.0", Driver: "580.95.05"}}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := ParseQueryCSV(readTestdata(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseQueryCSVVariations(t *testing.T) {
	tests := []struct {
		name, in string
		want     []GPU
	}{
		{"CRLF and extra spaces, header with nounits", "index, name, memory.total [MiB]\r\n  0 ,  Tesla V100-SXM2-16GB , 16160 \r\n",
			[]GPU{{Index: 0, Name: "Tesla V100-SXM2-16GB", MemoryTotalMiB: 16160, MemoryUsedMiB: -1, UtilizationPct: -1}}},
		{"alias headers and unknown columns ignored", "index, gpu_name, temperature.gpu, gpu_bus_id\n1, NVIDIA L4, 41, 00000000:82:00.0\n",
			[]GPU{{Index: 1, Name: "NVIDIA L4", MemoryTotalMiB: -1, MemoryUsedMiB: -1, UtilizationPct: -1, PCIBusID: "00000000:82:00.0"}}},
		{"Not Supported and Insufficient Permissions", "index, name, memory.used [MiB], utilization.gpu [%], uuid\n0, NVIDIA T4, [Not Supported], [Insufficient Permissions], [N/A]\n",
			[]GPU{{Index: 0, Name: "NVIDIA T4", MemoryTotalMiB: -1, MemoryUsedMiB: -1, UtilizationPct: -1}}},
		{"quoted name", "index, name\n0, \"NVIDIA \"\"quoted\"\", GPU\"\n",
			[]GPU{{Index: 0, Name: `NVIDIA "quoted", GPU`, MemoryTotalMiB: -1, MemoryUsedMiB: -1, UtilizationPct: -1}}},
		{"header only: no GPUs", "index, name, compute_cap\n", []GPU{}},
		{"blank lines skipped", "\nindex, name\n\n0, NVIDIA A10\n\n",
			[]GPU{{Index: 0, Name: "NVIDIA A10", MemoryTotalMiB: -1, MemoryUsedMiB: -1, UtilizationPct: -1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseQueryCSV([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseQueryCSVErrors(t *testing.T) {
	tests := []struct {
		name, in, wantErr string
	}{
		{"empty", "", "empty output"},
		{"driver failure text", string(readTestdata(t, "nodriver/query-csv.txt")), "no header"},
		{"binary", "\x00\x01\x02garbage", "binary data"},
		{"wrong column count", "index, name, memory.total [MiB]\n0, NVIDIA H200\n", "line 2: 2 columns, want 3"},
		{"bad number", "index, name, memory.total [MiB]\n0, NVIDIA H200, lots MiB\n", `line 2 field memory.total="lots MiB"`},
		{"negative memory", "index, name, memory.total [MiB]\n0, NVIDIA H200, -5 MiB\n", "non-negative integer"},
		{"bad index", "index, name\nzero, NVIDIA H200\n", `field index="zero"`},
		{"duplicate index", "index, name\n0, A\n0, B\n", "GPU index listed twice"},
		{"bad compute cap", "index, name, compute_cap\n0, A, nine\n", "expected MAJOR.MINOR"},
		{"bad mig", "index, name, mig.mode.current\n0, A, Maybe\n", `"Enabled", "Disabled"`},
		{"missing name column", "index, uuid\n0, GPU-1\n", `no "name" column`},
		{"duplicate column", "index, name, name\n0, A, B\n", "column appears twice"},
		{"unknown layout without header", "0, A, B, C\n", "4 columns and no header"},
		{"html", "<html><body>502 Bad Gateway</body></html>\n", "no header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseQueryCSV([]byte(tt.in))
			if err == nil {
				t.Fatalf("no error, got %+v", got)
			}
			var pe *ParseError
			if !errors.As(err, &pe) {
				t.Errorf("error %T is not a *ParseError", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q does not contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseQueryCSVFields(t *testing.T) {
	in := "NVIDIA H200, 9.0, 143771, 0\nNVIDIA H200, 9.0, 143771, 1\n"
	if _, err := ParseQueryCSVFields([]byte(in), []string{"name", "compute_cap", "memory.total"}); err == nil {
		t.Fatal("field list without index accepted")
	}
	got, err := ParseQueryCSVFields([]byte(in), []string{"name", "compute_cap", "memory.total", "index"})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[1].Index != 1 || got[1].MemoryTotalMiB != 143771 || got[0].ComputeCap != "9.0" {
		t.Errorf("got %+v", got)
	}
	// A header line is skipped.
	got, err = ParseQueryCSVFields(readTestdata(t, "h200/query-csv.txt"), QueryFields[:9])
	if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], h200) {
		t.Errorf("got %+v, %v", got, err)
	}
}

func TestParseSMIHeader(t *testing.T) {
	tests := []struct {
		file string
		want Header
	}{
		{"h200/nvidia-smi.txt", Header{SMI: "580.159.04", Driver: "580.159.04", CUDA: "13.0"}},
		{"h100x4/nvidia-smi.txt", Header{SMI: "570.133.20", Driver: "570.133.20", CUDA: "12.8"}},
		{"a100-mig/nvidia-smi.txt", Header{SMI: "550.90.07", Driver: "550.90.07", CUDA: "12.4"}},
		{"rtx2070-535/nvidia-smi.txt", Header{SMI: "535.104.05", Driver: "535.104.05", CUDA: "12.2"}},
	}
	for _, tt := range tests {
		got, err := ParseSMIHeader(readTestdata(t, tt.file))
		if err != nil || got != tt.want {
			t.Errorf("%s: got %+v, %v; want %+v", tt.file, got, err, tt.want)
		}
	}
	got, err := ParseSMIHeader([]byte("| NVIDIA-SMI 470.57.02   Driver Version: 470.57.02   CUDA Version: N/A |"))
	if err != nil || got.CUDA != "" || got.Driver != "470.57.02" {
		t.Errorf("CUDA N/A: got %+v, %v", got, err)
	}
	_, err = ParseSMIHeader(readTestdata(t, "nodriver/nvidia-smi.txt"))
	if err == nil || !strings.Contains(err.Error(), "NVIDIA-SMI has failed") {
		t.Errorf("driver failure: error %v should quote the output", err)
	}
}

func TestParseVersion(t *testing.T) {
	got, err := ParseVersion(readTestdata(t, "h200/version.txt"))
	want := Version{SMI: "580.159.04", NVML: "580.159", Driver: "580.159.04", CUDA: "13.0"}
	if err != nil || got != want {
		t.Errorf("h200: got %+v, %v", got, err)
	}
	// A driver that prints no CUDA line.
	got, err = ParseVersion([]byte("NVIDIA-SMI version  : 525.60.13\nNVML version        : 525.60\nDRIVER version      : 525.60.13\n"))
	if err != nil || got.CUDA != "" || got.Driver != "525.60.13" {
		t.Errorf("no CUDA line: got %+v, %v", got, err)
	}
	for _, bad := range []string{"", "garbage\n", string(readTestdata(t, "nodriver/version.txt")), "DRIVER version : ; rm -rf /\n"} {
		if v, err := ParseVersion([]byte(bad)); err == nil {
			t.Errorf("ParseVersion(%q) = %+v, want error", bad, v)
		}
	}
}

func TestParseQueryXML(t *testing.T) {
	got, err := ParseQueryXML(readTestdata(t, "h200/nvidia-smi-q.xml"))
	if err != nil {
		t.Fatal(err)
	}
	want := h200
	want.ComputeCap = "" // not in the XML
	want.CUDA = "13.0"
	want.Brand, want.Architecture = "NVIDIA", "Hopper" // not in the CSV
	if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	for _, bad := range []string{"", "<nvidia_smi_log><gpu><product_name>X</product_name><fb_memory_usage><total>lots</total></fb_memory_usage></gpu></nvidia_smi_log>",
		"<other/>", "<nvidia_smi_log><gpu></gpu></nvidia_smi_log>"} {
		if g, err := ParseQueryXML([]byte(bad)); err == nil {
			t.Errorf("ParseQueryXML(%q) = %+v, want error", bad, g)
		}
	}
}

func TestComputeCapAndDriver(t *testing.T) {
	for in, want := range map[string][2]int{"9.0": {9, 0}, "7.5": {7, 5}, "12.1": {12, 1}, " 8.6 ": {8, 6}} {
		maj, min, err := ParseComputeCap(in)
		if err != nil || maj != want[0] || min != want[1] {
			t.Errorf("ParseComputeCap(%q) = %d, %d, %v", in, maj, min, err)
		}
	}
	for _, bad := range []string{"", "9", "9.", ".0", "a.b", "-1.0", "100.0", "9.0.1"} {
		if _, _, err := ParseComputeCap(bad); err == nil {
			t.Errorf("ParseComputeCap(%q) accepted", bad)
		}
	}
	for in, want := range map[string]int{"580.159.04": 580, "535.104.05": 535, "470": 470} {
		if got, err := DriverMajor(in); err != nil || got != want {
			t.Errorf("DriverMajor(%q) = %d, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "N/A", "x.1", "0.1", "-5.1"} {
		if _, err := DriverMajor(bad); err == nil {
			t.Errorf("DriverMajor(%q) accepted", bad)
		}
	}
}

// TestQueryFake runs Query against the fake nvidia-smi (registered in
// TestMain) over each capture directory.
func TestQueryFake(t *testing.T) {
	tests := []struct {
		dir       string
		n         int
		cuda      string
		wantCalls []string
	}{
		{"h200", 1, "13.0", []string{"--query-gpu", "--version"}},
		{"h200-queryfields", 1, "13.0", []string{"--query-gpu", "--version"}},
		{"h100x4", 4, "12.8", []string{"--query-gpu", "--version"}},
		{"a100-mig", 2, "12.4", []string{"--query-gpu", "--version"}},
		// no version.txt: the fake fails --version, CUDA comes from the table.
		{"rtx2070-535", 1, "12.2", []string{"--query-gpu", "--version", ""}},
		// its version.txt gives CUDA; the name "NVIDIA GB10" does not tell
		// whether it is a data center GPU, so -q -x is asked for the brand
		// (the capture has none: the brand stays unknown).
		{"gb10-na", 1, "13.0", []string{"--query-gpu", "--version", "-q -x"}},
	}
	for _, tt := range tests {
		t.Run(tt.dir, func(t *testing.T) {
			logPath := filepath.Join(t.TempDir(), "log")
			t.Setenv("FAKE_NVIDIA_SMI_DIR", filepath.Join("testdata", tt.dir))
			t.Setenv("FAKE_LOG", logPath)
			gpus, err := Query(context.Background(), "")
			if err != nil {
				t.Fatal(err)
			}
			if len(gpus) != tt.n {
				t.Fatalf("%d GPUs, want %d", len(gpus), tt.n)
			}
			want, err := ParseQueryCSV(readTestdata(t, tt.dir+"/query-csv.txt"))
			if err != nil {
				t.Fatal(err)
			}
			for i := range gpus {
				if gpus[i].CUDA != tt.cuda {
					t.Errorf("gpu %d CUDA %q, want %q", i, gpus[i].CUDA, tt.cuda)
				}
				want[i].CUDA = tt.cuda
			}
			if !reflect.DeepEqual(gpus, want) {
				t.Errorf("got  %+v\nwant %+v", gpus, want)
			}
			log, err := os.ReadFile(logPath)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(strings.TrimSuffix(string(log), "\n"), "\n")
			if len(lines) != len(tt.wantCalls) {
				t.Fatalf("calls %q, want %d", lines, len(tt.wantCalls))
			}
			for i, l := range lines {
				args := strings.TrimPrefix(strings.TrimPrefix(l, "nvidia-smi"), " ")
				if !strings.HasPrefix(args, tt.wantCalls[i]) || (tt.wantCalls[i] == "" && args != "") {
					t.Errorf("call %d: %q, want args starting %q", i, l, tt.wantCalls[i])
				}
			}
			if first := lines[0]; first != "nvidia-smi --query-gpu="+strings.Join(QueryFields, ",")+" --format=csv" {
				t.Errorf("query call %q", first)
			}
		})
	}
}

func TestQueryFailures(t *testing.T) {
	t.Run("not installed", func(t *testing.T) {
		_, err := Query(context.Background(), "nvidia-smi-not-installed-here")
		if !IsNotFound(err) || !errors.Is(err, exec.ErrNotFound) {
			t.Fatalf("err = %v, want exec.ErrNotFound", err)
		}
		_, err = Query(context.Background(), filepath.Join(t.TempDir(), "nvidia-smi"))
		if !IsNotFound(err) {
			t.Fatalf("missing path: err = %v, want not found", err)
		}
	})
	t.Run("driver not loaded", func(t *testing.T) {
		t.Setenv("FAKE_NVIDIA_SMI_DIR", filepath.Join("testdata", "nodriver"))
		t.Setenv("FAKE_NVIDIA_SMI_EXIT", "9")
		_, err := Query(context.Background(), "nvidia-smi")
		var ee *ExecError
		if !errors.As(err, &ee) || ee.ExitCode != 9 || !NoDriver(err) || IsNotFound(err) || NoDevices(err) {
			t.Fatalf("err = %#v", err)
		}
		if !strings.Contains(err.Error(), "exited with status 9: NVIDIA-SMI has failed") {
			t.Errorf("message %q", err)
		}
	})
	t.Run("no devices", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "query-csv.txt"), []byte("No devices were found\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Setenv("FAKE_NVIDIA_SMI_DIR", dir)
		t.Setenv("FAKE_NVIDIA_SMI_EXIT", "6")
		_, err := Query(context.Background(), "nvidia-smi")
		if !NoDevices(err) || NoDriver(err) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("garbage output", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "query-csv.txt"), []byte("Segmentation fault\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Setenv("FAKE_NVIDIA_SMI_DIR", dir)
		_, err := Query(context.Background(), "nvidia-smi")
		var pe *ParseError
		if !errors.As(err, &pe) || !strings.Contains(err.Error(), "--format=csv") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		t.Setenv("FAKE_NVIDIA_SMI_DIR", filepath.Join("testdata", "h200"))
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := Query(ctx, "nvidia-smi"); err == nil {
			t.Fatal("no error with a cancelled context")
		}
	})
}

// TestQueryOldDriver: a driver without compute_cap rejects the field; Query
// drops it and asks again.
func TestQueryOldDriver(t *testing.T) {
	var calls [][]string
	run := func(ctx context.Context, path string, args ...string) ([]byte, []byte, error) {
		calls = append(calls, args)
		if len(args) == 0 {
			return readTestdata(t, "rtx2070-535/nvidia-smi.txt"), nil, nil
		}
		if args[0] == "--version" {
			return nil, []byte("Invalid combination of input arguments."), errors.New("exit status 2")
		}
		if strings.Contains(args[0], "compute_cap") {
			// the real message, as an H200 answers for an unknown field
			msg := bytes.ReplaceAll(readTestdata(t, "h200-queryfields/invalid-field.txt"), []byte("bogus_field"), []byte("compute_cap"))
			return msg, nil, errors.New("exit status 2")
		}
		return []byte("index, name, uuid, driver_version, memory.total [MiB], memory.used [MiB], utilization.gpu [%], pci.bus_id, mig.mode.current\n" +
			"0, Tesla K80, GPU-1, 470.57.02, 11441 MiB, 0 MiB, 0 %, 00000000:00:04.0, [N/A]\n"), nil, nil
	}
	gpus, err := query(context.Background(), "nvidia-smi", run)
	if err != nil {
		t.Fatal(err)
	}
	if len(gpus) != 1 || gpus[0].ComputeCap != "" || gpus[0].Name != "Tesla K80" || gpus[0].CUDA != "12.2" {
		t.Errorf("got %+v", gpus)
	}
	if len(calls) != 4 || slices.Contains(strings.Split(strings.TrimPrefix(calls[1][0], "--query-gpu="), ","), "compute_cap") {
		t.Errorf("calls %q", calls)
	}
	// A rejected field that is not in the list is not retried forever.
	run2 := func(ctx context.Context, path string, args ...string) ([]byte, []byte, error) {
		return readTestdata(t, "h200-queryfields/invalid-field.txt"), nil, errors.New("exit status 2")
	}
	if _, err := query(context.Background(), "nvidia-smi", run2); err == nil || !strings.Contains(err.Error(), `Field "bogus_field" is not a valid field`) {
		t.Errorf("err = %v", err)
	}
}
