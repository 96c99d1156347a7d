//! Opt-in token sources (`BearerLayer::token_source`): a cookie, a custom header and the
//! `access_token` query parameter, each read only when enabled; a token in more than one
//! place, a repeated source and invalid characters are 400 `invalid_request`.

use crate::common;

use axum::routing::get;
use axum::{Extension, Json, Router};
use bearer_guard::testing::TestIssuer;
use bearer_guard::{BearerLayer, RequireScopes, Validator, VerifiedClaims, layer::TokenSource};
use common::{Reply, SCOPE, get_with};
use http::{HeaderName, StatusCode, header};
use serde_json::{Value, json};

const PRIVATE: &str = "/private";
const SCOPED: &str = "/scoped";
const COOKIE: &str = "access_token";
const X_ACCESS_TOKEN: HeaderName = HeaderName::from_static("x-access-token");

async fn echo(Extension(claims): Extension<VerifiedClaims>) -> Json<Value> {
    Json(json!({ "sub": claims.subject(), "scopes": claims.scopes().iter().collect::<Vec<_>>() }))
}

fn app(layer: BearerLayer) -> Router {
    Router::new()
        .route(SCOPED, get(echo))
        .route_layer(RequireScopes::all([SCOPE]))
        .route(PRIVATE, get(echo))
        .layer(layer)
}

/// `GET uri` with these headers (raw values), as a client sees the answer.
struct Fixture {
    issuer: TestIssuer,
    validator: Validator,
}

impl Fixture {
    async fn start() -> Self {
        let issuer = TestIssuer::start().await;
        let validator = issuer.validator().build().unwrap();
        Fixture { issuer, validator }
    }

    fn token(&self) -> String {
        self.issuer.token().scope(SCOPE).sign()
    }

    /// A layer with every source enabled.
    fn all_sources(&self) -> Router {
        app(BearerLayer::new(self.validator.clone())
            .token_source(TokenSource::Cookie(COOKIE.into()))
            .token_source(TokenSource::Header(X_ACCESS_TOKEN))
            .token_source(TokenSource::Query))
    }
}

fn cookie(value: &str) -> (HeaderName, Vec<u8>) {
    (header::COOKIE, value.as_bytes().to_vec())
}

fn authorization(token: &str) -> (HeaderName, Vec<u8>) {
    (
        header::AUTHORIZATION,
        format!("Bearer {token}").into_bytes(),
    )
}

fn x_access_token(value: &str) -> (HeaderName, Vec<u8>) {
    (X_ACCESS_TOKEN, value.as_bytes().to_vec())
}

async fn request(app: &Router, uri: &str, headers: &[(HeaderName, Vec<u8>)]) -> Reply {
    let headers: Vec<(HeaderName, &[u8])> = headers
        .iter()
        .map(|(name, value)| (name.clone(), value.as_slice()))
        .collect();
    get_with(app, uri, &headers).await
}

#[track_caller]
fn assert_invalid_request_saying(reply: &Reply, description: &str) {
    reply.assert_invalid_request();
    assert_eq!(
        reply.param("error_description").as_deref(),
        Some(description),
        "{reply:#?}"
    );
}

#[tokio::test]
async fn each_source_is_read_when_enabled() {
    let f = Fixture::start().await;
    let token = f.token();
    let cookie_app =
        app(BearerLayer::new(f.validator.clone()).token_source(TokenSource::Cookie(COOKIE.into())));
    let header_app = app(
        BearerLayer::new(f.validator.clone()).token_source(TokenSource::Header(X_ACCESS_TOKEN))
    );
    let query_app = app(BearerLayer::new(f.validator.clone()).token_source(TokenSource::Query));

    let in_cookie = [cookie(&format!("theme=dark; {COOKIE}={token}; lang=en"))];
    let in_header = [x_access_token(&token)];
    let query = format!("?access_token={token}");
    for path in [PRIVATE, SCOPED] {
        let reply = request(&cookie_app, path, &in_cookie).await;
        assert_eq!(reply.assert_ok()["sub"], "test-client@clients");
        let reply = request(&header_app, path, &in_header).await;
        assert_eq!(reply.assert_ok()["sub"], "test-client@clients");
        let reply = request(&query_app, &format!("{path}{query}"), &[]).await;
        assert_eq!(reply.assert_ok()["sub"], "test-client@clients");
    }
    // The Authorization header keeps working next to an enabled source.
    for app in [&cookie_app, &header_app, &query_app] {
        request(app, PRIVATE, &[authorization(&token)])
            .await
            .assert_ok();
    }
}

