// Package public holds the tests of the public-client profile of grantd's
// standard token endpoint, POST /oauth/token (seed 002_efa512331b3eb0d9.txt):
// OAuth 2.1 for AI agents and CLIs, with token_endpoint_auth_method none,
// PKCE, loopback redirects on any port, RS256 JWT access tokens and rotating
// refresh tokens whose reuse revokes the family; errors are RFC 6749 §5.2
// JSON with 400, 401, 402 (insufficient_balance), 429 (rate_limit_exceeded,
// with Retry-After) and 500.
//
// It has no code of its own: the standard endpoint (internal/server) serves
// this profile as it is, and RFC 7591 registration (POST /oauth/register)
// lets such clients register themselves. The tests check the seed's
// promises field by field; see docs/dialects.md (public).
package public
