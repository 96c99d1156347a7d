//! Sender-constrained tokens: DPoP (RFC 9449).
//!
//! Placeholder with the interface agreed with the DPoP core; the DPoP branch owns this file.

#[cfg(feature = "redis")]
mod redis;
mod replay;

#[cfg(feature = "redis")]
pub use self::redis::{RedisReplayStore, RedisReplayStoreBuilder};
pub use replay::{ReplayStore, ReplayStoreError};

/// The DER client certificate of a request, as a request extension set by a TLS server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate(pub bytes::Bytes);
