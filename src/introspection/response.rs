//! Reading an introspection response: the JSON object of RFC 7662 §2.2, or the signed JWT of
//! RFC 9701 that carries it, and the rules that decide whether the token is accepted.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::cache::Verdict;
use crate::claims::UniqueKeyObject;
use crate::error::{Claim, TokenProblem};
use crate::jwks::JwksCache;
use crate::keys::{KeySet, VerificationKey};
use crate::validate::{self, Outcome, Rules};

/// The media type of an RFC 9701 signed introspection response.
pub(crate) const JWT_MEDIA_TYPE: &str = "application/token-introspection+jwt";

/// Why an answer of the introspection endpoint could not be read. The token is then
/// neither accepted nor refused: the request gets a 503.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Unreadable {
    #[error("the introspection response is not a JSON object with unique member names")]
    NotAnObject,
    #[error("the introspection response has no boolean `active`")]
    NoActive,
    #[error("a signed introspection response came, but no key set is configured to verify it")]
    NoKeys,
    #[error("the signed introspection response is malformed or its signature does not verify")]
    BadSignature,
    #[error("the signed introspection response is not of type token-introspection+jwt")]
    WrongType,
    #[error("the signed introspection response has another issuer or audience, or no iat")]
    WrongClaims,
    #[error("the issuer's key set could not be fetched to verify a signed introspection response")]
    KeysUnavailable,
}

/// The keys that verify signed (RFC 9701) responses: the issuer's key set.
#[derive(Clone)]
pub(crate) enum ResponseKeys {
    /// A secret only: signed responses are neither asked for nor accepted.
    None,
    Jwks(Arc<JwksCache>),
    Static(Arc<KeySet>),
}

impl ResponseKeys {
    /// Whether signed responses can be verified.
    pub(crate) fn available(&self) -> bool {
        !matches!(self, ResponseKeys::None)
    }
}

/// The JSON object of a plain response.
pub(crate) fn parse_json(body: &[u8]) -> Result<Map<String, Value>, Unreadable> {
    serde_json::from_slice::<UniqueKeyObject>(body)
        .map(|UniqueKeyObject(object)| object)
        .map_err(|_| Unreadable::NotAnObject)
}

/// The response object inside an RFC 9701 signed response, once its signature (with the
/// issuer's keys, under the validator's algorithm allow-list), its `typ`, its `iss` (the
/// issuer), its `aud` (this API: its introspection client id or one of its audiences) and
/// its `iat` are checked.
pub(crate) async fn unwrap_jwt(
    body: &[u8],
    keys: &ResponseKeys,
    rules: &Rules,
    client_id: &str,
) -> Result<Map<String, Value>, Unreadable> {
    let text = std::str::from_utf8(body).map_err(|_| Unreadable::BadSignature)?;
    let parsed = validate::parse_jws(text.trim(), rules).map_err(|_| Unreadable::BadSignature)?;
    let typ = parsed.typ.as_deref().map(validate::media_subtype);
    if !typ.is_some_and(|typ| typ.eq_ignore_ascii_case("token-introspection+jwt")) {
        return Err(Unreadable::WrongType);
    }
    let verified = |keys: &KeySet| -> Result<Arc<VerificationKey>, Option<Unreadable>> {
        validate::verify_signature(&parsed, keys).map_err(|outcome| match outcome {
            Outcome::UnknownKey => None,
            _ => Some(Unreadable::BadSignature),
        })
    };
    match keys {
        ResponseKeys::None => return Err(Unreadable::NoKeys),
        ResponseKeys::Static(set) => {
            verified(set).map_err(|e| e.unwrap_or(Unreadable::BadSignature))?;
        }
        ResponseKeys::Jwks(cache) => {
            if !matches!(cache.with_current(|set| verified(set)), Some(Ok(_))) {
                let snapshot = cache
                    .refreshed()
                    .await
                    .map_err(|_| Unreadable::KeysUnavailable)?;
                verified(&snapshot.keys).map_err(|e| e.unwrap_or(Unreadable::BadSignature))?;
            }
        }
    }
    let UniqueKeyObject(mut claims) =
        serde_json::from_slice(parsed.payload()).map_err(|_| Unreadable::BadSignature)?;
    let issuer_ok = claims.get("iss").and_then(Value::as_str) == Some(rules.issuer.as_str());
    let for_us = |aud: &str| aud == client_id || rules.audiences.iter().any(|ours| ours == aud);
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => for_us(aud),
        Some(Value::Array(auds)) => auds.iter().filter_map(Value::as_str).any(for_us),
        _ => false,
    };
    let iat_ok = claims.get("iat").is_some_and(Value::is_number);
    if !(issuer_ok && audience_ok && iat_ok) {
        return Err(Unreadable::WrongClaims);
    }
    match claims.remove("token_introspection") {
        Some(Value::Object(response)) => Ok(response),
        _ => Err(Unreadable::NotAnObject),
    }
}

