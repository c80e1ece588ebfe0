package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/oauth/assertion"
	"github.com/grantd/grantd/internal/policy/redistest"
	"github.com/grantd/grantd/internal/singleuse"
	"github.com/grantd/grantd/internal/store"
	"github.com/grantd/grantd/internal/testenv"
)

// TestReplayAcrossInstances: two grantd instances on one PostgreSQL
// database share the single-use records: one DPoP proof (RFC 9449 §11.1)
// and one client assertion's jti (RFC 7523 §3) sent to both at once issue
// one token between them, the other answer a refusal; made with golang-jwt.
// Once with the records in the store, once in a Redis both share
// (replay_cache: redis, each instance with its own client), where no
// record is written to the store.
func TestReplayAcrossInstances(t *testing.T) {
	t.Run("store", func(t *testing.T) {
		ins := startInstances(t, 2)
		replayAcross(t, ins)
		if n := countProofs(t, ins[0]); n != 10 {
			t.Errorf("%d single-use records in the store, want 10", n)
		}
	})
	t.Run("redis", func(t *testing.T) {
		rc := redistest.Client(t)
		prefix := redistest.Prefix(t, rc)
		ins := startInstancesOpts(t, 2, instanceOptions{replays: func(int) oauth.SingleUse {
			return singleuse.NewRedis(redistest.Client(t), prefix)
		}})
		replayAcross(t, ins)
		if n := countProofs(t, ins[0]); n != 0 {
			t.Errorf("%d single-use records in the store, want none (Redis keeps them)", n)
		}
		keys, err := rc.Keys(context.Background(), prefix+"*").Result()
		if err != nil || len(keys) != 10 {
			t.Errorf("%d records in Redis (%v), want 10", len(keys), err)
		}
	})
}

// countProofs counts the single-use records in in's store.
func countProofs(t *testing.T, in *instance) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, in.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM dpop_proofs`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// replayAcross sends each of five DPoP proofs and five client assertions
// to both instances at once: each issues once.
func replayAcross(t *testing.T, ins []*instance) {
	ctx := context.Background()
	const issuer = "https://auth.example.test"
	k := testenv.NewDPoPKey(t, "ES256")
	base := store.Client{Name: "Replay app", GrantTypes: []string{oauth.GrantClientCredentials}, Scopes: []string{"accounts"},
		Environment: "sandbox", State: store.ClientActive, TokenFormat: store.TokenFormatJWT, CreatedAt: time.Now(), UpdatedAt: time.Now()}
	secret := oauth.PrefixClientSecret + oauth.RandomToken(32)
	bearer := base
	bearer.ID, bearer.SecretHash, bearer.AuthMethod = uuid.NewString(), store.Hash(secret), store.AuthMethodBasic
	keyed := base
	keyed.ID, keyed.AuthMethod = uuid.NewString(), store.AuthMethodPrivateKeyJWT
	keyed.Security.JWKS = testenv.JWKSet(t, k.JWKWith(map[string]any{"kid": "r1"}))
	for _, c := range []store.Client{bearer, keyed} {
		if err := ins[0].store.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}

	// Both instances at once, the same request.
	both := func(send func(in *instance) answer) []answer {
		var wg sync.WaitGroup
		out := make([]answer, len(ins))
		for i, in := range ins {
			wg.Go(func() { out[i] = send(in) })
		}
		wg.Wait()
		return out
	}
	tally := func(what string, as []answer, refusal string) {
		t.Helper()
		ok, refused := 0, 0
		for _, a := range as {
			switch {
			case a.status == http.StatusOK:
				ok++
			case a.str("error") == refusal:
				refused++
			default:
				t.Errorf("%s: %d %v", what, a.status, a.body)
			}
		}
		if ok != 1 || refused != 1 {
			t.Errorf("%s at two instances: %d issued, %d refused with %s; want 1 and 1", what, ok, refused, refusal)
		}
	}
	for range 5 {
		proof := k.Proof(t, http.MethodPost, issuer+"/oauth/token", testenv.ProofOpts{})
		tally("one DPoP proof", both(func(in *instance) answer {
			return in.postWith(t, "/oauth/token", url.Values{"grant_type": {"client_credentials"}}, bearer.ID, secret, "DPoP", proof)
		}), oauth.ErrCodeInvalidDPoPProof)

		a := k.Assertion(t, keyed.ID, issuer, time.Now(), testenv.AssertionOpts{KID: "r1"})
		tally("one client assertion", both(func(in *instance) answer {
			return in.postWith(t, "/oauth/token", url.Values{"grant_type": {"client_credentials"},
				"client_assertion_type": {assertion.Type}, "client_assertion": {a}}, "", "")
		}), oauth.ErrCodeInvalidClient)
	}
}

// postWith is post with more headers (name, value pairs).
func (in *instance) postWith(t *testing.T, path string, form url.Values, id, secret string, header ...string) answer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, in.url+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if id != "" {
		req.SetBasicAuth(url.QueryEscape(id), url.QueryEscape(secret))
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	a := answer{status: resp.StatusCode}
	_ = json.NewDecoder(resp.Body).Decode(&a.body)
	return a
}
