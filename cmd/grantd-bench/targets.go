package main

import (
	"fmt"
	"runtime"
	"strings"
	"time"
)

// target is one of issue 11's targets, judged on this run.
type target struct {
	Name    string `json:"name"`
	Verdict string `json:"verdict"` // PASS, FAIL, SKIP (not measured in this run)
	Detail  string `json:"detail"`
}

func runtimeCPUs() int { return runtime.NumCPU() }

func verdict(ok bool) string {
	if ok {
		return "PASS"
	}
	return "FAIL"
}

// targets judges the run against the targets of docs/benchmarks.md.
func targets(rep report, o options) []target {
	var ts []target
	add := func(name string, ok bool, format string, a ...any) {
		ts = append(ts, target{Name: name, Verdict: verdict(ok), Detail: fmt.Sprintf(format, a...)})
	}
	skip := func(name, why string) { ts = append(ts, target{Name: name, Verdict: "SKIP", Detail: why}) }
	byFlow := func(name string, conns int) *row {
		for i := range rep.Results {
			if rep.Results[i].Flow == name && rep.Results[i].Conns == conns {
				return &rep.Results[i]
			}
		}
		return nil
	}
	// Against the peer.
	for _, p := range []struct{ flow, name string }{
		{"client_credentials RS256", "RS256 client_credentials CPU/token <= 0.8 x peer"},
		{"client_credentials opaque", "opaque client_credentials CPU/token <= 0.8 x peer's in-memory opaque"},
	} {
		seen := false
		for _, r := range rep.Results {
			if r.Flow != p.flow {
				continue
			}
			seen = true
			if r.PeerCPU == 0 {
				skip(fmt.Sprintf("%s (%d conns)", p.name, r.Conns), "no peer in this run (--peer oidc-provider)")
				continue
			}
			add(fmt.Sprintf("%s (%d conns)", p.name, r.Conns), r.CPUPerToken <= 0.8*r.PeerCPU,
				"%.3f ms vs %.3f ms: %.2f x (crypto %s)", r.CPUPerToken, r.PeerCPU, r.CPUPerToken/r.PeerCPU, rep.Crypto)
		}
		if !seen {
			skip(p.name, "flow not run")
		}
	}
	// Everything but the signature, for JWT client credentials.
	for _, r := range rep.Results {
		if strings.HasPrefix(r.Flow, "client_credentials") && r.alg != "" {
			add(fmt.Sprintf("%s above its floor <= 0.04 ms (%d conns)", r.Flow, r.Conns), r.AboveFloor <= 0.04,
				"%.3f ms - %.3f ms = %+.3f ms", r.CPUPerToken, r.FloorCPU, r.AboveFloor)
		}
	}
	// Refresh and code exchange against client credentials of the format.
	want := 0.7
	if rep.Store == "postgres" {
		want = 0.5
	}
	for _, r := range rep.Results {
		if !strings.HasPrefix(r.Flow, "refresh") && !strings.HasPrefix(r.Flow, "authorization_code") {
			continue
		}
		cc := "client_credentials opaque"
		if r.alg != "" {
			cc = "client_credentials " + r.alg
		}
		base := byFlow(cc, r.Conns)
		if base == nil {
			skip(fmt.Sprintf("%s >= %.1f x %s tokens/s (%d conns)", r.Flow, want, cc, r.Conns), cc+" not run")
			continue
		}
		add(fmt.Sprintf("%s >= %.1f x %s tokens/s (%d conns)", r.Flow, want, cc, r.Conns), r.PerSecond >= want*base.PerSecond,
			"%.0f/s vs %.0f/s: %.2f x", r.PerSecond, base.PerSecond, r.PerSecond/base.PerSecond)
	}
	if rep.Store == "postgres" {
		for _, r := range rep.Results {
			if r.Flow == "client_credentials opaque" {
				add(fmt.Sprintf("opaque client_credentials on PostgreSQL, grantd + PostgreSQL CPU <= 0.25 ms (%d conns)", r.Conns),
					r.CPUPerToken <= 0.25, "%.3f ms", r.CPUPerToken)
			}
		}
	}
	// The tail, and no errors.
	for _, r := range rep.Results {
		ok := len(r.Errors) == 0 && r.P50 > 0 && r.P99 <= 3*r.P50
		add(fmt.Sprintf("%s p99 <= 3 x p50, no errors (%d conns)", r.Flow, r.Conns), ok,
			"p99 %s ms, p50 %s ms (%.1f x; its floor %.1f x), errors %v", ms(r.P99), ms(r.P50),
			float64(r.P99)/float64(max(r.P50, 1)), float64(r.FloorP99)/float64(max(r.FloorP50, 1)), r.Errors)
	}
	add("peak RSS <= 64 MiB", rep.PeakRSS <= 64<<20, "%.1f MiB at up to %d connections", float64(rep.PeakRSS)/(1<<20), maxOf(o.conns))
	if rep.Store == "sqlite" {
		add("start to ready, empty embedded store, <= 300 ms", rep.StartReady <= 300*time.Millisecond, "%s ms", ms(rep.StartReady))
	}
	if sc := rep.Scale; sc != nil {
		for i, r := range sc.Results {
			empty := rep.Results[i]
			add(fmt.Sprintf("%s on the seeded store >= 0.9 x empty tokens/s (%d conns)", r.Flow, r.Conns), r.PerSecond >= 0.9*empty.PerSecond,
				"%.0f/s vs %.0f/s: %.2f x (%d clients, %d connections, %d families)", r.PerSecond, empty.PerSecond,
				r.PerSecond/empty.PerSecond, sc.Seeded.Clients, sc.Seeded.Connections, sc.Seeded.Families)
		}
	} else {
		skip("scale: 1M connections and families, 100k clients, within 10 % of empty", "run with --scale")
	}
	if p := rep.Purge; p != nil {
		ok := !p.Left && len(p.Purge.Errors) == 0 && p.Idle.P99 > 0 && p.Purge.P99 <= 2*p.Idle.P99
		add(fmt.Sprintf("janitor purging %d expired rows keeps p99 within 2 x idle, no errors", p.Rows), ok,
			"p99 %s ms while purging vs %s ms idle (%.2f x), purged in %v, left %v, errors %v", ms(p.Purge.P99), ms(p.Idle.P99),
			float64(p.Purge.P99)/float64(max(p.Idle.P99, 1)), p.Took.Round(100*time.Millisecond), p.Left, p.Purge.Errors)
	} else {
		skip("janitor purging 1M expired rows keeps p99 within 2 x idle", "run with --scale (and --seed-expired > 0)")
	}
	return ts
}

func maxOf(xs []int) int {
	m := 0
	for _, x := range xs {
		m = max(m, x)
	}
	return m
}
