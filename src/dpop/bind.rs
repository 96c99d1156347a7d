//! The binding decision for one request: which scheme the token came with, what its `cnf`
//! claim binds it to, and whether the request proves that binding (a DPoP proof, a client
//! certificate). The replay check is the caller's last, asynchronous step.

use std::sync::Arc;
use std::time::Duration;

use http::Request;

use super::htu::PublicUri;
use super::memory::MemoryReplayStore;
use super::mtls::Mtls;
use super::nonce::Nonces;
use super::proof::{self, Expected, ProofRules};
use super::proof_keys::ProofKeys;
use super::replay::{ReplayKey, ReplayStore, ReplayStoreError, ReplayVerdict};
use super::{Dpop, DpopMode};
use crate::claims::VerifiedClaims;
use crate::error::{AuthError, DpopProblem, TokenProblem};
use crate::issuer::unix_now;
use crate::telemetry::WarnLimit;

/// The authorization scheme a token came with (tokens from cookies, other headers or the
/// query count as `Bearer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Bearer,
    Dpop,
}

/// How the token was presented: its scheme, and for `DPoP` its `ath`.
#[derive(Debug, Clone)]
pub(crate) struct Presented {
    pub(crate) scheme: Scheme,
    /// base64url(SHA-256(token)), computed for the `DPoP` scheme only.
    pub(crate) ath: Option<String>,
}

impl Presented {
    pub(crate) fn new(scheme: Scheme, token: &str) -> Self {
        Presented {
            scheme,
            ath: (scheme == Scheme::Dpop).then(|| super::sha256_b64(token.as_bytes())),
        }
    }
}

/// What is left to decide once the binding checks passed.
#[derive(Debug)]
pub(crate) enum Decision {
    /// Nothing: accept.
    Accept,
    /// The proof passes if the replay store has not seen `key` yet.
    Replay { key: ReplayKey, ttl: Duration },
}

/// The validator's sender-constraint settings, checked, ready for requests.
pub(crate) struct Binder {
    mode: DpopMode,
    uri: PublicUri,
    rules: ProofRules,
    /// Parsed proof keys by thumbprint.
    keys: ProofKeys,
    store: Arc<dyn ReplayStore>,
    fail_open: bool,
    /// Store errors and full answers warn at most once a second.
    warnings: WarnLimit,
    nonces: Option<Nonces>,
    mtls: Option<Mtls>,
    /// The `algs` of the `DPoP` challenge.
    algs: String,
}

impl std::fmt::Debug for Binder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Binder")
            .field("mode", &self.mode)
            .field("uri", &self.uri)
            .field("mtls", &self.mtls)
            .finish_non_exhaustive()
    }
}

impl Default for Binder {
    /// DPoP allowed without a public URL (so not advertised), no mTLS.
    fn default() -> Self {
        Binder::new(Dpop::default(), None)
    }
}

impl Binder {
    /// From settings whose [`problems`](Dpop::problems) are none.
    pub(crate) fn new(dpop: Dpop, mtls: Option<Mtls>) -> Self {
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        Binder {
            mode: dpop.mode,
            uri: PublicUri {
                base: dpop.public_url.as_deref().and_then(PublicUri::parse_base),
                proxy: dpop.proxy,
            },
            rules: ProofRules {
                algorithms: dpop.algorithms.iter().map(|alg| alg.to_jwt()).collect(),
                max_age_secs: secs(dpop.max_age),
                max_future_secs: secs(dpop.max_future),
            },
            keys: ProofKeys::default(),
            store: dpop
                .replay_store
                .unwrap_or_else(|| Arc::new(MemoryReplayStore::default())),
            fail_open: dpop.fail_open,
            warnings: WarnLimit::default(),
            nonces: dpop
                .nonce_secret
                .map(|secret| Nonces::new(secret, dpop.nonce_rotation.as_secs())),
            mtls,
            algs: dpop
                .algorithms
                .iter()
                .map(|alg| alg.name())
                .collect::<Vec<_>>()
                .join(" "),
        }
    }

    /// Whether the `DPoP` scheme is read: DPoP is on and proofs can be checked (the public
    /// URI is known). Otherwise it is "another scheme", as `Basic` is.
    pub(crate) fn recognises_dpop(&self) -> bool {
        self.mode != DpopMode::Off && self.uri.is_known()
    }

    /// Whether the `Bearer` scheme (and the other token sources) are accepted.
    pub(crate) fn accepts_bearer(&self) -> bool {
        self.mode != DpopMode::Required
    }

    /// The `algs` to advertise in a `DPoP` challenge, when proofs can be checked at all.
    pub(crate) fn advertised_algs(&self) -> Option<&str> {
        self.recognises_dpop().then_some(self.algs.as_str())
    }

    /// Whether DPoP-bound tokens are required (for the RFC 9728 metadata).
    pub(crate) fn requires_dpop(&self) -> bool {
        self.mode == DpopMode::Required
    }

    /// The normalised `htu` a proof sent to `path` with `headers` must carry; `None` when
    /// the API's URL cannot be known (no `public_url`, no trusted proxy's headers).
    pub(crate) fn expected_htu(&self, path: &str, headers: &http::HeaderMap) -> Option<String> {
        self.uri.of(path, headers)
    }

