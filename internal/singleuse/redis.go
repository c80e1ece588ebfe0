// Package singleuse keeps the single-use records of DPoP proofs and client
// assertions (their jti) in a Redis every grantd instance shares, instead
// of a store write per proof: one SET NX per proof, about the cost of the
// rate limiter's round trip, where a PostgreSQL insert costs a commit.
//
// It implements oauth.SingleUse. A key lives in Redis until the proof or
// assertion could no longer be accepted (its until, plus a second), so
// Redis holds at most the proofs of the last few minutes. A record is only
// as durable as Redis is: a Redis restarted without persistence forgets
// the proofs of the last minutes, which could then be used once more
// (docs/fapi.md, "Single use in Redis").
package singleuse

import (
	"context"
	"encoding/hex"
	"time"

	"github.com/redis/go-redis/v9"
)

// DefaultPrefix is the key prefix of the records.
const DefaultPrefix = "grantd:su:"

// slack is added to every record's TTL: the instances' clocks may differ a
// little from Redis's.
const slack = time.Second

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

// Reserve implements oauth.SingleUse: SET key NX with a TTL to until. Every
// key of the right length is covered; earliest does not matter, as Redis
// outlives a grantd instance's restart.
func (r *Redis) Reserve(ctx context.Context, key []byte, _, until, now time.Time) (fresh, covered bool, err error) {
	if len(key) != 32 {
		return false, false, nil
	}
	ttl := until.Sub(now)
	if ttl < 0 {
		ttl = 0
	}
	ok, err := r.c.SetNX(ctx, r.key(key), "", ttl+slack).Result()
	if err != nil {
		return false, false, err
	}
	return ok, true, nil
}

// Release implements oauth.SingleUse: the record goes (a failure leaves it
// to its TTL: the proof then cannot be retried, which is safe).
func (r *Redis) Release(ctx context.Context, key []byte) {
	if len(key) == 32 {
		_ = r.c.Del(ctx, r.key(key)).Err()
	}
}

func (r *Redis) key(k []byte) string { return r.prefix + hex.EncodeToString(k) }
