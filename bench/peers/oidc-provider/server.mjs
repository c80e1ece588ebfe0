// Minimal node-oidc-provider (pinned 8.8.1) used as a benchmark peer for grantd.
// Only the client_credentials grant is exercised. See README.md.
//
// Usage: PORT=18099 node server.mjs
// stdout carries exactly one line, "ready http://127.0.0.1:PORT", once listening.
// Everything else (including the library's own notices) goes to stderr.

import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

import Provider, { errors } from 'oidc-provider';

// oidc-provider prints some NOTICE lines with console.info (stdout). Keep stdout
// reserved for the ready line so the Go harness can parse it reliably.
console.info = console.warn;
console.log = console.warn;

const HOST = '127.0.0.1';
const RESOURCE = 'urn:bench:api';
const SCOPE = 'accounts';
const TOKEN_TTL = 3600; // seconds

function fail(msg) {
  process.stderr.write(`oidc-provider peer: ${msg}\n`);
  process.exit(2);
}

const portText = process.env.PORT;
if (!portText || !/^\d+$/.test(portText)) {
  fail('environment variable PORT is required (integer 1-65535)');
}
const port = Number(portText);
if (port < 1 || port > 65535) {
  fail(`PORT out of range: ${portText}`);
}
const issuer = `http://${HOST}:${port}`;

// One fresh RSA-2048 signing key per process, exported as a private JWK.
// kid is the RFC 7638 thumbprint of the public key.
function makeSigningJwk() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  const thumbprintInput = JSON.stringify({ e: jwk.e, kty: jwk.kty, n: jwk.n });
  const kid = createHash('sha256').update(thumbprintInput).digest('base64url');
  return { ...jwk, kid, alg: 'RS256', use: 'sig' };
}
const signingJwk = makeSigningJwk();

function benchClient(clientId, clientSecret) {
  return {
    client_id: clientId,
    client_secret: clientSecret,
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    scope: SCOPE,
  };
}

const configuration = {
  clients: [
    benchClient('bench-jwt', 'bench-jwt-secret-0123456789abcdef'),
    benchClient('bench-opaque', 'bench-opaque-secret-0123456789abcdef'),
  ],
  jwks: { keys: [signingJwk] },
  scopes: [SCOPE],
  // Not used by client_credentials; set so the provider does not warn about it.
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  ttl: {
    AccessToken: TOKEN_TTL,
    ClientCredentials: TOKEN_TTL,
  },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // Every request without a "resource" parameter targets the single bench API.
      defaultResource: async () => RESOURCE,
      useGrantedResource: async () => true,
      getResourceServerInfo: async (ctx, resourceIndicator, client) => {
        if (resourceIndicator !== RESOURCE) {
          throw new errors.InvalidTarget();
        }
        return {
          scope: SCOPE,
          audience: RESOURCE,
          accessTokenTTL: TOKEN_TTL,
          accessTokenFormat: client.clientId === 'bench-jwt' ? 'jwt' : 'opaque',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
};

const provider = new Provider(issuer, configuration);

const server = createServer(provider.callback());
// Keep idle keep-alive connections open longer than typical client pools so the
// load tool does not race Node's default 5 s idle close between phases.
server.keepAliveTimeout = 65_000;
server.headersTimeout = 66_000;

server.on('error', (err) => {
  fail(`listen on ${HOST}:${port} failed: ${err.message}`);
});

server.listen(port, HOST, () => {
  process.stdout.write(`ready ${issuer}\n`);
});

function shutdown() {
  server.close();
  server.closeAllConnections();
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
