package wire_test

import (
	"encoding/base64"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/wire"
)

func request(ct, body string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, "/t", strings.NewReader(body))
	if ct != "" {
		r.Header.Set("Content-Type", ct)
	}
	return r
}

const (
	form = "application/x-www-form-urlencoded"
	js   = "application/json"
)

func TestDecode(t *testing.T) {
	for _, tt := range []struct {
		name, ct, body string
		o              wire.Options
		want           wire.Params
		lists          map[string][]string
		reason         string
	}{
		{"form", form, "a=1&scope=x+y", wire.Options{}, wire.Params{"a": "1", "scope": "x y"}, nil, ""},
		{"form empty is absent", form, "client_secret=&scope=", wire.Options{}, wire.Params{}, nil, ""},
		{"json", js, `{"a":"1","b":true,"c":2,"d":null,"e":""}`, wire.Options{}, wire.Params{"a": "1", "b": "true", "c": "2"}, nil, ""},
		{"json charset", js + "; charset=utf-8", `{"a":"1"}`, wire.Options{}, wire.Params{"a": "1"}, nil, ""},
		{"json list", js, `{"products":["a","b"],"x":"y"}`, wire.Options{Lists: []string{"products"}}, wire.Params{"x": "y"},
			map[string][]string{"products": {"a", "b"}}, ""},
		{"json list not allowed", js, `{"products":["a"]}`, wire.Options{}, nil, nil, wire.ReasonMalformed},
		{"json list of numbers", js, `{"products":[1]}`, wire.Options{Lists: []string{"products"}}, nil, nil, wire.ReasonMalformed},
		{"json object value", js, `{"a":{"b":"c"}}`, wire.Options{}, nil, nil, wire.ReasonMalformed},
		{"json not an object", js, `["a"]`, wire.Options{}, nil, nil, wire.ReasonMalformed},
		{"json trailing data", js, `{"a":"1"} {}`, wire.Options{}, nil, nil, wire.ReasonMalformed},
		{"json repeated", js, `{"a":"1","a":"2"}`, wire.Options{}, nil, nil, wire.ReasonRepeated},
		{"json repeated null", js, `{"a":null,"a":"2"}`, wire.Options{}, nil, nil, wire.ReasonRepeated},
		{"json case variant is another name", js, `{"client_id":"a","CLIENT_ID":"b"}`, wire.Options{}, wire.Params{"client_id": "a", "CLIENT_ID": "b"}, nil, ""},
		{"json members", js, `{"client_id":"a"}`, wire.Options{Members: []string{"client_id"}}, wire.Params{"client_id": "a"}, nil, ""},
		{"json unknown member", js, `{"CLIENT_ID":"a"}`, wire.Options{Members: []string{"client_id"}}, nil, nil, wire.ReasonUnknownMember},
		{"json member not a string", js, `{"client_id":1}`, wire.Options{Members: []string{"client_id"}}, nil, nil, wire.ReasonMalformed},
		{"form unknown field with members", form, "client_id=a&other=b", wire.Options{Members: []string{"client_id"}}, wire.Params{"client_id": "a", "other": "b"}, nil, ""},
		{"form repeated", form, "a=1&a=", wire.Options{}, nil, nil, wire.ReasonRepeated},
		{"form bad escape", form, "a=%zz", wire.Options{}, nil, nil, wire.ReasonMalformed},
		{"form NUL", form, "a=x%00y", wire.Options{}, nil, nil, wire.ReasonText},
		{"form bad UTF-8 name", form, "%ff=1", wire.Options{}, nil, nil, wire.ReasonText},
		{"json NUL in a name with a number value", js, `{"grant_type":"x","a\u0000b":1}`, wire.Options{}, nil, nil, wire.ReasonText},
		{"json NUL in a name with a null value", js, `{"a\u0000b":null}`, wire.Options{}, nil, nil, wire.ReasonText},
		{"too many", form, manyParams(65), wire.Options{}, nil, nil, wire.ReasonTooMany},
		{"no content type", "", "a=1", wire.Options{}, nil, nil, wire.ReasonMediaType},
		{"default content type", "", `{"a":"1"}`, wire.Options{DefaultType: js}, wire.Params{"a": "1"}, nil, ""},
		{"other media type", "text/plain", "a=1", wire.Options{}, nil, nil, wire.ReasonMediaType},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p, lists, err := wire.Decode(request(tt.ct, tt.body), tt.o)
			if tt.reason != "" {
				if err == nil || err.Reason != tt.reason || err.Code != oauth.ErrCodeInvalidRequest {
					t.Fatalf("got %v, %v; want reason %s", p, err, tt.reason)
				}
				return
			}
			if err != nil || !maps.Equal(p, tt.want) || len(lists) != len(tt.lists) {
				t.Fatalf("got %v %v %v; want %v %v", p, lists, err, tt.want, tt.lists)
			}
			for k, l := range tt.lists {
				if !slices.Equal(lists[k], l) {
					t.Errorf("list %s = %q, want %q", k, lists[k], l)
				}
			}
		})
	}
}

