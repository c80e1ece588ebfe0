// Command grantd-bench measures grantd's token endpoints over loopback:
// requests/s, latency quantiles, errors by status, the server's CPU per
// token, peak memory and start-up time, beside floors measured in the same
// run (a trivial HTTP handler, with and without the signature; the raw
// signature in process) and, with --peer, beside node-oidc-provider.
// docs/benchmarks.md says how to read and reproduce what it prints.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/grantd/grantd/internal/signer"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "floor-server" {
		if err := floorServer(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "floor-server:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	code, err := runBench(ctx, os.Args[1:], os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "grantd-bench:", err)
	}
	os.Exit(code)
}

// options are the bench's flags.
type options struct {
	all      bool
	pin      bool
	flows    string
	conns    []int
	rate     int
	duration time.Duration
	warmup   time.Duration
	store    string
	grantd   string
	tags     string
	peer     string
	rounds   int
	codes    int
	logLevel string
	json     bool
	repo     string
	profile  string
	scale    bool
	seed     scale
	expired  int
}

func parse(args []string, stderr io.Writer) (options, error) {
	fs := flag.NewFlagSet("grantd-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	var conns string
	fs.BoolVar(&o.all, "all", false, "run every flow (client_credentials of each algorithm and opaque, code exchange, refresh, introspection, revocation)")
	fs.StringVar(&o.flows, "flows", "client_credentials RS256,client_credentials ES256,client_credentials opaque", "flows to run, by name prefix, comma-separated (ignored with --all)")
	fs.StringVar(&conns, "conns", "16,64", "connections (concurrent requests), comma-separated: each flow runs at each")
	fs.IntVar(&o.rate, "rate", 0, "requests per second per run (0 = as fast as answers come)")
	fs.DurationVar(&o.duration, "duration", 3*time.Second, "measured time of each run")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "time before each run's measurement")
	fs.StringVar(&o.store, "store", "", "grantd's store (postgres://…); default: embedded SQLite in a temporary directory")
	fs.StringVar(&o.grantd, "grantd", "", "grantd binary to run; default: build ./cmd/grantd with this environment (GOEXPERIMENT=boringcrypto for the BoringCrypto flavour)")
	fs.StringVar(&o.tags, "tags", "", "build tags of the grantd it builds: libcrypto for RSA by the system's OpenSSL (cgo, libssl-dev)")
	fs.StringVar(&o.peer, "peer", "", "measure a peer beside grantd in the same run, A B A B: oidc-provider (node-oidc-provider 8.8.1, installed with npm)")
	fs.IntVar(&o.rounds, "rounds", 2, "with --peer: rounds of grantd then the peer")
	fs.IntVar(&o.codes, "codes", 16000, "codes minted ahead for each code-exchange run (they live 10 minutes; a worker that runs out reports an error)")
	fs.StringVar(&o.logLevel, "log-level", "warn", "grantd's log level during the bench (info logs every request)")
	fs.BoolVar(&o.json, "json", false, "print the results as JSON")
	fs.StringVar(&o.profile, "cpuprofile", "", "directory to write a CPU profile of grantd for each run (from the admin API's pprof)")
	fs.BoolVar(&o.scale, "scale", false, "after the runs, stop grantd, seed its store (--seed-*), start it again and run every flow again: each must keep 90 % of its empty-store tokens/s")
	fs.IntVar(&o.seed.Clients, "seed-clients", 100000, "with --scale: clients to seed")
	fs.IntVar(&o.seed.Connections, "seed-connections", 1000000, "with --scale: active connections to seed")
	fs.IntVar(&o.seed.Families, "seed-families", 1000000, "with --scale: refresh families to seed, each with a refresh token and an access-token row")
	fs.IntVar(&o.expired, "seed-expired", 1000000, "with --scale: expired access-token rows to add at the end, then measure client credentials at a fixed rate while the janitor purges them, against the same load before (0 = skip)")
	fs.BoolVar(&o.pin, "pin", false, "run the load generator on one CPU and the servers it starts on the others (Linux; two CPUs at least), so that their work does not queue on the same cores")
	fs.StringVar(&o.repo, "repo", "", "the repository's root (for the peer); default: found from the working directory")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() != 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, s := range strings.Split(conns, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 1024 {
			return o, fmt.Errorf("--conns: %q is not a number of connections from 1 to 1024", s)
		}
		o.conns = append(o.conns, n)
	}
	if o.duration <= 0 || o.duration > 10*time.Minute || o.warmup < 0 || o.rate < 0 || o.rounds < 1 || o.codes < 1 {
		return o, errors.New("--duration (up to 10m), --warmup, --rate, --rounds and --codes must be positive")
	}
	if o.seed.Clients < 1 || o.seed.Connections < 1 || o.seed.Families < 0 {
		return o, errors.New("--seed-clients and --seed-connections must be at least 1")
	}
	if o.peer != "" && o.peer != "oidc-provider" {
		return o, fmt.Errorf("--peer: %q is not a known peer (oidc-provider)", o.peer)
	}
	if o.all {
		o.flows = "all"
	}
	return o, nil
}

