//! Fuzz harnesses for bearer-guard, shared by the libFuzzer targets (`cargo +nightly fuzz run
//! ...`) and by the plain-binary runner (`runner`), which works on stable without libFuzzer.
//!
//! * [`extract_header`]: arbitrary bytes as zero to four `Authorization` header values, sent
//!   through the real [`BearerLayer`] in front of a handler.
//! * [`mcp_body`]: a request to an MCP endpoint behind `BearerLayer` and `McpScopes`: method,
//!   media type, content coding and token from two bytes, then the JSON-RPC body.
//! * [`validate_token`]: five modes chosen by the first byte — a raw token string (a five-segment
//!   one reaches the JWE header check and the decryption: the validator has a decryption key); a header and
//!   payload of arbitrary bytes, correctly MAC-ed (so the claim and header rules are reached);
//!   arbitrary JSON as the JWK set of `testing::verify_signature`; and mutation scripts applied
//!   to a valid RS256 and a valid HS256 token.
//!
//! * [`dpop_proof`]: DPoP proofs (raw, mutated valid proofs, random JWKs, random claims)
//!   through the layer for a DPoP-bound token.
//!
//! Every harness checks an oracle, not just "no panic": a 2xx or an `Ok` must be justified
//! (the exact valid token, a correct MAC or signature, claims that meet the rules), and every
//! refusal must be a well-formed 400/401 that does not echo the credentials.
//!
//! The header oracle is strict: a JSON object with unique names and valid UTF-8, no `crit` or
//! `b64` (whatever their value), `kid`/`typ`/`cty` strings, no nested JWT. (The first fuzzing
//! runs found an accepted header with invalid UTF-8 in an unread member; fixed since.)

use std::convert::Infallible;
use std::future::Ready;
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bearer_guard::jwe::{ContentEncryption, KeyEncryption};
use bearer_guard::testing::{DecryptionKeyPair, SigningKey, TokenBuilder, verify_signature};
use bearer_guard::{BearerLayer, Validator, layer::BearerService};
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Map, Value, json};
use tower::{Layer, ServiceExt};

pub mod dpop_proof;
pub mod introspection_answer;
pub mod mcp_body;
mod random;
pub mod runner;

pub use mcp_body::mcp_body;

/// The issuer of the secret-mode validator.
pub const ISSUER: &str = "https://issuer.example/";
/// The audience.
pub const AUDIENCE: &str = "https://api.example.com";
/// The HS256 secret (raw bytes).
pub const SECRET: &[u8] = b"bearer-guard-fuzzing-shared-secret-0123456789";
/// `exp` of the fixed valid token: 2100-01-01.
pub const FAR_FUTURE: i64 = 4_102_444_800;

type Handler =
    tower::util::ServiceFn<fn(Request<()>) -> Ready<Result<Response<String>, Infallible>>>;

fn ok_handler(_: Request<()>) -> Ready<Result<Response<String>, Infallible>> {
    std::future::ready(Ok(Response::new("ok".to_owned())))
}

/// Everything the harnesses share, built once per process.
pub struct Harness {
    runtime: tokio::runtime::Runtime,
    validator: Validator,
    service: BearerService<Handler>,
    /// A valid HS256 token for [`ISSUER`] / [`AUDIENCE`], deterministic (fixed claims).
    pub hs_token: String,
    /// The RS256 key that signs [`Harness::rs_token`]; its JWK set is `rs_jwks`.
    rs_jwks: Value,
    rs_public: (Vec<u8>, Vec<u8>),
    /// A valid RS256 token signed by the harness key.
    pub rs_token: String,
    /// [`Harness::hs_token`] encrypted to the validator's decryption key: the one five-segment
    /// token it accepts.
    pub jwe_token: String,
    /// A key that never appears in fuzzed key material, and a token it signed.
    foreign_rs_token: String,
    /// Every fixed text a refusal can carry (descriptions, codes, challenge and header
    /// values): credentials that merely spell such a text are not an "echo".
    vocabulary: Vec<u8>,
    /// A secret that never appears in fuzzed key material, and a token it MAC-ed.
    foreign_secret_b64: String,
    foreign_hs_token: String,
}

