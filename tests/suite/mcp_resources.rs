//! MCP beyond tools: scopes per resource (`resources/read` by URI and by URI template) and per
//! prompt (`prompts/get` by name), one 403 for a batch mixing them, the start-up checks against
//! the server's prompt router and resource lists, and the routing headers of MCP revision
//! 2026-07-28 (`Mcp-Method`, `Mcp-Name`) checked against the body.

use std::sync::Arc;

use axum::Router;
use bearer_guard::mcp::{McpScopes, PromptScope, ResourceScope};
use bearer_guard::{BearerLayer, ScopePolicy};
use http::StatusCode;
use rmcp::handler::server::router::prompt::PromptRouter;
use rmcp::model::{PromptMessage, Role, ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ServerHandler, prompt, prompt_handler, prompt_router};
use serde_json::{Value, json};

use crate::mcp::{
    READ, RESOURCE, Reply, WRITE, assert_insufficient, assert_json_rpc_refusal, call, echo_app,
    post, scopes, send, start, validator,
};

/// Next to the resources: the inbox by its URI, every other message by the template (the
/// inbox matches it too, but its own declaration wins), the health check public.
const RESOURCE_SCOPES: &[ResourceScope] = &[
    ResourceScope::uri("messages://inbox", &[READ]),
    ResourceScope::template("messages://{id}", &[READ, WRITE]),
    ResourceScope::uri("status://health", &[]),
];

/// The server's resource lists, as `resources/list` and `resources/templates/list` answer.
const LISTED_URIS: &[&str] = &["messages://inbox", "status://health"];
const LISTED_TEMPLATES: &[&str] = &["messages://{id}"];

#[derive(Clone)]
struct Prompts {
    prompt_router: PromptRouter<Self>,
}

#[prompt_router]
impl Prompts {
    fn new() -> Self {
        Prompts {
            prompt_router: Self::prompt_router(),
        }
    }

    #[prompt(description = "Summarize the inbox")]
    async fn summarize(&self) -> Vec<PromptMessage> {
        vec![PromptMessage::new_text(Role::User, "summarize my inbox")]
    }

    #[prompt(description = "Say hello")]
    async fn greeting(&self) -> Vec<PromptMessage> {
        vec![PromptMessage::new_text(Role::User, "hello")]
    }
}

impl Prompts {
    /// Next to the prompts.
    const SCOPES: &'static [PromptScope] = &[
        PromptScope::all("summarize", &[READ]),
        PromptScope::public("greeting"),
    ];
}

#[prompt_handler(router = self.prompt_router)]
impl ServerHandler for Prompts {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_prompts().build())
    }
}

/// The tools of `crate::mcp` with the resources and prompts declared here.
fn every_scope() -> McpScopes {
    scopes().resources(RESOURCE_SCOPES).prompts(Prompts::SCOPES)
}

fn read(id: u64, uri: &str) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "method": "resources/read", "params": { "uri": uri } })
}

fn get_prompt(id: u64, name: &str) -> Value {
    json!({ "jsonrpc": "2.0", "id": id, "method": "prompts/get", "params": { "name": name } })
}

/// `POST /mcp` with these extra headers.
fn post_with(
    token: &str,
    headers: &[(&str, &str)],
    body: &Value,
) -> http::Request<axum::body::Body> {
    let mut request = post(Some(token), body.to_string());
    for (name, value) in headers {
        let name = http::HeaderName::from_bytes(name.as_bytes()).unwrap();
        request.headers_mut().append(name, value.parse().unwrap());
    }
    request
}

/// 200 from the echo service: the body went on unchanged.
#[track_caller]
fn assert_passed(reply: &Reply, body: &Value) {
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    assert_eq!(&reply.body[..], body.to_string().as_bytes());
}

#[tokio::test]
async fn resources_by_uri_and_by_template() {
    let fixture = start().await;
    let read_only = fixture.token(RESOURCE, READ).await;
    let both = fixture.token(RESOURCE, &format!("{READ} {WRITE}")).await;
    let echo = echo_app(validator(&fixture.issuer), every_scope());
    // The inbox by its URI: read:messages only, although the template matches it too.
    let inbox = read(1, "messages://inbox");
    assert_passed(
        &send(&echo, post(Some(&read_only), inbox.to_string())).await,
        &inbox,
    );
    // Any other message by the template: both scopes, both named.
    let message = read(2, "messages://42");
    let reply = send(&echo, post(Some(&read_only), message.to_string())).await;
    assert_insufficient(&reply, "read:messages write:messages");
    assert_passed(
        &send(&echo, post(Some(&both), message.to_string())).await,
        &message,
    );
    // A percent-encoded value is one segment too.
    let encoded = read(3, "messages://a%2Fb");
    let reply = send(&echo, post(Some(&read_only), encoded.to_string())).await;
    assert_insufficient(&reply, "read:messages write:messages");
    // A public resource: any valid token.
    let health = read(4, "status://health");
    let write_only = fixture.token(RESOURCE, WRITE).await;
    assert_passed(
        &send(&echo, post(Some(&write_only), health.to_string())).await,
        &health,
    );
    // The template's variable is one segment, never empty: these URIs are not messages of the
    // template (nor declared), so only the method's requirement applies, and it has none.
    for uri in ["messages://42/attachments", "messages://"] {
        let other = read(5, uri);
        assert_passed(
            &send(&echo, post(Some(&write_only), other.to_string())).await,
            &other,
        );
    }
    // `resources/read` as a method: on top of the resource's own requirement.
    let strict = every_scope().method("resources/read", ScopePolicy::all(["admin"]));
    let echo = echo_app(validator(&fixture.issuer), strict);
    let reply = send(&echo, post(Some(&both), inbox.to_string())).await;
    assert_insufficient(&reply, "admin read:messages");
}

