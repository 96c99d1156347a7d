//! Opaque access tokens, decided by the issuer's token introspection endpoint (RFC 7662),
//! with signed responses (RFC 9701) when the issuer offers them.
//!
//! A token is looked up in the result cache first (by the SHA-256 of the token); a miss asks
//! the endpoint once, however many requests carry the same new token at the same moment (one
//! call per token in flight, run in its own task so that a cancelled request cannot cancel
//! it). Every failure to get an answer is a 503: a token is never accepted without one.
//!
//! Every distinct token not in the cache costs a call, so calls in flight are bounded (256
//! per issuer); when the API describes its issuer's tokens ([`OpaqueTokenShape`]), tokens
//! of no configured shape may hold only 64 of those slots, and the rest is kept for tokens
//! of a configured shape.

mod cache;
mod client;
mod response;
mod shape;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::{BoxFuture, Shared};
use tokio::sync::oneshot;

use crate::claims::VerifiedClaims;
use crate::error::{AuthError, TokenProblem};
use crate::telemetry::WarnLimit;
use crate::validate::unix_now;
use cache::{ResultCache, TokenDigest, Verdict};
pub use client::IntrospectionAuth;
pub(crate) use client::{CallFailed, Client, Credentials, Endpoint};
pub(crate) use response::ResponseKeys;
pub use shape::{Alphabet, OpaqueTokenShape};

/// The most tokens introspected at once per issuer; past it, new tokens get a 503 at once
/// (a flood of made-up tokens must not become a flood of calls to the issuer).
const MAX_IN_FLIGHT: usize = 256;
/// With token shapes configured, the most calls in flight for tokens of no configured
/// shape: the other `MAX_IN_FLIGHT - UNSHAPED_SHARE` slots are kept for tokens of a
/// configured shape, whatever the made-up ones do. Without shapes, every token is unshaped
/// and the whole pool is one share (no token could claim a reserve).
const UNSHAPED_SHARE: usize = 64;
/// The `Retry-After` of a request whose token could not be introspected.
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// How long results are kept, and the memory they may take.
#[derive(Debug, Clone)]
pub(crate) struct CacheTimes {
    /// The longest an active result is kept (it is never kept past the token's `exp`).
    pub(crate) max_ttl: Duration,
    /// How long a refusal is kept.
    pub(crate) negative_ttl: Duration,
}

/// What token introspection has done so far (see
/// [`Validator::introspection_stats`](crate::Validator::introspection_stats)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IntrospectionStats {
    /// Calls made to the introspection endpoint (answered or not).
    pub calls: u64,
    /// Requests decided from the result cache.
    pub cache_hits: u64,
    /// Calls that decided nothing (unreachable, 5xx, credentials refused, unreadable): each
    /// request waiting on one got a 503.
    pub failures: u64,
    /// Results held in the cache now.
    pub cached: u64,
    /// What they weigh against the budget
    /// ([`token_cache_bytes`](crate::ValidatorBuilder::token_cache_bytes)), in estimated
    /// bytes.
    pub cached_bytes: u64,
    /// Tokens of none of the configured shapes
    /// ([`introspection_token_shape`](crate::ValidatorBuilder::introspection_token_shape))
    /// refused with a 503 and no call, because such tokens held their whole share of the
    /// calls in flight: the junk a flood sent.
    pub junk_refused: u64,
}

impl IntrospectionStats {
    /// The sum of two counters, for several issuers.
    pub(crate) fn add(self, other: IntrospectionStats) -> IntrospectionStats {
        IntrospectionStats {
            calls: self.calls + other.calls,
            cache_hits: self.cache_hits + other.cache_hits,
            failures: self.failures + other.failures,
            cached: self.cached + other.cached,
            cached_bytes: self.cached_bytes + other.cached_bytes,
            junk_refused: self.junk_refused + other.junk_refused,
        }
    }
}

type CallOutcome = Result<Verdict, CallFailed>;
type SharedCall = Shared<BoxFuture<'static, CallOutcome>>;

/// The calls in flight, and how many of them are for tokens of no configured shape.
#[derive(Default)]
struct InFlight {
    calls: HashMap<TokenDigest, SharedCall>,
    unshaped: usize,
}

/// One issuer's introspection: the client, the result cache and the calls in flight.
pub(crate) struct Introspector {
    client: Client,
    cache: Option<ResultCache>,
    times: CacheTimes,
    /// What the issuer's opaque tokens look like (none: every token is unshaped).
    shapes: Vec<OpaqueTokenShape>,
    in_flight: Mutex<InFlight>,
    calls: AtomicU64,
    cache_hits: AtomicU64,
    failures: AtomicU64,
    junk_refused: AtomicU64,
    /// Warnings about the endpoint (failures, calls over the bound), at most one a second.
    warnings: WarnLimit,
}

