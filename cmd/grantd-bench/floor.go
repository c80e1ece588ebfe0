package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/grantd/grantd/internal/signer"
)

// The floors: what a token costs with nothing of grantd in it. A trivial
// HTTP handler answering a token-sized body ("plain"), or signing a JWT of
// grantd's size with the algorithm ("sign/<alg>"), served by this binary
// in a process of its own (grantd-bench floor-server) so that its CPU is
// read as grantd's is; and the raw signature in process.

// newJOSESigner makes a signer of alg over a fresh key, as grantd's
// signer keys are (RSA 2048, P-256, Ed25519), with grantd's signing code
// and this binary's crypto (build the bench with grantd's tags).
func newJOSESigner(alg string) (jose.Signer, error) {
	var key crypto.Signer
	var err error
	switch alg {
	case "RS256", "PS256":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ES256":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "EdDSA":
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("no algorithm %q", alg)
	}
	if err != nil {
		return nil, err
	}
	return signer.JOSESigner(key, alg, "floor")
}

// floorClaims are claims of the size of grantd's access tokens.
func floorClaims() []byte {
	b, _ := json.Marshal(map[string]any{"iss": "http://127.0.0.1:8080", "sub": "0197a5c4-2f8e-7c4b-9a51-6f0e3d2b1c7a",
		"aud": "http://127.0.0.1:8080", "client_id": "0197a5c4-2f8e-7c4b-9a51-6f0e3d2b1c7a", "scope": "accounts",
		"iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix(), "jti": randomString(16)})
	return b
}

// floorServer serves the floor handlers on addr until it is stopped.
func floorServer(addr string) error {
	signers := map[string]jose.Signer{}
	for _, alg := range []string{"RS256", "PS256", "ES256", "EdDSA"} {
		s, err := newJOSESigner(alg)
		if err != nil {
			return err
		}
		signers[alg] = s
	}
	opaque := "gat_" + randomString(32)
	mux := http.NewServeMux()
	answer := func(w http.ResponseWriter, token string) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		json.NewEncoder(w).Encode(map[string]any{"access_token": token, "token_type": "Bearer", "expires_in": 3600, "scope": "accounts"})
	}
	mux.HandleFunc("POST /plain", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		answer(w, opaque)
	})
	mux.HandleFunc("POST /sign/{alg}", func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		s := signers[r.PathValue("alg")]
		if s == nil {
			http.NotFound(w, r)
			return
		}
		jws, err := s.Sign(floorClaims())
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		tok, _ := jws.CompactSerialize()
		answer(w, tok)
	})
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, r *http.Request) {})
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	return http.Serve(l, mux)
}

// startFloor runs this binary's floor server in a process of its own.
func startFloor(ctx context.Context, dir string) (*process, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, self, "floor-server", addr)
	url := "http://" + addr
	return start(ctx, "floor", cmd, url, url+"/ready", filepath.Join(dir, "floor.log"))
}

// floorFlow posts client_credentials-shaped requests to the floor server's
// handler.
func floorFlow(base, handler string) func(int) (request, error) {
	v := url.Values{"grant_type": {"client_credentials"}, "scope": {"accounts"}}
	c := client{ID: "0197a5c4-2f8e-7c4b-9a51-6f0e3d2b1c7a", Secret: "gcs_" + randomString(32)}
	return func(int) (request, error) {
		return func(ctx context.Context, h *http.Client) (int, error) {
			return form(ctx, h, base+"/"+handler, c, v, nil)
		}, nil
	}
}

// signatureCost is the CPU time of one signature of alg, in ms, measured
// in this process on one goroutine for about d.
func signatureCost(alg string, d time.Duration) (float64, error) {
	s, err := newJOSESigner(alg)
	if err != nil {
		return 0, err
	}
	claims := floorClaims()
	n := 0
	t0 := time.Now()
	for time.Since(t0) < d || n < 3 {
		if _, err := s.Sign(claims); err != nil {
			return 0, err
		}
		n++
	}
	return float64(time.Since(t0)) / float64(time.Millisecond) / float64(n), nil
}

// floorKind is the name of a floor for the report.
func floorKind(handler string) string {
	if alg, ok := strings.CutPrefix(handler, "sign/"); ok {
		return "trivial handler + " + alg
	}
	return "trivial handler"
}
