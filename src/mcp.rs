//! MCP servers (feature `mcp`): per-tool and per-method scope requirements, read from the
//! JSON-RPC body of Model Context Protocol requests over streamable HTTP.
//!
//! The MCP authorization specification makes an MCP server an OAuth 2.1 resource server.
//! The parts of it this crate covers, and where:
//!
//! | the MCP server must | with bearer-guard |
//! |---|---|
//! | validate access tokens, issued for this server (RFC 8707: `aud` is its canonical URI) | [`BearerLayer`](crate::BearerLayer) with the canonical URI as the audience |
//! | publish RFC 9728 metadata, at the path-inserted well-known URI | [`ProtectedResourceMetadata`](crate::ProtectedResourceMetadata): `path()` is `/.well-known/oauth-protected-resource/mcp` for `https://host/mcp` |
//! | name it in `resource_metadata=` in its 401 challenges | [`ValidatorBuilder::resource_metadata`](crate::ValidatorBuilder::resource_metadata) |
//! | answer a missing scope with 403 `insufficient_scope` naming the scopes the operation needs | [`McpScopes`]: per tool (`tools/call` by `params.name`) and per method |
//!
//! [`McpScopes`] sits between [`BearerLayer`](crate::BearerLayer) and the MCP service (rmcp's
//! `StreamableHttpService`, or any other). For a `POST` it reads the body once (at most
//! [`max_body_bytes`](McpScopes::max_body_bytes)), finds each JSON-RPC message's `method`
//! and, for `tools/call`, the tool's `params.name`, and checks the verified token's scopes
//! against what you required. The body then goes on to the service byte for byte; other
//! requests (`GET` for the SSE stream, `DELETE` to end a session) go on untouched, their
//! body not read.
//!
//! - A message whose method (or tool) has no requirement goes on with any valid token; so does
//!   a body that is not JSON-RPC (not JSON, not an object): the service answers it. The layer
//!   reads JSON with serde_json, as rmcp does, so a body the layer cannot read is one rmcp
//!   refuses as well.
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
//! - A body over the limit is refused with 413, one that cannot be read with 400; both with a
//!   JSON-RPC error body. Never a 500.
//!
//! Requirements can be declared in the layer ([`McpScopes::tool`], [`McpScopes::method`]) or
//! next to the tools, as a `const` table of [`ToolScope`]s that the tool module exports and
//! the layer takes with [`McpScopes::tools`]. [`McpScopes::check_tools`] compares the table
//! with the tools the server really has (rmcp: `ToolRouter::list_all`), so that a tool added
//! without a requirement, or a requirement left behind by a renamed tool, fails at start-up
//! rather than silently serving any valid token.
//!
//! ```
//! use axum::Router;
//! use bearer_guard::mcp::{McpScopes, ToolScope};
//! use bearer_guard::{BearerLayer, ProtectedResourceMetadata, ScopePolicy, Validator};
//!
//! /// Next to the tools (say, below rmcp's `#[tool_router] impl`): what each one needs.
//! const TOOL_SCOPES: &[ToolScope] = &[
//!     ToolScope::public("whoami"),
//!     ToolScope::all("read_messages", &["read:messages"]),
//!     ToolScope::all("send_message", &["read:messages", "write:messages"]),
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
//!     .method("resources/read", ScopePolicy::all(["read:messages"]));
//! // With rmcp: the names from `Server::tool_router().list_all()`.
//! scopes.check_tools(["whoami", "read_messages", "send_message"])?;
//!
//! let app = Router::new()
//!     .nest_service("/mcp", scopes.layer_on(mcp_service)) // rmcp's StreamableHttpService
//!     .layer(BearerLayer::new(validator))
//!     .route_service(&metadata.path(), metadata.service()); // outside the layer
//! # Ok(app) }
//! ```
//!
//! A tool handler finds the token's [`VerifiedClaims`] in the
//! extensions of the HTTP request parts that rmcp hands to tools
//! (`Extension(parts): Extension<http::request::Parts>`, then
//! `parts.extensions.get::<VerifiedClaims>()`); see `examples/mcp_server.rs`. The request
//! parts also hold the client's `Authorization` header: an MCP server must never pass that
//! token on to another service (it was issued for this server only); a tool that calls an
//! upstream API gets its own token for it.

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use http_body::Body;
use http_body_util::{BodyExt, Either, Full};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use tower_layer::Layer;
use tower_service::Service;

use crate::claims::VerifiedClaims;
use crate::error::AuthError;
use crate::layer::BearerBody;
use crate::respond::Responder;
use crate::scope::ScopePolicy;

