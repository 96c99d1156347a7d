//! MCP servers: an rmcp streamable HTTP service behind `BearerLayer` and `McpScopes`, with the
//! RFC 9728 document outside the layer. Raw JSON-RPC requests through the router (statuses,
//! challenges, bodies, batches, bodies that are not JSON-RPC, oversized bodies), and rmcp's own
//! client over real HTTP, with tokens from the test issuer's token endpoint (RFC 8707
//! `resource`).

use crate::common;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use bearer_guard::mcp::{McpRequestBody, McpScopes, ToolScope};
use bearer_guard::testing::{Api, TestIssuer};
use bearer_guard::{
    BearerLayer, ErrorBody, ProtectedResourceMetadata, ScopePolicy, Validator, VerifiedClaims,
};
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, StreamBody};
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::Extension;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolRequestParams, ServerCapabilities, ServerConfig};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, ServerHandler, ServiceExt, schemars, tool, tool_handler, tool_router};
use serde_json::{Value, json};
use tower::ServiceExt as _;

/// The MCP server's canonical URI: the audience of its tokens.
pub(crate) const RESOURCE: &str = "https://mcp.example.com/mcp";
const METADATA_URL: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";
const METADATA_PATH: &str = "/.well-known/oauth-protected-resource/mcp";
const OTHER: &str = "https://api.example.com";
pub(crate) const READ: &str = "read:messages";
pub(crate) const WRITE: &str = "write:messages";
const CLIENT: &str = "mcp-client";
const SECRET: &str = "mcp-client-secret";

// ---------------------------------------------------------------------------------------------
// The server under test

#[derive(Clone)]
struct Messages {
    tool_router: ToolRouter<Self>,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct Text {
    text: String,
}

#[tool_router]
impl Messages {
    fn new() -> Self {
        Messages {
            tool_router: Self::tool_router(),
        }
    }

    #[tool(description = "The caller, from the verified claims")]
    fn whoami(&self, Extension(parts): Extension<Parts>) -> Result<String, ErrorData> {
        let claims = parts
            .extensions
            .get::<VerifiedClaims>()
            .ok_or_else(|| ErrorData::internal_error("no claims", None))?;
        Ok(format!("subject={}", claims.subject().unwrap_or_default()))
    }

    #[tool(description = "Read")]
    fn read_messages(&self) -> String {
        "the messages".to_owned()
    }

    #[tool(description = "Send")]
    fn send_message(&self, Parameters(Text { text }): Parameters<Text>) -> String {
        format!("sent {text}")
    }

    #[tool(description = "Administer")]
    fn purge(&self) -> String {
        "purged".to_owned()
    }
}

impl Messages {
    /// Next to the tools. `purge` is left to `unlisted_tools`.
    const SCOPES: &'static [ToolScope] = &[
        ToolScope::public("whoami"),
        ToolScope::all("read_messages", &[READ]),
        ToolScope::all("send_message", &[READ, WRITE]),
    ];
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Messages {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

pub(crate) fn scopes() -> McpScopes {
    McpScopes::new()
        .tools(Messages::SCOPES)
        .unlisted_tools(ScopePolicy::all(["admin"]))
        .method("prompts/list", ScopePolicy::all(["prompts:read"]))
}

/// rmcp's service: stateless with JSON answers (`sessions`: false), or rmcp's default.
fn mcp_service(sessions: bool) -> StreamableHttpService<Messages, LocalSessionManager> {
    let config = if sessions {
        StreamableHttpServerConfig::default()
    } else {
        StreamableHttpServerConfig::default()
            .with_legacy_session_mode(false)
            .with_json_response(true)
    };
    StreamableHttpService::new(|| Ok(Messages::new()), Arc::default(), config)
}

fn metadata() -> ProtectedResourceMetadata {
    ProtectedResourceMetadata::new(RESOURCE)
        .scopes_supported([READ, WRITE])
        .resource_name("Messages")
}

/// `/mcp` behind the layers, the metadata document outside.
fn app(validator: Validator, scopes: McpScopes, sessions: bool) -> Router {
    let metadata = metadata().authorization_servers_of(&validator);
    Router::new()
        .route_service("/mcp", scopes.layer_on(mcp_service(sessions)))
        .layer(BearerLayer::new(validator))
        .route_service(&metadata.path(), metadata.service())
}

pub(crate) struct Fixture {
    pub(crate) issuer: TestIssuer,
    app: Router,
}

/// The issuer with the MCP server and another API registered, one client granted both scopes
/// of the MCP server and the other API.
pub(crate) async fn start() -> Fixture {
    let issuer = TestIssuer::start().await;
    issuer.register_api(Api::new(RESOURCE).scopes([READ, WRITE, "admin", "prompts:read"]));
    issuer.register_api(Api::new(OTHER).scopes([READ]));
    issuer.register_client(CLIENT, SECRET);
    issuer.grant(CLIENT, RESOURCE, [READ, WRITE]);
    issuer.grant(CLIENT, OTHER, [READ]);
    let app = app(validator(&issuer), scopes(), false);
    Fixture { issuer, app }
}

pub(crate) fn validator(issuer: &TestIssuer) -> Validator {
    issuer
        .validator_for(RESOURCE)
        .resource_metadata(METADATA_URL)
        .build()
        .unwrap()
}

impl Fixture {
    /// A token from the token endpoint, for `resource`, with `scope`.
    pub(crate) async fn token(&self, resource: &str, scope: &str) -> String {
        self.issuer
            .client_credentials_for_resources(CLIENT, SECRET, &[resource], Some(scope))
            .await
            .unwrap()
            .access_token
    }

    async fn post(&self, token: Option<&str>, body: impl Into<Body>) -> Reply {
        send(&self.app, post(token, body)).await
    }
}

// ---------------------------------------------------------------------------------------------
// Requests and answers

pub(crate) fn post(token: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let json = [(header::CONTENT_TYPE, "application/json")];
    request(Method::POST, token, &json, body)
}

/// A `method` request to `/mcp` with these headers (and `Accept` as rmcp wants it).
fn request(
    method: Method,
    token: Option<&str>,
    headers: &[(http::HeaderName, &str)],
    body: impl Into<Body>,
) -> Request<Body> {
    let mut request = Request::builder()
        .method(method)
        .uri("/mcp")
        .header(header::HOST, "localhost")
        .header(header::ACCEPT, "application/json, text/event-stream");
    for (name, value) in headers {
        request = request.header(name, *value);
    }
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    request.body(body.into()).unwrap()
}

#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Bytes,
}

impl Reply {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {:?}", String::from_utf8_lossy(&self.body)))
    }

