//! The router of `examples/mcp_server` (the same code, compiled in): only `/mcp` is behind the
//! layer, so unknown paths (a client probing the root well-known URI) get 404, not a
//! challenge; and the message store outlives each request (rmcp builds the server per request).

#[allow(dead_code)]
#[path = "../../examples/mcp_server/main.rs"]
pub mod mcp_server;

use axum::Router;
use axum::body::Body;
use bearer_guard::ProtectedResourceMetadata;
use bearer_guard::testing::{Api, TestIssuer};
use http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use mcp_server::{READ, WRITE};
use serde_json::{Value, json};
use tower::ServiceExt as _;

const RESOURCE: &str = "http://localhost/mcp";
const CLIENT: &str = "mcp-client";
const SECRET: &str = "mcp-client-secret";

/// The example's router for `RESOURCE`, and the issuer of its tokens.
async fn example() -> (TestIssuer, Router) {
    let issuer = TestIssuer::start().await;
    issuer.register_api(Api::new(RESOURCE).scopes([READ, WRITE]));
    issuer.register_client(CLIENT, SECRET);
    issuer.grant(CLIENT, RESOURCE, [READ, WRITE]);
    let metadata = ProtectedResourceMetadata::new(RESOURCE);
    let validator = issuer
        .validator_for(RESOURCE)
        .resource_metadata(metadata.url())
        .build()
        .unwrap();
    let metadata = metadata.authorization_servers_of(&validator);
    let app = mcp_server::app(validator, &metadata, vec!["localhost".to_owned()]).unwrap();
    (issuer, app)
}

/// Status, `WWW-Authenticate` and body of `method path` (a JSON body: a `POST`).
async fn send(
    app: &Router,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (StatusCode, Option<String>, String) {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, "localhost")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let body = body.map_or_else(Body::empty, |body| Body::from(body.to_string()));
    let response = app
        .clone()
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap();
    let challenge = response
        .headers()
        .get(header::WWW_AUTHENTICATE)
        .map(|value| value.to_str().unwrap().to_owned());
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        challenge,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

fn call(id: u64, tool: &str, arguments: Value) -> Value {
    json!({
        "jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": { "name": tool, "arguments": arguments },
    })
}

#[tokio::test]
async fn unknown_paths_get_404_without_a_challenge_and_only_mcp_is_behind_the_layer() {
    let (_issuer, app) = example().await;
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-authorization-server",
        "/nothing/here",
    ] {
        let (status, challenge, _) = send(&app, Method::GET, path, None, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(challenge, None, "{path}");
    }

    let (status, challenge, body) = send(
        &app,
        Method::GET,
        "/.well-known/oauth-protected-resource/mcp",
        None,
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(challenge, None);
    let document: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(document["resource"], RESOURCE);

    let whoami = call(1, "whoami", json!({}));
    let (status, challenge, _) = send(&app, Method::POST, "/mcp", None, Some(whoami)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        challenge.as_deref(),
        Some(
            "Bearer resource_metadata=\"http://localhost/.well-known/oauth-protected-resource/mcp\""
        )
    );
}

#[tokio::test]
async fn a_message_sent_in_one_request_is_read_in_the_next() {
    let (issuer, app) = example().await;
    let token = issuer
        .client_credentials_for_resources(
            CLIENT,
            SECRET,
            &[RESOURCE],
            Some("read:messages write:messages"),
        )
        .await
        .unwrap()
        .access_token;
    let send_it = call(1, "send_message", json!({ "text": "kept across requests" }));
    let (status, _, body) = send(&app, Method::POST, "/mcp", Some(&token), Some(send_it)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let read = call(2, "read_messages", json!({}));
    let (status, _, body) = send(&app, Method::POST, "/mcp", Some(&token), Some(read)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer: Value = serde_json::from_str(&body).unwrap();
    let text = answer["result"]["content"][0]["text"].as_str().unwrap();
    let messages: Value = serde_json::from_str(text).unwrap();
    let texts: Vec<&str> = messages
        .as_array()
        .unwrap()
        .iter()
        .map(|message| message["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        [
            "Welcome to the messages MCP server.",
            "kept across requests"
        ]
    );
}
