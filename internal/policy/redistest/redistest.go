// Package redistest gives each test a Redis client and its own key prefix,
// so that test runs (and parallel tests) never see each other's keys.
//
// The server comes from GRANTD_TEST_REDIS (a redis:// URL). Without it the
// test is skipped, unless CI is set: then it fails, so that CI never passes
// by skipping the Redis tests.
package redistest

import (
	"context"
	"crypto/rand"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Env names the variable with the test server's URL.
const Env = "GRANTD_TEST_REDIS"

// URL returns GRANTD_TEST_REDIS, or skips the test (fails it under CI).
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(Env)
	if u == "" {
		if ci, _ := strconv.ParseBool(os.Getenv("CI")); ci {
			t.Fatalf("%s is not set: CI must run the Redis tests (e.g. %s=redis://127.0.0.1:6379/0)", Env, Env)
		}
		t.Skipf("%s is not set: skipping the Redis tests (set it to a redis:// URL to run them)", Env)
	}
	return u
}

// Client returns a new client of the test server, checked with a PING and
// closed when the test ends.
func Client(t testing.TB) *redis.Client {
	t.Helper()
	o, err := redis.ParseURL(URL(t))
	if err != nil {
		t.Fatalf("redistest: %s: %v", Env, err)
	}
	c := redis.NewClient(o)
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("redistest: ping %s: %v", Env, err)
	}
	return c
}

// Prefix returns a new key prefix grantd_test_<random>: and deletes every
// key under it when the test ends.
func Prefix(t testing.TB, c *redis.Client) string {
	t.Helper()
	prefix := "grantd_test_" + strings.ToLower(rand.Text()[:16]) + ":"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := Delete(ctx, c, prefix); err != nil {
			t.Errorf("redistest: deleting the keys under %s: %v", prefix, err)
		}
	})
	return prefix
}

// Delete deletes every key under prefix.
func Delete(ctx context.Context, c *redis.Client, prefix string) error {
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var keys []string
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil || len(keys) == 0 {
		return err
	}
	return c.Del(ctx, keys...).Err()
}
