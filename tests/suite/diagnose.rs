//! `Validator::explain`: the report of every check, one test per common mistake (the report
//! names the failing check, and its hint the setting to change), the verdict agreeing with
//! `validate`, and what the report never shows.

use crate::common;

use bearer_guard::Validator;
use bearer_guard::diagnose::{Explanation, Outcome};
use bearer_guard::testing::{DEFAULT_AUDIENCE, TestIssuer, TokenBuilder};
use common::{HS_ISSUER, HS_SECRET, hs_builder};
use serde_json::json;

/// The failing check's name and hint (the report must have exactly one failure).
fn failure(report: &Explanation) -> (&'static str, String) {
    let failed: Vec<_> = report
        .checks
        .iter()
        .filter(|check| check.outcome == Outcome::Fail)
        .collect();
    assert_eq!(failed.len(), 1, "exactly one failing check:\n{report}");
    (failed[0].name, failed[0].hint.clone().unwrap_or_default())
}

async fn issuer_and_validator() -> (TestIssuer, Validator) {
    let issuer = TestIssuer::start().await;
    let validator = issuer.validator().build().expect("valid configuration");
    (issuer, validator)
}

#[tokio::test]
async fn a_valid_token_passes_every_check() {
    let (issuer, validator) = issuer_and_validator().await;
    let report = validator
        .explain(&issuer.token().scope("read:messages").sign())
        .await;
    assert!(report.passed(), "{report}");
    assert!(report.first_failure().is_none());
    assert!(
        report
            .checks
            .iter()
            .all(|check| check.outcome == Outcome::Pass)
    );
    let names: Vec<_> = report.checks.iter().map(|check| check.name).collect();
    assert_eq!(
        names,
        [
            "token",
            "format",
            "alg",
            "typ",
            "kid",
            "signature",
            "iss",
            "aud",
            "exp",
            "nbf",
            "iat",
            "claims",
            "scopes",
            "binding",
            "rules"
        ]
    );
    let aud = &report.checks[7];
    assert_eq!(
        (aud.expected.as_str(), aud.found.as_str()),
        (DEFAULT_AUDIENCE, DEFAULT_AUDIENCE)
    );
}

#[tokio::test]
async fn the_verdict_is_the_validators_on_valid_and_invalid_tokens() {
    let (issuer, validator) = issuer_and_validator().await;
    let valid = issuer.token().sign();
    let mut tampered = valid.clone();
    tampered.push('A');
    let tokens = [
        valid,
        tampered,
        issuer.token().audience("https://other.example.com").sign(),
        issuer.token().expires_in_secs(-600).sign(),
        issuer.token().header("alg", "none").sign(),
        issuer.token().header("typ", "dpop+jwt").sign(),
        issuer.token().without_claim("exp").sign(),
        issuer.token().dpop_bound("abc").sign(),
        issuer.token().raw_payload("[1]").sign(),
        "opaque".to_owned(),
        "a.b.c.d.e".to_owned(),
        String::new(),
    ];
    for token in &tokens {
        let verdict = validator.validate(token).await;
        let report = validator.explain(token).await;
        assert_eq!(report.passed(), verdict.is_ok(), "{verdict:?}\n{report}");
        let failures = report
            .checks
            .iter()
            .filter(|c| c.outcome == Outcome::Fail)
            .count();
        assert_eq!(failures, usize::from(verdict.is_err()), "{report}");
        // After the failure, nothing was reached; before it, everything passed.
        if let Some(at) = report
            .checks
            .iter()
            .position(|c| c.outcome == Outcome::Fail)
        {
            assert!(
                report.checks[..at]
                    .iter()
                    .all(|c| c.outcome == Outcome::Pass)
            );
            assert!(
                report.checks[at + 1..]
                    .iter()
                    .all(|c| c.outcome == Outcome::NotReached)
            );
        }
    }
}