    pub(crate) fn challenge(&self) -> Option<&str> {
        self.headers
            .get(header::WWW_AUTHENTICATE)
            .map(|value| value.to_str().unwrap())
    }

    /// 200 with a JSON-RPC result (not an error).
    #[track_caller]
    pub(crate) fn assert_result(&self) -> Value {
        assert_eq!(self.status, StatusCode::OK, "{self:?}");
        let body = self.json();
        assert!(body.get("error").is_none(), "{body}");
        body["result"].clone()
    }

    /// `status` with exactly these `Bearer` challenge parameters, in this order, and the
    /// crate's JSON error body.
    #[track_caller]
    fn assert_refused(&self, status: StatusCode, expected: &[(&str, &str)]) {
        assert_eq!(self.status, status, "{self:?}");
        let challenge = self.challenge().expect("a challenge");
        let params = parse_challenge(challenge);
        let params: Vec<(&str, &str)> = params
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        assert_eq!(params, expected, "{challenge}");
        assert_eq!(self.headers[header::CACHE_CONTROL], "no-store");
        if let Some((_, error)) = expected.iter().find(|(name, _)| *name == "error") {
            assert_eq!(self.json()["error"], *error);
        }
    }
}

pub(crate) async fn send(app: &Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body: body.collect().await.unwrap().to_bytes(),
    }
}

/// `Bearer a="b", c="d"` into its parameters (values unescaped).
fn parse_challenge(challenge: &str) -> Vec<(String, String)> {
    let rest = challenge
        .strip_prefix("Bearer")
        .expect("a Bearer challenge");
    let mut params = Vec::new();
    let mut chars = rest.trim_start().chars().peekable();
    while chars.peek().is_some() {
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        assert_eq!(chars.next(), Some('"'), "{challenge}");
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => value.push(chars.next().unwrap()),
                '"' => break,
                c => value.push(c),
            }
        }
        params.push((name.trim().to_owned(), value));
        while chars.peek().is_some_and(|c| *c == ',' || *c == ' ') {
            chars.next();
        }
    }
    params
}

pub(crate) fn call(id: u64, tool: &str, arguments: Value) -> Value {
    json!({
        "jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": { "name": tool, "arguments": arguments },
    })
}

fn initialize() -> Value {
    json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": { "name": "test", "version": "1" },
        },
    })
}

const DESCRIPTION: &str = "the token does not have the scopes this resource requires";

