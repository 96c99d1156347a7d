//! Verification keys: a JWK set parsed once, under the key policy, into keys ready to verify.
//!
//! This module does no I/O; `jwks` fetches the bytes and hands them here. The policy each key
//! must pass is in [`policy`].

mod pem;
mod policy;

use std::collections::HashMap;
use std::sync::Arc;

use jsonwebtoken::Algorithm;
use serde_json::Value;

use crate::error::TokenProblem;

#[cfg(feature = "test-util")]
pub(crate) use pem::take as take_der;
pub(crate) use pem::{decode_pem, pem_to_jwk, spki_to_jwk};
#[cfg(feature = "test-util")]
pub(crate) use policy::check_metadata;
use policy::is_secret;
pub(crate) use policy::{KeySkipped, VerificationKey, hmac_secret_fits, parse_key};

/// A key left out of a set: its `kid`, if it had one, and why.
pub(crate) type SkippedKey = (Option<String>, KeySkipped);

/// Why a whole key set was refused (the previous one, if any, stays in use).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum KeySetRejected {
    #[error("the document is not a JWK set")]
    NotAKeySet,
    #[error("the key set has {0} keys, more than the {1} accepted")]
    TooManyKeys(usize, usize),
    #[error("the key set mixes secret and public keys")]
    MixedSymmetry,
}

/// Applies the key policy to one JWK of a set, for the accepted algorithms.
pub(crate) type KeyParser = fn(&Value, &[Algorithm]) -> Result<VerificationKey, KeySkipped>;

/// The keys of one fetched JWK set, indexed by `kid`.
pub(crate) struct KeySet {
    by_kid: HashMap<String, Arc<VerificationKey>>,
    /// Keys published without a `kid`, usable only by tokens without one.
    unnamed: Vec<Arc<VerificationKey>>,
    len: usize,
}

/// The outcome of looking up a token's key.
pub(crate) enum KeyChoice<'a> {
    Found(&'a Arc<VerificationKey>),
    /// No key has this `kid`: a refetch may find it.
    Unknown,
    Rejected(TokenProblem),
}

impl KeySet {
    /// Parses a JWK set document. Keys that fail the policy are skipped and reported;
    /// `accepted_algs` are the algorithms the validator allows, so a key pinned to another
    /// algorithm is useless and left out. Secrets (`kty: oct`) are skipped: key sets hold
    /// public keys only. A set mixing secrets and public keys is refused.
    pub(crate) fn parse(
        document: &[u8],
        accepted_algs: &[Algorithm],
        max_keys: usize,
    ) -> Result<(KeySet, Vec<SkippedKey>), KeySetRejected> {
        Self::parse_with(document, accepted_algs, max_keys, parse_key)
    }

    /// [`parse`](Self::parse) with another parser for each key (the test kit's, for sets of
    /// secrets): the same limits, the same refusal of mixed sets and duplicate `kid`s.
    pub(crate) fn parse_with(
        document: &[u8],
        accepted_algs: &[Algorithm],
        max_keys: usize,
        parse_one: KeyParser,
    ) -> Result<(KeySet, Vec<SkippedKey>), KeySetRejected> {
        #[derive(serde::Deserialize)]
        struct Document {
            keys: Vec<Value>,
        }
        let document: Document =
            serde_json::from_slice(document).map_err(|_| KeySetRejected::NotAKeySet)?;
        if document.keys.len() > max_keys {
            return Err(KeySetRejected::TooManyKeys(document.keys.len(), max_keys));
        }
        let secrets = document.keys.iter().filter(|raw| is_secret(raw)).count();
        if secrets > 0 && secrets < document.keys.len() {
            return Err(KeySetRejected::MixedSymmetry);
        }
        // Two keys under one `kid` make "which key signed this?" ambiguous: use neither,
        // even when one of them would not parse.
        let mut kid_counts: HashMap<&str, usize> = HashMap::new();
        for raw in &document.keys {
            if let Some(kid) = raw.get("kid").and_then(Value::as_str) {
                *kid_counts.entry(kid).or_default() += 1;
            }
        }
        let mut skipped = Vec::new();
        let mut by_kid: HashMap<String, Arc<VerificationKey>> = HashMap::new();
        let mut unnamed = Vec::new();
        for raw in &document.keys {
            let kid = raw.get("kid").and_then(Value::as_str);
            let parsed = match kid {
                Some(kid) if kid_counts[kid] > 1 => Err(KeySkipped::DuplicateKid),
                _ => parse_one(raw, accepted_algs),
            };
            match (parsed, kid) {
                (Err(reason), _) => skipped.push((kid.map(str::to_owned), reason)),
                (Ok(key), None) => unnamed.push(Arc::new(key)),
                (Ok(key), Some(kid)) => {
                    by_kid.insert(kid.to_owned(), Arc::new(key));
                }
            }
        }
        let len = by_kid.len() + unnamed.len();
        Ok((
            KeySet {
                by_kid,
                unnamed,
                len,
            },
            skipped,
        ))
    }

