// An MCP client built on the official TypeScript SDK, for bearer-guard's MCP interop test
// (tests/suite/interop_mcp.rs): the SDK's streamable HTTP transport and its client-credentials
// auth provider, against an MCP server behind BearerLayer and McpScopes, with tokens from
// oidc-provider (provider.mjs).
//
//   node mcp_client.mjs SERVER_URL ISSUER CLIENT_ID CLIENT_SECRET SCOPE
//
// It connects (the SDK follows the 401 to the metadata document and the issuer, and gets a
// token for the server's `resource`), lists the tools, calls `whoami` and `read_messages`,
// then `send_message`, which the server refuses (403: its token has only SCOPE). The SDK's
// client-credentials provider asks for its configured scope every time, so the 403 alone
// cannot raise it: the client steps up, as the README shows, by asking for the union of its
// scopes and those the 403 named, and sends the message again.
//
// It prints one JSON object on stdout: what it saw (every HTTP exchange, without tokens or
// secrets), and the results. Any failure it did not expect exits with status 1.

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { ClientCredentialsProvider } from '@modelcontextprotocol/sdk/client/auth-extensions.js';
import { extractWWWAuthenticateParams } from '@modelcontextprotocol/sdk/client/auth.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const [serverUrl, issuer, clientId, clientSecret, scope] = process.argv.slice(2);
if (!scope) {
  console.error('usage: node mcp_client.mjs SERVER_URL ISSUER CLIENT_ID CLIENT_SECRET SCOPE');
  process.exit(2);
}

const words = (text) => (text ?? '').split(' ').filter(Boolean);

/**
 * The SDK's client-credentials provider, with a step-up: after a 403 `insufficient_scope`,
 * `stepUp(scope)` asks for the union of the scopes held and those the challenge named, and
 * drops the token, so that the next request gets a new one.
 */
class StepUpClientCredentialsProvider extends ClientCredentialsProvider {
  constructor(options) {
    super(options);
    this.scopes = new Set(words(options.scope));
  }

  prepareTokenRequest() {
    return super.prepareTokenRequest([...this.scopes].join(' '));
  }

  stepUp(challengeScope) {
    for (const word of words(challengeScope)) this.scopes.add(word);
    this.saveTokens(undefined);
  }
}

// Every HTTP exchange the SDK makes: method, URL, status, the challenge, and for the token
// endpoint the form's grant, scope and resource (never the Authorization header or a token).
const exchanges = [];
let lastInsufficientScope;
async function recordingFetch(url, init = {}) {
  const response = await fetch(url, init);
  const exchange = { method: init.method ?? 'GET', url: String(url), status: response.status };
  const challenge = response.headers.get('www-authenticate');
  if (challenge) exchange.challenge = challenge;
  if (init.body instanceof URLSearchParams) {
    const form = init.body;
    exchange.form = {
      grant_type: form.get('grant_type'),
      scope: form.get('scope'),
      resource: form.get('resource'),
    };
  } else if (typeof init.body === 'string' && init.body.startsWith('{')) {
    const message = JSON.parse(init.body);
    exchange.rpc = message.method ?? null;
    if (message.params?.name) exchange.tool = message.params.name;
  }
  if (response.status === 403) {
    const { error, scope: needed } = extractWWWAuthenticateParams(response);
    if (error === 'insufficient_scope') lastInsufficientScope = needed;
  }
  exchanges.push(exchange);
  return response;
}

const provider = new StepUpClientCredentialsProvider({
  clientId,
  clientSecret,
  scope,
  expectedIssuer: issuer,
});
const transport = new StreamableHTTPClientTransport(new URL(serverUrl), {
  authProvider: provider,
  fetch: recordingFetch,
});
const client = new Client({ name: 'bearer-guard-interop', version: '1.0.0' });

const text = (result) => result.content.map((part) => part.text).join('');
const out = { exchanges };
try {
  await client.connect(transport);
  out.server = client.getServerVersion()?.name ?? null;
  out.tools = (await client.listTools()).tools.map((tool) => tool.name).sort();
  out.whoami = JSON.parse(text(await client.callTool({ name: 'whoami', arguments: {} })));
  out.read = JSON.parse(text(await client.callTool({ name: 'read_messages', arguments: {} })));
  const message = { name: 'send_message', arguments: { text: 'from the TypeScript SDK' } };
  try {
    await client.callTool(message);
    out.refused = null;
  } catch (error) {
    out.refused = { code: error.code ?? null, message: String(error.message) };
  }
  out.challenge_scope = lastInsufficientScope ?? null;
  provider.stepUp(lastInsufficientScope);
  out.stepped_up = [...provider.scopes];
  out.sent = JSON.parse(text(await client.callTool(message)));
  out.read_after = JSON.parse(text(await client.callTool({ name: 'read_messages', arguments: {} })));
  await client.close();
} catch (error) {
  out.error = String(error?.stack ?? error);
  process.stdout.write(`${JSON.stringify(out)}\n`);
  process.exit(1);
}
process.stdout.write(`${JSON.stringify(out)}\n`);
