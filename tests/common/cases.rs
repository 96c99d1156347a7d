//! Tables of named cases for the adversarial families (`attack_*.rs`) and the property tests.
//!
//! Every case goes through the real middleware: the fixtures' router ([`app`]: `BearerLayer`
//! in front of [`PRIVATE`], `RequireScopes` also in front of [`SCOPED`]), driven with
//! `tower::ServiceExt::oneshot`. [`run`] executes a table of named cases, checks status,
//! challenge and body of each, checks that no response echoes the credentials, and reports
//! every failing case by name at once. [`check`] is the same check without panicking, for
//! properties.

use std::fmt;

use axum::Router;
use http::StatusCode;
use serde_json::Value;

use super::fixture::{PRIVATE, SCOPE, SCOPED, app};
use super::reply::{Reply, check_no_echo, check_no_store, send_values, try_parse_challenge};

/// The outcome a case must produce, per the behaviour contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// 200, the handler ran (its body echoes the claims), no challenge.
    Ok,
    /// 401 with exactly `WWW-Authenticate: Bearer` (no `error`).
    Bare,
    /// 400 `invalid_request`.
    InvalidRequest,
    /// 401 `invalid_token`.
    InvalidToken,
    /// 403 `insufficient_scope` naming [`SCOPE`].
    InsufficientScope,
}

/// One named request: the `Authorization` header values (none, one or several) and the path.
#[derive(Clone)]
pub struct Case {
    pub name: String,
    pub path: &'static str,
    pub authorizations: Vec<Vec<u8>>,
    pub expect: Expect,
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Case")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("expect", &self.expect)
            .finish_non_exhaustive()
    }
}

impl Case {
    /// `Authorization: Bearer {token}` on [`PRIVATE`].
    pub fn token(name: impl Into<String>, token: impl AsRef<str>, expect: Expect) -> Self {
        Self::header(
            name,
            format!("Bearer {}", token.as_ref()).into_bytes(),
            expect,
        )
    }

    /// One raw `Authorization` value on [`PRIVATE`].
    pub fn header(name: impl Into<String>, value: impl Into<Vec<u8>>, expect: Expect) -> Self {
        Self::headers(name, vec![value.into()], expect)
    }

    /// Any number of raw `Authorization` values on [`PRIVATE`].
    pub fn headers(name: impl Into<String>, values: Vec<Vec<u8>>, expect: Expect) -> Self {
        Case {
            name: name.into(),
            path: PRIVATE,
            authorizations: values,
            expect,
        }
    }

    /// The same case on another path.
    pub fn on(mut self, path: &'static str) -> Self {
        self.path = path;
        self
    }
}

/// Checks a reply against the expectation and the no-echo rule; `Err` says what is wrong.
pub fn check(reply: &Reply, expect: Expect, authorizations: &[Vec<u8>]) -> Result<(), String> {
    for value in authorizations {
        check_no_echo(value, reply)?;
    }
    let fail = |what: String| Err(format!("{what}; got {}", reply.summary()));
    if expect != Expect::Ok {
        check_no_store(reply).or_else(fail)?;
    }
    match expect {
        Expect::Ok => {
            if reply.status != StatusCode::OK {
                return fail("expected 200".into());
            }
            if reply.challenge.is_some() {
                return fail("expected no challenge on 200".into());
            }
            if reply.body.get("scopes").is_none() {
                return fail("expected the handler's body (the echoed claims)".into());
            }
            Ok(())
        }
        Expect::Bare => {
            if reply.status != StatusCode::UNAUTHORIZED {
                return fail("expected 401".into());
            }
            if reply.challenge.as_deref() != Some("Bearer") {
                return fail("expected the bare challenge `Bearer`".into());
            }
            Ok(())
        }
        Expect::InvalidRequest => {
            check_error(reply, StatusCode::BAD_REQUEST, "invalid_request", None)
        }
        Expect::InvalidToken => check_error(reply, StatusCode::UNAUTHORIZED, "invalid_token", None),
        Expect::InsufficientScope => check_error(
            reply,
            StatusCode::FORBIDDEN,
            "insufficient_scope",
            Some(SCOPE),
        ),
    }
}

fn check_error(
    reply: &Reply,
    status: StatusCode,
    code: &str,
    scope: Option<&str>,
) -> Result<(), String> {
    let fail = |what: String| Err(format!("{what}; got {}", reply.summary()));
    if reply.status != status {
        return fail(format!("expected {status} {code}"));
    }
    let Some(challenge) = reply.challenge.as_deref() else {
        return fail("expected a WWW-Authenticate header".into());
    };
    let (scheme, params) = match try_parse_challenge(challenge) {
        Ok(parsed) => parsed,
        Err(problem) => return fail(format!("malformed challenge: {problem}")),
    };
    let param = |name: &str| {
        params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    if scheme != "Bearer" {
        return fail(format!("expected the Bearer scheme, not {scheme:?}"));
    }
    if param("error") != Some(code) {
        return fail(format!("expected error=\"{code}\""));
    }
    let Some(description) = param("error_description").filter(|d| !d.is_empty()) else {
        return fail("expected a non-empty error_description".into());
    };
    if param("scope") != scope {
        return fail(format!("expected scope {scope:?}"));
    }
    let body = &reply.body;
    if !body.is_object() {
        return fail("expected a JSON body".into());
    }
    if body["error"] != code || body["error_description"] != description {
        return fail("expected the body to repeat the error and its description".into());
    }
    Ok(())
}

/// Runs every case through `app` and fails once, naming every case that did not behave.
/// Returns how many cases ran.
pub async fn run(app: &Router, cases: &[Case]) -> usize {
    let mut failures = Vec::new();
    let mut names = std::collections::HashSet::new();
    for case in cases {
        assert!(
            names.insert(&case.name),
            "duplicate case name {}",
            case.name
        );
        let reply = send_values(app, case.path, &case.authorizations).await;
        if let Err(problem) = check(&reply, case.expect, &case.authorizations) {
            failures.push(format!(
                "  [{}] expected {:?}: {problem}",
                case.name, case.expect
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
    cases.len()
}

/// Runs one case and asserts it (for single-case tests such as `#[ignore]`d bug reports).
#[track_caller]
pub fn assert_case(reply: &Reply, case: &Case) {
    if let Err(problem) = check(reply, case.expect, &case.authorizations) {
        panic!("[{}] expected {:?}: {problem}", case.name, case.expect);
    }
}

/// Sends one case and asserts its outcome.
pub async fn run_one(app: &Router, case: Case) {
    let reply = send_values(app, case.path, &case.authorizations).await;
    assert_case(&reply, &case);
}
