package policy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/grantd/grantd/internal/oauth"
)

// Lockout is one dimension of brute-force protection (the source address,
// or the client id): how many failed authentications slow it down, how many
// refuse it, for how long, and when its count is forgotten.
type Lockout struct {
	// SlowAfter failures (within Window) delay each further attempt.
	SlowAfter int64 `json:"slow_after" yaml:"slow_after"`
	// BlockAfter failures refuse attempts for Block; every failure after
	// a block has ended doubles the next block, up to MaxBlock.
	BlockAfter int64         `json:"block_after" yaml:"block_after"`
	Block      time.Duration `json:"block" yaml:"block"`
	MaxBlock   time.Duration `json:"max_block" yaml:"max_block"`
	// Window: a count with no failure for Window after its last failure,
	// or after its last block has ended, is forgotten (blocks included).
	Window time.Duration `json:"window" yaml:"window"`
}

// Defaults of GuardOptions. The per-client thresholds are ten times the
// per-address ones: an attacker is slowed and refused by its address long
// before a client's count matters, and a client's count only ever holds
// back the addresses that failed for it.
var (
	DefaultAddressLockout = Lockout{SlowAfter: 5, BlockAfter: 10, Block: time.Minute, MaxBlock: time.Hour, Window: 15 * time.Minute}
	DefaultClientLockout  = Lockout{SlowAfter: 50, BlockAfter: 100, Block: time.Minute, MaxBlock: time.Hour, Window: 15 * time.Minute}
)

// Defaults of the slowdown: each failure at or past SlowAfter adds
// DefaultDelay to an attempt's wait, up to DefaultMaxDelay.
const (
	DefaultDelay    = 250 * time.Millisecond
	DefaultMaxDelay = 2 * time.Second
)

func (l Lockout) withDefaults(d Lockout) Lockout {
	if l.SlowAfter == 0 {
		l.SlowAfter = d.SlowAfter
	}
	if l.BlockAfter == 0 {
		l.BlockAfter = d.BlockAfter
	}
	if l.Block == 0 {
		l.Block = d.Block
	}
	if l.MaxBlock == 0 {
		l.MaxBlock = d.MaxBlock
	}
	if l.Window == 0 {
		l.Window = d.Window
	}
	return l
}

// Validate lists every problem of l at once; nil when it is valid.
func (l Lockout) Validate() error {
	var errs []error
	if l.SlowAfter < 1 || l.BlockAfter < 1 {
		errs = append(errs, fmt.Errorf("slow_after %d and block_after %d: must be >= 1", l.SlowAfter, l.BlockAfter))
	}
	if l.SlowAfter > l.BlockAfter {
		errs = append(errs, fmt.Errorf("slow_after %d: must be <= block_after %d", l.SlowAfter, l.BlockAfter))
	}
	if l.Block < time.Second || l.MaxBlock < l.Block {
		errs = append(errs, fmt.Errorf("block %v and max_block %v: need 1s <= block <= max_block", l.Block, l.MaxBlock))
	}
	if l.Window < time.Second {
		errs = append(errs, fmt.Errorf("window %v: must be >= 1s", l.Window))
	}
	return errors.Join(errs...)
}

// lockout is a Lockout in microseconds, as the stores use it.
type lockout struct{ blockAfter, block, maxBlock, window int64 }

func (l Lockout) micros() lockout {
	return lockout{blockAfter: l.BlockAfter, block: l.Block.Microseconds(), maxBlock: l.MaxBlock.Microseconds(), window: l.Window.Microseconds()}
}

// record is the state of one counted key (µs): its failures, how many
// blocks it has had, until when it is blocked, and when it is forgotten.
// A pair key (a client and an address) uses expires alone.
type record struct {
	failures, strikes, blockedUntil, expires int64
}

// fail counts one failure at now of a key whose record is r (zero when
// absent or forgotten). A failure while the key is blocked (a request that
// was already under way) counts but does not lengthen the block.
// guard_fail.lua's fail is the same function.
func (l lockout) fail(r record, now int64) record {
	r.failures++
	if r.blockedUntil <= now && r.failures >= l.blockAfter {
		r.strikes++
		d := l.block
		for i := int64(1); i < r.strikes && d < l.maxBlock; i++ {
			d *= 2
		}
		r.blockedUntil = now + min(d, l.maxBlock)
	}
	r.expires = max(now, r.blockedUntil) + l.window
	return r
}

