package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// admin is grantd's admin API, for the bench's set-up.
type admin struct {
	url, token string
	c          *http.Client
}

// call sends a JSON request to the admin API and decodes the answer into
// out, failing on any status other than want.
func (a *admin) call(ctx context.Context, method, path string, body any, want int, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, method, a.url+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.c.Do(req)
	if err != nil {
		return err
	}
	defer drain(resp)
	if resp.StatusCode != want {
		var e map[string]any
		json.NewDecoder(resp.Body).Decode(&e)
		return fmt.Errorf("%s %s: %d %v", method, path, resp.StatusCode, e)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(resp.Body).Decode(out)
}

// profile writes a CPU profile of d (whole seconds, at least one) to path.
func (a *admin) profile(ctx context.Context, path string, d time.Duration) error {
	secs := max(int(d/time.Second), 1)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/admin/debug/pprof/profile?seconds=%d", a.url, secs), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+a.token)
	resp, err := (&http.Client{Timeout: d + time.Minute}).Do(req)
	if err != nil {
		return err
	}
	defer drain(resp)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("CPU profile: %d", resp.StatusCode)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// client is a registered client and its secret.
type client struct {
	ID     string `json:"client_id"`
	Secret string `json:"client_secret"`
}

// createClient registers a client with fields (the admin API's names).
func (a *admin) createClient(ctx context.Context, fields map[string]any) (client, error) {
	var c client
	err := a.call(ctx, http.MethodPost, "/admin/clients", fields, http.StatusCreated, &c)
	return c, err
}

// The redirect and consent URLs of the bench's code-flow clients: never
// fetched, only parsed.
const (
	benchRedirect = "http://127.0.0.1:9/cb"
	benchConsent  = "http://127.0.0.1:9/consent"
)

// form posts v to url with client c's Basic credentials (RFC 6749 §2.3.1)
// and reports the status; into, when given, gets the JSON answer.
func form(ctx context.Context, h *http.Client, url string, c client, v url.Values, into any) (int, error) {
	return post(ctx, h, url, c, v, nil, into)
}

// formWith is form with more request headers, and no answer read.
func formWith(ctx context.Context, h *http.Client, url string, c client, v url.Values, header http.Header) (int, error) {
	return post(ctx, h, url, c, v, header, nil)
}

func post(ctx context.Context, h *http.Client, url string, c client, v url.Values, header http.Header, into any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(v.Encode()))
	if err != nil {
		return 0, err
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(c.ID, c.Secret)
	resp, err := h.Do(req)
	if err != nil {
		return 0, err
	}
	defer drain(resp)
	if into != nil && resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
			return 0, err
		}
	}
	return resp.StatusCode, nil
}

// tokens is a token endpoint's answer, as far as the bench reads it.
type tokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

