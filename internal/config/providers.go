package config

import (
	"fmt"
	"time"

	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
)

// DataProvider is an entry of the provider catalogue in the config file
// (`providers:`). With no entries, grantd serves its sandbox catalogue
// (oauth.SandboxCatalogue) so that the connect flow works out of the box.
type DataProvider struct {
	ID             string        `yaml:"id"`
	Name           string        `yaml:"name"`
	Products       []string      `yaml:"products"`
	EntityIDs      []string      `yaml:"entity_ids"`
	ConnectionType string        `yaml:"connection_type"` // provider (default) | finch
	ConsentTTL     time.Duration `yaml:"consent_ttl"`     // 0 = 90 days
	RetentionTTL   time.Duration `yaml:"retention_ttl"`   // 0 = 30 days after consent ends
	// OperatingHours, when set, is when grants on this provider's
	// connections may be made (a client's own hours win; docs/policy.md).
	OperatingHours *store.Schedule `yaml:"operating_hours"`
}

// Catalogue is the provider catalogue the server uses.
func (c *Config) Catalogue() []oauth.DataProvider {
	if len(c.Providers) == 0 {
		return oauth.SandboxCatalogue()
	}
	out := make([]oauth.DataProvider, 0, len(c.Providers))
	for _, p := range c.Providers {
		out = append(out, oauth.DataProvider{
			ID: p.ID, Name: p.Name, Products: p.Products, EntityIDs: p.EntityIDs,
			ConnectionType: p.ConnectionType, ConsentTTL: p.ConsentTTL, RetentionTTL: p.RetentionTTL,
			OperatingHours: p.OperatingHours,
		})
	}
	return out
}

func (c *Config) validateProviders(bad func(string, ...any)) {
	seen := map[string]bool{}
	for i, p := range c.Providers {
		at := fmt.Sprintf("providers[%d]", i)
		switch {
		case p.ID == "" || len(p.ID) > 100:
			bad("%s.id: must be 1 to 100 characters", at)
		case seen[p.ID]:
			bad("%s.id: %q appears twice", at, p.ID)
		}
		seen[p.ID] = true
		if p.Name == "" {
			bad("%s.name: must not be empty", at)
		}
		if len(p.Products) == 0 {
			bad("%s.products: must list at least one product", at)
		}
		for _, s := range p.Products {
			if v, ok := oauth.ParseScope(s); !ok || len(v) != 1 {
				bad("%s.products: %q is not a valid product (scope) name", at, s)
			}
		}
		if p.ConnectionType != "" && p.ConnectionType != oauth.ConnectionTypeProvider && p.ConnectionType != oauth.ConnectionTypeFinch {
			bad("%s.connection_type: must be provider or finch", at)
		}
		if p.ConsentTTL < 0 || p.RetentionTTL < 0 {
			bad("%s: consent_ttl and retention_ttl must not be negative", at)
		}
		if p.OperatingHours != nil {
			for _, problem := range p.OperatingHours.Validate() {
				bad("%s.operating_hours: %s", at, problem)
			}
		}
	}
}
