//! Attack family: key games.
//!
//! Token side: `kid` values that are unknown, path-like, SQL-like, 10 KB long or not strings;
//! `jku` / `x5u` pointing at an attacker's server (which must never be contacted); an
//! embedded `jwk` holding the attacker's own key with the token signed by it; garbage `x5c`.
//! Key set side: duplicate `kid`s, `use: enc`, `key_ops` without `verify`, a JWK `alg` that
//! does not match the token's, an RSA-1024 key. Secret side: HMAC secrets under 32 bytes are
//! refused when the validator is built.

use crate::common;

use aws_lc_rs::signature::{RSA_PKCS1_SHA384, RSA_PSS_SHA256};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bearer_guard::testing::{DEFAULT_AUDIENCE, SigningKey, TestIssuer, TokenBuilder};
use bearer_guard::{Algorithm, Validator, config::ConfigProblem, error::TokenProblem};
use common::{
    Case, CountingServer, Expect, Fixture, HS_ISSUER, RawRsaKey, SCOPE, app, b64, run, run_one,
};
use serde_json::{Value, json};

/// A key whose JWK is published with some members changed.
fn published(kid: &str, change: impl FnOnce(&mut Value)) -> (SigningKey, Value) {
    let key = SigningKey::generate(kid);
    let mut jwk = key.jwk();
    change(&mut jwk);
    (key, jwk)
}

