// The official Finch TypeScript SDK against grantd's payroll dialect.
//
// Run by internal/dialect/payroll/sdk_test.go, which starts grantd, makes a
// client and a one-time code, and passes them here:
//   GRANTD_BASE_URL      grantd's URL (the SDK's baseURL)
//   FINCH_CLIENT_ID      the client's id (a UUID)
//   FINCH_CLIENT_SECRET  its secret
//   FINCH_CODE           the authorization code
//   FINCH_REDIRECT_URI   optional: the redirect_uri of the authorization
//   FINCH_EXPECTED       JSON: the expected value of every response field
//                        except access_token
//   FINCH_RESULT_FILE    optional: where to write the response (JSON), so
//                        that the Go test can introspect the token
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import Finch from '@tryfinch/finch-api';

function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set; run this through go test ./internal/dialect/payroll/`);
  return v;
}

// Every field of CreateAccessTokenResponse, none more.
const FIELDS = [
  'access_token', 'token_type', 'connection_id', 'customer_id', 'customer_name', 'account_id',
  'client_type', 'company_id', 'connection_type', 'products', 'provider_id', 'entity_ids',
].sort();

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;

test('accessTokens.create exchanges the code once', async () => {
  const client = new Finch({
    baseURL: env('GRANTD_BASE_URL'),
    clientID: env('FINCH_CLIENT_ID'),
    clientSecret: env('FINCH_CLIENT_SECRET'),
  });
  const params = { code: env('FINCH_CODE') };
  if (process.env.FINCH_REDIRECT_URI) params.redirect_uri = process.env.FINCH_REDIRECT_URI;
  const expected = JSON.parse(env('FINCH_EXPECTED'));

  const res = await client.accessTokens.create(params);

  assert.deepEqual(Object.keys(res).sort(), FIELDS);
  assert.equal(typeof res.access_token, 'string');
  assert.match(res.access_token, JWT);
  assert.equal(res.token_type, 'bearer');
  assert.match(res.connection_id, UUID);
  for (const k of ['customer_id', 'customer_name']) {
    assert.ok(res[k] === null || typeof res[k] === 'string', `${k} is a string or null`);
  }
  assert.ok(['development', 'production', 'sandbox'].includes(res.client_type), 'client_type');
  assert.ok(['provider', 'finch'].includes(res.connection_type), 'connection_type');
  assert.ok(Array.isArray(res.products) && res.products.every((p) => typeof p === 'string'), 'products');
  assert.equal(typeof res.provider_id, 'string');
  assert.ok(Array.isArray(res.entity_ids) && res.entity_ids.every((id) => UUID.test(id)), 'entity_ids');
  for (const [k, v] of Object.entries(expected)) {
    assert.deepEqual(res[k], v, k);
  }
  if (process.env.FINCH_RESULT_FILE) writeFileSync(process.env.FINCH_RESULT_FILE, JSON.stringify(res));

  // The same code again (as a retry after a lost answer would send it): an
  // error in Finch's shape, never a second token.
  await assert.rejects(client.accessTokens.create(params), (err) => {
    assert.ok(err instanceof Finch.BadRequestError, `BadRequestError, got ${err}`);
    assert.equal(err.status, 400);
    assert.deepEqual(err.error, {
      code: 400,
      name: 'invalid_grant_error',
      message: 'The authorization code has already been used.',
    });
    assert.match(err.headers.get('finch-request-id') ?? '', UUID);
    assert.ok(!JSON.stringify(err.error).includes(params.code), 'the code is not echoed');
    return true;
  });
});
