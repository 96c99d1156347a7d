//! Verification keys: a JWK set parsed once, under the key policy, into keys ready to verify.
//!
//! This module does no I/O; `jwks` fetches the bytes and hands them here.

use std::collections::HashMap;
use std::sync::Arc;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

use crate::error::TokenProblem;

/// RSA moduli shorter than this are refused (NIST SP 800-131A; RFC 7518 §3.3 says 2048).
const MIN_RSA_MODULUS_BITS: usize = 2048;

/// A public key (or HMAC secret) checked against the key policy, ready to verify signatures.
pub(crate) struct VerificationKey {
    kind: KeyKind,
    /// The JWK's `alg`, when it names one: the only algorithm this key may verify.
    pinned_alg: Option<Algorithm>,
    key: DecodingKey,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    Rsa,
    EcP256,
    EcP384,
    Ed25519,
    Hmac,
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
                | (KeyKind::Hmac, HS256 | HS384 | HS512)
        )
    }
}

impl VerificationKey {
    /// An HMAC secret (secret mode).
    pub(crate) fn hmac(secret: &[u8]) -> Self {
        VerificationKey {
            kind: KeyKind::Hmac,
            pinned_alg: None,
            key: DecodingKey::from_secret(secret),
        }
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
        crate::backend::verify(alg, &self.key, signing_input, signature)
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
    #[error("`alg` is not an accepted algorithm for this key")]
    AlgorithmNotAccepted,
    #[error("symmetric keys are never taken from a key set")]
    Symmetric,
    #[error("another key has the same `kid`")]
    DuplicateKid,
}

/// Why a whole key set was refused (the previous one, if any, stays in use).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum KeySetRejected {
    #[error("the document is not a JWK set")]
    NotAKeySet,
    #[error("the key set has {0} keys, more than the {1} accepted")]
    TooManyKeys(usize, usize),
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
    Found(&'a VerificationKey),
    /// No key has this `kid`: a refetch may find it.
    Unknown,
    Rejected(TokenProblem),
}

impl KeySet {
    /// Parses a JWK set document. Keys that fail the policy are skipped and reported;
    /// `accepted_algs` are the algorithms the validator allows, so a key pinned to another
    /// algorithm is useless and left out.
    pub(crate) fn parse(
        document: &[u8],
        accepted_algs: &[Algorithm],
        max_keys: usize,
    ) -> Result<(KeySet, Vec<(Option<String>, KeySkipped)>), KeySetRejected> {
        #[derive(serde::Deserialize)]
        struct Document {
            keys: Vec<Value>,
        }
        let document: Document =
            serde_json::from_slice(document).map_err(|_| KeySetRejected::NotAKeySet)?;
        if document.keys.len() > max_keys {
            return Err(KeySetRejected::TooManyKeys(document.keys.len(), max_keys));
        }
        let mut skipped = Vec::new();
        let mut by_kid: HashMap<String, Arc<VerificationKey>> = HashMap::new();
        let mut duplicate_kids = Vec::new();
        let mut unnamed = Vec::new();
        for raw in &document.keys {
            let kid = raw.get("kid").and_then(Value::as_str).map(str::to_owned);
            match parse_key(raw, accepted_algs) {
                Err(reason) => skipped.push((kid, reason)),
                Ok(key) => match kid {
                    None => unnamed.push(Arc::new(key)),
                    Some(kid) => {
                        if by_kid.insert(kid.clone(), Arc::new(key)).is_some() {
                            duplicate_kids.push(kid);
                        }
                    }
                },
            }
        }
        // Two keys under one `kid` make "which key signed this?" ambiguous: use neither.
        for kid in duplicate_kids {
            if by_kid.remove(&kid).is_some() {
                skipped.push((Some(kid), KeySkipped::DuplicateKid));
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

    /// A key set holding just an HMAC secret (secret mode).
    pub(crate) fn secret(secret: &[u8]) -> KeySet {
        KeySet {
            by_kid: HashMap::new(),
            unnamed: vec![Arc::new(VerificationKey::hmac(secret))],
            len: 1,
        }
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

/// Applies the key policy of DESIGN.md to one JWK.
fn parse_key(raw: &Value, accepted_algs: &[Algorithm]) -> Result<VerificationKey, KeySkipped> {
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
    let pinned_alg = match raw.get("alg") {
        None => None,
        Some(Value::String(name)) => Some(
            name.parse::<Algorithm>()
                .map_err(|_| KeySkipped::AlgorithmNotAccepted)?,
        ),
        Some(_) => return Err(KeySkipped::Unparsable),
    };
    if raw.get("kty").and_then(Value::as_str) == Some("oct") {
        return Err(KeySkipped::Symmetric);
    }
    let jwk: Jwk = serde_json::from_value(raw.clone()).map_err(|_| KeySkipped::Unparsable)?;
    let kind = match &jwk.algorithm {
        AlgorithmParameters::RSA(rsa) => {
            if modulus_bits(&rsa.n).ok_or(KeySkipped::Unparsable)? < MIN_RSA_MODULUS_BITS {
                return Err(KeySkipped::WeakRsa);
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
    let usable = |alg: &Algorithm| kind.fits(*alg) && pinned_alg.is_none_or(|p| p == *alg);
    if !accepted_algs.iter().any(usable) {
        return Err(KeySkipped::AlgorithmNotAccepted);
    }
    let key = DecodingKey::from_jwk(&jwk).map_err(|_| KeySkipped::Unparsable)?;
    Ok(VerificationKey {
        kind,
        pinned_alg,
        key,
    })
}

/// The bit length of a base64url big-endian modulus, ignoring leading zero bytes.
fn modulus_bits(n_b64: &str) -> Option<usize> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(n_b64)
        .ok()?;
    let first = bytes.iter().position(|&b| b != 0)?;
    let top_bits = 8 - bytes[first].leading_zeros() as usize;
    Some((bytes.len() - first - 1) * 8 + top_bits)
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

    fn parse(keys: Vec<Value>) -> (KeySet, Vec<(Option<String>, KeySkipped)>) {
        KeySet::parse(json!({ "keys": keys }).to_string().as_bytes(), RS256, 100).unwrap()
    }

    #[test]
    fn counts_modulus_bits() {
        assert_eq!(modulus_bits(&modulus(2048)), Some(2048));
        assert_eq!(modulus_bits("AAAB"), Some(1));
        assert_eq!(modulus_bits("AAAA"), None);
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
            json!({"kty": "oct", "kid": "secret", "k": "c2VjcmV0"}),
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
                KeySkipped::Symmetric,
                KeySkipped::UnsupportedType,
                KeySkipped::Unparsable,
            ]
        );
    }

    #[test]
    fn duplicate_kids_are_both_dropped() {
        let (set, skipped) = parse(vec![rsa_jwk("a", 2048), rsa_jwk("a", 2048)]);
        assert_eq!(set.len(), 0);
        assert_eq!(skipped, [(Some("a".into()), KeySkipped::DuplicateKid)]);
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
