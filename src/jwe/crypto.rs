//! The cryptography of decryption, on AWS-LC: RSA-OAEP to unwrap the content key, AES-GCM to
//! open the content.
//!
//! Only AWS-LC is used, whatever the signature backend: its OAEP decoding runs in constant
//! time with respect to the padding, which is what Marvin- and Manger-style attacks measure.
//! The pure-Rust `rsa` crate the `rust-crypto` backend would offer has RUSTSEC-2023-0071
//! (Marvin) open, so without the `aws-lc-rs` feature no key can be loaded
//! ([`KeyProblem::NoBackend`], a configuration problem): the crate still builds, and never
//! decrypts with a backend that leaks.

use super::{ContentEncryption, KeyEncryption};

/// The content of a JWE and what authenticates it.
#[cfg_attr(not(feature = "aws-lc-rs"), allow(dead_code))]
pub(crate) struct Sealed<'a> {
    pub(crate) iv: &'a [u8],
    pub(crate) aad: &'a [u8],
    pub(crate) ciphertext: Vec<u8>,
    pub(crate) tag: &'a [u8],
}

/// The parts of an RSA private key, big-endian and unsigned (a private JWK's `n`, `e`, `d`,
/// `p`, `q`, `dp`, `dq`, `qi`).
#[cfg_attr(not(feature = "aws-lc-rs"), allow(dead_code))]
pub(crate) struct RsaParts {
    pub(crate) n: Vec<u8>,
    pub(crate) e: Vec<u8>,
    pub(crate) d: Vec<u8>,
    pub(crate) p: Vec<u8>,
    pub(crate) q: Vec<u8>,
    pub(crate) dp: Vec<u8>,
    pub(crate) dq: Vec<u8>,
    pub(crate) qi: Vec<u8>,
}

/// Why a decryption key cannot be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum KeyProblem {
    #[error(
        "not an RSA private key of 2048 to 8192 bits with all its parts (PKCS#8, PKCS#1 or a private JWK with d, p, q, dp, dq, qi)"
    )]
    Rejected,
    #[error(
        "decrypting tokens needs the aws-lc-rs backend (the pure-Rust RSA crate is open to the Marvin timing attack, RUSTSEC-2023-0071)"
    )]
    #[cfg_attr(feature = "aws-lc-rs", allow(dead_code))]
    NoBackend,
}

