package wire_test

import (
	"encoding/base64"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/wire"
)

// Micro-benchmarks of what every token endpoint's wire shares: the body
// decoding and the Basic header parser (docs/benchmarks.md).

const (
	benchClientID = "0197a1b2-3c4d-7e5f-8a9b-0c1d2e3f4a5b"
	benchSecret   = "gcs_Zk3vQ8mN2pL7xR4tW9yB1cD6fH0jK5sA3uE8gI2oT7q"
)

// benchParams are an authorization_code request of a public client with
// PKCE: five parameters.
var benchParams = wire.Params{
	"grant_type":    "authorization_code",
	"client_id":     benchClientID,
	"code":          "gac_Vb7nM2kL9pQ4rS8tU1wX5yZ3aC6dE0fG2hJ7kN4mP9q",
	"code_verifier": "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
	"redirect_uri":  "http://127.0.0.1:9876/callback",
}

// rereadable is a request body that Reset lets Decode read again, so that
// the benchmarks time the decoding, not the building of a request.
type rereadable struct{ strings.Reader }

func (*rereadable) Close() error { return nil }

// BenchmarkDecode decodes benchParams sent as a form and as a JSON object.
func BenchmarkDecode(b *testing.B) {
	form := url.Values{}
	var js strings.Builder
	js.WriteString("{")
	for _, k := range slices.Sorted(maps.Keys(benchParams)) { // one body, whatever the map's order
		v := benchParams[k]
		form.Set(k, v)
		if js.Len() > 1 {
			js.WriteString(",")
		}
		js.WriteString(`"` + k + `":"` + v + `"`)
	}
	js.WriteString("}")
	for _, tt := range []struct{ name, ct, body string }{
		{"form", "application/x-www-form-urlencoded", form.Encode()},
		{"json", "application/json", js.String()},
	} {
		b.Run(tt.name, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodPost, "/oauth/token", nil)
			r.Header.Set("Content-Type", tt.ct)
			rb := &rereadable{}
			r.Body = rb
			b.ReportAllocs()
			for b.Loop() {
				rb.Reset(tt.body)
				p, _, err := wire.Decode(r, wire.Options{})
				if err != nil {
					b.Fatal(err)
				}
				if len(p) != len(benchParams) || p["code_verifier"] != benchParams["code_verifier"] {
					b.Fatalf("Decode = %v, want %v", p, benchParams)
				}
			}
		})
	}
}

// BenchmarkParseBasic parses client_secret_basic credentials: base64, then
// each part form-decoded and checked as text.
func BenchmarkParseBasic(b *testing.B) {
	h := http.Header{}
	h.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(benchClientID)+":"+url.QueryEscape(benchSecret))))
	b.ReportAllocs()
	for b.Loop() {
		c := wire.ParseBasic(h)
		if !c.OK || !c.Decoded || c.ID != benchClientID || c.Secret != benchSecret {
			b.Fatalf("ParseBasic = %+v", c)
		}
	}
}