/// The current-thread runtime a harness drives its service on.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

/// The secret-mode (HS256) configuration every harness starts from.
pub(crate) fn secret_mode() -> bearer_guard::ValidatorBuilder {
    Validator::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .hs256_secret(SECRET)
}

/// The process-wide harness.
pub fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = runtime();
        // Five-segment inputs reach the JWE header parser and the decryption.
        let decryption = DecryptionKeyPair::generate("enc-1");
        let validator = secret_mode()
            .decryption_key_pem_with_kid(decryption.kid(), decryption.private_key_pem())
            .build()
            .expect("a valid configuration");
        let handler: Handler = tower::service_fn(ok_handler as fn(_) -> _);
        let service = BearerLayer::new(validator.clone()).layer(handler);
        let claims = |builder: TokenBuilder| {
            builder
                .claim("iss", ISSUER)
                .claim("aud", AUDIENCE)
                .claim("sub", "fuzz@clients")
                .claim("iat", 1_700_000_000i64)
                .claim("exp", FAR_FUTURE)
                .claim("scope", "read:messages")
        };
        let signer = SigningKey::generate("key-1");
        let jwk = signer.jwk();
        let rs_public = (
            URL_SAFE_NO_PAD
                .decode(jwk["n"].as_str().expect("n"))
                .expect("b64"),
            URL_SAFE_NO_PAD
                .decode(jwk["e"].as_str().expect("e"))
                .expect("b64"),
        );
        let foreign = SigningKey::generate("key-1");
        let foreign_secret = b"a-secret-the-fuzzer-never-sees-in-key-material!";
        Harness {
            vocabulary: vocabulary(),
            runtime,
            validator,
            service,
            hs_token: claims(TokenBuilder::hs256(SECRET)).sign(),
            rs_jwks: json!({ "keys": [jwk] }),
            rs_public,
            rs_token: claims(TokenBuilder::rs256(&signer)).sign(),
            jwe_token: claims(TokenBuilder::hs256(SECRET))
                .encrypt_to(
                    &decryption.encryption_key(),
                    KeyEncryption::RsaOaep256,
                    ContentEncryption::A256Gcm,
                )
                .sign(),
            foreign_rs_token: claims(TokenBuilder::rs256(&foreign)).sign(),
            foreign_secret_b64: URL_SAFE_NO_PAD.encode(foreign_secret),
            foreign_hs_token: claims(
                TokenBuilder::hs256(foreign_secret.to_vec()).header("kid", "key-1"),
            )
            .sign(),
        }
    })
}

