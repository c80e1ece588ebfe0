package main

import (
	"os/exec"
	"testing"

	"golang.org/x/sys/unix"
)

// TestPinSplitsTheCPUs: --pin puts this process on one CPU and a process
// it spawns on the others.
func TestPinSplitsTheCPUs(t *testing.T) {
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		t.Fatal(err)
	}
	if all.Count() < 2 {
		t.Skip("--pin needs two CPUs")
	}
	p, err := newCPUSplit()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { (&cpuSplit{}).setThreads(all) })
	if p.gen.Count() != 1 || p.servers.Count() != all.Count()-1 {
		t.Fatalf("split %d + %d of %d CPUs, want 1 + the rest", p.gen.Count(), p.servers.Count(), all.Count())
	}
	cmd := exec.Command("sleep", "5")
	if err := p.spawn(cmd.Start); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	var child, self unix.CPUSet
	if err := unix.SchedGetaffinity(cmd.Process.Pid, &child); err != nil {
		t.Fatal(err)
	}
	if child != p.servers {
		t.Errorf("the spawned process runs on %d CPUs (%v), want the servers' %v", child.Count(), child, p.servers)
	}
	if err := unix.SchedGetaffinity(0, &self); err != nil {
		t.Fatal(err)
	}
	if self != p.gen {
		t.Errorf("this thread runs on %v after the spawn, want the generator's %v", self, p.gen)
	}
}