/// What the cache said about a token.
pub(crate) enum Lookup {
    /// Decided from the cache.
    Decided(Result<VerifiedClaims, TokenProblem>),
    /// Unknown: the endpoint must be asked.
    Miss(TokenDigest),
}

impl Introspector {
    /// `cache_bytes` 0 turns the result cache off (every request then calls the endpoint,
    /// still once per token in flight).
    pub(crate) fn new(
        client: Client,
        times: CacheTimes,
        cache_bytes: u64,
        shapes: Vec<OpaqueTokenShape>,
    ) -> Self {
        Introspector {
            client,
            cache: (cache_bytes > 0).then(|| ResultCache::new(cache_bytes)),
            times,
            shapes,
            in_flight: Mutex::new(InFlight::default()),
            calls: AtomicU64::new(0),
            cache_hits: AtomicU64::new(0),
            failures: AtomicU64::new(0),
            junk_refused: AtomicU64::new(0),
            warnings: WarnLimit::default(),
        }
    }

    /// The cached verdict on `token`, checked again against the clock; never waits.
    pub(crate) fn lookup(&self, token: &str) -> Lookup {
        let key = cache::digest(token);
        match self.cache.as_ref().and_then(|cache| cache.get(&key)) {
            Some(verdict) => {
                self.cache_hits.fetch_add(1, Ordering::Relaxed);
                Lookup::Decided(verdict.at(unix_now(), self.client.rules.leeway_secs))
            }
            None => Lookup::Miss(key),
        }
    }

    /// Asks the endpoint about `token` (joining the call in flight for it, if any).
    pub(crate) async fn introspect(
        self: &Arc<Self>,
        key: TokenDigest,
        token: &str,
    ) -> Result<VerifiedClaims, AuthError> {
        let call = self.join_or_start(key, token);
        let outcome = match call {
            Ok(call) => call.await,
            Err(busy) => Err(busy),
        };
        match outcome {
            Ok(verdict) => verdict
                .at(unix_now(), self.client.rules.leeway_secs)
                .map_err(AuthError::InvalidToken),
            Err(_) => Err(AuthError::IntrospectionUnavailable {
                retry_after: RETRY_AFTER,
            }),
        }
    }

    fn join_or_start(
        self: &Arc<Self>,
        key: TokenDigest,
        token: &str,
    ) -> Result<SharedCall, CallFailed> {
        let mut in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(call) = in_flight.calls.get(&key) {
            return Ok(call.clone());
        }
        let unshaped =
            !self.shapes.is_empty() && !self.shapes.iter().any(|shape| shape.matches(token));
        if unshaped && in_flight.unshaped >= UNSHAPED_SHARE {
            self.junk_refused.fetch_add(1, Ordering::Relaxed);
            crate::telemetry::introspection_junk_refused(&self.client.rules.issuer);
            // Debug only: under a flood, a line per junk token would flood the logs too.
            tracing::debug!(
                share = UNSHAPED_SHARE,
                "bearer-guard: a token of no configured shape, and its share of introspection calls is taken; refusing with 503"
            );
            return Err(CallFailed::Busy);
        }
        if in_flight.calls.len() >= MAX_IN_FLIGHT {
            self.failures.fetch_add(1, Ordering::Relaxed);
            if let Some(held_back) = self.warnings.allow_now() {
                tracing::warn!(
                    limit = MAX_IN_FLIGHT,
                    held_back,
                    "bearer-guard: too many introspection calls in flight; refusing with 503"
                );
            }
            return Err(CallFailed::Busy);
        }
        let (reply, outcome) = oneshot::channel();
        let call = async move { outcome.await.unwrap_or(Err(CallFailed::Interrupted)) }
            .boxed()
            .shared();
        in_flight.calls.insert(key, call.clone());
        in_flight.unshaped += usize::from(unshaped);
        drop(in_flight);
        let slot = Slot {
            introspector: Arc::clone(self),
            key,
            unshaped,
        };
        tokio::spawn(slot.run(token.into(), reply));
        Ok(call)
    }

