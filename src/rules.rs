//! Claim rules: requirements on a verified token's claims beyond issuer, audience, time and
//! scopes, each with its documented outcome (401 `invalid_token` by default, or 403
//! `insufficient_scope`).
//!
//! Rules compose: give several to a validator ([`ValidatorBuilder::claim_rule`]) or to a route
//! ([`RequireClaims`]); all must pass.
//!
//! ```
//! use std::time::Duration;
//! use bearer_guard::{ClaimRule, Validator};
//!
//! let validator = Validator::builder()
//!     .issuer("https://my-tenant.us.auth0.com/")
//!     .audience("https://api.example.com")
//!     .claim_rule(ClaimRule::client_id_in(["billing-service", "reporting-job"]))
//!     .claim_rule(ClaimRule::max_age(Duration::from_secs(3600)))
//!     .claim_rule(ClaimRule::equals("gty", "client-credentials"))
//!     .build()?;
//! # Ok::<(), bearer_guard::ConfigError>(())
//! ```
//!
//! [`ValidatorBuilder::claim_rule`]: crate::ValidatorBuilder::claim_rule
//! [`RequireClaims`]: crate::RequireClaims

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::claims::VerifiedClaims;
use crate::error::{AuthError, TokenProblem};

type Check = dyn Fn(&VerifiedClaims, i64) -> bool + Send + Sync;

/// One requirement on the claims of a verified token.
#[derive(Clone)]
pub struct ClaimRule {
    check: Arc<Check>,
    description: Arc<str>,
    insufficient_scope: bool,
    /// The refusal of a rule the crate sets itself, when it has a name of its own.
    problem: Option<TokenProblem>,
}

impl fmt::Debug for ClaimRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClaimRule")
            .field("description", &self.description)
            .field("insufficient_scope", &self.insufficient_scope)
            .finish_non_exhaustive()
    }
}

impl ClaimRule {
    fn new(
        description: String,
        check: impl Fn(&VerifiedClaims, i64) -> bool + Send + Sync + 'static,
    ) -> Self {
        ClaimRule {
            check: Arc::new(check),
            description: description.into(),
            insufficient_scope: false,
            problem: None,
        }
    }

    /// The token's `claim` (`tid` by default) must be `tenant` (issuers from a `{tenantid}`
    /// template), refused as [`TokenProblem::TenantMismatch`].
    pub(crate) fn tenant_is(claim: &str, tenant: &str) -> Self {
        let (claim, tenant) = (claim.to_owned(), tenant.to_owned());
        let mut rule = ClaimRule::new(
            TokenProblem::TenantMismatch.to_string(),
            move |claims, _| claims.get(&claim).and_then(Value::as_str) == Some(tenant.as_str()),
        );
        rule.problem = Some(TokenProblem::TenantMismatch);
        rule
    }

    /// The claim `name` must equal `expected` (any JSON value, compared exactly).
    pub fn equals(name: &str, expected: impl Into<Value>) -> Self {
        let (name, expected) = (name.to_owned(), expected.into());
        ClaimRule::new(
            format!("the {name} claim does not have the required value"),
            move |claims, _| claims.get(&name) == Some(&expected),
        )
    }

    /// The claim `name` must include `value`: as a word of a space-delimited string, or as an
    /// element of an array of strings.
    pub fn includes(name: &str, value: &str) -> Self {
        let (name, value) = (name.to_owned(), value.to_owned());
        ClaimRule::new(
            format!("the {name} claim does not include the required value"),
            move |claims, _| match claims.get(&name) {
                Some(Value::String(text)) => text.split(' ').any(|word| word == value),
                Some(Value::Array(items)) => items.iter().any(|item| item.as_str() == Some(&value)),
                _ => false,
            },
        )
    }

    /// The token must have been issued to one of these clients, as
    /// [`VerifiedClaims::client_id`] reads it (`client_id`, else `azp`, else `cid`).
    pub fn client_id_in<I, S>(clients: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let clients: Vec<String> = clients.into_iter().map(Into::into).collect();
        ClaimRule::new(
            "the token was issued to a client this API does not accept".to_owned(),
            move |claims, _| {
                claims
                    .client_id()
                    .is_some_and(|id| clients.iter().any(|c| c == id))
            },
        )
    }

    /// The token must be an exchanged one (RFC 8693) whose current actor, the outermost
    /// `act` ([`VerifiedClaims::actor`]), is one of `actors`. Only that actor counts: an
    /// allowed service deeper in the chain acted earlier and is not the caller. A token with
    /// no `act` fails; [`actor_in_or_direct`](Self::actor_in_or_direct) also lets it pass.
    pub fn actor_in<I, S>(actors: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::actor_rule(actors, false)
    }

