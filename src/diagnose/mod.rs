//! Why is my token refused? [`Validator::explain`] walks a token through the validator's
//! checks, in the pipeline's order, and says for each what the configuration expects, what the
//! token has, whether it passed, and, for the common mistakes, which setting to change.
//!
//! **A development aid**: print the report in a terminal, a test or a log of your own, never
//! in a response to a client (it describes the API's configuration).
//!
//! The verdict is the validator's own: [`Validator::validate`] decides the token and the
//! report places its answer on one check (so [`Explanation::passed`] is exactly
//! `validate(token).is_ok()`; for [`Validator::explain_request`], the layer's verdict on the
//! request but for the replay store, which explaining never writes); the header and claims
//! shown beside it are decoded without verification, for display only. Nothing is contacted
//! that a validation would not contact (the key set as `validate` fetches it; never a `jku`
//! or `x5u`; the introspection endpoint only when the validator introspects), and the report
//! never holds the token's signature or a secret.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! use bearer_guard::testing::TestIssuer;
//!
//! let issuer = TestIssuer::start().await;
//! let validator = issuer.validator().build().unwrap();
//! // A token for another API than this one.
//! let token = issuer.token().audience("https://billing.example.com").sign();
//! let report = validator.explain(&token).await;
//! assert!(!report.passed());
//! let failed = report.first_failure().unwrap();
//! assert_eq!(failed.name, "aud");
//! println!("{report}");
//! # }
//! ```

mod hints;
mod proof_hints;
mod seen;

use std::fmt;

use serde::Serialize;

use crate::Validator;
use crate::dpop::{Presented, Scheme};
use crate::error::{AuthError, Claim, TokenProblem};
use crate::extract::{Schemes, request_token};
use crate::issuer::{Validation, unix_now};
use crate::resolver::RequestView;
use seen::{Seen, shown};

/// The report of [`Validator::explain`]: every check, in the pipeline's order.
#[derive(Debug, Clone, Serialize)]
pub struct Explanation {
    /// The checks, in the order the validator applies them.
    pub checks: Vec<Check>,
}

/// One check of the pipeline, with what was expected and found.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// The check's name: `"token"`, `"format"`, `"alg"`, `"typ"`, `"kid"`, `"signature"`,
    /// `"iss"`, `"aud"`, `"exp"`, `"nbf"`, `"iat"`, `"claims"` (RFC 9068's required claims),
    /// `"scopes"`, `"binding"`, `"rules"` (the validator's claim rules).
    pub name: &'static str,
    /// What the configuration wants.
    pub expected: String,
    /// What the token has (never its signature or a secret); on the failing check, followed
    /// by the reason the validator gives.
    pub found: String,
    /// Whether the check passed, failed, or was not reached after an earlier failure.
    pub outcome: Outcome,
    /// For the common mistakes: what is likely wrong, naming the setting to change. A passing
    /// check may have one too (scopes in a claim the validator does not read).
    pub hint: Option<String>,
}

/// The outcome of one [`Check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The check passed.
    Pass,
    /// The check failed: the token is refused here.
    Fail,
    /// An earlier check failed, so the validator never got here.
    NotReached,
}

/// The checks, in the order of the pipeline (`issuer.rs`, `validate/`).
const ORDER: [&str; 15] = [
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
    "rules",
];

impl Explanation {
    /// Whether every check passed: exactly when [`Validator::validate`] accepts the token.
    pub fn passed(&self) -> bool {
        self.checks
            .iter()
            .all(|check| check.outcome == Outcome::Pass)
    }

    /// The check the token failed, if any.
    pub fn first_failure(&self) -> Option<&Check> {
        self.checks
            .iter()
            .find(|check| check.outcome == Outcome::Fail)
    }
}