/// The JSON-RPC method of a tool call, whose requirement is looked up by `params.name`.
pub const TOOLS_CALL: &str = "tools/call";

/// The default of [`McpScopes::max_body_bytes`]: 4 MiB, rmcp's own limit for a request body.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;

/// The request body [`McpScopes`] hands on: the original body (requests other than `POST`,
/// not read) or the buffered bytes of a `POST`, unchanged.
pub type McpRequestBody<B> = Either<B, Full<Bytes>>;

/// A tool's scope requirement, declared next to the tool as a `const`.
///
/// ```
/// use bearer_guard::mcp::ToolScope;
///
/// pub const TOOL_SCOPES: &[ToolScope] = &[
///     ToolScope::public("whoami"),                               // any valid token
///     ToolScope::all("send_message", &["read:messages", "write:messages"]),
///     ToolScope::any("search", &["read:messages", "admin"]),     // one of them
/// ];
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ToolScope {
    tool: &'static str,
    scopes: &'static [&'static str],
    any: bool,
}

impl ToolScope {
    /// The tool `tool` needs every one of `scopes`.
    pub const fn all(tool: &'static str, scopes: &'static [&'static str]) -> Self {
        ToolScope {
            tool,
            scopes,
            any: false,
        }
    }

    /// The tool `tool` needs at least one of `scopes`.
    pub const fn any(tool: &'static str, scopes: &'static [&'static str]) -> Self {
        ToolScope {
            tool,
            scopes,
            any: true,
        }
    }

    /// The tool `tool` needs no scope: any valid token may call it. Declaring it keeps
    /// [`McpScopes::check_tools`] content.
    pub const fn public(tool: &'static str) -> Self {
        Self::all(tool, &[])
    }

    /// The tool's name, as in `tools/list` and `tools/call`.
    pub fn tool(&self) -> &'static str {
        self.tool
    }

    /// The requirement as a [`ScopePolicy`].
    pub fn policy(&self) -> ScopePolicy {
        if self.any && !self.scopes.is_empty() {
            ScopePolicy::any(self.scopes.iter().copied())
        } else {
            ScopePolicy::all(self.scopes.iter().copied())
        }
    }
}

/// The requirements of an [`McpScopes`] layer.
#[derive(Debug, Default, Clone)]
struct Table {
    tools: HashMap<String, ScopePolicy>,
    methods: HashMap<String, ScopePolicy>,
    unlisted_tools: Option<ScopePolicy>,
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
    /// No requirements yet: every request with a valid token passes.
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
                .insert(scope.tool.to_owned(), scope.policy());
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

    /// Compares the requirements with the tools the server has: every tool must have a
    /// requirement (its own, [`ToolScope::public`] included, or
    /// [`unlisted_tools`](Self::unlisted_tools)), and every tool with a requirement must
    /// exist. Call it at start-up with the server's tool names (rmcp:
    /// `Server::tool_router().list_all()`, each `tool.name`).
    ///
    /// # Errors
    /// The tools without a requirement and the requirements of unknown tools.
    pub fn check_tools<I, S>(&self, tools: I) -> Result<(), ToolCoverageError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let tools: Vec<String> = tools.into_iter().map(|t| t.as_ref().to_owned()).collect();
        let mut unguarded: Vec<String> = Vec::new();
        if self.table.unlisted_tools.is_none() {
            unguarded = tools
                .iter()
                .filter(|tool| !self.table.tools.contains_key(*tool))
                .cloned()
                .collect();
        }
        let mut unknown: Vec<String> = self
            .table
            .tools
            .keys()
            .filter(|declared| !tools.contains(declared))
            .cloned()
            .collect();
        unguarded.sort();
        unknown.sort();
        if unguarded.is_empty() && unknown.is_empty() {
            Ok(())
        } else {
            Err(ToolCoverageError { unguarded, unknown })
        }
    }

    /// The policies `body` requires, in order (none: it passes with any valid token).
    fn requirements(&self, body: &[u8]) -> Vec<&ScopePolicy> {
        let messages = match parse(body) {
            Some(Parsed::Single(message)) => vec![message],
            Some(Parsed::Batch(messages)) => messages,
            None => return Vec::new(),
        };
        let table = &*self.table;
        let mut required: Vec<&ScopePolicy> = Vec::new();
        for message in &messages {
            for method in &message.methods {
                require(&mut required, table.methods.get(method.as_str()));
                if method != TOOLS_CALL {
                    continue;
                }
                for name in &message.tool_names {
                    let own = table.tools.get(name.as_str());
                    require(&mut required, own.or(table.unlisted_tools.as_ref()));
                }
                if message.tool_names.is_empty() {
                    // A tools/call without a string name, which the service refuses: only
                    // what every unlisted tool needs.
                    require(&mut required, table.unlisted_tools.as_ref());
                }
            }
        }
        required
    }
}

