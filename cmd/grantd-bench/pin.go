package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// cpuSplit is --pin: the load generator (this process) on the first CPU
// this process may use, and the servers it starts (grantd, the floors, the
// peer) on the others, so that the generator's work does not queue behind
// the server's on the same cores: what the tail target asks of the
// machine. Linux only.
type cpuSplit struct {
	gen, servers unix.CPUSet
}

// newCPUSplit splits the CPUs this process may use; it needs two.
func newCPUSplit() (*cpuSplit, error) {
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		return nil, fmt.Errorf("--pin: %w", err)
	}
	if all.Count() < 2 {
		return nil, errors.New("--pin needs two CPUs at least")
	}
	p := &cpuSplit{}
	first := true
	for cpu := 0; cpu < 1024; cpu++ {
		if !all.IsSet(cpu) {
			continue
		}
		if first {
			p.gen.Set(cpu)
			first = false
		} else {
			p.servers.Set(cpu)
		}
	}
	return p, p.setThreads(p.gen)
}

// spawn runs start (which starts a process) with every thread of this
// process on the servers' CPUs, so that the process started inherits
// them, then puts them back on the generator's.
func (p *cpuSplit) spawn(start func() error) error {
	if p == nil {
		return start()
	}
	if err := p.setThreads(p.servers); err != nil {
		return err
	}
	err := start()
	return errors.Join(err, p.setThreads(p.gen))
}

// setThreads sets the affinity of every thread of this process (a thread
// started meanwhile inherits its creator's).
func (p *cpuSplit) setThreads(set unix.CPUSet) error {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return fmt.Errorf("--pin: %w", err)
	}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, &set); err != nil && !errors.Is(err, unix.ESRCH) {
			return fmt.Errorf("--pin: thread %d: %w", tid, err)
		}
	}
	return nil
}

// String says where each side runs, for the report.
func (p *cpuSplit) String() string {
	return fmt.Sprintf("load generator on %d CPU, servers on %d", p.gen.Count(), p.servers.Count())
}
