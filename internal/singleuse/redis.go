// Package singleuse keeps the single-use records of DPoP proofs and client
// assertions (their jti) in a Redis every grantd instance shares, instead
// of a store write per proof: one SET NX per proof, about the cost of the
// rate limiter's round trip, where a PostgreSQL insert costs a commit.
//
// It implements oauth.SingleUse. A key lives in Redis until a minute after
// the proof or assertion could no longer be accepted (its until), so Redis
// holds at most the proofs of the last few minutes. A record is only
// as durable as Redis is: a Redis restarted without persistence forgets
// the proofs of the last minutes, which could then be used once more
// (docs/fapi.md, "Single use in Redis").
package singleuse

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/grantd/grantd/internal/oauth"
)

// DefaultPrefix is the key prefix of the records.
const DefaultPrefix = "grantd:su:"

// slack is added to every record's life: another instance may have
// judged the proof's time window a little before it reserves (client
// authentication, a jwks_uri fetch), and the instances' clocks may differ.
const slack = time.Minute

// releaseScript deletes a record only if it is still the reservation
// being released (its token), never one made since by another request.
var releaseScript = redis.NewScript(`if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`)

// Redis is the single-use records on one Redis.
type Redis struct {
	c      redis.Cmdable
	prefix string
}

// NewRedis returns the records on c (a *redis.Client, as
// policy.OpenRedis gives, with its bounded timeouts) under prefix ("" =
// DefaultPrefix).
func NewRedis(c redis.Cmdable, prefix string) *Redis {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return &Redis{c: c, prefix: prefix}
}

// Reserve implements oauth.SingleUse: SET key <token> NX with a TTL to a
// minute past until, the token a new random value. Every key of the right
// length is covered; earliest does not matter, as Redis outlives a grantd
// instance's restart.
func (r *Redis) Reserve(ctx context.Context, key []byte, _, until, now time.Time) (oauth.Reservation, error) {
	if len(key) != 32 {
		return oauth.Reservation{}, nil
	}
	ttl := max(until.Sub(now), 0) + slack
	token := rand.Text()
	ok, err := r.c.SetNX(ctx, r.key(key), token, ttl).Result()
	if err != nil {
		return oauth.Reservation{}, err
	}
	if !ok {
		return oauth.Reservation{Covered: true}, nil
	}
	return oauth.Reservation{Fresh: true, Covered: true, Token: token}, nil
}

// Release implements oauth.SingleUse: the record goes if it is still res's
// (a failure leaves it to its TTL: the proof then cannot be retried, which
// is safe).
func (r *Redis) Release(ctx context.Context, key []byte, res oauth.Reservation) {
	if len(key) == 32 && res.Token != "" {
		_ = releaseScript.Run(ctx, r.c, []string{r.key(key)}, res.Token).Err()
	}
}

func (r *Redis) key(k []byte) string { return r.prefix + hex.EncodeToString(k) }