/// Adds `policy` to `required` unless it is there already.
fn require<'a>(required: &mut Vec<&'a ScopePolicy>, policy: Option<&'a ScopePolicy>) {
    if let Some(policy) = policy {
        if !required.iter().any(|seen| std::ptr::eq(*seen, policy)) {
            required.push(policy);
        }
    }
}

/// What [`McpScopes::check_tools`] found wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCoverageError {
    /// Tools of the server without any requirement.
    pub unguarded: Vec<String>,
    /// Tools with a requirement that the server does not have (a typo, a renamed tool).
    pub unknown: Vec<String>,
}

impl fmt::Display for ToolCoverageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if !self.unguarded.is_empty() {
            parts.push(format!(
                "tools without a scope requirement: {}",
                self.unguarded.join(", ")
            ));
        }
        if !self.unknown.is_empty() {
            parts.push(format!(
                "scope requirements for tools the server does not have: {}",
                self.unknown.join(", ")
            ));
        }
        f.write_str(&parts.join("; "))
    }
}

impl std::error::Error for ToolCoverageError {}

impl<S> Layer<S> for McpScopes {
    type Service = McpScopesService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        McpScopesService {
            inner,
            scopes: self.clone(),
        }
    }
}

/// The service of [`McpScopes`].
#[derive(Clone, Debug)]
pub struct McpScopesService<S> {
    inner: S,
    scopes: McpScopes,
}

type BoxedFuture<B, E> = Pin<Box<dyn Future<Output = Result<Response<BearerBody<B>>, E>> + Send>>;

/// The response future of [`McpScopesService`].
pub struct McpResponseFuture<B, E> {
    future: BoxedFuture<B, E>,
}

impl<B, E> fmt::Debug for McpResponseFuture<B, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("McpResponseFuture").finish_non_exhaustive()
    }
}

impl<B, E> Future for McpResponseFuture<B, E> {
    type Output = Result<Response<BearerBody<B>>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.future.as_mut().poll(cx)
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for McpScopesService<S>
where
    S: Service<Request<McpRequestBody<ReqBody>>, Response = Response<ResBody>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ReqBody: Body<Data = Bytes> + Send + 'static,
    ResBody: Send + 'static,
{
    type Response = Response<BearerBody<ResBody>>;
    type Error = S::Error;
    type Future = McpResponseFuture<ResBody, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqBody>) -> Self::Future {
        // The ready service goes into the future; a fresh clone takes its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        if request.method() != Method::POST {
            let future = inner.call(request.map(Either::Left));
            return McpResponseFuture {
                future: Box::pin(async move { Ok(future.await?.map(Either::Left)) }),
            };
        }
        let scopes = self.scopes.clone();
        McpResponseFuture {
            future: Box::pin(async move {
                let (parts, body) = request.into_parts();
                let bytes = match read_body(&parts.headers, body, scopes.max_body_bytes).await {
                    Ok(bytes) => bytes,
                    Err(refusal) => return Ok(refusal.map(Either::Right)),
                };
                if let Err(error) = scopes.authorize(&parts.extensions, &bytes) {
                    let responder = Responder::of(&parts.extensions)
                        .cloned()
                        .unwrap_or_default()
                        .with_realm(scopes.realm.as_deref());
                    let response = responder.respond_to(&parts.headers, &error);
                    return Ok(response.map(Either::Right));
                }
                let request = Request::from_parts(parts, Either::Right(Full::new(bytes)));
                Ok(inner.call(request).await?.map(Either::Left))
            }),
        }
    }
}

impl McpScopes {
    /// `Ok` when the verified claims satisfy every requirement of `body`.
    fn authorize(&self, extensions: &http::Extensions, body: &[u8]) -> Result<(), AuthError> {
        let required = self.requirements(body);
        if required.is_empty() {
            return Ok(());
        }
        let Some(claims) = extensions.get::<VerifiedClaims>() else {
            return Err(AuthError::MissingToken);
        };
        if required
            .iter()
            .all(|policy| policy.is_satisfied_by(claims.scopes()))
        {
            return Ok(());
        }
        // Every scope the request needs, not only those missing (the client unions them with
        // what it has when it asks for a new token).
        let mut names: Vec<&str> = Vec::new();
        for name in required.iter().flat_map(|policy| policy.names()) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        Err(AuthError::InsufficientScope {
            required: names.join(" "),
        })
    }
}