fn insufficient(scope: &str) -> [(&'static str, String); 4] {
    [
        ("error", "insufficient_scope".to_owned()),
        ("error_description", DESCRIPTION.to_owned()),
        ("scope", scope.to_owned()),
        ("resource_metadata", METADATA_URL.to_owned()),
    ]
}

#[track_caller]
pub(crate) fn assert_insufficient(reply: &Reply, scope: &str) {
    let expected = insufficient(scope);
    let expected: Vec<(&str, &str)> = expected.iter().map(|(n, v)| (*n, v.as_str())).collect();
    reply.assert_refused(StatusCode::FORBIDDEN, &expected);
}

// ---------------------------------------------------------------------------------------------
// Raw JSON-RPC through the router

#[tokio::test]
async fn initialize_and_tools_list_with_a_token() {
    let fixture = start().await;
    let token = fixture.token(RESOURCE, READ).await;
    let result = fixture
        .post(Some(&token), initialize().to_string())
        .await
        .assert_result();
    assert!(result["serverInfo"]["name"].is_string(), "{result}");
    let list = json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" });
    let result = fixture
        .post(Some(&token), list.to_string())
        .await
        .assert_result();
    let mut names: Vec<&str> = result["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|tool| tool["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["purge", "read_messages", "send_message", "whoami"]);

    // The claims reach the tool, through the request parts rmcp hands it.
    let result = fixture
        .post(Some(&token), call(3, "whoami", json!({})).to_string())
        .await
        .assert_result();
    assert_eq!(
        result["content"][0]["text"],
        format!("subject={CLIENT}@clients")
    );
}

#[tokio::test]
async fn a_missing_scope_is_403_with_every_scope_of_the_call_then_200_after_stepping_up() {
    let fixture = start().await;
    let read = fixture.token(RESOURCE, READ).await;
    // The token has read:messages; the tool needs read:messages AND write:messages: both are
    // named, not only the missing one.
    let send_message = call(5, "send_message", json!({ "text": "hi" })).to_string();
    let reply = fixture.post(Some(&read), send_message.clone()).await;
    assert_insufficient(&reply, "read:messages write:messages");
    assert_eq!(
        reply.json()["error_description"],
        DESCRIPTION,
        "the crate's JSON body"
    );
    // A tool it has the scope for passes.
    let result = fixture
        .post(Some(&read), call(6, "read_messages", json!({})).to_string())
        .await
        .assert_result();
    assert_eq!(result["content"][0]["text"], "the messages");

    // Step up: a new token from the token endpoint with the scopes named in the challenge.
    let both = fixture.token(RESOURCE, &format!("{READ} {WRITE}")).await;
    let result = fixture
        .post(Some(&both), send_message)
        .await
        .assert_result();
    assert_eq!(result["content"][0]["text"], "sent hi");

    // A tool with no requirement of its own: `unlisted_tools`.
    let reply = fixture
        .post(Some(&both), call(7, "purge", json!({})).to_string())
        .await;
    assert_insufficient(&reply, "admin");
    // A method mapped by name.
    let prompts = json!({ "jsonrpc": "2.0", "id": 8, "method": "prompts/list" });
    let reply = fixture.post(Some(&both), prompts.to_string()).await;
    assert_insufficient(&reply, "prompts:read");
}

#[tokio::test]
async fn a_token_for_another_resource_is_401_invalid_token() {
    let fixture = start().await;
    let other = fixture.token(OTHER, READ).await;
    let reply = fixture
        .post(Some(&other), call(1, "whoami", json!({})).to_string())
        .await;
    reply.assert_refused(
        StatusCode::UNAUTHORIZED,
        &[
            ("error", "invalid_token"),
            (
                "error_description",
                "the token is not intended for this API",
            ),
            ("resource_metadata", METADATA_URL),
        ],
    );
}

#[tokio::test]
async fn no_token_is_401_naming_the_metadata_document() {
    let fixture = start().await;
    for body in [
        initialize().to_string(),
        call(1, "whoami", json!({})).to_string(),
    ] {
        let reply = fixture.post(None, body).await;
        reply.assert_refused(
            StatusCode::UNAUTHORIZED,
            &[("resource_metadata", METADATA_URL)],
        );
    }
    // The SSE stream (GET) too.
    let get = Request::get("/mcp")
        .header(header::HOST, "localhost")
        .header(header::ACCEPT, "text/event-stream")
        .body(Body::empty())
        .unwrap();
    send(&fixture.app, get).await.assert_refused(
        StatusCode::UNAUTHORIZED,
        &[("resource_metadata", METADATA_URL)],
    );
}

#[tokio::test]
async fn no_token_is_401_naming_the_scopes_to_start_with() {
    let fixture = start().await;
    let metadata = metadata();
    // Default: the document's `scopes_supported`; a smaller set declared wins.
    for (builder, scope) in [
        (
            fixture.issuer.validator_for(RESOURCE),
            "read:messages write:messages",
        ),
        (
            fixture
                .issuer
                .validator_for(RESOURCE)
                .initial_scopes([READ]),
            READ,
        ),
    ] {
        let validator = builder.protected_resource(&metadata).build().unwrap();
        let app = app(validator, scopes(), false);
        let reply = send(&app, post(None, initialize().to_string())).await;
        reply.assert_refused(
            StatusCode::UNAUTHORIZED,
            &[("scope", scope), ("resource_metadata", METADATA_URL)],
        );
    }
}

#[tokio::test]
async fn the_metadata_document_at_the_path_inserted_uri() {
    let fixture = start().await;
    assert_eq!(metadata().path(), METADATA_PATH);
    assert_eq!(metadata().url(), METADATA_URL);
    let request = Request::get(METADATA_PATH).body(Body::empty()).unwrap();
    let reply = send(&fixture.app, request).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(
        reply.json(),
        json!({
            "resource": RESOURCE,
            "authorization_servers": [fixture.issuer.issuer()],
            "scopes_supported": [READ, WRITE],
            "bearer_methods_supported": ["header"],
            "resource_name": "Messages",
        })
    );
}

#[tokio::test]
async fn a_batch_passes_only_whole_and_its_403_names_the_union() {
    let fixture = start().await;
    let read = fixture.token(RESOURCE, READ).await;
    let batch = json!([
        call(1, "read_messages", json!({})),
        call(2, "send_message", json!({ "text": "hi" })),
        call(3, "purge", json!({})),
    ]);
    let reply = fixture.post(Some(&read), batch.to_string()).await;
    assert_insufficient(&reply, "read:messages write:messages admin");

    // Every call allowed: the batch goes on to rmcp (which answers batches itself; no
    // authorization refusal).
    let allowed = json!([
        call(1, "read_messages", json!({})),
        call(2, "whoami", json!({})),
        { "jsonrpc": "2.0", "method": "notifications/initialized" },
    ]);
    let reply = fixture.post(Some(&read), allowed.to_string()).await;
    assert_ne!(reply.status, StatusCode::FORBIDDEN, "{reply:?}");
    assert_eq!(reply.challenge(), None, "{reply:?}");
    assert!(reply.status.as_u16() < 500, "{reply:?}");
}

#[tokio::test]
async fn repeated_keys_and_escapes_cannot_hide_a_tool() {
    let fixture = start().await;
    let read = fixture.token(RESOURCE, READ).await;
    for body in [
        // Whichever `method` or `name` the service keeps, its requirement was checked.
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call","params":{"name":"send_message"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","name":"send_message"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami"},"params":{"name":"send_message"}}"#,
        // JSON escapes, read as the service reads them.
        r#"{"jsonrpc":"2.0","id":1,"method":"tools\/call","params":{"name":"send\u005fmessage"}}"#,
        r#"{"jsonrpc":"2.0","id":1,"\u006dethod":"tools/call","par\u0061ms":{"n\u0061me":"send_message"}}"#,
        // Whitespace and key order do not matter.
        "\n {\"params\" : {\"arguments\":{\"text\":\"x\"}, \"name\" : \"send_message\"},\n \"method\":\"tools/call\",\"id\":1,\"jsonrpc\":\"2.0\"}\n",
    ] {
        let reply = fixture.post(Some(&read), body).await;
        assert_insufficient(&reply, "read:messages write:messages");
    }
}

/// An inner service that echoes the request body and says whether it saw claims.
pub(crate) fn echo_app(validator: Validator, scopes: McpScopes) -> Router {
    let echo = tower::service_fn(|request: Request<McpRequestBody<Body>>| async move {
        let claims = request.extensions().get::<VerifiedClaims>().is_some();
        let method = request.method().clone();
        let body = request.into_body().collect().await.unwrap().to_bytes();
        let mut response = Response::new(Body::from(body));
        response
            .headers_mut()
            .insert("x-claims", claims.to_string().parse().unwrap());
        response
            .headers_mut()
            .insert("x-method", method.as_str().parse().unwrap());
        Ok::<_, Infallible>(response)
    });
    Router::new()
        .route_service("/mcp", scopes.layer_on(echo))
        .layer(BearerLayer::new(validator))
}

#[tokio::test]
async fn without_requirements_every_body_and_method_goes_on_untouched() {
    let fixture = start().await;
    let read = fixture.token(RESOURCE, READ).await;
    // A layer with no requirement at all checks nothing: it is a pass-through.
    let echo = echo_app(validator(&fixture.issuer), McpScopes::new());
    let bodies: [&[u8]; 6] = [
        b"hello",
        b"",
        b"{\"foo\": 1}",
        b"\"tools/call\"",
        b"\xff\xfe not UTF-8",
        b"{\"method\": \"tools/call\", \"params\": {}}",
    ];
    for body in bodies {
        let reply = send(&echo, post(Some(&read), body.to_vec())).await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
        assert_eq!(&reply.body[..], body);
        assert_eq!(reply.headers["x-claims"], "true");
    }
    let put = request(Method::PUT, Some(&read), &[], "x");
    let reply = send(&echo, put).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.headers["x-method"], "PUT");
    // With requirements, a message without one is handed on byte for byte.
    let echo = echo_app(validator(&fixture.issuer), scopes());
    let body = b"{ \"jsonrpc\": \"2.0\", \"id\": 1, \"method\": \"tools/call\", \"params\": {\"name\": \"read_messages\"} }";
    let reply = send(&echo, post(Some(&read), body.to_vec())).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(&reply.body[..], body);
}

