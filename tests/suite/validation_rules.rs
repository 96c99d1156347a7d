//! Each validation rule of the README ("Behaviour"), through the quickstart router: a token that breaks
//! one rule is a 401 `invalid_token`; the same token without the fault is a 200.

use crate::common;

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use bearer_guard::testing::{DEFAULT_AUDIENCE, SigningKey, TestIssuer};
use common::{CountingServer, Fixture, PRIVATE, SCOPE, SCOPED, now, segment_json};
use serde_json::{Value, json};

// The algorithm allow-list.

#[tokio::test]
async fn alg_none_in_any_letter_case_is_rejected_before_any_key_lookup() {
    let f = Fixture::start().await;
    for alg in ["none", "None", "NONE", "nOnE"] {
        let signed = f.issuer.token().scope(SCOPE).header("alg", alg).sign();
        f.send(SCOPED, &signed).await.assert_invalid_token();
        // The classic form: an empty signature.
        let unsigned = format!("{}.", signed.rsplit_once('.').unwrap().0);
        f.send(SCOPED, &unsigned).await.assert_invalid_token();
    }
    f.assert_fetches(0, 0);
}

#[tokio::test]
async fn algorithms_outside_the_allow_list_are_rejected() {
    let f = Fixture::start().await;
    for alg in [
        "RS384", "PS256", "ES256", "EdDSA", "HS256", "rs256", "", "RSA",
    ] {
        let token = f.issuer.token().header("alg", alg).sign();
        f.send(PRIVATE, &token).await.assert_invalid_token();
    }
    let numeric = f.issuer.token().header("alg", 256).sign();
    f.send(PRIVATE, &numeric).await.assert_invalid_token();
    let missing = f.issuer.token().without_header("alg").sign();
    f.send(PRIVATE, &missing).await.assert_invalid_token();
    f.assert_fetches(0, 0);
}

#[tokio::test]
async fn hs256_macs_keyed_with_the_issuers_public_key_are_rejected() {
    let f = Fixture::start().await;
    let key = f.issuer.signing_key();
    let spki = key.public_key_spki_der();
    let n = URL_SAFE_NO_PAD
        .decode(key.jwk()["n"].as_str().unwrap())
        .unwrap();
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        STANDARD.encode(&spki)
    );
    let jwk_text = key.jwk().to_string();
    for secret in [spki, n, pem.into_bytes(), jwk_text.into_bytes()] {
        let forged = f.issuer.token().scope(SCOPE).hmac_with(secret).sign();
        f.send(SCOPED, &forged).await.assert_invalid_token();
    }
    f.assert_fetches(0, 0);
    // The genuine token of the same shape passes.
    f.send(SCOPED, &f.issuer.token().scope(SCOPE).sign())
        .await
        .assert_ok();
}

// Signature.

#[tokio::test]
async fn a_token_signed_by_another_key_under_a_known_kid_is_rejected() {
    let f = Fixture::start().await;
    let attacker = SigningKey::generate("key-1");
    let forged = f.issuer.token().scope(SCOPE).signed_by(&attacker).sign();
    f.send(SCOPED, &forged).await.assert_invalid_token();
    f.assert_fetches(1, 1);
}

