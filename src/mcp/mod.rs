//! MCP servers (feature `mcp`): per-tool, per-prompt, per-resource and per-method scope
//! requirements, read from the JSON-RPC body of Model Context Protocol requests over
//! streamable HTTP.
//!
//! The MCP authorization specification makes an MCP server an OAuth 2.1 resource server.
//! The parts of it this crate covers, and where:
//!
//! | the MCP server must | with bearer-guard |
//! |---|---|
//! | validate access tokens, issued for this server (RFC 8707: `aud` is its canonical URI) | [`BearerLayer`](crate::BearerLayer) with the canonical URI as the audience |
//! | publish RFC 9728 metadata, at the path-inserted well-known URI | [`ProtectedResourceMetadata`](crate::ProtectedResourceMetadata): `path()` is `/.well-known/oauth-protected-resource/mcp` for `https://host/mcp` |
//! | name it in `resource_metadata=` in its 401 challenges | [`ValidatorBuilder::resource_metadata`](crate::ValidatorBuilder::resource_metadata) |
//! | name the scopes to start with in `scope=` in its 401 challenges | [`ValidatorBuilder::initial_scopes`](crate::ValidatorBuilder::initial_scopes), by default the `scopes_supported` given with [`ValidatorBuilder::protected_resource`](crate::ValidatorBuilder::protected_resource) |
//! | account for scope hierarchies | [`ScopeHierarchy`](crate::ScopeHierarchy), the validator's: every requirement here is checked with it |
//! | answer a missing scope with 403 `insufficient_scope` naming the scopes the operation needs | [`McpScopes`]: per tool (`tools/call` by `params.name`), per prompt (`prompts/get` by `params.name`), per resource (`resources/read` by `params.uri`, exact or by URI template) and per method |
//! | refuse routing headers (`Mcp-Method`, `Mcp-Name`, revision 2026-07-28) that do not match the body: 400, `HeaderMismatch` (-32020) | [`McpScopes`], whenever a requirement is declared |
//!
//! [`McpScopes`] sits between [`BearerLayer`](crate::BearerLayer) and the MCP service (rmcp's
//! `StreamableHttpService`, or any other). For a `POST` it reads the body once (at most
//! [`max_body_bytes`](McpScopes::max_body_bytes)), finds each JSON-RPC message's `method`
//! and the target of `tools/call` and `prompts/get` (`params.name`) and of `resources/read`
//! (`params.uri`), and checks the verified token's scopes
//! against what you required. The body then goes on to the service byte for byte.
//!
//! **It fails closed.** Once any requirement is declared (a tool, a method, `unlisted_tools`,
//! even a [public](ToolScope::public) tool), what the layer cannot read is refused rather than
//! handed on: a check that passes whatever it cannot parse is only as safe as the service
//! behind it is strict, and this layer stands on its own.
//!
//! - `GET` (the SSE stream) and `DELETE` (the end of a session) go on untouched: their body is
//!   neither read nor buffered, and carries no JSON-RPC call in MCP's streamable HTTP
//!   transport. Any other method is refused with 405 and `Allow: GET, POST, DELETE`.
//! - A `POST` must be `application/json` (parameters such as `charset` and any letter case
//!   allowed) with no `Content-Encoding` but `identity`; anything else is refused with 415. The
//!   layer decodes no compression: a compressed body it checked as bytes could be a call once a
//!   decoding service behind it inflates it. Put a decompression layer *in front of* this one
//!   (it removes the header) if clients compress.
//! - The body must be one JSON-RPC 2.0 message (`"jsonrpc": "2.0"`, a string `method`, or a
//!   `result` / `error` answer) or a non-empty batch of them, with nothing after it: otherwise
//!   400 (JSON-RPC code -32700 for what is not JSON, -32600 for JSON that is not JSON-RPC).
//! - A `tools/call` or `prompts/get` whose `params.name` is missing or not a string (or is
//!   repeated with a value that is not a string), or a `resources/read` whose `params.uri` is,
//!   is refused with 400 (-32602), whatever the token's scopes.
//!   Refused rather than held to the strictest policy: no policy is "strictest" when tools
//!   require unrelated scopes, the MCP schema makes the name a required string, and rmcp
//!   refuses such a call anyway, so no correct client is turned away.
//! - A body over the limit is refused with 413, one that fails while being read with 400.
//! - The routing headers of MCP revision 2026-07-28 ([`MCP_METHOD`], [`MCP_NAME`]; streamable
//!   HTTP transport, "Standard Request Headers"), when present, must match the body: the
//!   `method`, and the `params.name` (`params.uri` for `resources/read`), after decoding a
//!   `=?base64?...?=` value. A mismatch, a header sent twice or not visible ASCII, an
//!   `Mcp-Name` on a method without a name, or a routing header on a batch is refused with 400
//!   and MCP's `HeaderMismatch` code (-32020). Absent headers are not required here (older
//!   revisions have none); the scopes always come from the body.
//!
//! Every one of these refusals has a JSON-RPC error body (`{"jsonrpc": "2.0", "id": null,
//! "error": {"code", "message"}}`, `Cache-Control: no-store`) and no challenge: they are not
//! about the token. They never echo the body. Never a 500. With no requirement declared at all
//! ([`McpScopes::new`] alone) the layer checks nothing and hands every request on (a `POST`
//! body still within the limit).
//!
//! Then the scopes:
//!
//! - A message whose method (or tool, prompt, resource) has no requirement goes on with any
//!   valid token. A resource URI declared itself needs its own requirement; another URI needs
//!   that of every [template](ResourceScope::template) it matches. A template is RFC 6570
//!   level 1: literal text matches itself, and a `{var}` matches one or more characters among
//!   `A-Z a-z 0-9 - . _ ~ %` (a simple expansion), so never an empty value and never a `/`:
//!   `messages://{id}` matches `messages://42`, not `messages://` nor `messages://42/x`. The
//!   layer reads JSON with serde_json, as rmcp does; a key repeated in an object (`"method"`
//!   twice) yields every value, so whichever the service keeps, its requirement was checked.
//! - A batch (a JSON array of messages) passes only if every message in it passes.
//! - A refusal is 403 `insufficient_scope` whose `scope=` lists **every** scope the request
//!   needs (for a batch, every scope of every message with a requirement), not only the
//!   missing ones: what the MCP specification asks. A client stepping up requests a new token
//!   with the union of these and the scopes it already has; that union is the client's job
//!   (rmcp's client does it), the server does not know which scopes a client holds elsewhere.
//!   The challenge carries `resource_metadata=` and the realm when the validator has them,
//!   and the body is written by the validator's [error hook](crate::ValidatorBuilder::error_body).
//! - A request with a requirement but no verified claims (no [`BearerLayer`](crate::BearerLayer)
//!   in front, or an [optional](crate::BearerLayer::optional) one and no token) gets 401.
//!
//! Requirements can be declared in the layer ([`McpScopes::tool`], [`McpScopes::method`]) or
//! next to the tools, as a `const` table of [`ToolScope`]s that the tool module exports and
//! the layer takes with [`McpScopes::tools`]. [`McpScopes::check_tools`] compares the table
//! with the tools the server really has (rmcp: `ToolRouter::list_all`), so that a tool added
//! without a requirement, or a requirement left behind by a renamed tool, fails at start-up
//! rather than silently serving any valid token. [`PromptScope`]s ([`McpScopes::prompts`],
//! [`McpScopes::check_prompts`] against rmcp's `PromptRouter::list_all`) and
//! [`ResourceScope`]s ([`McpScopes::resources`], [`McpScopes::check_resources`] against the
//! server's `resources/list` and `resources/templates/list`) work the same way.
//!
//! ```
//! use axum::Router;
//! use bearer_guard::mcp::{McpScopes, PromptScope, ResourceScope, ToolScope};
//! use bearer_guard::{BearerLayer, ProtectedResourceMetadata, ScopePolicy, Validator};
//!
//! /// Next to the tools (say, below rmcp's `#[tool_router] impl`): what each one needs.
//! const TOOL_SCOPES: &[ToolScope] = &[
//!     ToolScope::public("whoami"),
//!     ToolScope::all("read_messages", &["read:messages"]),
//!     ToolScope::all("send_message", &["read:messages", "write:messages"]),
//! ];
//! /// Next to the prompts and the resources.
//! const PROMPT_SCOPES: &[PromptScope] = &[PromptScope::all("summarize", &["read:messages"])];
//! const RESOURCE_SCOPES: &[ResourceScope] = &[
//!     ResourceScope::uri("messages://inbox", &["read:messages"]),
//!     ResourceScope::template("messages://{id}", &["read:messages"]),
//! ];
//!
//! # fn app(mcp_service: axum::routing::Router) -> Result<Router, Box<dyn std::error::Error>> {
//! // The canonical URI of the MCP server: the audience of its tokens (RFC 8707).
//! let resource = "https://mcp.example.com/mcp";
//! let metadata = ProtectedResourceMetadata::new(resource)
//!     .scopes_supported(["read:messages", "write:messages"]);
//! let validator = Validator::builder()
//!     .issuer("https://my-tenant.us.auth0.com/")
//!     .audience(resource)
//!     .resource_metadata(metadata.url()) // https://mcp.example.com/.well-known/oauth-protected-resource/mcp
//!     .build()?;
//! let metadata = metadata.authorization_servers_of(&validator);
//!
//! let scopes = McpScopes::new()
//!     .tools(TOOL_SCOPES)
//!     .prompts(PROMPT_SCOPES)
//!     .resources(RESOURCE_SCOPES)
//!     .method("resources/list", ScopePolicy::all(["read:messages"]));
//! // With rmcp: the names from `Server::tool_router().list_all()`, ...
//! scopes.check_tools(["whoami", "read_messages", "send_message"])?;
//! scopes.check_prompts(["summarize"])?;
//! scopes.check_resources(["messages://inbox"], ["messages://{id}"])?;
//!
//! let app = Router::new()
//!     .nest_service("/mcp", scopes.layer_on(mcp_service)) // rmcp's StreamableHttpService
//!     .layer(BearerLayer::new(validator))
//!     .route_service(&metadata.path(), metadata.service()); // outside the layer
//! # Ok(app) }
//! ```
//!
//! A tool handler finds the token's [`VerifiedClaims`](crate::VerifiedClaims) in the
//! extensions of the HTTP request parts that rmcp hands to tools
//! (`Extension(parts): Extension<http::request::Parts>`, then
//! `parts.extensions.get::<VerifiedClaims>()`); see `examples/mcp_server/main.rs`. The request
//! parts also hold the client's `Authorization` header: an MCP server must never pass that
//! token on to another service (it was issued for this server only); a tool that calls an
//! upstream API gets its own token for it.

