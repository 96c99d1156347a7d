//! Fuzz target `dpop_proof`: DPoP proofs (RFC 9449) through the real `BearerLayer`, for a
//! token bound to the harness key (`cnf.jkt`), on `GET https://api.example.com/`.
//!
//! The first byte picks a mode: `0` the rest as the `DPoP` header value; `1` a mutation
//! script applied to a fresh valid proof; `2` the rest (JSON) as the proof's `jwk`, signed by
//! the harness key; `3` the rest (a JSON object) as claims set on a fresh proof (odd second
//! byte: signed by a foreign key that the header does not carry).
//!
//! Oracle: nothing panics, nothing answers 5xx, a refusal is a 400/401 with a challenge that
//! echoes no segment of the proof; and an accepted proof has `typ: dpop+jwt`, a `jwk` whose
//! RFC 7638 thumbprint (computed here, independently) is the token's `cnf.jkt`, `htm: GET`,
//! this `htu`, `iat` in the window, the token's `ath`, and an ES256 signature that aws-lc-rs
//! verifies with the harness key.

use std::convert::Infallible;
use std::future::Ready;
use std::sync::{Arc, OnceLock};

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, UnparsedPublicKey};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bearer_guard::dpop::{Dpop, MemoryReplayStore};
use bearer_guard::error::DpopProblem;
use bearer_guard::layer::BearerService;
use bearer_guard::testing::{DpopProof, TokenBuilder};
use bearer_guard::{BearerLayer, Validator};
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Map, Value, json};
use tower::{Layer, ServiceExt};

use crate::{AUDIENCE, FAR_FUTURE, ISSUER, SECRET, b64, contains, header_byte, mutate, now};

/// The URL every proof is for.
pub const URL: &str = "https://api.example.com/";

type Handler =
    tower::util::ServiceFn<fn(Request<()>) -> Ready<Result<Response<String>, Infallible>>>;

fn ok_handler(_: Request<()>) -> Ready<Result<Response<String>, Infallible>> {
    std::future::ready(Ok(Response::new("ok".to_owned())))
}

/// What the DPoP target shares, built once per process.
pub struct DpopHarness {
    runtime: tokio::runtime::Runtime,
    service: BearerService<Handler>,
    /// The layer's validator, for `explain_request` on the same requests.
    validator: Validator,
    /// The key the token is bound to.
    key: DpopProof,
    /// A key the token is not bound to.
    foreign: DpopProof,
    /// The harness key's thumbprint, the token's `cnf.jkt`.
    jkt: String,
    /// The uncompressed P-256 point of the harness key.
    point: Vec<u8>,
    token: String,
}

/// The process-wide DPoP harness.
pub fn dpop_harness() -> &'static DpopHarness {
    static HARNESS: OnceLock<DpopHarness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = crate::runtime();
        // Every accepted proof is recorded: a store large enough for any run, one key's
        // share the whole of it (the target is about proofs, not about shares).
        let store = MemoryReplayStore::with_capacity(4_000_000).with_share(4_000_000);
        let validator = crate::secret_mode()
            .dpop(
                Dpop::allowed()
                    .public_url("https://api.example.com")
                    .replay_store(Arc::new(store)),
            )
            .build()
            .expect("a valid configuration");
        let handler: Handler = tower::service_fn(ok_handler as fn(_) -> _);
        let service = BearerLayer::new(validator.clone()).layer(handler);
        let key = DpopProof::generate();
        let jkt = key.jkt();
        let jwk = key.jwk();
        let coordinate = |name: &str| {
            URL_SAFE_NO_PAD
                .decode(jwk[name].as_str().expect("a coordinate"))
                .expect("base64url")
        };
        let point = [vec![4], coordinate("x"), coordinate("y")].concat();
        let token = TokenBuilder::hs256(SECRET)
            .claim("iss", ISSUER)
            .claim("aud", AUDIENCE)
            .claim("sub", "fuzz@clients")
            .claim("iat", 1_700_000_000i64)
            .claim("exp", FAR_FUTURE)
            .claim("cnf", json!({ "jkt": jkt }))
            .sign();
        DpopHarness {
            runtime,
            service,
            validator,
            foreign: DpopProof::generate(),
            key,
            jkt,
            point,
            token,
        }
    })
}