/// Reads a body of at most `limit` bytes; a refusal (413, 400) otherwise.
async fn read_body<B>(
    headers: &http::HeaderMap,
    body: B,
    limit: usize,
) -> Result<Bytes, Response<Full<Bytes>>>
where
    B: Body<Data = Bytes>,
{
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large(limit));
    }
    let mut body = std::pin::pin!(body);
    let mut collected = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Err(json_rpc_refusal(
                StatusCode::BAD_REQUEST,
                -32700,
                "the request body could not be read",
            ));
        };
        let Ok(mut data) = frame.into_data() else {
            continue; // trailers
        };
        if data.remaining() > limit - collected.len() {
            return Err(too_large(limit));
        }
        while data.has_remaining() {
            let chunk = data.chunk();
            collected.extend_from_slice(chunk);
            let read = chunk.len();
            data.advance(read);
        }
    }
    Ok(collected.freeze())
}

fn too_large(limit: usize) -> Response<Full<Bytes>> {
    let message = format!("the request body is larger than {limit} bytes");
    json_rpc_refusal(StatusCode::PAYLOAD_TOO_LARGE, -32600, &message)
}

/// A refusal with a JSON-RPC error body (`id` null: the request was not read).
fn json_rpc_refusal(status: StatusCode, code: i32, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": { "code": code, "message": message },
    });
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

// ---------------------------------------------------------------------------------------------
// Reading the JSON-RPC messages: only `method` and `params.name`, everything else skipped
// without building a tree. A key repeated in an object (`"method"` twice) yields every value,
// so that whichever one the service keeps, its requirement was checked.

/// The `visit_*` methods of the JSON scalars, each answering `$value`.
macro_rules! scalars_are {
    ($value:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
    };
}

/// What the layer needs of one JSON-RPC message.
#[derive(Debug, Default, PartialEq, Eq)]
struct Message {
    /// Every string `method` (several only when the key is repeated).
    methods: Vec<String>,
    /// Every string `params.name`.
    tool_names: Vec<String>,
}

#[derive(Debug, PartialEq, Eq)]
enum Parsed {
    Single(Message),
    Batch(Vec<Message>),
}

/// The message or batch in `body`; `None` for a body that is not JSON, or JSON that is
/// neither an object nor an array.
fn parse(body: &[u8]) -> Option<Parsed> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let parsed = deserializer.deserialize_any(TopVisitor).ok()?;
    deserializer.end().ok()?;
    parsed
}

struct TopVisitor;

impl<'de> Visitor<'de> for TopVisitor {
    type Value = Option<Parsed>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON-RPC message or batch")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Ok(Some(Parsed::Single(read_message(map)?)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut messages = Vec::new();
        while let Some(AnyMessage(message)) = seq.next_element()? {
            messages.push(message);
        }
        Ok(Some(Parsed::Batch(messages)))
    }

    scalars_are!(None);
}

/// A batch element: a message, or anything else (no method).
struct AnyMessage(Message);

impl<'de> de::Deserialize<'de> for AnyMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(MessageVisitor).map(AnyMessage)
    }
}

struct MessageVisitor;

impl<'de> Visitor<'de> for MessageVisitor {
    type Value = Message;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON-RPC message")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        read_message(map)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        drain_seq(seq)?;
        Ok(Message::default())
    }

    scalars_are!(Message::default());
}

fn read_message<'de, A: MapAccess<'de>>(mut map: A) -> Result<Message, A::Error> {
    let mut message = Message::default();
    while let Some(key) = map.next_key::<Key>()? {
        match key {
            Key::Method => {
                if let MaybeString(Some(method)) = map.next_value()? {
                    message.methods.push(method);
                }
            }
            Key::Params => {
                let Names(names) = map.next_value()?;
                message.tool_names.extend(names);
            }
            Key::Name | Key::Other => {
                map.next_value::<IgnoredAny>()?;
            }
        }
    }
    Ok(message)
}

/// The `params` of a message: its string `name`s.
struct Names(Vec<String>);

impl<'de> de::Deserialize<'de> for Names {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NamesVisitor)
    }
}

struct NamesVisitor;

