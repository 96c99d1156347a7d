//! Scope hierarchies (`ValidatorBuilder::scope_hierarchy`) through a router, for
//! `RequireScopes` and `McpScopes` alike, and the `scope=` of 401 challenges
//! (`ValidatorBuilder::initial_scopes`, `ValidatorBuilder::protected_resource`).

use axum::Router;
use axum::body::Body;
use axum::routing::get;
use bearer_guard::config::ConfigProblem;
use bearer_guard::mcp::{McpRequestBody, McpScopes};
use bearer_guard::{
    BearerLayer, ProtectedResourceMetadata, RequireScopes, ScopeHierarchy, ScopePolicy,
    ValidatorBuilder,
};
use http::{Request, Response, StatusCode, header};
use serde_json::json;
use tower::ServiceExt;

use crate::common::reply::{Reply, assert_no_echo, parse_challenge, send, send_token};
use crate::common::tokens::{hs_builder, hs_token};

const READ: &str = "messages:read";
const METADATA: &str = "https://api.example.com/.well-known/oauth-protected-resource";

/// `messages` grants reading and writing; `admin` grants everything.
fn hierarchy() -> ScopeHierarchy {
    ScopeHierarchy::new()
        .implies("messages", [READ, "messages:write"])
        .implies_all("admin")
}

/// An MCP endpoint that answers 200 with an empty body when the layer lets a call through.
fn mcp_endpoint() -> McpScopes {
    McpScopes::new()
        .tool("read_messages", ScopePolicy::all([READ]))
        .tool("purge", ScopePolicy::all(["messages"]))
}

/// Routes requiring `messages:read`, `messages` and `messagesx`, and `/mcp`, behind a layer
/// whose validator is `builder`.
fn app_with(builder: ValidatorBuilder, optional: bool) -> Router {
    let validator = builder.build().expect("a valid configuration");
    let ok = tower::service_fn(|_: Request<McpRequestBody<Body>>| async {
        Ok::<_, std::convert::Infallible>(Response::new(Body::empty()))
    });
    let layer = BearerLayer::new(validator);
    let layer = if optional { layer.optional() } else { layer };
    Router::new()
        .route(
            "/read",
            get(|| async { "read" }).route_layer(RequireScopes::all([READ])),
        )
        .route(
            "/messages",
            get(|| async { "messages" }).route_layer(RequireScopes::all(["messages"])),
        )
        .route(
            "/messagesx",
            get(|| async { "messagesx" }).route_layer(RequireScopes::all(["messagesx"])),
        )
        .route_service("/mcp", mcp_endpoint().layer_on(ok))
        .layer(layer)
}

fn app() -> Router {
    app_with(hs_builder().scope_hierarchy(hierarchy()), false)
}

fn token(scope: &str) -> String {
    hs_token().claim("scope", scope).sign()
}

/// A `tools/call` of `tool` to `/mcp`, with the token if any.
async fn call(app: &Router, token: Option<&str>, tool: &str) -> Reply {
    let body = json!({
        "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": { "name": tool, "arguments": {} },
    });
    let mut request = Request::post("/mcp")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    if let Some(token) = token {
        let value = format!("Bearer {token}").parse().unwrap();
        request.headers_mut().insert(header::AUTHORIZATION, value);
    }
    let response = app.clone().oneshot(request).await.unwrap();
    let reply = Reply::of(response).await;
    if let Some(token) = token {
        assert_no_echo(token.as_bytes(), &reply);
    }
    reply
}

/// The parameters of the reply's `Bearer` challenge.
#[track_caller]
fn params(reply: &Reply) -> Vec<(String, String)> {
    let (scheme, params) = parse_challenge(reply.challenge.as_deref().expect("a challenge"));
    assert_eq!(scheme, "Bearer", "{reply:#?}");
    params
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test]
async fn a_broader_scope_passes_a_narrower_requirement_of_require_scopes() {
    let app = app();
    let messages = token("messages");
    assert_eq!(
        send_token(&app, "/read", &messages).await.assert_ok(),
        "read"
    );
    send_token(&app, "/messages", &messages).await.assert_ok();
    let admin = token("admin");
    for path in ["/read", "/messages", "/messagesx"] {
        send_token(&app, path, &admin).await.assert_ok();
    }
}

#[tokio::test]
async fn a_narrower_scope_does_not_pass_a_broader_requirement() {
    let app = app();
    let read = token(READ);
    send_token(&app, "/read", &read).await.assert_ok();
    // The 403 names the requirement as declared.
    send_token(&app, "/messages", &read)
        .await
        .assert_insufficient_scope("messages");
    call(&app, Some(&read), "purge")
        .await
        .assert_insufficient_scope("messages");
}

