//! Shared helpers for the adversarial test families (`attack_*.rs`) and the property tests.
//!
//! Every case goes through the real middleware: an axum router with [`BearerLayer`] in front
//! of `/private` (and `RequireScopes` in front of `/scoped`), driven with
//! `tower::ServiceExt::oneshot`. [`run`] executes a table of named cases, checks status,
//! challenge and body of each, checks that no response echoes the credentials, and reports
//! every failing case by name at once.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bearer_guard::testing::{DEFAULT_AUDIENCE, TestIssuer, TokenBuilder};
use bearer_guard::{BearerLayer, RequireScopes, Validator, ValidatorBuilder};
use http::{HeaderMap, HeaderValue, Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt;

/// Behind [`BearerLayer`] only.
pub const PRIVATE: &str = "/private";
/// Behind [`BearerLayer`] and `RequireScopes::all([SCOPE])`.
pub const SCOPED: &str = "/scoped";
/// The scope [`SCOPED`] requires.
pub const SCOPE: &str = "read:messages";
/// What a protected handler answers.
pub const OK_BODY: &str = "ok";

/// The issuer of the HS256 (secret mode) validator.
pub const HS_ISSUER: &str = "https://issuer.example/";
/// The HS256 shared secret (raw bytes of the string, 44 bytes).
pub const HS_SECRET: &[u8] = b"a-shared-hs256-secret-that-is-long-enough!!!";

/// The router every attack goes through.
pub fn router(validator: Validator) -> Router {
    Router::new()
        .route(SCOPED, get(|| async { OK_BODY }))
        .route_layer(RequireScopes::all([SCOPE]))
        .route(PRIVATE, get(|| async { OK_BODY }))
        .layer(BearerLayer::new(validator))
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs() as i64
}

/// base64url without padding.
pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding (panics on anything else: for test inputs only).
pub fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).expect("base64url")
}

/// The three segments of a compact JWS.
pub fn segments(token: &str) -> (String, String, String) {
    let mut parts = token.splitn(3, '.');
    let h = parts.next().expect("header").to_owned();
    let p = parts.next().expect("payload").to_owned();
    let s = parts.next().expect("signature").to_owned();
    (h, p, s)
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// A secret-mode validator: issuer [`HS_ISSUER`], audience [`DEFAULT_AUDIENCE`], HS256 with
/// [`HS_SECRET`].
pub fn hs_builder() -> ValidatorBuilder {
    Validator::builder()
        .issuer(HS_ISSUER)
        .audience(DEFAULT_AUDIENCE)
        .hs256_secret(HS_SECRET)
}

/// The router around [`hs_builder`]'s validator.
pub fn hs_app() -> Router {
    router(hs_builder().build().expect("a valid HS256 configuration"))
}

/// The valid claims of an HS256 token (`scope` = [`SCOPE`]).
pub fn hs_claims() -> serde_json::Map<String, Value> {
    let now = now();
    let claims = json!({
        "iss": HS_ISSUER,
        "sub": "attacker-tests@clients",
        "aud": DEFAULT_AUDIENCE,
        "iat": now,
        "exp": now + 3600,
        "scope": SCOPE,
    });
    match claims {
        Value::Object(map) => map,
        _ => unreachable!(),
    }
}

/// A valid HS256 token builder for [`hs_app`].
pub fn hs_token() -> TokenBuilder {
    let mut builder = TokenBuilder::hs256(HS_SECRET);
    for (name, value) in hs_claims() {
        builder = builder.claim(&name, value);
    }
    builder
}

/// `header.payload` MAC-ed with HMAC-SHA256 under `secret`, from raw bytes: for payloads that
/// are not UTF-8 or not JSON, headers with repeated members, and so on.
pub fn hs_raw_with(secret: &[u8], header: &[u8], payload: &[u8]) -> String {
    let signing_input = format!("{}.{}", b64(header), b64(payload));
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let mac = aws_lc_rs::hmac::sign(&key, signing_input.as_bytes());
    format!("{signing_input}.{}", b64(mac.as_ref()))
}

/// [`hs_raw_with`] under [`HS_SECRET`].
pub fn hs_raw(header: &[u8], payload: &[u8]) -> String {
    hs_raw_with(HS_SECRET, header, payload)
}

/// HMAC-SHA256 of `signing_input` under [`HS_SECRET`], base64url.
pub fn hs_mac(signing_input: &str) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, HS_SECRET);
    b64(aws_lc_rs::hmac::sign(&key, signing_input.as_bytes()).as_ref())
}