/// The fixed texts of every refusal this crate can make (see [`Harness::vocabulary`]).
fn vocabulary() -> Vec<u8> {
    use bearer_guard::{AuthError, error::Claim, error::RequestProblem, error::TokenProblem};
    let claims = [
        Claim::Issuer,
        Claim::Audience,
        Claim::ExpiresAt,
        Claim::NotBefore,
        Claim::IssuedAt,
        Claim::Subject,
        Claim::Scope,
        Claim::ClientId,
        Claim::TokenId,
    ];
    let mut problems = vec![
        TokenProblem::TooLarge,
        TokenProblem::Malformed,
        TokenProblem::Encrypted,
        TokenProblem::Undecryptable,
        TokenProblem::Compressed,
        TokenProblem::MalformedHeader,
        TokenProblem::AlgorithmNotAllowed,
        TokenProblem::UnsupportedCritical,
        TokenProblem::UnencodedPayload,
        TokenProblem::Nested,
        TokenProblem::UnknownKey,
        TokenProblem::AmbiguousKey,
        TokenProblem::KeyMismatch,
        TokenProblem::InvalidSignature,
        TokenProblem::MalformedClaims,
        TokenProblem::Expired,
        TokenProblem::NotYetValid,
        TokenProblem::IssuedInFuture,
        TokenProblem::WrongIssuer,
        TokenProblem::WrongAudience,
        TokenProblem::NotAnAccessToken,
        TokenProblem::UnexpectedClaims,
    ];
    for claim in claims {
        problems.push(TokenProblem::MissingClaim(claim));
        problems.push(TokenProblem::InvalidClaim(claim));
    }
    let mut errors = vec![AuthError::MissingToken];
    errors.extend(problems.into_iter().map(AuthError::InvalidToken));
    errors.extend(
        [
            RequestProblem::EmptyToken,
            RequestProblem::SeveralTokens,
            RequestProblem::InvalidCharacters,
            RequestProblem::SeveralAuthorizationHeaders,
            RequestProblem::TokenInSeveralPlaces,
        ]
        .into_iter()
        .map(AuthError::InvalidRequest),
    );
    let mut text = String::new();
    for error in &errors {
        let body = json!({
            "error": error.error_code().unwrap_or("unauthorized"),
            "error_description": error.description(),
        });
        text.push_str(&body.to_string());
        text.push('\n');
        if let Some(challenge) = error.challenge(None) {
            text.push_str(challenge.to_str().unwrap_or_default());
            text.push('\n');
        }
        for (name, value) in error.to_response().headers() {
            text.push_str(name.as_str());
            text.push_str(": ");
            text.push_str(value.to_str().unwrap_or_default());
            text.push('\n');
        }
    }
    text.into_bytes()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

fn mac(signing_input: &[u8]) -> Vec<u8> {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, SECRET);
    aws_lc_rs::hmac::sign(&key, signing_input).as_ref().to_vec()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.len() <= haystack.len() && haystack.windows(needle.len()).any(|w| w == needle)
}

// ---------------------------------------------------------------------------------------------
// extract_header
// ---------------------------------------------------------------------------------------------

/// Bytes `http` accepts in a header value.
fn header_byte(b: u8) -> bool {
    b == b'\t' || (b >= 0x20 && b != 0x7f)
}

/// `data` split on `\n` into up to four `Authorization` values (bytes `http` refuses are
/// dropped), sent through the layer. An empty input sends no header at all.
pub fn extract_header(data: &[u8]) {
    let h = harness();
    let values: Vec<Vec<u8>> = if data.is_empty() {
        Vec::new()
    } else {
        data.split(|&b| b == b'\n')
            .take(4)
            .map(|v| v.iter().copied().filter(|&b| header_byte(b)).collect())
            .collect()
    };
    send_and_check(h, values);
}

/// Sends these `Authorization` values through the layer and checks the reply.
fn send_and_check(h: &Harness, values: Vec<Vec<u8>>) {
    let mut request = Request::get("/").body(()).expect("a request");
    for value in &values {
        let value = HeaderValue::from_bytes(value).expect("filtered to valid bytes");
        request.headers_mut().append(header::AUTHORIZATION, value);
    }
    let (parts, body) = h.runtime.block_on(async {
        let response = h
            .service
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let (parts, body) = response.into_parts();
        let body: Bytes = body.collect().await.expect("infallible body").to_bytes();
        (parts, body)
    });
    check_reply(h, &values, parts.status, &parts.headers, &body);
}