mod coverage;
mod declare;
mod jsonrpc;
mod request;
mod routing;
mod service;
mod template;

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{Either, Full};
use tower_layer::Layer;

use crate::scope::ScopePolicy;
pub use coverage::{CoverageError, ToolCoverageError};
pub use declare::{PromptScope, ResourceScope, ToolScope};
use jsonrpc::parse;
use request::Refusal;
pub use routing::{MCP_METHOD, MCP_NAME};
pub use service::{McpResponseFuture, McpScopesService};
use template::UriTemplate;

/// The JSON-RPC method of a tool call, whose requirement is looked up by `params.name`.
pub const TOOLS_CALL: &str = "tools/call";

/// The JSON-RPC method of a prompt, whose requirement is looked up by `params.name`.
pub const PROMPTS_GET: &str = "prompts/get";

/// The JSON-RPC method of a resource read, whose requirement is looked up by `params.uri`.
pub const RESOURCES_READ: &str = "resources/read";

/// The default of [`McpScopes::max_body_bytes`]: 4 MiB, rmcp's own limit for a request body.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The request body [`McpScopes`] hands on: the original body (`GET` and `DELETE`, not read)
/// or the buffered bytes of a `POST`, unchanged.
pub type McpRequestBody<B> = Either<B, Full<Bytes>>;

