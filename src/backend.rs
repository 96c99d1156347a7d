//! The crypto backend, chosen by crate feature and used explicitly.
//!
//! With `aws-lc-rs` (the default), keys are parsed once, when a key set is fetched, into
//! aws-lc-rs verification keys for each accepted algorithm; a request only runs the signature
//! check. With `rust-crypto` alone, jsonwebtoken's RustCrypto provider verifies.
//!
//! jsonwebtoken picks a process-wide provider from its own features and panics at the first
//! verification when both or neither are on (as `cargo test --all-features` would do). This
//! crate never relies on that global: it names the backend itself, preferring aws-lc-rs, and
//! [`self_test`] proves it works when a validator is built, so a feature mix-up is a
//! configuration error at start-up, never a panic inside a request.

use jsonwebtoken::{Algorithm, DecodingKey};

/// Why the backend could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BackendError {
    /// Neither `aws-lc-rs` nor `rust-crypto` is enabled.
    #[cfg_attr(feature = "aws-lc-rs", allow(dead_code))]
    Missing,
    /// The backend refused the key or the signature.
    Rejected,
}

#[cfg(feature = "aws-lc-rs")]
mod imp {
    use aws_lc_rs::hmac;
    use aws_lc_rs::signature::{self, ParsedPublicKey, VerificationAlgorithm};
    use jsonwebtoken::DecodingKeyKind;
    use jsonwebtoken::{Algorithm, DecodingKey};

    use super::BackendError;

    /// A key prepared for each algorithm it may verify.
    pub(crate) struct Verifier {
        by_alg: Vec<(Algorithm, Prepared)>,
    }

    enum Prepared {
        Public(ParsedPublicKey),
        Hmac(Box<hmac::Key>),
    }

    fn public_algorithm(alg: Algorithm) -> Option<&'static dyn VerificationAlgorithm> {
        use Algorithm::*;
        Some(match alg {
            RS256 => &signature::RSA_PKCS1_2048_8192_SHA256,
            RS384 => &signature::RSA_PKCS1_2048_8192_SHA384,
            RS512 => &signature::RSA_PKCS1_2048_8192_SHA512,
            PS256 => &signature::RSA_PSS_2048_8192_SHA256,
            PS384 => &signature::RSA_PSS_2048_8192_SHA384,
            PS512 => &signature::RSA_PSS_2048_8192_SHA512,
            ES256 => &signature::ECDSA_P256_SHA256_FIXED,
            ES384 => &signature::ECDSA_P384_SHA384_FIXED,
            EdDSA => &signature::ED25519,
            _ => return None,
        })
    }

    fn hmac_algorithm(alg: Algorithm) -> Option<hmac::Algorithm> {
        match alg {
            Algorithm::HS256 => Some(hmac::HMAC_SHA256),
            Algorithm::HS384 => Some(hmac::HMAC_SHA384),
            Algorithm::HS512 => Some(hmac::HMAC_SHA512),
            _ => None,
        }
    }

    impl Verifier {
        /// Parses `key` for each of `algs`; `Err` when it fits none of them.
        pub(crate) fn new(key: &DecodingKey, algs: &[Algorithm]) -> Result<Self, BackendError> {
            let mut by_alg = Vec::new();
            for &alg in algs {
                let prepared = match (key.kind(), public_algorithm(alg), hmac_algorithm(alg)) {
                    (DecodingKeyKind::RsaModulusExponent { n, e }, Some(algorithm), _) => {
                        ParsedPublicKey::new(algorithm, rsa_public_key_der(n, e))
                            .ok()
                            .map(Prepared::Public)
                    }
                    (DecodingKeyKind::SecretOrDer(bytes), Some(algorithm), _) => {
                        ParsedPublicKey::new(algorithm, bytes)
                            .ok()
                            .map(Prepared::Public)
                    }
                    (DecodingKeyKind::SecretOrDer(secret), None, Some(algorithm)) => {
                        Some(Prepared::Hmac(Box::new(hmac::Key::new(algorithm, secret))))
                    }
                    _ => None,
                };
                if let Some(prepared) = prepared {
                    by_alg.push((alg, prepared));
                }
            }
            if by_alg.is_empty() {
                return Err(BackendError::Rejected);
            }
            Ok(Verifier { by_alg })
        }

        pub(crate) fn verify(
            &self,
            alg: Algorithm,
            message: &[u8],
            signature: &[u8],
        ) -> Result<(), BackendError> {
            let (_, prepared) = self
                .by_alg
                .iter()
                .find(|(prepared_for, _)| *prepared_for == alg)
                .ok_or(BackendError::Rejected)?;
            let verified = match prepared {
                Prepared::Public(key) => key.verify_sig(message, signature).is_ok(),
                Prepared::Hmac(key) => hmac::verify(key, message, signature).is_ok(),
            };
            verified.then_some(()).ok_or(BackendError::Rejected)
        }
    }

    /// DER `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`
    /// (RFC 8017 A.1.1), the form aws-lc-rs parses.
    fn rsa_public_key_der(n: &[u8], e: &[u8]) -> Vec<u8> {
        let mut content = der_integer(n);
        content.extend(der_integer(e));
        der_tlv(0x30, &content)
    }

    fn der_integer(big_endian: &[u8]) -> Vec<u8> {
        let first = big_endian
            .iter()
            .position(|&b| b != 0)
            .unwrap_or(big_endian.len());
        let digits = &big_endian[first..];
        let mut content = Vec::with_capacity(digits.len() + 1);
        if digits.first().is_none_or(|&top| top >= 0x80) {
            content.push(0);
        }
        content.extend_from_slice(digits);
        der_tlv(0x02, &content)
    }

    /// Tag, length, content. A length under 128 is one byte; a longer one is `0x80 | n`
    /// followed by its `n` big-endian bytes, as many as it needs (X.690 §8.1.3.5).
    fn der_tlv(tag: u8, content: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let len = content.len();
        if let Ok(short @ 0..=0x7f) = u8::try_from(len) {
            out.push(short);
        } else {
            let bytes = len.to_be_bytes();
            let first = bytes
                .iter()
                .position(|&b| b != 0)
                .unwrap_or(bytes.len() - 1);
            let digits = &bytes[first..];
            // At most `size_of::<usize>()` digits: the count always fits the low 7 bits.
            out.push(0x80 | digits.len() as u8);
            out.extend_from_slice(digits);
        }
        out.extend_from_slice(content);
        out
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn der_integers_are_minimal_and_positive() {
            assert_eq!(der_integer(&[0, 0, 1]), [0x02, 0x01, 0x01]);
            assert_eq!(der_integer(&[0x80]), [0x02, 0x02, 0x00, 0x80]);
            assert_eq!(der_integer(&[]), [0x02, 0x01, 0x00]);
            let long = der_tlv(0x30, &[7; 300]);
            assert_eq!(&long[..4], &[0x30, 0x82, 0x01, 0x2c]);
        }

        /// Lengths take as many bytes as they need (X.690 §8.1.3.5): content of 64 KiB or
        /// more needs three, and each form starts exactly at its boundary.
        #[test]
        fn der_lengths_of_every_size_are_encoded_in_full() {
            let header = |len: usize| {
                let tlv = der_tlv(0x04, &vec![0; len]);
                let header_len = tlv.len() - len;
                tlv[..header_len].to_vec()
            };
            assert_eq!(header(0x7f), [0x04, 0x7f]);
            assert_eq!(header(0x80), [0x04, 0x81, 0x80]);
            assert_eq!(header(0xff), [0x04, 0x81, 0xff]);
            assert_eq!(header(0x100), [0x04, 0x82, 0x01, 0x00]);
            assert_eq!(header(0xffff), [0x04, 0x82, 0xff, 0xff]);
            assert_eq!(header(0x1_0000), [0x04, 0x83, 0x01, 0x00, 0x00]);
            assert_eq!(header(0x12_3456), [0x04, 0x83, 0x12, 0x34, 0x56]);
        }
    }
}