/// The oracle of a reply: 200 only for the exact valid token under a bearer scheme in a
/// single header; otherwise a well-formed 400 or 401; never an echo of the credentials.
fn check_reply(
    h: &Harness,
    values: &[Vec<u8>],
    status: StatusCode,
    headers: &http::HeaderMap,
    body: &[u8],
) {
    for value in values {
        let credentials = match value.iter().position(|&b| b == b' ') {
            Some(space) => &value[space + 1..],
            None => &value[..],
        };
        for needle in std::iter::once(credentials).chain(credentials.split(|&b| b == b'.')) {
            if needle.len() < 16 {
                continue;
            }
            // The vocabulary is consulted only for a needle actually found in the response.
            let echoed =
                |haystack: &[u8]| contains(haystack, needle) && !contains(&h.vocabulary, needle);
            assert!(!echoed(body), "the body echoes the credentials");
            for (name, v) in headers {
                assert!(!echoed(v.as_bytes()), "{name} echoes the credentials");
            }
        }
    }
    let challenge = headers
        .get(header::WWW_AUTHENTICATE)
        .map(|v| v.to_str().expect("an ASCII challenge").to_owned());
    match status {
        StatusCode::OK => {
            assert_eq!(
                values.len(),
                1,
                "200 with {} Authorization headers",
                values.len()
            );
            let value = &values[0];
            let space = value.iter().position(|&b| b == b' ').expect("a scheme");
            assert!(
                value[..space].eq_ignore_ascii_case(b"bearer"),
                "200 without the bearer scheme"
            );
            let rest = &value[space..];
            let start = rest
                .iter()
                .position(|&b| b != b' ' && b != b'\t')
                .expect("a token");
            let end = rest
                .iter()
                .rposition(|&b| b != b' ' && b != b'\t')
                .expect("a token");
            assert_eq!(
                &rest[start..=end],
                h.hs_token.as_bytes(),
                "200 for another token"
            );
            assert_eq!(challenge, None);
        }
        StatusCode::BAD_REQUEST => {
            let c = challenge.expect("a challenge on 400");
            assert!(
                c.starts_with("Bearer error=\"invalid_request\", error_description=\""),
                "{c}"
            );
        }
        StatusCode::UNAUTHORIZED => {
            let c = challenge.expect("a challenge on 401");
            assert!(
                c == "Bearer"
                    || c.starts_with("Bearer error=\"invalid_token\", error_description=\""),
                "{c}"
            );
        }
        other => panic!("unexpected status {other}"),
    }
}

// ---------------------------------------------------------------------------------------------
// validate_token
// ---------------------------------------------------------------------------------------------

/// Mode by the first byte; see the crate documentation.
pub fn validate_token(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 5 {
        0 => raw_token(rest),
        1 => remaced(rest),
        2 => key_material(rest),
        3 => mutated_rs256(rest),
        _ => mutated_hs256(rest),
    }
}

fn validate(h: &Harness, token: &str) -> bool {
    h.runtime.block_on(h.validator.validate(token)).is_ok()
}

/// A token string as is: accepted only with a correct, canonically encoded MAC and claims
/// that meet the rules.
fn raw_token(rest: &[u8]) {
    let h = harness();
    let Ok(token) = std::str::from_utf8(rest) else {
        return;
    };
    if validate(h, token) {
        if token.split('.').count() == 5 {
            // Any change to a JWE breaks its tag or its header (the AAD), and base64url is
            // decoded strictly: only the harness's own encrypted token opens.
            assert_eq!(token, h.jwe_token, "accepted another encrypted token");
            return;
        }
        let segments: Vec<&str> = token.split('.').collect();
        assert_eq!(
            segments.len(),
            3,
            "accepted a token with {} segments",
            segments.len()
        );
        let input = &token[..segments[0].len() + 1 + segments[1].len()];
        assert_eq!(
            segments[2],
            b64(mac(input.as_bytes())),
            "accepted a wrong or non-canonical MAC"
        );
        let header = URL_SAFE_NO_PAD
            .decode(segments[0])
            .expect("accepted a non-canonical header");
        let payload = URL_SAFE_NO_PAD
            .decode(segments[1])
            .expect("accepted a non-canonical payload");
        check_accepted_header(&header);
        check_accepted_claims(&payload);
    }
}

/// `[split][bytes]`: header = the first `split` bytes, payload = the rest, base64url-encoded
/// and correctly MAC-ed, so only the header and claim rules decide.
fn remaced(rest: &[u8]) {
    let h = harness();
    let Some((&split, bytes)) = rest.split_first() else {
        return;
    };
    let split = usize::from(split).min(bytes.len());
    let (header, payload) = bytes.split_at(split);
    let input = format!("{}.{}", b64(header), b64(payload));
    let token = format!("{input}.{}", b64(mac(input.as_bytes())));
    if validate(h, &token) {
        check_accepted_header(header);
        check_accepted_claims(payload);
    }
}