/// The requirements of an [`McpScopes`] layer.
#[derive(Debug, Default, Clone)]
struct Table {
    tools: HashMap<String, ScopePolicy>,
    prompts: HashMap<String, ScopePolicy>,
    /// Resources by their exact URI.
    resources: HashMap<String, ScopePolicy>,
    /// Resource templates, by their text; `None` for one that is not level 1 (it matches
    /// nothing, and [`McpScopes::check_resources`] reports it).
    templates: Vec<(String, Option<UriTemplate>, ScopePolicy)>,
    methods: HashMap<String, ScopePolicy>,
    unlisted_tools: Option<ScopePolicy>,
}

impl Table {
    /// No requirement declared at all (not even a public tool): the layer checks nothing, so it
    /// reads nothing and refuses nothing but an oversized body.
    fn is_empty(&self) -> bool {
        self.tools.is_empty()
            && self.prompts.is_empty()
            && self.resources.is_empty()
            && self.templates.is_empty()
            && self.methods.is_empty()
            && self.unlisted_tools.is_none()
    }

    /// Adds to `required` what reading `uri` needs: its own requirement if the URI is
    /// declared, or else that of every template it matches (all of them: the order of the
    /// declarations decides nothing).
    fn require_resource<'a>(&'a self, required: &mut Vec<&'a ScopePolicy>, uri: &str) {
        if let Some(own) = self.resources.get(uri) {
            require(required, Some(own));
            return;
        }
        for (_, template, policy) in &self.templates {
            if template.as_ref().is_some_and(|t| t.matches(uri)) {
                require(required, Some(policy));
            }
        }
    }
}

