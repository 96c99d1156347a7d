//! RFC 9728 OAuth 2.0 Protected Resource Metadata: the document served by
//! `ProtectedResourceMetadata::service()` and the `resource_metadata` parameter of the
//! challenges (RFC 9728 §5.1), from the layer, the scope and claim guards and the extractor.

use crate::common;

use axum::Router;
use bearer_guard::testing::{DEFAULT_AUDIENCE, TestIssuer};
use bearer_guard::{ProtectedResourceMetadata, Validator};
use common::{
    PRIVATE, RULED, Reply, SCOPE, SCOPED, SHAPED, guarded_app, parse_challenge, send, send_raw,
    send_token,
};
use http::{StatusCode, header};
use serde_json::json;

const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";
const METADATA_URL: &str = "https://api.example.com/.well-known/oauth-protected-resource";

fn metadata() -> ProtectedResourceMetadata {
    ProtectedResourceMetadata::new(DEFAULT_AUDIENCE)
        .scopes_supported(["read:messages", "write:messages"])
        .resource_name("Messages API")
}

/// The guarded routes, and the metadata document outside the layer.
fn metadata_app(validator: Validator, metadata: &ProtectedResourceMetadata) -> Router {
    guarded_app(validator).route_service(&metadata.path(), metadata.service())
}

struct Fixture {
    issuer: TestIssuer,
    app: Router,
}

async fn start(realm: Option<&str>) -> Fixture {
    let issuer = TestIssuer::start().await;
    let metadata = metadata();
    let mut builder = issuer.validator().resource_metadata(metadata.url());
    if let Some(realm) = realm {
        builder = builder.realm(realm);
    }
    let validator = builder.build().unwrap();
    let metadata = metadata.authorization_servers_of(&validator);
    Fixture {
        app: metadata_app(validator, &metadata),
        issuer,
    }
}

/// `status` with exactly these challenge parameters, in this order.
#[track_caller]
fn assert_challenge(reply: &Reply, status: StatusCode, expected: &[(&str, &str)]) {
    assert_eq!(reply.status, status, "{reply:#?}");
    common::assert_no_store(reply);
    let challenge = reply.challenge.as_deref().expect("a challenge");
    let (scheme, params) = parse_challenge(challenge);
    assert_eq!(scheme, "Bearer", "{challenge}");
    let params: Vec<(&str, &str)> = params
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    assert_eq!(params, expected, "{challenge}");
}

#[tokio::test]
async fn the_document_has_the_rfc_9728_fields() {
    let f = start(None).await;
    // Served without a token, and even with a bad one: it is outside the layer.
    for authorization in [None, Some("Bearer not.a.token")] {
        let reply = send(&f.app, WELL_KNOWN, authorization).await;
        assert_eq!(reply.status, StatusCode::OK, "{reply:#?}");
        assert_eq!(reply.headers[header::CONTENT_TYPE], "application/json");
        assert_eq!(
            reply.body,
            json!({
                "resource": DEFAULT_AUDIENCE,
                "authorization_servers": [f.issuer.issuer()],
                "scopes_supported": ["read:messages", "write:messages"],
                "bearer_methods_supported": ["header"],
                "resource_name": "Messages API",
            })
        );
    }
    // Serving the document fetches nothing.
    assert_eq!(f.issuer.jwks_fetches(), 0);
}

#[tokio::test]
async fn authorization_servers_list_every_issuer_of_the_validator() {
    let a = TestIssuer::start().await;
    let b = TestIssuer::start().await;
    let validator = Validator::for_issuers([
        a.validator().build().unwrap(),
        b.validator().build().unwrap(),
    ])
    .unwrap();
    let metadata = ProtectedResourceMetadata::new(DEFAULT_AUDIENCE)
        .bearer_methods(["header", "query"])
        .authorization_servers_of(&validator);
    let app = metadata_app(validator, &metadata);
    let reply = send(&app, WELL_KNOWN, None).await;
    let mut issuers = vec![a.issuer().to_owned(), b.issuer().to_owned()];
    issuers.sort();
    assert_eq!(
        reply.assert_ok(),
        &json!({
            "resource": DEFAULT_AUDIENCE,
            "authorization_servers": issuers,
            "bearer_methods_supported": ["header", "query"],
        })
    );
}

#[tokio::test]
async fn a_resource_with_a_path_is_served_below_the_well_known_prefix() {
    let issuer = TestIssuer::start().await;
    let metadata = ProtectedResourceMetadata::new("https://api.example.com/messages/v1");
    assert_eq!(metadata.path(), format!("{WELL_KNOWN}/messages/v1"));
    let url = metadata.url();
    assert_eq!(
        url,
        format!("https://api.example.com{WELL_KNOWN}/messages/v1")
    );
    let validator = issuer
        .validator()
        .resource_metadata(url.as_str())
        .build()
        .unwrap();
    let metadata = metadata.authorization_servers_of(&validator);
    let app = metadata_app(validator, &metadata);
    let reply = send(&app, &format!("{WELL_KNOWN}/messages/v1"), None).await;
    assert_eq!(
        reply.assert_ok()["resource"],
        "https://api.example.com/messages/v1"
    );
    assert_challenge(
        &send(&app, PRIVATE, None).await,
        StatusCode::UNAUTHORIZED,
        &[("resource_metadata", &url)],
    );
}