#[tokio::test]
async fn sources_that_are_not_enabled_are_not_read() {
    let f = Fixture::start().await;
    let token = f.token();
    let header_only = app(BearerLayer::new(f.validator.clone()));
    let cookie_only =
        app(BearerLayer::new(f.validator.clone()).token_source(TokenSource::Cookie(COOKIE.into())));
    let query = format!("{PRIVATE}?access_token={token}");
    for app in [&header_only, &cookie_only] {
        request(app, PRIVATE, &[x_access_token(&token)])
            .await
            .assert_bare_challenge();
        request(app, &query, &[]).await.assert_bare_challenge();
    }
    request(
        &header_only,
        PRIVATE,
        &[cookie(&format!("{COOKIE}={token}"))],
    )
    .await
    .assert_bare_challenge();
    // Cookies of another name do not count.
    for other in [
        format!("session={token}"),
        format!("{COOKIE}2={token}"),
        format!("x{COOKIE}={token}"),
        format!("ACCESS_TOKEN={token}"),
    ] {
        request(&cookie_only, PRIVATE, &[cookie(&other)])
            .await
            .assert_bare_challenge();
    }
    // Nothing was fetched for all this.
    assert_eq!(f.issuer.jwks_fetches(), 0);
}

#[tokio::test]
async fn a_token_in_several_places_is_a_bad_request() {
    let f = Fixture::start().await;
    let token = f.token();
    let app = f.all_sources();
    let several = "the request carries a token in more than one place";
    let in_cookie = cookie(&format!("{COOKIE}={token}"));
    // The same token in the header and in the cookie.
    let reply = request(&app, PRIVATE, &[authorization(&token), in_cookie.clone()]).await;
    assert_invalid_request_saying(&reply, several);
    // Other combinations.
    let reply = request(&app, PRIVATE, &[in_cookie.clone(), x_access_token(&token)]).await;
    assert_invalid_request_saying(&reply, several);
    let query = format!("{PRIVATE}?access_token={token}");
    let reply = request(&app, &query, &[authorization(&token)]).await;
    assert_invalid_request_saying(&reply, several);
    let reply = request(&app, &query, &[in_cookie]).await;
    assert_invalid_request_saying(&reply, several);
    // Each one alone is fine.
    request(&app, &query, &[]).await.assert_ok();
    request(&app, PRIVATE, &[x_access_token(&token)])
        .await
        .assert_ok();
}

#[tokio::test]
async fn a_repeated_source_is_a_bad_request() {
    let f = Fixture::start().await;
    let token = f.token();
    let other = f.issuer.token().claim("sub", "other").sign();
    let app = f.all_sources();
    let several = "more than one bearer token";
    // Two cookies of the same name, in one header or in two.
    for headers in [
        vec![cookie(&format!("{COOKIE}={token}; {COOKIE}={other}"))],
        vec![cookie(&format!("{COOKIE}={token}; {COOKIE}={token}"))],
        vec![
            cookie(&format!("{COOKIE}={token}")),
            cookie(&format!("theme=dark; {COOKIE}={other}")),
        ],
    ] {
        let reply = request(&app, PRIVATE, &headers).await;
        assert_invalid_request_saying(&reply, several);
    }
    // Two custom headers.
    let reply = request(
        &app,
        PRIVATE,
        &[x_access_token(&token), x_access_token(&token)],
    )
    .await;
    assert_invalid_request_saying(&reply, several);
    // Two query parameters.
    let reply = request(
        &app,
        &format!("{PRIVATE}?access_token={token}&access_token={other}"),
        &[],
    )
    .await;
    assert_invalid_request_saying(&reply, several);
}

#[tokio::test]
async fn invalid_characters_are_a_bad_request() {
    let f = Fixture::start().await;
    let token = f.token();
    let app = f.all_sources();
    let invalid = "the bearer token has characters outside the b64token syntax";
    for value in [
        format!("{COOKIE}={token},x"),
        format!("{COOKIE}={token}%2E"),
        format!("{COOKIE}=a$b"),
        format!("{COOKIE}=a\\b"),
        format!("{COOKIE}==abc"),
    ] {
        let reply = request(&app, PRIVATE, &[cookie(&value)]).await;
        assert_invalid_request_saying(&reply, invalid);
    }
    for value in ["a,b", "a;b", "a\"b", "===", "a=b"] {
        let reply = request(&app, PRIVATE, &[x_access_token(value)]).await;
        assert_invalid_request_saying(&reply, invalid);
    }
    // Bytes outside ASCII in the custom header.
    let reply = get_with(&app, PRIVATE, &[(X_ACCESS_TOKEN, b"abc\xc3\xa9")]).await;
    assert_invalid_request_saying(&reply, invalid);
    for query in ["a%22b", "a%2Cb", "%C3%A9", "a%00b", "a=b"] {
        let reply = request(&app, &format!("{PRIVATE}?access_token={query}"), &[]).await;
        assert_invalid_request_saying(&reply, invalid);
    }
    // A space inside is two tokens; an empty value is no token at all.
    let reply = request(&app, PRIVATE, &[x_access_token("a b")]).await;
    assert_invalid_request_saying(&reply, "more than one bearer token");
    let reply = request(&app, &format!("{PRIVATE}?access_token="), &[]).await;
    assert_invalid_request_saying(&reply, "the bearer token is empty");
    let reply = request(&app, PRIVATE, &[cookie(&format!("{COOKIE}="))]).await;
    assert_invalid_request_saying(&reply, "the bearer token is empty");
}

