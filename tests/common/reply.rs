//! Requests through a router, and what a client sees: one [`Reply`], one challenge parser
//! ([`try_parse_challenge`], [`parse_challenge`]) and one "never echoes the token" rule
//! ([`check_no_echo`], [`assert_no_echo`]), and one "every refusal is `no-store`" rule
//! ([`check_no_store`], [`assert_no_store`]), which every refusal assertion of [`Reply`] and
//! [`crate::common::check`] applies.
//!
//! Every response that passes through [`send_raw`] (and so [`send`], [`send_token`] and
//! `Fixture::send`) is checked never to contain the credentials that were sent.

use axum::body::{Body, Bytes, HttpBody};
use axum::{BoxError, Router};
use bearer_guard::{AuthError, error::TokenProblem};
use http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode, header};
use serde_json::Value;
use tower::ServiceExt;

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

impl Reply {
    /// What a client sees of `response` (any body type: a router's, or a bare tower
    /// service's), its body read whole (under 1 MiB).
    pub async fn of<B>(response: http::Response<B>) -> Self
    where
        B: HttpBody<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let (parts, body) = response.into_parts();
        let raw_body = axum::body::to_bytes(Body::new(body), 1 << 20)
            .await
            .expect("a body under 1 MiB")
            .to_vec();
        Reply::from_parts(parts.status, parts.headers, raw_body)
    }

    /// A reply from the parts of a response, whatever client received it.
    pub fn from_parts(status: StatusCode, headers: HeaderMap, raw_body: Vec<u8>) -> Self {
        let body = serde_json::from_slice(&raw_body)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&raw_body).into_owned()));
        Reply {
            status,
            challenge: headers
                .get(header::WWW_AUTHENTICATE)
                .map(|value| value.to_str().unwrap_or("<non-ASCII challenge>").to_owned()),
            headers,
            body,
            raw_body,
        }
    }

    /// A one-line summary for failure messages.
    pub fn summary(&self) -> String {
        format!(
            "status {}, challenge {:?}, body {:?}",
            self.status,
            self.challenge,
            String::from_utf8_lossy(&self.raw_body)
        )
    }

    /// A response header as text.
    pub fn header(&self, name: HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }
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
    let reply = send_values(app, path, authorizations).await;
    for value in authorizations {
        assert_no_echo(value, &reply);
    }
    reply
}

/// `GET path` with one `Authorization` header per value, asserting nothing: for the case
/// tables and properties, which check the reply with [`crate::common::check`].
pub async fn send_values(app: &Router, path: &str, authorizations: &[impl AsRef<[u8]>]) -> Reply {
    let headers: Vec<(HeaderName, &[u8])> = authorizations
        .iter()
        .map(|value| (header::AUTHORIZATION, value.as_ref()))
        .collect();
    get_with(app, path, &headers).await
}

/// `GET uri` with these headers (raw values, appended in order).
pub async fn get_with(app: &Router, uri: &str, headers: &[(HeaderName, &[u8])]) -> Reply {
    let mut request = Request::get(uri).body(Body::empty()).expect("request");
    for (name, value) in headers {
        let value = HeaderValue::from_bytes(value).expect("a valid header value");
        request.headers_mut().append(name.clone(), value);
    }
    let response = app.clone().oneshot(request).await.expect("infallible");
    Reply::of(response).await
}

/// The rule: the `Authorization` value, its credentials (after the scheme) and each of their
/// dot-separated segments, where 12 bytes or longer, appear neither in a response header nor in
/// the body. `Err` says where the token was echoed.
pub fn check_no_echo(authorization: &[u8], reply: &Reply) -> Result<(), String> {
    const MIN_NEEDLE: usize = 12;
    let credentials = match authorization.iter().position(|&b| b == b' ') {
        Some(space) => &authorization[space + 1..],
        None => authorization,
    };
    let needles = std::iter::once(authorization)
        .chain(std::iter::once(credentials))
        .chain(credentials.split(|&b| b == b'.'))
        .filter(|needle| needle.len() >= MIN_NEEDLE);
    for needle in needles {
        if contains(&reply.raw_body, needle) {
            return Err("the response body echoes the token".into());
        }
        for (name, value) in &reply.headers {
            if contains(value.as_bytes(), needle) {
                return Err(format!("the {name} header echoes the token"));
            }
        }
    }
    Ok(())
}

/// [`check_no_echo`], as an assertion.
#[track_caller]
pub fn assert_no_echo(authorization: &[u8], reply: &Reply) {
    if let Err(problem) = check_no_echo(authorization, reply) {
        panic!("{problem}: {}", reply.summary());
    }
}

/// The rule: every refusal is sent with `Cache-Control: no-store` (RFC 6750 §5.4's advice
/// for anything about a token, so that no cache keeps or replays it). `Err` says what came.
pub fn check_no_store(reply: &Reply) -> Result<(), String> {
    match reply.header(header::CACHE_CONTROL) {
        Some("no-store") => Ok(()),
        other => Err(format!("expected Cache-Control: no-store, got {other:?}")),
    }
}