func manyParams(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString("p" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + "=v&")
	}
	return strings.TrimSuffix(b.String(), "&")
}

// The answer's text never names a parameter grantd does not read.
func TestDecodeNamesOnlyKnownParameters(t *testing.T) {
	_, _, err := wire.Decode(request(form, "gcs_secretvalue=1&gcs_secretvalue=2"), wire.Options{})
	if err == nil || strings.Contains(err.Description, "gcs_") || err.Description != "An unknown parameter is repeated." {
		t.Fatalf("%v", err)
	}
	_, _, err = wire.Decode(request(form, "scope=1&scope=2"), wire.Options{})
	if err == nil || err.Description != "The scope parameter is repeated." {
		t.Fatalf("%v", err)
	}
}

func TestMediaTypeError(t *testing.T) {
	_, _, err := wire.Decode(request("text/plain; charset=utf-8", "x"), wire.Options{})
	var mt *wire.MediaTypeError
	if err == nil || !errors.As(err.Cause, &mt) || mt.MediaType != "text/plain" {
		t.Fatalf("%v", err)
	}
}

func basic(raw string) http.Header {
	return http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(raw))}}
}

func TestParseBasic(t *testing.T) {
	for _, tt := range []struct {
		name   string
		h      http.Header
		want   wire.Basic
		wantOK bool
	}{
		{"none", http.Header{}, wire.Basic{}, false},
		{"bearer", http.Header{"Authorization": {"Bearer x"}}, wire.Basic{}, false},
		{"plain", basic("id:secret"), wire.Basic{Present: true, OK: true, RawID: "id", RawSecret: "secret", ID: "id", Secret: "secret", Decoded: true}, true},
		{"form-encoded", basic("a%3Ab:s%26t"), wire.Basic{Present: true, OK: true, RawID: "a%3Ab", RawSecret: "s%26t", ID: "a:b", Secret: "s&t", Decoded: true}, true},
		{"not form encoding", basic("id:50%"), wire.Basic{Present: true, OK: true, RawID: "id", RawSecret: "50%", ID: "id", Secret: "50%", Decoded: false}, true},
		{"lower-case scheme", http.Header{"Authorization": {"basic " + base64.StdEncoding.EncodeToString([]byte("i:s"))}},
			wire.Basic{Present: true, OK: true, RawID: "i", RawSecret: "s", ID: "i", Secret: "s", Decoded: true}, true},
		{"empty secret", basic("id:"), wire.Basic{Present: true, OK: true, RawID: "id", ID: "id", Decoded: true}, true},
		{"no colon", basic("idsecret"), wire.Basic{Present: true}, false},
		{"empty id", basic(":secret"), wire.Basic{Present: true}, false},
		{"not base64", http.Header{"Authorization": {"Basic !!"}}, wire.Basic{Present: true}, false},
		{"scheme alone", http.Header{"Authorization": {"Basic"}}, wire.Basic{Present: true}, false},
		{"NUL", basic("id:a\x00b"), wire.Basic{Present: true, RawID: "id", RawSecret: "a\x00b", ID: "id", Secret: "a\x00b", Decoded: true}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := wire.ParseBasic(tt.h)
			if got != tt.want || got.OK != tt.wantOK {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestClientCredentials(t *testing.T) {
	for _, tt := range []struct {
		name string
		h    http.Header
		p    wire.Params
		want oauth.ClientCredentials
		code string
	}{
		{"basic", basic("id:s"), wire.Params{}, oauth.ClientCredentials{ID: "id", Secret: "s", Presented: oauth.PresentedBasic}, ""},
		{"basic and the same client_id", basic("id:s"), wire.Params{"client_id": "id"}, oauth.ClientCredentials{ID: "id", Secret: "s", Presented: oauth.PresentedBasic}, ""},
		{"basic and another client_id", basic("id:s"), wire.Params{"client_id": "other"}, oauth.ClientCredentials{}, oauth.ErrCodeInvalidClient},
		{"basic and a body secret", basic("id:s"), wire.Params{"client_secret": "s"}, oauth.ClientCredentials{}, oauth.ErrCodeInvalidRequest},
		{"basic not form encoding", basic("id:50%"), wire.Params{}, oauth.ClientCredentials{}, oauth.ErrCodeInvalidClient},
		{"malformed basic", http.Header{"Authorization": {"Basic !!"}}, wire.Params{}, oauth.ClientCredentials{}, oauth.ErrCodeInvalidClient},
		{"post", http.Header{}, wire.Params{"client_id": "id", "client_secret": "s"}, oauth.ClientCredentials{ID: "id", Secret: "s", Presented: oauth.PresentedPost}, ""},
		{"id alone", http.Header{}, wire.Params{"client_id": "id"}, oauth.ClientCredentials{ID: "id", Presented: oauth.PresentedID}, ""},
		{"nothing", http.Header{}, wire.Params{}, oauth.ClientCredentials{}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := request(form, "")
			for k, v := range tt.h {
				r.Header[k] = v
			}
			got, err := wire.ClientCredentials(r, tt.p)
			switch {
			case tt.code != "" && (err == nil || err.Code != tt.code):
				t.Fatalf("got %+v, %v; want %s", got, err, tt.code)
			case tt.code == "" && (err != nil || !reflect.DeepEqual(got, tt.want)):
				t.Fatalf("got %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// TestDecodeRepeated: a parameter named in Options.Repeated may repeat in
// a form body and be a string or an array in JSON; it comes back in the
// lists only, empty values dropped; more than 16 values is refused, and
// other parameters still may not repeat.
func TestDecodeRepeated(t *testing.T) {
	o := wire.Options{Repeated: []string{"resource"}}
	for _, tc := range []struct {
		ct, body string
		want     []string
	}{
		{"application/x-www-form-urlencoded", "resource=a&resource=b&resource=", []string{"a", "b"}},
		{"application/x-www-form-urlencoded", "resource=a", []string{"a"}},
		{"application/json", `{"resource":"a"}`, []string{"a"}},
		{"application/json", `{"resource":["a","b"]}`, []string{"a", "b"}},
	} {
		p, lists, err := wire.Decode(request(tc.ct, tc.body), o)
		if err != nil || p.Has("resource") || !slices.Equal(lists["resource"], tc.want) {
			t.Errorf("%s %s: params %v lists %v err %v, want lists %v", tc.ct, tc.body, p, lists, err, tc.want)
		}
	}
	many := strings.Repeat("resource=a&", 17)
	if _, _, err := wire.Decode(request("application/x-www-form-urlencoded", many), o); err == nil || err.Reason != wire.ReasonTooMany {
		t.Errorf("17 resources: %v, want %s", err, wire.ReasonTooMany)
	}
	if _, _, err := wire.Decode(request("application/x-www-form-urlencoded", "scope=a&scope=b"), o); err == nil || err.Reason != wire.ReasonRepeated {
		t.Errorf("a repeated scope: %v, want %s", err, wire.ReasonRepeated)
	}
	if _, _, err := wire.Decode(request("application/x-www-form-urlencoded", "resource=a&resource=b"), wire.Options{}); err == nil || err.Reason != wire.ReasonRepeated {
		t.Errorf("a repeated resource without Repeated: %v, want %s", err, wire.ReasonRepeated)
	}
}
