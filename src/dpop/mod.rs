//! Sender-constrained tokens: DPoP (RFC 9449) and certificate-bound tokens (RFC 8705).
//!
//! A token bound to a key (`cnf.jkt`) is accepted only with the `DPoP` scheme and a proof,
//! signed by that key, made for this request and used once; a token bound to a client
//! certificate (`cnf["x5t#S256"]`) only with that certificate ([`Mtls`]). In every mode, a
//! bound token whose binding cannot be checked is refused: a stolen copy is useless.
//!
//! ```
//! use bearer_guard::Validator;
//! use bearer_guard::dpop::Dpop;
//!
//! let validator = Validator::auth0("my-tenant.us.auth0.com", "https://api.example.com")
//!     .dpop(Dpop::allowed().public_url("https://api.example.com"))
//!     .build()?;
//! # Ok::<(), bearer_guard::ConfigError>(())
//! ```
//!
//! The files: `proof.rs` checks one proof (pure), `proof_keys.rs` keeps the parsed proof
//! keys, `htu.rs` the URI a proof must name, `thumbprint.rs` the digests, `replay.rs` the
//! replay store's trait and key, `memory.rs` the default (in-memory) replay store, `nonce.rs`
//! the server nonces, `mtls.rs` certificate bindings, and `bind.rs` decides a request from
//! all of them;
//! `redis.rs` (feature `redis`) is the replay store that replicas share.

mod bind;
mod htu;
mod memory;
mod mtls;
mod nonce;
mod proof;
mod proof_keys;
#[cfg(feature = "redis")]
mod redis;
mod replay;
mod thumbprint;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;

use crate::algorithm::Algorithm;

#[cfg(feature = "redis")]
pub use self::redis::{RedisReplayStore, RedisReplayStoreBuilder};
pub use crate::claims::Binding;
pub(crate) use bind::{Binder, Decision, Presented, Scheme};
pub use memory::{
    DEFAULT_REPLAY_CAPACITY, MAX_REPLAY_TTL, MEMORY_REPLAY_ENTRY_BYTES, MemoryReplayStore,
};
pub use mtls::{ClientCertificate, Mtls};
#[cfg(feature = "test-util")]
pub(crate) use mtls::{pem, pem_block};
#[cfg(feature = "test-util")]
pub(crate) use proof::check_token_request;
pub use replay::{ReplayKey, ReplayStore, ReplayStoreError, ReplayVerdict};
pub(crate) use thumbprint::{jwk_thumbprint, sha256_b64};

/// Whether the layer accepts DPoP-bound tokens, and whether it still accepts bearer tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DpopMode {
    /// The `DPoP` scheme is not recognised; DPoP-bound tokens are refused (they cannot be
    /// checked).
    Off,
    /// Bearer tokens pass as before; a DPoP-bound token needs the `DPoP` scheme and a valid
    /// proof (the default, as Auth0's own middleware).
    #[default]
    Allowed,
    /// Only DPoP-bound tokens with a valid proof; the `Bearer` scheme is not accepted.
    Required,
}

/// Reads a mode from configuration (an environment variable, a file): `off`, `allowed` or
/// `required`, in any ASCII case.
///
/// ```
/// use bearer_guard::dpop::{Dpop, DpopMode};
///
/// let mode: DpopMode = "Required".parse().unwrap();
/// assert_eq!(Dpop::from(mode).mode(), DpopMode::Required);
/// assert!("sometimes".parse::<DpopMode>().is_err());
/// ```
impl std::str::FromStr for DpopMode {
    type Err = ParseDpopModeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "off" => Ok(DpopMode::Off),
            "allowed" => Ok(DpopMode::Allowed),
            "required" => Ok(DpopMode::Required),
            _ => Err(ParseDpopModeError(text.to_owned())),
        }
    }
}

/// A text that names no [`DpopMode`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a DPoP mode is off, allowed or required, not {0:?}")]
pub struct ParseDpopModeError(String);

/// The default settings of `mode`: [`Dpop::off`], [`Dpop::allowed`] or [`Dpop::required`].
impl From<DpopMode> for Dpop {
    fn from(mode: DpopMode) -> Self {
        Dpop {
            mode,
            ..Dpop::default()
        }
    }
}

/// The DPoP settings of a validator ([`ValidatorBuilder::dpop`](crate::ValidatorBuilder::dpop)).
///
/// Defaults: [`DpopMode::Allowed`]; proofs signed with ES256, ES384, PS256, RS256 or EdDSA;
/// `iat` at most 300 s old and 30 s ahead; replay refused by a [`MemoryReplayStore`], and a
/// failing store answered with 503 (fail closed); no server nonces. The `htu` of a proof is
/// checked against [`public_url`](Self::public_url) and the request's path: without it (and
/// without a trusted proxy) proofs cannot be checked, so DPoP is neither advertised nor read
/// (the `DPoP` scheme is then another scheme, as with [`off`](Self::off); DPoP-bound tokens
/// are refused), and `required` mode is a configuration error.
#[derive(Clone)]
#[must_use]
pub struct Dpop {
    pub(crate) mode: DpopMode,
    pub(crate) public_url: Option<String>,
    pub(crate) proxy: Option<(HeaderName, HeaderName)>,
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) max_age: Duration,
    pub(crate) max_future: Duration,
    pub(crate) replay_store: Option<Arc<dyn ReplayStore>>,
    pub(crate) fail_open: bool,
    pub(crate) nonce_secret: Option<Vec<u8>>,
    pub(crate) nonce_rotation: Duration,
}