func (r record) count() Count {
	c := Count{Failures: r.failures}
	if r.blockedUntil > 0 {
		c.BlockedUntil = time.UnixMicro(r.blockedUntil)
	}
	return c
}

// Attempts keeps the guard's counts of failed authentications: per address,
// per client id, and per (client, address) pair. MemoryAttempts and
// RedisAttempts have the same semantics; both run on the caller's clock.
type Attempts interface {
	// Standing reads, in one step, the counts an attempt of the client
	// from the address is judged by.
	Standing(ctx context.Context, clientID, address string, now time.Time) (Standing, error)
	// Fail counts one failed authentication of the client from the
	// address, in both dimensions and the pair, in one atomic step.
	Fail(ctx context.Context, clientID, address string, now time.Time, addr, client Lockout) error
	// Clear forgets the pair's failures: the address authenticated as the
	// client.
	Clear(ctx context.Context, clientID, address string) error
}

// Standing is what Attempts knows of one attempt.
type Standing struct {
	Address, Client Count
	// Failed: this address failed to authenticate as this client since
	// the last success, within the client's window.
	Failed bool
}

// Count is one dimension's count: the failures it has not forgotten, and
// until when it is blocked (zero: never was).
type Count struct {
	Failures     int64
	BlockedUntil time.Time
}

// attemptKeys are the store keys of one attempt.
type attemptKeys struct{ address, client, pair string }

// keysOf names the keys of an attempt; the pair key carries the client
// id's length, so that no client id and address run into another pair's.
func keysOf(clientID, address string) attemptKeys {
	return attemptKeys{
		address: "a:" + address,
		client:  "c:" + clientID,
		pair:    "p:" + strconv.Itoa(len(clientID)) + ":" + clientID + address,
	}
}

// GuardOptions configure a Guard; zero fields take the defaults.
type GuardOptions struct {
	Address Lockout // DefaultAddressLockout
	Client  Lockout // DefaultClientLockout
	// Delay is added to an attempt's wait for each failure at or past
	// SlowAfter; the wait is at most MaxDelay.
	Delay, MaxDelay time.Duration
	// Attempts keeps the counts; nil = NewMemoryAttempts(0). A
	// RedisAttempts shares them between instances.
	Attempts Attempts
	// FailClosed refuses authentication (503) while Attempts fails; by
	// default the guard lets it through (fail open) and logs a warning.
	FailClosed bool
	Now        func() time.Time
	// Sleep waits d or until ctx is done; nil = a timer.
	Sleep    func(ctx context.Context, d time.Duration) error
	Counters *Counters
	Logger   *slog.Logger
}

// Guard is oauth.AuthGuard: brute-force protection of client
// authentication. See the package documentation for its rules.
type Guard struct {
	o   GuardOptions
	rec *recorder
}

var _ oauth.AuthGuard = (*Guard)(nil)