#[tokio::test]
async fn a_tampered_payload_is_rejected() {
    let f = Fixture::start().await;
    let token = f.issuer.token().scope("openid").sign();
    f.send(PRIVATE, &token).await.assert_ok();
    let (header, rest) = token.split_once('.').unwrap();
    let (payload, signature) = rest.split_once('.').unwrap();

    // One character of the payload changed, the signature kept.
    let middle = payload.len() / 2;
    let flipped = if &payload[middle..=middle] == "A" {
        "B"
    } else {
        "A"
    };
    let one_char = format!(
        "{header}.{}{flipped}{}.{signature}",
        &payload[..middle],
        &payload[middle + 1..]
    );
    f.send(PRIVATE, &one_char).await.assert_invalid_token();

    // A meaningful edit: the scope the route needs added, the signature kept.
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    claims["scope"] = json!("openid read:messages");
    let edited = URL_SAFE_NO_PAD.encode(claims.to_string());
    let escalated = format!("{header}.{edited}.{signature}");
    f.send(SCOPED, &escalated).await.assert_invalid_token();

    // And the signature itself tampered with, or cut off.
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
    bytes[10] ^= 0x01;
    let bad_signature = format!("{header}.{payload}.{}", URL_SAFE_NO_PAD.encode(&bytes));
    f.send(PRIVATE, &bad_signature).await.assert_invalid_token();
    bytes.truncate(128);
    let short_signature = format!("{header}.{payload}.{}", URL_SAFE_NO_PAD.encode(&bytes));
    f.send(PRIVATE, &short_signature)
        .await
        .assert_invalid_token();
    f.assert_fetches(1, 1);
}

// Issuer.

#[tokio::test]
async fn the_issuer_must_match_byte_for_byte() {
    let f = Fixture::start().await;
    let configured = f.issuer.issuer().to_owned();
    assert!(configured.ends_with('/'));
    let without_slash = configured.trim_end_matches('/').to_owned();
    let localhost = configured.replace("127.0.0.1", "localhost");
    let wrong = [
        json!("https://evil.example/"),
        json!(without_slash),
        json!(format!("{configured}/")),
        json!(localhost),
        json!(configured.to_uppercase()),
        json!([configured.clone()]),
        json!(null),
    ];
    for iss in wrong {
        let token = f.issuer.token().issuer(iss.clone()).sign();
        let reply = f.send(PRIVATE, &token).await;
        assert_eq!(reply.status, 401, "iss {iss}");
        reply.assert_invalid_token();
    }
    let missing = f.issuer.token().without_claim("iss").sign();
    f.send(PRIVATE, &missing).await.assert_invalid_token();
    let exact = f.issuer.token().issuer(configured.as_str()).sign();
    f.send(PRIVATE, &exact).await.assert_ok();
}

// Audience.

#[tokio::test]
async fn the_audience_must_contain_the_api() {
    let f = Fixture::start().await;
    let accepted = [
        json!(DEFAULT_AUDIENCE),
        json!([DEFAULT_AUDIENCE]),
        json!(["https://other.example", DEFAULT_AUDIENCE]),
        json!([DEFAULT_AUDIENCE, "https://other.example"]),
    ];
    for aud in accepted {
        let token = f.issuer.token().audience(aud.clone()).sign();
        let reply = f.send(PRIVATE, &token).await;
        assert_eq!(reply.status, 200, "aud {aud}");
    }
    let rejected = [
        json!("https://other.example"),
        json!(format!("{DEFAULT_AUDIENCE}/")),
        json!(["https://other.example", "https://third.example"]),
        json!([]),
        json!(null),
        json!(1),
        json!([1, DEFAULT_AUDIENCE]),
        json!({ "aud": DEFAULT_AUDIENCE }),
    ];
    for aud in rejected {
        let token = f.issuer.token().audience(aud.clone()).sign();
        let reply = f.send(PRIVATE, &token).await;
        assert_eq!(reply.status, 401, "aud {aud}");
        reply.assert_invalid_token();
    }
    let missing = f.issuer.token().without_claim("aud").sign();
    f.send(PRIVATE, &missing).await.assert_invalid_token();
}

#[tokio::test]
async fn any_configured_audience_is_accepted() {
    let f = Fixture::start_with(|b| b.audience("urn:second-api")).await;
    for aud in [
        json!(DEFAULT_AUDIENCE),
        json!("urn:second-api"),
        json!(["x", "urn:second-api"]),
    ] {
        let token = f.issuer.token().audience(aud.clone()).sign();
        assert_eq!(f.send(PRIVATE, &token).await.status, 200, "aud {aud}");
    }
    let token = f.issuer.token().audience("urn:third-api").sign();
    f.send(PRIVATE, &token).await.assert_invalid_token();
}