/// An RSA-2048 key that signs arbitrary bytes (RS256), unlike `SigningKey` which only signs
/// what `TokenBuilder` serializes. Publish its [`jwk`](RawRsaKey::jwk) with
/// `TestIssuer::set_extra_jwks` before the validator warms up.
pub struct RawRsaKey {
    pub kid: String,
    pair: KeyPair,
}

impl RawRsaKey {
    pub fn generate(kid: &str) -> Self {
        RawRsaKey {
            kid: kid.to_owned(),
            pair: KeyPair::generate(KeySize::Rsa2048).expect("RSA key generation"),
        }
    }

    /// The public JWK (`use: sig`, `alg: RS256`, this `kid`).
    pub fn jwk(&self) -> Value {
        let components = PublicKeyComponents::<Vec<u8>>::from(self.pair.public_key());
        json!({
            "kty": "RSA",
            "kid": self.kid,
            "use": "sig",
            "alg": "RS256",
            "n": b64(&components.n),
            "e": b64(&components.e),
        })
    }

    /// The RS256 signature of `message`, base64url.
    pub fn sign(&self, message: &[u8]) -> String {
        self.sign_with(&RSA_PKCS1_SHA256, message)
    }

    /// The signature of `message` with another RSA padding and hash (`RSA_PKCS1_SHA384`,
    /// `RSA_PSS_SHA256`, ...), base64url.
    pub fn sign_with(
        &self,
        padding: &'static dyn aws_lc_rs::signature::RsaEncoding,
        message: &[u8],
    ) -> String {
        let mut signature = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(padding, &SystemRandom::new(), message, &mut signature)
            .expect("RSA signing");
        b64(signature)
    }

    /// `header.payload.signature` from raw header and payload bytes.
    pub fn token(&self, header: &[u8], payload: &[u8]) -> String {
        let signing_input = format!("{}.{}", b64(header), b64(payload));
        let signature = self.sign(signing_input.as_bytes());
        format!("{signing_input}.{signature}")
    }
}

/// A test issuer (RS256, `kid` `key-1`) and a warmed-up validator for it behind [`router`].
pub struct RsFixture {
    pub issuer: TestIssuer,
    pub validator: Validator,
    pub app: Router,
}

impl RsFixture {
    /// Starts an issuer, lets `prepare` publish extra keys, then builds the validator with
    /// `configure` and warms it up (one discovery, one key set fetch).
    pub async fn start(
        prepare: impl FnOnce(&TestIssuer),
        configure: impl FnOnce(ValidatorBuilder) -> ValidatorBuilder,
    ) -> Self {
        let issuer = TestIssuer::start().await;
        prepare(&issuer);
        let validator = configure(issuer.validator())
            .build()
            .expect("a valid configuration");
        validator.warm_up().await.expect("the key set loads");
        RsFixture {
            app: router(validator.clone()),
            validator,
            issuer,
        }
    }

    /// The default fixture.
    pub async fn default() -> Self {
        Self::start(|_| {}, |b| b).await
    }

    /// A valid token from the issuer carrying [`SCOPE`].
    pub fn token(&self) -> TokenBuilder {
        self.issuer.token().scope(SCOPE)
    }
}

// ---------------------------------------------------------------------------------------------
// Cases and their outcomes
// ---------------------------------------------------------------------------------------------

