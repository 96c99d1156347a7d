//! RFC 8707 resource indicators at the test issuer's `POST /oauth/token`: `resource` (one or
//! more) as well as Auth0's `audience`, `invalid_target` for a resource the issuer cannot
//! issue for, the token's `aud` set accordingly, and a token for another resource refused by
//! a real `BearerLayer` router.

use std::time::Duration;

use axum::Router;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bearer_guard::BearerLayer;
use bearer_guard::testing::{Api, TestIssuer};
use http::header;
use serde_json::{Value, json};
use tower::ServiceExt;

const MCP: &str = "http://127.0.0.1:3011/mcp";
const OTHER: &str = "https://other.example.com/api";
const HS: &str = "https://hs.example.com";
const AUTH0_STYLE: &str = "https://api.example.com";
const CLIENT: &str = "mcp-client";
const SECRET: &str = "mcp-client-secret";

async fn seeded() -> TestIssuer {
    let issuer = TestIssuer::start().await;
    issuer.register_api(Api::new(MCP).scopes(["read:messages", "write:messages"]));
    issuer.register_api(
        Api::new(OTHER)
            .scopes(["other:read"])
            .token_lifetime(Duration::from_secs(600)),
    );
    issuer.register_api(
        Api::new(HS)
            .hs256("the-hs256-api-signing-secret-of-40-bytes")
            .scopes(["hs:read"]),
    );
    issuer.register_api(Api::new(AUTH0_STYLE).scopes(["read:messages"]));
    issuer.register_client(CLIENT, SECRET);
    issuer.grant(CLIENT, MCP, ["read:messages", "write:messages"]);
    issuer.grant(CLIENT, OTHER, ["other:read"]);
    issuer.grant(CLIENT, HS, ["hs:read"]);
    issuer
}

#[derive(Debug)]
struct Reply {
    status: u16,
    cache_control: Option<String>,
    body: Value,
}

impl Reply {
    #[track_caller]
    fn assert_error(&self, status: u16, error: &str) {
        assert_eq!(
            (self.status, self.body["error"].as_str()),
            (status, Some(error)),
            "{self:?}"
        );
        assert!(self.body["error_description"].is_string(), "{self:?}");
        assert!(self.body.get("access_token").is_none(), "{self:?}");
        assert_eq!(self.cache_control.as_deref(), Some("no-store"), "{self:?}");
    }

    /// The token's claims, after asserting a 200 token response.
    #[track_caller]
    fn claims(&self) -> Value {
        assert_eq!(self.status, 200, "{self:?}");
        assert_eq!(self.body["token_type"], "Bearer", "{self:?}");
        let token = self.body["access_token"].as_str().expect("a token");
        let payload = token.split('.').nth(1).expect("a JWS");
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
    }

    fn token(&self) -> &str {
        self.body["access_token"].as_str().expect("a token")
    }
}

/// A form `POST` with `grant_type=client_credentials` and `pairs`, by HTTP Basic.
async fn post(issuer: &TestIssuer, pairs: &[(&str, &str)]) -> Reply {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "client_credentials");
    for (name, value) in pairs {
        form.append_pair(name, value);
    }
    send(issuer, "application/x-www-form-urlencoded", form.finish()).await
}