/// What an accepted HS256 header must be.
fn check_accepted_header(header: &[u8]) {
    let value: Value = match serde_json::from_slice(header) {
        Ok(value) => value,
        Err(error) => panic!("accepted a header that is not JSON: {error}"),
    };
    let Value::Object(header) = value else {
        panic!("accepted a header that is not a JSON object");
    };
    assert_eq!(
        header.get("alg"),
        Some(&json!("HS256")),
        "accepted alg {:?}",
        header.get("alg")
    );
    assert!(!header.contains_key("crit"), "accepted a crit header");
    assert!(!header.contains_key("b64"), "accepted a b64 header");
    for name in ["kid", "typ", "cty"] {
        match header.get(name) {
            None | Some(Value::String(_)) => {}
            Some(other) => panic!("accepted a non-string {name}: {other}"),
        }
    }
    if let Some(cty) = header.get("cty").and_then(Value::as_str) {
        assert!(
            !cty.eq_ignore_ascii_case("JWT") && !cty.eq_ignore_ascii_case("application/jwt"),
            "accepted a nested JWT"
        );
    }
}

/// A NumericDate as the crate reads it (README, "Behaviour": a number, possibly a float).
fn numeric_date(value: &Value) -> Option<i64> {
    let number = value.as_number()?;
    number
        .as_i64()
        .or_else(|| number.as_u64().map(|_| i64::MAX))
        .or_else(|| number.as_f64().map(|f| f.floor() as i64))
}

/// What accepted claims must be: a JSON object with unique names, our issuer and audience,
/// numeric time claims within the rules (2 s of slack for the clock), well-typed scopes.
fn check_accepted_claims(payload: &[u8]) {
    let claims: Map<String, Value> =
        serde_json::from_slice(payload).expect("accepted a payload that is not a JSON object");
    assert_eq!(
        claims.get("iss"),
        Some(&json!(ISSUER)),
        "accepted iss {:?}",
        claims.get("iss")
    );
    match claims.get("aud") {
        Some(Value::String(aud)) => assert_eq!(aud, AUDIENCE),
        Some(Value::Array(items)) => {
            assert!(
                items.iter().all(Value::is_string),
                "accepted a non-string aud item"
            );
            assert!(
                items.contains(&json!(AUDIENCE)),
                "accepted an aud without ours"
            );
        }
        other => panic!("accepted aud {other:?}"),
    }
    let now = now();
    let exp = numeric_date(claims.get("exp").expect("accepted without exp"))
        .expect("accepted a non-numeric exp");
    assert!(
        exp.saturating_add(60) > now - 2,
        "accepted an expired token"
    );
    for name in ["nbf", "iat"] {
        if let Some(value) = claims.get(name) {
            let t = numeric_date(value).unwrap_or_else(|| panic!("accepted a non-numeric {name}"));
            assert!(t <= now + 62, "accepted a future {name}");
        }
    }
    for name in ["scope", "scp"] {
        match claims.get(name) {
            None | Some(Value::Null) | Some(Value::String(_)) => {}
            Some(Value::Array(items)) => {
                assert!(items.iter().all(Value::is_string), "accepted {name} items")
            }
            Some(other) => panic!("accepted {name} = {other}"),
        }
    }
    // Unique member names: the JSON text must not repeat a top-level name.
    assert_unique_top_level_names(payload);
}

/// Fails if the top-level object of `json` repeats a member name (after unescaping).
fn assert_unique_top_level_names(json: &[u8]) {
    use serde::de::{Deserializer, MapAccess, Visitor};
    struct Names;
    impl<'de> Visitor<'de> for Names {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut seen = std::collections::HashSet::new();
            while let Some((name, _)) = map.next_entry::<String, serde::de::IgnoredAny>()? {
                assert!(
                    seen.insert(name.clone()),
                    "accepted a repeated claim {name:?}"
                );
            }
            Ok(())
        }
    }
    let mut de = serde_json::Deserializer::from_slice(json);
    de.deserialize_map(Names).expect("an object");
}

