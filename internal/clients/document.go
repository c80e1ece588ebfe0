package clients

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/grantd/grantd/internal/clientkeys"
	"github.com/grantd/grantd/internal/oauth"
	"github.com/grantd/grantd/internal/store"
)

// Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-
// document, as the MCP specification adopts it): a client_id that is an
// https URL names the client's metadata, which grantd fetches (Documents,
// SSRF-guarded, bounded) and holds to the rules of dynamic registration.
// The client is materialized as a row whose id is the URL, so that codes,
// connections and tokens refer to it as to any other, and fetched again
// once the document's cache lifetime has passed. Such a client is public
// (none) or keyed (private_key_jwt with a jwks_uri), and unverified on the
// consent page: its name is its own claim.

// MetadataDocument marks (MetadataRegistration) a client made from its
// metadata document; MetadataDocumentUntil holds until when (Unix seconds)
// the fetched document is used.
const (
	MetadataDocument      = "metadata_document"
	MetadataDocumentUntil = "document_until"
)

// Documents fetches client metadata documents (clientkeys.Fetcher): the
// body, and how long it may be used.
type Documents interface {
	Document(ctx context.Context, uri string) ([]byte, time.Duration, error)
}

// IsUnverified reports whether c's name and details are its own claim: it
// registered itself (RFC 7591) or is a metadata document's.
func IsUnverified(c *store.Client) bool {
	return IsDynamic(c) || c.Metadata[MetadataRegistration] == MetadataDocument
}