async fn send(issuer: &TestIssuer, content_type: &str, body: String) -> Reply {
    let response = reqwest::Client::new()
        .post(issuer.token_endpoint())
        .basic_auth(CLIENT, Some(SECRET))
        .header(header::CONTENT_TYPE, content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let cache_control = response
        .headers()
        .get(header::CACHE_CONTROL)
        .map(|value| value.to_str().unwrap().to_owned());
    let body = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    Reply {
        status,
        cache_control,
        body,
    }
}

#[tokio::test]
async fn one_resource_names_the_api_like_audience() {
    let issuer = seeded().await;
    let reply = post(&issuer, &[("resource", MCP), ("scope", "read:messages")]).await;
    let claims = reply.claims();
    assert_eq!(claims["aud"], MCP);
    assert_eq!(claims["scope"], "read:messages");
    assert_eq!(claims["sub"], format!("{CLIENT}@clients"));
    assert_eq!(reply.body["scope"], "read:messages");
    let validator = issuer.validator_for(MCP).build().unwrap();
    let verified = validator.validate(reply.token()).await.unwrap();
    assert_eq!(verified.audiences(), [MCP]);

    // No scope: every scope granted for the resource.
    let all = post(&issuer, &[("resource", MCP)]).await.claims();
    assert_eq!(all["scope"], "read:messages write:messages");

    // The same API by `audience` and by `resource`: named once.
    let both = post(&issuer, &[("audience", MCP), ("resource", MCP)]).await;
    assert_eq!(both.claims()["aud"], MCP);

    // The helper does the same.
    let token = issuer
        .client_credentials_for_resources(CLIENT, SECRET, &[MCP], Some("write:messages"))
        .await
        .unwrap();
    assert_eq!(token.scope, "write:messages");
    assert!(validator.validate(&token.access_token).await.is_ok());
}

#[tokio::test]
async fn several_resources_make_a_token_for_all_of_them() {
    let issuer = seeded().await;
    let reply = post(&issuer, &[("resource", MCP), ("resource", OTHER)]).await;
    let claims = reply.claims();
    assert_eq!(claims["aud"], json!([MCP, OTHER]));
    assert_eq!(claims["scope"], "read:messages write:messages other:read");
    // The shortest lifetime of the two.
    assert_eq!(reply.body["expires_in"], 600);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        600
    );
    for api in [MCP, OTHER] {
        let validator = issuer.validator_for(api).build().unwrap();
        assert!(validator.validate(reply.token()).await.is_ok(), "{api}");
    }

    // A requested scope must be granted for one of them.
    let scoped = post(
        &issuer,
        &[
            ("resource", MCP),
            ("resource", OTHER),
            ("scope", "other:read read:messages"),
        ],
    )
    .await;
    assert_eq!(scoped.claims()["scope"], "other:read read:messages");
    post(
        &issuer,
        &[("resource", MCP), ("resource", OTHER), ("scope", "hs:read")],
    )
    .await
    .assert_error(400, "invalid_scope");

    // `audience` and `resource` together: both APIs.
    let mixed = post(&issuer, &[("audience", OTHER), ("resource", MCP)]).await;
    assert_eq!(mixed.claims()["aud"], json!([OTHER, MCP]));

    // JSON bodies (as Auth0 accepts them): `resource` a string or an array.
    let json_array = json!({ "grant_type": "client_credentials", "resource": [MCP, OTHER] });
    let reply = send(&issuer, "application/json", json_array.to_string()).await;
    assert_eq!(reply.claims()["aud"], json!([MCP, OTHER]));
    let json_string = json!({ "grant_type": "client_credentials", "resource": MCP });
    let reply = send(&issuer, "application/json", json_string.to_string()).await;
    assert_eq!(reply.claims()["aud"], MCP);
    let json_bad = json!({ "grant_type": "client_credentials", "resource": [MCP, 1] });
    send(&issuer, "application/json", json_bad.to_string())
        .await
        .assert_error(400, "invalid_request");
}

#[tokio::test]
async fn a_resource_the_issuer_cannot_serve_is_an_invalid_target() {
    let issuer = seeded().await;
    // Not a registered API.
    post(&issuer, &[("resource", "https://unknown.example.com/mcp")])
        .await
        .assert_error(400, "invalid_target");
    // One of several unknown: the whole request is refused.
    post(
        &issuer,
        &[
            ("resource", MCP),
            ("resource", "https://unknown.example.com"),
        ],
    )
    .await
    .assert_error(400, "invalid_target");
    // RFC 8707 §2: an absolute URI without a fragment.
    for bad in ["mcp", "/mcp", "http://127.0.0.1:3011/mcp#tools"] {
        post(&issuer, &[("resource", bad)])
            .await
            .assert_error(400, "invalid_target");
    }
    // Matched exactly: the canonical URI with a trailing slash is another resource.
    post(&issuer, &[("resource", "http://127.0.0.1:3011/mcp/")])
        .await
        .assert_error(400, "invalid_target");
    // APIs that do not sign alike cannot share a token.
    post(&issuer, &[("resource", MCP), ("resource", HS)])
        .await
        .assert_error(400, "invalid_target");
    // An unknown `audience` stays Auth0's invalid_request.
    post(&issuer, &[("audience", "https://unknown.example.com")])
        .await
        .assert_error(400, "invalid_request");
    // Neither audience nor resource.
    post(&issuer, &[("scope", "read:messages")])
        .await
        .assert_error(400, "invalid_request");
    // A resource the client is not authorized for.
    post(&issuer, &[("resource", AUTH0_STYLE)])
        .await
        .assert_error(400, "unauthorized_client");
    // The helper reports the same.
    let refused = issuer
        .client_credentials_for_resources(CLIENT, SECRET, &["https://unknown.example.com"], None)
        .await
        .unwrap_err();
    assert_eq!(
        (refused.status, refused.error.as_str()),
        (400, "invalid_target")
    );
}

#[tokio::test]
async fn a_token_for_another_resource_is_refused_by_the_layer() {
    let issuer = seeded().await;
    let app = Router::new()
        .route("/mcp", get(|| async { "mcp" }))
        .layer(BearerLayer::new(issuer.validator_for(MCP).build().unwrap()));
    let call = |token: String| {
        let app = app.clone();
        async move {
            let request = http::Request::get("/mcp")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .body(axum::body::Body::empty())
                .unwrap();
            app.oneshot(request).await.unwrap()
        }
    };
    let mine = post(&issuer, &[("resource", MCP)]).await;
    assert_eq!(call(mine.token().to_owned()).await.status(), 200);
    let other = post(&issuer, &[("resource", OTHER)]).await;
    let refused = call(other.token().to_owned()).await;
    assert_eq!(refused.status(), 401);
    let challenge = refused.headers()[header::WWW_AUTHENTICATE]
        .to_str()
        .unwrap();
    assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
}