impl fmt::Display for Explanation {
    /// One aligned line per check (outcome, name, expected, found), then the hints.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
        let expected = self.checks.iter().map(|c| c.expected.chars().count());
        let expected = expected.max().unwrap_or(0);
        for check in &self.checks {
            let outcome = match check.outcome {
                Outcome::Pass => "pass",
                Outcome::Fail => "FAIL",
                Outcome::NotReached => "-",
            };
            writeln!(
                f,
                "{outcome:<4}  {:<name$}  expected {:<expected$}  found {}",
                check.name, check.expected, check.found
            )?;
        }
        for check in &self.checks {
            if let Some(hint) = &check.hint {
                writeln!(f, "hint ({}): {hint}", check.name)?;
            }
        }
        Ok(())
    }
}

impl Validator {
    /// Explains what the validator makes of `token`: every check, in the pipeline's order,
    /// with hints for the common mistakes (see [`diagnose`](crate::diagnose)). It validates
    /// the token exactly as [`validate`](Self::validate) does (fetching the key set if that
    /// would) and agrees with it on every token.
    ///
    /// A development aid: never for responses to clients.
    pub async fn explain(&self, token: &str) -> Explanation {
        let verdict = self.validate(token).await.err();
        self.report(token, None, verdict.as_ref())
    }

    /// [`explain`](Self::explain) for a request: the token as the layer would extract it
    /// from the `Authorization` header (`Bearer` or `DPoP`), then its binding checked against
    /// the request as the layer checks it: a DPoP-bound token's proof (every check of RFC
    /// 9449 §4.3, the expected `htu` shown) and a certificate-bound token's client
    /// certificate. A request without a token (or with a malformed one) gets a report whose
    /// first check, `"token"`, fails.
    ///
    /// The one check of the layer it leaves out is the replay: explaining records no proof
    /// in the replay store, so the request explained can still be sent, and a proof already
    /// used is not reported as a replay.
    ///
    /// A development aid: never for responses to clients.
    pub async fn explain_request<B>(&self, request: &http::Request<B>) -> Explanation {
        let schemes = Schemes {
            bearer: self.accepts_bearer(),
            dpop: self.recognises_dpop(),
        };
        match request_token(request, &[], self.max_token_bytes(), schemes) {
            Ok((token, scheme)) => {
                // The request too: issuers resolved per request may depend on its host.
                let view = RequestView::of(request);
                let verdict = self
                    .verdict_on_request(&token, scheme, request, &view)
                    .await
                    .err();
                self.report(&token, Some(&view), verdict.as_ref())
            }
            Err(error) => self.report("", None, Some(&error)),
        }
    }

    /// The layer's verdict on a request, but for the replay store: the token validated by
    /// its issuer, then its binding checked against the request by that issuer's rules.
    async fn verdict_on_request<B>(
        &self,
        token: &str,
        scheme: Scheme,
        request: &http::Request<B>,
        view: &RequestView<'_>,
    ) -> Result<(), AuthError> {
        let route = self.route(token, Some(view))?;
        let claims = match route.issuer.start(token) {
            Validation::Done(decided) => decided,
            Validation::NeedsKeys(pending) => pending.finish().await,
        }?;
        let presented = Presented::new(scheme, token);
        route.binder.check(request, &presented, &claims).map(|_| ())
    }

    /// The report of `token` given the validator's verdict on it (`None`: accepted).
    fn report(
        &self,
        token: &str,
        request: Option<&RequestView<'_>>,
        verdict: Option<&AuthError>,
    ) -> Explanation {
        let seen = Seen::decode(token);
        let failing = verdict.map(failing_check);
        let reached = failing.map_or(ORDER.len(), |name| {
            ORDER.iter().position(|n| *n == name).unwrap_or(0)
        });
        let context = hints::Context::new(self, token, request, &seen, unix_now());
        let checks = ORDER
            .iter()
            .enumerate()
            .map(|(index, &name)| {
                let outcome = match index.cmp(&reached) {
                    std::cmp::Ordering::Less => Outcome::Pass,
                    std::cmp::Ordering::Equal => Outcome::Fail,
                    std::cmp::Ordering::Greater => Outcome::NotReached,
                };
                let (expected, mut found) = context.describe(name);
                if outcome == Outcome::Fail
                    && let Some(error) = verdict
                {
                    found = format!("{found}: {}", error.description());
                }
                let hint = match outcome {
                    Outcome::Fail => context.failure_hint(name, verdict),
                    Outcome::Pass => context.pass_hint(name),
                    Outcome::NotReached => None,
                };
                Check {
                    name,
                    expected,
                    found: shown(&found),
                    outcome,
                    hint,
                }
            })
            .collect();
        Explanation { checks }
    }
}

