// The official MCP TypeScript SDK (@modelcontextprotocol/sdk) against grantd,
// as the MCP specification's authorization chapter runs it:
//
// - an MCP server made with the SDK's server side: the bearer-auth
//   middleware (tokens checked by introspection at grantd, their audience
//   this server: RFC 8707) and RFC 9728 protected-resource metadata naming
//   grantd as its authorization server;
// - an MCP client made with the SDK's client side, knowing nothing but the
//   MCP server's URL: it gets 401, discovers the resource metadata and
//   grantd's RFC 8414 metadata, registers itself (RFC 7591), sends the user
//   to authorize with PKCE and a resource indicator (the browser step is
//   answered here through grantd's external-consent admin API), exchanges
//   the code, and calls a tool; when its access token stops working it
//   refreshes and calls the tool again.
//
// cmd/grantd's TestMCPSDK starts `grantd serve` and runs this file with
// node --test; the environment names grantd and the MCP server's port.

import { test } from 'node:test'
import assert from 'node:assert/strict'
import express from 'express'
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js'
import { mcpAuthMetadataRouter, getOAuthProtectedResourceMetadataUrl } from '@modelcontextprotocol/sdk/server/auth/router.js'
import { InvalidTokenError } from '@modelcontextprotocol/sdk/server/auth/errors.js'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js'

const env = process.env
const issuer = env.GRANTD_ISSUER
const mcpURL = new URL(`http://127.0.0.1:${env.MCP_PORT}/mcp`)
// A native client's redirect (RFC 8252): a loopback callback (§7.3, IPv4
// or IPv6) or a private-use URI scheme (§7.1).
const redirectURI = env.REDIRECT_URI

// startMCPServer serves one tool behind the SDK's bearer-auth middleware.
async function startMCPServer () {
  const oauthMetadata = await (await fetch(`${issuer}/.well-known/oauth-authorization-server`)).json()
  const basic = 'Basic ' + Buffer.from(`${encodeURIComponent(env.RS_ID)}:${encodeURIComponent(env.RS_SECRET)}`).toString('base64')
  const introspected = []
  const verifier = {
    async verifyAccessToken (token) {
      const r = await fetch(oauthMetadata.introspection_endpoint, {
        method: 'POST',
        headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token })
      })
      const info = await r.json()
      introspected.push(info)
      if (!info.active) throw new InvalidTokenError('inactive token')
      const aud = Array.isArray(info.aud) ? info.aud : [info.aud]
      return {
        token,
        clientId: info.client_id,
        scopes: (info.scope ?? '').split(' ').filter(Boolean),
        expiresAt: info.exp,
        resource: aud.includes(mcpURL.href) ? mcpURL : new URL(aud[0])
      }
    }
  }
  const app = express()
  app.use(express.json())
  app.use(mcpAuthMetadataRouter({ oauthMetadata, resourceServerUrl: mcpURL, scopesSupported: ['accounts'], resourceName: 'Bank MCP' }))
  const bearer = requireBearerAuth({
    verifier,
    requiredScopes: ['accounts'],
    resourceMetadataUrl: getOAuthProtectedResourceMetadataUrl(mcpURL),
    expectedResource: mcpURL
  })
  app.post('/mcp', bearer, async (req, res) => {
    const server = new McpServer({ name: 'bank', version: '1.0.0' })
    server.registerTool('balance', { description: 'The balance of the signed-in customer' }, async (extra) => ({
      content: [{ type: 'text', text: `balance of ${extra.authInfo?.clientId}: 42.00 EUR` }]
    }))
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined })
    res.on('close', () => { transport.close(); server.close() })
    await server.connect(transport)
    await transport.handleRequest(req, res, req.body)
  })
  const http = await new Promise((resolve) => { const s = app.listen(Number(env.MCP_PORT), '127.0.0.1', () => resolve(s)) })
  return { introspected, close: () => new Promise((resolve) => http.close(resolve)) }
}

// provider is the SDK's OAuthClientProvider, in memory: it records the
// authorization URL the SDK would open in a browser.
function newProvider () {
  const p = {
    authorizationURL: undefined,
    client: undefined,
    saved: [],
    verifier: undefined,
    get redirectUrl () { return redirectURI },
    get clientMetadata () {
      return {
        client_name: 'MCP test agent',
        redirect_uris: [redirectURI],
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        token_endpoint_auth_method: 'none'
      }
    },
    clientInformation () { return p.client },
    saveClientInformation (info) { p.client = info },
    tokens () { return p.saved.at(-1) },
    saveTokens (tokens) { p.saved.push(tokens) },
    redirectToAuthorization (url) { p.authorizationURL = url },
    saveCodeVerifier (v) { p.verifier = v },
    codeVerifier () { return p.verifier }
  }
  return p
}

