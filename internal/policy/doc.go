// Package policy is grantd's commercial policy: the rules the token
// pipeline runs after client authentication (Policy, an oauth.Policy), the
// brute-force protection of client authentication (Guard, an
// oauth.AuthGuard), and per-address limits on the open endpoints
// (AddressLimits). Each rule refuses with its own oauth.Error Reason, which
// every dialect maps to its shape; this package writes no HTTP.
//
// # The rules of Policy.Check
//
// In this order; the first that refuses answers, and the rules after it do
// not run:
//
//  1. state, every action (token grants, ActionAuthorize,
//     ActionConnectSession): a client that is not active (suspended,
//     pending) gets 409 unauthorized_client, ReasonClientState
//     (oauth.ClientStateError).
//
// Authorization requests and connect sessions stop here: the tiers are
// for tokens, and those endpoints are limited per address (AddressLimits).
// Token requests (Action = the grant type) go on:
//
//  2. hours: a client with OperatingHours gets tokens only while they are
//     open; outside them 503 temporarily_unavailable, ReasonOutsideHours,
//     with Retry-After until the next opening (none when none comes within
//     a year). A data provider's hours are the core's to check.
//  3. rate: one request of the client, keyed by client id, against its
//     tier (Client.Tier; "" or a tier that is not configured: the default
//     tier, with one warning per unknown name). Over it: 429
//     rate_limit_exceeded, ReasonRateLimited, with Retry-After and the
//     window (Error.RateLimit).
//  4. balance: a metered client whose balance is zero or less, or lower
//     than the grant's cost (Options.GrantCosts; default 0), gets 402
//     insufficient_balance, ReasonInsufficientFunds, and is charged
//     nothing. The check reads the balance the pipeline loaded; the charge
//     itself (PolicyResult.Cost) is made in the transaction that issues,
//     which refuses the request if the credits went meanwhile.
//
// An allowed token request gets PolicyResult.RateLimit, the window after
// it (for RateLimit-Limit, -Remaining and -Reset; nil for a tier that
// limits nothing, or while a failing limiter is let through), and Cost,
// the grant's cost for a metered client and 0 for any other.
//
// What takes rate: every token request that passes rules 1 and 2 takes one
// request from its tier, including one the balance rule refuses (its 402
// shows the window) and one the grant refuses later (a wrong code, a grant
// the client may not use): it arrived and was worked on. Requests refused
// by state or hours take nothing.
//
// # Tiers and the limiter
//
// A Tier is a rate with a burst (PerSecond, Burst) and a rolling daily
// quota (PerDay); 0 leaves a dimension unlimited. The built-in tiers are
// free (5/s, burst 10, 1,000/day), pro (50/s, burst 100, 100,000/day) and
// enterprise (500/s, burst 1,000, no daily quota); Options.Tiers adds
// tiers or overrides these, and Options.DefaultTier (default free) is the
// tier of a client with none.
//
// Both windows are GCRA cells (the generic cell rate algorithm): a cell
// stores the theoretical arrival time of the next request and allows one
// at most Burst intervals early. The day window is a cell of PerDay
// requests refilled one every 24h/PerDay: a rolling day, with no reset at
// midnight and no time zone. A Limiter checks both windows in one atomic
// step; a request refused by either takes nothing from either. The
// decision shows the window closer to exhaustion (allowed) or the one that
// refused (refused). A cell's state is a time, not a count, so a client
// moved to another tier is judged by the new tier at once.
//
// MemoryLimiter keeps the cells in process, bounded (a rested cell is
// forgotten, as a rested cell and an unknown key allow the same; at
// maxKeys the cell that rests first of a sample of eight is evicted).
// Without Redis every instance has its own limits: n instances allow n
// times a tier.
//
// # The guard
//
// Failed client authentications are counted per source address (an IPv4
// address or an IPv6 /64: AddressKey), per client id, and per pair of
// the two. With the defaults (GuardOptions):
//
//   - an address is slowed from 5 failures (each attempt waits 250 ms per
//     failure from the fifth, at most 2 s, ending early when the request's
//     context ends) and refused from 10: 429 rate_limit_exceeded,
//     ReasonTooManyAttempts, for 1 minute, then, for each failure after a
//     block has ended, a block twice as long, up to 1 hour;
//   - a client id is slowed from 50 failures and blocked from 100 in the
//     same way, but only for the addresses that have failed for it since
//     their last success: an attacker, even spread over many addresses,
//     cannot lock a legitimate client out of the addresses it uses. The
//     trade-off: once a client is blocked, an address of its own that
//     fails for it (a mistyped or rotated secret) is held back with the
//     attacker's, until the block ends; and an attacker gets one more
//     guess from every address that has not yet failed for the client
//     (the per-address limits bound each address).
//   - a count is forgotten 15 minutes after its last failure, or after its
//     last block has ended, blocks and their doubling included. A refused
//     attempt is not a failure (its secret is not checked), so retrying
//     during a block does not lengthen it.
//   - a success clears the pair only: the address's own count stays, so
//     that one valid credential does not let an attacker reset its address
//     between guesses at other clients.
//
// # Address limits
//
// AddressLimits limits requests per source address on the open endpoints,
// keyed by route and AddressKey: register 10/min with a burst of 10 and
// 500/day, authorize and connect_sessions 60/min with a burst of 30
// (DefaultAddressTiers; configurable per route). Over the limit: 429
// rate_limit_exceeded, ReasonRateLimited, with Retry-After.
//
// # Counters and logs
//
// Every refusal is counted by rule in one Counters (state, hours, rate,
// balance, brute_force, address; limiter_error counts limiter failures
// whether they refused or not), which Snapshot reads for a metrics
// endpoint, and logged at Info with its rule, reason, status and the client
// id or address; nothing secret is logged.
//
// # Redis
//
// With RedisLimiter and RedisAttempts every instance on one Redis shares
// the tiers' windows, the address limits and the guard's counts, with the
// same semantics as in process (one test suite runs both). Each check is
// one Lua script (EVALSHA, falling back once to EVAL after a script
// flush), one round trip, atomic in Redis; a refused request writes
// nothing. Keys are hashes under a prefix with a TTL until they rest (plus
// a second): the TTL only collects garbage. Times are the caller's clock
// in microseconds, not Redis's TIME: the same code runs on a fake clock in
// tests, and the instances' clocks must agree (NTP; a skew of s gives a key
// about s worth of its rate, more or less). In a Redis Cluster give
// RedisAttempts a prefix with a hash tag, so that its three keys share a
// slot.
//
// When Redis is unreachable (OpenRedis's client gives up within about a
// quarter of a second), by default the policy fails open: token requests
// and the open endpoints go through with no RateLimit window and the guard
// lets authentication be checked without protection; each failure is
// counted (limiter_error) and logged as a warning with its cause, at most
// once every 10 s with the number not logged. With FailClosed they are
// refused instead with 503 temporarily_unavailable and Retry-After 5 s
// (LimiterRetryAfter). A failure to record a failed authentication, or
// a success, is logged and counted the same way. Redis's state is soft:
// lost keys rest every window and forget every count.
package policy
