//! Replay protection (RFC 9449 §11.1): the [`ReplayStore`] trait that remembers proofs, the
//! [`ReplayKey`] the layer asks it to remember, and what a store may answer.
//!
//! A store answers one of three things, and a fourth is an error: the proof is fresh, it is
//! a replay, or the store has no room for it ([`ReplayVerdict::Full`]: the share of its key,
//! or the whole store, is used up). "Full" is refused in every configuration; only a
//! [`ReplayStoreError`] (the store could not be asked) may be let through, and only with
//! [`Dpop::replay_store_fail_open`](super::Dpop::replay_store_fail_open).

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures_util::future::BoxFuture;

use super::thumbprint::sha256;

/// Remembers DPoP proofs for as long as a proof could be accepted, so that a replayed proof
/// is refused (RFC 9449 §11.1).
///
/// A store may bound how many proofs one key (one [`ReplayKey::thumbprint`], so one client:
/// a token is bound to one key) holds at once, and answer [`ReplayVerdict::Full`] past that
/// share, so that one client filling its share changes nothing for the others.
pub trait ReplayStore: Send + Sync + 'static {
    /// Records `proof` for `ttl` unless it is already recorded: [`ReplayVerdict::Fresh`]
    /// when it was not (the proof passes), [`ReplayVerdict::Replayed`] when it was seen
    /// within its window, [`ReplayVerdict::Full`] when there is no room for it (refused,
    /// never let through). An `Err` means the store could not be asked (a transport error).
    fn insert_once<'a>(
        &'a self,
        proof: &'a ReplayKey,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<ReplayVerdict, ReplayStoreError>>;
}

/// What a [`ReplayStore`] answers for one proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayVerdict {
    /// Not seen before, now recorded: the proof passes.
    Fresh,
    /// Seen within its window: the proof is refused as a replay.
    Replayed,
    /// No room to record it (the share of its key, or the whole store, is used up): the
    /// proof is refused with 503, even when the layer fails open on store errors, since a
    /// proof that is not recorded could be replayed.
    Full,
}

/// The store could not be reached or answered garbage (a transport error, not "full").
#[derive(Debug, Clone, thiserror::Error)]
#[error("the DPoP replay store failed: {0}")]
pub struct ReplayStoreError(pub String);

/// One proof, as the layer asks a [`ReplayStore`] to remember it.
///
/// [`key`](Self::key) is `"bearer-guard:dpop:"` followed by base64url(SHA-256 of `jkt`,
/// `htu` and `jti` joined by spaces): bounded in length whatever the proof holds, never request data
/// verbatim, and one key per proof key, URI and proof identifier (two clients whose proofs
/// carry the same `jti` never collide). [`thumbprint`](Self::thumbprint) is the proof key's
/// thumbprint (the token's `cnf.jkt`), for stores that bound each key's share.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReplayKey {
    key: String,
    thumbprint: String,
}

impl ReplayKey {
    /// The key for the proof with this identifier (`jti`), made for this URI (`htu`) with
    /// the key of this thumbprint (`jkt`).
    pub fn new(jkt: &str, htu: &str, jti: &str) -> Self {
        // `jkt` (base64url) and a normalised `htu` hold no space: the joined input is
        // unambiguous whatever the `jti`.
        let mut input = Vec::with_capacity(jkt.len() + htu.len() + jti.len() + 2);
        for (i, part) in [jkt, htu, jti].into_iter().enumerate() {
            if i > 0 {
                input.push(b' ');
            }
            input.extend_from_slice(part.as_bytes());
        }
        ReplayKey {
            key: format!(
                "bearer-guard:dpop:{}",
                URL_SAFE_NO_PAD.encode(sha256(&input))
            ),
            thumbprint: jkt.to_owned(),
        }
    }

    /// The key to store.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The thumbprint of the key that signed the proof: the client whose share it counts in.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_bounded_and_holds_the_thumbprint_the_uri_and_the_jti() {
        let key = ReplayKey::new("jkt-a", "https://api.example.com/a", "jti-1");
        assert!(key.key().starts_with("bearer-guard:dpop:"));
        assert_eq!(key.key().len(), "bearer-guard:dpop:".len() + 43);
        assert_eq!(key.thumbprint(), "jkt-a");
        let long = ReplayKey::new("jkt-a", "https://api.example.com/a", &"j".repeat(10_000));
        assert_eq!(long.key().len(), key.key().len());
        for other in [
            ReplayKey::new("jkt-b", "https://api.example.com/a", "jti-1"),
            ReplayKey::new("jkt-a", "https://api.example.com/b", "jti-1"),
            ReplayKey::new("jkt-a", "https://api.example.com/a", "jti-2"),
        ] {
            assert_ne!(other.key(), key.key());
        }
    }
}
