package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// clockTick is Linux's USER_HZ: /proc/<pid>/stat counts CPU time in 1/100 s
// on every architecture grantd builds for.
const clockTick = 10 * time.Millisecond

// cpuTime is the user plus system CPU time process pid has used.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// the fields after it start past the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad times", pid)
	}
	return time.Duration(u+s) * clockTick, nil
}

// peakRSS is process pid's peak resident set (VmHWM), in bytes.
func peakRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmHWM", pid)
}

// pidsNamed lists the processes whose command is name (PostgreSQL's
// backends, for a store on this machine).
func pidsNamed(name string) []int {
	var pids []int
	dirs, _ := filepath.Glob("/proc/[0-9]*/comm")
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil || strings.TrimSpace(string(b)) != name {
			continue
		}
		if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(d))); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// cpuMeter sums the CPU time of a set of processes: the server, and the
// database server's processes when it runs here.
type cpuMeter struct {
	pids  func() []int
	store func() []int // the store's processes, counted in pids too; nil = none here
	start map[int]time.Duration
}

func newCPUMeter(pids func() []int) *cpuMeter { return &cpuMeter{pids: pids} }

// begin notes each process's CPU time so far.
func (m *cpuMeter) begin() {
	m.start = map[int]time.Duration{}
	for _, p := range m.pids() {
		if t, err := cpuTime(p); err == nil {
			m.start[p] = t
		}
	}
}

// used is the CPU time the processes used since begin (a process that
// started since counts from zero, one that ended is lost), and the part
// of it that the store's processes used.
func (m *cpuMeter) used() (all, store time.Duration) {
	since := func(pids []int) time.Duration {
		var d time.Duration
		for _, p := range pids {
			if t, err := cpuTime(p); err == nil {
				d += t - m.start[p]
			}
		}
		return d
	}
	all = since(m.pids())
	if m.store != nil {
		store = since(m.store())
	}
	return all, store
}