impl fmt::Debug for Dpop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dpop")
            .field("mode", &self.mode)
            .field("public_url", &self.public_url)
            .field("proxy", &self.proxy)
            .field("algorithms", &self.algorithms)
            .field("max_age", &self.max_age)
            .field("max_future", &self.max_future)
            .field("custom_replay_store", &self.replay_store.is_some())
            .field("fail_open", &self.fail_open)
            .field("nonces", &self.nonce_secret.is_some())
            .finish()
    }
}

impl Default for Dpop {
    fn default() -> Self {
        Dpop {
            mode: DpopMode::Allowed,
            public_url: None,
            proxy: None,
            algorithms: DEFAULT_ALGORITHMS.to_vec(),
            max_age: Duration::from_secs(300),
            max_future: Duration::from_secs(30),
            replay_store: None,
            fail_open: false,
            nonce_secret: None,
            nonce_rotation: Duration::from_secs(300),
        }
    }
}

/// The proof algorithms accepted by default.
pub const DEFAULT_ALGORITHMS: [Algorithm; 5] = [
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::PS256,
    Algorithm::RS256,
    Algorithm::EdDSA,
];

/// The longest `iat` window (either side) and nonce rotation accepted.
pub(crate) const MAX_WINDOW: Duration = Duration::from_secs(3600);

impl Dpop {
    /// DPoP off: the `DPoP` scheme is not recognised and DPoP-bound tokens are refused.
    pub fn off() -> Self {
        Dpop::from(DpopMode::Off)
    }

    /// DPoP allowed (the default): bearer tokens pass, DPoP-bound tokens need a proof.
    pub fn allowed() -> Self {
        Dpop::default()
    }

    /// DPoP required: only DPoP-bound tokens with a valid proof.
    pub fn required() -> Self {
        Dpop::from(DpopMode::Required)
    }

    /// The API's public base URL, as clients call it (`https://api.example.com`, or with a
    /// path prefix a proxy strips): a proof's `htu` must be this URL followed by the
    /// request's path. The request's own `Host` and `X-Forwarded-*` headers are not trusted.
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        self.public_url = Some(url.into());
        self
    }

    /// Behind a trusted reverse proxy serving several host names: take the scheme and the
    /// host of the request's public URI from these headers (e.g. `x-forwarded-proto`,
    /// `x-forwarded-host`; the last entry of each, the one the nearest proxy wrote). Only
    /// when every request reaches the API through that proxy, which must overwrite them.
    /// The path prefix of [`public_url`](Self::public_url), if set, still applies; it is
    /// the fallback when the headers are absent.
    pub fn trusted_proxy(mut self, proto_header: HeaderName, host_header: HeaderName) -> Self {
        self.proxy = Some((proto_header, host_header));
        self
    }

    /// The algorithms proofs may be signed with (asymmetric only), replacing the default.
    pub fn algorithms(mut self, algorithms: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = algorithms.into_iter().collect();
        self
    }

    /// How old (default 300 s) and how far ahead (default 30 s) a proof's `iat` may be (each
    /// at most 1 h). A proof is remembered by the replay store for as long as it could pass.
    pub fn iat_window(mut self, past: Duration, future: Duration) -> Self {
        self.max_age = past;
        self.max_future = future;
        self
    }

    /// The replay store (default: a [`MemoryReplayStore`] of this validator alone). Several
    /// replicas of an API share one, so that a proof replayed at another replica is refused.
    pub fn replay_store(mut self, store: Arc<dyn ReplayStore>) -> Self {
        self.replay_store = Some(store);
        self
    }

    /// When the replay store fails (a transport error: it cannot be asked), accept the proof
    /// anyway (fail open) instead of answering 503 (fail closed, the default). A replay during
    /// the outage then passes. A store that answers [`ReplayVerdict::Full`] (a key's share or
    /// the whole store used up) is never failed open: that proof gets 503 either way.
    pub fn replay_store_fail_open(mut self) -> Self {
        self.fail_open = true;
        self
    }

    /// Require server nonces (RFC 9449 §9): proofs must carry a nonce the API issued, sent
    /// in `DPoP-Nonce` with a 401 `use_dpop_nonce` to a proof without a valid one. Nonces are
    /// stateless (an HMAC of a time window under `secret`, at least 32 bytes: give every
    /// replica the same) and rotate every [`nonce_rotation`](Self::nonce_rotation); the
    /// previous one stays valid for one more period.
    pub fn nonces(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.nonce_secret = Some(secret.into());
        self
    }

    /// How often a new nonce is issued (default 300 s, at most 1 h).
    pub fn nonce_rotation(mut self, period: Duration) -> Self {
        self.nonce_rotation = period;
        self
    }

    /// The mode.
    pub fn mode(&self) -> DpopMode {
        self.mode
    }

    /// Whether the public URL, if one is set, parses (`None`: none is set).
    pub(crate) fn public_url_parses(&self) -> Option<bool> {
        let url = self.public_url.as_deref()?;
        Some(htu::PublicUri::parse_base(url).is_some())
    }
}