impl<'de> Visitor<'de> for NamesVisitor {
    type Value = Names;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON-RPC params")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut names = Vec::new();
        while let Some(key) = map.next_key::<Key>()? {
            if key == Key::Name {
                if let MaybeString(Some(name)) = map.next_value()? {
                    names.push(name);
                }
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Names(names))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        drain_seq(seq)?;
        Ok(Names(Vec::new()))
    }

    scalars_are!(Names(Vec::new()));
}

/// An object key the layer cares about (compared after JSON unescaping, as the service does).
#[derive(Debug, PartialEq, Eq)]
enum Key {
    Method,
    Params,
    Name,
    Other,
}

impl<'de> de::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
                Ok(match key {
                    "method" => Key::Method,
                    "params" => Key::Params,
                    "name" => Key::Name,
                    _ => Key::Other,
                })
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// A value that is a string, or anything else (skipped).
struct MaybeString(Option<String>);

impl<'de> de::Deserialize<'de> for MaybeString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(MaybeStringVisitor)
    }
}

struct MaybeStringVisitor;

impl<'de> Visitor<'de> for MaybeStringVisitor {
    type Value = MaybeString;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        Ok(MaybeString(Some(value.to_owned())))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(MaybeString(None))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        drain_seq(seq)?;
        Ok(MaybeString(None))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(MaybeString(None))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(MaybeString(None))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(MaybeString(None))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(MaybeString(None))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(MaybeString(None))
    }
}

fn drain_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(methods: &[&str], tool_names: &[&str]) -> Message {
        Message {
            methods: methods.iter().map(|m| (*m).to_owned()).collect(),
            tool_names: tool_names.iter().map(|n| (*n).to_owned()).collect(),
        }
    }

    #[test]
    fn reads_only_method_and_tool_names() {
        let body = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call",
            "params":{"name":"send","arguments":{"name":"not this","method":"nor this"}}}"#;
        assert_eq!(
            parse(body),
            Some(Parsed::Single(message(&["tools/call"], &["send"])))
        );
        let batch = br#"[{"method":"a"}, 1, null, [], {"result":{}}, {"method":{"x":1}}]"#;
        assert_eq!(
            parse(batch),
            Some(Parsed::Batch(vec![
                message(&["a"], &[]),
                message(&[], &[]),
                message(&[], &[]),
                message(&[], &[]),
                message(&[], &[]),
                message(&[], &[]),
            ]))
        );
        // Repeated keys: every value.
        let repeated = br#"{"method":"x","method":"tools/call","params":{"name":"a","name":"b"}}"#;
        assert_eq!(
            parse(repeated),
            Some(Parsed::Single(message(&["x", "tools/call"], &["a", "b"])))
        );
    }

    #[test]
    fn bodies_that_are_not_json_rpc_have_no_messages() {
        for body in [
            &b""[..],
            b"nope",
            b"1",
            b"\"tools/call\"",
            b"{} {}",
            b"{\"method\":",
        ] {
            assert_eq!(parse(body), None, "{:?}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn deep_arguments_cannot_hide_the_tool() {
        // What the layer skips is skipped without a depth limit (serde_json's `IgnoredAny`),
        // so it reads at least every body rmcp reads (rmcp's `Value`s stop at depth 128).
        let deep = format!("{}{}", "[".repeat(500), "]".repeat(500));
        let body =
            format!(r#"{{"method":"tools/call","params":{{"arguments":{deep},"name":"send"}}}}"#);
        assert_eq!(
            parse(body.as_bytes()),
            Some(Parsed::Single(message(&["tools/call"], &["send"])))
        );
    }

    #[test]
    fn requirements_combine_method_and_tool() {
        let scopes = McpScopes::new()
            .tools(&[
                ToolScope::all("send", &["write"]),
                ToolScope::any("find", &["a", "b"]),
            ])
            .method(TOOLS_CALL, ScopePolicy::all(["tools"]));
        let names = |body: &[u8]| -> Vec<String> {
            let required = scopes.requirements(body);
            required
                .iter()
                .flat_map(|p| p.names())
                .map(str::to_owned)
                .collect()
        };
        assert_eq!(
            names(br#"{"method":"tools/call","params":{"name":"send"}}"#),
            ["tools", "write"]
        );
        assert_eq!(
            names(br#"[{"method":"tools/call","params":{"name":"send"}},{"method":"tools/call","params":{"name":"find"}}]"#),
            ["tools", "write", "a", "b"]
        );
        assert!(names(br#"{"method":"tools/list"}"#).is_empty());
        assert_eq!(
            ToolScope::public("x").policy(),
            ScopePolicy::all(Vec::<String>::new())
        );
    }
}
