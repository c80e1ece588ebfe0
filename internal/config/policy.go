package config

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/policy"
)

// Policy is the commercial policy (docs/policy.md): tiers and their rate
// limits, grant costs for metered clients, brute-force protection, the
// per-address limits of the open endpoints and the bounds on what anyone
// may leave pending.
type Policy struct {
	// DefaultTier is the tier of a client registered without one, and of a
	// client whose tier is not configured; "" = free.
	DefaultTier string `yaml:"default_tier"`
	// Tiers add tiers to the built-in free, pro and enterprise, or
	// override them by name (config file only).
	Tiers map[string]policy.Tier `yaml:"tiers"`
	// GrantCosts is what each grant type costs a metered client, in
	// credits (config file only); absent = 0.
	GrantCosts map[string]int64 `yaml:"grant_costs"`
	// FailClosed refuses requests (503) while the rate limiter (Redis)
	// fails; by default they go through with a warning (fail open).
	FailClosed bool `yaml:"fail_closed"`
	// AddressLimits override the per-address limits of the open endpoints
	// (register, authorize, connect_sessions; config file only).
	AddressLimits map[string]policy.Tier `yaml:"address_limits"`
	// BruteForce tunes the lockout of failed client authentications per
	// source address and per client (config file only).
	BruteForce BruteForce `yaml:"brute_force"`
	// MaxPendingAuthorizations caps a client's pending authorization
	// requests from one browser address; 0 = no cap.
	MaxPendingAuthorizations int `yaml:"max_pending_authorizations"`
	// MaxPendingConnectSessions caps a client's pending connect sessions;
	// 0 = no cap.
	MaxPendingConnectSessions int `yaml:"max_pending_connect_sessions"`
	// UnusedDynamicClientTTL: a client registered through RFC 7591 that
	// has not obtained a token within it is deleted by the janitor; 0 =
	// never.
	UnusedDynamicClientTTL time.Duration `yaml:"unused_dynamic_client_ttl"`
}

// BruteForce is the lockout per source address and per client; zero fields
// take policy's defaults.
type BruteForce struct {
	Address policy.Lockout `yaml:"address"`
	Client  policy.Lockout `yaml:"client"`
}

// Defaults of the policy settings.
const (
	DefaultMaxPendingAuthorizations  = 100
	DefaultMaxPendingConnectSessions = 10000
	DefaultUnusedDynamicClientTTL    = 30 * 24 * time.Hour
)

// PolicyOptions are the policy settings as internal/policy takes them (the
// limiter, clock, counters and logger are the caller's).
func (c *Config) PolicyOptions() policy.Options {
	return policy.Options{Tiers: c.Policy.Tiers, DefaultTier: c.Policy.DefaultTier, GrantCosts: c.Policy.GrantCosts,
		FailClosed: c.Policy.FailClosed}
}

// GuardOptions are the brute-force settings as internal/policy takes them.
func (c *Config) GuardOptions() policy.GuardOptions {
	return policy.GuardOptions{Address: c.Policy.BruteForce.Address, Client: c.Policy.BruteForce.Client,
		FailClosed: c.Policy.FailClosed}
}

// AddressOptions are the open endpoints' limits as internal/policy takes
// them.
func (c *Config) AddressOptions() policy.AddressOptions {
	return policy.AddressOptions{Tiers: c.Policy.AddressLimits, FailClosed: c.Policy.FailClosed}
}

// TierNames lists every configured tier (built-in and added), sorted.
func (c *Config) TierNames() []string {
	tiers, _ := policy.MergeTiers(c.Policy.Tiers)
	var names []string
	for n := range tiers {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// EffectiveDefaultTier is DefaultTier, or free.
func (c *Config) EffectiveDefaultTier() string {
	if c.Policy.DefaultTier == "" {
		return policy.TierFree
	}
	return c.Policy.DefaultTier
}

// TrustedProxyPrefixes parses TrustedProxies: comma- or space-separated
// CIDRs or single addresses.
func (c *Config) TrustedProxyPrefixes() ([]netip.Prefix, error) {
	return prefixes("trusted_proxies", c.TrustedProxies)
}

// ClientCertProxyPrefixes parses tls.client_cert_proxies, as
// TrustedProxyPrefixes does trusted_proxies.
func (c *Config) ClientCertProxyPrefixes() ([]netip.Prefix, error) {
	return prefixes("tls.client_cert_proxies", c.TLS.ClientCertProxies)
}

// prefixes parses a comma- or space-separated list of CIDRs and addresses.
func prefixes(name, list string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, f := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' }) {
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%s: %q is neither a CIDR nor an address", name, f)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

func (c *Config) validatePolicy(bad func(string, ...any)) {
	if _, err := policy.New(c.PolicyOptions()); err != nil {
		bad("%v", err)
	}
	for g := range c.Policy.GrantCosts {
		switch g {
		case oauth.GrantClientCredentials, oauth.GrantAuthorizationCode, oauth.GrantRefreshToken, oauth.GrantDeviceCode:
		default:
			bad("policy.grant_costs: %q is not a grant type (client_credentials, authorization_code, refresh_token, %s)", g, oauth.GrantDeviceCode)
		}
	}
	if _, err := policy.NewAddressLimits(c.AddressOptions()); err != nil {
		bad("policy.address_limits: %v", err)
	}
	if _, err := policy.NewGuard(c.GuardOptions()); err != nil {
		bad("policy.brute_force: %v", err)
	}
	if c.Policy.MaxPendingAuthorizations < 0 {
		bad("policy.max_pending_authorizations: must be 0 (no cap) or more, got %d", c.Policy.MaxPendingAuthorizations)
	}
	if c.Policy.MaxPendingConnectSessions < 0 {
		bad("policy.max_pending_connect_sessions: must be 0 (no cap) or more, got %d", c.Policy.MaxPendingConnectSessions)
	}
	if c.Policy.UnusedDynamicClientTTL < 0 {
		bad("policy.unused_dynamic_client_ttl: must be 0 (never) or more, got %s", c.Policy.UnusedDynamicClientTTL)
	}
	if _, err := c.TrustedProxyPrefixes(); err != nil {
		bad("%v", err)
	}
	switch strings.ToLower(c.ForwardedHeader) {
	case "x-forwarded-for", "forwarded":
	default:
		bad("forwarded_header: %q is not x-forwarded-for or forwarded", c.ForwardedHeader)
	}
	if c.Redis != "" && !hasScheme(c.Redis, "redis") && !hasScheme(c.Redis, "rediss") && !hasScheme(c.Redis, "unix") {
		bad("redis: want a redis:// or rediss:// URL")
	} else if c.Redis != "" {
		if _, err := policy.OpenRedis(c.Redis); err != nil {
			bad("redis: the URL does not parse (redis://[user:password@]host:6379/db)")
		}
	}
}