/// Arbitrary JSON as key material: a token signed by a key (or MAC-ed with a secret) that the
/// material does not contain never verifies, and nothing panics.
fn key_material(rest: &[u8]) {
    let h = harness();
    let Ok(material) = serde_json::from_slice::<Value>(rest) else {
        return;
    };
    assert!(
        verify_signature(&material, &h.foreign_rs_token).is_err(),
        "a foreign RS256 signature verified with {material}"
    );
    if !material.to_string().contains(&h.foreign_secret_b64) {
        assert!(
            verify_signature(&material, &h.foreign_hs_token).is_err(),
            "a foreign HS256 MAC verified with {material}"
        );
    }
    // And the harness's own key set against the same input read as a token.
    if let Ok(text) = std::str::from_utf8(rest) {
        let _ = verify_signature(&h.rs_jwks, text);
    }
}

/// Applies a mutation script (4 bytes an operation) to a token's bytes.
fn mutate(token: &str, script: &[u8]) -> Vec<u8> {
    let mut segments: Vec<Vec<u8>> = token.split('.').map(|s| s.as_bytes().to_vec()).collect();
    for op in script.chunks(4) {
        let [kind, a, b, c] = [
            op[0],
            *op.get(1).unwrap_or(&0),
            *op.get(2).unwrap_or(&0),
            *op.get(3).unwrap_or(&0),
        ];
        if segments.is_empty() {
            segments.push(Vec::new());
        }
        let len = segments.len();
        let seg = usize::from(a) % len;
        let at = usize::from(b) << 8 | usize::from(c);
        match kind % 9 {
            0 => {
                let s = &mut segments[seg];
                if !s.is_empty() {
                    let i = at % s.len();
                    s[i] ^= 1 << (c % 8);
                }
            }
            1 => {
                let s = &mut segments[seg];
                let i = at % (s.len() + 1);
                s.insert(i, c);
            }
            2 => {
                let s = &mut segments[seg];
                if !s.is_empty() {
                    let i = at % s.len();
                    s.remove(i);
                }
            }
            3 => {
                let s = &mut segments[seg];
                if !s.is_empty() {
                    let i = usize::from(b) % s.len();
                    s[i] = c;
                }
            }
            4 => segments.swap(seg, usize::from(b) % len),
            5 => {
                let copy = segments[seg].clone();
                segments.insert(seg, copy);
            }
            6 => {
                segments.remove(seg);
            }
            7 => {
                let mut joined = segments.join(&b'.');
                joined.truncate(at % (joined.len() + 1));
                segments = joined.split(|&x| x == b'.').map(<[u8]>::to_vec).collect();
            }
            _ => {
                // Re-encode a segment's JSON with one member set to a small value.
                let mut object: Map<String, Value> = URL_SAFE_NO_PAD
                    .decode(&segments[seg])
                    .ok()
                    .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                    .unwrap_or_default();
                const NAMES: [&str; 8] = ["alg", "kid", "crit", "cty", "exp", "aud", "iss", "typ"];
                let value = match b % 9 {
                    0 => json!("none"),
                    1 => json!("HS256"),
                    2 => json!("RS256"),
                    3 => json!(i64::from(c) * 1_000_000_000),
                    4 => Value::Null,
                    5 => json!(true),
                    6 => json!([]),
                    7 => json!({}),
                    _ => json!(""),
                };
                object.insert(NAMES[usize::from(c) % NAMES.len()].to_owned(), value);
                segments[seg] = b64(Value::Object(object).to_string()).into_bytes();
            }
        }
    }
    segments.join(&b'.')
}