    /// A key set holding just an HMAC secret (secret mode). A secret too short for every
    /// algorithm (which configuration checks refuse first) gives an empty set, which
    /// verifies nothing.
    pub(crate) fn secret(secret: &[u8], accepted_algs: &[Algorithm]) -> KeySet {
        let unnamed: Vec<_> = VerificationKey::hmac(secret, None, accepted_algs)
            .map(Arc::new)
            .into_iter()
            .collect();
        KeySet {
            by_kid: HashMap::new(),
            len: unnamed.len(),
            unnamed,
        }
    }

    /// Whether `key` is still the key this set chooses for `kid` and `alg`.
    pub(crate) fn holds(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
        key: &Arc<VerificationKey>,
    ) -> bool {
        matches!(self.choose(kid, alg), KeyChoice::Found(chosen) if Arc::ptr_eq(chosen, key))
    }

    /// The `kid`s of the named keys, sorted: for the diagnosis report.
    pub(crate) fn kids(&self) -> Vec<String> {
        let mut kids: Vec<String> = self.by_kid.keys().cloned().collect();
        kids.sort_unstable();
        kids
    }

    /// How many usable keys the set has.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The key for a token: by `kid` when the token names one; otherwise the one key usable
    /// for `alg`, if there is exactly one.
    pub(crate) fn choose(&self, kid: Option<&str>, alg: Algorithm) -> KeyChoice<'_> {
        match kid {
            Some(kid) => match self.by_kid.get(kid) {
                Some(key) if key.accepts(alg) => KeyChoice::Found(key),
                Some(_) => KeyChoice::Rejected(TokenProblem::KeyMismatch),
                None if self.by_kid.is_empty() && self.unnamed.len() == 1 => {
                    // A secret, or a set with one unnamed key: a `kid` picks nothing here.
                    self.only_key_for(alg)
                }
                None => KeyChoice::Unknown,
            },
            None => self.only_key_for(alg),
        }
    }

    fn only_key_for(&self, alg: Algorithm) -> KeyChoice<'_> {
        let mut usable = self
            .unnamed
            .iter()
            .chain(self.by_kid.values())
            .filter(|key| key.accepts(alg));
        match (usable.next(), usable.next()) {
            (Some(key), None) => KeyChoice::Found(key),
            (Some(_), Some(_)) => KeyChoice::Rejected(TokenProblem::AmbiguousKey),
            (None, _) if self.len == 0 => KeyChoice::Unknown,
            (None, _) => KeyChoice::Rejected(TokenProblem::KeyMismatch),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    const RS256: &[Algorithm] = &[Algorithm::RS256];

    /// An RSA modulus of `bits` bits (not a real key's: enough for the policy's checks).
    pub(crate) fn modulus(bits: usize) -> String {
        use base64::Engine;
        let mut bytes = vec![0xffu8; bits / 8];
        bytes[0] = 0xc1;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    fn rsa_jwk(kid: &str, bits: usize) -> Value {
        json!({"kty": "RSA", "kid": kid, "n": modulus(bits), "e": "AQAB"})
    }

    fn parse(keys: Vec<Value>) -> (KeySet, Vec<SkippedKey>) {
        KeySet::parse(json!({ "keys": keys }).to_string().as_bytes(), RS256, 100).unwrap()
    }

    #[test]
    fn policy_skips_bad_keys_and_keeps_good_ones() {
        let mut enc = rsa_jwk("enc", 2048);
        enc["use"] = json!("enc");
        let mut wrap = rsa_jwk("wrap", 2048);
        wrap["key_ops"] = json!(["wrapKey"]);
        let mut es = rsa_jwk("pinned-ps", 2048);
        es["alg"] = json!("PS256");
        let (set, skipped) = parse(vec![
            rsa_jwk("good", 2048),
            rsa_jwk("weak", 1024),
            enc,
            wrap,
            es,
            json!({"kty": "XYZ", "kid": "alien"}),
            json!("not an object"),
        ]);
        assert_eq!(set.len(), 1);
        assert!(matches!(
            set.choose(Some("good"), Algorithm::RS256),
            KeyChoice::Found(_)
        ));
        let reasons: Vec<_> = skipped.iter().map(|(_, r)| r.clone()).collect();
        assert_eq!(
            reasons,
            [
                KeySkipped::WeakRsa,
                KeySkipped::NotForSignatures,
                KeySkipped::NoVerifyOperation,
                KeySkipped::AlgorithmNotAccepted,
                KeySkipped::UnsupportedType,
                KeySkipped::Unparsable,
            ]
        );
    }

    #[test]
    fn sets_mixing_secrets_and_public_keys_are_refused_whole() {
        let secret =
            json!({"kty": "oct", "kid": "s", "k": "c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0"});
        let doc = json!({ "keys": [rsa_jwk("a", 2048), secret.clone()] }).to_string();
        assert!(matches!(
            KeySet::parse(doc.as_bytes(), RS256, 100),
            Err(KeySetRejected::MixedSymmetry)
        ));
        let only_secret = json!({ "keys": [secret] }).to_string();
        let (set, skipped) = KeySet::parse(only_secret.as_bytes(), RS256, 100).unwrap();
        assert_eq!(
            (set.len(), skipped.len()),
            (0, 1),
            "secrets never verify RS256"
        );
    }

    #[test]
    fn duplicate_kids_are_both_dropped() {
        let (set, skipped) = parse(vec![
            rsa_jwk("a", 2048),
            json!({"kid": "a"}),
            rsa_jwk("b", 2048),
        ]);
        assert_eq!(set.len(), 1);
        assert_eq!(
            skipped,
            [
                (Some("a".into()), KeySkipped::DuplicateKid),
                (Some("a".into()), KeySkipped::DuplicateKid)
            ]
        );
    }

    #[test]
    fn key_choice_without_kid_needs_exactly_one_usable_key() {
        let (one, _) = parse(vec![rsa_jwk("a", 2048)]);
        assert!(matches!(
            one.choose(None, Algorithm::RS256),
            KeyChoice::Found(_)
        ));
        let (two, _) = parse(vec![rsa_jwk("a", 2048), rsa_jwk("b", 2048)]);
        assert!(matches!(
            two.choose(None, Algorithm::RS256),
            KeyChoice::Rejected(TokenProblem::AmbiguousKey)
        ));
        assert!(matches!(
            two.choose(Some("c"), Algorithm::RS256),
            KeyChoice::Unknown
        ));
        assert!(matches!(
            two.choose(Some("a"), Algorithm::ES256),
            KeyChoice::Rejected(TokenProblem::KeyMismatch)
        ));
    }

    #[test]
    fn oversized_and_malformed_sets_are_refused_whole() {
        let many: Vec<Value> = (0..3).map(|i| rsa_jwk(&i.to_string(), 2048)).collect();
        let doc = json!({ "keys": many }).to_string();
        assert!(matches!(
            KeySet::parse(doc.as_bytes(), RS256, 2),
            Err(KeySetRejected::TooManyKeys(3, 2))
        ));
        for doc in ["<html>", "{}", r#"{"keys": {}}"#] {
            assert!(KeySet::parse(doc.as_bytes(), RS256, 100).is_err(), "{doc}");
        }
    }
}