/// Scope requirements per MCP tool and per JSON-RPC method: a tower layer for an MCP
/// server's streamable HTTP endpoint, behind [`BearerLayer`](crate::BearerLayer). See the
/// [module documentation](self) for what it reads and answers.
///
/// ```
/// use bearer_guard::ScopePolicy;
/// use bearer_guard::mcp::McpScopes;
///
/// let scopes = McpScopes::new()
///     .tool("read_messages", ScopePolicy::all(["read:messages"]))
///     .tool("send_message", ScopePolicy::all(["read:messages", "write:messages"]))
///     // Also required of every tool call, on top of the tool's own requirement.
///     .method("tools/call", ScopePolicy::all(["mcp:tools"]))
///     .method("resources/read", ScopePolicy::all(["read:messages"]))
///     // Tools not listed: this instead of nothing.
///     .unlisted_tools(ScopePolicy::all(["admin"]));
/// # let _ = scopes;
/// ```
#[derive(Clone, Debug)]
pub struct McpScopes {
    table: Arc<Table>,
    max_body_bytes: usize,
    realm: Option<String>,
}

impl Default for McpScopes {
    fn default() -> Self {
        Self::new()
    }
}

impl McpScopes {
    /// No requirements yet: every request with a valid token passes, and nothing is refused
    /// but an oversized `POST` body. The first requirement makes the layer fail closed (see
    /// the [module documentation](self)).
    pub fn new() -> Self {
        McpScopes {
            table: Arc::default(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            realm: None,
        }
    }

    fn table(&mut self) -> &mut Table {
        Arc::make_mut(&mut self.table)
    }

    /// `tools/call` of the tool `name` requires `policy` (replacing any earlier requirement
    /// of that tool).
    pub fn tool(mut self, name: impl Into<String>, policy: ScopePolicy) -> Self {
        self.table().tools.insert(name.into(), policy);
        self
    }

    /// The requirements declared next to the tools.
    pub fn tools<'a, I>(mut self, declared: I) -> Self
    where
        I: IntoIterator<Item = &'a ToolScope>,
    {
        for scope in declared {
            self.table()
                .tools
                .insert(scope.tool().to_owned(), scope.policy());
        }
        self
    }

    /// The requirements declared next to the prompts (`prompts/get` by `params.name`). A
    /// prompt without one needs only what [`method`](Self::method) asks of `prompts/get`.
    pub fn prompts<'a, I>(mut self, declared: I) -> Self
    where
        I: IntoIterator<Item = &'a PromptScope>,
    {
        for scope in declared {
            let policy = scope.policy();
            self.table()
                .prompts
                .insert(scope.prompt().to_owned(), policy);
        }
        self
    }

    /// The requirements declared next to the resources (`resources/read` by `params.uri`).
    /// A URI declared itself needs its own requirement only; any other URI needs that of
    /// every template it matches (see [`ResourceScope::template`] and the module
    /// documentation for the matching rule), and one matching none only what
    /// [`method`](Self::method) asks of `resources/read`.
    pub fn resources<'a, I>(mut self, declared: I) -> Self
    where
        I: IntoIterator<Item = &'a ResourceScope>,
    {
        for scope in declared {
            let (target, policy) = (scope.target().to_owned(), scope.policy());
            let table = self.table();
            if scope.is_template() {
                table.templates.retain(|(text, _, _)| *text != target);
                let parsed = UriTemplate::parse(&target);
                table.templates.push((target, parsed, policy));
            } else {
                table.resources.insert(target, policy);
            }
        }
        self
    }

    /// The JSON-RPC method `method` (`tools/list`, `resources/read`, `prompts/get`, ...)
    /// requires `policy`. For `tools/call` it is required of every tool, on top of the tool's
    /// own requirement.
    pub fn method(mut self, method: impl Into<String>, policy: ScopePolicy) -> Self {
        self.table().methods.insert(method.into(), policy);
        self
    }

    /// What a `tools/call` of a tool without its own requirement needs (default: nothing
    /// beyond a valid token).
    pub fn unlisted_tools(mut self, policy: ScopePolicy) -> Self {
        self.table().unlisted_tools = Some(policy);
        self
    }

    /// The largest `POST` body read (default [`DEFAULT_MAX_BODY_BYTES`]); a larger one is
    /// refused with 413 before it reaches the service.
    pub fn max_body_bytes(mut self, limit: usize) -> Self {
        self.max_body_bytes = limit;
        self
    }

    /// The `realm` of the challenges this layer sends (default: the validator's).
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// Wraps `service` (the same as [`Layer::layer`]).
    pub fn layer_on<S>(&self, service: S) -> McpScopesService<S> {
        self.layer(service)
    }

    /// The policies `body` requires, in order (none: it passes with any valid token), or why
    /// the layer cannot read it.
    /// The routing headers are checked against the body first; the requirements come from
    /// the body alone.
    fn requirements(
        &self,
        headers: &http::HeaderMap,
        body: &[u8],
    ) -> Result<Vec<&ScopePolicy>, Refusal> {
        let messages = parse(body)?;
        routing::check(headers, &messages)?;
        let table = &*self.table;
        let mut required: Vec<&ScopePolicy> = Vec::new();
        for message in &messages {
            for method in &message.methods {
                require(&mut required, table.methods.get(method.as_str()));
                // Never empty for these methods: `parse` refuses them without a string target.
                match method.as_str() {
                    TOOLS_CALL => {
                        for name in &message.names {
                            let own = table.tools.get(name.as_str());
                            require(&mut required, own.or(table.unlisted_tools.as_ref()));
                        }
                    }
                    PROMPTS_GET => {
                        for name in &message.names {
                            require(&mut required, table.prompts.get(name.as_str()));
                        }
                    }
                    RESOURCES_READ => {
                        for uri in &message.uris {
                            table.require_resource(&mut required, uri);
                        }
                    }
                    _ => {}
                }
            }
        }
        Ok(required)
    }
}

/// Adds `policy` to `required` unless it is there already.
fn require<'a>(required: &mut Vec<&'a ScopePolicy>, policy: Option<&'a ScopePolicy>) {
    if let Some(policy) = policy
        && !required.iter().any(|seen| std::ptr::eq(*seen, policy))
    {
        required.push(policy);
    }
}

#[cfg(test)]
mod tests;
