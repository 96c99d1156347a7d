//! Attack family: algorithm games (`alg`).
//!
//! `none` in every letter case with and without a signature; HS256 MAC-ed with the issuer's
//! RSA public key (PEM, DER, PKCS#1, the JWK `n` bytes, the JWK text) — the classic
//! algorithm-confusion attack; algorithms outside the allow-list; unknown names; `alg` of the
//! wrong JSON type; repeated `alg` members. The rule: the allow-list is applied before any
//! key lookup or network request, so none of these may cause a discovery or key set fetch.

use crate::common;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bearer_guard::testing::TestIssuer;
use bearer_guard::{Algorithm, Validator, config::ConfigProblem};
use common::{
    Case, Expect, HS_SECRET, RawRsaKey, SCOPE, app, b64, hs_app, hs_claims, hs_raw, hs_token, run,
    unb64,
};
use serde_json::{Value, json};

/// Every upper/lower-case spelling of `none` (16 of them).
fn none_spellings() -> Vec<String> {
    (0u8..16)
        .map(|mask| {
            "none"
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    if mask & (1 << i) != 0 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect()
        })
        .collect()
}

/// `h.p.s` -> `h.p.` (the signature stripped, as an unsecured JWS is written).
fn strip_signature(token: &str) -> String {
    let cut = token.rfind('.').expect("a dot");
    token[..=cut].to_owned()
}

/// PEM text of DER bytes with the given label, 64 characters a line.
fn pem(label: &str, der: &[u8], line_end: &str) -> String {
    let body = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----{line_end}");
    for line in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("ASCII"));
        out.push_str(line_end);
    }
    out.push_str(&format!("-----END {label}-----{line_end}"));
    out
}

/// The tag's content (offset, length) of the DER element starting at `at`.
fn der_element(der: &[u8], at: usize) -> (usize, usize) {
    let first = der[at + 1] as usize;
    if first < 0x80 {
        (at + 2, first)
    } else {
        let n = first & 0x7f;
        let len = der[at + 2..at + 2 + n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | b as usize);
        (at + 2 + n, len)
    }
}

/// The PKCS#1 `RSAPublicKey` inside an RSA `SubjectPublicKeyInfo`.
fn pkcs1_from_spki(spki: &[u8]) -> Vec<u8> {
    assert_eq!(spki[0], 0x30, "SPKI is a SEQUENCE");
    let (body, _) = der_element(spki, 0);
    let (alg_body, alg_len) = der_element(spki, body);
    let bit_string = alg_body + alg_len;
    assert_eq!(spki[bit_string], 0x03, "then a BIT STRING");
    let (content, len) = der_element(spki, bit_string);
    assert_eq!(spki[content], 0, "no unused bits");
    spki[content + 1..content + len].to_vec()
}