var noRedirect = &http.Client{Timeout: 30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// mintCode runs the authorization request of client c and accepts it
// through the admin API, as an external consent app does, and returns the
// code and its PKCE verifier.
func (a *admin) mintCode(ctx context.Context, base string, c client) (code, verifier string, err error) {
	return a.mint(ctx, base, c, "code", true)
}

// mint is mintCode for a response type (code or temp_token), with PKCE or
// without (verifier ""): the temp-token and payroll wires have no
// code_verifier field.
func (a *admin) mint(ctx context.Context, base string, c client, responseType string, pkce bool) (code, verifier string, err error) {
	q := url.Values{"response_type": {responseType}, "client_id": {c.ID}, "redirect_uri": {benchRedirect},
		"scope": {"accounts"}, "state": {randomString(8)}}
	if pkce {
		verifier = randomString(32)
		sum := sha256.Sum256([]byte(verifier))
		q.Set("code_challenge", base64.RawURLEncoding.EncodeToString(sum[:]))
		q.Set("code_challenge_method", "S256")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/oauth/authorize?"+q.Encode(), nil)
	if err != nil {
		return "", "", err
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		return "", "", err
	}
	drain(resp)
	loc, err := url.Parse(resp.Header.Get("Location"))
	challenge := ""
	if err == nil {
		challenge = loc.Query().Get("challenge")
	}
	if challenge == "" {
		return "", "", fmt.Errorf("authorize: %d, Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	var accepted struct {
		RedirectTo string `json:"redirect_to"`
	}
	if err := a.call(ctx, http.MethodPost, "/admin/authorizations/"+url.PathEscape(challenge)+"/accept",
		map[string]any{"subject": "bench-user"}, http.StatusOK, &accepted); err != nil {
		return "", "", err
	}
	to, err := url.Parse(accepted.RedirectTo)
	if err != nil || to.Query().Get(responseType) == "" {
		return "", "", fmt.Errorf("accept: redirect %q", accepted.RedirectTo)
	}
	return to.Query().Get(responseType), verifier, nil
}

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// flow is one kind of request the bench measures.
type flow struct {
	name   string
	format string // jwt or opaque: the kind of token answered
	alg    string // the signing algorithm of its JWTs, "" for opaque
	// floor is the floor server's handler that does what this flow's
	// answer needs beyond HTTP: "sign/<alg>" or "plain".
	floor string
	// prepare registers what the flow needs and returns its workers.
	prepare func(ctx context.Context, g *grantdTarget, conns int) (func(i int) (request, error), error)
}

// grantdTarget is a running grantd the flows talk to.
type grantdTarget struct {
	url   string
	admin *admin
	codes int // how many codes a code-exchange run mints ahead
}

func ccClient(alg, format string) map[string]any {
	f := map[string]any{"name": "bench client_credentials " + format + " " + alg, "grant_types": []string{"client_credentials"},
		"scope": "accounts", "access_token_format": format}
	if alg != "" {
		f["access_token_signing_alg"] = alg
	}
	return f
}

func codeClient(format, alg, refresh string) map[string]any {
	f := map[string]any{"name": "bench code " + format + " " + alg + " " + refresh,
		"grant_types": []string{"authorization_code", "refresh_token"}, "redirect_uris": []string{benchRedirect},
		"consent_url": benchConsent, "scope": "accounts", "access_token_format": format, "refresh_policy": refresh}
	if alg != "" {
		f["access_token_signing_alg"] = alg
	}
	return f
}

// clientCredentials is the client_credentials flow of a format and
// algorithm.
func clientCredentials(format, alg string) flow {
	name, floor := "client_credentials "+alg, "sign/"+alg
	if format == "opaque" {
		name, floor = "client_credentials opaque", "plain"
	}
	return flow{name: name, format: format, alg: alg, floor: floor,
		prepare: func(ctx context.Context, g *grantdTarget, conns int) (func(int) (request, error), error) {
			c, err := g.admin.createClient(ctx, ccClient(alg, format))
			if err != nil {
				return nil, err
			}
			v := url.Values{"grant_type": {"client_credentials"}, "scope": {"accounts"}}
			return func(int) (request, error) {
				return func(ctx context.Context, h *http.Client) (int, error) {
					return form(ctx, h, g.url+"/oauth/token", c, v, nil)
				}, nil
			}, nil
		}}
}

// dpopClientCredentials is the client_credentials ES256 flow with a DPoP
// proof (RFC 9449) on each request: grantd checks the proof (one ES256
// verification), records its single use and binds the token to the key.
// Each worker's first proofs (its share of --codes) are made ahead, at
// set-up, with go-jose, so that the bench spends no CPU on them while it
// measures; past its share a worker signs each proof as it sends it, so a
// run of any length goes on (the server's CPU per token is the same; its
// tokens/s then shares the cores with the bench's signing).
func dpopClientCredentials() flow {
	return flow{name: "dpop client_credentials ES256", format: "jwt", alg: "ES256", floor: "sign/ES256",
		prepare: func(ctx context.Context, g *grantdTarget, conns int) (func(int) (request, error), error) {
			c, err := g.admin.createClient(ctx, ccClient("ES256", "jwt"))
			if err != nil {
				return nil, err
			}
			key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				return nil, err
			}
			sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
				(&jose.SignerOptions{EmbedJWK: true}).WithType("dpop+jwt"))
			if err != nil {
				return nil, err
			}
			tokenURL, per := g.url+"/oauth/token", max(g.codes/conns, 1)
			v := url.Values{"grant_type": {"client_credentials"}, "scope": {"accounts"}}
			sign := func() (string, error) {
				claims, _ := json.Marshal(map[string]any{"jti": randomString(16), "htm": http.MethodPost,
					"htu": tokenURL, "iat": time.Now().Unix()})
				jws, err := sig.Sign(claims)
				if err != nil {
					return "", err
				}
				return jws.CompactSerialize()
			}
			return func(int) (request, error) {
				proofs := make([]string, per)
				for j := range proofs {
					var err error
					if proofs[j], err = sign(); err != nil {
						return nil, err
					}
				}
				next := 0
				return func(ctx context.Context, h *http.Client) (int, error) {
					if next < len(proofs) {
						next++
						return formWith(ctx, h, tokenURL, c, v, http.Header{"Dpop": {proofs[next-1]}})
					}
					proof, err := sign() // past the share: signed as sent
					if err != nil {
						return 0, err
					}
					return formWith(ctx, h, tokenURL, c, v, http.Header{"Dpop": {proof}})
				}, nil
			}, nil
		}}
}

// codeExchange exchanges codes minted ahead (authorize, then the admin
// API's accept), with PKCE. A worker that has used its share stops
// sending.
func codeExchange(format, alg string) flow {
	name, floor := "authorization_code "+alg, "sign/"+alg
	if format == "opaque" {
		name, floor = "authorization_code opaque", "plain"
	}
	return flow{name: name, format: format, alg: alg, floor: floor,
		prepare: func(ctx context.Context, g *grantdTarget, conns int) (func(int) (request, error), error) {
			c, err := g.admin.createClient(ctx, codeClient(format, alg, "rotating"))
			if err != nil {
				return nil, err
			}
			return minted(ctx, g, c, conns, "code", true, func(ctx context.Context, h *http.Client, code, verifier string) (int, error) {
				return form(ctx, h, g.url+"/oauth/token", c, url.Values{"grant_type": {"authorization_code"},
					"code": {code}, "redirect_uri": {benchRedirect}, "code_verifier": {verifier}}, nil)
			}), nil
		}}
}

// minted gives each worker its share of g.codes one-time codes of
// responseType, minted ahead for client c, and sends each once with
// exchange. A worker that has used its share stops sending.
func minted(ctx context.Context, g *grantdTarget, c client, conns int, responseType string, pkce bool,
	exchange func(ctx context.Context, h *http.Client, code, verifier string) (int, error)) func(int) (request, error) {
	per := max(g.codes/conns, 1)
	return func(int) (request, error) {
		type one struct{ code, verifier string }
		mine := make([]one, per)
		for j := range mine {
			code, verifier, err := g.admin.mint(ctx, g.url, c, responseType, pkce)
			if err != nil {
				return nil, err
			}
			mine[j] = one{code, verifier}
		}
		return eachOnce(mine, func(ctx context.Context, h *http.Client, p one) (int, error) {
			return exchange(ctx, h, p.code, p.verifier)
		}), nil
	}
}

// eachOnce is a worker's request that sends each of items once, in order,
// with send; then it reports statusOutOfCodes once (counted as an error)
// and waits for the run's end.
func eachOnce[T any](items []T, send func(ctx context.Context, h *http.Client, item T) (int, error)) request {
	var next int
	return func(ctx context.Context, h *http.Client) (int, error) {
		if next == len(items) {
			next++
			return statusOutOfCodes, nil
		}
		if next > len(items) {
			<-ctx.Done()
			return 0, ctx.Err()
		}
		item := items[next]
		next++
		return send(ctx, h, item)
	}
}

// refresh runs refresh_token grants: each worker holds one grant, from a
// code exchanged at set-up, and follows its rotation.
func refresh(format, alg, policy string) flow {
	name, floor := "refresh "+policy+" "+alg, "sign/"+alg
	if format == "opaque" {
		name, floor = "refresh "+policy+" opaque", "plain"
	}
	return flow{name: name, format: format, alg: alg, floor: floor,
		prepare: func(ctx context.Context, g *grantdTarget, conns int) (func(int) (request, error), error) {
			c, err := g.admin.createClient(ctx, codeClient(format, alg, policy))
			if err != nil {
				return nil, err
			}
			return func(int) (request, error) {
				code, verifier, err := g.admin.mintCode(ctx, g.url, c)
				if err != nil {
					return nil, err
				}
				var t tokens
				st, err := form(ctx, g.admin.c, g.url+"/oauth/token", c, url.Values{"grant_type": {"authorization_code"},
					"code": {code}, "redirect_uri": {benchRedirect}, "code_verifier": {verifier}}, &t)
				if err != nil || st != http.StatusOK || t.RefreshToken == "" {
					return nil, fmt.Errorf("code exchange for a refresh token: %d %v", st, err)
				}
				rt := t.RefreshToken
				return func(ctx context.Context, h *http.Client) (int, error) {
					var t tokens
					st, err := form(ctx, h, g.url+"/oauth/token", c, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, &t)
					if st == http.StatusOK && t.RefreshToken != "" {
						rt = t.RefreshToken
					}
					return st, err
				}, nil
			}, nil
		}}
}

// tokenPool mints n tokens of format through client_credentials.
func tokenPool(ctx context.Context, g *grantdTarget, format string, n int) ([]string, error) {
	c, err := g.admin.createClient(ctx, ccClient("", format))
	if err != nil {
		return nil, err
	}
	pool := make([]string, n)
	for i := range pool {
		var t tokens
		st, err := form(ctx, g.admin.c, g.url+"/oauth/token", c, url.Values{"grant_type": {"client_credentials"}}, &t)
		if err != nil || st != http.StatusOK {
			return nil, fmt.Errorf("token for the pool: %d %v", st, err)
		}
		pool[i] = t.AccessToken
	}
	return pool, nil
}

// introspect asks about opaque tokens (one store read each), as a
// resource server does.
func introspect() flow {
	return flow{name: "introspect opaque", format: "opaque", floor: "plain",
		prepare: func(ctx context.Context, g *grantdTarget, conns int) (func(int) (request, error), error) {
			rs, err := g.admin.createClient(ctx, map[string]any{"name": "bench resource server",
				"grant_types": []string{"client_credentials"}, "resource_server": true})
			if err != nil {
				return nil, err
			}
			pool, err := tokenPool(ctx, g, "opaque", 256)
			if err != nil {
				return nil, err
			}
			return func(i int) (request, error) {
				n := i
				return func(ctx context.Context, h *http.Client) (int, error) {
					n++
					return form(ctx, h, g.url+"/oauth/introspect", rs, url.Values{"token": {pool[n%len(pool)]}}, nil)
				}, nil
			}, nil
		}}
}

// revoke revokes opaque access tokens minted ahead; once each was revoked,
// revoking it again answers 200 too (RFC 7009 §2.2).
func revoke() flow {
	return flow{name: "revoke opaque", format: "opaque", floor: "plain",
		prepare: func(ctx context.Context, g *grantdTarget, conns int) (func(int) (request, error), error) {
			c, err := g.admin.createClient(ctx, ccClient("", "opaque"))
			if err != nil {
				return nil, err
			}
			pool := make([]string, 2048)
			for i := range pool {
				var t tokens
				st, err := form(ctx, g.admin.c, g.url+"/oauth/token", c, url.Values{"grant_type": {"client_credentials"}}, &t)
				if err != nil || st != http.StatusOK {
					return nil, fmt.Errorf("token to revoke: %d %v", st, err)
				}
				pool[i] = t.AccessToken
			}
			var next atomic.Int64
			return func(int) (request, error) {
				return func(ctx context.Context, h *http.Client) (int, error) {
					tok := pool[next.Add(1)%int64(len(pool))]
					return form(ctx, h, g.url+"/oauth/revoke", c, url.Values{"token": {tok}, "token_type_hint": {"access_token"}}, nil)
				}, nil
			}, nil
		}}
}

// dialectClientCredentials is client_credentials at a dialect's token
// endpoint, in the request shape its seed documents (docs/dialects.md):
// bankapi's JSON body with the credentials in it, bankdata's JSON body
// with Basic credentials.
func dialectClientCredentials(name, path string, basic bool) flow {
	return flow{name: name + " client_credentials ES256", format: "jwt", alg: "ES256", floor: "sign/ES256",
		prepare: func(ctx context.Context, g *grantdTarget, conns int) (func(int) (request, error), error) {
			c, err := g.admin.createClient(ctx, ccClient("ES256", "jwt"))
			if err != nil {
				return nil, err
			}
			var body []byte
			if basic {
				body, _ = json.Marshal(map[string]string{"grant_type": "client_credentials", "scope": "accounts"})
			} else {
				body, _ = json.Marshal(map[string]string{"client_id": c.ID, "client_secret": c.Secret})
			}
			return func(int) (request, error) {
				return func(ctx context.Context, h *http.Client) (int, error) {
					req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.url+path, bytes.NewReader(body))
					if err != nil {
						return 0, err
					}
					req.Header.Set("Content-Type", "application/json")
					if basic {
						req.SetBasicAuth(c.ID, c.Secret)
					}
					resp, err := h.Do(req)
					if err != nil {
						return 0, err
					}
					drain(resp)
					return resp.StatusCode, nil
				}, nil
			}, nil
		}}
}

