package bench

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// CPUUse is the CPU used during the measured window: by each watched process and by this
// bench, in cores (1 = one core busy all the time), and by the whole machine as a share of
// all its cores. On a shared machine it tells what the run was up against.
type CPUUse struct {
	Cores map[string]float64 `json:"cores"` // by process name; "bench" is this one
	// Sys is the part of Cores spent in the kernel on the process's behalf (its socket reads
	// and writes, the event loop's waits): for Redis, what is not commands, scripts or parsing.
	Sys         map[string]float64 `json:"sys,omitempty"`
	MachineBusy float64            `json:"machine_busy"` // 0..1 of all cores, everything on the box
	NumCPU      int                `json:"num_cpu"`
}

// clockTicks is USER_HZ, the unit of /proc times: 100 on every Linux the project runs on.
const clockTicks = 100

type cpuSnap struct {
	at          time.Time
	procs, sys  map[string]time.Duration
	busy, total uint64
}

func snapCPU(pids map[string]int) cpuSnap {
	s := cpuSnap{at: time.Now(), procs: map[string]time.Duration{"bench": cpuTime()}, sys: map[string]time.Duration{}}
	for name, pid := range pids {
		if d, sys, err := procCPU(pid); err == nil {
			s.procs[name], s.sys[name] = d, sys
		}
	}
	s.busy, s.total = machineCPU()
	return s
}

// use is the CPU used from a to b.
func (a cpuSnap) use(b cpuSnap) CPUUse {
	u := CPUUse{Cores: map[string]float64{}, Sys: map[string]float64{}, NumCPU: runtime.NumCPU()}
	wall := b.at.Sub(a.at).Seconds()
	if wall <= 0 {
		return u
	}
	for name, d := range b.procs {
		if d0, ok := a.procs[name]; ok {
			u.Cores[name] = (d - d0).Seconds() / wall
		}
		if d0, ok := a.sys[name]; ok {
			u.Sys[name] = (b.sys[name] - d0).Seconds() / wall
		}
	}
	if b.total > a.total {
		u.MachineBusy = float64(b.busy-a.busy) / float64(b.total-a.total)
	}
	return u
}

// procCPU is the CPU time (user + system) process pid has used, and the system part of it:
// /proc/PID/stat.
func procCPU(pid int) (all, sys time.Duration, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name may hold spaces: the fields that follow start after its ')'.
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("/proc/%d/stat: too short", pid)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64) // field 14, utime
	st, err2 := strconv.ParseUint(f[12], 10, 64) // field 15, stime
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("/proc/%d/stat: unreadable times", pid)
	}
	return time.Duration(ut+st) * time.Second / clockTicks, time.Duration(st) * time.Second / clockTicks, nil
}

// machineCPU reads the aggregate line of /proc/stat: busy and total jiffies.
func machineCPU() (busy, total uint64) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return 0, 0
	}
	fields := strings.Fields(sc.Text())
	if len(fields) < 5 || fields[0] != "cpu" {
		return 0, 0
	}
	for i, v := range fields[1:] {
		n, _ := strconv.ParseUint(v, 10, 64)
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total
}
