package sim

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// gpuModel derives pretend GPU readings from the engine's busy time.
type gpuModel struct {
	cfg   *Config
	eng   *engine
	uuid  string
	start time.Time

	mu       sync.Mutex
	lastT    time.Time
	energyJ  float64 // since start
	pcieRepl float64
}

func newGPUModel(cfg *Config, eng *engine, now time.Time) *gpuModel {
	h := splitmix64(cfg.Seed ^ 0x6b0)
	h2 := splitmix64(h)
	uuid := fmt.Sprintf("GPU-%08x-%04x-%04x-%04x-%012x", uint32(h), uint16(h>>32), uint16(h>>48), uint16(h2), h2>>16&0xffffffffffff)
	return &gpuModel{cfg: cfg, eng: eng, uuid: uuid, start: now, lastT: now}
}

type gpuReading struct {
	util         float64 // 0-1
	powerW       float64
	energyJ      float64
	memTotalMiB  int
	memUsedMiB   int
	tempC        int
	memTempC     int
	smClockMHz   int
	memClockMHz  int
	tensorActive float64
	dramActive   float64
}

func (g *gpuModel) read(now time.Time) gpuReading {
	u := g.eng.busy.util(now, 1)
	p := g.cfg.GPUPowerIdle + (g.cfg.GPUPowerMaxW-g.cfg.GPUPowerIdle)*u
	g.mu.Lock()
	if dt := now.Sub(g.lastT).Seconds(); dt > 0 {
		g.energyJ += p * dt
		g.lastT = now
	}
	e := g.energyJ
	g.mu.Unlock()
	total := g.cfg.GPUMemoryMiB
	used := int(float64(total)*g.cfg.GPUMemoryUtil) + 300
	used = min(used, total)
	sm := 210
	if u > 0 {
		sm = 2040
	}
	return gpuReading{
		util: u, powerW: p, energyJ: e, memTotalMiB: total, memUsedMiB: used,
		tempC: 34 + int(40*u), memTempC: 0, smClockMHz: sm, memClockMHz: 6250,
		tensorActive: 0.6 * u, dramActive: 0.8 * u * g.eng.kvUsage(),
	}
}

// dcgmHandler serves dcgm-exporter's default counters for one GPU.
func (s *Server) dcgmHandler() http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/metrics" {
			http.NotFound(rw, r)
			return
		}
		rw.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		_, _ = rw.Write(s.dcgmPage(time.Now()))
	})
}

func (s *Server) dcgmPage(now time.Time) []byte {
	g := s.gpu.read(now)
	w := &promWriter{style: styleGo}
	labels := []string{"gpu", "0", "UUID", s.gpu.uuid, "pci_bus_id", "00000000:00:1E.0", "device", "nvidia0",
		"modelName", s.cfg.GPUName, "Hostname", s.cfg.Hostname, "DCGM_FI_DRIVER_VERSION", "580.95.05"}
	i := func(name, typ, help string, v int64) {
		w.header(name, help, typ)
		w.b.WriteString(name)
		writeLabelSet(w, labels)
		w.b.WriteString(" " + strconv.FormatInt(v, 10) + "\n")
	}
	f := func(name, typ, help string, v float64) {
		w.header(name, help, typ)
		w.b.WriteString(name)
		writeLabelSet(w, labels)
		w.b.WriteString(" " + strconv.FormatFloat(v, 'f', 6, 64) + "\n")
	}
	mb := int64(g.memTotalMiB)
	i("DCGM_FI_DEV_SM_CLOCK", "gauge", "SM clock frequency (in MHz).", int64(g.smClockMHz))
	i("DCGM_FI_DEV_MEM_CLOCK", "gauge", "Memory clock frequency (in MHz).", int64(g.memClockMHz))
	i("DCGM_FI_DEV_MEMORY_TEMP", "gauge", "Memory temperature (in C).", int64(g.memTempC))
	i("DCGM_FI_DEV_GPU_TEMP", "gauge", "GPU temperature (in C).", int64(g.tempC))
	f("DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W).", g.powerW)
	i("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "counter", "Total energy consumption since boot (in mJ).", int64(g.energyJ*1000))
	i("DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "counter", "Total number of PCIe retries.", 0)
	i("DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %).", int64(g.util*100+0.5))
	i("DCGM_FI_DEV_MEM_COPY_UTIL", "gauge", "Memory utilization (in %).", int64(g.dramActive*100+0.5))
	i("DCGM_FI_DEV_ENC_UTIL", "gauge", "Encoder utilization (in %).", 0)
	i("DCGM_FI_DEV_DEC_UTIL", "gauge", "Decoder utilization (in %).", 0)
	i("DCGM_FI_DEV_XID_ERRORS", "gauge", "Value of the last XID error encountered.", 0)
	i("DCGM_FI_DEV_FB_FREE", "gauge", "Framebuffer memory free (in MiB).", mb-int64(g.memUsedMiB)-int64(mb/50))
	i("DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (in MiB).", int64(g.memUsedMiB))
	i("DCGM_FI_DEV_FB_RESERVED", "gauge", "Framebuffer memory reserved (in MiB).", mb/50)
	i("DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL", "counter", "Total number of NVLink bandwidth counters for all lanes.", 0)
	i("DCGM_FI_DEV_VGPU_LICENSE_STATUS", "gauge", "vGPU License status", 0)
	i("DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", "counter", "Number of remapped rows for uncorrectable errors", 0)
	i("DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS", "counter", "Number of remapped rows for correctable errors", 0)
	i("DCGM_FI_DEV_ROW_REMAP_FAILURE", "gauge", "Whether remapping of rows has failed", 0)
	f("DCGM_FI_PROF_GR_ENGINE_ACTIVE", "gauge", "Ratio of time the graphics engine is active.", g.util)
	f("DCGM_FI_PROF_PIPE_TENSOR_ACTIVE", "gauge", "Ratio of cycles the tensor (HMMA) pipe is active.", g.tensorActive)
	f("DCGM_FI_PROF_DRAM_ACTIVE", "gauge", "Ratio of cycles the device memory interface is active sending or receiving data.", g.dramActive)
	i("DCGM_FI_PROF_PCIE_TX_BYTES", "gauge", "The rate of data transmitted over the PCIe bus - including both protocol headers and data payloads - in bytes per second.", int64(2e6*g.util))
	i("DCGM_FI_PROF_PCIE_RX_BYTES", "gauge", "The rate of data received over the PCIe bus - including both protocol headers and data payloads - in bytes per second.", int64(3e6*g.util))
	return w.b.Bytes()
}

func writeLabelSet(w *promWriter, l []string) {
	w.b.WriteByte('{')
	for i := 0; i+1 < len(l); i += 2 {
		if i > 0 {
			w.b.WriteByte(',')
		}
		w.b.WriteString(l[i] + `="` + escapeLabel(l[i+1]) + `"`)
	}
	w.b.WriteByte('}')
}