#[tokio::test]
async fn key_games_through_the_layer() {
    let attacker = SigningKey::generate("attacker");
    let (enc, enc_jwk) = published("enc-key", |j| j["use"] = json!("enc"));
    let (use_odd, use_odd_jwk) = published("use-odd", |j| j["use"] = json!("SIG"));
    let (ops_sign, ops_sign_jwk) = published("ops-sign", |j| j["key_ops"] = json!(["sign"]));
    let (ops_enc, ops_enc_jwk) =
        published("ops-enc", |j| j["key_ops"] = json!(["encrypt", "wrapKey"]));
    let (ops_empty, ops_empty_jwk) = published("ops-empty", |j| j["key_ops"] = json!([]));
    let (ops_str, ops_str_jwk) = published("ops-str", |j| j["key_ops"] = json!("verify"));
    let (ops_verify, ops_verify_jwk) =
        published("ops-verify", |j| j["key_ops"] = json!(["sign", "verify"]));
    let (no_use, no_use_jwk) = published("no-use", |j| {
        j.as_object_mut().expect("object").remove("use");
    });
    let (pinned384, pinned384_jwk) = published("pinned-rs384", |j| j["alg"] = json!("RS384"));
    let (pinned_none, pinned_none_jwk) = published("pinned-none", |j| j["alg"] = json!("none"));
    let (pinned_hs, pinned_hs_jwk) = published("pinned-hs256", |j| j["alg"] = json!("HS256"));
    let (dup_a, dup_a_jwk) = published("dup", |_| {});
    let (dup_b, dup_b_jwk) = published("dup", |_| {});

    let extra = vec![
        enc_jwk,
        use_odd_jwk,
        ops_sign_jwk,
        ops_enc_jwk,
        ops_empty_jwk,
        ops_str_jwk,
        ops_verify_jwk,
        no_use_jwk,
        pinned384_jwk,
        pinned_none_jwk,
        pinned_hs_jwk,
        dup_a_jwk,
        dup_b_jwk,
    ];
    let f = Fixture::warm(move |issuer| issuer.set_extra_jwks(extra), |b| b).await;
    assert_eq!(f.issuer.jwks_fetches(), 1, "warmed up");

    // The attacker's server: would serve the attacker's key set if anyone asked.
    let evil = CountingServer::start(json!({ "keys": [attacker.jwk()] }).to_string()).await;
    let evil_jwks = format!("{}/jwks.json", evil.url);
    let evil_cert = format!("{}/cert.pem", evil.url);

    let by = |key: &SigningKey| {
        f.token()
            .header("kid", key.kid().expect("kid"))
            .signed_by(key)
    };
    let legit = || f.token();
    let forged = || f.token().signed_by(&attacker);
    let kid = |value: Value| f.token().header("kid", value);

    use Expect::*;
    let mut cases = vec![
        // Controls.
        Case::token("control: the issuer's key", legit().sign(), Ok),
        Case::token(
            "control: key_ops [sign, verify]",
            by(&ops_verify).sign(),
            Ok,
        ),
        Case::token("control: JWK without use", by(&no_use).sign(), Ok),
        // kid games, signed by the attacker (and some by the real key under a wrong kid).
        Case::token(
            "unknown kid",
            forged().header("kid", "nope").sign(),
            InvalidToken,
        ),
        Case::token(
            "attacker's own kid",
            forged().header("kid", "attacker").sign(),
            InvalidToken,
        ),
        Case::token(
            "kid key-1 signed by the attacker",
            forged().sign(),
            InvalidToken,
        ),
        Case::token(
            "kid with ../../",
            forged().header("kid", "../../../../etc/passwd").sign(),
            InvalidToken,
        ),
        Case::token(
            "kid ../key-1 with the real key",
            legit().header("kid", "../key-1").sign(),
            InvalidToken,
        ),
        Case::token(
            "kid key-1/../key-1 with the real key",
            legit().header("kid", "key-1/../key-1").sign(),
            InvalidToken,
        ),
        Case::token(
            "kid /dev/null",
            forged().header("kid", "/dev/null").sign(),
            InvalidToken,
        ),
        Case::token(
            "kid SQL tautology",
            forged().header("kid", "' OR '1'='1").sign(),
            InvalidToken,
        ),
        Case::token(
            "kid SQL union",
            forged().header("kid", "x' UNION SELECT 'secret' --").sign(),
            InvalidToken,
        ),
        Case::token(
            "kid key-1 with SQL comment, real key",
            legit().header("kid", "key-1' --").sign(),
            InvalidToken,
        ),
        Case::token(
            "kid key-1 with a NUL, real key",
            legit().header("kid", "key-1\u{0}").sign(),
            InvalidToken,
        ),
        Case::token(
            "kid KEY-1 (case), real key",
            legit().header("kid", "KEY-1").sign(),
            InvalidToken,
        ),
        Case::token(
            "kid with a leading space, real key",
            legit().header("kid", " key-1").sign(),
            InvalidToken,
        ),
        Case::token(
            "empty kid, real key",
            legit().header("kid", "").sign(),
            InvalidToken,
        ),
        Case::token(
            "kid as a URL",
            forged().header("kid", evil_jwks.as_str()).sign(),
            InvalidToken,
        ),
        Case::token(
            "10 KB kid",
            forged().header("kid", "k".repeat(10 * 1024)).sign(),
            InvalidToken,
        ),
        Case::token(
            "13 KB kid (token over the 16 KiB cap)",
            forged().header("kid", "k".repeat(13 * 1024)).sign(),
            InvalidToken,
        ),
        Case::token("kid as a number", kid(json!(1)).sign(), InvalidToken),
        Case::token(
            "kid as an array holding the real kid",
            kid(json!(["key-1"])).sign(),
            InvalidToken,
        ),
        Case::token(
            "kid as an object",
            kid(json!({"kid": "key-1"})).sign(),
            InvalidToken,
        ),
        Case::token("kid as true", kid(json!(true)).sign(), InvalidToken),
        // No kid: several keys are usable, so no key can be chosen.
        Case::token(
            "no kid, signed by the attacker",
            forged().without_header("kid").sign(),
            InvalidToken,
        ),
        // Header parameters that name key material are never followed.
        Case::token(
            "jku to the attacker, attacker's kid",
            forged()
                .header("kid", "attacker")
                .header("jku", evil_jwks.as_str())
                .sign(),
            InvalidToken,
        ),
        Case::token(
            "jku to the attacker, kid key-1",
            forged().header("jku", evil_jwks.as_str()).sign(),
            InvalidToken,
        ),
        Case::token(
            "jku to the attacker, no kid",
            forged()
                .without_header("kid")
                .header("jku", evil_jwks.as_str())
                .sign(),
            InvalidToken,
        ),
        Case::token(
            "x5u to the attacker, attacker's kid",
            forged()
                .header("kid", "attacker")
                .header("x5u", evil_cert.as_str())
                .sign(),
            InvalidToken,
        ),
        Case::token(
            "x5u to the attacker, kid key-1",
            forged().header("x5u", evil_cert.as_str()).sign(),
            InvalidToken,
        ),
        Case::token(
            "embedded jwk with the attacker's key, attacker's kid",
            forged()
                .header("kid", "attacker")
                .header("jwk", attacker.jwk())
                .sign(),
            InvalidToken,
        ),
        Case::token(
            "embedded jwk with the attacker's key relabelled key-1",
            forged()
                .header("jwk", {
                    let mut jwk = attacker.jwk();
                    jwk["kid"] = json!("key-1");
                    jwk
                })
                .sign(),
            InvalidToken,
        ),
        Case::token(
            "embedded jwk, no kid",
            forged()
                .without_header("kid")
                .header("jwk", attacker.jwk())
                .sign(),
            InvalidToken,
        ),
        Case::token(
            "x5c garbage, attacker-signed",
            forged().header("x5c", json!(["not base64!!", ""])).sign(),
            InvalidToken,
        ),
        Case::token(
            "x5c with the attacker's SPKI, attacker's kid",
            forged()
                .header("kid", "attacker")
                .header(
                    "x5c",
                    json!([STANDARD.encode(attacker.public_key_spki_der())]),
                )
                .sign(),
            InvalidToken,
        ),
        Case::token(
            "x5c as a string",
            forged().header("x5c", "MIIB").sign(),
            InvalidToken,
        ),
        // The issuer's real tokens with those headers: ignored, so still accepted.
        Case::token(
            "control: issuer token with jku/x5u/jwk/x5c pointing elsewhere",
            legit()
                .header("jku", evil_jwks.as_str())
                .header("x5u", evil_cert.as_str())
                .header("jwk", attacker.jwk())
                .header("x5c", json!(["garbage"]))
                .sign(),
            Ok,
        ),
        // Key set side: keys the policy refuses verify nothing.
        Case::token("use enc", by(&enc).sign(), InvalidToken),
        Case::token(
            "use SIG (not exactly sig)",
            by(&use_odd).sign(),
            InvalidToken,
        ),
        Case::token("key_ops [sign]", by(&ops_sign).sign(), InvalidToken),
        Case::token(
            "key_ops [encrypt, wrapKey]",
            by(&ops_enc).sign(),
            InvalidToken,
        ),
        Case::token("key_ops []", by(&ops_empty).sign(), InvalidToken),
        Case::token("key_ops as a string", by(&ops_str).sign(), InvalidToken),
        Case::token(
            "JWK alg RS384, token RS256 (RS256-only validator)",
            by(&pinned384).sign(),
            InvalidToken,
        ),
        Case::token("JWK alg none", by(&pinned_none).sign(), InvalidToken),
        Case::token("JWK alg HS256", by(&pinned_hs).sign(), InvalidToken),
        Case::token("duplicate kid, first key", by(&dup_a).sign(), InvalidToken),
        Case::token("duplicate kid, second key", by(&dup_b).sign(), InvalidToken),
    ];
    // The remaining non-string kid.
    cases.push(Case::token(
        "kid as a float",
        kid(json!(1.5)).sign(),
        InvalidToken,
    ));
    run(&f.app, &cases).await;

    assert_eq!(
        evil.connections(),
        0,
        "jku / x5u / kid URLs must never be fetched"
    );
    // Unknown kids cost at most one refetch per cooldown (30 s): warm-up plus one.
    assert!(
        f.issuer.jwks_fetches() <= 2,
        "unknown kids caused {} key set fetches",
        f.issuer.jwks_fetches()
    );
    // The counting server does count (so the zero above means something).
    let mut probe = tokio::net::TcpStream::connect(evil.url.trim_start_matches("http://"))
        .await
        .expect("connect to the counting server");
    let mut sink = Vec::new();
    let _ = tokio::io::AsyncReadExt::read_to_end(&mut probe, &mut sink).await;
    assert_eq!(evil.connections(), 1);
}

