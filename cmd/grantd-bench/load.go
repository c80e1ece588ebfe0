package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// request sends one request of a flow and reports the HTTP status (0 for a
// transport error).
type request func(ctx context.Context, c *http.Client) (int, error)

// load is how a flow is driven: a fixed number of connections each sending
// as fast as answers come, or, with rate, a fixed number of requests per
// second shared among them.
type load struct {
	conns    int
	rate     int // requests per second, 0 = closed loop
	warmup   time.Duration
	duration time.Duration
	// done, when set, ends the measured window early: it is asked every
	// half second and the window ends once it says true (duration is then
	// the bound).
	done func() bool
}

// result is what one run of a flow measured.
type result struct {
	Flow      string         `json:"flow"`
	Target    string         `json:"target"` // grantd, floor, peer
	Conns     int            `json:"connections"`
	Requests  int            `json:"requests"`
	OK        int            `json:"ok"`
	Errors    map[string]int `json:"errors,omitempty"` // by status
	PerSecond float64        `json:"per_second"`
	P50       time.Duration  `json:"p50_ns"`
	P90       time.Duration  `json:"p90_ns"`
	P99       time.Duration  `json:"p99_ns"`
	Max       time.Duration  `json:"max_ns"`
	// CPUPerToken is the server's CPU time (and the store's, when it is a
	// process on this machine) per successful request, in ms.
	CPUPerToken float64 `json:"cpu_ms_per_token,omitempty"`
	// StoreCPUPerToken is the part of CPUPerToken that the store's
	// processes (a local PostgreSQL) used.
	StoreCPUPerToken float64 `json:"store_cpu_ms_per_token,omitempty"`
}

// newHTTPClient keeps conns connections alive to one host.
func newHTTPClient(conns int) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns, t.MaxIdleConnsPerHost, t.MaxConnsPerHost = conns, conns, conns
	t.DisableCompression = true
	return &http.Client{Transport: t, Timeout: 30 * time.Second}
}

// run drives newWorker's requests with l, measuring from the end of the
// warm-up: latencies, statuses, and the CPU that meter counts.
func run(ctx context.Context, name, target string, l load, newWorker func(i int) (request, error), meter *cpuMeter) (result, error) {
	client := newHTTPClient(l.conns)
	defer client.CloseIdleConnections()
	workers := make([]request, l.conns)
	for i := range workers {
		w, err := newWorker(i)
		if err != nil {
			return result{}, fmt.Errorf("%s: prepare: %w", name, err)
		}
		workers[i] = w
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var ticks <-chan time.Time
	if l.rate > 0 {
		t := time.NewTicker(time.Second / time.Duration(l.rate))
		defer t.Stop()
		ticks = t.C
	}
	type sample struct {
		lat    []time.Duration
		status map[int]int
	}
	samples := make([]sample, l.conns)
	var measuring sync.WaitGroup
	measuring.Add(1)
	started := make(chan struct{})
	var wg sync.WaitGroup
	for i := range workers {
		samples[i].status = map[int]int{}
		wg.Go(func() {
			on := false
			for ctx.Err() == nil {
				if ticks != nil {
					select {
					case <-ticks:
					case <-ctx.Done():
						return
					}
				}
				if !on {
					select {
					case <-started:
						on = true
					default:
					}
				}
				t0 := time.Now()
				status, _ := workers[i](ctx, client)
				if ctx.Err() != nil {
					return // cut off by the end of the run: not counted
				}
				if on {
					samples[i].lat = append(samples[i].lat, time.Since(t0))
					samples[i].status[status]++
				}
			}
		})
	}
	time.Sleep(l.warmup)
	if meter != nil {
		meter.begin()
	}
	close(started)
	t0 := time.Now()
	for end := t0.Add(l.duration); time.Now().Before(end); {
		if l.done != nil && l.done() {
			break
		}
		time.Sleep(min(500*time.Millisecond, time.Until(end)))
	}
	var cpu, storeCPU time.Duration
	if meter != nil {
		cpu, storeCPU = meter.used()
	}
	elapsed := time.Since(t0)
	cancel()
	wg.Wait()

	r := result{Flow: name, Target: target, Conns: l.conns, Errors: map[string]int{}}
	var all []time.Duration
	for _, s := range samples {
		all = append(all, s.lat...)
		for st, n := range s.status {
			r.Requests += n
			if st == http.StatusOK {
				r.OK += n
			} else {
				r.Errors[statusName(st)] += n
			}
		}
	}
	if len(r.Errors) == 0 {
		r.Errors = nil
	}
	slices.Sort(all)
	r.PerSecond = float64(r.OK) / elapsed.Seconds()
	r.P50, r.P90, r.P99 = quantile(all, 0.50), quantile(all, 0.90), quantile(all, 0.99)
	if len(all) > 0 {
		r.Max = all[len(all)-1]
	}
	if meter != nil && r.OK > 0 {
		r.CPUPerToken = float64(cpu) / float64(time.Millisecond) / float64(r.OK)
		r.StoreCPUPerToken = float64(storeCPU) / float64(time.Millisecond) / float64(r.OK)
	}
	return r, nil
}

func statusName(st int) string {
	switch st {
	case 0:
		return "transport"
	case statusOutOfCodes:
		return "out of codes (raise --codes)"
	}
	return fmt.Sprint(st)
}

// statusOutOfCodes is the status a code-exchange worker reports, once,
// when it has used every code minted for it before the run's end: the run
// then measured fewer requests than it could have.
const statusOutOfCodes = -1

// quantile of sorted durations (nearest rank).
func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// drain reads and closes a body so that its connection is reused.
func drain(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
}