#[cfg(not(feature = "aws-lc-rs"))]
mod imp {
    use jsonwebtoken::{Algorithm, DecodingKey};

    use super::BackendError;

    /// The key as jsonwebtoken holds it; its RustCrypto provider verifies.
    pub(crate) struct Verifier {
        key: DecodingKey,
    }

    #[cfg(feature = "rust-crypto")]
    fn provider() -> Option<&'static jsonwebtoken::crypto::CryptoProvider> {
        Some(&jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER)
    }

    #[cfg(not(feature = "rust-crypto"))]
    fn provider() -> Option<&'static jsonwebtoken::crypto::CryptoProvider> {
        None
    }

    impl Verifier {
        pub(crate) fn new(key: &DecodingKey, _algs: &[Algorithm]) -> Result<Self, BackendError> {
            Ok(Verifier { key: key.clone() })
        }

        pub(crate) fn verify(
            &self,
            alg: Algorithm,
            message: &[u8],
            signature: &[u8],
        ) -> Result<(), BackendError> {
            let provider = provider().ok_or(BackendError::Missing)?;
            let verifier =
                (provider.verifier_factory)(&alg, &self.key).map_err(|_| BackendError::Rejected)?;
            verifier
                .verify(message, &signature.to_vec())
                .map_err(|_| BackendError::Rejected)
        }
    }
}

pub(crate) use imp::Verifier;

/// Proves the backend verifies a known HS256 MAC (RFC 7515 appendix A.1) and rejects a
/// tampered one.
pub(crate) fn self_test() -> Result<(), BackendError> {
    use base64::Engine;
    const KEY: &str =
        "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
    const INPUT: &str = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
    const MAC: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let secret = b64.decode(KEY).map_err(|_| BackendError::Rejected)?;
    let verifier = Verifier::new(&DecodingKey::from_secret(&secret), &[Algorithm::HS256])?;
    let mac = b64.decode(MAC).map_err(|_| BackendError::Rejected)?;
    verifier.verify(Algorithm::HS256, INPUT.as_bytes(), &mac)?;
    let mut tampered = mac;
    tampered[0] ^= 1;
    match verifier.verify(Algorithm::HS256, INPUT.as_bytes(), &tampered) {
        Err(BackendError::Rejected) => Ok(()),
        _ => Err(BackendError::Rejected),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_enabled_backend_passes_its_self_test() {
        assert_eq!(super::self_test(), Ok(()));
    }

    /// Exists only when the pure-Rust backend is the one compiled: `.ci/run` runs it by name
    /// in its `rust-crypto` step, which fails when the test is missing, so a build that
    /// silently turned aws-lc-rs back on fails CI.
    #[cfg(not(feature = "aws-lc-rs"))]
    #[test]
    fn the_pure_rust_backend_is_the_one_built() {
        assert!(cfg!(feature = "rust-crypto"));
        assert_eq!(super::self_test(), Ok(()));
    }
}