// dialectCodeExchange exchanges one-time codes minted ahead, without PKCE
// (neither wire has a code_verifier), at a dialect's endpoint in the JSON
// shape its seed documents: the temp-token dialect's client_id,
// client_secret and temp_token; the payroll dialect's client_id,
// client_secret, code and redirect_uri.
func dialectCodeExchange(name, path, responseType string) flow {
	return flow{name: name + " " + responseType + " ES256", format: "jwt", alg: "ES256", floor: "sign/ES256",
		prepare: func(ctx context.Context, g *grantdTarget, conns int) (func(int) (request, error), error) {
			fields := codeClient("jwt", "ES256", "rotating")
			fields["grant_types"] = []string{"authorization_code"}
			fields["response_types"] = []string{responseType}
			c, err := g.admin.createClient(ctx, fields)
			if err != nil {
				return nil, err
			}
			return minted(ctx, g, c, conns, responseType, false, func(ctx context.Context, h *http.Client, code, _ string) (int, error) {
				body := map[string]string{"client_id": c.ID, "client_secret": c.Secret}
				if responseType == "temp_token" {
					body["temp_token"] = code
				} else {
					body["code"], body["redirect_uri"] = code, benchRedirect
				}
				return postJSON(ctx, h, g.url+path, body)
			}), nil
		}}
}