#[tokio::test]
async fn tokens_from_every_source_are_fully_validated() {
    let f = Fixture::start().await;
    let app = f.all_sources();
    let expired = f.issuer.token().expires_in_secs(-3600).sign();
    let unscoped = f.issuer.token().sign();
    for (uri, headers) in [
        (
            format!("{PRIVATE}?access_token={expired}"),
            Vec::<(HeaderName, Vec<u8>)>::new(),
        ),
        (
            PRIVATE.to_owned(),
            vec![cookie(&format!("{COOKIE}={expired}"))],
        ),
        (PRIVATE.to_owned(), vec![x_access_token(&expired)]),
    ] {
        let reply = request(&app, &uri, &headers).await;
        reply.assert_invalid_token();
        assert_eq!(
            reply.param("error_description").as_deref(),
            Some("the token has expired")
        );
    }
    for (uri, headers) in [
        (
            format!("{SCOPED}?access_token={unscoped}"),
            Vec::<(HeaderName, Vec<u8>)>::new(),
        ),
        (
            SCOPED.to_owned(),
            vec![cookie(&format!("{COOKIE}={unscoped}"))],
        ),
        (SCOPED.to_owned(), vec![x_access_token(&unscoped)]),
    ] {
        request(&app, &uri, &headers)
            .await
            .assert_insufficient_scope(SCOPE);
    }
}

#[tokio::test]
async fn cookie_values_may_be_quoted_and_spaced() {
    let f = Fixture::start().await;
    let token = f.token();
    let app = f.all_sources();
    for value in [
        format!("{COOKIE}=\"{token}\""),
        format!("a=1;{COOKIE}={token}"),
        format!("a=1;   {COOKIE}={token}  ;b=2"),
    ] {
        let reply = request(&app, PRIVATE, &[cookie(&value)]).await;
        assert_eq!(reply.status, StatusCode::OK, "{value}: {reply:#?}");
    }
}

#[tokio::test]
async fn an_optional_layer_reads_the_sources_too() {
    let f = Fixture::start().await;
    let token = f.token();
    let app = Router::new()
        .route(
            PRIVATE,
            get(|claims: Option<Extension<VerifiedClaims>>| async move {
                Json(json!({ "sub": claims.map(|c| c.0.subject().map(str::to_owned)) }))
            }),
        )
        .layer(
            BearerLayer::new(f.validator.clone())
                .optional()
                .token_source(TokenSource::Cookie(COOKIE.into())),
        );
    let reply = request(&app, PRIVATE, &[]).await;
    assert_eq!(reply.assert_ok(), &json!({ "sub": null }));
    let reply = request(&app, PRIVATE, &[cookie(&format!("{COOKIE}={token}"))]).await;
    assert_eq!(reply.assert_ok(), &json!({ "sub": "test-client@clients" }));
    let expired = f.issuer.token().expires_in_secs(-3600).sign();
    request(&app, PRIVATE, &[cookie(&format!("{COOKIE}={expired}"))])
        .await
        .assert_invalid_token();
    let reply = request(
        &app,
        PRIVATE,
        &[authorization(&token), cookie(&format!("{COOKIE}={token}"))],
    )
    .await;
    reply.assert_invalid_request();
}

#[tokio::test]
async fn a_non_ascii_value_of_another_cookie_does_not_hide_the_token() {
    let f = Fixture::start().await;
    let token = f.token();
    let app = f.all_sources();
    // Browsers send every cookie of the site in one header; one of them holds UTF-8 text.
    let header = format!("name=Jos\u{e9}; {COOKIE}={token}");
    let reply = get_with(&app, PRIVATE, &[(header::COOKIE, header.as_bytes())]).await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:#?}");
    // And the token in that cookie still counts as a second place next to the header.
    let bearer = format!("Bearer {token}");
    let reply = get_with(
        &app,
        PRIVATE,
        &[
            (header::AUTHORIZATION, bearer.as_bytes()),
            (header::COOKIE, header.as_bytes()),
        ],
    )
    .await;
    assert_invalid_request_saying(&reply, "the request carries a token in more than one place");
}
