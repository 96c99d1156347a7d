//! Signature checks on their own, for signature test vectors such as Wycheproof's.

use serde_json::{Value, json};

/// Verifies the signature of a compact JWS against JWK key material exactly as the validator
/// would (algorithm allow-list, header rules, key policy, key choice, signature) but without
/// looking at the payload: for signature test vectors such as Wycheproof's.
///
/// `key_material` is one JWK or a JWK set. Secrets (`kty: oct`) are verified as in secret
/// mode (`HS*` only); public keys as in key set mode (`RS*`, `PS*`, `ES256`, `ES384`,
/// `EdDSA`). Key material the key policy refuses verifies nothing
/// ([`TokenProblem::UnknownKey`](crate::TokenProblem::UnknownKey)).
pub fn verify_signature(key_material: &Value, jws: &str) -> Result<(), crate::TokenProblem> {
    use crate::Algorithm::*;
    use crate::TokenProblem;
    let document = match key_material.get("keys") {
        Some(_) => key_material.clone(),
        None => json!({ "keys": [key_material] }),
    };
    let all_secrets = document["keys"].as_array().is_some_and(|keys| {
        keys.iter()
            .all(|k| k.get("kty") == Some(&Value::from("oct")))
    });
    let algorithms = if all_secrets {
        vec![HS256, HS384, HS512]
    } else {
        vec![
            RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA,
        ]
    };
    let (keys, _skipped) =
        crate::keys::KeySet::parse(document.to_string().as_bytes(), &algorithms, 100)
            .map_err(|_| TokenProblem::UnknownKey)?;
    let rules = crate::validate::Rules {
        issuer: String::new(),
        audiences: Vec::new(),
        algorithms,
        leeway_secs: 0,
        scope_claims: crate::ScopeClaims::default(),
        rfc9068: false,
    };
    let parsed = crate::validate::parse(jws, &rules)?;
    crate::validate::verify_signature(&parsed, &keys)
        .map(drop)
        .map_err(|outcome| match outcome {
            crate::validate::Outcome::Invalid(problem) => problem,
            _ => TokenProblem::UnknownKey,
        })
}