#[tokio::test]
async fn a_token_for_another_api_fails_aud_and_names_audience() {
    let (issuer, validator) = issuer_and_validator().await;
    let token = issuer
        .token()
        .audience(format!("{}userinfo", issuer.issuer()))
        .sign();
    let (name, hint) = failure(&validator.explain(&token).await);
    assert_eq!(name, "aud");
    assert!(
        hint.contains(&format!("`audience={DEFAULT_AUDIENCE}`")),
        "{hint}"
    );
    assert!(hint.contains("`.audience(...)`"), "{hint}");
}

#[tokio::test]
async fn an_opaque_or_encrypted_token_fails_format_and_names_audience() {
    let (_issuer, validator) = issuer_and_validator().await;
    for token in ["8xLOxBtZp8KsMEJ6cTqLlFw_ZmP9SgAh", "eyJ.a.b.c.d"] {
        let (name, hint) = failure(&validator.explain(token).await);
        assert_eq!(name, "format", "{token}");
        assert!(
            hint.contains(&format!("`audience={DEFAULT_AUDIENCE}`")),
            "{hint}"
        );
    }
    let (_, opaque) = failure(&validator.explain("8xLOxBtZp8KsMEJ6cTqLlFw").await);
    assert!(
        opaque.contains("opaque") && opaque.contains("`.introspection(...)`"),
        "{opaque}"
    );
}

#[tokio::test]
async fn an_issuer_without_its_trailing_slash_fails_iss_and_names_issuer() {
    let issuer = TestIssuer::start().await;
    let without_slash = issuer.issuer().trim_end_matches('/');
    let validator = Validator::builder()
        .issuer(without_slash)
        .audience(DEFAULT_AUDIENCE)
        .jwks_uri(issuer.jwks_uri())
        .build()
        .expect("valid configuration");
    let (name, hint) = failure(&validator.explain(&issuer.token().sign()).await);
    assert_eq!(name, "iss");
    assert!(
        hint.contains(&format!("`issuer(\"{}\")`", issuer.issuer())),
        "{hint}"
    );
    assert!(hint.contains("trailing slash"), "{hint}");
}

#[tokio::test]
async fn an_id_token_fails_aud_and_says_to_send_the_access_token() {
    let (issuer, validator) = issuer_and_validator().await;
    let id_token = issuer
        .token()
        .audience("spa-client-id")
        .claim("nonce", "n-0S6_WzA2Mj")
        .claim("email", "jane@example.com")
        .sign();
    let (name, hint) = failure(&validator.explain(&id_token).await);
    assert_eq!(name, "aud");
    assert!(
        hint.contains("ID token") && hint.contains("`access_token`"),
        "{hint}"
    );
    assert!(
        hint.contains(&format!("`audience={DEFAULT_AUDIENCE}`")),
        "{hint}"
    );
}

#[tokio::test]
async fn a_clock_off_by_minutes_fails_exp_or_nbf_and_names_leeway() {
    let (issuer, validator) = issuer_and_validator().await;
    let expired = issuer.token().expires_in_secs(-300).sign();
    let (name, hint) = failure(&validator.explain(&expired).await);
    assert_eq!(name, "exp");
    assert!(
        hint.contains("`leeway(...)`") && hint.contains("clock"),
        "{hint}"
    );
    let early = issuer.token().not_before_in_secs(300).sign();
    let (name, hint) = failure(&validator.explain(&early).await);
    assert_eq!(name, "nbf");
    assert!(
        hint.contains("`leeway(...)`") && hint.contains("clock"),
        "{hint}"
    );
}

#[tokio::test]
async fn a_kid_the_key_set_lacks_fails_kid_and_names_the_key_set() {
    let (issuer, validator) = issuer_and_validator().await;
    let token = issuer.token().header("kid", "retired-2025").sign();
    let report = validator.explain(&token).await;
    let (name, hint) = failure(&report);
    assert_eq!(name, "kid");
    assert!(
        hint.contains("`jwks_uri(...)`") && hint.contains("`issuer(...)`"),
        "{hint}"
    );
    let kid = issuer.signing_key().kid().expect("a kid").to_owned();
    assert!(hint.contains(&kid), "the key set's kids are listed: {hint}");
    assert_eq!(
        report.checks[4].found,
        "retired-2025: no signing key matches the token"
    );
}