/// A refusal by the layer itself (not the service): `status`, the JSON-RPC error body with
/// `code` and `id` null, no challenge, no echo of the token.
#[track_caller]
pub(crate) fn assert_json_rpc_refusal(reply: &Reply, status: StatusCode, code: i64, token: &str) {
    assert_eq!(reply.status, status, "{reply:?}");
    assert!(
        reply.headers.get("x-method").is_none(),
        "the service answered: {reply:?}"
    );
    assert_eq!(reply.headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(reply.headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(reply.challenge(), None, "{reply:?}");
    let body = reply.json();
    assert_eq!(body["jsonrpc"], "2.0", "{body}");
    assert_eq!(body["id"], Value::Null, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(body["error"]["message"].is_string(), "{body}");
    let seen =
        common::reply::Reply::from_parts(reply.status, reply.headers.clone(), reply.body.to_vec());
    common::reply::assert_no_echo(format!("Bearer {token}").as_bytes(), &seen);
}

#[tokio::test]
async fn bodies_the_layer_cannot_read_are_400_when_a_requirement_exists() {
    let fixture = start().await;
    let both = fixture.token(RESOURCE, &format!("{READ} {WRITE}")).await;
    let echo = echo_app(validator(&fixture.issuer), scopes());
    // Not JSON: a parse error (-32700).
    let not_json: [&[u8]; 7] = [
        b"hello",
        b"",
        b"   ",
        b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"purge\"}} {}",
        b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"purge\"}",
        b"\xff\xfe not UTF-8",
        b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":\"purge\xff\"}}",
    ];
    for body in not_json {
        let reply = send(&echo, post(Some(&both), body.to_vec())).await;
        assert_json_rpc_refusal(&reply, StatusCode::BAD_REQUEST, -32700, &both);
    }
    // JSON, but not one JSON-RPC message or batch of them: an invalid request (-32600).
    let not_json_rpc = [
        "\"tools/call\"",
        "1",
        "null",
        "[]",
        "{\"foo\": 1}",
        "{\"jsonrpc\":\"2.0\",\"id\":1}",
        "{\"id\":1,\"method\":\"tools/list\"}",
        "{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"tools/list\"}",
        "{\"jsonrpc\":\"2.0\",\"jsonrpc\":2,\"id\":1,\"method\":\"tools/list\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":42,\"params\":{\"name\":\"purge\"}}",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"method\":[\"tools/call\"]}",
        "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}, \"not a message\"]",
        "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}, [{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":\"purge\"}}]]",
    ];
    for body in not_json_rpc {
        let reply = send(&echo, post(Some(&both), body)).await;
        assert_json_rpc_refusal(&reply, StatusCode::BAD_REQUEST, -32600, &both);
    }
    // Answers to the server's requests (no method) are messages and go on.
    let answer = r#"{"jsonrpc":"2.0","id":7,"result":{}}"#;
    let reply = send(&echo, post(Some(&both), answer)).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(&reply.body[..], answer.as_bytes());

    // Through rmcp: the layer's refusal, before the service.
    let reply = fixture.post(Some(&both), "hello").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{reply:?}");
    assert_eq!(reply.json()["error"]["code"], -32700);
}

#[tokio::test]
async fn a_tools_call_without_a_string_name_is_400_whatever_the_scopes() {
    let fixture = start().await;
    // Every scope the layer knows: still refused, the tool is unknowable.
    let every = [READ, WRITE, "admin", "prompts:read"];
    fixture.issuer.grant(CLIENT, RESOURCE, every);
    let all = fixture
        .token(RESOURCE, &format!("{READ} {WRITE} admin prompts:read"))
        .await;
    let echo = echo_app(validator(&fixture.issuer), scopes());
    for body in [
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":null}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":5}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":["purge"]}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":["purge"]}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":"purge"}"#,
        // A string name beside one that is not: whichever the service keeps is unknowable.
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","name":{}}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami"},"params":7}"#,
        r#"[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{}}]"#,
    ] {
        let reply = send(&echo, post(Some(&all), body)).await;
        assert_json_rpc_refusal(&reply, StatusCode::BAD_REQUEST, -32602, &all);
    }
    // The same token with a named tool passes.
    let named = call(1, "purge", json!({})).to_string();
    let reply = send(&echo, post(Some(&all), named.clone())).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(&reply.body[..], named.as_bytes());
}

