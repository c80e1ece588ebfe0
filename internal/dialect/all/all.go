// Package all lists every dialect grantd can serve, for the command that
// mounts them and for the configuration's validation.
package all

import (
	"github.com/grantd/grantd/internal/dialect"
	"github.com/grantd/grantd/internal/dialect/bankapi"
	"github.com/grantd/grantd/internal/dialect/bankdata"
	"github.com/grantd/grantd/internal/dialect/payroll"
	"github.com/grantd/grantd/internal/dialect/temptoken"
)

// Dialects returns a fresh instance of every dialect, in the order of the
// seed documents.
func Dialects() []dialect.Dialect {
	return []dialect.Dialect{temptoken.New(), bankdata.New(), bankapi.New(), payroll.New()}
}

// Names lists the dialects' configuration names.
func Names() []string {
	var names []string
	for _, d := range Dialects() {
		names = append(names, d.Name())
	}
	return names
}
