//! Reading an introspection response: the JSON object of RFC 7662 §2.2, or the signed JWT of
//! RFC 9701 that carries it, and the rules that decide whether the token is accepted.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::cache::Verdict;
use crate::error::{Claim, TokenProblem};
use crate::json_members::UniqueKeyObject;
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
    #[error(
        "the signed introspection response has another issuer, is not addressed to the API's \
         client id, or its iat is missing or not fresh"
    )]
    WrongClaims,
    /// A signed answer was asked for and a plain one came: an answer anyone on the path
    /// could have written (RFC 9701 §5, no downgrade).
    #[error("a signed introspection response was asked for and a plain JSON one came")]
    Unsigned,
    #[error("the issuer's key set could not be fetched to verify a signed introspection response")]
    KeysUnavailable,
}

/// How old a signed answer's `iat` may be (beyond the leeway): the answer is made for this
/// call, so an older one is a replay of an earlier answer.
pub(crate) const MAX_SIGNED_ANSWER_AGE_SECS: i64 = 60;

/// The keys that verify signed (RFC 9701) responses: the issuer's key set.
#[derive(Clone)]
pub(crate) enum ResponseKeys {
    /// A secret only: signed responses are neither asked for nor accepted.
    None,
    Jwks(Arc<JwksCache>),
    Static(Arc<KeySet>),
}

/// The members that name the kind of token, and the names of an access token in each
/// (`DPoP`, a token type, is one in `token_type` and Keycloak's `typ`, not in Hydra's
/// `token_use`). Anything else (a refresh or ID token, a name this crate does not know, a
/// value that is not a string) is refused.
const TOKEN_KINDS: &[(&str, &[&str])] = &[
    (
        "token_type",
        &[
            "bearer",
            "dpop",
            "access_token",
            "urn:ietf:params:oauth:token-type:access_token",
        ],
    ),
    ("typ", &["bearer", "dpop"]),
    ("token_use", &["access_token"]),
];

/// Whether `cnf.jkt` is a non-empty string: the key a `DPoP` token is bound to.
fn bound_to_a_key(response: &Map<String, Value>) -> bool {
    response
        .get("cnf")
        .and_then(|cnf| cnf.get("jkt"))
        .and_then(Value::as_str)
        .is_some_and(|jkt| !jkt.is_empty())
}

/// The response object of an answer: unwrapped from a signed answer (`signed_media`: it came
/// as [`JWT_MEDIA_TYPE`]); from a plain one only when no signed answer was asked for
/// (`asked_signed`), since a plain answer where a signed one was asked for could have been
/// written by anyone on the path (RFC 9701 §5: no downgrade).
pub(crate) async fn read(
    body: &[u8],
    signed_media: bool,
    asked_signed: bool,
    keys: &ResponseKeys,
    rules: &Rules,
    client_id: &str,
    now: i64,
) -> Result<Map<String, Value>, Unreadable> {
    if signed_media {
        unwrap_jwt(body, keys, rules, client_id, now).await
    } else if asked_signed {
        Err(Unreadable::Unsigned)
    } else {
        parse_json(body)
    }
}

/// The JSON object of a plain response.
fn parse_json(body: &[u8]) -> Result<Map<String, Value>, Unreadable> {
    serde_json::from_slice::<UniqueKeyObject>(body)
        .map(|UniqueKeyObject(object)| object)
        .map_err(|_| Unreadable::NotAnObject)
}

/// The response object inside an RFC 9701 signed response, once its signature (with the
/// issuer's keys, under the validator's algorithm allow-list), its `typ`, its `iss` (the
/// issuer), its `aud` (the API's own introspection client id: RFC 9701 §5 addresses the
/// answer to the caller, and an answer addressed to another resource server, or to the
/// API's token audience, may have been made for someone else) and its `iat` (within the
/// leeway of `now`, and at most [`MAX_SIGNED_ANSWER_AGE_SECS`] old) are checked.
async fn unwrap_jwt(
    body: &[u8],
    keys: &ResponseKeys,
    rules: &Rules,
    client_id: &str,
    now: i64,
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
    let UniqueKeyObject(claims) =
        serde_json::from_slice(parsed.payload()).map_err(|_| Unreadable::BadSignature)?;
    let issuer_ok = claims.get("iss").and_then(Value::as_str) == Some(rules.issuer.as_str());
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => aud == client_id,
        Some(Value::Array(auds)) => auds.iter().any(|aud| aud.as_str() == Some(client_id)),
        _ => false,
    };
    let leeway = rules.leeway_secs;
    let iat_ok = claims
        .get("iat")
        .and_then(Value::as_f64)
        .is_some_and(|iat| {
            let oldest = now.saturating_sub(MAX_SIGNED_ANSWER_AGE_SECS.saturating_add(leeway));
            iat >= oldest as f64 && iat <= now.saturating_add(leeway) as f64
        });
    if !(issuer_ok && audience_ok && iat_ok) {
        return Err(Unreadable::WrongClaims);
    }
    // Read again for the answer inside, with unique names as a plain answer's: the envelope's
    // map would keep the last of a repeated name ("which one did you check?").
    serde_json::from_slice::<Signed>(parsed.payload())
        .map(
            |Signed {
                 token_introspection,
             }| token_introspection.0,
        )
        .map_err(|_| Unreadable::NotAnObject)
}

/// The member of a signed answer that carries the answer.
#[derive(serde::Deserialize)]
struct Signed {
    token_introspection: UniqueKeyObject,
}

/// Decides a response object: accepted only when `active` is `true`, every member that
/// names the kind of token (`token_type` of RFC 7662, Keycloak's `typ`, ORY Hydra's
/// `token_use`) names an access token when present, and the claims pass the same rules as a
/// JWT's (`iss` when present, `aud`, `exp`, `nbf`, `iat`, the scope claims). `DPoP` (RFC
/// 9449 §6.2) is an access token bound to the key of `cnf.jkt`: without that member it is
/// bound to nothing the request could prove, and refused; with it, the binding is checked on
/// every request as a bound JWT's is.
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
    let mut dpop = false;
    for (member, names) in TOKEN_KINDS {
        match response.get(*member) {
            None => {}
            Some(Value::String(kind)) if names.iter().any(|n| kind.eq_ignore_ascii_case(n)) => {
                dpop |= kind.eq_ignore_ascii_case("dpop");
            }
            Some(_) => return Ok(Verdict::Refused(TokenProblem::NotAnAccessToken)),
        }
    }
    if dpop && !bound_to_a_key(&response) {
        return Ok(Verdict::Refused(TokenProblem::MissingClaim(
            Claim::Confirmation,
        )));
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
            scope_hierarchy: Default::default(),
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
        assert_eq!(
            problem(json!({"token_type": "DPoP"})),
            Some(TokenProblem::MissingClaim(Claim::Confirmation))
        );
        assert!(matches!(
            decided(json!({"token_type": "DPoP", "cnf": {"jkt": "abc"}})),
            Ok(Verdict::Active { .. })
        ));
        // Found by the fuzzer: `DPoP` names a token type, not a use (ORY Hydra's `token_use`
        // says access or refresh token), so there it names nothing this crate knows.
        assert_eq!(
            problem(json!({"token_use": "DPoP", "cnf": {"jkt": "abc"}})),
            Some(TokenProblem::NotAnAccessToken)
        );
        for kind in ["refresh_token", "N_A"] {
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