#[tokio::test]
async fn a_body_that_is_not_plain_json_is_415_when_a_requirement_exists() {
    let fixture = start().await;
    let read = fixture.token(RESOURCE, READ).await;
    let echo = echo_app(validator(&fixture.issuer), scopes());
    let body = call(1, "read_messages", json!({})).to_string();
    let json_type = || (header::CONTENT_TYPE, "application/json");
    let refused: [&[(http::HeaderName, &str)]; 9] = [
        &[],
        &[(header::CONTENT_TYPE, "text/plain")],
        &[(header::CONTENT_TYPE, "application/jsonx")],
        &[(header::CONTENT_TYPE, "application/json-seq")],
        &[(
            header::CONTENT_TYPE,
            "multipart/form-data; boundary=application/json",
        )],
        &[json_type(), (header::CONTENT_ENCODING, "gzip")],
        &[json_type(), (header::CONTENT_ENCODING, "identity, br")],
        &[json_type(), (header::CONTENT_ENCODING, "")],
        &[
            json_type(),
            (header::CONTENT_ENCODING, "identity"),
            (header::CONTENT_ENCODING, "deflate"),
        ],
    ];
    for headers in refused {
        let reply = send(
            &echo,
            request(Method::POST, Some(&read), headers, body.clone()),
        )
        .await;
        assert_json_rpc_refusal(&reply, StatusCode::UNSUPPORTED_MEDIA_TYPE, -32600, &read);
    }
    let accepted: [&[(http::HeaderName, &str)]; 5] = [
        &[json_type()],
        &[(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        &[(header::CONTENT_TYPE, "Application/JSON ; Charset=\"UTF-8\"")],
        &[json_type(), (header::CONTENT_ENCODING, "identity")],
        &[json_type(), (header::CONTENT_ENCODING, " IDENTITY ")],
    ];
    for headers in accepted {
        let reply = send(
            &echo,
            request(Method::POST, Some(&read), headers, body.clone()),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{headers:?}: {reply:?}");
        assert_eq!(&reply.body[..], body.as_bytes());
    }
}

/// A body whose frames come from `frames`: it ends only when the sender is dropped.
fn channel_body(frames: tokio::sync::mpsc::Receiver<Bytes>) -> Body {
    let stream = futures_util::stream::unfold(frames, |mut frames| async move {
        let data = frames.recv().await?;
        Some((Ok::<_, Infallible>(http_body::Frame::data(data)), frames))
    });
    Body::new(StreamBody::new(stream))
}

#[tokio::test]
async fn get_and_delete_go_on_unread_and_unbuffered_other_methods_are_405() {
    let fixture = start().await;
    let read = fixture.token(RESOURCE, READ).await;
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = calls.clone();
    // The service answers with the first frame of the body it got and whether that body is
    // the request's own (not a buffer of the layer).
    let first_frame = tower::service_fn(move |request: Request<McpRequestBody<Body>>| {
        counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async move {
            let method = request.method().clone();
            let mut body = request.into_body();
            let unbuffered = matches!(body, http_body_util::Either::Left(_));
            let first = match body.frame().await {
                Some(Ok(frame)) => frame.into_data().unwrap_or_default(),
                _ => Bytes::new(),
            };
            let mut response = Response::new(Body::from(first));
            let headers = response.headers_mut();
            headers.insert("x-method", method.as_str().parse().unwrap());
            headers.insert("x-unbuffered", unbuffered.to_string().parse().unwrap());
            Ok::<_, Infallible>(response)
        }
    });
    let app = Router::new()
        .route_service("/mcp", scopes().layer_on(first_frame))
        .layer(BearerLayer::new(validator(&fixture.issuer)));
    for method in [Method::GET, Method::DELETE] {
        let (frames, receiver) = tokio::sync::mpsc::channel(4);
        frames.send(Bytes::from_static(b"first")).await.unwrap();
        let mut request = request(method.clone(), Some(&read), &[], "");
        *request.body_mut() = channel_body(receiver);
        // The body has not ended (`frames` is alive): a layer that read it to the end would
        // never answer. The bound only turns such a hang into a failure.
        let reply = tokio::time::timeout(Duration::from_secs(30), send(&app, request))
            .await
            .unwrap_or_else(|_| panic!("{method}: the layer waited for the end of the body"));
        assert_eq!(reply.status, StatusCode::OK, "{method}: {reply:?}");
        assert_eq!(reply.headers["x-method"], method.as_str());
        assert_eq!(reply.headers["x-unbuffered"], "true", "{method}");
        assert_eq!(&reply.body[..], b"first");
        drop(frames);
    }
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), 2);
    let custom = Method::from_bytes(b"PURGE").unwrap();
    for method in [
        Method::PUT,
        Method::PATCH,
        Method::HEAD,
        Method::OPTIONS,
        Method::TRACE,
        Method::CONNECT,
        custom,
    ] {
        let body = call(1, "purge", json!({})).to_string();
        let reply = send(&app, request(method.clone(), Some(&read), &[], body)).await;
        assert_json_rpc_refusal(&reply, StatusCode::METHOD_NOT_ALLOWED, -32600, &read);
        assert_eq!(
            reply.headers[header::ALLOW],
            "GET, POST, DELETE",
            "{method}"
        );
    }
    assert_eq!(
        calls.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "405s reached the service"
    );
}

#[tokio::test]
async fn oversized_bodies_are_refused_cleanly() {
    let fixture = start().await;
    let read = fixture.token(RESOURCE, READ).await;
    let limit = 1024;
    let echo = echo_app(validator(&fixture.issuer), scopes().max_body_bytes(limit));
    // A well-formed call of exactly `len` bytes.
    let big = |len: usize| {
        let bare = call(1, "read_messages", json!({ "p": "" }))
            .to_string()
            .len();
        let padding = "x".repeat(len - bare);
        let body = call(1, "read_messages", json!({ "p": padding })).to_string();
        assert_eq!(body.len(), len);
        body.into_bytes()
    };
    #[track_caller]
    fn assert_too_large(reply: &Reply) {
        assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE, "{reply:?}");
        assert_eq!(reply.headers[header::CONTENT_TYPE], "application/json");
        let body = reply.json();
        assert_eq!(body["jsonrpc"], "2.0");
        assert_eq!(body["id"], Value::Null);
        assert_eq!(body["error"]["code"], -32600);
    }

    // Exactly at the limit: handed on.
    let reply = send(&echo, post(Some(&read), big(limit))).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(reply.body.len(), limit);
    // Over it, with a Content-Length: refused before reading.
    assert_too_large(&send(&echo, post(Some(&read), big(limit + 1))).await);
    // Over it, streamed without a length (chunked).
    let chunks: Vec<Result<http_body::Frame<Bytes>, Infallible>> = big(4 * limit)
        .chunks(100)
        .map(|chunk| Ok(http_body::Frame::data(Bytes::copy_from_slice(chunk))))
        .collect();
    let streamed = Body::new(StreamBody::new(futures_util::stream::iter(chunks)));
    assert_too_large(&send(&echo, post(Some(&read), streamed)).await);
    // A body that fails while being read: 400, not 500.
    let failing: Vec<Result<http_body::Frame<Bytes>, std::io::Error>> = vec![
        Ok(http_body::Frame::data(Bytes::from_static(b"{\"method\""))),
        Err(std::io::Error::other("connection reset")),
    ];
    let failing = Body::new(StreamBody::new(futures_util::stream::iter(failing)));
    let reply = send(&echo, post(Some(&read), failing)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{reply:?}");
    assert_eq!(reply.json()["error"]["code"], -32700);
    // The default limit (4 MiB) through rmcp: 413 from the layer, never a 500.
    let huge = big(5 * 1024 * 1024);
    assert_too_large(&fixture.post(Some(&read), huge).await);
}

#[tokio::test]
async fn refusals_follow_the_validators_realm_and_error_hook() {
    let fixture = start().await;
    let validator = fixture
        .issuer
        .validator_for(RESOURCE)
        .resource_metadata(METADATA_URL)
        .realm("mcp")
        .error_body(|error| {
            ErrorBody::problem_json(&json!({ "title": error.description(), "status": 403 }))
        })
        .build()
        .unwrap();
    let app = app(validator, scopes(), false);
    let read = fixture.token(RESOURCE, READ).await;
    let reply = send(
        &app,
        post(Some(&read), call(1, "send_message", json!({})).to_string()),
    )
    .await;
    let mut expected = vec![("realm", "mcp")];
    let insufficient = insufficient("read:messages write:messages");
    expected.extend(insufficient.iter().map(|(n, v)| (*n, v.as_str())));
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let params = parse_challenge(reply.challenge().unwrap());
    let params: Vec<(&str, &str)> = params
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    assert_eq!(params, expected);
    assert_eq!(
        reply.headers[header::CONTENT_TYPE],
        "application/problem+json"
    );
    assert_eq!(reply.json()["title"], DESCRIPTION);

    // The layer's own realm wins over the validator's.
    let app = Router::new()
        .route_service("/mcp", scopes().realm("tools").layer_on(mcp_service(false)))
        .layer(BearerLayer::new(validator_with_realm(&fixture.issuer)));
    let reply = send(
        &app,
        post(Some(&read), call(1, "send_message", json!({})).to_string()),
    )
    .await;
    assert_eq!(
        parse_challenge(reply.challenge().unwrap())[0],
        ("realm".into(), "tools".into())
    );
}

fn validator_with_realm(issuer: &TestIssuer) -> Validator {
    issuer.validator_for(RESOURCE).realm("mcp").build().unwrap()
}

#[tokio::test]
async fn without_claims_a_requirement_is_401_never_a_pass() {
    let fixture = start().await;
    // Optional authentication: no token passes the BearerLayer without claims.
    let metadata = metadata();
    let app = Router::new()
        .route_service("/mcp", scopes().layer_on(mcp_service(false)))
        .layer(BearerLayer::new(validator(&fixture.issuer)).optional())
        .route_service(&metadata.path(), metadata.service());
    let reply = send(
        &app,
        post(None, call(1, "read_messages", json!({})).to_string()),
    )
    .await;
    reply.assert_refused(
        StatusCode::UNAUTHORIZED,
        &[("resource_metadata", METADATA_URL)],
    );
    // A method without a requirement goes on.
    let list = json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" });
    send(&app, post(None, list.to_string()))
        .await
        .assert_result();

    // No BearerLayer at all: a bare challenge.
    let bare = Router::new().route_service("/mcp", scopes().layer_on(mcp_service(false)));
    let reply = send(
        &bare,
        post(None, call(1, "read_messages", json!({})).to_string()),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.challenge(), Some("Bearer"));
}

#[test]
fn the_requirements_are_checked_against_the_tool_router() {
    let tools = Messages::tool_router().list_all();
    let names: Vec<String> = tools.iter().map(|tool| tool.name.to_string()).collect();
    // All covered: three declared, `purge` by `unlisted_tools`.
    scopes().check_tools(&names).unwrap();
    // Without `unlisted_tools`, `purge` has no requirement.
    let error = McpScopes::new()
        .tools(Messages::SCOPES)
        .check_tools(&names)
        .unwrap_err();
    assert_eq!(error.unguarded, ["purge"]);
    assert!(error.unknown.is_empty());
    // A requirement for a tool that does not exist (a typo).
    let error = McpScopes::new()
        .tools(Messages::SCOPES)
        .tool("purge", ScopePolicy::all(["admin"]))
        .tool("send_mesage", ScopePolicy::all([WRITE]))
        .check_tools(&names)
        .unwrap_err();
    assert_eq!(error.unknown, ["send_mesage"]);
    assert_eq!(
        error.to_string(),
        "scope requirements for tools the server does not have: send_mesage"
    );
}

// ---------------------------------------------------------------------------------------------
// rmcp's client over real HTTP

/// Serves `app` on a loopback port; the MCP endpoint's URL.
async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}/mcp")
}

