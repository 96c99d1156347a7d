//! Where DPoP proofs are remembered so that each is accepted once (RFC 9449 §11.1).
//!
//! Placeholder with the interface agreed with the DPoP core; the DPoP branch owns this file.

use futures_util::future::BoxFuture;

/// Remembers DPoP proof identifiers for the length of their acceptance window.
pub trait ReplayStore: Send + Sync + 'static {
    /// Records `key` for `ttl`. `Ok(true)`: it was not seen before (the proof is fresh);
    /// `Ok(false)`: it was seen within its window (a replay).
    fn insert_once<'a>(
        &'a self,
        key: &'a str,
        ttl: std::time::Duration,
    ) -> BoxFuture<'a, Result<bool, ReplayStoreError>>;
}

/// A replay store could not answer; the layer refuses the request with 503 (fail closed).
#[derive(Debug, Clone, thiserror::Error)]
#[error("the DPoP replay store failed: {0}")]
pub struct ReplayStoreError(pub String);