// IsDocumentID reports whether id is a client_id that names a metadata
// document: an https URL with a path (draft §3).
func IsDocumentID(id string) bool {
	if !strings.HasPrefix(id, "https://") || len(id) > 255 || strings.ContainsAny(id, "?#%\\") {
		return false
	}
	for _, r := range id {
		if r <= ' ' || r >= 0x7f {
			return false // ASCII, no spaces or controls
		}
	}
	u, err := url.Parse(id)
	if err != nil || u.Host == "" || u.User != nil || u.Path == "" || u.Path == "/" || u.String() != id ||
		strings.HasSuffix(u.Hostname(), ".") || u.Host != strings.ToLower(u.Host) {
		return false
	}
	for seg := range strings.SplitSeq(u.Path[1:], "/") {
		if seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

// documentMetadata is what grantd reads of a client metadata document.
type documentMetadata struct {
	ClientID                string   `json:"client_id"`
	ClientName              string   `json:"client_name"`
	RedirectURIs            []string `json:"redirect_uris"`
	GrantTypes              []string `json:"grant_types"`
	ResponseTypes           []string `json:"response_types"`
	TokenEndpointAuthMethod string   `json:"token_endpoint_auth_method"`
	JWKSURI                 string   `json:"jwks_uri"`
	Scope                   string   `json:"scope"`
	ClientURI               string   `json:"client_uri"`
	LogoURI                 string   `json:"logo_uri"`
	// Members a metadata document must not carry (draft §4.1): a secret
	// would be public.
	ClientSecret json.RawMessage `json:"client_secret"`
	JWKS         json.RawMessage `json:"jwks"`
}

// documentError is the refusal of a client_id whose document cannot be
// used: invalid_client, saying why (the URL is the client's own).
func documentError(format string, args ...any) *oauth.Error {
	return &oauth.Error{Code: oauth.ErrCodeInvalidClient, Status: http.StatusBadRequest,
		Description: "The client metadata document cannot be used: " + strings.TrimSuffix(fmt.Sprintf(format, args...), ".") + "."}
}

// ResolveDocument makes sure the client id names, when it is a metadata
// document's URL and documents are on (Documents set), is stored as its
// document says now: fetched when unknown or past its cache lifetime, held
// to dynamic registration's rules (public with native redirects, or keyed
// with a jwks_uri and https redirects), created or updated. Any other id
// is left alone (nil). DocumentHost filters the document's host.
func (g *Registration) ResolveDocument(ctx context.Context, id string) error {
	if g.Documents == nil || !IsDocumentID(id) {
		return nil
	}
	u, _ := url.Parse(id)
	if g.DocumentHost != nil && !g.DocumentHost(strings.ToLower(u.Hostname())) {
		return documentError("its host is not allowed here")
	}
	now := g.Manager.now()
	stored, err := g.Manager.Store.GetClient(ctx, id)
	switch {
	case err == nil && stored.Metadata[MetadataRegistration] != MetadataDocument:
		return documentError("the client id is taken")
	case err == nil && fresh(stored, now):
		return nil
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return oauth.ServerError(err)
	}
	body, age, err := g.Documents.Document(ctx, id)
	if err != nil {
		// The kind of failure only: the error's text may name the address
		// the host resolved to, which is not the browser's to see (it is
		// logged by the server).
		var ke *clientkeys.Error
		what := "it could not be fetched"
		if errors.As(err, &ke) {
			switch ke.Kind {
			case clientkeys.KindStatus, clientkeys.KindTooLarge, clientkeys.KindRedirect, clientkeys.KindTimeout:
				what += ": " + ke.Kind.String()
			}
		}
		return documentError("%s", what).WithCause(err)
	}
	var doc documentMetadata
	if err := json.Unmarshal(body, &doc); err != nil {
		return documentError("it is not a JSON object")
	}
	switch {
	case doc.ClientID != id:
		return documentError("its client_id is not its URL")
	case doc.ClientSecret != nil:
		return documentError("it holds a client_secret")
	case len(doc.JWKS) > 0:
		return documentError("it holds jwks: a document names its keys by jwks_uri")
	case doc.TokenEndpointAuthMethod == store.AuthMethodPrivateKeyJWT && doc.JWKSURI == "":
		return documentError("a private_key_jwt client names its jwks_uri")
	}
	text := map[string][]string{}
	for k, v := range map[string]string{"client_uri": doc.ClientURI, "logo_uri": doc.LogoURI} {
		if v != "" {
			text[k] = []string{v}
		}
	}
	p, perr := g.params(DynamicMetadata{RedirectURIs: doc.RedirectURIs, TokenEndpointAuthMethod: doc.TokenEndpointAuthMethod,
		GrantTypes: doc.GrantTypes, ResponseTypes: doc.ResponseTypes, ClientName: doc.ClientName, Scope: doc.Scope,
		JWKSURI: doc.JWKSURI, Text: text})
	if perr != nil {
		return documentError("%s", perr.Description)
	}
	p.Metadata = map[string]string{MetadataRegistration: MetadataDocument,
		MetadataDocumentUntil: strconv.FormatInt(now.Add(age).Unix(), 10)}
	c, err := g.Manager.toClient(p)
	if err != nil {
		return documentError("%v", err)
	}
	c.ID = id
	if stored.ID == "" {
		c.CreatedAt, c.UpdatedAt, c.StateChangedAt = now, now, now
		if err := g.Manager.Store.CreateClient(ctx, c); err != nil && !errors.Is(err, store.ErrConflict) {
			return oauth.ServerError(err)
		}
		return nil
	}
	_, err = g.Manager.Store.UpdateClient(ctx, id, func(s *store.Client) error {
		// What the document says (its name, redirects, grants, method and
		// keys); what the operator set (scopes, security settings beyond
		// the keys, state, balance) stays.
		s.Name, s.RedirectURIs, s.GrantTypes, s.ResponseTypes = c.Name, c.RedirectURIs, c.GrantTypes, c.ResponseTypes
		s.AuthMethod, s.Security.JWKSURI = c.AuthMethod, c.Security.JWKSURI
		if s.Metadata == nil {
			s.Metadata = map[string]string{}
		}
		maps.Copy(s.Metadata, c.Metadata)
		s.UpdatedAt = now
		return nil
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return oauth.ServerError(err)
	}
	return nil
}

// fresh reports whether a document's client is within its cache lifetime.
func fresh(c store.Client, now time.Time) bool {
	until, err := strconv.ParseInt(c.Metadata[MetadataDocumentUntil], 10, 64)
	return err == nil && now.Unix() < until
}
