//! Delegation chains (RFC 8693 §4.1): the `act` claim of an exchanged token, read into a typed
//! chain of [`Actor`]s, outermost (the current actor) first.
//!
//! The chain is read once, when the token is verified; a malformed `act` refuses the token
//! (401 `invalid_token`, "the act claim is invalid") rather than being ignored, since a rule
//! about actors could otherwise be passed by a token whose actor no one could read.

use serde_json::Value;

use crate::error::{Claim, TokenProblem};
use crate::json_members::ClaimLookup;

/// The deepest `act` nesting accepted: real exchanges chain a handful of services, and a
/// bound keeps a crafted token from making every request walk an absurd chain.
pub const MAX_ACTOR_DEPTH: usize = 16;

/// One party in a delegation chain: who acted on behalf of the token's subject.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Actor {
    /// `sub`: the actor's identity (a client or service id).
    pub subject: String,
    /// `iss`: the issuer that named the actor, when the `act` object carries one.
    pub issuer: Option<String>,
}

/// Reads the `act` chain of `claims`, outermost first; empty when there is no `act`.
///
/// `act` must be an object with a string `sub` and, if present, a string `iss`, at every
/// level, and nest at most [`MAX_ACTOR_DEPTH`] deep.
pub(crate) fn actor_chain(claims: &impl ClaimLookup) -> Result<Vec<Actor>, TokenProblem> {
    let invalid = TokenProblem::InvalidClaim(Claim::Actor);
    let mut chain = Vec::new();
    let mut next = claims.claim("act");
    while let Some(act) = next {
        if chain.len() == MAX_ACTOR_DEPTH {
            return Err(invalid);
        }
        let Value::Object(act) = act else {
            return Err(invalid);
        };
        let subject = match act.get("sub") {
            Some(Value::String(sub)) if !sub.is_empty() => sub.clone(),
            _ => return Err(invalid),
        };
        let issuer = match act.get("iss") {
            None => None,
            Some(Value::String(iss)) => Some(iss.clone()),
            Some(_) => return Err(invalid),
        };
        chain.push(Actor { subject, issuer });
        next = act.get("act");
    }
    Ok(chain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn chain(claims: Value) -> Result<Vec<Actor>, TokenProblem> {
        actor_chain(claims.as_object().expect("an object"))
    }

    #[test]
    fn the_chain_is_read_outermost_first() {
        let actors = chain(json!({
            "sub": "user",
            "act": { "sub": "b", "iss": "https://a.example", "act": { "sub": "a" } },
        }))
        .unwrap();
        let subjects: Vec<_> = actors.iter().map(|a| a.subject.as_str()).collect();
        assert_eq!(subjects, ["b", "a"]);
        assert_eq!(actors[0].issuer.as_deref(), Some("https://a.example"));
        assert_eq!(actors[1].issuer, None);
        assert_eq!(chain(json!({ "sub": "user" })).unwrap(), []);
    }

    #[test]
    fn malformed_acts_are_invalid() {
        let invalid = Err(TokenProblem::InvalidClaim(Claim::Actor));
        for act in [
            json!("service-a"),
            json!(["service-a"]),
            json!(null),
            json!({}),
            json!({ "sub": 7 }),
            json!({ "sub": "" }),
            json!({ "sub": "a", "iss": 1 }),
            json!({ "sub": "a", "act": "b" }),
            json!({ "sub": "a", "act": { "iss": "x" } }),
        ] {
            assert_eq!(chain(json!({ "act": act })), invalid, "{act}");
        }
    }

    #[test]
    fn the_depth_is_bounded() {
        let nested = |depth: usize| {
            (0..depth).fold(None, |inner: Option<Value>, level| {
                let mut act = json!({ "sub": format!("s{level}") });
                if let Some(inner) = inner {
                    act["act"] = inner;
                }
                Some(act)
            })
        };
        let at_bound = chain(json!({ "act": nested(MAX_ACTOR_DEPTH) })).unwrap();
        assert_eq!(at_bound.len(), MAX_ACTOR_DEPTH);
        assert_eq!(
            chain(json!({ "act": nested(MAX_ACTOR_DEPTH + 1) })),
            Err(TokenProblem::InvalidClaim(Claim::Actor))
        );
    }
}