    /// The replay store.
    pub(crate) fn store(&self) -> &Arc<dyn ReplayStore> {
        &self.store
    }

    /// Checks the binding of a validated token against the request.
    pub(crate) fn check<B>(
        &self,
        request: &Request<B>,
        presented: &Presented,
        claims: &VerifiedClaims,
    ) -> Result<Decision, AuthError> {
        // The token was read under the schemes of every issuer a validator combines; its
        // own issuer's settings decide whether that scheme is acceptable.
        let scheme_accepted = match presented.scheme {
            Scheme::Bearer => self.accepts_bearer(),
            Scheme::Dpop => self.recognises_dpop(),
        };
        if !scheme_accepted {
            return Err(AuthError::InvalidToken(TokenProblem::SchemeNotAccepted));
        }
        let cnf = claims.confirmation().map_err(AuthError::InvalidToken)?;
        if let Some(x5t) = cnf.x5t_s256 {
            let mtls = self
                .mtls
                .as_ref()
                .ok_or(AuthError::InvalidToken(TokenProblem::CertificateBound))?;
            mtls.check(request, x5t).map_err(AuthError::InvalidToken)?;
        }
        match (presented.scheme, cnf.jkt) {
            (Scheme::Bearer, None) => Ok(Decision::Accept),
            (Scheme::Bearer, Some(_)) => Err(AuthError::InvalidToken(TokenProblem::DpopBound)),
            (Scheme::Dpop, None) => Err(AuthError::InvalidToken(TokenProblem::NotDpopBound)),
            (Scheme::Dpop, Some(jkt)) => self.check_proof(request, presented, jkt),
        }
    }

    /// The proof of a `DPoP` request for a token bound to `jkt`.
    fn check_proof<B>(
        &self,
        request: &Request<B>,
        presented: &Presented,
        jkt: &str,
    ) -> Result<Decision, AuthError> {
        let invalid = AuthError::InvalidDpopProof;
        let mut proofs = request.headers().get_all("dpop").iter();
        let proof = match (proofs.next(), proofs.next()) {
            (None, _) => return Err(invalid(DpopProblem::Missing)),
            (Some(_), Some(_)) => return Err(invalid(DpopProblem::SeveralProofs)),
            (Some(proof), None) => proof
                .to_str()
                .map_err(|_| invalid(DpopProblem::Malformed))?,
        };
        let htu = self
            .expected_htu(request.uri().path(), request.headers())
            .ok_or(invalid(DpopProblem::UnknownUri))?;
        let now = unix_now();
        let expected = Expected {
            method: request.method().as_str(),
            htu: &htu,
            ath: Some(presented.ath.as_deref().unwrap_or_default()),
            now,
            jkt: Some(jkt),
        };
        let verified =
            proof::verify(proof, &self.rules, &expected, Some(&self.keys)).map_err(invalid)?;
        if let Some(nonces) = &self.nonces
            && !verified
                .nonce
                .as_deref()
                .is_some_and(|nonce| nonces.accepts(nonce, now))
        {
            return Err(AuthError::UseDpopNonce {
                nonce: nonces.current(now),
            });
        }
        // Remembered for as long as the proof could pass: until its `iat` is too old. Time is
        // counted in whole seconds, so a proof still passes during the whole second `iat +
        // max age`: the key lives one second more than the difference, or a replay in that
        // last second would find it gone.
        let remaining = verified
            .iat
            .saturating_add(self.rules.max_age_secs)
            .saturating_add(1)
            .saturating_sub(now)
            .max(1);
        Ok(Decision::Replay {
            key: ReplayKey::new(jkt, &htu, &verified.jti),
            ttl: Duration::from_secs(u64::try_from(remaining).unwrap_or(1)),
        })
    }

    /// The replay store's answer, as a decision: a fresh proof passes, a replay is refused,
    /// a full store answers 503 (never failing open: the proof could not be recorded), a
    /// failing store answers 503 (or passes, failing open). Both warn, at most once a second.
    pub(crate) fn settle(
        &self,
        answer: Result<ReplayVerdict, ReplayStoreError>,
    ) -> Result<(), AuthError> {
        let unavailable = Err(AuthError::ReplayStoreUnavailable {
            retry_after: Duration::from_secs(1),
        });
        match answer {
            Ok(ReplayVerdict::Fresh) => Ok(()),
            Ok(ReplayVerdict::Replayed) => Err(AuthError::InvalidDpopProof(DpopProblem::Replayed)),
            Ok(ReplayVerdict::Full) => {
                if let Some(held_back) = self.warnings.allow_now() {
                    tracing::warn!(
                        held_back,
                        "DPoP replay store full (a key's share or the whole store); refusing"
                    );
                }
                unavailable
            }
            Err(error) => {
                if let Some(held_back) = self.warnings.allow_now() {
                    let outcome = if self.fail_open {
                        "failing open"
                    } else {
                        "refusing (fail closed)"
                    };
                    tracing::warn!(%error, held_back, "DPoP replay store failed; {outcome}");
                }
                if self.fail_open { Ok(()) } else { unavailable }
            }
        }
    }
}