/// Mode by the first byte; see the module documentation.
pub fn dpop_proof(data: &[u8]) {
    let h = dpop_harness();
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let proof: Vec<u8> = match mode % 4 {
        0 => rest.to_vec(),
        1 => mutate(&h.key.proof("GET", URL, &h.token), rest),
        2 => {
            let Ok(jwk) = serde_json::from_slice::<Value>(rest) else {
                return;
            };
            h.key
                .clone()
                .header("jwk", jwk)
                .proof("GET", URL, &h.token)
                .into_bytes()
        }
        _ => {
            let Some((&signer, rest)) = rest.split_first() else {
                return;
            };
            let Ok(claims) = serde_json::from_slice::<Map<String, Value>>(rest) else {
                return;
            };
            let mut proof = h.key.clone();
            for (name, value) in claims {
                proof = proof.claim(&name, value);
            }
            if signer % 2 == 1 {
                proof = proof.signed_by(&h.foreign);
            }
            proof.proof("GET", URL, &h.token).into_bytes()
        }
    };
    let proof: Vec<u8> = proof.into_iter().filter(|&b| header_byte(b)).collect();
    send_and_check(h, &proof);
}

fn send_and_check(h: &DpopHarness, proof: &[u8]) {
    let request = || {
        Request::get("/")
            .header(header::AUTHORIZATION, format!("DPoP {}", h.token))
            .header("dpop", HeaderValue::from_bytes(proof).expect("filtered"))
            .body(())
            .expect("a request")
    };
    // Explained before the layer records the proof: the report's verdict must be the
    // layer's, but for a replay, which explaining does not check.
    let explained = h
        .runtime
        .block_on(h.validator.explain_request(&request()))
        .passed();
    let request = request();
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
    for segment in proof.split(|&b| b == b'.').filter(|s| s.len() >= 32) {
        assert!(!contains(&body, segment), "the body echoes the proof");
        for (name, value) in &parts.headers {
            assert!(
                !contains(value.as_bytes(), segment),
                "{name} echoes the proof"
            );
        }
    }
    let replayed = serde_json::from_slice::<Value>(&body)
        .is_ok_and(|body| body["error_description"] == json!(DpopProblem::Replayed.to_string()));
    assert!(
        explained == (parts.status == StatusCode::OK) || (explained && replayed),
        "explain_request says {} where the layer answered {}",
        if explained { "passed" } else { "refused" },
        parts.status
    );
    match parts.status {
        StatusCode::OK => check_accepted(h, proof),
        StatusCode::BAD_REQUEST | StatusCode::UNAUTHORIZED => {
            assert!(
                parts.headers.contains_key(header::WWW_AUTHENTICATE),
                "a refusal without a challenge"
            );
        }
        other => panic!("unexpected status {other}"),
    }
}

/// Everything an accepted proof must be, checked without the crate's code.
fn check_accepted(h: &DpopHarness, proof: &[u8]) {
    let text = std::str::from_utf8(proof).expect("an accepted proof is text");
    let segments: Vec<&str> = text.split('.').collect();
    assert_eq!(
        segments.len(),
        3,
        "accepted a proof of {} segments",
        segments.len()
    );
    let decode = |segment: &str| {
        URL_SAFE_NO_PAD
            .decode(segment)
            .expect("canonical base64url")
    };
    let header: Map<String, Value> =
        serde_json::from_slice(&decode(segments[0])).expect("a header object");
    let claims: Map<String, Value> =
        serde_json::from_slice(&decode(segments[1])).expect("a claims object");
    let typ = header.get("typ").and_then(Value::as_str).expect("a typ");
    assert!(typ.eq_ignore_ascii_case("dpop+jwt"), "accepted typ {typ}");
    assert_eq!(
        header.get("alg"),
        Some(&json!("ES256")),
        "accepted another alg"
    );
    let jwk = header.get("jwk").and_then(Value::as_object).expect("a jwk");
    assert_eq!(
        thumbprint(jwk).as_deref(),
        Some(h.jkt.as_str()),
        "accepted another key"
    );
    assert_eq!(
        claims.get("htm"),
        Some(&json!("GET")),
        "accepted another method"
    );
    let htu = claims.get("htu").and_then(Value::as_str).expect("an htu");
    assert_eq!(normalized(htu), URL, "accepted htu {htu}");
    let iat = claims
        .get("iat")
        .and_then(Value::as_f64)
        .expect("a numeric iat");
    let now = now() as f64;
    assert!(
        iat >= now - 302.0 && iat < now + 32.0,
        "accepted iat {iat} at {now}"
    );
    let ath = b64(digest(&SHA256, h.token.as_bytes()));
    assert_eq!(claims.get("ath"), Some(&json!(ath)), "accepted another ath");
    let signing_input = &text[..segments[0].len() + 1 + segments[1].len()];
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &h.point)
        .verify(signing_input.as_bytes(), &decode(segments[2]))
        .expect("an accepted proof's signature verifies with the bound key");
}

