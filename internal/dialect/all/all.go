// Package all lists every token endpoint grantd can serve, for the command
// that mounts them, for the configuration's validation, and for the one
// table of their profiles (docs/dialects.md, checked against Endpoints by
// this package's test).
package all

import (
	"github.com/grantd/grantd/internal/dialect"
	"github.com/grantd/grantd/internal/dialect/bankapi"
	"github.com/grantd/grantd/internal/dialect/bankdata"
	"github.com/grantd/grantd/internal/dialect/oauth2"
	"github.com/grantd/grantd/internal/dialect/payroll"
	"github.com/grantd/grantd/internal/dialect/temptoken"
)

// Dialects returns a fresh instance of every seed dialect, in the order of
// the seed documents: the endpoints the configuration may turn off or move.
func Dialects() []dialect.Dialect {
	return []dialect.Dialect{temptoken.New(), bankdata.New(), bankapi.New(), payroll.New()}
}

// Endpoints returns every token endpoint: the standard one (oauth2, always
// mounted at POST /oauth/token) and the seed dialects.
func Endpoints() []dialect.Dialect {
	return append([]dialect.Dialect{oauth2.New()}, Dialects()...)
}

// Names lists the seed dialects' configuration names.
func Names() []string {
	var names []string
	for _, d := range Dialects() {
		names = append(names, d.Name())
	}
	return names
}
