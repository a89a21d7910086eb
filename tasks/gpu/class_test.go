package gpu

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name, brand string
		want        Class
	}{
		// Names as nvidia-smi prints them.
		{"NVIDIA H200", "NVIDIA", ClassDataCenter}, // the real H200 capture's brand decides nothing
		{"NVIDIA H100 80GB HBM3", "", ClassDataCenter},
		{"NVIDIA H100 NVL", "", ClassDataCenter},
		{"NVIDIA A100-SXM4-80GB", "", ClassDataCenter},
		{"NVIDIA A100 80GB PCIe", "", ClassDataCenter},
		{"NVIDIA A10G", "", ClassDataCenter},
		{"NVIDIA A10", "", ClassDataCenter},
		{"NVIDIA L40S", "", ClassDataCenter},
		{"NVIDIA L4", "", ClassDataCenter},
		{"NVIDIA GH200 480GB", "", ClassDataCenter},
		{"NVIDIA B200", "", ClassDataCenter},
		{"NVIDIA GB200", "", ClassDataCenter},
		{"NVIDIA H20", "", ClassDataCenter},
		{"Tesla T4", "Tesla", ClassDataCenter},
		{"Tesla V100-SXM2-16GB", "", ClassDataCenter},
		{"NVIDIA RTX PRO 6000 Blackwell Server Edition", "NVIDIA RTX", ClassDataCenter},
		{"NVIDIA GeForce RTX 2070", "GeForce", ClassConsumer},
		{"NVIDIA GeForce RTX 4090", "", ClassConsumer},
		{"NVIDIA TITAN RTX", "", ClassConsumer},
		{"NVIDIA RTX A6000", "NVIDIA RTX", ClassWorkstation},
		{"NVIDIA RTX 6000 Ada Generation", "", ClassWorkstation},
		{"NVIDIA RTX PRO 6000 Blackwell Workstation Edition", "", ClassWorkstation},
		{"Quadro RTX 8000", "Quadro", ClassWorkstation},
		{"NVIDIA T1000 8GB", "", ClassWorkstation},
		// The name says nothing: the brand decides, or nothing does.
		{"NVIDIA GB10", "NVIDIA", ClassUnknown},
		{"NVIDIA Graphics Device", "GeForce", ClassConsumer},
		{"NVIDIA Graphics Device", "Tesla", ClassDataCenter},
		{"NVIDIA Graphics Device", "Quadro RTX", ClassWorkstation},
		{"NVIDIA Graphics Device", "", ClassUnknown},
		{"", "", ClassUnknown},
		{"-", "", ClassUnknown},
	}
	for _, tt := range tests {
		if got := Classify(tt.name, tt.brand); got != tt.want {
			t.Errorf("Classify(%q, %q) = %q, want %q", tt.name, tt.brand, got, tt.want)
		}
		if got := Classify(tt.name, tt.brand).ForwardCompatible(); got != (tt.want == ClassDataCenter) {
			t.Errorf("%q: ForwardCompatible = %v", tt.name, got)
		}
	}
}

func TestParseDriverVersion(t *testing.T) {
	for in, want := range map[string]DriverVersion{
		"580.159.04": {580, 159, 4}, "590.44.01": {590, 44, 1}, "580": {580, 0, 0}, " 535.104 ": {535, 104, 0},
	} {
		if got, err := ParseDriverVersion(in); err != nil || got != want {
			t.Errorf("ParseDriverVersion(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "N/A", "0.1", "580.", ".1", "580.1.2.3", "-580", "+580", "580.x", "58000.1"} {
		if v, err := ParseDriverVersion(bad); err == nil {
			t.Errorf("ParseDriverVersion(%q) = %v, want an error", bad, v)
		}
	}
	order := []string{"535.104.05", "580", "580.65.06", "580.95.05", "580.159.04", "590.44.01", "610.43.02"}
	for i := range order {
		for j := range order {
			a, _ := ParseDriverVersion(order[i])
			b, _ := ParseDriverVersion(order[j])
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := a.Compare(b); got != want {
				t.Errorf("%s vs %s: %d, want %d", order[i], order[j], got, want)
			}
		}
	}
}

// TestQueryBrand: a GPU whose name does not tell its class (the GB10 capture)
// makes Query ask `nvidia-smi -q -x` for the product brand; one whose name
// does (the H200) does not.
func TestQueryBrand(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"query-csv.txt", "version.txt"} {
		copyFile(t, filepath.Join("testdata", "gb10-na", f), filepath.Join(dir, f))
	}
	// An -q -x answer for the GB10's bus id, with the brand GeForce.
	xml := strings.ReplaceAll(string(readTestdata(t, "h200/nvidia-smi-q.xml")), "<product_brand>NVIDIA</product_brand>", "<product_brand>GeForce</product_brand>")
	gb10, err := ParseQueryCSV(readTestdata(t, "gb10-na/query-csv.txt"))
	if err != nil {
		t.Fatal(err)
	}
	xml = strings.ReplaceAll(xml, `gpu id="00000000:00:06.0"`, `gpu id="`+gb10[0].PCIBusID+`"`)
	if err := os.WriteFile(filepath.Join(dir, "nvidia-smi-q.xml"), []byte(xml), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("FAKE_NVIDIA_SMI_DIR", dir)
	gpus, err := Query(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if gpus[0].Brand != "GeForce" || gpus[0].Architecture != "Hopper" || gpus[0].Class() != ClassConsumer {
		t.Errorf("got %+v, class %q", gpus[0], gpus[0].Class())
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