// pinning is --pin's split of the CPUs while a run has it (nil: none);
// start spawns every server through it.
var pinning *cpuSplit

// report is everything a bench run measured.
type report struct {
	Crypto      string             `json:"grantd_crypto"` // go, libcrypto or boringcrypto
	FloorCrypto string             `json:"floor_crypto"`  // what the floors sign with: the bench's own build
	Store       string             `json:"store"`
	CPUs        int                `json:"cpus"`
	Pinned      string             `json:"pinned,omitempty"` // --pin: where the generator and the servers run
	StartReady  time.Duration      `json:"start_to_ready_ns"`
	PeakRSS     int64              `json:"peak_rss_bytes"`
	PeerRSS     int64              `json:"peer_peak_rss_bytes,omitempty"`
	Signature   map[string]float64 `json:"signature_ms"` // in process, one core
	Results     []row              `json:"results"`
	Scale       *scaleReport       `json:"scale,omitempty"`
	Purge       *purgeReport       `json:"purge,omitempty"`
	Targets     []target           `json:"targets"`
}

// scaleReport is the --scale pass: what was seeded, how long it took, and
// every flow again on the seeded store.
type scaleReport struct {
	Seeded   scale         `json:"seeded"`
	SeedTime time.Duration `json:"seed_ns"`
	Results  []result      `json:"results"`
}

// row is one flow at one concurrency: grantd's run, its floor's, and the
// peer's when there is one.
type row struct {
	result
	Floor       string        `json:"floor"`
	FloorCPU    float64       `json:"floor_cpu_ms_per_token"`
	FloorP50    time.Duration `json:"floor_p50_ns"`
	FloorP99    time.Duration `json:"floor_p99_ns"`
	AboveFloor  float64       `json:"above_floor_ms"`
	PeerCPU     float64       `json:"peer_cpu_ms_per_token,omitempty"`
	PeerPerSec  float64       `json:"peer_per_second,omitempty"`
	PeerP99     time.Duration `json:"peer_p99_ns,omitempty"`
	format, alg string
}