#[tokio::test]
async fn alg_games_against_the_key_set_validator() {
    // Extra key for raw-header tokens, published before the validator ever fetches.
    let raw_key = RawRsaKey::generate("raw-key");
    let issuer = TestIssuer::start().await;
    issuer.set_extra_jwks(vec![raw_key.jwk()]);
    let validator = issuer.validator().build().expect("valid configuration");
    let app = app(validator.clone());

    let base = || issuer.token().scope(SCOPE);
    let key = issuer.signing_key();
    let jwk = key.jwk();
    let spki = key.public_key_spki_der();
    let pkcs1 = pkcs1_from_spki(&spki);
    let n_bytes = unb64(jwk["n"].as_str().expect("n"));

    use Expect::*;
    let mut cases = Vec::new();

    // `none`, every letter case, with the RS256 signature kept and with it stripped.
    for spelling in none_spellings() {
        let signed = base().header("alg", spelling.as_str()).sign();
        cases.push(Case::token(
            format!("alg {spelling:?} with a signature"),
            &signed,
            InvalidToken,
        ));
        cases.push(Case::token(
            format!("alg {spelling:?} without a signature"),
            strip_signature(&signed),
            InvalidToken,
        ));
    }
    let none_no_kid = base().header("alg", "none").without_header("kid").sign();
    cases.push(Case::token(
        "alg none, no kid, signature stripped",
        strip_signature(&none_no_kid),
        InvalidToken,
    ));
    let none_two_segments = strip_signature(&none_no_kid);
    cases.push(Case::token(
        "alg none as two segments",
        none_two_segments.trim_end_matches('.'),
        InvalidToken,
    ));

    // Algorithm confusion: HS256 MAC-ed with the public key in every form an RS256 library
    // might hold it.
    let confusions: Vec<(&str, Vec<u8>)> = vec![
        (
            "SPKI PEM with LF",
            pem("PUBLIC KEY", &spki, "\n").into_bytes(),
        ),
        (
            "SPKI PEM without the final newline",
            pem("PUBLIC KEY", &spki, "\n")
                .trim_end()
                .as_bytes()
                .to_vec(),
        ),
        (
            "SPKI PEM with CRLF",
            pem("PUBLIC KEY", &spki, "\r\n").into_bytes(),
        ),
        (
            "PKCS#1 PEM",
            pem("RSA PUBLIC KEY", &pkcs1, "\n").into_bytes(),
        ),
        ("SPKI DER", spki.clone()),
        ("PKCS#1 DER", pkcs1.clone()),
        ("JWK n bytes", n_bytes.clone()),
        (
            "JWK n text",
            jwk["n"].as_str().expect("n").as_bytes().to_vec(),
        ),
        ("JWK JSON text", jwk.to_string().into_bytes()),
    ];
    for (form, secret) in &confusions {
        cases.push(Case::token(
            format!("HS256 MAC-ed with the public key as {form}"),
            base().hmac_with(secret.clone()).sign(),
            InvalidToken,
        ));
        cases.push(Case::token(
            format!("HS256 MAC-ed with the public key as {form}, no kid"),
            base()
                .without_header("kid")
                .hmac_with(secret.clone())
                .sign(),
            InvalidToken,
        ));
    }
    for alg in ["HS384", "HS512", "hs256"] {
        cases.push(Case::token(
            format!("{alg} MAC-ed with the SPKI PEM"),
            base()
                .hmac_with(pem("PUBLIC KEY", &spki, "\n"))
                .header("alg", alg)
                .sign(),
            InvalidToken,
        ));
    }

    // Real algorithms outside the allow-list (only RS256 is allowed by default).
    for alg in [
        "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
    ] {
        cases.push(Case::token(
            format!("allowed-elsewhere alg {alg}"),
            base().header("alg", alg).sign(),
            InvalidToken,
        ));
    }

    // Names no implementation should accept for a JWS.
    for alg in [
        "",
        "RS1",
        "RS257",
        "HS1",
        "ES256K",
        "ES512",
        "Ed25519",
        "ED25519",
        "eddsa",
        "rs256",
        "Rs256",
        "RS256 ",
        " RS256",
        "RS 256",
        "RS256\u{0}",
        "RS256\u{200b}",
        "RSA-OAEP",
        "RSA-OAEP-256",
        "dir",
        "A256GCMKW",
        "PBES2-HS256+A128KW",
    ] {
        cases.push(Case::token(
            format!("unknown alg {alg:?}"),
            base().header("alg", alg).sign(),
            InvalidToken,
        ));
    }

    // `alg` of the wrong JSON type, or missing.
    let wrong_types: Vec<(&str, Value)> = vec![
        ("the number 256", json!(256)),
        ("a float", json!(256.0)),
        ("an array [\"RS256\"]", json!(["RS256"])),
        ("null", Value::Null),
        ("an object", json!({"name": "RS256"})),
        ("true", json!(true)),
    ];
    for (what, value) in wrong_types {
        cases.push(Case::token(
            format!("alg as {what}"),
            base().header("alg", value).sign(),
            InvalidToken,
        ));
    }
    cases.push(Case::token(
        "alg missing",
        base().without_header("alg").sign(),
        InvalidToken,
    ));

    // A repeated `alg` member: whichever one a parser keeps, the token is ambiguous. These are
    // properly signed by a published key, so only the header rule can reject them.
    let payload = serde_json::to_vec(&claims_for(&issuer)).expect("JSON");
    for (what, header) in [
        (
            "RS256 then none",
            r#"{"alg":"RS256","kid":"raw-key","alg":"none"}"#,
        ),
        (
            "none then RS256",
            r#"{"alg":"none","kid":"raw-key","alg":"RS256"}"#,
        ),
        (
            "RS256 twice",
            r#"{"alg":"RS256","kid":"raw-key","alg":"RS256"}"#,
        ),
        (
            "kid twice",
            r#"{"alg":"RS256","kid":"raw-key","kid":"key-1"}"#,
        ),
    ] {
        cases.push(Case::token(
            format!("repeated header member: {what}"),
            raw_key.token(header.as_bytes(), &payload),
            InvalidToken,
        ));
    }
    for (what, header) in [("null", "null"), ("a string", r#""RS256""#), ("empty", "")] {
        cases.push(Case::token(
            format!("header that is {what}"),
            raw_key.token(header.as_bytes(), &payload),
            InvalidToken,
        ));
    }

    let ran = run(&app, &cases).await;
    assert!(ran >= 90, "{ran}");
    assert_eq!(
        (issuer.discovery_fetches(), issuer.jwks_fetches()),
        (0, 0),
        "a rejected alg must not cause any discovery or key set fetch"
    );

    // Controls, after the fetch-count assertion: the same issuer's real tokens pass, and the
    // raw-header signer is accepted when its header is well formed.
    let controls = vec![
        Case::token("control: a valid RS256 token", base().sign(), Ok),
        Case::token(
            "control: the raw signer with a well-formed header",
            raw_key.token(br#"{"alg":"RS256","kid":"raw-key"}"#, &payload),
            Ok,
        ),
    ];
    run(&app, &controls).await;
}

fn claims_for(issuer: &TestIssuer) -> Value {
    let now = common::now();
    json!({
        "iss": issuer.issuer(),
        "aud": bearer_guard::testing::DEFAULT_AUDIENCE,
        "sub": "raw@clients",
        "iat": now,
        "exp": now + 600,
        "scope": SCOPE,
    })
}

#[tokio::test]
async fn family_mismatch_when_several_algorithms_are_allowed() {
    // RS256 and ES256 allowed: an ES256 token naming the RSA key must not be checked with it,
    // nor may PS256 use a key published for RS256 (`alg` pinned in the JWK).
    let issuer = TestIssuer::start().await;
    let validator = issuer
        .validator()
        .algorithms([Algorithm::RS256, Algorithm::ES256, Algorithm::PS256])
        .build()
        .expect("valid configuration");
    validator.warm_up().await.expect("keys");
    let app = app(validator);
    let base = || issuer.token().scope(SCOPE);
    use Expect::*;
    let cases = vec![
        Case::token("control: RS256 still accepted", base().sign(), Ok),
        Case::token(
            "ES256 header on an RSA key",
            base().header("alg", "ES256").sign(),
            InvalidToken,
        ),
        Case::token(
            "ES256 header, no kid",
            base().header("alg", "ES256").without_header("kid").sign(),
            InvalidToken,
        ),
        Case::token(
            "PS256 header on a key pinned to RS256",
            base().header("alg", "PS256").sign(),
            InvalidToken,
        ),
        Case::token(
            "HS256 with the PEM while three asymmetric algs are allowed",
            base()
                .hmac_with(pem(
                    "PUBLIC KEY",
                    &issuer.signing_key().public_key_spki_der(),
                    "\n",
                ))
                .sign(),
            InvalidToken,
        ),
    ];
    run(&app, &cases).await;
}

#[tokio::test]
async fn alg_games_against_the_secret_validator() {
    let app = hs_app();
    let key = RawRsaKey::generate("k");
    let payload = serde_json::to_vec(&hs_claims()).expect("JSON");
    use Expect::*;
    let mut cases = vec![
        Case::token("control: a valid HS256 token", hs_token().sign(), Ok),
        Case::token(
            "RS256 token against a secret",
            key.token(br#"{"alg":"RS256","kid":"k"}"#, &payload),
            InvalidToken,
        ),
        Case::token(
            "HS384 header, HS256 MAC",
            hs_token().header("alg", "HS384").sign(),
            InvalidToken,
        ),
        Case::token(
            "HS512 header, HS256 MAC",
            hs_token().header("alg", "HS512").sign(),
            InvalidToken,
        ),
        Case::token(
            "lowercase hs256",
            hs_token().header("alg", "hs256").sign(),
            InvalidToken,
        ),
        Case::token(
            "repeated alg HS256 then none (raw, correctly MAC-ed)",
            hs_raw(br#"{"alg":"HS256","alg":"none"}"#, &payload),
            InvalidToken,
        ),
        Case::token(
            "repeated alg none then HS256 (raw, correctly MAC-ed)",
            hs_raw(br#"{"alg":"none","alg":"HS256"}"#, &payload),
            InvalidToken,
        ),
        Case::token(
            "repeated alg through a \\u escape of its name (raw, correctly MAC-ed)",
            hs_raw(br#"{"\u0061lg":"none","alg":"HS256"}"#, &payload),
            InvalidToken,
        ),
        Case::token(
            "control: raw HS256 with a well-formed header",
            hs_raw(br#"{"alg":"HS256","typ":"JWT"}"#, &payload),
            Ok,
        ),
    ];
    for spelling in none_spellings() {
        let signed = hs_token().header("alg", spelling.as_str()).sign();
        cases.push(Case::token(
            format!("secret mode: alg {spelling:?} without a MAC"),
            strip_signature(&signed),
            InvalidToken,
        ));
    }
    cases.push(Case::token(
        "secret mode: alg none with the correct HS256 MAC",
        {
            let header = b64(br#"{"alg":"none"}"#);
            let body = b64(&payload);
            let input = format!("{header}.{body}");
            format!("{input}.{}", common::hs_mac(&input))
        },
        InvalidToken,
    ));
    run(&app, &cases).await;
}

#[test]
fn mixing_families_is_refused_at_build_time() {
    let jwks_with_hmac = Validator::builder()
        .issuer("https://issuer.example/")
        .audience("api")
        .algorithms([Algorithm::RS256, Algorithm::HS256])
        .build()
        .expect_err("HS256 cannot be verified with a key set");
    assert_eq!(
        jwks_with_hmac.problems(),
        [ConfigProblem::AlgorithmNeedsSecret(Algorithm::HS256)]
    );
    let secret_with_rsa = Validator::builder()
        .issuer("https://issuer.example/")
        .audience("api")
        .hs256_secret(HS_SECRET)
        .algorithms([Algorithm::HS256, Algorithm::RS256])
        .build()
        .expect_err("RS256 cannot be verified with a secret");
    assert_eq!(
        secret_with_rsa.problems(),
        [ConfigProblem::AlgorithmNeedsKeySet(Algorithm::RS256)]
    );
}

/// Regression: an array header (`["RS256", "raw-key"]`) was accepted (200), because serde's
/// derived struct visitor also reads a JSON array, by position (`alg`, `kid`). RFC 7515 §4
/// says the JOSE header is a JSON object; a header that is not a JSON object of the expected
/// shape is now refused (401 `invalid_token`).
#[tokio::test]
async fn an_array_header_is_refused() {
    let raw_key = RawRsaKey::generate("raw-key");
    let issuer = TestIssuer::start().await;
    issuer.set_extra_jwks(vec![raw_key.jwk()]);
    let app = app(issuer.validator().build().expect("valid configuration"));
    let payload = serde_json::to_vec(&claims_for(&issuer)).expect("JSON");
    common::run_one(
        &app,
        Case::token(
            "header that is an array [alg, kid], signed by that key",
            raw_key.token(br#"["RS256","raw-key"]"#, &payload),
            Expect::InvalidToken,
        ),
    )
    .await;
}

/// Regression (same root cause): an array header passed the alg gate, so a cold validator
/// fetched discovery and the key set for a token whose header is malformed. Header problems
/// are now refused before any key lookup or network request.
#[tokio::test]
async fn an_array_header_never_reaches_the_key_lookup() {
    let raw_key = RawRsaKey::generate("raw-key");
    let issuer = TestIssuer::start().await;
    issuer.set_extra_jwks(vec![raw_key.jwk()]);
    let app = app(issuer.validator().build().expect("valid configuration"));
    let payload = serde_json::to_vec(&claims_for(&issuer)).expect("JSON");
    common::run_one(
        &app,
        Case::token(
            "header that is an array [alg]",
            raw_key.token(br#"["RS256"]"#, &payload),
            Expect::InvalidToken,
        ),
    )
    .await;
    assert_eq!(
        (issuer.discovery_fetches(), issuer.jwks_fetches()),
        (0, 0),
        "a malformed header must be rejected before any key set fetch"
    );
}
