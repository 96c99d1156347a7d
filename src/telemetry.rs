//! Operational metrics, reported through the [`metrics`](https://docs.rs/metrics) facade when
//! the `metrics` feature is on (a no-op otherwise), so that any exporter (Prometheus,
//! OpenTelemetry, StatsD, ...) picks them up. Labels carry reasons and issuers, never token
//! contents.
//!
//! | name | kind | labels | what |
//! |---|---|---|---|
//! | `bearer_guard_requests_total` | counter | `outcome` (`accepted`, `refused`), `error`, `problem` | requests decided by the layer, the route guards and the extractors |
//! | `bearer_guard_token_cache_hits_total` | counter | | requests served from the verified-token cache |
//! | `bearer_guard_token_cache_misses_total` | counter | | requests whose token was verified in full |
//! | `bearer_guard_issuer_requests_total` | counter | `issuer`, `document` (`discovery`, `jwks`) | HTTP requests to the issuer |
//! | `bearer_guard_key_set_fetches_total` | counter | `issuer`, `outcome` (`replaced`, `not_modified`, `failed`) | key set refreshes |
//! | `bearer_guard_key_set_stale_serves_total` | counter | `issuer` | tokens verified with a key set past its freshness |
//! | `bearer_guard_key_set_keys` | gauge | `issuer` | usable keys in the current key set |
//! | `bearer_guard_key_set_age_seconds` | gauge | `issuer` | time since the last successful fetch, updated at every fetch attempt |
//! | `bearer_guard_key_set_last_success_timestamp_seconds` | gauge | `issuer` | Unix time of the last successful fetch |
//! | `bearer_guard_introspection_junk_refused_total` | counter | `issuer` | tokens of no configured shape refused (503, no call) because such tokens held their whole share of introspection calls |
//!
//! Install the recorder before the first request; the names and labels are part of the
//! crate's stable interface.
//!
//! Each refusal is also logged through `tracing` at `debug` (target `bearer_guard`): the
//! request's path (without its query), the status, the error code, the same `problem` name
//! and the reason the client is told, never the token.
#![cfg_attr(not(feature = "metrics"), allow(unused_variables))]

use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{AuthError, RequestProblem, TokenProblem};

/// A request let through with verified claims.
pub(crate) fn request_accepted() {
    #[cfg(feature = "metrics")]
    ::metrics::counter!("bearer_guard_requests_total", "outcome" => "accepted").increment(1);
}

/// A request refused, with the error code and the problem as labels, and logged at `debug`
/// with the request's path and the reason the client is told (never the token: no
/// description holds it, and the path leaves out the query, where a token may travel).
pub(crate) fn request_refused(path: Option<&str>, error: &AuthError) {
    tracing::debug!(
        path = path.unwrap_or("-"),
        status = error.status().as_u16(),
        error = error.error_code().unwrap_or("missing_token"),
        problem = problem(error),
        reason = %error.description(),
        "bearer-guard: request refused"
    );
    #[cfg(feature = "metrics")]
    ::metrics::counter!(
        "bearer_guard_requests_total",
        "outcome" => "refused",
        "error" => error.error_code().unwrap_or("missing_token"),
        "problem" => problem(error),
    )
    .increment(1);
}

/// A lookup of the verified-token cache.
pub(crate) fn token_cache_lookup(hit: bool) {
    #[cfg(feature = "metrics")]
    if hit {
        ::metrics::counter!("bearer_guard_token_cache_hits_total").increment(1);
    } else {
        ::metrics::counter!("bearer_guard_token_cache_misses_total").increment(1);
    }
}

/// An HTTP request to the issuer for `document` (`discovery` or `jwks`).
pub(crate) fn issuer_request(issuer: &str, document: &'static str) {
    #[cfg(feature = "metrics")]
    ::metrics::counter!(
        "bearer_guard_issuer_requests_total",
        "issuer" => issuer.to_owned(),
        "document" => document,
    )
    .increment(1);
}

/// A key set refresh ended: `replaced`, `not_modified` or `failed`. `age` is the time since
/// the last successful fetch (zero when this one succeeded; `None` before any success).
pub(crate) fn key_set_fetch(issuer: &str, outcome: &'static str, age: Option<std::time::Duration>) {
    #[cfg(feature = "metrics")]
    {
        ::metrics::counter!(
            "bearer_guard_key_set_fetches_total",
            "issuer" => issuer.to_owned(),
            "outcome" => outcome,
        )
        .increment(1);
        if let Some(age) = age {
            ::metrics::gauge!("bearer_guard_key_set_age_seconds", "issuer" => issuer.to_owned())
                .set(age.as_secs_f64());
        }
    }
}

/// A key set was installed with `keys` usable keys.
pub(crate) fn key_set_installed(issuer: &str, keys: usize) {
    #[cfg(feature = "metrics")]
    {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |since| since.as_secs_f64());
        ::metrics::gauge!("bearer_guard_key_set_keys", "issuer" => issuer.to_owned())
            .set(keys as f64);
        ::metrics::gauge!(
            "bearer_guard_key_set_last_success_timestamp_seconds",
            "issuer" => issuer.to_owned(),
        )
        .set(now);
    }
}

/// A token verified with a key set past its freshness.
pub(crate) fn stale_serve(issuer: &str) {
    #[cfg(feature = "metrics")]
    ::metrics::counter!("bearer_guard_key_set_stale_serves_total", "issuer" => issuer.to_owned())
        .increment(1);
}