#[tokio::test]
async fn hs256_configured_for_an_rs256_api_fails_alg_and_names_the_settings() {
    let issuer = TestIssuer::start().await;
    let validator = issuer
        .validator()
        .hs256_secret(HS_SECRET)
        .build()
        .expect("valid configuration");
    let (name, hint) = failure(&validator.explain(&issuer.token().sign()).await);
    assert_eq!(name, "alg");
    assert!(
        hint.contains("`hs256_secret(...)`") && hint.contains("`jwks_uri(...)`"),
        "{hint}"
    );
    assert_eq!(
        issuer.jwks_fetches(),
        0,
        "explain fetched nothing validate would not"
    );
}

#[tokio::test]
async fn scopes_in_permissions_that_are_not_read_get_a_hint_naming_scope_claims() {
    let (issuer, validator) = issuer_and_validator().await;
    let token = issuer
        .token()
        .claim("permissions", json!(["read:messages"]))
        .sign();
    let report = validator.explain(&token).await;
    // The token is valid (its verdict is `validate`'s); routes requiring the scope refuse it.
    assert!(report.passed(), "{report}");
    let scopes = report
        .checks
        .iter()
        .find(|c| c.name == "scopes")
        .expect("scopes");
    let hint = scopes.hint.as_deref().unwrap_or_default();
    assert!(
        hint.contains("permissions(true)") && hint.contains("Validator::auth0"),
        "{hint}"
    );

    let rbac = issuer
        .validator()
        .scope_claims(bearer_guard::scope::ScopeClaims::default().permissions(true))
        .build()
        .expect("valid configuration");
    let report = rbac.explain(&token).await;
    assert!(
        report.checks.iter().all(|check| check.hint.is_none()),
        "{report}"
    );
}

#[tokio::test]
async fn the_report_never_shows_the_signature_or_the_secret() {
    let validator = hs_builder().build().expect("valid configuration");
    let secret = std::str::from_utf8(HS_SECRET).expect("a text secret");
    let token = |secret: &[u8]| {
        TokenBuilder::hs256(secret)
            .issuer(HS_ISSUER)
            .audience(DEFAULT_AUDIENCE)
            .expires_in_secs(600)
            .sign()
    };
    let valid = token(HS_SECRET);
    let forged = token(b"another-secret-of-forty-bytes-0123456789");
    for (token, passes) in [(valid, true), (forged, false)] {
        let report = validator.explain(&token).await;
        assert_eq!(report.passed(), passes, "{report}");
        let signature = token.rsplit('.').next().expect("a signature");
        let printed = format!("{report}{}", serde_json::to_string(&report).expect("json"));
        assert!(!printed.contains(signature), "{printed}");
        assert!(!printed.contains(secret), "{printed}");
    }
    let (name, hint) = failure(&validator.explain(&token(&b"x".repeat(32))).await);
    assert_eq!(name, "signature");
    assert!(hint.contains("`hs256_secret(...)`"), "{hint}");
}

#[tokio::test]
async fn explain_request_without_a_token_fails_the_token_check() {
    let (issuer, validator) = issuer_and_validator().await;
    let request = http::Request::get("/api/private")
        .body(())
        .expect("request");
    let report = validator.explain_request(&request).await;
    assert_eq!(report.checks[0].name, "token");
    assert_eq!(report.checks[0].outcome, Outcome::Fail);
    assert!(
        report.checks[1..]
            .iter()
            .all(|c| c.outcome == Outcome::NotReached)
    );
    let hint = report.checks[0].hint.as_deref().unwrap_or_default();
    assert!(hint.contains("Authorization: Bearer"), "{hint}");

    let request = http::Request::get("/api/private")
        .header("authorization", format!("Bearer {}", issuer.token().sign()))
        .body(())
        .expect("request");
    assert!(validator.explain_request(&request).await.passed());
}

