// openid-client (panva), a certified FAPI 2.0 relying-party library, runs
// the FAPI 2.0 flow against a grantd that cmd/grantd's TestOpenIDClientFAPI2
// started: discovery, a pushed authorization request with PKCE and a DPoP
// proof, the user's consent (accepted through the admin API, as an
// external consent app does), the code exchange with private_key_jwt and
// DPoP, a refresh, introspection and revocation. Every answer is checked by
// the library itself (iss in the authorization response, token_type DPoP,
// the DPoP handling) and by the assertions here.
import test from 'node:test'
import assert from 'node:assert/strict'
import { writeFileSync } from 'node:fs'
import * as client from 'openid-client'

const env = process.env

test('FAPI 2.0 flow with openid-client', async () => {
  const key = await crypto.subtle.importKey('pkcs8', Buffer.from(env.CLIENT_KEY_PKCS8, 'base64'),
    { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign'])
  const config = await client.discovery(new URL(env.GRANTD_ISSUER), env.CLIENT_ID, undefined,
    client.PrivateKeyJwt({ key, kid: env.CLIENT_KID }), { execute: [client.allowInsecureRequests], algorithm: 'oauth2' })
  const md = config.serverMetadata()
  assert.ok(md.pushed_authorization_request_endpoint, 'PAR endpoint in the metadata')
  assert.ok(md.dpop_signing_alg_values_supported.includes('ES256'))

  const dpop = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'))
  const verifier = client.randomPKCECodeVerifier()
  const state = client.randomState()
  const authURL = await client.buildAuthorizationUrlWithPAR(config, {
    redirect_uri: env.REDIRECT_URI, scope: 'accounts', state,
    code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
  }, { DPoP: dpop })
  assert.ok(authURL.searchParams.get('request_uri').startsWith('urn:ietf:params:oauth:request_uri:'))

  // The browser: grantd sends it to the consent app, which accepts.
  const r = await fetch(authURL, { redirect: 'manual' })
  assert.equal(r.status, 302)
  const challenge = new URL(r.headers.get('location')).searchParams.get('challenge')
  assert.ok(challenge, 'a consent challenge')
  const accepted = await fetch(`${env.GRANTD_ADMIN}/admin/authorizations/${encodeURIComponent(challenge)}/accept`, {
    method: 'POST', headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, 'content-type': 'application/json' },
    body: JSON.stringify({ subject: 'sdk-user' }),
  })
  assert.equal(accepted.status, 200)
  const { redirect_to } = await accepted.json()

  const tokens = await client.authorizationCodeGrant(config, new URL(redirect_to),
    { pkceCodeVerifier: verifier, expectedState: state }, undefined, { DPoP: dpop })
  assert.equal(tokens.token_type.toLowerCase(), 'dpop')
  assert.ok(tokens.refresh_token)

  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token, undefined, { DPoP: dpop })
  assert.equal(refreshed.token_type.toLowerCase(), 'dpop')

  const info = await client.tokenIntrospection(config, refreshed.access_token)
  assert.equal(info.active, true)
  assert.ok(info.cnf && info.cnf.jkt, 'introspection shows cnf.jkt')

  await client.tokenRevocation(config, tokens.refresh_token)
  const after = await client.tokenIntrospection(config, refreshed.access_token)
  assert.equal(after.active, false)

  writeFileSync(env.RESULT_FILE, JSON.stringify({ access_token: tokens.access_token, jkt: info.cnf.jkt }))
})