/// The outcome a case must produce, per the behaviour contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// 200, the handler ran, no challenge.
    Ok,
    /// 401 with exactly `WWW-Authenticate: Bearer` (no `error`).
    Bare,
    /// 400 `invalid_request`.
    InvalidRequest,
    /// 401 `invalid_token`.
    InvalidToken,
    /// 403 `insufficient_scope` naming [`SCOPE`].
    InsufficientScope,
}

/// One named request: the `Authorization` header values (none, one or several) and the path.
#[derive(Clone)]
pub struct Case {
    pub name: String,
    pub path: &'static str,
    pub authorizations: Vec<Vec<u8>>,
    pub expect: Expect,
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Case")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("expect", &self.expect)
            .finish_non_exhaustive()
    }
}

impl Case {
    /// `Authorization: Bearer {token}` on [`PRIVATE`].
    pub fn token(name: impl Into<String>, token: impl AsRef<str>, expect: Expect) -> Self {
        Self::header(
            name,
            format!("Bearer {}", token.as_ref()).into_bytes(),
            expect,
        )
    }

    /// One raw `Authorization` value on [`PRIVATE`].
    pub fn header(name: impl Into<String>, value: impl Into<Vec<u8>>, expect: Expect) -> Self {
        Self::headers(name, vec![value.into()], expect)
    }

    /// Any number of raw `Authorization` values on [`PRIVATE`].
    pub fn headers(name: impl Into<String>, values: Vec<Vec<u8>>, expect: Expect) -> Self {
        Case {
            name: name.into(),
            path: PRIVATE,
            authorizations: values,
            expect,
        }
    }

    /// The same case on another path.
    pub fn on(mut self, path: &'static str) -> Self {
        self.path = path;
        self
    }
}

/// What a client saw.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn challenge(&self) -> Option<&str> {
        self.headers
            .get(header::WWW_AUTHENTICATE)
            .map(|v| v.to_str().unwrap_or("<non-ASCII challenge>"))
    }

    fn summary(&self) -> String {
        format!(
            "status {}, challenge {:?}, body {:?}",
            self.status,
            self.challenge(),
            String::from_utf8_lossy(&self.body)
        )
    }
}