// Time.

#[tokio::test]
async fn expiry_is_checked_with_the_default_60_s_leeway() {
    let f = Fixture::start().await;
    let beyond = f.issuer.token().expires_in_secs(-120).sign();
    f.send(PRIVATE, &beyond).await.assert_invalid_token();
    let long_ago = f.issuer.token().claim("exp", 1_000_000_000).sign();
    f.send(PRIVATE, &long_ago).await.assert_invalid_token();
    let within = f.issuer.token().expires_in_secs(-30).sign();
    f.send(PRIVATE, &within).await.assert_ok();
}

#[tokio::test]
async fn a_zero_leeway_rejects_any_expired_token() {
    let f = Fixture::start_with(|b| b.leeway(Duration::ZERO)).await;
    let expired = f.issuer.token().expires_in_secs(-30).sign();
    f.send(PRIVATE, &expired).await.assert_invalid_token();
    let early = f.issuer.token().not_before_in_secs(30).sign();
    f.send(PRIVATE, &early).await.assert_invalid_token();
    f.send(PRIVATE, &f.issuer.token().sign()).await.assert_ok();
}

#[tokio::test]
async fn exp_is_required_and_must_be_a_number() {
    let f = Fixture::start().await;
    let missing = f.issuer.token().without_claim("exp").sign();
    f.send(PRIVATE, &missing).await.assert_invalid_token();
    let in_an_hour = now() + 3600;
    for exp in [
        json!(in_an_hour.to_string()),
        json!(null),
        json!(true),
        json!([in_an_hour]),
    ] {
        let token = f.issuer.token().claim("exp", exp.clone()).sign();
        let reply = f.send(PRIVATE, &token).await;
        assert_eq!(reply.status, 401, "exp {exp}");
        reply.assert_invalid_token();
    }
    // A NumericDate may be fractional.
    let fractional = f
        .issuer
        .token()
        .claim("exp", in_an_hour as f64 + 0.5)
        .sign();
    assert_eq!(
        f.send(PRIVATE, &fractional).await.assert_ok()["exp"],
        in_an_hour
    );
}

#[tokio::test]
async fn nbf_in_the_future_is_rejected_beyond_the_leeway() {
    let f = Fixture::start().await;
    let future = f.issuer.token().not_before_in_secs(3600).sign();
    f.send(PRIVATE, &future).await.assert_invalid_token();
    let beyond = f.issuer.token().not_before_in_secs(120).sign();
    f.send(PRIVATE, &beyond).await.assert_invalid_token();
    let within = f.issuer.token().not_before_in_secs(30).sign();
    f.send(PRIVATE, &within).await.assert_ok();
    let past = f.issuer.token().not_before_in_secs(-60).sign();
    f.send(PRIVATE, &past).await.assert_ok();
    let text = f.issuer.token().claim("nbf", now().to_string()).sign();
    f.send(PRIVATE, &text).await.assert_invalid_token();
}

#[tokio::test]
async fn iat_in_the_future_is_rejected_beyond_the_leeway() {
    let f = Fixture::start().await;
    let future = f.issuer.token().claim("iat", now() + 600).sign();
    f.send(PRIVATE, &future).await.assert_invalid_token();
    let within = f.issuer.token().claim("iat", now() + 30).sign();
    f.send(PRIVATE, &within).await.assert_ok();
    let text = f.issuer.token().claim("iat", now().to_string()).sign();
    f.send(PRIVATE, &text).await.assert_invalid_token();
    let absent = f.issuer.token().without_claim("iat").sign();
    f.send(PRIVATE, &absent).await.assert_ok();
}

// Header parameters.

