//! Introspection answers read on their own, as the introspector reads them: for fuzzing the
//! answer parsers (plain RFC 7662 JSON and RFC 9701 signed answers) without an endpoint.

use serde_json::{Value, json};

use crate::claims::VerifiedClaims;
use crate::error::TokenProblem;
use crate::introspection::{ResponseKeys, decide_answer};
use crate::keys::KeySet;
use crate::scope::ScopeClaims;
use crate::validate::Rules;

/// What an API expects of an introspection answer: the issuer, the API's audience, its own
/// introspection client id, the issuer's key set (a JWK set), the time, and whether it
/// asked for a signed answer. The leeway is the default 60 s and `RS256` the one algorithm.
#[derive(Debug, Clone)]
pub struct AnswerRules {
    /// The configured issuer.
    pub issuer: String,
    /// The API's audience.
    pub audience: String,
    /// The API's own introspection client id (a signed answer's `aud`).
    pub client_id: String,
    /// The issuer's JWK set, which verifies signed answers.
    pub key_set: Value,
    /// The time of the answer (Unix seconds).
    pub now: i64,
    /// Whether the API asked for a signed answer.
    pub asked_signed: bool,
}

/// What the introspector makes of one answer `body` (`signed_media`: it came as
/// `application/token-introspection+jwt`): `Err` with the reason when it cannot be read or
/// trusted (the request would get a 503), `Ok(Ok(claims))` when the token is accepted,
/// `Ok(Err(problem))` when it is refused.
pub fn read_introspection_answer(
    rules: &AnswerRules,
    body: &[u8],
    signed_media: bool,
) -> Result<Result<VerifiedClaims, TokenProblem>, String> {
    let algorithms = [jsonwebtoken::Algorithm::RS256];
    let document = match rules.key_set.get("keys") {
        Some(_) => rules.key_set.clone(),
        None => json!({ "keys": [rules.key_set] }),
    };
    let (keys, _skipped) = KeySet::parse(document.to_string().as_bytes(), &algorithms, 100)
        .map_err(|_| "the key set is unusable".to_owned())?;
    let validation = Rules {
        issuer: rules.issuer.clone(),
        audiences: vec![rules.audience.clone()],
        algorithms: algorithms.to_vec(),
        leeway_secs: 60,
        scope_claims: ScopeClaims::default(),
        scope_hierarchy: Default::default(),
        rfc9068: false,
    };
    decide_answer(
        body,
        (signed_media, rules.asked_signed),
        &ResponseKeys::Static(std::sync::Arc::new(keys)),
        &validation,
        &rules.client_id,
        rules.now,
    )
}
