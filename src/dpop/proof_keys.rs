//! Parsed proof keys by thumbprint: a client signs every proof with the same key, so the key
//! is parsed, checked against the key policy (size, ROCA) and prepared once, not per request.

use std::sync::Arc;

use jsonwebtoken::Algorithm;
use moka::sync::Cache;
use serde_json::{Map, Value};

use super::thumbprint::required_members;
use crate::error::DpopProblem;
use crate::keys::VerificationKey;

/// How many proof keys are kept: each is the key of a client whose token is bound to it (a
/// proof's key is parsed only once its thumbprint matched the token's `cnf.jkt`).
const PROOF_KEY_CAPACITY: u64 = 4096;

/// The byte budget of the remembered proof headers (each weighs its text and
/// [`HEADER_OVERHEAD_BYTES`]): about 8,000 headers of a P-256 key.
const HEADER_BUDGET_BYTES: u64 = 4 << 20;
/// What a remembered header costs beyond its text: the entry, its thumbprint, the cache node.
const HEADER_OVERHEAD_BYTES: usize = 256;

/// What a proof header (its exact base64url text) yields, once checked: its algorithm, its
/// key's thumbprint and the parsed key. The same text always yields the same, under one
/// binder's rules.
pub(crate) struct KnownHeader {
    pub(crate) alg: Algorithm,
    pub(crate) jkt: String,
    pub(crate) key: Arc<VerificationKey>,
}

/// A bounded cache of parsed, policy-checked proof keys, keyed by RFC 7638 thumbprint and
/// algorithm; and in front of it the headers that led to them, by their text.
pub(crate) struct ProofKeys {
    cache: Cache<(String, Algorithm), Arc<VerificationKey>>,
    headers: Cache<Box<str>, Arc<KnownHeader>>,
}

impl Default for ProofKeys {
    fn default() -> Self {
        ProofKeys {
            cache: Cache::builder().max_capacity(PROOF_KEY_CAPACITY).build(),
            headers: Cache::builder()
                .max_capacity(HEADER_BUDGET_BYTES)
                .weigher(weigh_header)
                .build(),
        }
    }
}

/// A remembered header's weight against [`HEADER_BUDGET_BYTES`].
#[allow(clippy::borrowed_box)] // moka's weigher signature.
fn weigh_header(header: &Box<str>, _: &Arc<KnownHeader>) -> u32 {
    u32::try_from(header.len() + HEADER_OVERHEAD_BYTES).unwrap_or(u32::MAX)
}

impl ProofKeys {
    /// What `header` yielded before, if it is remembered.
    pub(crate) fn known_header(&self, header: &str) -> Option<Arc<KnownHeader>> {
        self.headers.get(header)
    }

    /// Remembers what `header` yields. Only the header of a proof whose key matched the
    /// token's `cnf.jkt` and whose signature verified gets here: only the holder of a bound
    /// key adds entries, and the byte budget bounds what even that client can add.
    pub(crate) fn remember_header(&self, header: &str, known: Arc<KnownHeader>) {
        self.headers.insert(header.into(), known);
    }

    /// The key of `jwk` (whose thumbprint is `thumbprint`) for `alg`: from the cache, or
    /// parsed under the key policy. Only a JWK of its required members alone is cached:
    /// the thumbprint covers those, and any other member (`alg`, `use`, `key_ops`) changes
    /// what the policy says, so such a key is parsed every time.
    pub(crate) fn get(
        &self,
        thumbprint: &str,
        alg: Algorithm,
        jwk: &Map<String, Value>,
    ) -> Result<Arc<VerificationKey>, DpopProblem> {
        if !only_required_members(jwk) {
            return parse(jwk, alg);
        }
        let cache_key = (thumbprint.to_owned(), alg);
        if let Some(key) = self.cache.get(&cache_key) {
            return Ok(key);
        }
        let key = parse(jwk, alg)?;
        self.cache.insert(cache_key, Arc::clone(&key));
        Ok(key)
    }
}

/// `jwk` parsed and checked against the key policy for `alg`, without a cache.
pub(crate) fn parse(
    jwk: &Map<String, Value>,
    alg: Algorithm,
) -> Result<Arc<VerificationKey>, DpopProblem> {
    crate::keys::parse_key(&Value::Object(jwk.clone()), &[alg])
        .map(Arc::new)
        .map_err(|_| DpopProblem::UnusableKey)
}

/// Whether `jwk` holds the members of its RFC 7638 thumbprint and nothing else.
fn only_required_members(jwk: &Map<String, Value>) -> bool {
    required_members(jwk).is_some_and(|required| {
        jwk.len() == required.len() && jwk.keys().all(|name| required.contains(&name.as_str()))
    })
}

#[cfg(all(test, feature = "test-util"))]
mod tests {
    use super::*;
    use crate::testing::DpopProof;

    #[test]
    fn a_key_is_parsed_once_and_only_its_required_members_are_cached() {
        let keys = ProofKeys::default();
        let client = DpopProof::generate();
        let jwk = client.jwk().as_object().unwrap().clone();
        let jkt = client.jkt();
        let first = keys.get(&jkt, Algorithm::ES256, &jwk).unwrap();
        let again = keys.get(&jkt, Algorithm::ES256, &jwk).unwrap();
        assert!(
            Arc::ptr_eq(&first, &again),
            "the second proof reuses the parsed key"
        );
        // Another member changes what the policy says: parsed again, and refused here.
        let mut for_encryption = jwk.clone();
        for_encryption.insert("use".into(), "enc".into());
        assert_eq!(
            keys.get(&jkt, Algorithm::ES256, &for_encryption).err(),
            Some(DpopProblem::UnusableKey)
        );
        // The algorithm is part of the entry: the key does not fit ES384.
        assert_eq!(
            keys.get(&jkt, Algorithm::ES384, &jwk).err(),
            Some(DpopProblem::UnusableKey)
        );
    }
}
