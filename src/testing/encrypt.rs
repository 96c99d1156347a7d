//! Encrypted access tokens for tests: an API's RSA key pair for encryption, and the compact
//! JWE (RSA-OAEP, AES-GCM) that [`TokenBuilder::encrypt_to`](super::TokenBuilder::encrypt_to)
//! and the token endpoint wrap a signed token in.

use std::sync::Arc;

use aws_lc_rs::aead::{AES_128_GCM, AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{
    KeyPair, KeySize, OAEP_SHA256_MGF1SHA256, OAEP_SHA384_MGF1SHA384, OAEP_SHA512_MGF1SHA512,
    OaepPublicEncryptingKey, PublicEncryptingKey,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use crate::jwe::{ContentEncryption, KeyEncryption};
use crate::keys::{spki_to_jwk, take_der};

/// An API's RSA-2048 key pair for encrypted tokens: the private half configures the
/// validator ([`private_key_pem`](Self::private_key_pem), [`private_jwk`](Self::private_jwk)),
/// the public half ([`encryption_key`](Self::encryption_key)) is what the issuer encrypts to.
#[derive(Clone)]
pub struct DecryptionKeyPair {
    kid: String,
    pair: Arc<KeyPair>,
}

impl std::fmt::Debug for DecryptionKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DecryptionKeyPair")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl DecryptionKeyPair {
    /// A fresh RSA-2048 key pair named `kid`.
    pub fn generate(kid: impl Into<String>) -> Self {
        DecryptionKeyPair {
            kid: kid.into(),
            pair: Arc::new(KeyPair::generate(KeySize::Rsa2048).expect("RSA key generation")),
        }
    }

    /// The key pair of a PEM `PRIVATE KEY` (PKCS#8) or `RSA PRIVATE KEY` (PKCS#1) block,
    /// named by the RFC 7638 thumbprint of its public key (as the validator names a PEM key
    /// given without `kid`); `None` for anything else.
    pub fn from_private_key_pem(pem: &str) -> Option<Self> {
        let (label, der) = crate::keys::decode_pem(pem).ok()?;
        let pair = match label.as_str() {
            "PRIVATE KEY" => KeyPair::from_pkcs8(&der).ok()?,
            "RSA PRIVATE KEY" => KeyPair::from_der(&der).ok()?,
            _ => return None,
        };
        let pair = DecryptionKeyPair {
            kid: String::new(),
            pair: Arc::new(pair),
        };
        Some(pair.clone().with_kid(pair.thumbprint()))
    }

    /// The same key pair, named `kid`.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = kid.into();
        self
    }

    /// Its `kid`.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The RFC 7638 thumbprint of its public key: the `kid` a validator gives a PEM key
    /// configured without one.
    pub fn thumbprint(&self) -> String {
        // The thumbprint reads the required members only (`e`, `kty`, `n`).
        let public = self.public_jwk();
        crate::dpop::jwk_thumbprint(public.as_object().expect("an object")).expect("an RSA JWK")
    }

    fn pkcs8(&self) -> Vec<u8> {
        self.pair
            .as_der()
            .expect("PKCS#8 encoding of an RSA key")
            .as_ref()
            .to_vec()
    }

    /// The PKCS#1 `RSAPrivateKey` inside the PKCS#8 document: its last element, an OCTET
    /// STRING after the version and the algorithm.
    fn pkcs1(&self) -> Vec<u8> {
        let pkcs8 = self.pkcs8();
        let (info, _) = take_der(&pkcs8, 0x30).expect("PKCS#8");
        let (_, rest) = take_der(info, 0x02).expect("PKCS#8 version");
        let (_, rest) = take_der(rest, 0x30).expect("PKCS#8 algorithm");
        let (pkcs1, _) = take_der(rest, 0x04).expect("PKCS#8 key");
        pkcs1.to_vec()
    }

    /// The private key as a PEM `PRIVATE KEY` block (PKCS#8).
    pub fn private_key_pem(&self) -> String {
        crate::dpop::pem_block("PRIVATE KEY", &self.pkcs8())
    }

    /// The private key as a PEM `RSA PRIVATE KEY` block (PKCS#1), as `openssl genrsa`
    /// writes it.
    pub fn private_key_pkcs1_pem(&self) -> String {
        crate::dpop::pem_block("RSA PRIVATE KEY", &self.pkcs1())
    }

    /// The private key as a JWK (`kty`, `kid`, `use: enc`, `n`, `e`, `d`, `p`, `q`, `dp`,
    /// `dq`, `qi`).
    pub fn private_jwk(&self) -> Value {
        let pkcs1 = self.pkcs1();
        let (mut rest, _) = take_der(&pkcs1, 0x30).expect("RSAPrivateKey");
        let mut jwk = json!({ "kty": "RSA", "kid": self.kid, "use": "enc" });
        for name in ["version", "n", "e", "d", "p", "q", "dp", "dq", "qi"] {
            let (int, next) = take_der(rest, 0x02).expect("RSAPrivateKey member");
            rest = next;
            let first = int.iter().position(|&b| b != 0).unwrap_or(int.len());
            if name != "version" {
                jwk[name] = Value::from(URL_SAFE_NO_PAD.encode(&int[first..]));
            }
        }
        jwk
    }

    /// The public key as a JWK (`kty`, `kid`, `use: enc`, `n`, `e`).
    pub fn public_jwk(&self) -> Value {
        let spki = self.encryption_key().spki;
        let mut jwk = spki_to_jwk(&spki).expect("an RSA public key");
        jwk["kid"] = Value::from(self.kid.as_str());
        jwk["use"] = Value::from("enc");
        jwk
    }

    /// The public key tokens are encrypted to, with this pair's `kid`.
    pub fn encryption_key(&self) -> EncryptionKey {
        use aws_lc_rs::signature::KeyPair as _;
        let public = self.pair.public_key();
        let spki = public
            .as_der()
            .expect("SPKI of an RSA key")
            .as_ref()
            .to_vec();
        EncryptionKey {
            kid: Some(self.kid.clone()),
            spki: spki.into(),
        }
    }
}