// consent answers the browser step as an external consent app: grantd
// sends the browser to the consent app with a challenge, which is accepted
// through the admin API; the answer is the redirect back to the client.
async function consent (authorizationURL) {
  const r = await fetch(authorizationURL, { redirect: 'manual' })
  assert.ok(r.status === 302 || r.status === 303, `authorize: ${r.status} ${await r.text()}`)
  const challenge = new URL(r.headers.get('location')).searchParams.get('challenge')
  assert.ok(challenge, `no consent challenge in ${r.headers.get('location')}`)
  const accepted = await fetch(`${env.GRANTD_ADMIN}/admin/authorizations/${encodeURIComponent(challenge)}/accept`, {
    method: 'POST',
    headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ subject: 'alice', provider_id: 'sandbox-bank' })
  })
  assert.equal(accepted.status, 200, await accepted.clone().text())
  const back = new URL((await accepted.json()).redirect_to)
  assert.equal(back.href.split('?')[0], redirectURI)
  assert.equal(back.searchParams.get('iss'), issuer, 'RFC 9207 iss in the authorization response')
  return back.searchParams.get('code')
}

async function connect (provider) {
  const client = new Client({ name: 'mcp-test-agent', version: '1.0.0' })
  const transport = new StreamableHTTPClientTransport(mcpURL, { authProvider: provider })
  await client.connect(transport)
  return { client, transport }
}

test('the MCP SDK discovers grantd, registers, authorizes, calls a tool and refreshes', async () => {
  const mcp = await startMCPServer()
  try {
    const provider = newProvider()

    // First contact: 401, discovery, registration, the authorization URL.
    let transport
    await assert.rejects(async () => {
      const client = new Client({ name: 'mcp-test-agent', version: '1.0.0' })
      transport = new StreamableHTTPClientTransport(mcpURL, { authProvider: provider })
      await client.connect(transport)
    }, UnauthorizedError)
    assert.ok(provider.client?.client_id, 'the SDK registered a client (RFC 7591)')
    const authURL = new URL(provider.authorizationURL)
    assert.equal(authURL.origin + authURL.pathname, `${issuer}/oauth/authorize`)
    assert.equal(authURL.searchParams.get('code_challenge_method'), 'S256')
    assert.equal(authURL.searchParams.get('resource'), mcpURL.href, 'RFC 8707 resource: the MCP server')
    assert.equal(authURL.searchParams.get('client_id'), provider.client.client_id)

    // The browser step, then the code exchange by the SDK.
    const code = await consent(authURL)
    await transport.finishAuth(code)
    const first = provider.tokens()
    assert.ok(first?.access_token && first?.refresh_token, 'tokens with a refresh token')
    assert.equal(first.token_type.toLowerCase(), 'bearer')

    const { client } = await connect(provider)
    const result = await client.callTool({ name: 'balance', arguments: {} })
    assert.match(result.content[0].text, new RegExp(`balance of ${provider.client.client_id}`))
    const info = mcp.introspected.at(-1)
    assert.equal(info.active, true)
    assert.deepEqual([info.aud].flat(), [mcpURL.href], 'aud is the resource asked for')
    await client.close()

    // The access token stops working (revoked at grantd): the SDK's next
    // request gets 401, it refreshes with its refresh token, and retries.
    const revoked = await fetch(`${issuer}/oauth/revoke`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: first.access_token, client_id: provider.client.client_id })
    })
    assert.equal(revoked.status, 200)
    const again = await connect(provider)
    const second = await again.client.callTool({ name: 'balance', arguments: {} })
    assert.match(second.content[0].text, /42\.00 EUR/)
    const refreshed = provider.tokens()
    assert.notEqual(refreshed.access_token, first.access_token, 'a new access token')
    assert.notEqual(refreshed.refresh_token, first.refresh_token, 'the refresh token rotated')
    assert.deepEqual([mcp.introspected.at(-1).aud].flat(), [mcpURL.href], 'the refreshed token is for the MCP server too')
    await again.client.close()
  } finally {
    await mcp.close()
  }
})