/// A token of no configured shape refused without an introspection call: its share of the
/// calls in flight was taken.
pub(crate) fn introspection_junk_refused(issuer: &str) {
    #[cfg(feature = "metrics")]
    ::metrics::counter!(
        "bearer_guard_introspection_junk_refused_total",
        "issuer" => issuer.to_owned(),
    )
    .increment(1);
}

/// The `problem` label: what exactly was wrong, as a fixed snake_case name.
fn problem(error: &AuthError) -> &'static str {
    match error {
        AuthError::MissingToken => "no_token",
        AuthError::InvalidRequest(problem) => request_problem(*problem),
        AuthError::InvalidToken(problem) => token_problem(*problem),
        AuthError::InsufficientScope { .. } => "scope",
        AuthError::RuleFailed { .. } => "claim_rule",
        AuthError::InsufficientUserAuthentication(_) => "user_authentication",
        AuthError::KeysUnavailable { .. } => "keys_unavailable",
        AuthError::IntrospectionUnavailable { .. } => "introspection_unavailable",
        AuthError::InvalidDpopProof(_) => "dpop_proof",
        AuthError::UseDpopNonce { .. } => "dpop_nonce",
        AuthError::ReplayStoreUnavailable { .. } => "replay_store_unavailable",
        AuthError::NoRuntime => "no_runtime",
    }
}

fn request_problem(problem: RequestProblem) -> &'static str {
    match problem {
        RequestProblem::EmptyToken => "empty_token",
        RequestProblem::SeveralTokens => "several_tokens",
        RequestProblem::InvalidCharacters => "invalid_characters",
        RequestProblem::SeveralAuthorizationHeaders => "several_authorization_headers",
        RequestProblem::TokenInSeveralPlaces => "token_in_several_places",
    }
}

fn token_problem(problem: TokenProblem) -> &'static str {
    match problem {
        TokenProblem::TooLarge => "too_large",
        TokenProblem::Malformed => "malformed",
        TokenProblem::Encrypted => "encrypted",
        TokenProblem::Undecryptable => "undecryptable",
        TokenProblem::Compressed => "compressed",
        TokenProblem::MalformedHeader => "malformed_header",
        TokenProblem::AlgorithmNotAllowed => "algorithm_not_allowed",
        TokenProblem::UnsupportedCritical => "unsupported_critical",
        TokenProblem::UnencodedPayload => "unencoded_payload",
        TokenProblem::Nested => "nested",
        TokenProblem::UnknownKey => "unknown_key",
        TokenProblem::AmbiguousKey => "ambiguous_key",
        TokenProblem::KeyMismatch => "key_mismatch",
        TokenProblem::InvalidSignature => "invalid_signature",
        TokenProblem::MalformedClaims => "malformed_claims",
        TokenProblem::MissingClaim(_) => "missing_claim",
        TokenProblem::InvalidClaim(_) => "invalid_claim",
        TokenProblem::Expired => "expired",
        TokenProblem::DpopBound => "dpop_bound",
        TokenProblem::NotDpopBound => "not_dpop_bound",
        TokenProblem::CertificateMissing => "certificate_missing",
        TokenProblem::CertificateMismatch => "certificate_mismatch",
        TokenProblem::CertificateBound => "certificate_bound",
        TokenProblem::UnknownConfirmation => "unknown_confirmation",
        TokenProblem::SchemeNotAccepted => "scheme_not_accepted",
        TokenProblem::NotYetValid => "not_yet_valid",
        TokenProblem::IssuedInFuture => "issued_in_future",
        TokenProblem::WrongIssuer => "wrong_issuer",
        TokenProblem::WrongAudience => "wrong_audience",
        TokenProblem::NotAnAccessToken => "not_an_access_token",
        TokenProblem::Inactive => "inactive",
        TokenProblem::UnexpectedClaims => "unexpected_claims",
        TokenProblem::WrongTenant => "wrong_tenant",
        TokenProblem::TenantMismatch => "tenant_mismatch",
    }
}

/// At most one warning a second about one dependency (the DPoP replay store, the
/// introspection endpoint): an outage fails every request that needs it, and a warning for
/// each would flood the logs. The warnings that were held back are counted in the next one.
#[derive(Debug, Default)]
pub(crate) struct WarnLimit {
    /// The second (since the Unix epoch) of the last warning, plus one; 0: never.
    last: AtomicU64,
    held_back: AtomicU64,
}

impl WarnLimit {
    /// Whether to warn now, at `now` (Unix seconds): `Some(n)` with the `n` warnings held
    /// back since the last one, or `None` (this one is held back).
    pub(crate) fn allow(&self, now: u64) -> Option<u64> {
        let stamp = now.saturating_add(1);
        let last = self.last.load(Ordering::Relaxed);
        if last != stamp
            && self
                .last
                .compare_exchange(last, stamp, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            return Some(self.held_back.swap(0, Ordering::Relaxed));
        }
        self.held_back.fetch_add(1, Ordering::Relaxed);
        None
    }

    /// [`allow`](Self::allow) at the current second.
    pub(crate) fn allow_now(&self) -> Option<u64> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_secs());
        self.allow(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_are_at_most_one_a_second_and_count_the_ones_held_back() {
        let limit = WarnLimit::default();
        assert_eq!(limit.allow(100), Some(0));
        assert_eq!(limit.allow(100), None);
        assert_eq!(limit.allow(100), None);
        assert_eq!(limit.allow(101), Some(2));
        assert_eq!(limit.allow(101), None);
        assert_eq!(limit.allow(0), Some(1));
    }
}
