// Package docs embeds the documents the server serves: the OpenAPI 3.1
// description of the public API, served at /openapi.yaml.
package docs

import _ "embed"

// OpenAPI is docs/openapi.yaml.
//
//go:embed openapi.yaml
var OpenAPI []byte