#[tokio::test]
async fn the_display_is_one_aligned_line_per_check_then_the_hints() {
    let (issuer, validator) = issuer_and_validator().await;
    let token = issuer.token().audience("https://other.example.com").sign();
    let report = validator.explain(&token).await;
    let text = report.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), report.checks.len() + 1, "{text}");
    let column = |word: &str| -> Vec<usize> {
        lines[..report.checks.len()]
            .iter()
            .map(|line| line.find(word).expect("the column"))
            .collect()
    };
    for word in [" expected ", "  found "] {
        let at = column(word);
        assert!(at.iter().all(|&c| c == at[0]), "{word:?} aligned: {text}");
    }
    assert!(lines[7].starts_with("FAIL  aud "), "{text}");
    assert!(lines[0].starts_with("pass  token "), "{text}");
    assert!(lines[8].starts_with("-     exp "), "{text}");
    assert!(lines[15].starts_with("hint (aud): "), "{text}");
}

#[tokio::test]
async fn the_json_has_one_object_per_check() {
    let (issuer, validator) = issuer_and_validator().await;
    let report = validator
        .explain(&issuer.token().expires_in_secs(-600).sign())
        .await;
    let value = serde_json::to_value(&report).expect("json");
    let checks = value["checks"].as_array().expect("an array of checks");
    assert_eq!(checks.len(), 15);
    assert_eq!(checks[0]["name"], "token");
    assert_eq!(checks[0]["outcome"], "pass");
    assert_eq!(checks[0]["hint"], json!(null));
    let exp = &checks[8];
    assert_eq!(
        (exp["name"].as_str(), exp["outcome"].as_str()),
        (Some("exp"), Some("fail"))
    );
    assert!(
        exp["hint"]
            .as_str()
            .is_some_and(|hint| hint.contains("leeway"))
    );
    assert!(exp["expected"].is_string() && exp["found"].is_string());
    assert_eq!(checks[9]["outcome"], "not_reached");
    let mut keys: Vec<_> = exp.as_object().expect("object").keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["expected", "found", "hint", "name", "outcome"]);
}

#[tokio::test]
async fn an_introspected_opaque_token_is_reported_as_introspected() {
    let issuer = TestIssuer::start().await;
    issuer.register_client("api-client", "api-client-secret-0123456789abcdef");
    let validator = issuer
        .validator()
        .introspection("api-client", "api-client-secret-0123456789abcdef")
        .build()
        .expect("valid configuration");
    let active = issuer.opaque_token().issue();
    let report = validator.explain(&active).await;
    assert!(report.passed(), "{report}");
    assert_eq!(report.checks[5].found, "introspected");
    let (name, hint) = failure(
        &validator
            .explain("2YotnFZFEjr1zCsicMWpAA-never-issued")
            .await,
    );
    assert_eq!(name, "signature");
    assert!(hint.contains("not active"), "{hint}");
}

#[tokio::test]
async fn with_several_issuers_the_report_follows_the_tokens_iss() {
    let (first, second) = (TestIssuer::start().await, TestIssuer::start().await);
    let validator = Validator::for_issuers([
        first.validator().build().expect("valid configuration"),
        second.validator().build().expect("valid configuration"),
    ])
    .expect("valid issuers");
    assert!(validator.explain(&second.token().sign()).await.passed());
    let stranger = first.token().issuer("https://stranger.example.com/").sign();
    let report = validator.explain(&stranger).await;
    let (name, _) = failure(&report);
    assert_eq!(name, "iss");
    let iss = &report.checks[6];
    assert!(
        iss.expected.contains(first.issuer()) && iss.expected.contains(second.issuer()),
        "{report}"
    );
}