/// RFC 7638 §3: the required members in lexicographic order, no whitespace, SHA-256.
fn thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    let names: &[&str] = match jwk.get("kty")?.as_str()? {
        "EC" => &["crv", "kty", "x", "y"],
        "RSA" => &["e", "kty", "n"],
        "OKP" => &["crv", "kty", "x"],
        _ => return None,
    };
    let mut canonical = Map::new();
    for name in names {
        canonical.insert((*name).to_owned(), Value::from(jwk.get(*name)?.as_str()?));
    }
    Some(b64(digest(
        &SHA256,
        Value::Object(canonical).to_string().as_bytes(),
    )))
}

/// The `htu` forms that name [`URL`]: scheme and host in any case, the default port (in any
/// number of digits) or an empty one, dot segments, no query or fragment (RFC 9449 §4.3 compares without them).
fn normalized(htu: &str) -> String {
    let htu = &htu[..htu.find(['?', '#']).unwrap_or(htu.len())];
    let (base, path) = match htu.find("://") {
        Some(at) => {
            let rest = &htu[at + 3..];
            let slash = rest.find('/').unwrap_or(rest.len());
            let authority = decode_unreserved(&rest[..slash]).to_ascii_lowercase();
            // RFC 3986 §6.2.3: an empty or default port (443, in any number of digits) is
            // omitted.
            let authority = match authority.rsplit_once(':') {
                Some((host, port))
                    if port.is_empty()
                        || (port.bytes().all(|b| b.is_ascii_digit())
                            && port.trim_start_matches('0') == "443") =>
                {
                    host.to_owned()
                }
                _ => authority,
            };
            (
                format!("{}://{authority}", htu[..at].to_ascii_lowercase()),
                &rest[slash..],
            )
        }
        None => return htu.to_owned(),
    };
    format!("{base}{}", remove_dot_segments(path))
}

/// RFC 3986 §6.2.2.2: each percent-encoded unreserved character decoded, every other
/// escape kept as it is.
fn decode_unreserved(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    while at < bytes.len() {
        let decoded = (bytes[at] == b'%')
            .then(|| text.get(at + 1..at + 3))
            .flatten()
            .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            .filter(|b| b.is_ascii_alphanumeric() || b"-._~".contains(b));
        match decoded {
            Some(b) => {
                out.push(char::from(b));
                at += 3;
            }
            None => {
                out.push(char::from(bytes[at]));
                at += 1;
            }
        }
    }
    out
}

/// RFC 3986 §5.2.4 on an absolute path (empty: `/`), with `%2e` read as the `.` it encodes
/// (§6.2.2.2: percent-encoded unreserved characters are decoded first).
fn remove_dot_segments(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let mut out: Vec<&str> = Vec::new();
    for (i, segment) in segments.iter().enumerate() {
        let last = i + 1 == segments.len();
        match segment.to_ascii_lowercase().replace("%2e", ".").as_str() {
            "." => {}
            ".." => {
                out.pop();
            }
            _ => {
                out.push(segment);
                continue;
            }
        }
        if last {
            out.push("");
        }
    }
    format!("/{}", out.join("/"))
}

/// Seeds: a valid proof (mode 0), mutation scripts (1), JWKs (2), claim sets (3).
pub fn seeds() -> Vec<Vec<u8>> {
    let h = dpop_harness();
    let with = |mode: u8, rest: &[u8]| [&[mode][..], rest].concat();
    vec![
        with(0, h.key.proof("GET", URL, &h.token).as_bytes()),
        with(0, b"a.b.c"),
        with(1, &[0, 0, 0, 5]),
        with(1, &[8, 0, 2, 1]),
        with(1, &[8, 1, 0, 1]),
        with(2, h.key.jwk().to_string().as_bytes()),
        with(2, h.foreign.jwk().to_string().as_bytes()),
        with(2, br#"{"kty":"RSA","n":"AQAB","e":"AQAB"}"#),
        with(
            3,
            &[
                [0u8].as_slice(),
                br#"{"htu":"HTTPS://API.EXAMPLE.COM:443/?q"}"#,
            ]
            .concat(),
        ),
        with(
            3,
            &[[0u8].as_slice(), br#"{"iat":1e400,"htm":"get"}"#].concat(),
        ),
        with(
            3,
            &[
                [0u8].as_slice(),
                br#"{"htu":"HTTPS://@API.EXAMPLE.COM:443/?q"}"#,
            ]
            .concat(),
        ),
        with(
            3,
            &[
                [0u8].as_slice(),
                br#"{"htu":"https://%EF%BD%81pi.ex%41mple.com/"}"#,
            ]
            .concat(),
        ),
        with(3, &[[1u8].as_slice(), b"{}".as_slice()].concat()),
    ]
}
