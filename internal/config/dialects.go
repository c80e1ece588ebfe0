package config

import (
	"strings"
)

// Dialect turns one token-endpoint dialect on or off and may move its path
// (config file only: `dialects: {payroll: {enabled: false}}`). Every dialect
// is on, at its documented path, unless the file says otherwise.
type Dialect struct {
	Enabled *bool  `yaml:"enabled"`
	Path    string `yaml:"path"`
}

// DialectEnabled reports whether the dialect is on.
func (c *Config) DialectEnabled(name string) bool {
	d, ok := c.Dialects[name]
	return !ok || d.Enabled == nil || *d.Enabled
}

// DialectMounts returns the paths that move dialects, by name.
func (c *Config) DialectMounts() map[string]string {
	m := map[string]string{}
	for name, d := range c.Dialects {
		if d.Path != "" {
			m[name] = d.Path
		}
	}
	return m
}

func (c *Config) validateDialects(known []string, bad func(string, ...any)) {
	for name, d := range c.Dialects {
		found := false
		for _, k := range known {
			found = found || k == name
		}
		if !found {
			bad("dialects.%s: unknown dialect (known: %s)", name, strings.Join(known, ", "))
		}
		if d.Path != "" && (!strings.HasPrefix(d.Path, "/") || strings.ContainsAny(d.Path, " {}?#") || len(d.Path) > 200) {
			bad("dialects.%s.path: %q must be an absolute path without spaces, braces, query or fragment", name, d.Path)
		}
	}
}

// KnownDialects is filled by the command that registers the dialects, so
// that Validate can refuse a misspelt name.
var KnownDialects []string