#[tokio::test]
async fn a_single_key_set_with_tokens_without_kid() {
    // One key, so a token without `kid` selects it: only the signature decides.
    let attacker = SigningKey::generate("attacker");
    let f = Fixture::warm_default().await;
    let evil = CountingServer::start(json!({ "keys": [attacker.jwk()] }).to_string()).await;
    use Expect::*;
    let cases = vec![
        Case::token(
            "control: no kid, issuer-signed",
            f.token().without_header("kid").sign(),
            Ok,
        ),
        Case::token(
            "no kid, attacker-signed",
            f.token().without_header("kid").signed_by(&attacker).sign(),
            InvalidToken,
        ),
        Case::token(
            "no kid, embedded attacker jwk, attacker-signed",
            f.token()
                .without_header("kid")
                .header("jwk", attacker.jwk())
                .signed_by(&attacker)
                .sign(),
            InvalidToken,
        ),
        Case::token(
            "no kid, jku to the attacker, attacker-signed",
            f.token()
                .without_header("kid")
                .header("jku", format!("{}/jwks.json", evil.url))
                .signed_by(&attacker)
                .sign(),
            InvalidToken,
        ),
    ];
    run(&f.app, &cases).await;
    assert_eq!(evil.connections(), 0);
}

/// Regression: `kid: null` was read as "no kid" (serde treats `null` as `None` for an
/// `Option<String>`), so in a one-key set a token with a non-string `kid` was accepted, while
/// `kid: 1` or `kid: true` were rejected as a malformed header. It is now refused like them.
#[tokio::test]
async fn a_null_kid_is_refused() {
    let f = Fixture::warm_default().await;
    run_one(
        &f.app,
        Case::token(
            "kid as null, issuer-signed",
            f.token().header("kid", Value::Null).sign(),
            Expect::InvalidToken,
        ),
    )
    .await;
}