// NewGuard returns a guard, or every problem of o at once.
func NewGuard(o GuardOptions) (*Guard, error) {
	o.Address = o.Address.withDefaults(DefaultAddressLockout)
	o.Client = o.Client.withDefaults(DefaultClientLockout)
	if o.Delay == 0 {
		o.Delay = DefaultDelay
	}
	if o.MaxDelay == 0 {
		o.MaxDelay = DefaultMaxDelay
	}
	errs := slices.Concat(within("address lockout", o.Address.Validate()), within("client lockout", o.Client.Validate()))
	if o.Delay < 0 || o.MaxDelay < o.Delay {
		errs = append(errs, fmt.Errorf("delay %v and max_delay %v: need 0 <= delay <= max_delay", o.Delay, o.MaxDelay))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("policy: guard: %w", err)
	}
	if o.Attempts == nil {
		o.Attempts = NewMemoryAttempts(0)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Sleep == nil {
		o.Sleep = sleep
	}
	return &Guard{o: o, rec: newRecorder(o.Counters, o.Logger, o.FailClosed)}, nil
}

// Allow implements oauth.AuthGuard: it refuses an attempt from a blocked
// address, or from an address that failed for a blocked client, with 429
// and Retry-After until the block ends; it delays an attempt past
// SlowAfter failures (a request that ends while it waits gets 429 with
// Retry-After the delay).
func (g *Guard) Allow(ctx context.Context, clientID, address string) error {
	_, err := g.allow(ctx, clientID, address)
	return err
}

// Attempt implements oauth.AuthGuard: Allow, and an attempt that Failed or
// Succeeded is told of. A success clears the pair only when its standing
// showed failures, so that a client's ordinary authentication costs one
// read of the counts (one Redis round trip), not two.
func (g *Guard) Attempt(ctx context.Context, clientID, address string) (oauth.AuthAttempt, error) {
	pairFailed, err := g.allow(ctx, clientID, address)
	if err != nil {
		return nil, err
	}
	return attempt{g: g, clientID: clientID, address: address, pairFailed: pairFailed}, nil
}

type attempt struct {
	g                 *Guard
	clientID, address string
	pairFailed        bool // the pair had failures
}

func (a attempt) Failed(ctx context.Context) { a.g.Failed(ctx, a.clientID, a.address) }

func (a attempt) Succeeded(ctx context.Context) {
	if a.pairFailed {
		a.g.Succeeded(ctx, a.clientID, a.address)
	}
}

// allow is Allow, and whether the pair had failures.
func (g *Guard) allow(ctx context.Context, clientID, address string) (pairFailed bool, _ error) {
	now := g.o.Now()
	s, err := g.o.Attempts.Standing(ctx, clientID, AddressKey(address), now)
	if err != nil {
		// Unknown standing: nothing to clear on success (a dead store
		// would cost that request a second timeout).
		return false, g.rec.storeFailed(ctx, now, err, slog.String("client_id", clientID))
	}
	pairFailed = s.Failed
	wait := s.Address.BlockedUntil.Sub(now)
	if s.Failed {
		wait = max(wait, s.Client.BlockedUntil.Sub(now))
	}
	if wait > 0 {
		e := oauth.TooManyAttempts(wait)
		g.rec.refused(ctx, RuleBruteForce, e, slog.String("client_id", clientID), slog.String("address", address))
		return pairFailed, e
	}
	over := s.Address.Failures - g.o.Address.SlowAfter + 1
	if s.Failed {
		over = max(over, s.Client.Failures-g.o.Client.SlowAfter+1)
	}
	if over <= 0 {
		return pairFailed, nil
	}
	d := min(g.o.MaxDelay, time.Duration(over)*g.o.Delay)
	if err := g.o.Sleep(ctx, d); err != nil {
		// The request ended while it waited (its client hung up): a 429,
		// not a server error, if anyone still reads the answer.
		return pairFailed, oauth.TooManyAttempts(d).WithCause(err)
	}
	return pairFailed, nil
}

// Failed implements oauth.AuthGuard: it counts the failure for the address,
// the client and the pair, even when the request's context has ended (a
// guesser that hangs up is still counted).
func (g *Guard) Failed(ctx context.Context, clientID, address string) {
	now := g.o.Now()
	ctx = context.WithoutCancel(ctx)
	if err := g.o.Attempts.Fail(ctx, clientID, AddressKey(address), now, g.o.Address, g.o.Client); err != nil {
		_ = g.rec.storeFailed(ctx, now, err, slog.String("client_id", clientID))
	}
}

// Succeeded implements oauth.AuthGuard: it forgets the pair's failures, so
// that a block of the client no longer holds this address back. The
// address's and the client's counts stay: one valid credential must not
// let an attacker reset its address between guesses at other clients.
func (g *Guard) Succeeded(ctx context.Context, clientID, address string) {
	if err := g.o.Attempts.Clear(ctx, clientID, AddressKey(address)); err != nil {
		_ = g.rec.storeFailed(ctx, g.o.Now(), err, slog.String("client_id", clientID))
	}
}

// AddressKey is the unit a source address is counted and limited by: an
// IPv4 address, or the /64 of an IPv6 address (one host commonly holds a
// whole /64), without a port; anything that is not an address counts as
// itself.
func AddressKey(address string) string {
	a, err := netip.ParseAddr(address)
	if ap, perr := netip.ParseAddrPort(address); perr == nil {
		a, err = ap.Addr(), nil
	}
	if err != nil {
		return address
	}
	if a = a.Unmap(); a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

// sleep waits d, or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