func runBench(ctx context.Context, args []string, stdout io.Writer) (int, error) {
	o, err := parse(args, os.Stderr)
	if err != nil {
		return 2, err
	}
	flows, err := pickFlows(o.flows)
	if err != nil {
		return 2, err
	}
	dir, err := os.MkdirTemp("", "grantd-bench-")
	if err != nil {
		return 1, err
	}
	defer os.RemoveAll(dir)

	bin, err := buildGrantd(ctx, o.grantd, o.tags, dir)
	if err != nil {
		return 1, err
	}
	rep := report{Crypto: cryptoOf(ctx, bin), Store: "sqlite", CPUs: runtimeCPUs(), Signature: map[string]float64{}}
	if o.pin {
		if pinning, err = newCPUSplit(); err != nil {
			return 2, err
		}
		defer func() { pinning = nil }()
		rep.Pinned = pinning.String()
	}
	if o.store != "" {
		rep.Store = "postgres"
	}
	g, adm, err := startGrantd(ctx, bin, dir, o.store, o.logLevel)
	if err != nil {
		return 1, err
	}
	defer g.stop()
	rep.StartReady = g.ready
	progress := func(format string, a ...any) {
		if !o.json {
			fmt.Fprintf(os.Stderr, format+"\n", a...)
		}
	}
	progress("grantd (%s crypto, %s store) ready in %v", rep.Crypto, rep.Store, g.ready.Round(time.Millisecond))
	if rep.Crypto != signer.Crypto {
		fmt.Fprintf(os.Stderr, "grantd-bench: the floors sign with %s crypto, grantd with %s: build the bench with grantd's tags "+
			"(go run -tags %s ./cmd/grantd-bench --tags %s)\n", signer.Crypto, rep.Crypto, rep.Crypto, rep.Crypto)
	}
	rep.FloorCrypto = signer.Crypto

	floor, err := startFloor(ctx, dir)
	if err != nil {
		return 1, err
	}
	defer floor.stop()
	var peer *process
	if o.peer != "" {
		root, err := repoRoot(o.repo)
		if err != nil {
			return 1, err
		}
		if peer, err = startPeer(ctx, root, dir); err != nil {
			return 1, err
		}
		defer peer.stop()
	}

	grantdPIDs := func() []int { return []int{g.pid()} }
	var storePIDs func() []int
	if o.store != "" && storeIsLocal(o.store) {
		// PostgreSQL here: its processes' CPU is the token's too.
		storePIDs = func() []int { return pidsNamed("postgres") }
		grantdPIDs = func() []int { return append([]int{g.pid()}, storePIDs()...) }
	}
	grantdMeter := func() *cpuMeter { m := newCPUMeter(grantdPIDs); m.store = storePIDs; return m }
	target := &grantdTarget{url: g.url, admin: adm, codes: o.codes}
	floors := map[string]result{}
	for _, f := range flows {
		if alg := f.alg; alg != "" && rep.Signature[alg] == 0 {
			if rep.Signature[alg], err = signatureCost(alg, 300*time.Millisecond); err != nil {
				return 1, err
			}
		}
		for _, conns := range o.conns {
			l := load{conns: conns, rate: o.rate, warmup: o.warmup, duration: o.duration}
			progress("%s, %d connections…", f.name, conns)
			newWorker, err := f.prepare(ctx, target, conns)
			if err != nil {
				return 1, fmt.Errorf("%s: %w", f.name, err)
			}
			key := f.floor + "/" + strconv.Itoa(conns)
			if _, ok := floors[key]; !ok {
				fr, err := run(ctx, f.floor, "floor", l, floorFlow(floor.url, f.floor), newCPUMeter(func() []int { return []int{floor.pid()} }))
				if err != nil {
					return 1, err
				}
				floors[key] = fr
			}
			fr := floors[key]
			peerFormat := ""
			if peer != nil && strings.HasPrefix(f.name, "client_credentials") && (f.alg == "RS256" || f.format == "opaque") {
				peerFormat = f.format
			}
			var gs, ps []result
			for round := 0; round < o.rounds || round == 0; round++ {
				var profiled chan error
				if o.profile != "" && round == 0 {
					profiled = make(chan error, 1)
					go func() {
						time.Sleep(o.warmup)
						name := strings.NewReplacer(" ", "-", "/", "-").Replace(f.name) + "-" + strconv.Itoa(conns) + ".pprof"
						profiled <- adm.profile(ctx, filepath.Join(o.profile, name), o.duration)
					}()
				}
				gr, err := run(ctx, f.name, "grantd", l, newWorker, grantdMeter())
				if profiled != nil {
					if perr := <-profiled; perr != nil {
						return 1, perr
					}
				}
				if err != nil {
					return 1, err
				}
				gs = append(gs, gr)
				if peerFormat == "" {
					break
				}
				pr, err := run(ctx, f.name, "peer", l, peerFlow(peer.url, peerFormat), newCPUMeter(func() []int { return []int{peer.pid()} }))
				if err != nil {
					return 1, err
				}
				ps = append(ps, pr)
			}
			r := row{result: median(gs), Floor: floorKind(f.floor), FloorCPU: fr.CPUPerToken, FloorP50: fr.P50, FloorP99: fr.P99,
				format: f.format, alg: f.alg}
			r.AboveFloor = r.CPUPerToken - r.FloorCPU
			if len(ps) > 0 {
				p := median(ps)
				r.PeerCPU, r.PeerPerSec, r.PeerP99 = p.CPUPerToken, p.PerSecond, p.P99
			}
			rep.Results = append(rep.Results, r)
		}
	}
	if rep.PeakRSS, err = peakRSS(g.pid()); err != nil {
		return 1, err
	}
	if o.scale {
		g.stop()
		progress("seeding %d clients, %d connections, %d families…", o.seed.Clients, o.seed.Connections, o.seed.Families)
		took, err := seed(ctx, filepath.Join(dir, "data"), o.store, o.seed)
		if err != nil {
			return 1, err
		}
		progress("seeded in %v", took.Round(time.Second))
		g2, adm2, err := startGrantd(ctx, bin, dir, o.store, o.logLevel)
		if err != nil {
			return 1, err
		}
		defer g2.stop()
		rep.Scale = &scaleReport{Seeded: o.seed, SeedTime: took}
		t2 := &grantdTarget{url: g2.url, admin: adm2, codes: o.codes}
		pids2 := func() []int { return []int{g2.pid()} }
		for _, f := range flows {
			for _, conns := range o.conns {
				progress("%s, %d connections, seeded store…", f.name, conns)
				newWorker, err := f.prepare(ctx, t2, conns)
				if err != nil {
					return 1, fmt.Errorf("%s: %w", f.name, err)
				}
				r, err := run(ctx, f.name, "grantd-seeded", load{conns: conns, rate: o.rate, warmup: o.warmup, duration: o.duration},
					newWorker, newCPUMeter(pids2))
				if err != nil {
					return 1, err
				}
				rep.Scale.Results = append(rep.Scale.Results, r)
			}
		}
		if o.expired > 0 {
			progress("the janitor purging %d expired rows under %d requests/s…", o.expired, purgeRate)
			if rep.Purge, err = measurePurge(ctx, bin, dir, o, g2); err != nil {
				return 1, fmt.Errorf("purge: %w", err)
			}
		}
	}
	if peer != nil {
		rep.PeerRSS, _ = peakRSS(peer.pid())
	}
	rep.Targets = targets(rep, o)
	if o.json {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else {
		printReport(stdout, rep)
	}
	for _, r := range rep.Results {
		if len(r.Errors) > 0 {
			return 1, fmt.Errorf("%s at %d connections: errors %v", r.Flow, r.Conns, r.Errors)
		}
	}
	if rep.Scale != nil {
		for _, r := range rep.Scale.Results {
			if len(r.Errors) > 0 {
				return 1, fmt.Errorf("%s at %d connections on the seeded store: errors %v", r.Flow, r.Conns, r.Errors)
			}
		}
	}
	return 0, nil
}

// median is the run whose CPU per token is the median of rs (the steadiest
// figure on a shared machine).
func median(rs []result) result {
	best := rs[0]
	if len(rs) > 2 {
		sorted := append([]result(nil), rs...)
		for i := range sorted {
			for j := i + 1; j < len(sorted); j++ {
				if sorted[j].CPUPerToken < sorted[i].CPUPerToken {
					sorted[i], sorted[j] = sorted[j], sorted[i]
				}
			}
		}
		best = sorted[len(sorted)/2]
	} else if len(rs) == 2 && rs[1].CPUPerToken < rs[0].CPUPerToken {
		best = rs[1] // of two, the lower: noise only adds
	}
	return best
}

// storeIsLocal reports whether a PostgreSQL URL names this machine.
func storeIsLocal(u string) bool {
	for _, h := range []string{"@127.0.0.1", "@localhost", "@[::1]", "//127.0.0.1", "//localhost"} {
		if strings.Contains(u, h) {
			return true
		}
	}
	return false
}

// repoRoot finds the repository (where go.mod and bench/ are) from dir or
// the working directory up.
func repoRoot(dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(d, "bench", "peers")); err == nil {
			return d, nil
		}
		up := filepath.Dir(d)
		if up == d {
			return "", errors.New("cannot find the repository's bench/peers: run from the repository or give --repo")
		}
		d = up
	}
}

