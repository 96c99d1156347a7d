//! Signature checks on their own, for signature test vectors such as Wycheproof's.

use jsonwebtoken::Algorithm;
use serde_json::{Value, json};

use crate::keys::{KeyParser, KeySet, KeySkipped, VerificationKey, check_metadata};

/// Verifies the signature of a compact JWS against JWK key material exactly as the validator
/// would (algorithm allow-list, header rules, key policy, key choice, signature) but without
/// looking at the payload: for signature test vectors such as Wycheproof's.
///
/// `key_material` is one JWK or a JWK set. Secrets (`kty: oct`) are verified as in secret
/// mode (`HS*` only); public keys as in key set mode (`RS*`, `PS*`, `ES256`, `ES384`,
/// `EdDSA`). Key material the key policy refuses verifies nothing
/// ([`TokenProblem::UnknownKey`](crate::error::TokenProblem::UnknownKey)).
pub fn verify_signature(key_material: &Value, jws: &str) -> Result<(), crate::error::TokenProblem> {
    use crate::error::TokenProblem;
    use jsonwebtoken::Algorithm::*;
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
    // Secrets are parsed as secret mode takes them; key sets never hold them.
    let parse_one: KeyParser = if all_secrets {
        parse_secret
    } else {
        crate::keys::parse_key
    };
    let (keys, _skipped) =
        KeySet::parse_with(document.to_string().as_bytes(), &algorithms, 100, parse_one)
            .map_err(|_| TokenProblem::UnknownKey)?;
    let rules = crate::validate::Rules {
        issuer: String::new(),
        audiences: Vec::new(),
        algorithms,
        leeway_secs: 0,
        scope_claims: crate::scope::ScopeClaims::default(),
        scope_hierarchy: Default::default(),
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

/// Applies the key policy to one secret (`kty: oct`) JWK, for HMAC verification.
fn parse_secret(raw: &Value, accepted_algs: &[Algorithm]) -> Result<VerificationKey, KeySkipped> {
    use base64::Engine;
    let pinned_alg = check_metadata(raw)?;
    let secret = raw
        .get("k")
        .and_then(Value::as_str)
        .and_then(|k| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(k)
                .ok()
        })
        .ok_or(KeySkipped::Unparsable)?;
    VerificationKey::hmac(&secret, pinned_alg, accepted_algs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::TokenProblem;
    use crate::keys::KeyChoice;

    #[test]
    fn secrets_must_be_as_long_as_the_hash() {
        use base64::Engine;
        let secret = |bytes: usize| {
            let k = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(vec![1u8; bytes]);
            json!({"kty": "oct", "kid": "s", "k": k})
        };
        let hs = &[Algorithm::HS256, Algorithm::HS384];
        let parse = |jwk: Value| {
            let document = json!({ "keys": [jwk] }).to_string();
            KeySet::parse_with(document.as_bytes(), hs, 10, parse_secret).unwrap()
        };
        let (set, _) = parse(secret(40));
        assert!(matches!(
            set.choose(Some("s"), Algorithm::HS256),
            KeyChoice::Found(_)
        ));
        assert!(matches!(
            set.choose(Some("s"), Algorithm::HS384),
            KeyChoice::Rejected(TokenProblem::KeyMismatch)
        ));
        let (short, skipped) = parse(secret(31));
        assert_eq!(
            (short.len(), skipped[0].1.clone()),
            (0, KeySkipped::AlgorithmNotAccepted)
        );
    }
}
