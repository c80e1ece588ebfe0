package storetest

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/grantd/grantd/internal/store"
)

// TestFixturesFillEveryField guards the round-trip tests: a field added to a
// store type must be set by the suite's fixture, or a backend that forgets
// to persist it would still pass.
func TestFixturesFillEveryField(t *testing.T) {
	c := newClient()
	code := newCode(c.ID, newUUID())
	g := newCodeGrant(code, t0, store.RefreshRotating)
	for _, tc := range []struct {
		v         any
		maybeZero []string // fields a fixture leaves zero on purpose
	}{
		{c, nil},
		{newAuthRequest(c.ID), []string{"Subject"}},
		{code, []string{"UsedAt"}},
		{newConnection(c.ID, t0), []string{"RevokedAt"}},
		{*g.Family, []string{"RevokedAt"}},
		{*g.RefreshToken, []string{"UsedAt", "Retry"}}, // a new token: unused, no retry answer
		{rotated(*g.RefreshToken, rotate(grant{code: code, Writes: g}, at(time.Hour))), nil},
		{*g.AccessToken, []string{"Revoked", "RevokedAt"}},
		{newSigningKey(t0), nil},
		{newPushedRequest(c.ID, t0), nil},
		{newDeviceRequest(c.ID, t0), nil},
	} {
		v := reflect.ValueOf(tc.v)
		for i := range v.NumField() {
			name := v.Type().Field(i).Name
			if v.Field(i).IsZero() && !slices.Contains(tc.maybeZero, name) {
				t.Errorf("%s fixture leaves %s zero: set it so its round trip is tested", v.Type(), name)
			}
		}
	}
}

func TestNormalize(t *testing.T) {
	a := store.Client{CreatedAt: t0, Scopes: nil, Metadata: nil, RefreshTTL: time.Second + time.Microsecond}
	b := store.Client{CreatedAt: t0.Truncate(time.Millisecond).In(elsewhere), Scopes: []string{},
		Metadata: map[string]string{}, SecretHash: []byte{}, RefreshTTL: time.Second}
	if !reflect.DeepEqual(normalize(reflect.ValueOf(a)).Interface(), normalize(reflect.ValueOf(b)).Interface()) {
		t.Errorf("normalize: %+v and %+v differ", a, b)
	}
	b.Scopes = []string{"x"}
	if reflect.DeepEqual(normalize(reflect.ValueOf(a)).Interface(), normalize(reflect.ValueOf(b)).Interface()) {
		t.Errorf("normalize: %+v and %+v are equal", a, b)
	}
}