fn transport(url: &str, token: Option<&str>) -> StreamableHttpClientTransport<reqwest::Client> {
    let mut config = StreamableHttpClientTransportConfig::with_uri(url);
    if let Some(token) = token {
        config = config.auth_header(token);
    }
    StreamableHttpClientTransport::from_config(config)
}

fn text_of(result: &impl serde::Serialize) -> String {
    serde_json::to_value(result).unwrap()["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn rmcp_client_over_http() {
    let fixture = start().await;
    // rmcp's default service configuration (sessions) this time.
    let url = serve(app(validator(&fixture.issuer), scopes(), true)).await;
    let read = fixture.token(RESOURCE, READ).await;

    let client = ().serve(transport(&url, Some(&read))).await.unwrap();
    let tools = client.list_all_tools().await.unwrap();
    assert_eq!(tools.len(), 4);
    let whoami = client
        .call_tool(CallToolRequestParams::new("whoami"))
        .await
        .unwrap();
    assert_eq!(text_of(&whoami), format!("subject={CLIENT}@clients"));

    // The missing scope: rmcp's client sees the 403 and its challenge.
    let arguments = json!({ "text": "hi" }).as_object().unwrap().clone();
    let send_message = CallToolRequestParams::new("send_message").with_arguments(arguments);
    let error = client
        .call_tool(send_message.clone())
        .await
        .expect_err("403");
    let challenge = error.auth_challenge().expect("the challenge").to_owned();
    let params = parse_challenge(&challenge);
    assert!(params.contains(&("error".into(), "insufficient_scope".into())));
    assert!(params.contains(&("scope".into(), "read:messages write:messages".into())));
    assert!(params.contains(&("resource_metadata".into(), METADATA_URL.into())));
    let _ = client.cancel().await;

    // Step up, reconnect, call again.
    let both = fixture.token(RESOURCE, &format!("{READ} {WRITE}")).await;
    let client = ().serve(transport(&url, Some(&both))).await.unwrap();
    let sent = client.call_tool(send_message).await.unwrap();
    assert_eq!(text_of(&sent), "sent hi");
    let _ = client.cancel().await;

    // No token, or a token for another resource: the handshake fails with the 401 challenge.
    let error = ().serve(transport(&url, None)).await.expect_err("401");
    assert_eq!(
        error.auth_challenge(),
        Some(format!("Bearer resource_metadata=\"{METADATA_URL}\"").as_str())
    );
    let other = fixture.token(OTHER, READ).await;
    let error = ().serve(transport(&url, Some(&other))).await.expect_err("401");
    let challenge = error.auth_challenge().expect("the challenge");
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
}