    /// One call: ask, decide, cache, then tell every request waiting on it.
    async fn call(&self, token: &str) -> CallOutcome {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let response = self.client.introspect(token).await;
        let outcome = response.and_then(|response| {
            response::decide(response, &self.client.rules, unix_now())
                .map_err(CallFailed::Unreadable)
        });
        if let Err(failure) = &outcome {
            self.failures.fetch_add(1, Ordering::Relaxed);
            if let Some(held_back) = self.warnings.allow_now() {
                match failure {
                    CallFailed::CredentialsRefused(_) => {
                        tracing::error!(client_id = %self.client.credentials.client_id, held_back, "bearer-guard: configuration problem: {failure}");
                    }
                    _ => {
                        tracing::warn!(error = %failure, held_back, "bearer-guard: token introspection failed; refusing with 503")
                    }
                }
            }
        }
        outcome
    }

    /// The discovery fetches made for the endpoint (with a secret or static keys, the only
    /// requests to the issuer besides introspection).
    pub(crate) fn key_stats(&self) -> crate::jwks::KeyStats {
        self.client.counters.snapshot()
    }

    /// What introspection has done so far.
    pub(crate) fn stats(&self) -> IntrospectionStats {
        let (cached, cached_bytes) = self.cache.as_ref().map_or((0, 0), ResultCache::size);
        IntrospectionStats {
            calls: self.calls.load(Ordering::Relaxed),
            cache_hits: self.cache_hits.load(Ordering::Relaxed),
            failures: self.failures.load(Ordering::Relaxed),
            cached,
            cached_bytes,
            junk_refused: self.junk_refused.load(Ordering::Relaxed),
        }
    }
}

/// A call's place in the in-flight table, freed when the call ends (or its task is dropped,
/// when its runtime shuts down), so that a later request never joins a dead call.
struct Slot {
    introspector: Arc<Introspector>,
    key: TokenDigest,
    /// Whether it counts toward the share of tokens of no configured shape.
    unshaped: bool,
}

impl Slot {
    async fn run(self, token: Box<str>, reply: oneshot::Sender<CallOutcome>) {
        let introspector = Arc::clone(&self.introspector);
        let outcome = introspector.call(&token).await;
        if let (Ok(verdict), Some(cache)) = (&outcome, &introspector.cache) {
            let times = &introspector.times;
            let lifetime = verdict.lifetime(unix_now(), times.max_ttl, times.negative_ttl);
            // Cached before the slot is freed: a request arriving in between finds one or
            // the other.
            cache.insert(self.key, verdict.clone(), lifetime);
        }
        drop(self);
        // Nobody waiting is fine: the verdict is in the cache.
        let _ = reply.send(outcome);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut in_flight = self
            .introspector
            .in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        in_flight.calls.remove(&self.key);
        in_flight.unshaped -= usize::from(self.unshaped);
    }
}

/// One answer of the endpoint read and decided as a call's is, at `now`: `Err` when it
/// cannot be read (the request would get a 503), else the verdict on the token. For the
/// test kit's fuzzing entry point; `keys` must not need a fetch.
#[cfg(feature = "test-util")]
pub(crate) fn decide_answer(
    body: &[u8],
    (signed_media, asked_signed): (bool, bool),
    keys: &ResponseKeys,
    rules: &crate::validate::Rules,
    client_id: &str,
    now: i64,
) -> Result<Result<VerifiedClaims, TokenProblem>, String> {
    let object = response::read(
        body,
        signed_media,
        asked_signed,
        keys,
        rules,
        client_id,
        now,
    )
    .now_or_never()
    .ok_or("the answer needs a key set fetch")?
    .map_err(|unreadable| unreadable.to_string())?;
    let verdict = response::decide(object, rules, now).map_err(|e| e.to_string())?;
    Ok(verdict.at(now, rules.leeway_secs))
}

/// Whether `token` is a compact JWS (three base64url segments, the first a JSON object):
/// in mixed mode, those are validated locally and everything else is introspected.
pub(crate) fn is_compact_jws(token: &str) -> bool {
    use base64::Engine;
    let mut segments = token.split('.');
    let (Some(header), Some(_), Some(signature), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return false;
    };
    !signature.is_empty()
        && base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(header)
            .is_ok_and(|json| json.first() == Some(&b'{'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_jws_are_told_apart_from_opaque_tokens() {
        assert!(is_compact_jws("eyJhbGciOiJSUzI1NiJ9.e30.c2ln"));
        for opaque in [
            "2YotnFZFEjr1zCsicMWpAA",
            "ory_at_abc.def",
            "a.b.c",
            "eyJhbGciOiJSUzI1NiJ9.e30.",
            "eyJhbGciOiJSUzI1NiJ9.e30.c2ln.x.y",
            "",
        ] {
            assert!(!is_compact_jws(opaque), "{opaque}");
        }
    }
}