/// The check at which the pipeline refuses with `error`: the same mapping for every token,
/// so the report's verdict is the validator's.
fn failing_check(error: &AuthError) -> &'static str {
    use TokenProblem as P;
    let problem = match error {
        AuthError::MissingToken | AuthError::InvalidRequest(_) => return "token",
        AuthError::InvalidToken(problem) => *problem,
        AuthError::KeysUnavailable { .. } | AuthError::NoRuntime => return "kid",
        AuthError::IntrospectionUnavailable { .. } => return "signature",
        AuthError::RuleFailed { .. }
        | AuthError::InsufficientScope { .. }
        | AuthError::InsufficientUserAuthentication(_) => return "rules",
        _ => return "binding",
    };
    match problem {
        P::TooLarge => "token",
        P::AlgorithmNotAllowed => "alg",
        P::NotAnAccessToken => "typ",
        P::UnknownKey | P::AmbiguousKey | P::KeyMismatch => "kid",
        P::InvalidSignature | P::Inactive => "signature",
        P::WrongIssuer | P::WrongTenant | P::TenantMismatch => "iss",
        P::WrongAudience => "aud",
        P::Expired => "exp",
        P::NotYetValid => "nbf",
        P::IssuedInFuture => "iat",
        P::MissingClaim(claim) | P::InvalidClaim(claim) => match claim {
            Claim::Issuer => "iss",
            Claim::Audience => "aud",
            Claim::ExpiresAt => "exp",
            Claim::NotBefore => "nbf",
            Claim::IssuedAt => "iat",
            Claim::Scope => "scopes",
            Claim::Confirmation => "binding",
            _ => "claims",
        },
        P::UnexpectedClaims => "rules",
        P::Malformed
        | P::Encrypted
        | P::Undecryptable
        | P::Compressed
        | P::MalformedHeader
        | P::UnsupportedCritical
        | P::UnencodedPayload
        | P::Nested
        | P::MalformedClaims => "format",
        _ => "binding",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::StepUp;
    use std::time::Duration;

    #[test]
    fn every_refusal_lands_on_a_check_of_the_pipeline() {
        use TokenProblem as P;
        let problems = [
            P::TooLarge,
            P::Malformed,
            P::Encrypted,
            P::AlgorithmNotAllowed,
            P::NotAnAccessToken,
            P::UnknownKey,
            P::InvalidSignature,
            P::Inactive,
            P::WrongIssuer,
            P::WrongAudience,
            P::Expired,
            P::NotYetValid,
            P::IssuedInFuture,
            P::MissingClaim(Claim::Subject),
            P::InvalidClaim(Claim::Scope),
            P::DpopBound,
            P::UnexpectedClaims,
        ];
        let expected = [
            "token",
            "format",
            "format",
            "alg",
            "typ",
            "kid",
            "signature",
            "signature",
            "iss",
            "aud",
            "exp",
            "nbf",
            "iat",
            "claims",
            "scopes",
            "binding",
            "rules",
        ];
        for (problem, name) in problems.into_iter().zip(expected) {
            assert_eq!(
                failing_check(&AuthError::InvalidToken(problem)),
                name,
                "{problem:?}"
            );
        }
        let others = [
            AuthError::MissingToken,
            AuthError::KeysUnavailable {
                retry_after: Duration::from_secs(1),
            },
            AuthError::NoRuntime,
            AuthError::RuleFailed {
                description: "x".into(),
                insufficient_scope: false,
            },
            AuthError::InsufficientUserAuthentication(Box::new(StepUp {
                description: "x",
                acr_values: None,
                max_age: Some(1),
            })),
        ];
        for error in &others {
            assert!(ORDER.contains(&failing_check(error)), "{error:?}");
        }
    }
}