// postJSON posts body as JSON and returns the answer's status.
func postJSON(ctx context.Context, h *http.Client, u string, body any) (int, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.Do(req)
	if err != nil {
		return 0, err
	}
	drain(resp)
	return resp.StatusCode, nil
}

// allFlows are the flows --all runs, in order.
func allFlows() []flow {
	var fs []flow
	for _, alg := range []string{"RS256", "PS256", "ES256", "EdDSA"} {
		fs = append(fs, clientCredentials("jwt", alg))
	}
	fs = append(fs, dpopClientCredentials(), clientCredentials("opaque", ""),
		codeExchange("opaque", ""), codeExchange("jwt", "ES256"),
		refresh("opaque", "", "rotating"), refresh("opaque", "", "fixed"), refresh("jwt", "ES256", "rotating"),
		refresh("jwt", "RS256", "rotating"),
		introspect(), revoke(),
		dialectClientCredentials("bankapi", "/v1/oauth/token", false),
		dialectClientCredentials("bankdata", "/api/v1/token", true),
		dialectCodeExchange("temptoken", "/v1/tokens", "temp_token"),
		dialectCodeExchange("payroll", "/auth/token", "code"))
	return fs
}

// pickFlows selects flows by name prefix (comma-separated).
func pickFlows(spec string) ([]flow, error) {
	all := allFlows()
	if spec == "" || spec == "all" {
		return all, nil
	}
	var out []flow
	for _, want := range strings.Split(spec, ",") {
		want = strings.TrimSpace(want)
		n := len(out)
		for _, f := range all {
			if strings.HasPrefix(f.name, want) {
				out = append(out, f)
			}
		}
		if len(out) == n {
			return nil, errors.New("no flow named " + want)
		}
	}
	return out, nil
}
