//! Shared helpers for the integration tests: the quickstart router, a request helper that
//! returns what a client sees, and assertions for each row of the behaviour contract.
//!
//! Every response that passes through [`send_raw`] is also checked never to contain the
//! token that was sent (or any long segment of it).

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::routing::get;
use axum::{Extension, Json, Router};
use bearer_guard::axum::Claims;
use bearer_guard::testing::TestIssuer;
use bearer_guard::{
    BearerLayer, ClaimRule, RequireClaims, RequireScopes, Validator, ValidatorBuilder,
    VerifiedClaims,
};
use http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt;

pub const PUBLIC: &str = "/api/public";
pub const PRIVATE: &str = "/api/private";
pub const SCOPED: &str = "/api/private-scoped";
/// The scope `/api/private-scoped` requires.
pub const SCOPE: &str = "read:messages";

/// The quickstart router: `/api/public` open, `/api/private` behind [`BearerLayer`],
/// `/api/private-scoped` also behind `RequireScopes::all(["read:messages"])`. Protected
/// handlers echo the verified claims.
pub fn app(validator: Validator) -> Router {
    Router::new()
        .route(SCOPED, get(echo_claims))
        .route_layer(RequireScopes::all([SCOPE]))
        .route(PRIVATE, get(echo_claims))
        .layer(BearerLayer::new(validator))
        .route(PUBLIC, get(|| async { Json(json!({ "public": true })) }))
}

async fn echo_claims(Extension(claims): Extension<VerifiedClaims>) -> Json<Value> {
    Json(json!({
        "iss": claims.issuer(),
        "sub": claims.subject(),
        "aud": claims.audiences(),
        "exp": claims.expires_at(),
        "client_id": claims.client_id(),
        "scopes": claims.scopes().iter().collect::<Vec<_>>(),
    }))
}

/// A test issuer, a validator for it and the quickstart router around that validator.
pub struct Fixture {
    pub issuer: TestIssuer,
    pub validator: Validator,
    pub app: Router,
}

impl Fixture {
    /// A fresh issuer (one key, `kid` `key-1`) and a validator with the default settings.
    pub async fn start() -> Self {
        Self::with_issuer(TestIssuer::start().await, |builder| builder)
    }

    /// A fresh issuer and a validator configured by `configure`.
    pub async fn start_with(configure: impl FnOnce(ValidatorBuilder) -> ValidatorBuilder) -> Self {
        Self::with_issuer(TestIssuer::start().await, configure)
    }

    /// A validator for `issuer` (discovery, default audience) configured by `configure`.
    pub fn with_issuer(
        issuer: TestIssuer,
        configure: impl FnOnce(ValidatorBuilder) -> ValidatorBuilder,
    ) -> Self {
        let validator = configure(issuer.validator())
            .build()
            .expect("valid configuration");
        Fixture {
            app: app(validator.clone()),
            validator,
            issuer,
        }
    }

    /// `GET path` with `Authorization: Bearer {token}`.
    pub async fn send(&self, path: &str, token: &str) -> Reply {
        send_token(&self.app, path, token).await
    }

    /// Asserts the fetch counts, both as the issuer saw them and as the validator reports.
    #[track_caller]
    pub fn assert_fetches(&self, discovery: usize, jwks: usize) {
        let stats = self.validator.key_stats();
        assert_eq!(
            (self.issuer.discovery_fetches(), self.issuer.jwks_fetches()),
            (discovery, jwks),
            "(discovery, jwks) fetches served by the issuer; validator stats: {stats:?}"
        );
        assert_eq!(
            (stats.discovery_fetches, stats.jwks_fetches),
            (discovery as u64, jwks as u64),
            "(discovery, jwks) fetches counted by the validator"
        );
    }
}

/// A route guarded by a claim rule (`roles` must include `admin`, else 403).
pub const RULED: &str = "/api/ruled";
/// A route whose handler needs claims of the [`Shaped`] form (else 401).
pub const SHAPED: &str = "/api/shaped";

/// The custom claims [`SHAPED`] requires.
#[derive(serde::Deserialize)]
pub struct Shaped {
    pub org_id: String,
}

