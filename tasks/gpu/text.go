package gpu

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"fmt"
	"regexp"
	"strings"
)

// Header is what the banner of plain `nvidia-smi` says:
// "| NVIDIA-SMI 580.159.04   Driver Version: 580.159.04   CUDA Version: 13.0 |".
type Header struct {
	SMI, Driver, CUDA string
}

var (
	reSMI        = regexp.MustCompile(`NVIDIA-SMI\s+([0-9][0-9.]*)`)
	reDriver     = regexp.MustCompile(`Driver Version:\s*([0-9][0-9.]*)`)
	reCUDAHeader = regexp.MustCompile(`CUDA Version:\s*([0-9]+\.[0-9]+|N/A)`)
)

// ParseSMIHeader reads the driver and CUDA versions from the table printed
// by plain `nvidia-smi`. CUDA is "" when the table says "N/A".
func ParseSMIHeader(data []byte) (Header, error) {
	var h Header
	if m := reSMI.FindSubmatch(data); m != nil {
		h.SMI = string(m[1])
	}
	if m := reDriver.FindSubmatch(data); m != nil {
		h.Driver = string(m[1])
	}
	if m := reCUDAHeader.FindSubmatch(data); m != nil && string(m[1]) != "N/A" {
		h.CUDA = string(m[1])
	}
	if h.Driver == "" {
		return h, &ParseError{Msg: `no "Driver Version: X" in the nvidia-smi table; ` + firstLineHint(data)}
	}
	return h, nil
}

// Version is the output of `nvidia-smi --version`:
//
//	NVIDIA-SMI version  : 580.159.04
//	NVML version        : 580.159
//	DRIVER version      : 580.159.04
//	CUDA Version        : 13.0
type Version struct {
	SMI, NVML, Driver, CUDA string
}

// ParseVersion reads `nvidia-smi --version`. Keys are matched case
// insensitively; CUDA is "" when the driver does not print that line.
func ParseVersion(data []byte) (Version, error) {
	var v Version
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		k, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		if !versionLike(val) {
			continue
		}
		switch strings.ToLower(strings.Join(strings.Fields(k), " ")) {
		case "nvidia-smi version":
			v.SMI = val
		case "nvml version":
			v.NVML = val
		case "driver version":
			v.Driver = val
		case "cuda version":
			v.CUDA = val
		}
	}
	if v.Driver == "" && v.SMI == "" {
		return v, &ParseError{Msg: `no "DRIVER version : X" line in nvidia-smi --version output; ` + firstLineHint(data)}
	}
	return v, nil
}

func versionLike(s string) bool {
	if s == "" || len(s) > 32 {
		return false
	}
	for _, r := range s {
		if (r < '0' || r > '9') && r != '.' {
			return false
		}
	}
	return s[0] != '.'
}

func firstLineHint(data []byte) string {
	line, _, _ := bytes.Cut(bytes.TrimSpace(data), []byte("\n"))
	s := strings.TrimSpace(string(line))
	if len(s) > 160 {
		s = s[:160] + "..."
	}
	if s == "" {
		return "the output was empty"
	}
	return fmt.Sprintf("output starts with %q", s)
}

type xmlLog struct {
	XMLName xml.Name `xml:"nvidia_smi_log"`
	Driver  string   `xml:"driver_version"`
	CUDA    string   `xml:"cuda_version"`
	GPUs    []struct {
		ID      string `xml:"id,attr"`
		Name    string `xml:"product_name"`
		Brand   string `xml:"product_brand"`
		Arch    string `xml:"product_architecture"`
		UUID    string `xml:"uuid"`
		MIGMode struct {
			Current string `xml:"current_mig"`
		} `xml:"mig_mode"`
		FB struct {
			Total string `xml:"total"`
			Used  string `xml:"used"`
		} `xml:"fb_memory_usage"`
		Util struct {
			GPU string `xml:"gpu_util"`
		} `xml:"utilization"`
	} `xml:"gpu"`
}

// ParseQueryXML reads `nvidia-smi -q -x`. The XML has no compute capability,
// so ComputeCap stays ""; indexes follow the order of the <gpu> elements,
// which is nvidia-smi's index order.
func ParseQueryXML(data []byte) ([]GPU, error) {
	var l xmlLog
	if err := xml.Unmarshal(data, &l); err != nil {
		return nil, &ParseError{Msg: "not nvidia-smi -q -x XML: " + err.Error()}
	}
	cuda := strings.TrimSpace(l.CUDA)
	if notAvailable(cuda) {
		cuda = ""
	}
	driver := strings.TrimSpace(l.Driver)
	if notAvailable(driver) {
		driver = ""
	}
	gpus := make([]GPU, 0, len(l.GPUs))
	for i, x := range l.GPUs {
		g := GPU{
			Index:    i,
			Name:     strings.TrimSpace(x.Name),
			UUID:     strings.TrimSpace(x.UUID),
			PCIBusID: strings.TrimSpace(x.ID),
			Driver:   driver,
			CUDA:     cuda,
			MIG:      strings.EqualFold(strings.TrimSpace(x.MIGMode.Current), "Enabled"),
		}
		if b := strings.TrimSpace(x.Brand); !notAvailable(b) {
			g.Brand = b
		}
		if a := strings.TrimSpace(x.Arch); !notAvailable(a) {
			g.Architecture = a
		}
		var err error
		field := "fb_memory_usage/total"
		if g.MemoryTotalMiB, err = parseUnit(strings.TrimSpace(x.FB.Total), "MiB"); err == nil {
			field = "fb_memory_usage/used"
			if g.MemoryUsedMiB, err = parseUnit(strings.TrimSpace(x.FB.Used), "MiB"); err == nil {
				field = "utilization/gpu_util"
				g.UtilizationPct, err = parseUnit(strings.TrimSpace(x.Util.GPU), "%")
			}
		}
		if err != nil {
			return nil, &ParseError{Field: field, Msg: fmt.Sprintf("gpu %d: %v", i, err)}
		}
		if g.Name == "" {
			return nil, &ParseError{Field: "product_name", Msg: fmt.Sprintf("gpu %d has no product_name", i)}
		}
		gpus = append(gpus, g)
	}
	return gpus, nil
}