#[tokio::test]
async fn no_prefix_guessing_only_declared_implications() {
    let app = app();
    let messages = token("messages");
    send_token(&app, "/messagesx", &messages)
        .await
        .assert_insufficient_scope("messagesx");
    // `adminx` is not `admin`.
    send_token(&app, "/read", &token("adminx"))
        .await
        .assert_insufficient_scope(READ);
    // Without a hierarchy, `messages` grants nothing but itself.
    let plain = app_with(hs_builder(), false);
    send_token(&plain, "/read", &messages)
        .await
        .assert_insufficient_scope(READ);
    call(&plain, Some(&messages), "read_messages")
        .await
        .assert_insufficient_scope(READ);
    send_token(&plain, "/messages", &messages).await.assert_ok();
}

#[tokio::test]
async fn mcp_scopes_decide_with_the_validators_hierarchy() {
    let app = app();
    let messages = token("messages");
    for tool in ["read_messages", "purge"] {
        let reply = call(&app, Some(&messages), tool).await;
        assert_eq!(reply.status, StatusCode::OK, "{tool}: {reply:#?}");
    }
    let reply = call(&app, Some(&token("admin")), "purge").await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:#?}");
    call(&app, Some(&token("other")), "read_messages")
        .await
        .assert_insufficient_scope(READ);
}

#[tokio::test]
async fn the_401_names_the_initial_scopes() {
    let builder = hs_builder()
        .resource_metadata(METADATA)
        .initial_scopes([READ, "profile"]);
    let app = app_with(builder.clone(), false);
    let expected = pairs(&[
        ("scope", "messages:read profile"),
        ("resource_metadata", METADATA),
    ]);
    let reply = send(&app, "/read", None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{reply:#?}");
    assert_eq!(params(&reply), expected);
    let reply = call(&app, None, "read_messages").await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{reply:#?}");
    assert_eq!(params(&reply), expected);
    // McpScopes' own 401 (no claims behind an optional layer) names them too.
    let optional = app_with(builder, true);
    let reply = call(&optional, None, "read_messages").await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{reply:#?}");
    assert_eq!(params(&reply), expected);
    // An invalid token's 401 too; a 403 names only what the call needs.
    let reply = send_token(&app, "/read", "not.a.token").await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{reply:#?}");
    assert_eq!(reply.param("error").as_deref(), Some("invalid_token"));
    let names: Vec<String> = params(&reply).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        ["error", "error_description", "scope", "resource_metadata"]
    );
    assert_eq!(
        reply.param("scope").as_deref(),
        Some("messages:read profile")
    );
    let reply = call(&app, Some(&token("other")), "purge").await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{reply:#?}");
    assert_eq!(reply.param("scope").as_deref(), Some("messages"));
}

#[tokio::test]
async fn the_401_defaults_to_the_metadata_scopes_supported() {
    let metadata = ProtectedResourceMetadata::new("https://api.example.com")
        .scopes_supported([READ, "messages:write"]);
    let app = app_with(hs_builder().protected_resource(&metadata), false);
    let reply = send(&app, "/read", None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED, "{reply:#?}");
    let expected = pairs(&[
        ("scope", "messages:read messages:write"),
        ("resource_metadata", METADATA),
    ]);
    assert_eq!(params(&reply), expected);
    // A smaller set declared wins, whichever the order of the calls.
    let smaller = hs_builder()
        .initial_scopes([READ])
        .protected_resource(&metadata);
    let reply = send(&app_with(smaller, false), "/read", None).await;
    assert_eq!(reply.param("scope").as_deref(), Some(READ));
    // No metadata and no initial scopes: no `scope=` (a bare challenge).
    send(&app_with(hs_builder(), false), "/read", None)
        .await
        .assert_bare_challenge();
    // An empty list says: no `scope=`.
    let none = hs_builder()
        .protected_resource(&metadata)
        .initial_scopes(Vec::<String>::new());
    let reply = send(&app_with(none, false), "/read", None).await;
    assert_eq!(params(&reply), pairs(&[("resource_metadata", METADATA)]));
}

#[test]
fn scope_names_that_are_not_scope_tokens_are_configuration_errors() {
    for (builder, bad) in [
        (
            hs_builder().scope_hierarchy(ScopeHierarchy::new().implies("a b", ["c"])),
            "a b",
        ),
        (
            hs_builder().scope_hierarchy(ScopeHierarchy::new().implies("a", [""])),
            "",
        ),
        (
            hs_builder().scope_hierarchy(ScopeHierarchy::new().implies_all("q\"")),
            "q\"",
        ),
        (
            hs_builder().initial_scopes(["ok", "caf\u{e9}"]),
            "caf\u{e9}",
        ),
        (
            hs_builder().protected_resource(
                &ProtectedResourceMetadata::new("https://api.example.com")
                    .scopes_supported(["read", "two words"]),
            ),
            "two words",
        ),
    ] {
        let error = builder.build().expect_err(bad);
        assert!(
            error
                .problems()
                .contains(&ConfigProblem::InvalidScope(bad.to_owned())),
            "{error}"
        );
    }
}