func splitHostPort(addr string) (string, string, error) { return net.SplitHostPort(addr) }

func ms(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 2, 64)
}

func printReport(w io.Writer, rep report) {
	fmt.Fprintf(w, "grantd: %s crypto (floors: %s), %s store, %d CPUs; start to ready %s ms; peak RSS %.1f MiB",
		rep.Crypto, rep.FloorCrypto, rep.Store, rep.CPUs, ms(rep.StartReady), float64(rep.PeakRSS)/(1<<20))
	if rep.PeerRSS > 0 {
		fmt.Fprintf(w, " (peer %.1f MiB)", float64(rep.PeerRSS)/(1<<20))
	}
	if rep.Pinned != "" {
		fmt.Fprintf(w, "; %s", rep.Pinned)
	}
	fmt.Fprintln(w)
	for alg, c := range rep.Signature {
		fmt.Fprintf(w, "raw %s signature in process: %.3f ms\n", alg, c)
	}
	fmt.Fprintln(w)
	if rep.Store == "postgres" {
		fmt.Fprintln(w, "CPU ms/token is grantd's plus the local PostgreSQL's processes'; PostgreSQL's part:")
		for _, r := range rep.Results {
			fmt.Fprintf(w, "  %s (%d conns): %.3f ms\n", r.Flow, r.Conns, r.StoreCPUPerToken)
		}
		fmt.Fprintln(w)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "flow\tconns\treq/s\tp50 ms\tp90 ms\tp99 ms\tmax ms\terrors\tCPU ms/token\tfloor ms\tabove floor\t× floor\tfloor p99/p50\tpeer ms\t× peer\t")
	for _, r := range rep.Results {
		errs := "0"
		if len(r.Errors) > 0 {
			errs = fmt.Sprint(r.Errors)
		}
		ratio, peer, vsPeer := "-", "-", "-"
		if r.FloorCPU > 0 {
			ratio = fmt.Sprintf("%.2f", r.CPUPerToken/r.FloorCPU)
		}
		if r.PeerCPU > 0 {
			peer, vsPeer = fmt.Sprintf("%.3f", r.PeerCPU), fmt.Sprintf("%.2f", r.CPUPerToken/r.PeerCPU)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%s\t%s\t%s\t%s\t%s\t%.3f\t%.3f\t%+.3f\t%s\t%.1f\t%s\t%s\t\n", r.Flow, r.Conns, r.PerSecond,
			ms(r.P50), ms(r.P90), ms(r.P99), ms(r.Max), errs, r.CPUPerToken, r.FloorCPU, r.AboveFloor, ratio,
			float64(r.FloorP99)/float64(max(r.FloorP50, 1)), peer, vsPeer)
	}
	tw.Flush()
	fmt.Fprintln(w)
	if sc := rep.Scale; sc != nil {
		fmt.Fprintf(w, "seeded %d clients, %d connections, %d families (and a refresh token and an access-token row each) in %v:\n",
			sc.Seeded.Clients, sc.Seeded.Connections, sc.Seeded.Families, sc.SeedTime.Round(time.Second))
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "flow\tconns\treq/s\t× empty\tp50 ms\tp99 ms\terrors\tCPU ms/token\t")
		for i, r := range sc.Results {
			fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.2f\t%s\t%s\t%d\t%.3f\t\n", r.Flow, r.Conns, r.PerSecond,
				r.PerSecond/rep.Results[i].PerSecond, ms(r.P50), ms(r.P99), len(r.Errors), r.CPUPerToken)
		}
		tw.Flush()
		fmt.Fprintln(w)
	}
	if p := rep.Purge; p != nil {
		fmt.Fprintf(w, "the janitor purging %d expired access-token rows (seeded in %v), client credentials opaque at %d/s, %d connections:\n",
			p.Rows, p.SeedTime.Round(time.Second), purgeRate, purgeConns)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "run\tseconds\treq/s\tp50 ms\tp99 ms\tmax ms\terrors\t")
		for _, r := range []result{p.Idle, p.Purge} {
			fmt.Fprintf(tw, "%s\t%.1f\t%.0f\t%s\t%s\t%s\t%d\t\n", r.Flow, float64(r.OK)/max(r.PerSecond, 1), r.PerSecond,
				ms(r.P50), ms(r.P99), ms(r.Max), len(r.Errors))
		}
		tw.Flush()
		left := "none left"
		if p.Left {
			left = "rows LEFT at the bound"
		}
		fmt.Fprintf(w, "purged in %v from ready (%s)\n\n", p.Took.Round(100*time.Millisecond), left)
	}
	for _, t := range rep.Targets {
		fmt.Fprintf(w, "%-4s %s: %s\n", t.Verdict, t.Name, t.Detail)
	}
}