#[tokio::test]
async fn a_duplicate_of_the_issuers_kid_disables_both_keys() {
    // A third, honest key keeps the set usable, so the outcome is about `kid` only.
    let attacker = SigningKey::generate("key-1");
    let other = SigningKey::generate("other");
    let extra = vec![attacker.jwk(), other.jwk()];
    let f = Fixture::warm(move |issuer| issuer.set_extra_jwks(extra), |b| b).await;
    use Expect::*;
    let cases = vec![
        Case::token(
            "control: the remaining honest key",
            f.token().header("kid", "other").signed_by(&other).sign(),
            Ok,
        ),
        Case::token(
            "attacker key published under the issuer's kid",
            f.token().signed_by(&attacker).sign(),
            InvalidToken,
        ),
        Case::token(
            "issuer's key, its kid now ambiguous",
            f.token().sign(),
            InvalidToken,
        ),
    ];
    run(&f.app, &cases).await;
}

#[tokio::test]
async fn jwk_alg_must_equal_the_token_alg() {
    // Both RS256 and RS384 allowed: a key pinned to RS384 must not verify RS256, and the
    // issuer's key (pinned RS256) must not verify RS384.
    let pinned = RawRsaKey::generate("pinned-rs384");
    let mut pinned_jwk = pinned.jwk();
    pinned_jwk["alg"] = json!("RS384");
    let unpinned = RawRsaKey::generate("unpinned");
    let mut unpinned_jwk = unpinned.jwk();
    unpinned_jwk.as_object_mut().expect("object").remove("alg");
    let f = Fixture::warm(
        move |issuer| issuer.set_extra_jwks(vec![pinned_jwk, unpinned_jwk]),
        |b| b.algorithms([Algorithm::RS256, Algorithm::RS384, Algorithm::PS256]),
    )
    .await;
    let payload = serde_json::to_vec(&json!({
        "iss": f.issuer.issuer(),
        "aud": DEFAULT_AUDIENCE,
        "sub": "pinned@clients",
        "exp": common::now() + 600,
        "scope": SCOPE,
    }))
    .expect("JSON");
    let token =
        |key: &RawRsaKey, alg: &str, padding: &'static dyn aws_lc_rs::signature::RsaEncoding| {
            let header = json!({"alg": alg, "kid": key.kid});
            let input = format!("{}.{}", b64(header.to_string()), b64(&payload));
            let signature = key.sign_with(padding, input.as_bytes());
            format!("{input}.{signature}")
        };
    use Expect::*;
    let cases = vec![
        Case::token(
            "control: RS384 token, key pinned to RS384",
            token(&pinned, "RS384", &RSA_PKCS1_SHA384),
            Ok,
        ),
        Case::token(
            "RS256 token, key pinned to RS384 (valid RS256 signature)",
            pinned.token(
                json!({"alg": "RS256", "kid": pinned.kid})
                    .to_string()
                    .as_bytes(),
                &payload,
            ),
            InvalidToken,
        ),
        Case::token(
            "PS256 token, key pinned to RS384 (valid PS256 signature)",
            token(&pinned, "PS256", &RSA_PSS_SHA256),
            InvalidToken,
        ),
        Case::token(
            "control: PS256 token, key without alg",
            token(&unpinned, "PS256", &RSA_PSS_SHA256),
            Ok,
        ),
        Case::token(
            "RS384 header on the issuer's RS256-pinned key",
            f.token().header("alg", "RS384").sign(),
            InvalidToken,
        ),
    ];
    run(&f.app, &cases).await;
}