/// A mutated RS256 token verifies against the harness key set only if byte-identical, and an
/// accepted one verifies independently with aws-lc-rs.
fn mutated_rs256(script: &[u8]) {
    let h = harness();
    let mutated = mutate(&h.rs_token, script);
    let Ok(text) = std::str::from_utf8(&mutated) else {
        return;
    };
    if verify_signature(&h.rs_jwks, text).is_ok() {
        assert_eq!(text, h.rs_token, "a mutated RS256 token verified");
        let cut = text.rfind('.').expect("a dot");
        let signature = URL_SAFE_NO_PAD.decode(&text[cut + 1..]).expect("canonical");
        let key = aws_lc_rs::signature::RsaPublicKeyComponents {
            n: &h.rs_public.0,
            e: &h.rs_public.1,
        };
        key.verify(
            &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
            &text.as_bytes()[..cut],
            &signature,
        )
        .expect("an independent RS256 check");
    }
}

/// A mutated HS256 token is accepted by the validator, and by the layer, only if
/// byte-identical.
fn mutated_hs256(script: &[u8]) {
    let h = harness();
    let mutated = mutate(&h.hs_token, script);
    if let Ok(text) = std::str::from_utf8(&mutated)
        && validate(h, text)
    {
        assert_eq!(text, h.hs_token, "a mutated HS256 token was accepted");
    }
    let value = [b"Bearer ".as_slice(), &mutated].concat();
    if value.iter().all(|&b| header_byte(b)) {
        send_and_check(h, vec![value]);
    }
}

/// Seed inputs for each target (also written out by the runner for libFuzzer).
pub fn seeds(target: &str) -> Vec<Vec<u8>> {
    if target == "dpop_proof" {
        return dpop_proof::seeds();
    }
    let h = harness();
    let t = &h.hs_token;
    match target {
        "mcp_body" => mcp_body::seeds(),
        "extract_header" => [
            String::new(),
            format!("Bearer {t}"),
            format!("bearer   {t}\t"),
            format!("Bearer {t}\nBearer {t}"),
            format!("Basic dXNlcjpwYXNz\nBearer {t}"),
            "Bearer".to_owned(),
            format!("Bearer {t} {t}"),
            format!("Bearer {t},{t}"),
            format!("Bearer {t}=="),
        ]
        .into_iter()
        .map(String::into_bytes)
        .collect(),
        "introspection_answer" => introspection_answer::seeds(),
        _ => {
            let mut seeds = Vec::new();
            seeds.push([b"\x00".as_slice(), t.as_bytes()].concat());
            seeds.push([b"\x00".as_slice(), h.rs_token.as_bytes()].concat());
            seeds.push([b"\x00".as_slice(), h.jwe_token.as_bytes()].concat());
            let header = br#"{"alg":"HS256","typ":"JWT"}"#;
            let payload = json!({"iss": ISSUER, "aud": AUDIENCE, "exp": FAR_FUTURE, "iat": 1_700_000_000, "scope": "read:messages"}).to_string();
            seeds.push([&[1u8, header.len() as u8][..], header, payload.as_bytes()].concat());
            let crit = br#"{"alg":"HS256","crit":["exp"]}"#;
            seeds.push([&[1u8, crit.len() as u8][..], crit, payload.as_bytes()].concat());
            seeds.push([b"\x02".as_slice(), h.rs_jwks.to_string().as_bytes()].concat());
            seeds.push(
                b"\x02{\"keys\":[{\"kty\":\"oct\",\"kid\":\"key-1\",\"k\":\"c2VjcmV0\"}]}".to_vec(),
            );
            seeds.push(vec![3, 0, 0, 5]);
            seeds.push(vec![3, 8, 0, 0, 1]);
            seeds.push(vec![4, 0, 2, 0, 9]);
            seeds.push(vec![4, 8, 1, 1, 2]);
            seeds
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_seeds_pass_every_target() {
        for seed in super::seeds("extract_header") {
            super::extract_header(&seed);
        }
        for seed in super::seeds("validate_token") {
            super::validate_token(&seed);
        }
        for seed in super::seeds("mcp_body") {
            super::mcp_body(&seed);
        }
        for seed in super::seeds("dpop_proof") {
            super::dpop_proof::dpop_proof(&seed);
        }
    }
}
