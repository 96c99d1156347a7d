//! The key policy: which JWKs may verify which algorithms (use, key_ops, alg, key type,
//! RSA modulus length and ROCA), and the verification key a JWK that passes becomes.

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
    pub(crate) fn hmac(
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

/// The JWK members every key must pass: `use` absent or `sig`, `key_ops` absent or with
/// `verify`, `alg` absent or a known signature algorithm. Returns the pinned algorithm.
pub(crate) fn check_metadata(raw: &Value) -> Result<Option<Algorithm>, KeySkipped> {
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

/// Applies the key policy (README, "Keys") to one public JWK.
pub(crate) fn parse_key(
    raw: &Value,
    accepted_algs: &[Algorithm],
) -> Result<VerificationKey, KeySkipped> {
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

pub(super) fn is_secret(raw: &Value) -> bool {
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
    use super::super::tests::modulus;
    use super::*;

    #[test]
    fn counts_modulus_bits() {
        let bits = |b64: &str| decode_unsigned(b64).map(|n| bit_length(&n));
        assert_eq!(bits(&modulus(2048)), Some(2048));
        assert_eq!(bits("AAAB"), Some(1));
        assert_eq!(bits("AAAA"), None);
    }
}