#[tokio::test]
async fn prompts_by_name_through_rmcp() {
    let fixture = start().await;
    let service = StreamableHttpService::new(
        || Ok(Prompts::new()),
        Arc::<LocalSessionManager>::default(),
        StreamableHttpServerConfig::default()
            .with_legacy_session_mode(false)
            .with_json_response(true),
    );
    let app = Router::new()
        .route_service("/mcp", every_scope().layer_on(service))
        .layer(BearerLayer::new(validator(&fixture.issuer)));
    let write_only = fixture.token(RESOURCE, WRITE).await;
    let reply = send(
        &app,
        post(Some(&write_only), get_prompt(1, "summarize").to_string()),
    )
    .await;
    assert_insufficient(&reply, "read:messages");
    let result = send(
        &app,
        post(Some(&write_only), get_prompt(2, "greeting").to_string()),
    )
    .await
    .assert_result();
    assert_eq!(result["messages"][0]["content"]["text"], "hello");
    let read_only = fixture.token(RESOURCE, READ).await;
    let result = send(
        &app,
        post(Some(&read_only), get_prompt(3, "summarize").to_string()),
    )
    .await
    .assert_result();
    assert_eq!(
        result["messages"][0]["content"]["text"],
        "summarize my inbox"
    );
}

#[tokio::test]
async fn a_batch_mixing_tools_resources_and_prompts_is_one_403_naming_every_scope() {
    let fixture = start().await;
    let read_only = fixture.token(RESOURCE, READ).await;
    let echo = echo_app(validator(&fixture.issuer), every_scope());
    let batch = json!([
        get_prompt(1, "summarize"),
        read(2, "messages://7"),
        call(3, "purge", json!({})),
        read(4, "messages://inbox"),
    ]);
    let reply = send(&echo, post(Some(&read_only), batch.to_string())).await;
    assert_insufficient(&reply, "read:messages write:messages admin");
    // Only what the token has: the batch goes on.
    let allowed = json!([get_prompt(1, "summarize"), read(2, "messages://inbox")]);
    assert_passed(
        &send(&echo, post(Some(&read_only), allowed.to_string())).await,
        &allowed,
    );
}

#[tokio::test]
async fn an_unnamed_prompt_or_resource_is_400_whatever_the_scopes() {
    let fixture = start().await;
    let both = fixture.token(RESOURCE, &format!("{READ} {WRITE}")).await;
    // A layer with only a tool requirement still refuses them: the target is unknowable.
    let echo = echo_app(validator(&fixture.issuer), scopes());
    for (body, message) in [
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{}}"#,
            "prompts/get needs a string params.name",
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":7}}"#,
            "prompts/get needs a string params.name",
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"name":"inbox"}}"#,
            "resources/read needs a string params.uri",
        ),
        (
            r#"{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"status://health","uri":null}}"#,
            "resources/read needs a string params.uri",
        ),
        (
            r#"[{"jsonrpc":"2.0","id":1,"method":"tools/list"},{"jsonrpc":"2.0","id":2,"method":"resources/read"}]"#,
            "resources/read needs a string params.uri",
        ),
    ] {
        let reply = send(&echo, post(Some(&both), body)).await;
        assert_json_rpc_refusal(&reply, StatusCode::BAD_REQUEST, -32602, &both);
        assert_eq!(reply.json()["error"]["message"], message);
    }
}

