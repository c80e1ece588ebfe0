package bankapi_test

import (
	"flag"
	"testing"

	"github.com/grantd/grantd/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// The wire helpers are shared with the other dialects' tests (testenv).
type (
	syncBuffer = testenv.SyncBuffer
	result     = testenv.Result
)

var (
	post     = testenv.Post
	jsonBody = testenv.JSONBody
	keys     = testenv.Keys
)

func golden(t *testing.T, name string, res result, masks map[string]string) {
	t.Helper()
	testenv.Golden(t, *update, name, res, masks)
}