/// An RSA-1024 key (made with Python `cryptography`, RSA-1024 keys cannot be generated
/// with aws-lc-rs) and a token it signed: `iss` `https://issuer.example/`, `aud`
/// `https://api.example.com`, `exp` 4102444800 (year 2100), `kid` `weak-1024`.
const WEAK_JWK: &str = r#"{"kty": "RSA", "kid": "weak-1024", "use": "sig", "alg": "RS256", "n": "z-lAK5DqZuN7ytFkdAe2ZKeX_5pzG6QzQIrHJgqJtASQlhHJ8Ni_vKL9DGbmm6DAxvV9TkCcI_hC53NQq5sWkR27-dr9ZUY8LITyDnS9C5A5g3BtbOtJrcZBLWelNMj27Mw-dAydsMR886Qa67FSFsYHxjWJMgtsjduWE7SaDKU", "e": "AQAB"}"#;
const WEAK_TOKEN: &str = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6IndlYWstMTAyNCJ9.eyJpc3MiOiJodHRwczovL2lzc3Vlci5leGFtcGxlLyIsImF1ZCI6Imh0dHBzOi8vYXBpLmV4YW1wbGUuY29tIiwic3ViIjoid2Vha0BjbGllbnRzIiwiaWF0IjoxNzAwMDAwMDAwLCJleHAiOjQxMDI0NDQ4MDB9.sSdUUCGYm5wLWqzEMXeJnZLVYBom7RbFyhp0tvEY2Oaz81MgmfwJlgKlosbdTZs2x6L2Tqj5AwyNCrL74KEbhDHhmNUi6Xmf7VloHJLjTcIGpjcOLegsg7Haj_IftlT3jT771AUpMnT4BhZyR5KhkN_NaF0RL7DAWgMOGiy9s04";

#[tokio::test]
async fn rsa_1024_keys_are_refused() {
    let weak: Value = serde_json::from_str(WEAK_JWK).expect("JSON");
    assert_eq!(
        weak["n"].as_str().map(|n| common::unb64(n).len() * 8),
        Some(1024)
    );
    // The key policy refuses the key itself (not merely the signature).
    assert_eq!(
        bearer_guard::testing::verify_signature(&weak, WEAK_TOKEN),
        Err(TokenProblem::UnknownKey)
    );
    let issuer = TestIssuer::start().await;
    issuer.set_extra_jwks(vec![weak]);
    let validator = Validator::builder()
        .issuer(HS_ISSUER)
        .audience(DEFAULT_AUDIENCE)
        .jwks_uri(issuer.jwks_uri())
        .build()
        .expect("valid configuration");
    validator.warm_up().await.expect("keys");
    let app = app(validator);
    let strong = TokenBuilder::rs256(&issuer.signing_key())
        .claim("iss", HS_ISSUER)
        .claim("aud", DEFAULT_AUDIENCE)
        .claim("exp", common::now() + 600)
        .scope(SCOPE);
    use Expect::*;
    let cases = vec![
        Case::token("control: RSA-2048 key, same issuer", strong.sign(), Ok),
        Case::token("RSA-1024 key, correctly signed", WEAK_TOKEN, InvalidToken),
    ];
    run(&app, &cases).await;
}

#[test]
fn short_hmac_secrets_are_refused_at_build_time() {
    for bytes in [0usize, 1, 16, 31] {
        let error = Validator::builder()
            .issuer(HS_ISSUER)
            .audience(DEFAULT_AUDIENCE)
            .hs256_secret(vec![b'k'; bytes])
            .build()
            .expect_err("a short secret");
        assert_eq!(
            error.problems(),
            [ConfigProblem::SecretTooShort { bytes }],
            "{bytes}-byte secret"
        );
    }
    let base64_short = Validator::builder()
        .issuer(HS_ISSUER)
        .audience(DEFAULT_AUDIENCE)
        .hs256_secret_base64(&STANDARD.encode([7u8; 24]))
        .build()
        .expect_err("24 decoded bytes");
    assert_eq!(
        base64_short.problems(),
        [ConfigProblem::SecretTooShort { bytes: 24 }]
    );
    // A 40-character base64 text decodes to 30 bytes: the decoded length is what counts.
    let text_long_enough = STANDARD.encode([7u8; 30]);
    assert!(text_long_enough.len() >= 32);
    let decoded_short = Validator::builder()
        .issuer(HS_ISSUER)
        .audience(DEFAULT_AUDIENCE)
        .hs256_secret_base64(&text_long_enough)
        .build()
        .expect_err("30 decoded bytes");
    assert_eq!(
        decoded_short.problems(),
        [ConfigProblem::SecretTooShort { bytes: 30 }]
    );
    assert!(
        Validator::builder()
            .issuer(HS_ISSUER)
            .audience(DEFAULT_AUDIENCE)
            .hs256_secret(vec![b'k'; 32])
            .build()
            .is_ok(),
        "32 bytes is enough"
    );
}