/// [`check_no_store`], as an assertion.
#[track_caller]
pub fn assert_no_store(reply: &Reply) {
    if let Err(problem) = check_no_store(reply) {
        panic!("{problem}: {}", reply.summary());
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.len() <= haystack.len() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// A parsed challenge: the scheme and the `name="value"` parameters (quoted-strings unescaped).
pub type Challenge = (String, Vec<(String, String)>);

/// Splits a challenge into its scheme and `name="value"` parameters; `Err` says what is
/// malformed.
pub fn try_parse_challenge(challenge: &str) -> Result<Challenge, String> {
    let (scheme, rest) = challenge.split_once(' ').unwrap_or((challenge, ""));
    let mut params = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        if !params.is_empty() {
            match chars.next() {
                None => break,
                Some(',') => {}
                Some(other) => return Err(format!("expected ',' not {other:?}")),
            }
        }
        while chars.peek() == Some(&' ') {
            chars.next();
        }
        let name: String = std::iter::from_fn(|| chars.next_if(|&c| c != '=')).collect();
        if name.is_empty() {
            if !params.is_empty() {
                return Err("dangling ','".into());
            }
            break;
        }
        if chars.next() != Some('=') || chars.next() != Some('"') {
            return Err(format!("{name} is not followed by =\""));
        }
        let mut value = String::new();
        loop {
            match chars.next() {
                Some('\\') => value.push(chars.next().ok_or("dangling escape")?),
                Some('"') => break,
                Some(c) => value.push(c),
                None => return Err("unterminated quoted-string".into()),
            }
        }
        params.push((name, value));
    }
    Ok((scheme.to_owned(), params))
}

/// [`try_parse_challenge`] that panics on a malformed challenge, so that it fails the test.
#[track_caller]
pub fn parse_challenge(challenge: &str) -> Challenge {
    try_parse_challenge(challenge).unwrap_or_else(|problem| panic!("{problem} in {challenge:?}"))
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
        assert_no_store(self);
        assert_eq!(self.challenge.as_deref(), Some("Bearer"), "{self:#?}");
        assert!(self.body["error_description"].is_string(), "{self:#?}");
    }

    /// `status` with `Bearer error="{code}", error_description="..."`, and the same code and
    /// description in the JSON body.
    #[track_caller]
    pub fn assert_error(&self, status: StatusCode, code: &str) {
        assert_eq!(self.status, status, "{self:#?}");
        assert_no_store(self);
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

    /// 401 `invalid_token` with this `error_description`.
    #[track_caller]
    pub fn assert_invalid_token_saying(&self, description: &str) {
        self.assert_invalid_token();
        assert_eq!(
            self.param("error_description").as_deref(),
            Some(description),
            "{self:#?}"
        );
    }

    /// 401 `invalid_token` with exactly the challenge and description the crate renders for
    /// `problem`.
    #[track_caller]
    pub fn assert_invalid_token_for(&self, problem: TokenProblem) {
        self.assert_invalid_token();
        let expected = AuthError::InvalidToken(problem);
        assert_eq!(
            self.challenge.as_deref(),
            expected
                .challenge(None)
                .as_ref()
                .and_then(|v| v.to_str().ok()),
            "expected {problem:?}: {self:#?}"
        );
        assert_eq!(
            self.body["error_description"],
            expected.description(),
            "{self:#?}"
        );
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

    /// 503 with `Retry-After` (whole seconds, at least 1), no challenge, and a body saying
    /// token introspection is unavailable; returns the `Retry-After` seconds.
    #[track_caller]
    pub fn assert_introspection_unavailable(&self) -> u64 {
        assert_eq!(self.status, StatusCode::SERVICE_UNAVAILABLE, "{self:#?}");
        assert_no_store(self);
        assert_eq!(self.challenge, None, "{self:#?}");
        assert_eq!(self.body["error"], "temporarily_unavailable", "{self:#?}");
        let description = self.body["error_description"].as_str().unwrap_or("");
        assert!(
            description.contains("introspection is unavailable"),
            "{self:#?}"
        );
        let retry_after = self
            .headers
            .get(header::RETRY_AFTER)
            .expect("a Retry-After header");
        let seconds: u64 = retry_after
            .to_str()
            .unwrap()
            .parse()
            .expect("Retry-After in seconds");
        assert!(seconds >= 1, "{self:#?}");
        seconds
    }

    /// 503 with `Retry-After` (whole seconds, at least 1), no challenge, and a body saying the
    /// keys are unavailable; returns the `Retry-After` seconds.
    #[track_caller]
    pub fn assert_keys_unavailable(&self) -> u64 {
        assert_eq!(self.status, StatusCode::SERVICE_UNAVAILABLE, "{self:#?}");
        assert_no_store(self);
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
