package policy

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
)

// Tier is a rate limit: a rate with a burst, and a quota per day. A zero
// PerSecond or PerDay leaves that dimension unlimited; a tier with both zero
// limits nothing.
type Tier struct {
	// PerSecond is the sustained rate: one request every 1/PerSecond s.
	PerSecond float64 `json:"per_second" yaml:"per_second"`
	// Burst is how many requests may come at once from a rested key; 0 =
	// one second's worth (PerSecond rounded up, at least 1). Only with
	// PerSecond.
	Burst int64 `json:"burst" yaml:"burst"`
	// PerDay is a rolling day's quota: PerDay requests at once from a
	// rested key, refilled continuously (one every 24h/PerDay), with no
	// reset at midnight.
	PerDay int64 `json:"per_day" yaml:"per_day"`
}

// The built-in tiers: they work with no configuration, and configuration may
// override them or add others (Options.Tiers).
const (
	TierFree       = "free"
	TierPro        = "pro"
	TierEnterprise = "enterprise"
)

// BuiltinTiers returns the built-in tiers:
//
//	free        5/s, burst 10,    1,000/day
//	pro        50/s, burst 100, 100,000/day
//	enterprise 500/s, burst 1,000, no daily quota
//
// free is low enough that a test meets it in eleven requests.
func BuiltinTiers() map[string]Tier {
	return map[string]Tier{
		TierFree:       {PerSecond: 5, Burst: 10, PerDay: 1000},
		TierPro:        {PerSecond: 50, Burst: 100, PerDay: 100_000},
		TierEnterprise: {PerSecond: 500, Burst: 1000},
	}
}

// Unlimited reports whether the tier limits nothing.
func (t Tier) Unlimited() bool { return t.PerSecond == 0 && t.PerDay == 0 }

// Validate lists every problem of t at once; nil when it is valid.
func (t Tier) Validate() error {
	var errs []error
	if t.PerSecond < 0 || math.IsNaN(t.PerSecond) || math.IsInf(t.PerSecond, 0) {
		errs = append(errs, fmt.Errorf("per_second %v: must be a finite number >= 0", t.PerSecond))
	}
	if t.Burst < 0 {
		errs = append(errs, fmt.Errorf("burst %d: must be >= 0", t.Burst))
	}
	if t.Burst > 0 && t.PerSecond == 0 {
		errs = append(errs, errors.New("burst without per_second: a burst belongs to a rate"))
	}
	if t.PerSecond > 0 && float64(max(1, t.Burst))/t.PerSecond > maxBurstSeconds {
		errs = append(errs, fmt.Errorf("burst %d at per_second %v: a burst may span at most %g s", t.Burst, t.PerSecond, maxBurstSeconds))
	}
	if t.PerDay < 0 || t.PerDay > maxPerDay {
		errs = append(errs, fmt.Errorf("per_day %d: must be between 0 and %d", t.PerDay, int64(maxPerDay)))
	}
	return errors.Join(errs...)
}

// MergeTiers returns the built-in tiers with extra added or overriding them
// by name, and every problem of extra at once.
func MergeTiers(extra map[string]Tier) (map[string]Tier, error) {
	all := BuiltinTiers()
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(extra)) {
		t := extra[name]
		if name == "" {
			errs = append(errs, errors.New("tier with an empty name"))
		}
		errs = append(errs, within(fmt.Sprintf("tier %q", name), t.Validate())...)
		all[name] = t
	}
	return all, errors.Join(errs...)
}

// within names where each of the problems err joins is: one line per
// problem, each with its place.
func within(place string, err error) []error {
	if err == nil {
		return nil
	}
	errs := []error{err}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	}
	out := make([]error, len(errs))
	for i, e := range errs {
		out[i] = fmt.Errorf("%s: %w", place, e)
	}
	return out
}

// Bounds that keep every window's times (µs) exact in Redis's Lua, whose
// numbers are doubles (exact to 2^53).
const (
	maxBurstSeconds = 1e9
	maxPerDay       = 1e12
)

// windows are a tier's two GCRA cells, in microseconds.
func (t Tier) windows() (rate, day window) {
	if t.PerSecond > 0 {
		b := t.Burst
		if b <= 0 {
			b = max(1, int64(math.Ceil(t.PerSecond)))
		}
		rate = window{t: interval(1e6 / t.PerSecond), b: b}
	}
	if t.PerDay > 0 {
		day = window{t: interval(86_400e6 / float64(t.PerDay)), b: t.PerDay}
	}
	return rate, day
}

// interval rounds an emission interval to whole microseconds, at least 1.
func interval(us float64) int64 { return max(1, int64(math.Round(us))) }
