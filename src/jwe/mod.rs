//! Encrypted access tokens: a compact JWE (RFC 7516) whose payload is the issuer's signed
//! access token (a nested JWT, RFC 7519 §11.2), as Auth0, Keycloak, Curity and
//! oidc-provider can issue them.
//!
//! Only the decryption is here: the protected header is checked first (the `alg`/`enc`
//! allow-list, no `zip`, no `crit`, a `cty` that announces a JWT), then the content key is
//! unwrapped with the API's RSA key (RSA-OAEP with SHA-256, -384 or -512) and the content
//! opened with AES-GCM, the protected header as the additional authenticated data
//! (§5.2). What comes out is handed back as text: the issuer's pipeline then parses and
//! verifies it as the compact JWS it must be, exactly like a token that came unencrypted.
//!
//! Every failure from the key choice on is the same [`TokenProblem::Undecryptable`]: a
//! wrong key, a bad OAEP padding and a bad GCM tag cannot be told apart by the answer, and
//! (RFC 7516 §11.5) a content key that fails to unwrap is replaced by a random one so that
//! the AES-GCM step runs either way. The RSA step is AWS-LC's OAEP decoding, which is
//! constant time with respect to the padding (the Marvin and Manger attacks read timing
//! differences there); RSA1_5 is never offered.

mod crypto;
mod header;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::TokenProblem;
pub(crate) use crypto::{KeyProblem, PrivateKey, RsaParts};
use header::JweHeader;

/// How the content key is encrypted to the API's RSA key (the JWE `alg`). RSA1_5 is not
/// offered at all: its padding oracle cannot be closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyEncryption {
    /// `RSA-OAEP-256`: RSAES-OAEP with SHA-256 and MGF1 with SHA-256 (what Auth0 uses).
    RsaOaep256,
    /// `RSA-OAEP-384`: RSAES-OAEP with SHA-384 and MGF1 with SHA-384.
    RsaOaep384,
    /// `RSA-OAEP-512`: RSAES-OAEP with SHA-512 and MGF1 with SHA-512.
    RsaOaep512,
}

impl KeyEncryption {
    /// Every key encryption this crate decrypts.
    pub const ALL: [KeyEncryption; 3] = [
        KeyEncryption::RsaOaep256,
        KeyEncryption::RsaOaep384,
        KeyEncryption::RsaOaep512,
    ];

    /// The JWE `alg` header value.
    pub fn name(self) -> &'static str {
        match self {
            KeyEncryption::RsaOaep256 => "RSA-OAEP-256",
            KeyEncryption::RsaOaep384 => "RSA-OAEP-384",
            KeyEncryption::RsaOaep512 => "RSA-OAEP-512",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|alg| alg.name() == name)
    }
}

/// How the content is encrypted (the JWE `enc`): AES in Galois/Counter Mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ContentEncryption {
    /// `A128GCM`: AES-128-GCM.
    A128Gcm,
    /// `A256GCM`: AES-256-GCM (what Auth0 uses).
    A256Gcm,
}

impl ContentEncryption {
    /// Every content encryption this crate decrypts.
    pub const ALL: [ContentEncryption; 2] =
        [ContentEncryption::A128Gcm, ContentEncryption::A256Gcm];

    /// The JWE `enc` header value.
    pub fn name(self) -> &'static str {
        match self {
            ContentEncryption::A128Gcm => "A128GCM",
            ContentEncryption::A256Gcm => "A256GCM",
        }
    }

    fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|enc| enc.name() == name)
    }
}

/// The `alg`/`enc` pairs accepted when none are configured: every RSA-OAEP variant with
/// either AES-GCM.
pub(crate) fn default_pairs() -> Vec<(KeyEncryption, ContentEncryption)> {
    KeyEncryption::ALL
        .into_iter()
        .flat_map(|alg| ContentEncryption::ALL.map(|enc| (alg, enc)))
        .collect()
}

/// One of the API's decryption keys, with the `kid` tokens name it by.
pub(crate) struct DecryptionKey {
    pub(crate) kid: String,
    pub(crate) key: PrivateKey,
}

/// The API's decryption keys and the `alg`/`enc` pairs it accepts, fixed at build time.
pub(crate) struct Decrypter {
    keys: Vec<DecryptionKey>,
    allowed: Vec<(KeyEncryption, ContentEncryption)>,
}

/// Whether `token` has the five segments of a compact JWE (what is then decrypted, where
/// decryption is configured).
pub(crate) fn is_compact_jwe(token: &str) -> bool {
    token.bytes().filter(|&b| b == b'.').count() == 4
}

impl Decrypter {
    pub(crate) fn new(
        keys: Vec<DecryptionKey>,
        allowed: Vec<(KeyEncryption, ContentEncryption)>,
    ) -> Self {
        Decrypter { keys, allowed }
    }

    /// The nested token inside the compact JWE `token`: its header checked before anything
    /// is decrypted, then decrypted. The result is only text: whether it is a valid JWS is
    /// the caller's next step.
    pub(crate) fn decrypt(&self, token: &str) -> Result<String, TokenProblem> {
        let segments: Vec<&str> = token.split('.').collect();
        let [header_segment, encrypted_key, iv, ciphertext, tag] = segments[..] else {
            return Err(TokenProblem::Malformed);
        };
        let header_json = URL_SAFE_NO_PAD
            .decode(header_segment)
            .map_err(|_| TokenProblem::MalformedHeader)?;
        let header = JweHeader::parse(&header_json)?;
        let pair = KeyEncryption::from_name(&header.alg)
            .zip(ContentEncryption::from_name(&header.enc))
            .filter(|pair| self.allowed.contains(pair))
            .ok_or(TokenProblem::AlgorithmNotAllowed)?;
        if header.has_zip {
            return Err(TokenProblem::Compressed);
        }
        if header.has_crit {
            return Err(TokenProblem::UnsupportedCritical);
        }
        if !header.announces_jwt() {
            // Plain JSON claims (or anything else) inside a JWE are never trusted: only a
            // token the issuer signed is.
            return Err(TokenProblem::Malformed);
        }
        let key = self.choose(header.kid.as_deref())?;
        let decode = |segment: &str| {
            URL_SAFE_NO_PAD
                .decode(segment)
                .map_err(|_| TokenProblem::Malformed)
        };
        let (encrypted_key, iv, ciphertext, tag) = (
            decode(encrypted_key)?,
            decode(iv)?,
            decode(ciphertext)?,
            decode(tag)?,
        );
        let sealed = crypto::Sealed {
            iv: &iv,
            // RFC 7516 §5.2 step 14: the ASCII of the header segment as sent, not a
            // re-encoding of the decoded header.
            aad: header_segment.as_bytes(),
            ciphertext,
            tag: &tag,
        };
        let plaintext = key
            .key
            .decrypt(pair, &encrypted_key, sealed)
            .ok_or(TokenProblem::Undecryptable)?;
        String::from_utf8(plaintext).map_err(|_| TokenProblem::Malformed)
    }

    /// The key named by `kid`; without a `kid`, the only key, if there is only one.
    fn choose(&self, kid: Option<&str>) -> Result<&DecryptionKey, TokenProblem> {
        match (kid, self.keys.as_slice()) {
            (Some(kid), keys) => keys.iter().find(|key| key.kid == kid),
            (None, [only]) => Some(only),
            (None, _) => None,
        }
        .ok_or(TokenProblem::Undecryptable)
    }
}
