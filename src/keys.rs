//! Verification keys: a JWK set parsed once, under the key policy, into keys ready to verify.
//!
//! This module does no I/O; `jwks` fetches the bytes and hands them here.

use std::collections::HashMap;
use std::sync::Arc;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use crate::backend::Verifier;
use crate::error::TokenProblem;

/// RSA moduli shorter than this are refused (NIST SP 800-131A; RFC 7518 §3.3 says 2048).
const MIN_RSA_MODULUS_BITS: usize = 2048;

/// A public key (or HMAC secret) checked against the key policy, ready to verify signatures.
pub(crate) struct VerificationKey {
    kind: KeyKind,
    /// The JWK's `alg`, when it names one: the only algorithm this key may verify.
    pinned_alg: Option<Algorithm>,
    verifier: Verifier,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Rsa,
    EcP256,
    EcP384,
    Ed25519,
    /// A secret of this many bytes.
    Hmac(usize),
}

impl KeyKind {
    fn fits(self, alg: Algorithm) -> bool {
        use Algorithm::*;
        matches!(
            (self, alg),
            (KeyKind::Rsa, RS256 | RS384 | RS512 | PS256 | PS384 | PS512)
                | (KeyKind::EcP256, ES256)
                | (KeyKind::EcP384, ES384)
                | (KeyKind::Ed25519, EdDSA)
        ) || matches!(self, KeyKind::Hmac(bytes) if hmac_secret_fits(bytes, alg))
    }
}

/// RFC 7518 §3.2: an HMAC key must be at least as long as the hash output.
pub(crate) fn hmac_secret_fits(bytes: usize, alg: Algorithm) -> bool {
    match alg {
        Algorithm::HS256 => bytes >= 32,
        Algorithm::HS384 => bytes >= 48,
        Algorithm::HS512 => bytes >= 64,
        _ => false,
    }
}

impl VerificationKey {
    /// Prepares `key` for verification with each accepted algorithm its kind (and its JWK
    /// `alg`, if any) allows; refused when it allows none.
    fn prepare(
        kind: KeyKind,
        pinned_alg: Option<Algorithm>,
        key: &DecodingKey,
        accepted_algs: &[Algorithm],
    ) -> Result<Self, KeySkipped> {
        let algs: Vec<Algorithm> = accepted_algs
            .iter()
            .copied()
            .filter(|&alg| kind.fits(alg) && pinned_alg.is_none_or(|pinned| pinned == alg))
            .collect();
        if algs.is_empty() {
            return Err(KeySkipped::AlgorithmNotAccepted);
        }
        let verifier = Verifier::new(key, &algs).map_err(|_| KeySkipped::Unparsable)?;
        Ok(VerificationKey {
            kind,
            pinned_alg,
            verifier,
        })
    }

    /// An HMAC secret, for the accepted algorithms it is long enough for.
    fn hmac(
        secret: &[u8],
        pinned_alg: Option<Algorithm>,
        accepted_algs: &[Algorithm],
    ) -> Result<Self, KeySkipped> {
        let kind = KeyKind::Hmac(secret.len());
        Self::prepare(
            kind,
            pinned_alg,
            &DecodingKey::from_secret(secret),
            accepted_algs,
        )
    }

    /// Whether this key may verify a token signed with `alg`.
    pub(crate) fn accepts(&self, alg: Algorithm) -> bool {
        self.kind.fits(alg) && self.pinned_alg.is_none_or(|pinned| pinned == alg)
    }

    /// Checks `signature` over `signing_input` with the crate's crypto backend.
    pub(crate) fn verify(
        &self,
        alg: Algorithm,
        signing_input: &[u8],
        signature: &[u8],
    ) -> Result<(), TokenProblem> {
        if !self.accepts(alg) {
            return Err(TokenProblem::KeyMismatch);
        }
        self.verifier
            .verify(alg, signing_input, signature)
            .map_err(|_| TokenProblem::InvalidSignature)
    }
}

/// Why a key of a set was left out. Logged, never fatal to the rest of the set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum KeySkipped {
    #[error("not a JWK this crate can parse")]
    Unparsable,
    #[error("`use` is not `sig`")]
    NotForSignatures,
    #[error("`key_ops` does not include `verify`")]
    NoVerifyOperation,
    #[error("key type or curve not supported for signatures")]
    UnsupportedType,
    #[error("RSA modulus shorter than {MIN_RSA_MODULUS_BITS} bits")]
    WeakRsa,
    #[error("RSA modulus with the ROCA fingerprint (CVE-2017-15361)")]
    RocaVulnerable,
    #[error("`alg` is not an accepted algorithm for this key")]
    AlgorithmNotAccepted,
    #[error("symmetric keys are never taken from a key set")]
    Symmetric,
    #[error("another key has the same `kid`")]
    DuplicateKid,
}

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
    /// algorithm is useless and left out. With HMAC algorithms only, the keys must be
    /// secrets (`kty: oct`); otherwise secrets are skipped. A set mixing both is refused.
    pub(crate) fn parse(
        document: &[u8],
        accepted_algs: &[Algorithm],
        max_keys: usize,
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
        let hmac_mode = accepted_algs
            .iter()
            .all(|alg| matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512));
        let parse_one = if hmac_mode { parse_secret } else { parse_key };
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