/// Every way a route behind the layer can refuse: `PRIVATE` (authentication), `SCOPED`
/// (`RequireScopes`), `RULED` (`RequireClaims`) and `SHAPED` (the `Claims<T>` extractor).
pub fn guarded_app(validator: Validator) -> Router {
    let scoped = Router::new()
        .route(SCOPED, get(|| async { "scoped" }))
        .route_layer(RequireScopes::all([SCOPE]));
    let ruled = Router::new()
        .route(RULED, get(|| async { "ruled" }))
        .route_layer(RequireClaims::new(
            ClaimRule::includes("roles", "admin").or_forbidden(),
        ));
    Router::new()
        .merge(scoped)
        .merge(ruled)
        .route(PRIVATE, get(|| async { "private" }))
        .route(SHAPED, get(|_: Claims<Shaped>| async { "shaped" }))
        .layer(BearerLayer::new(validator))
}

/// What a client sees.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    /// The `WWW-Authenticate` header, if any.
    pub challenge: Option<String>,
    pub headers: HeaderMap,
    /// The body as JSON (a JSON string holding the text if the body is not JSON).
    pub body: Value,
    /// The body as sent.
    pub raw_body: Vec<u8>,
}

/// `GET path` with an optional `Authorization` header.
pub async fn send(app: &Router, path: &str, authorization: Option<&str>) -> Reply {
    let values: Vec<&[u8]> = authorization.map(str::as_bytes).into_iter().collect();
    send_raw(app, path, &values).await
}

/// `GET path` with `Authorization: Bearer {token}`.
pub async fn send_token(app: &Router, path: &str, token: &str) -> Reply {
    send(app, path, Some(&format!("Bearer {token}"))).await
}

/// `GET path` with one `Authorization` header per value (raw bytes, so malformed values
/// can be sent too); the response must not echo any of them.
pub async fn send_raw(app: &Router, path: &str, authorizations: &[&[u8]]) -> Reply {
    let headers: Vec<(HeaderName, &[u8])> = authorizations
        .iter()
        .map(|value| (header::AUTHORIZATION, *value))
        .collect();
    let reply = get_with(app, path, &headers).await;
    for value in authorizations {
        assert_no_echo(value, &reply.headers, &reply.raw_body);
    }
    reply
}

/// `GET uri` with these headers (raw values, appended in order).
pub async fn get_with(app: &Router, uri: &str, headers: &[(HeaderName, &[u8])]) -> Reply {
    let mut request = Request::get(uri).body(Body::empty()).expect("request");
    for (name, value) in headers {
        let value = HeaderValue::from_bytes(value).expect("a valid header value");
        request.headers_mut().append(name.clone(), value);
    }
    let response = app.clone().oneshot(request).await.expect("infallible");
    let (parts, body) = response.into_parts();
    let raw_body = axum::body::to_bytes(body, 1 << 20)
        .await
        .expect("a body under 1 MiB")
        .to_vec();
    let body = serde_json::from_slice(&raw_body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&raw_body).into_owned()));
    Reply {
        status: parts.status,
        challenge: parts
            .headers
            .get(header::WWW_AUTHENTICATE)
            .map(|value| value.to_str().expect("an ASCII challenge").to_owned()),
        headers: parts.headers,
        body,
        raw_body,
    }
}

