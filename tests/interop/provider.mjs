// A real, independent OAuth 2.0 authorization server for bearer-guard's interop tests
// (tests/suite/interop.rs, tests/suite/interop_dpop.rs): `oidc-provider` on 127.0.0.1, client credentials
// grant, RS256 JWT access tokens (RFC 9068, `typ: at+jwt`) for the API
// `https://api.example.com`, bound to a DPoP key when the token request carries a proof;
// opaque access tokens for the same API to OPAQUE_CLIENT, with token introspection (RFC 7662,
// and RFC 9701 signed responses for API_JWT_CLIENT) and revocation (RFC 7009) for them.
//
//   node provider.mjs [--port N] [--keys-file PATH] [--fresh-keys] [--key-set LABEL]
//                     [--key-count N] [--signing-key KID|INDEX] [--resource URI]
//                     [--encryption-jwk JSON] [--exit-with-stdin]
//
// Every option may also come from the environment: PORT, KEYS_FILE, FRESH_KEYS=1, KEY_SET,
// KEY_COUNT, SIGNING_KEY, RESOURCE, ENCRYPTION_JWK, EXIT_WITH_STDIN=1.
// `--encryption-jwk` (an RSA public JWK with its `kid`) registers the resource server
// ENCRYPTED_API, whose JWT access tokens are signed (RS256) and then encrypted to that key
// (RSA-OAEP-256, A256GCM; `cty: at+jwt`, the key's `kid`): a nested JWT (tests/suite/interop_jwe.rs). `--resource` registers one more
// resource server, with the same scopes, whose URI is its audience: an MCP server's canonical
// URI, known only once the test has bound its port (tests/suite/interop_mcp.rs). The token lifetimes come from ACCESS_TOKEN_TTL
// (seconds, default 300) and SHORT_ACCESS_TOKEN_TTL (default 2, for the short-lived client).
//
// Keys: `--key-count` (default 2) RSA-2048 keys are generated at start-up, with the kids
// `<key-set>-1`, `<key-set>-2`, ... (`--key-set` defaults to a random label, so every start
// has kids never seen before). With `--keys-file`, the private keys are kept in that file:
// a later start reuses them unless `--fresh-keys` is given (which generates and stores a new
// set). `--signing-key` picks the key that signs, by kid or by 1-based index (default: the
// first); oidc-provider signs with the first key of the matching algorithm, so that key is
// put first and the others follow in their original order.
//
// Once listening it prints one JSON line on stdout, then nothing else there:
//   {"issuer":"http://127.0.0.1:PORT","port":PORT,"kids":[...],"signing_kid":"...","pid":N}
// The issuer has no trailing slash. `--port 0` (the default) lets the system choose.
// `--exit-with-stdin` makes the process exit when its stdin closes, so that it never
// outlives the test that started it, even one that was killed.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import { parseArgs } from 'node:util';

import Provider, { errors } from 'oidc-provider';

export const API = 'https://api.example.com';
export const OTHER_API = 'https://other.example.com';
export const ENCRYPTED_API = 'https://encrypted.example.com';
export const SCOPES = 'read:messages write:messages';
export const CLIENT = { id: 'interop-client', secret: 'interop-client-secret-0123456789abcdef' };
export const SHORT_CLIENT = {
  id: 'interop-short-client',
  secret: 'interop-short-client-secret-0123456789abcdef',
};
// Its tokens for the API are opaque (the resource server says so), not JWTs.
export const OPAQUE_CLIENT = {
  id: 'interop-opaque-client',
  secret: 'interop-opaque-client-secret-0123456789abcdef',
};
// The API's own credentials at the provider, for introspection: plain JSON answers for
// API_CLIENT, RFC 9701 signed ones (RS256) for API_JWT_CLIENT.
export const API_CLIENT = { id: 'interop-api', secret: 'interop-api-secret-0123456789abcdef' };
export const API_JWT_CLIENT = {
  id: 'interop-api-jwt',
  secret: 'interop-api-jwt-secret-0123456789abcdef',
};

const { values: args } = parseArgs({
  options: {
    port: { type: 'string', default: process.env.PORT ?? '0' },
    'keys-file': { type: 'string', default: process.env.KEYS_FILE },
    'fresh-keys': { type: 'boolean', default: process.env.FRESH_KEYS === '1' },
    'key-set': { type: 'string', default: process.env.KEY_SET },
    'key-count': { type: 'string', default: process.env.KEY_COUNT ?? '2' },
    'signing-key': { type: 'string', default: process.env.SIGNING_KEY },
    resource: { type: 'string', default: process.env.RESOURCE },
    'encryption-jwk': { type: 'string', default: process.env.ENCRYPTION_JWK },
    'exit-with-stdin': { type: 'boolean', default: process.env.EXIT_WITH_STDIN === '1' },
  },
  strict: true,
});

function positiveInteger(text, name) {
  const value = Number(text);
  if (!Number.isInteger(value) || value <= 0) {
    throw new Error(`${name} must be a positive integer, got ${JSON.stringify(text)}`);
  }
  return value;
}

const accessTokenTTL = positiveInteger(process.env.ACCESS_TOKEN_TTL ?? '300', 'ACCESS_TOKEN_TTL');
const shortAccessTokenTTL = positiveInteger(
  process.env.SHORT_ACCESS_TOKEN_TTL ?? '2',
  'SHORT_ACCESS_TOKEN_TTL',
);
const port = Number(args.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  throw new Error(`--port must be 0..65535, got ${JSON.stringify(args.port)}`);
}