/// An RSA public key that tokens are encrypted to, with the `kid` put in their header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncryptionKey {
    kid: Option<String>,
    /// DER `SubjectPublicKeyInfo`.
    spki: Arc<[u8]>,
}

impl EncryptionKey {
    /// The same key, with no `kid` in the tokens' header.
    pub fn without_kid(mut self) -> Self {
        self.kid = None;
        self
    }

    /// The same key, naming itself `kid` in the tokens' header.
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// The `kid` put in the header, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }
}

/// How a [`TokenBuilder`](super::TokenBuilder) encrypts its signed token.
#[derive(Clone, Debug)]
pub(super) struct Encryption {
    pub(super) key: EncryptionKey,
    pub(super) alg: KeyEncryption,
    pub(super) enc: ContentEncryption,
    /// Members set or replaced in the protected header (`cty`, `zip`, `crit`, even `alg`).
    pub(super) header: Map<String, Value>,
    /// Members removed from the protected header.
    pub(super) removed: Vec<String>,
}

impl Encryption {
    pub(super) fn new(key: &EncryptionKey, alg: KeyEncryption, enc: ContentEncryption) -> Self {
        Encryption {
            key: key.clone(),
            alg,
            enc,
            header: Map::new(),
            removed: Vec::new(),
        }
    }

    /// The compact JWE of `plaintext`: a random content key encrypted to the key with `alg`,
    /// the content with `enc`, the protected header (with `cty: JWT` unless replaced) as the
    /// additional authenticated data.
    pub(super) fn seal(&self, plaintext: &[u8]) -> String {
        let mut header = Map::new();
        header.insert("alg".into(), self.alg.name().into());
        header.insert("enc".into(), self.enc.name().into());
        header.insert("cty".into(), "JWT".into());
        if let Some(kid) = &self.key.kid {
            header.insert("kid".into(), kid.as_str().into());
        }
        for name in &self.removed {
            header.remove(name);
        }
        header.extend(self.header.clone());
        let header = URL_SAFE_NO_PAD.encode(Value::Object(header).to_string());

        let (aead, key_len) = match self.enc {
            ContentEncryption::A128Gcm => (&AES_128_GCM, 16),
            ContentEncryption::A256Gcm => (&AES_256_GCM, 32),
        };
        let mut cek = vec![0u8; key_len];
        let mut iv = [0u8; 12];
        aws_lc_rs::rand::fill(&mut cek).expect("system random");
        aws_lc_rs::rand::fill(&mut iv).expect("system random");

        let public = PublicEncryptingKey::from_der(&self.key.spki).expect("an RSA public key");
        let oaep = OaepPublicEncryptingKey::new(public).expect("an RSA public key");
        let padding = match self.alg {
            KeyEncryption::RsaOaep256 => &OAEP_SHA256_MGF1SHA256,
            KeyEncryption::RsaOaep384 => &OAEP_SHA384_MGF1SHA384,
            KeyEncryption::RsaOaep512 => &OAEP_SHA512_MGF1SHA512,
        };
        let mut encrypted_key = vec![0u8; oaep.ciphertext_size()];
        let encrypted_key = oaep
            .encrypt(padding, &cek, &mut encrypted_key, None)
            .expect("RSA-OAEP encryption")
            .to_vec();

        let sealing = LessSafeKey::new(UnboundKey::new(aead, &cek).expect("an AES key"));
        let mut content = plaintext.to_vec();
        let tag = sealing
            .seal_in_place_separate_tag(
                Nonce::assume_unique_for_key(iv),
                Aad::from(header.as_bytes()),
                &mut content,
            )
            .expect("AES-GCM encryption");
        [
            header.as_str(),
            &URL_SAFE_NO_PAD.encode(encrypted_key),
            &URL_SAFE_NO_PAD.encode(iv),
            &URL_SAFE_NO_PAD.encode(content),
            &URL_SAFE_NO_PAD.encode(tag.as_ref()),
        ]
        .join(".")
    }
}