/// The credentials (and each of their long segments) must appear neither in the headers nor
/// in the body of the response.
#[track_caller]
fn assert_no_echo(authorization: &[u8], headers: &HeaderMap, body: &[u8]) {
    let credentials = match authorization.iter().position(|&b| b == b' ') {
        Some(space) => &authorization[space + 1..],
        None => return,
    };
    let segments = credentials.split(|&b| b == b'.');
    for needle in std::iter::once(credentials).chain(segments) {
        if needle.len() < 16 {
            continue;
        }
        assert!(
            !contains(body, needle),
            "the response body echoes the token"
        );
        for (name, value) in headers {
            assert!(
                !contains(value.as_bytes(), needle),
                "the {name} header echoes the token"
            );
        }
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.len() <= haystack.len() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Splits a challenge into its scheme and `name="value"` parameters (quoted-strings
/// unescaped). Panics on anything else, so a malformed challenge fails the test.
pub fn parse_challenge(challenge: &str) -> (String, Vec<(String, String)>) {
    let (scheme, rest) = challenge.split_once(' ').unwrap_or((challenge, ""));
    let mut params = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        if !params.is_empty() {
            match chars.next() {
                None => break,
                Some(',') => {}
                Some(other) => panic!("expected ',' not {other:?} in {challenge:?}"),
            }
        }
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let name: String = std::iter::from_fn(|| chars.next_if(|&c| c != '=')).collect();
        if name.is_empty() {
            assert!(params.is_empty(), "dangling ',' in {challenge:?}");
            break;
        }
        assert_eq!(
            chars.next(),
            Some('='),
            "no '=' after {name} in {challenge:?}"
        );
        assert_eq!(
            chars.next(),
            Some('"'),
            "{name} is not quoted in {challenge:?}"
        );
        let mut value = String::new();
        loop {
            match chars.next() {
                Some('\\') => value.push(chars.next().expect("an escaped character")),
                Some('"') => break,
                Some(c) => value.push(c),
                None => panic!("unterminated quoted-string in {challenge:?}"),
            }
        }
        params.push((name, value));
    }
    (scheme.to_owned(), params)
}

impl Reply {
    /// A parameter of the `WWW-Authenticate` challenge.
    pub fn param(&self, name: &str) -> Option<String> {
        let (_, params) = parse_challenge(self.challenge.as_deref()?);
        params.into_iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    /// 200 without a challenge; returns the body.
    #[track_caller]
    pub fn assert_ok(&self) -> &Value {
        assert_eq!(self.status, StatusCode::OK, "{self:#?}");
        assert_eq!(self.challenge, None, "{self:#?}");
        &self.body
    }

    /// 401 with exactly `WWW-Authenticate: Bearer` (no `error`).
    #[track_caller]
    pub fn assert_bare_challenge(&self) {
        assert_eq!(self.status, StatusCode::UNAUTHORIZED, "{self:#?}");
        assert_eq!(self.challenge.as_deref(), Some("Bearer"), "{self:#?}");
        assert!(self.body["error_description"].is_string(), "{self:#?}");
    }

    /// `status` with `Bearer error="{code}", error_description="..."`, and the same code and
    /// description in the JSON body.
    #[track_caller]
    pub fn assert_error(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "{self:#?}");
        let challenge = self
            .challenge
            .as_deref()
            .expect("a WWW-Authenticate header");
        let (scheme, params) = parse_challenge(challenge);
        assert_eq!(scheme, "Bearer", "{challenge}");
        let names: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
        let expected: &[&str] = if code == "insufficient_scope" {
            &["error", "error_description", "scope"]
        } else {
            &["error", "error_description"]
        };
        assert_eq!(names, expected, "{challenge}");
        assert_eq!(self.param("error").as_deref(), Some(code), "{challenge}");
        let description = self.param("error_description").unwrap();
        assert!(!description.is_empty(), "{challenge}");
        assert_eq!(self.body["error"], code, "{self:#?}");
        assert_eq!(
            self.body["error_description"],
            description.as_str(),
            "{self:#?}"
        );
    }

    /// 401 `invalid_token`.
    #[track_caller]
    pub fn assert_invalid_token(&self) {
        self.assert_error(StatusCode::UNAUTHORIZED, "invalid_token");
    }

    /// 400 `invalid_request`.
    #[track_caller]
    pub fn assert_invalid_request(&self) {
        self.assert_error(StatusCode::BAD_REQUEST, "invalid_request");
    }

    /// 403 `insufficient_scope` naming `scope`.
    #[track_caller]
    pub fn assert_insufficient_scope(&self, scope: &str) {
        self.assert_error(StatusCode::FORBIDDEN, "insufficient_scope");
        assert_eq!(self.param("scope").as_deref(), Some(scope), "{self:#?}");
    }

    /// 503 with `Retry-After` (whole seconds, at least 1), no challenge, and a body saying the
    /// keys are unavailable; returns the `Retry-After` seconds.
    #[track_caller]
    pub fn assert_keys_unavailable(&self) -> u64 {
        assert_eq!(self.status, StatusCode::SERVICE_UNAVAILABLE, "{self:#?}");
        assert_eq!(self.challenge, None, "{self:#?}");
        let retry_after: u64 = self
            .headers
            .get(header::RETRY_AFTER)
            .expect("a Retry-After header")
            .to_str()
            .unwrap()
            .parse()
            .expect("Retry-After in seconds");
        assert!(retry_after >= 1, "{self:#?}");
        let description = self.body["error_description"]
            .as_str()
            .expect("a description");
        assert!(description.contains("keys are unavailable"), "{self:#?}");
        retry_after
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs() as i64
}