// ---- keys -------------------------------------------------------------------------------

function generateKeys() {
  const count = positiveInteger(args['key-count'], '--key-count');
  const label = args['key-set'] ?? crypto.randomBytes(4).toString('hex');
  return Array.from({ length: count }, (_, i) => {
    const { privateKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    return { ...privateKey.export({ format: 'jwk' }), kid: `${label}-${i + 1}`, alg: 'RS256', use: 'sig' };
  });
}

function loadOrGenerateKeys() {
  const file = args['keys-file'];
  if (file && !args['fresh-keys'] && fs.existsSync(file)) {
    return JSON.parse(fs.readFileSync(file, 'utf8')).keys;
  }
  const keys = generateKeys();
  if (file) {
    fs.writeFileSync(file, JSON.stringify({ keys }), { mode: 0o600 });
  }
  return keys;
}

/** The keys with the signing key first (oidc-provider signs with the first RS256 key). */
function signingFirst(keys) {
  const choice = args['signing-key'];
  if (choice === undefined) return keys;
  let index = keys.findIndex((key) => key.kid === choice);
  if (index < 0 && /^[0-9]+$/.test(choice)) index = Number(choice) - 1;
  if (index < 0 || index >= keys.length) {
    throw new Error(`--signing-key ${choice}: no such key among ${keys.map((k) => k.kid).join(', ')}`);
  }
  return [keys[index], ...keys.filter((_, i) => i !== index)];
}

const keys = signingFirst(loadOrGenerateKeys());

// ---- the provider -----------------------------------------------------------------------

const resourceServers = new Map([
  [API, { audience: API }],
  [OTHER_API, { audience: OTHER_API }],
]);
if (args.resource) {
  resourceServers.set(args.resource, { audience: args.resource });
}
if (args['encryption-jwk']) {
  const jwk = JSON.parse(args['encryption-jwk']);
  resourceServers.set(ENCRYPTED_API, {
    audience: ENCRYPTED_API,
    encrypt: {
      alg: 'RSA-OAEP-256',
      enc: 'A256GCM',
      key: crypto.createPublicKey({ key: jwk, format: 'jwk' }),
      kid: jwk.kid,
    },
  });
}

const resourceServerClients = [API_CLIENT, API_JWT_CLIENT].map(({ id, secret }) => ({
  client_id: id,
  client_secret: secret,
  grant_types: [],
  token_endpoint_auth_method: 'client_secret_basic',
  redirect_uris: [],
  response_types: [],
  ...(id === API_JWT_CLIENT.id ? { introspection_signed_response_alg: 'RS256' } : {}),
}));

const configuration = {
  clients: [CLIENT, SHORT_CLIENT, OPAQUE_CLIENT].map(({ id, secret }) => ({
    client_id: id,
    client_secret: secret,
    grant_types: ['client_credentials'],
    token_endpoint_auth_method: 'client_secret_basic',
    redirect_uris: [],
    response_types: [],
  })).concat(resourceServerClients),
  jwks: { keys },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    jwtIntrospection: { enabled: true },
    revocation: { enabled: true },
    // DPoP (RFC 9449): a token request with a `DPoP` proof gets a token bound to the proof's
    // key (`cnf.jkt`, `token_type: DPoP`); no server nonce.
    dPoP: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // A token request without `resource` is for the API.
      defaultResource: (_ctx, _client, oneOf) => oneOf ?? API,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, resourceIndicator, client) => {
        const server = resourceServers.get(resourceIndicator);
        if (!server) throw new errors.InvalidTarget();
        return {
          scope: SCOPES,
          audience: server.audience,
          accessTokenFormat: client.clientId === OPAQUE_CLIENT.id ? 'opaque' : 'jwt',
          accessTokenTTL: client.clientId === SHORT_CLIENT.id ? shortAccessTokenTTL : accessTokenTTL,
          jwt: { sign: { alg: 'RS256' }, ...(server.encrypt ? { encrypt: server.encrypt } : {}) },
        };
      },
    },
  },
  // Client credentials tokens take their lifetime from the resource server (above).
  ttl: {
    ClientCredentials: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? accessTokenTTL,
  },
  cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
};

const server = http.createServer();
server.listen(port, '127.0.0.1', () => {
  const chosen = server.address().port;
  const issuer = `http://127.0.0.1:${chosen}`;
  const provider = new Provider(issuer, configuration);
  provider.on('server_error', (_ctx, error) => console.error('oidc-provider server_error:', error));
  server.on('request', provider.callback());
  process.stdout.write(`${JSON.stringify({
    issuer,
    port: chosen,
    kids: keys.map((key) => key.kid),
    signing_kid: keys[0].kid,
    pid: process.pid,
  })}\n`);
});
server.on('error', (error) => {
  console.error(`provider.mjs: cannot listen on 127.0.0.1:${port}: ${error.message}`);
  process.exit(1);
});

function shutDown() {
  server.close();
  server.closeAllConnections();
  process.exit(0);
}
process.on('SIGTERM', shutDown);
process.on('SIGINT', shutDown);
if (args['exit-with-stdin']) {
  process.stdin.on('end', shutDown);
  process.stdin.on('error', shutDown);
  process.stdin.resume();
}