#[tokio::test]
async fn a_missing_token_challenge_points_to_the_document() {
    let f = start(None).await;
    for reply in [
        send(&f.app, PRIVATE, None).await,
        send(&f.app, SCOPED, None).await,
        send(&f.app, PRIVATE, Some("Basic dXNlcjpwYXNz")).await,
    ] {
        assert_challenge(
            &reply,
            StatusCode::UNAUTHORIZED,
            &[("resource_metadata", METADATA_URL)],
        );
        assert_eq!(
            reply.challenge.as_deref(),
            Some(format!("Bearer resource_metadata=\"{METADATA_URL}\"").as_str())
        );
    }
}

#[tokio::test]
async fn invalid_token_and_invalid_request_challenges_point_to_the_document() {
    let f = start(None).await;
    let expired = f.issuer.token().expires_in_secs(-3600).sign();
    assert_challenge(
        &send_token(&f.app, PRIVATE, &expired).await,
        StatusCode::UNAUTHORIZED,
        &[
            ("error", "invalid_token"),
            ("error_description", "the token has expired"),
            ("resource_metadata", METADATA_URL),
        ],
    );
    let wrong_audience = f.issuer.token().audience("https://other.example").sign();
    assert_challenge(
        &send_token(&f.app, SCOPED, &wrong_audience).await,
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
    assert_challenge(
        &send_raw(&f.app, PRIVATE, &[b"Bearer a,b"]).await,
        StatusCode::BAD_REQUEST,
        &[
            ("error", "invalid_request"),
            (
                "error_description",
                "the bearer token has characters outside the b64token syntax",
            ),
            ("resource_metadata", METADATA_URL),
        ],
    );
}

#[tokio::test]
async fn forbidden_challenges_point_to_the_document_too() {
    let f = start(None).await;
    let token = f.issuer.token().scope("write:messages").sign();
    assert_challenge(
        &send_token(&f.app, SCOPED, &token).await,
        StatusCode::FORBIDDEN,
        &[
            ("error", "insufficient_scope"),
            (
                "error_description",
                "the token does not have the scopes this resource requires",
            ),
            ("scope", SCOPE),
            ("resource_metadata", METADATA_URL),
        ],
    );
    assert_challenge(
        &send_token(&f.app, RULED, &token).await,
        StatusCode::FORBIDDEN,
        &[
            ("error", "insufficient_scope"),
            (
                "error_description",
                "the roles claim does not include the required value",
            ),
            ("resource_metadata", METADATA_URL),
        ],
    );
    // The extractor's refusal, too.
    assert_challenge(
        &send_token(&f.app, SHAPED, &token).await,
        StatusCode::UNAUTHORIZED,
        &[
            ("error", "invalid_token"),
            (
                "error_description",
                "the token claims do not have the shape this API expects",
            ),
            ("resource_metadata", METADATA_URL),
        ],
    );
    // The routes work with the right token.
    let good = f
        .issuer
        .token()
        .scope(SCOPE)
        .claim("roles", "admin")
        .claim("org_id", "org-1")
        .sign();
    for path in [PRIVATE, SCOPED, RULED, SHAPED] {
        let reply = send_token(&f.app, path, &good).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {reply:#?}");
        assert_eq!(reply.challenge, None);
    }
}

#[tokio::test]
async fn realm_comes_first_and_resource_metadata_last() {
    let f = start(Some("messages")).await;
    assert_eq!(
        send(&f.app, PRIVATE, None).await.challenge.as_deref(),
        Some(format!("Bearer realm=\"messages\", resource_metadata=\"{METADATA_URL}\"").as_str())
    );
    let token = f.issuer.token().sign();
    assert_challenge(
        &send_token(&f.app, SCOPED, &token).await,
        StatusCode::FORBIDDEN,
        &[
            ("realm", "messages"),
            ("error", "insufficient_scope"),
            (
                "error_description",
                "the token does not have the scopes this resource requires",
            ),
            ("scope", SCOPE),
            ("resource_metadata", METADATA_URL),
        ],
    );
}

#[tokio::test]
async fn without_the_setting_there_is_no_resource_metadata_parameter() {
    let issuer = TestIssuer::start().await;
    let validator = issuer.validator().build().unwrap();
    let app = metadata_app(validator, &metadata());
    send(&app, PRIVATE, None).await.assert_bare_challenge();
    let token = issuer.token().sign();
    send_token(&app, SCOPED, &token)
        .await
        .assert_insufficient_scope(SCOPE);
    // The document itself is still served (with no authorization server named).
    let reply = send(&app, WELL_KNOWN, None).await;
    assert_eq!(reply.assert_ok()["authorization_servers"], json!([]));
}

#[tokio::test]
async fn the_503_has_no_challenge_and_so_no_resource_metadata() {
    let f = start(None).await;
    f.issuer.stop();
    let reply = send_token(&f.app, PRIVATE, &f.issuer.token().sign()).await;
    reply.assert_keys_unavailable();
    // The document is still served while the issuer is down.
    send(&f.app, WELL_KNOWN, None).await.assert_ok();
}