/// Sends `GET path` with these raw `Authorization` values through `app`.
pub async fn send(app: &Router, path: &str, authorizations: &[Vec<u8>]) -> Reply {
    let mut request = Request::get(path).body(Body::empty()).expect("a request");
    for value in authorizations {
        let value = HeaderValue::from_bytes(value).expect("a value http accepts in a header");
        request.headers_mut().append(header::AUTHORIZATION, value);
    }
    let response = app.clone().oneshot(request).await.expect("infallible");
    let (parts, body) = response.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .expect("a body under 1 MiB")
        .to_vec();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// Checks a reply against the expectation and the no-echo rule; `Err` says what is wrong.
pub fn check(reply: &Reply, expect: Expect, authorizations: &[Vec<u8>]) -> Result<(), String> {
    for value in authorizations {
        check_no_echo(value, reply)?;
    }
    let fail = |what: String| Err(format!("{what}; got {}", reply.summary()));
    match expect {
        Expect::Ok => {
            if reply.status != StatusCode::OK {
                return fail("expected 200".into());
            }
            if reply.challenge().is_some() {
                return fail("expected no challenge on 200".into());
            }
            if reply.body != OK_BODY.as_bytes() {
                return fail("expected the handler's body".into());
            }
            Ok(())
        }
        Expect::Bare => {
            if reply.status != StatusCode::UNAUTHORIZED {
                return fail("expected 401".into());
            }
            if reply.challenge() != Some("Bearer") {
                return fail("expected the bare challenge `Bearer`".into());
            }
            Ok(())
        }
        Expect::InvalidRequest => {
            check_error(reply, StatusCode::BAD_REQUEST, "invalid_request", None)
        }
        Expect::InvalidToken => check_error(reply, StatusCode::UNAUTHORIZED, "invalid_token", None),
        Expect::InsufficientScope => check_error(
            reply,
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            Some(SCOPE),
        ),
    }
}

fn check_error(
    reply: &Reply,
    status: StatusCode,
    code: &str,
    scope: Option<&str>,
) -> Result<(), String> {
    let fail = |what: String| Err(format!("{what}; got {}", reply.summary()));
    if reply.status != status {
        return fail(format!("expected {status} {code}"));
    }
    let Some(challenge) = reply.challenge() else {
        return fail("expected a WWW-Authenticate header".into());
    };
    let (scheme, params) = match parse_challenge(challenge) {
        Ok(parsed) => parsed,
        Err(problem) => return fail(format!("malformed challenge: {problem}")),
    };
    let param = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    if scheme != "Bearer" {
        return fail(format!("expected the Bearer scheme, not {scheme:?}"));
    }
    if param("error") != Some(code) {
        return fail(format!("expected error=\"{code}\""));
    }
    let Some(description) = param("error_description").filter(|d| !d.is_empty()) else {
        return fail("expected a non-empty error_description".into());
    };
    if param("scope") != scope {
        return fail(format!("expected scope {scope:?}"));
    }
    let body: Value = match serde_json::from_slice(&reply.body) {
        Ok(body) => body,
        Err(_) => return fail("expected a JSON body".into()),
    };
    if body["error"] != code || body["error_description"] != description {
        return fail("expected the body to repeat the error and its description".into());
    }
    Ok(())
}

/// Splits a challenge into its scheme and `name="value"` parameters.
pub fn parse_challenge(challenge: &str) -> Result<(String, Vec<(String, String)>), String> {
    let (scheme, rest) = challenge.split_once(' ').unwrap_or((challenge, ""));
    let mut params = Vec::new();
    let mut chars = rest.chars().peekable();
    while chars.peek().is_some() {
        if !params.is_empty() {
            if chars.next() != Some(',') {
                return Err("parameters not separated by ','".into());
            }
            while chars.peek() == Some(&' ') {
                chars.next();
            }
        }
        let name: String = std::iter::from_fn(|| chars.next_if(|&c| c != '=')).collect();
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

/// The credentials, and each of their long dot-separated segments, must appear neither in a
/// response header nor in the body.
fn check_no_echo(authorization: &[u8], reply: &Reply) -> Result<(), String> {
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
        if contains(&reply.body, needle) {
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

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.len() <= haystack.len() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// Runs every case through `app` and fails once, naming every case that did not behave.
/// Returns how many cases ran.
pub async fn run(app: &Router, cases: &[Case]) -> usize {
    let mut failures = Vec::new();
    let mut names = std::collections::HashSet::new();
    for case in cases {
        assert!(
            names.insert(&case.name),
            "duplicate case name {}",
            case.name
        );
        let reply = send(app, case.path, &case.authorizations).await;
        if let Err(problem) = check(&reply, case.expect, &case.authorizations) {
            failures.push(format!(
                "  [{}] expected {:?}: {problem}",
                case.name, case.expect
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    cases.len()
}

/// Runs one case and asserts it (for single-case tests such as `#[ignore]`d bug reports).
#[track_caller]
pub fn assert_case(reply: &Reply, case: &Case) {
    if let Err(problem) = check(reply, case.expect, &case.authorizations) {
        panic!("[{}] expected {:?}: {problem}", case.name, case.expect);
    }
}

/// Sends one case and asserts its outcome.
pub async fn run_one(app: &Router, case: Case) {
    let reply = send(app, case.path, &case.authorizations).await;
    assert_case(&reply, &case);
}

/// A loopback HTTP server that counts every TCP connection it accepts and answers each with
/// `body` as `application/json`: the attacker's server behind `jku` / `x5u`.
pub struct CountingServer {
    pub url: String,
    connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl CountingServer {
    pub async fn start(body: String) -> Self {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        use tokio::io::AsyncWriteExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&connections);
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            }
        });
        CountingServer {
            url,
            connections,
            task,
        }
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for CountingServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