    /// As [`actor_in`](Self::actor_in), but a direct token (no `act`: the subject calls for
    /// itself) passes too.
    pub fn actor_in_or_direct<I, S>(actors: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::actor_rule(actors, true)
    }

    fn actor_rule<I, S>(actors: I, direct: bool) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let actors: Vec<String> = actors.into_iter().map(Into::into).collect();
        ClaimRule::new(
            "the token's actor is not allowed here".to_owned(),
            move |claims, _| match claims.actor() {
                Some(actor) => actors.iter().any(|allowed| allowed == actor),
                None => direct,
            },
        )
    }

    /// The token must carry `iat` and be at most `max_age` old: bounds the lifetime of tokens
    /// whose `exp` is far away.
    pub fn max_age(max_age: Duration) -> Self {
        let max_age = i64::try_from(max_age.as_secs()).unwrap_or(i64::MAX);
        ClaimRule::new(
            "the token is older than this API accepts".to_owned(),
            move |claims, now| {
                claims
                    .get("iat")
                    .and_then(Value::as_f64)
                    .is_some_and(|iat| now.saturating_sub(iat.floor() as i64) <= max_age)
            },
        )
    }

    /// Any check over the claims; `description` becomes the `error_description` when it
    /// fails (keep it short, and free of claim values).
    pub fn predicate(
        description: impl Into<String>,
        check: impl Fn(&VerifiedClaims) -> bool + Send + Sync + 'static,
    ) -> Self {
        ClaimRule::new(description.into(), move |claims, _| check(claims))
    }

    /// Answers a failure with 403 `insufficient_scope` (the token is fine, but not allowed
    /// here) instead of 401 `invalid_token`.
    pub fn or_forbidden(mut self) -> Self {
        self.insufficient_scope = true;
        self
    }

    /// Replaces the `error_description` of a failure.
    pub fn describe(mut self, description: impl Into<String>) -> Self {
        self.description = description.into().into();
        self
    }

    /// `Ok` when the claims meet the rule at `now` (Unix seconds).
    pub(crate) fn check(&self, claims: &VerifiedClaims, now: i64) -> Result<(), AuthError> {
        if (self.check)(claims, now) {
            Ok(())
        } else if let Some(problem) = self.problem {
            Err(AuthError::InvalidToken(problem))
        } else {
            Err(AuthError::RuleFailed {
                description: self.description.to_string(),
                insufficient_scope: self.insufficient_scope,
            })
        }
    }
}

/// Checks every rule, in order; the first failure answers. The rules read the map of every
/// claim: it is built first, and a token whose map cannot be built is refused.
pub(crate) fn check_all(
    rules: &[ClaimRule],
    claims: &VerifiedClaims,
    now: i64,
) -> Result<(), AuthError> {
    if !rules.is_empty() {
        claims.all_checked().map_err(AuthError::InvalidToken)?;
    }
    rules.iter().try_for_each(|rule| rule.check(claims, now))
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, json};

    use super::*;
    use crate::scope::Scopes;

    /// JWT claims read in one pass from `text`, the map not built.
    fn lazy_claims(text: &str) -> VerifiedClaims {
        let registered: Map<String, Value> = Map::new();
        let text = Box::from(text);
        VerifiedClaims::from_payload(
            "iss".into(),
            vec![],
            i64::MAX,
            Scopes::default(),
            &registered,
            text,
            0,
        )
        .unwrap()
    }

    /// Rules judge the token's own map: it is built before they run, and a payload that
    /// cannot be read as one refuses the token instead of an empty map being judged (a rule
    /// that only forbids a value would pass an empty map).
    #[test]
    fn rules_are_never_asked_about_a_map_that_is_not_the_tokens() {
        let not_admin = ClaimRule::new("no admins".into(), |claims, _| {
            claims.get("role") != Some(&json!("admin"))
        });
        let rules = [not_admin];
        let admin = lazy_claims(r#"{"role":"admin"}"#);
        assert!(check_all(&rules, &admin, 0).is_err());
        let user = lazy_claims(r#"{"role":"user"}"#);
        assert!(check_all(&rules, &user, 0).is_ok());
        assert!(user.map_is_built());
        let unreadable = lazy_claims(r#"{"role":"admin","role":"user"}"#);
        assert_eq!(
            check_all(&rules, &unreadable, 0).err(),
            Some(AuthError::InvalidToken(TokenProblem::MalformedClaims))
        );
        // Without rules nothing is built.
        let untouched = lazy_claims(r#"{"role":"user"}"#);
        assert!(check_all(&[], &untouched, 0).is_ok());
        assert!(!untouched.map_is_built());
    }
}