/// The JWK members every key must pass: `use` absent or `sig`, `key_ops` absent or with
/// `verify`, `alg` absent or a known signature algorithm. Returns the pinned algorithm.
fn check_metadata(raw: &Value) -> Result<Option<Algorithm>, KeySkipped> {
    match raw.get("use") {
        None => {}
        Some(Value::String(usage)) if usage == "sig" => {}
        Some(_) => return Err(KeySkipped::NotForSignatures),
    }
    if let Some(ops) = raw.get("key_ops") {
        let Value::Array(ops) = ops else {
            return Err(KeySkipped::NoVerifyOperation);
        };
        if !ops.iter().any(|op| op.as_str() == Some("verify")) {
            return Err(KeySkipped::NoVerifyOperation);
        }
    }
    match raw.get("alg") {
        None => Ok(None),
        Some(Value::String(name)) => name
            .parse::<Algorithm>()
            .map(Some)
            .map_err(|_| KeySkipped::AlgorithmNotAccepted),
        Some(_) => Err(KeySkipped::Unparsable),
    }
}

/// Applies the key policy of DESIGN.md to one public JWK.
fn parse_key(raw: &Value, accepted_algs: &[Algorithm]) -> Result<VerificationKey, KeySkipped> {
    let pinned_alg = check_metadata(raw)?;
    if is_secret(raw) {
        return Err(KeySkipped::Symmetric);
    }
    let jwk: Jwk = serde_json::from_value(raw.clone()).map_err(|_| KeySkipped::Unparsable)?;
    let kind = match &jwk.algorithm {
        AlgorithmParameters::RSA(rsa) => {
            let modulus = decode_unsigned(&rsa.n).ok_or(KeySkipped::Unparsable)?;
            if bit_length(&modulus) < MIN_RSA_MODULUS_BITS {
                return Err(KeySkipped::WeakRsa);
            }
            if crate::roca::has_fingerprint(&modulus) {
                return Err(KeySkipped::RocaVulnerable);
            }
            KeyKind::Rsa
        }
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => KeyKind::EcP256,
            EllipticCurve::P384 => KeyKind::EcP384,
            _ => return Err(KeySkipped::UnsupportedType),
        },
        AlgorithmParameters::OctetKeyPair(okp) => match okp.curve {
            EllipticCurve::Ed25519 => KeyKind::Ed25519,
            _ => return Err(KeySkipped::UnsupportedType),
        },
        AlgorithmParameters::OctetKey(_) => return Err(KeySkipped::Symmetric),
        _ => return Err(KeySkipped::UnsupportedType),
    };
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| KeySkipped::Unparsable)?;
    VerificationKey::prepare(kind, pinned_alg, &key, accepted_algs)
}

/// Applies the key policy to one secret (`kty: oct`) JWK, for HMAC verification.
fn parse_secret(raw: &Value, accepted_algs: &[Algorithm]) -> Result<VerificationKey, KeySkipped> {
    use base64::Engine;
    let pinned_alg = check_metadata(raw)?;
    let secret = raw
        .get("k")
        .and_then(Value::as_str)
        .and_then(|k| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(k)
                .ok()
        })
        .ok_or(KeySkipped::Unparsable)?;
    VerificationKey::hmac(&secret, pinned_alg, accepted_algs)
}

fn is_secret(raw: &Value) -> bool {
    raw.get("kty").and_then(Value::as_str) == Some("oct")
}

/// A base64url big-endian unsigned integer, without its leading zero bytes.
fn decode_unsigned(b64: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(b64)
        .ok()?;
    let first = bytes.iter().position(|&b| b != 0)?;
    Some(bytes[first..].to_vec())
}

/// The bit length of a big-endian integer with no leading zero bytes.
fn bit_length(integer: &[u8]) -> usize {
    integer.first().map_or(0, |&top| {
        (integer.len() - 1) * 8 + (8 - top.leading_zeros() as usize)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const RS256: &[Algorithm] = &[Algorithm::RS256];

    fn modulus(bits: usize) -> String {
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
    fn counts_modulus_bits() {
        let bits = |b64: &str| decode_unsigned(b64).map(|n| bit_length(&n));
        assert_eq!(bits(&modulus(2048)), Some(2048));
        assert_eq!(bits("AAAB"), Some(1));
        assert_eq!(bits("AAAA"), None);
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
    fn secrets_must_be_as_long_as_the_hash() {
        use base64::Engine;
        let secret = |bytes: usize| {
            let k = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(vec![1u8; bytes]);
            json!({"kty": "oct", "kid": "s", "k": k})
        };
        let hs = &[Algorithm::HS256, Algorithm::HS384];
        let parse = |jwk: Value| {
            KeySet::parse(json!({ "keys": [jwk] }).to_string().as_bytes(), hs, 10).unwrap()
        };
        let (set, _) = parse(secret(40));
        assert!(matches!(
            set.choose(Some("s"), Algorithm::HS256),
            KeyChoice::Found(_)
        ));
        assert!(matches!(
            set.choose(Some("s"), Algorithm::HS384),
            KeyChoice::Rejected(TokenProblem::KeyMismatch)
        ));
        let (short, skipped) = parse(secret(31));
        assert_eq!(
            (short.len(), skipped[0].1.clone()),
            (0, KeySkipped::AlgorithmNotAccepted)
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
