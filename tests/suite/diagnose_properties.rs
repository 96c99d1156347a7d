//! `Validator::explain` as a property test.
//!
//! Arbitrary text, and tokens MACed with the secret (or not) whose header and claims are
//! arbitrary: `explain` never panics, agrees with `validate`, fails at most one check, and
//! never prints the secret or the signature.

use crate::common;

use std::sync::OnceLock;

use bearer_guard::Validator;
use bearer_guard::diagnose::Outcome;
use bearer_guard::testing::{DEFAULT_AUDIENCE, TokenBuilder};
use common::{HS_ISSUER, HS_SECRET, hs_builder};
use proptest::prelude::*;
use serde_json::{Value, json};

fn world() -> &'static (tokio::runtime::Runtime, Validator) {
    static WORLD: OnceLock<(tokio::runtime::Runtime, Validator)> = OnceLock::new();
    WORLD.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let validator = hs_builder().build().expect("valid configuration");
        (runtime, validator)
    })
}

fn json_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(null)),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|f| json!(f)),
        "\\PC{0,12}".prop_map(Value::from),
        Just(json!(HS_ISSUER)),
        Just(json!(DEFAULT_AUDIENCE)),
        Just(json!([DEFAULT_AUDIENCE, "x"])),
        Just(json!({"jkt": "a"})),
    ]
}

fn check(token: &str) -> Result<(), TestCaseError> {
    let (runtime, validator) = world();
    let verdict = runtime.block_on(validator.validate(token));
    let report = runtime.block_on(validator.explain(token));
    prop_assert_eq!(report.passed(), verdict.is_ok());
    let failures = report.checks.iter().filter(|c| c.outcome == Outcome::Fail);
    prop_assert_eq!(failures.count(), usize::from(verdict.is_err()));
    let printed = format!("{report}{}", serde_json::to_string(&report).expect("json"));
    prop_assert!(!printed.contains(std::str::from_utf8(HS_SECRET).expect("a text secret")));
    if let Some(signature) = token.split('.').nth(2).filter(|s| s.len() > 8) {
        prop_assert!(!printed.contains(signature));
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn arbitrary_text_is_explained_as_validate_decides(token in "\\PC{0,80}") {
        check(&token)?;
    }

    #[test]
    fn arbitrary_claims_and_headers_are_explained_as_validate_decides(
        claims in prop::collection::vec(
            (prop::sample::select(vec!["iss", "aud", "exp", "nbf", "iat", "scope", "cnf"]),
             json_value()),
            0..5,
        ),
        header in prop::option::of((prop::sample::select(vec!["alg", "typ", "kid", "crit"]),
                                    json_value())),
        secret in prop::sample::select(vec![HS_SECRET, b"another-secret-of-forty-bytes-0123456789"]),
    ) {
        let mut token = TokenBuilder::hs256(secret)
            .issuer(HS_ISSUER)
            .audience(DEFAULT_AUDIENCE)
            .expires_in_secs(600);
        for (name, value) in claims {
            token = token.claim(name, value);
        }
        if let Some((name, value)) = header {
            token = token.header(name, value);
        }
        check(&token.sign())?;
    }
}
