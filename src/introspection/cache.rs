//! The introspection result cache: what the issuer said about a token, kept for a while and
//! keyed by the SHA-256 of the token (the token itself is never stored, so neither a memory
//! dump nor a debug print of the cache shows it).
//!
//! An active result is kept for `min(exp - now, the configured maximum)`; a refusal (not
//! active, or active but refused by the claim rules) for the negative TTL. The cache is
//! bounded by a byte budget, each entry weighed by an estimate of its claims in memory.

use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::claims::VerifiedClaims;
use crate::error::TokenProblem;
use crate::shards::ShardedCache;

/// The SHA-256 of a token: the key of the cache and of the calls in flight.
pub(crate) type TokenDigest = [u8; 32];

/// What an entry costs beyond its claims: the digest, the entry, its `Arc` and table slot.
const ENTRY_OVERHEAD_BYTES: usize = 192;

/// The digest of `token`.
pub(crate) fn digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

/// What the issuer's answer decided, once checked by the rules.
#[derive(Clone, Debug)]
pub(crate) enum Verdict {
    /// Active, and its claims passed every rule.
    Active {
        claims: VerifiedClaims,
        not_before: Option<i64>,
    },
    /// Not active, or refused by the rules.
    Refused(TokenProblem),
}

impl Verdict {
    /// The verdict at `now`: an active token's time claims are checked again (a cached
    /// result may outlive them by up to the leeway only).
    pub(crate) fn at(&self, now: i64, leeway_secs: i64) -> Result<VerifiedClaims, TokenProblem> {
        match self {
            Verdict::Active { claims, not_before } => {
                if now >= claims.expires_at().saturating_add(leeway_secs) {
                    Err(TokenProblem::Expired)
                } else if not_before.is_some_and(|nbf| now.saturating_add(leeway_secs) < nbf) {
                    Err(TokenProblem::NotYetValid)
                } else {
                    Ok(claims.clone())
                }
            }
            Verdict::Refused(problem) => Err(*problem),
        }
    }

    /// How long it may be cached from `now`: an active token until its `exp` and at most
    /// `max`; a refusal for `negative`.
    pub(crate) fn lifetime(&self, now: i64, max: Duration, negative: Duration) -> Duration {
        match self {
            Verdict::Active { claims, .. } => {
                let remaining = claims.expires_at().saturating_sub(now);
                Duration::from_secs(u64::try_from(remaining).unwrap_or(0)).min(max)
            }
            Verdict::Refused(_) => negative,
        }
    }
}

/// Introspection results by token digest, bounded by a byte budget; read-mostly (a hit
/// writes nothing shared, see `shards.rs`).
pub(crate) struct ResultCache {
    entries: ShardedCache<TokenDigest, Verdict, foldhash::fast::RandomState>,
}

impl ResultCache {
    pub(crate) fn new(max_bytes: u64) -> Self {
        ResultCache {
            // The keys are SHA-256 digests: the fast hasher is enough.
            entries: ShardedCache::new(max_bytes, foldhash::fast::RandomState::default()),
        }
    }

    pub(crate) fn get(&self, key: &TokenDigest) -> Option<Verdict> {
        self.entries
            .get(self.entries.hash(key), key, Verdict::clone)
    }

    /// Keeps `verdict` for `lifetime` (nothing is kept for a zero lifetime).
    pub(crate) fn insert(&self, key: TokenDigest, verdict: Verdict, lifetime: Duration) {
        let claims_bytes = match &verdict {
            Verdict::Active { claims, .. } => claims.approximate_heap_bytes(),
            Verdict::Refused(_) => 0,
        };
        let weight = u32::try_from(claims_bytes + ENTRY_OVERHEAD_BYTES).unwrap_or(u32::MAX);
        self.entries
            .insert(self.entries.hash(&key), key, verdict, weight, lifetime);
    }

    /// Entries held and their weight in estimated bytes (expired ones not counted).
    pub(crate) fn size(&self) -> (u64, u64) {
        self.entries.size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::Scopes;

    fn active(exp: i64, nbf: Option<i64>) -> Verdict {
        let claims = VerifiedClaims::new(
            "iss".into(),
            vec!["api".into()],
            exp,
            Scopes::default(),
            serde_json::Map::new(),
        )
        .unwrap();
        Verdict::Active {
            claims,
            not_before: nbf,
        }
    }

    #[test]
    fn the_digest_is_sha256() {
        let hex: String = digest("abc").iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn active_results_live_until_exp_and_at_most_the_maximum() {
        let max = Duration::from_secs(60);
        let negative = Duration::from_secs(5);
        assert_eq!(
            active(1_030, None).lifetime(1_000, max, negative).as_secs(),
            30
        );
        assert_eq!(active(9_000, None).lifetime(1_000, max, negative), max);
        assert_eq!(
            active(900, None).lifetime(1_000, max, negative),
            Duration::ZERO
        );
        let refused = Verdict::Refused(TokenProblem::Inactive);
        assert_eq!(refused.lifetime(1_000, max, negative), negative);
    }

    #[test]
    fn cached_active_results_recheck_their_time_claims() {
        assert!(active(1_100, None).at(1_000, 0).is_ok());
        assert_eq!(
            active(1_000, None).at(1_000, 0).err(),
            Some(TokenProblem::Expired)
        );
        assert_eq!(
            active(2_000, Some(1_500)).at(1_000, 60).err(),
            Some(TokenProblem::NotYetValid)
        );
    }
}