#[test]
fn the_requirements_are_checked_against_the_prompt_router_and_the_resource_lists() {
    let prompts: Vec<String> = Prompts::prompt_router()
        .list_all()
        .iter()
        .map(|prompt| prompt.name.to_string())
        .collect();
    every_scope().check_prompts(&prompts).unwrap();
    // A prompt without a declaration, and a declaration left behind by a renamed prompt.
    let stale = McpScopes::new().prompts(&[PromptScope::all("summarise", &[READ])]);
    let error = stale.check_prompts(&prompts).unwrap_err();
    assert_eq!(error.unguarded, ["greeting", "summarize"]);
    assert_eq!(error.unknown, ["summarise"]);
    assert_eq!(
        error.to_string(),
        "prompts without a scope requirement: greeting, summarize; \
         scope requirements for prompts the server does not have: summarise"
    );

    every_scope()
        .check_resources(LISTED_URIS, LISTED_TEMPLATES)
        .unwrap();
    // A URI under a declared template is covered by it; a declared URI under one of the
    // server's templates is known.
    let covered = McpScopes::new().resources(&[
        ResourceScope::template("messages://{id}", &[READ]),
        ResourceScope::uri("messages://42", &[WRITE]),
    ]);
    covered
        .check_resources(["messages://inbox"], LISTED_TEMPLATES)
        .unwrap();
    // Missing: the health check and the template; stale: a renamed URI and template;
    // invalid: a template beyond level 1.
    let error = McpScopes::new()
        .resources(&[
            ResourceScope::uri("messages://inbox", &[READ]),
            ResourceScope::uri("status://healthz", &[]),
            ResourceScope::template("message://{id}", &[READ]),
            ResourceScope::template("files://{+path}", &[READ]),
        ])
        .check_resources(LISTED_URIS, LISTED_TEMPLATES)
        .unwrap_err();
    assert_eq!(error.unguarded, ["messages://{id}", "status://health"]);
    assert_eq!(
        error.unknown,
        ["files://{+path}", "message://{id}", "status://healthz"]
    );
    assert_eq!(error.invalid, ["files://{+path}"]);
    assert!(
        error
            .to_string()
            .starts_with("resources without a scope requirement: "),
        "{error}"
    );
}

/// The message of MCP's `HeaderMismatch` refusal for `header`.
fn mismatch(header: &str) -> String {
    format!("Header mismatch: the {header} header does not match the request body")
}

#[tokio::test]
async fn routing_headers_must_match_the_body_and_decide_no_scope() {
    let fixture = start().await;
    let both = fixture.token(RESOURCE, &format!("{READ} {WRITE}")).await;
    let echo = echo_app(validator(&fixture.issuer), every_scope());
    let send_message = call(1, "send_message", json!({ "text": "hi" }));
    let inbox = read(2, "messages://inbox");
    let summarize = get_prompt(3, "summarize");
    let list = json!({ "jsonrpc": "2.0", "id": 4, "method": "tools/list" });
    // Absent, or present and matching (an encoded name decoded first): on to the service.
    for (headers, body) in [
        (&[][..], &send_message),
        (
            &[("Mcp-Method", "tools/call"), ("Mcp-Name", "send_message")][..],
            &send_message,
        ),
        (&[("mcp-method", "tools/call")][..], &send_message),
        (
            &[("Mcp-Name", "=?base64?c2VuZF9tZXNzYWdl?=")][..],
            &send_message,
        ),
        (
            &[
                ("Mcp-Method", "resources/read"),
                ("Mcp-Name", "messages://inbox"),
            ][..],
            &inbox,
        ),
        (
            &[("Mcp-Method", "prompts/get"), ("Mcp-Name", "summarize")][..],
            &summarize,
        ),
        (&[("Mcp-Method", "tools/list")][..], &list),
    ] {
        let reply = send(&echo, post_with(&both, headers, body)).await;
        assert_passed(&reply, body);
    }
    // A mismatch: 400 with MCP's HeaderMismatch (-32020), whatever the token's scopes.
    let batch = json!([list, inbox]);
    for (headers, body, header) in [
        (
            &[("Mcp-Method", "tools/list")][..],
            &send_message,
            "Mcp-Method",
        ),
        (
            &[("Mcp-Method", "tools/call"), ("Mcp-Name", "whoami")][..],
            &send_message,
            "Mcp-Name",
        ),
        (&[("Mcp-Name", "messages://42")][..], &inbox, "Mcp-Name"),
        (
            &[("Mcp-Name", "=?base64?!!?=")][..],
            &send_message,
            "Mcp-Name",
        ),
        (
            &[("Mcp-Name", "=?base64?d2hvYW1p?=")][..],
            &send_message,
            "Mcp-Name",
        ),
        (&[("Mcp-Name", "summarize")][..], &list, "Mcp-Name"),
        (
            &[("Mcp-Method", "tools/call"), ("Mcp-Method", "tools/call")][..],
            &send_message,
            "Mcp-Method",
        ),
        (&[("Mcp-Method", "tools/list")][..], &batch, "Mcp-Method"),
    ] {
        let reply = send(&echo, post_with(&both, headers, body)).await;
        assert_json_rpc_refusal(&reply, StatusCode::BAD_REQUEST, -32020, &both);
        assert_eq!(
            reply.json()["error"]["message"],
            mismatch(header),
            "{headers:?}"
        );
    }
    // The scope decision comes from the body: headers naming a public tool change nothing.
    let read_only = fixture.token(RESOURCE, READ).await;
    let named = [("Mcp-Method", "tools/call"), ("Mcp-Name", "send_message")];
    let reply = send(&echo, post_with(&read_only, &named, &send_message)).await;
    assert_insufficient(&reply, "read:messages write:messages");
    let public = [("Mcp-Method", "tools/call"), ("Mcp-Name", "whoami")];
    let reply = send(&echo, post_with(&read_only, &public, &send_message)).await;
    assert_json_rpc_refusal(&reply, StatusCode::BAD_REQUEST, -32020, &read_only);
}
