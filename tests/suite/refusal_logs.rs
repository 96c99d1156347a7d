//! "Why is my token refused?" from the logs: every refusal (the layer's, a route guard's, an
//! extractor's) is logged once at `debug` with the request's path and the reason
//! (`RUST_LOG=bearer_guard=debug`), and never with the token, whether it came in the
//! `Authorization` header or in the query.

use crate::common;

use axum::routing::get;
use bearer_guard::BearerLayer;
use bearer_guard::axum::Claims;
use bearer_guard::layer::TokenSource;
use common::{Fixture, PRIVATE, SCOPED, get_with};
use http::StatusCode;

/// The debug lines that record a refusal.
fn refusals(logs: &common::Logs) -> Vec<String> {
    logs.at(tracing::Level::DEBUG)
        .lines()
        .filter(|line| line.contains("request refused"))
        .map(str::to_owned)
        .collect()
}

#[tokio::test(flavor = "current_thread")]
async fn an_expired_token_logs_one_debug_line_with_the_path_and_the_reason() {
    let fixture = Fixture::warm_default().await;
    let token = fixture.token().expires_in_secs(-600).sign();
    let logs = common::Logs::capture();
    fixture.send(PRIVATE, &token).await.assert_invalid_token();
    let lines = refusals(&logs);
    assert_eq!(lines.len(), 1, "one line per refusal: {lines:?}");
    let line = &lines[0];
    for field in [
        "path=\"/api/private\"",
        "status=401",
        "error=\"invalid_token\"",
        "problem=\"expired\"",
        "reason=the token has expired",
    ] {
        assert!(line.contains(field), "{field} missing from {line}");
    }
    logs.assert_never_shows(&[&token]);
}

#[tokio::test(flavor = "current_thread")]
async fn a_route_guard_refusal_names_its_path_and_the_missing_scope() {
    let fixture = Fixture::warm_default().await;
    let token = fixture.issuer.token().scope("write:messages").sign();
    let logs = common::Logs::capture();
    fixture
        .send(SCOPED, &token)
        .await
        .assert_insufficient_scope("read:messages");
    let lines = refusals(&logs);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("path=\"/api/private-scoped\"")
            && lines[0].contains("status=403")
            && lines[0].contains("problem=\"scope\""),
        "{}",
        lines[0]
    );
    logs.assert_never_shows(&[&token]);
}

#[tokio::test(flavor = "current_thread")]
async fn a_token_in_the_query_stays_out_of_the_logged_path() {
    let fixture = Fixture::warm_default().await;
    let query_app = axum::Router::new()
        .route(PRIVATE, get(common::echo_claims))
        .layer(BearerLayer::new(fixture.validator.clone()).token_source(TokenSource::Query));
    let token = fixture
        .token()
        .audience("https://another.example.com")
        .sign();
    let logs = common::Logs::capture();
    let reply = get_with(&query_app, &format!("{PRIVATE}?access_token={token}"), &[]).await;
    assert_eq!(
        reply.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        reply.summary()
    );
    let lines = refusals(&logs);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("path=\"/api/private\"")
            && lines[0].contains("problem=\"wrong_audience\""),
        "{}",
        lines[0]
    );
    logs.assert_never_shows(&[&token]);
}

#[tokio::test(flavor = "current_thread")]
async fn an_extractor_refusal_names_its_path_too() {
    let fixture = Fixture::warm_default().await;
    let app = axum::Router::new()
        .route("/api/profile", get(|_: Claims| async { "profile" }))
        .layer(BearerLayer::new(fixture.validator.clone()).optional());
    let logs = common::Logs::capture();
    let reply = common::send(&app, "/api/profile", None).await;
    reply.assert_bare_challenge();
    let lines = refusals(&logs);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("path=\"/api/profile\"") && lines[0].contains("problem=\"no_token\""),
        "{}",
        lines[0]
    );
}