#[cfg(feature = "aws-lc-rs")]
mod imp {
    use aws_lc_rs::aead::{AES_128_GCM, AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rsa::{
        KeyPair, KeyPairComponents, OAEP_SHA256_MGF1SHA256, OAEP_SHA384_MGF1SHA384,
        OAEP_SHA512_MGF1SHA512, OaepAlgorithm, OaepPrivateDecryptingKey, PrivateDecryptingKey,
        PublicKeyComponents,
    };

    use super::{ContentEncryption, KeyEncryption, KeyProblem, RsaParts, Sealed};

    /// An RSA private key, ready to unwrap content keys with OAEP.
    pub(crate) struct PrivateKey {
        oaep: OaepPrivateDecryptingKey,
        /// The public key, as DER `SubjectPublicKeyInfo`: its thumbprint is the default `kid`.
        spki: Vec<u8>,
    }

    impl PrivateKey {
        /// A PKCS#8 `PrivateKeyInfo` (PEM `PRIVATE KEY`).
        pub(crate) fn from_pkcs8(der: &[u8]) -> Result<Self, KeyProblem> {
            let key = PrivateDecryptingKey::from_pkcs8(der).map_err(|_| KeyProblem::Rejected)?;
            let spki = key
                .public_key()
                .as_der()
                .map_err(|_| KeyProblem::Rejected)?
                .as_ref()
                .to_vec();
            let oaep = OaepPrivateDecryptingKey::new(key).map_err(|_| KeyProblem::Rejected)?;
            Ok(PrivateKey { oaep, spki })
        }

        /// A PKCS#1 `RSAPrivateKey` (PEM `RSA PRIVATE KEY`).
        pub(crate) fn from_pkcs1(der: &[u8]) -> Result<Self, KeyProblem> {
            Self::from_pair(KeyPair::from_der(der).map_err(|_| KeyProblem::Rejected)?)
        }

        /// The parts of a private JWK; AWS-LC checks that they agree.
        pub(crate) fn from_parts(parts: &RsaParts) -> Result<Self, KeyProblem> {
            let components = KeyPairComponents {
                public_key: PublicKeyComponents {
                    n: parts.n.as_slice(),
                    e: parts.e.as_slice(),
                },
                d: parts.d.as_slice(),
                p: parts.p.as_slice(),
                q: parts.q.as_slice(),
                dP: parts.dp.as_slice(),
                dQ: parts.dq.as_slice(),
                qInv: parts.qi.as_slice(),
            };
            Self::from_pair(
                KeyPair::from_components(&components).map_err(|_| KeyProblem::Rejected)?,
            )
        }

        /// AWS-LC reads PKCS#1 and components as a signing key pair: its PKCS#8 form is the
        /// one way to a decrypting key.
        fn from_pair(pair: KeyPair) -> Result<Self, KeyProblem> {
            let pkcs8 = pair.as_der().map_err(|_| KeyProblem::Rejected)?;
            Self::from_pkcs8(pkcs8.as_ref())
        }

        /// The public key, as DER `SubjectPublicKeyInfo`.
        pub(crate) fn public_key_spki(&self) -> &[u8] {
            &self.spki
        }

        /// The plaintext of `sealed`, or `None` whatever went wrong. A content key that does
        /// not unwrap (or has the wrong length for `enc`) is replaced by a random one and the
        /// AES-GCM step runs anyway (RFC 7516 §11.5), so that neither the answer nor the time
        /// it takes tells an OAEP failure from a tag failure.
        pub(crate) fn decrypt(
            &self,
            (alg, enc): (KeyEncryption, ContentEncryption),
            encrypted_key: &[u8],
            sealed: Sealed<'_>,
        ) -> Option<Vec<u8>> {
            let key_len = match enc {
                ContentEncryption::A128Gcm => 16,
                ContentEncryption::A256Gcm => 32,
            };
            let oaep: &'static OaepAlgorithm = match alg {
                KeyEncryption::RsaOaep256 => &OAEP_SHA256_MGF1SHA256,
                KeyEncryption::RsaOaep384 => &OAEP_SHA384_MGF1SHA384,
                KeyEncryption::RsaOaep512 => &OAEP_SHA512_MGF1SHA512,
            };
            let mut unwrapped = vec![0u8; self.oaep.min_output_size()];
            let unwrapped_len = self
                .oaep
                .decrypt(oaep, encrypted_key, &mut unwrapped, None)
                .ok()
                .map(|cek| cek.len());
            let mut cek = vec![0u8; key_len];
            aws_lc_rs::rand::fill(&mut cek).ok()?;
            if unwrapped_len == Some(key_len) {
                cek.copy_from_slice(&unwrapped[..key_len]);
            }
            unwrapped.fill(0);
            let opened = open(enc, &cek, sealed);
            cek.fill(0);
            opened
        }
    }

    /// AES-GCM decryption of the content.
    fn open(enc: ContentEncryption, cek: &[u8], sealed: Sealed<'_>) -> Option<Vec<u8>> {
        let algorithm = match enc {
            ContentEncryption::A128Gcm => &AES_128_GCM,
            ContentEncryption::A256Gcm => &AES_256_GCM,
        };
        let key = LessSafeKey::new(UnboundKey::new(algorithm, cek).ok()?);
        let nonce = Nonce::try_assume_unique_for_key(sealed.iv).ok()?;
        let mut content = sealed.ciphertext;
        let length = key
            .open_in_place_separate_tag(nonce, Aad::from(sealed.aad), sealed.tag, &mut content)
            .ok()?
            .len();
        content.truncate(length);
        Some(content)
    }
}

#[cfg(not(feature = "aws-lc-rs"))]
mod imp {
    use super::{ContentEncryption, KeyEncryption, KeyProblem, RsaParts, Sealed};

    /// No key can be loaded without AWS-LC (see the module's documentation).
    pub(crate) enum PrivateKey {}

    impl PrivateKey {
        pub(crate) fn from_pkcs8(_: &[u8]) -> Result<Self, KeyProblem> {
            Err(KeyProblem::NoBackend)
        }

        pub(crate) fn from_pkcs1(_: &[u8]) -> Result<Self, KeyProblem> {
            Err(KeyProblem::NoBackend)
        }

        pub(crate) fn from_parts(_: &RsaParts) -> Result<Self, KeyProblem> {
            Err(KeyProblem::NoBackend)
        }

        pub(crate) fn public_key_spki(&self) -> &[u8] {
            match *self {}
        }

        pub(crate) fn decrypt(
            &self,
            _: (KeyEncryption, ContentEncryption),
            _: &[u8],
            _: Sealed<'_>,
        ) -> Option<Vec<u8>> {
            match *self {}
        }
    }
}

pub(crate) use imp::PrivateKey;