/// Decides a response object: accepted only when `active` is `true`, `token_type` (and
/// `token_use`, ORY Hydra's) say access token when present, and the claims pass the same
/// rules as a JWT's (`iss` when present, `aud`, `exp`, `nbf`, `iat`, the scope claims).
pub(crate) fn decide(
    mut response: Map<String, Value>,
    rules: &Rules,
    now: i64,
) -> Result<Verdict, Unreadable> {
    match response.get("active") {
        Some(Value::Bool(true)) => {}
        Some(Value::Bool(false)) => return Ok(Verdict::Refused(TokenProblem::Inactive)),
        _ => return Err(Unreadable::NoActive),
    }
    let says_access_token = |name: &str, accepted: &[&str]| match response.get(name) {
        None => true,
        Some(Value::String(kind)) => accepted.iter().any(|a| kind.eq_ignore_ascii_case(a)),
        Some(_) => false,
    };
    if !says_access_token(
        "token_type",
        &[
            "bearer",
            "access_token",
            "urn:ietf:params:oauth:token-type:access_token",
        ],
    ) || !says_access_token("token_use", &["access_token"])
    {
        return Ok(Verdict::Refused(TokenProblem::NotAnAccessToken));
    }
    let not_before = match response.get(Claim::NotBefore.name()) {
        Some(value) => value.as_f64().map(|nbf| nbf.floor() as i64),
        None => None,
    };
    // `active` is the endpoint's answer, not a claim of the token.
    response.remove("active");
    Ok(
        match validate::check_introspected_claims(response, rules, now) {
            Ok(claims) => Verdict::Active { claims, not_before },
            Err(problem) => Verdict::Refused(problem),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::ScopeClaims;
    use serde_json::json;

    const NOW: i64 = 1_700_000_000;

    fn rules() -> Rules {
        Rules {
            issuer: "https://issuer.example/".into(),
            audiences: vec!["https://api.example.com".into()],
            algorithms: vec![jsonwebtoken::Algorithm::RS256],
            leeway_secs: 0,
            scope_claims: ScopeClaims::default(),
            rfc9068: true,
        }
    }

    fn decided(changes: Value) -> Result<Verdict, Unreadable> {
        let mut response = json!({
            "active": true,
            "iss": "https://issuer.example/",
            "aud": "https://api.example.com",
            "exp": NOW + 60,
            "scope": "read:messages write:messages",
            "client_id": "c",
            "token_type": "Bearer",
        });
        for (name, value) in changes.as_object().unwrap() {
            if value.is_null() {
                response.as_object_mut().unwrap().remove(name);
            } else {
                response[name] = value.clone();
            }
        }
        decide(response.as_object().unwrap().clone(), &rules(), NOW)
    }

    fn problem(changes: Value) -> Option<TokenProblem> {
        match decided(changes) {
            Ok(Verdict::Refused(problem)) => Some(problem),
            _ => None,
        }
    }

    #[test]
    fn an_active_response_becomes_the_claims() {
        let Ok(Verdict::Active { claims, .. }) = decided(json!({})) else {
            panic!("accepted");
        };
        assert!(claims.has_scope("write:messages"));
        assert_eq!(claims.client_id(), Some("c"));
        assert!(claims.get("active").is_none());
        // No `iss`: the configured issuer. RFC 9068's claims are not required.
        let Ok(Verdict::Active { claims, .. }) = decided(json!({"iss": null})) else {
            panic!("accepted without iss");
        };
        assert_eq!(claims.issuer(), "https://issuer.example/");
    }

    #[test]
    fn each_rule_refuses() {
        assert_eq!(
            problem(json!({"active": false})),
            Some(TokenProblem::Inactive)
        );
        assert_eq!(
            problem(json!({"aud": "https://other.example"})),
            Some(TokenProblem::WrongAudience)
        );
        assert_eq!(
            problem(json!({"aud": null})),
            Some(TokenProblem::MissingClaim(Claim::Audience))
        );
        assert_eq!(
            problem(json!({"iss": "https://evil.example/"})),
            Some(TokenProblem::WrongIssuer)
        );
        assert_eq!(problem(json!({"exp": NOW})), Some(TokenProblem::Expired));
        assert_eq!(
            problem(json!({"nbf": NOW + 30})),
            Some(TokenProblem::NotYetValid)
        );
        for kind in ["refresh_token", "DPoP", "N_A"] {
            assert_eq!(
                problem(json!({ "token_type": kind })),
                Some(TokenProblem::NotAnAccessToken),
                "{kind}"
            );
        }
        assert_eq!(
            problem(json!({"token_use": "refresh_token"})),
            Some(TokenProblem::NotAnAccessToken)
        );
    }

    #[test]
    fn active_must_be_a_boolean() {
        for active in [json!("true"), json!(1), Value::Null] {
            assert_eq!(
                decided(json!({ "active": active })).err(),
                Some(Unreadable::NoActive)
            );
        }
        assert!(parse_json(br#"{"active":true,"active":false}"#).is_err());
        assert!(parse_json(b"[]").is_err());
    }
}
