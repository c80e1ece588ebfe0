package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"testing"
)

// TestMain lets the test binary serve as the floor server, as the bench's
// own binary does (startFloor runs os.Executable()).
func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == "floor-server" {
		if err := floorServer(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	os.Exit(m.Run())
}

// TestShortBench runs a short bench of every kind of flow against a grantd
// it builds and starts: it must work and count no errors. It asserts no
// speed (CI machines are shared and noisy): the figures are the bench's
// to print, not the test's.
func TestShortBench(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts grantd")
	}
	var out bytes.Buffer
	code, err := runBench(t.Context(), []string{"--json", "--conns", "4", "--duration", "500ms", "--warmup", "0s", "--codes", "6000",
		"--flows", "client_credentials RS256,client_credentials EdDSA,dpop,client_credentials opaque,authorization_code opaque,refresh rotating opaque,refresh fixed opaque,introspect,revoke,bankapi,bankdata,temptoken,payroll"}, &out)
	if err != nil || code != 0 {
		t.Fatalf("bench: %d, %v\n%s", code, err, out.String())
	}
	var rep report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("JSON: %v\n%s", err, out.String())
	}
	if len(rep.Results) != 13 {
		t.Fatalf("%d results, want 13: %s", len(rep.Results), out.String())
	}
	for _, r := range rep.Results {
		if r.OK == 0 || len(r.Errors) != 0 || r.P50 <= 0 || r.CPUPerToken <= 0 || r.FloorCPU <= 0 {
			t.Errorf("%s: %d ok, errors %v, p50 %v, CPU %.3f ms, floor %.3f ms", r.Flow, r.OK, r.Errors, r.P50, r.CPUPerToken, r.FloorCPU)
		}
	}
	if rep.StartReady <= 0 || rep.PeakRSS <= 0 || rep.Crypto == "" || rep.Signature["RS256"] <= 0 {
		t.Errorf("report: %+v", rep)
	}
	verdicts := map[string]bool{}
	for _, tg := range rep.Targets {
		verdicts[tg.Verdict] = true
	}
	if len(rep.Targets) == 0 || !verdicts["SKIP"] {
		t.Errorf("targets: %+v (want them judged, the peer's skipped)", rep.Targets)
	}
}

// TestShortScale runs --scale with a small seed: grantd is stopped,
// seeded, started again and measured; then expired rows are added and
// the janitor purges them all under load. It asserts that every phase ran
// without errors and the purge finished, not how fast.
func TestShortScale(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts grantd")
	}
	var out bytes.Buffer
	code, err := runBench(t.Context(), []string{"--json", "--conns", "4", "--duration", "300ms", "--warmup", "0s",
		"--flows", "client_credentials opaque", "--scale", "--seed-clients", "20", "--seed-connections", "50",
		"--seed-families", "50", "--seed-expired", "3000"}, &out)
	if err != nil || code != 0 {
		t.Fatalf("bench: %d, %v\n%s", code, err, out.String())
	}
	var rep report
	if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
		t.Fatalf("JSON: %v\n%s", err, out.String())
	}
	if rep.Scale == nil || len(rep.Scale.Results) != 1 || rep.Scale.Results[0].OK == 0 || len(rep.Scale.Results[0].Errors) != 0 {
		t.Errorf("scale: %+v", rep.Scale)
	}
	p := rep.Purge
	if p == nil || p.Rows != 3000 || p.Left || p.Idle.OK == 0 || p.Purge.OK == 0 || len(p.Idle.Errors)+len(p.Purge.Errors) != 0 {
		t.Errorf("purge: %+v", p)
	}
}

// TestParse: bad flags are refused before anything starts.
func TestParse(t *testing.T) {
	for _, args := range [][]string{{"--conns", "0"}, {"--conns", "x"}, {"--duration", "0s"}, {"--peer", "hydra"}, {"extra"}} {
		if _, err := parse(args, &bytes.Buffer{}); err == nil {
			t.Errorf("parse(%q) succeeded", args)
		}
	}
	if o, err := parse([]string{"--all", "--conns", "16,64"}, &bytes.Buffer{}); err != nil || o.flows != "all" || len(o.conns) != 2 {
		t.Errorf("parse --all: %+v, %v", o, err)
	}
	if _, err := pickFlows("nope"); err == nil {
		t.Error("pickFlows(nope) succeeded")
	}
}