#[tokio::test]
async fn crit_b64_and_nested_tokens_are_rejected() {
    let f = Fixture::start().await;
    let tokens = [
        f.issuer.token().header("crit", json!(["exp"])).sign(),
        f.issuer
            .token()
            .header("crit", json!(["urn:example:ext"]))
            .header("urn:example:ext", true)
            .sign(),
        f.issuer.token().header("crit", json!([])).sign(),
        f.issuer
            .token()
            .header("b64", false)
            .header("crit", json!(["b64"]))
            .sign(),
        f.issuer.token().header("b64", false).sign(),
        f.issuer.token().header("cty", "JWT").sign(),
    ];
    for token in tokens {
        f.send(PRIVATE, &token).await.assert_invalid_token();
    }
    // Refused before any key lookup: the key set was never needed.
    f.assert_fetches(0, 0);
    f.send(PRIVATE, &f.issuer.token().sign()).await.assert_ok();
    f.assert_fetches(1, 1);
}

#[tokio::test]
async fn jku_x5u_jwk_and_x5c_headers_are_never_followed() {
    let f = Fixture::start().await;
    let attacker = SigningKey::generate("attacker");
    let jwks = json!({ "keys": [attacker.jwk()] }).to_string();
    let attacker_server = CountingServer::start(jwks).await;
    let jku = format!("{}/.well-known/jwks.json", attacker_server.url);
    let der = STANDARD.encode(attacker.public_key_spki_der());

    let attacker_token = |kid: &str| {
        f.issuer
            .token()
            .scope(SCOPE)
            .header("kid", kid)
            .signed_by(&attacker)
    };
    let forged = [
        attacker_token("attacker")
            .header("jku", jku.as_str())
            .sign(),
        attacker_token("key-1").header("jku", jku.as_str()).sign(),
        attacker_token("attacker")
            .header("x5u", jku.as_str())
            .sign(),
        attacker_token("key-1").header("x5u", jku.as_str()).sign(),
        attacker_token("attacker")
            .header("jwk", attacker.jwk())
            .sign(),
        attacker_token("key-1").header("jwk", attacker.jwk()).sign(),
        attacker_token("key-1").header("x5c", json!([der])).sign(),
        attacker_token("key-1")
            .without_header("kid")
            .header("jwk", attacker.jwk())
            .sign(),
    ];
    for token in &forged {
        f.send(SCOPED, token).await.assert_invalid_token();
        // Counted, not slept on: a header URL followed to decide the token is fetched
        // before the refusal is written, so the counter has it by now.
        assert_eq!(
            attacker_server.connections(),
            0,
            "a header URL was followed"
        );
    }
    f.assert_fetches(1, 1);
    // The counter does count (so the zeros above mean something): one connection of ours,
    // waited for on the counter itself.
    let probe = tokio::net::TcpStream::connect(attacker_server.url.trim_start_matches("http://"))
        .await
        .expect("connect to the counting server");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while attacker_server.connections() == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    drop(probe);
    assert_eq!(attacker_server.connections(), 1);
}

// Key choice.

#[tokio::test]
async fn a_token_without_kid_uses_the_only_key_of_the_set() {
    let issuer = TestIssuer::start_with_key(SigningKey::generate_without_kid()).await;
    let f = Fixture::with_issuer(issuer, |b| b);
    let token = f.issuer.token().scope(SCOPE).sign();
    assert!(segment_json(&token, 0).get("kid").is_none());
    f.send(SCOPED, &token).await.assert_ok();
    // Still only that key: another key's signature fails.
    let forged = f
        .issuer
        .token()
        .signed_by(&SigningKey::generate_without_kid())
        .sign();
    f.send(PRIVATE, &forged).await.assert_invalid_token();
    f.assert_fetches(1, 1);
}

#[tokio::test]
async fn a_token_without_kid_is_rejected_when_the_set_has_several_keys() {
    let f = Fixture::start().await;
    f.issuer.publish(SigningKey::generate("key-2"));
    let token = f.issuer.token().without_header("kid").sign();
    f.send(PRIVATE, &token).await.assert_invalid_token();
    f.send(PRIVATE, &f.issuer.token().sign()).await.assert_ok();
}

// Shape and size.

#[tokio::test]
async fn malformed_payloads_are_rejected() {
    let f = Fixture::start().await;
    let iss = f.issuer.issuer().to_owned();
    let exp = now() + 3600;
    let duplicate_iss = format!(
        r#"{{"iss":"https://evil.example/","iss":"{iss}","aud":"{DEFAULT_AUDIENCE}","exp":{exp}}}"#
    );
    let duplicate_exp =
        format!(r#"{{"iss":"{iss}","aud":"{DEFAULT_AUDIENCE}","exp":{exp},"exp":1}}"#);
    for payload in [
        duplicate_iss.as_str(),
        duplicate_exp.as_str(),
        "[]",
        "null",
        "\"x\"",
        "{",
        "",
    ] {
        let token = f.issuer.token().raw_payload(payload).sign();
        let reply = f.send(PRIVATE, &token).await;
        assert_eq!(reply.status, 401, "payload {payload:?}");
        reply.assert_invalid_token();
    }
    // The same claims without the duplicate pass.
    let single = format!(r#"{{"iss":"{iss}","aud":"{DEFAULT_AUDIENCE}","exp":{exp}}}"#);
    let token = f.issuer.token().raw_payload(single).sign();
    f.send(PRIVATE, &token).await.assert_ok();
}

#[tokio::test]
async fn a_duplicated_header_member_is_rejected() {
    let f = Fixture::start().await;
    let token = f.issuer.token().sign();
    let (_, rest) = token.split_once('.').unwrap();
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","kid":"key-1","alg":"none"}"#);
    let spliced = format!("{header}.{rest}");
    f.send(PRIVATE, &spliced).await.assert_invalid_token();
}

/// A valid token padded with a custom claim to about `bytes` long.
fn padded_token(issuer: &TestIssuer, bytes: usize) -> String {
    let base = issuer.token().scope(SCOPE).sign().len();
    // Base64 makes 3 bytes of padding 4 characters; `,"pad":""` adds 9 bytes of JSON.
    let pad = (bytes.saturating_sub(base) * 3 / 4).saturating_sub(9);
    issuer
        .token()
        .scope(SCOPE)
        .claim("pad", "x".repeat(pad))
        .sign()
}

#[tokio::test]
async fn tokens_over_the_16_kib_cap_are_rejected_without_panic() {
    let f = Fixture::start().await;
    let under = padded_token(&f.issuer, 15 * 1024);
    assert!(
        (15 * 1024 - 8..=15 * 1024 + 8).contains(&under.len()),
        "{}",
        under.len()
    );
    f.send(SCOPED, &under).await.assert_ok();

    let over = padded_token(&f.issuer, 17 * 1024);
    assert!(over.len() > 16 * 1024, "{}", over.len());
    f.send(SCOPED, &over).await.assert_invalid_token();

    let huge = padded_token(&f.issuer, 64 * 1024);
    assert!(huge.len() >= 64 * 1024 - 8, "{}", huge.len());
    let reply = f.send(SCOPED, &huge).await;
    assert!(reply.status.is_client_error(), "{reply:#?}");
    reply.assert_invalid_token();

    let garbage = "A".repeat(64 * 1024);
    f.send(PRIVATE, &garbage).await.assert_invalid_token();
    // Only the token within the cap needed the key set.
    f.assert_fetches(1, 1);
}

#[tokio::test]
async fn the_size_cap_is_configurable() {
    let f = Fixture::start_with(|b| b.max_token_bytes(256)).await;
    let token = f.issuer.token().sign();
    assert!(token.len() > 256);
    f.send(PRIVATE, &token).await.assert_invalid_token();
    f.assert_fetches(0, 0);
}
