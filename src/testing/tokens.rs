//! Signing keys and a token builder that can mint any token, valid or not.

use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use super::encrypt::{Encryption, EncryptionKey};
use crate::issuer::unix_now;
use crate::jwe::{ContentEncryption, KeyEncryption};

/// An RSA-2048 signing key with an optional `kid`.
#[derive(Clone)]
pub struct SigningKey {
    kid: Option<String>,
    pair: Arc<KeyPair>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A fresh RSA-2048 key with this `kid`.
    pub fn generate(kid: impl Into<String>) -> Self {
        SigningKey {
            kid: Some(kid.into()),
            pair: Arc::new(KeyPair::generate(KeySize::Rsa2048).expect("RSA key generation")),
        }
    }

    /// An RSA-2048 key with this `kid`, taken from a small per-process pool instead of
    /// generated: what [`TestIssuer::start`](crate::testing::TestIssuer::start) signs with.
    ///
    /// Generating an RSA key takes tens to hundreds of milliseconds, and a test suite starts
    /// hundreds of issuers. Each thread walks the pool from its start, so the first
    /// [`POOLED_KEYS`](Self::POOLED_KEYS) keys one thread takes (one test: the test harness
    /// runs each test on a thread of its own) are distinct from each other; other threads get
    /// the same key material. A key that must differ from every other key in the process (an
    /// attacker's key, the next key of a rotation) is [`generate`](Self::generate)d.
    pub fn pooled(kid: impl Into<String>) -> Self {
        SigningKey {
            kid: Some(kid.into()),
            pair: pool::next_pair(),
        }
    }

    /// How many keys one thread takes from the pool before it starts again at the first.
    pub const POOLED_KEYS: usize = pool::SIZE;

    /// A fresh RSA-2048 key published without a `kid`.
    pub fn generate_without_kid() -> Self {
        SigningKey {
            kid: None,
            ..Self::generate("")
        }
    }

    /// The key's `kid`.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The public key as a JWK (`kty`, `n`, `e`, `kid`, `use: sig`, `alg: RS256`).
    pub fn jwk(&self) -> Value {
        let components = PublicKeyComponents::<Vec<u8>>::from(self.pair.public_key());
        let mut jwk = json!({
            "kty": "RSA",
            "use": "sig",
            "alg": "RS256",
            "n": URL_SAFE_NO_PAD.encode(&components.n),
            "e": URL_SAFE_NO_PAD.encode(&components.e),
        });
        if let Some(kid) = &self.kid {
            jwk["kid"] = Value::from(kid.as_str());
        }
        jwk
    }

    /// The public key as DER `SubjectPublicKeyInfo` (what a PEM file holds), for
    /// algorithm-confusion tests.
    pub fn public_key_spki_der(&self) -> Vec<u8> {
        use aws_lc_rs::encoding::AsDer;
        self.pair
            .public_key()
            .as_der()
            .expect("DER encoding of an RSA public key")
            .as_ref()
            .to_vec()
    }

    /// The raw signature of `message` (a JWS signing input) with this key, for tests that
    /// assemble a JWS by hand: `alg` is `RS256`, `RS384`, `RS512`, `PS256`, `PS384` or
    /// `PS512`.
    ///
    /// # Panics
    /// On any other algorithm: an RSA key signs nothing else.
    pub fn sign(&self, alg: crate::Algorithm, message: &[u8]) -> Vec<u8> {
        use crate::Algorithm::*;
        use aws_lc_rs::signature::{
            RSA_PKCS1_SHA384, RSA_PKCS1_SHA512, RSA_PSS_SHA256, RSA_PSS_SHA384, RSA_PSS_SHA512,
            RsaEncoding,
        };
        let padding: &'static dyn RsaEncoding = match alg {
            RS256 => &RSA_PKCS1_SHA256,
            RS384 => &RSA_PKCS1_SHA384,
            RS512 => &RSA_PKCS1_SHA512,
            PS256 => &RSA_PSS_SHA256,
            PS384 => &RSA_PSS_SHA384,
            PS512 => &RSA_PSS_SHA512,
            other => panic!("an RSA key cannot sign {other:?}"),
        };
        let mut signature = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(padding, &SystemRandom::new(), message, &mut signature)
            .expect("RSA signing");
        signature
    }
}

/// The SHA-256 thumbprint of a DER certificate, base64url: what a token bound to it carries
/// in `cnf["x5t#S256"]` (RFC 8705 §3.1).
pub fn certificate_thumbprint(der: &[u8]) -> String {
    crate::dpop::sha256_b64(der)
}

/// The PEM form of a DER certificate, as a TLS-terminating proxy puts it in a header.
pub fn certificate_pem(der: &[u8]) -> String {
    crate::dpop::pem(der)
}

/// How a [`TokenBuilder`] signs.
#[derive(Clone, Debug)]
enum Signer {
    Rs256(SigningKey),
    Hmac(Vec<u8>),
}

/// Mints a compact JWS. Defaults come from the issuer that made it; everything can be
/// changed, including into something invalid, which is what attack tests need.
#[derive(Clone, Debug)]
#[must_use]
pub struct TokenBuilder {
    header: Map<String, Value>,
    claims: Map<String, Value>,
    raw_payload: Option<String>,
    signer: Signer,
    /// Wraps the signed token in a compact JWE, when set.
    encryption: Option<Encryption>,
    /// Encrypts the claims JSON itself, unsigned, instead of the signed token.
    unsigned_inside: bool,
}

impl TokenBuilder {
    /// An RS256 token signed by `key`, with no claims yet.
    pub fn rs256(key: &SigningKey) -> Self {
        let mut header = Map::new();
        header.insert("alg".into(), "RS256".into());
        header.insert("typ".into(), "JWT".into());
        if let Some(kid) = key.kid() {
            header.insert("kid".into(), kid.into());
        }
        TokenBuilder {
            header,
            claims: Map::new(),
            raw_payload: None,
            signer: Signer::Rs256(key.clone()),
            encryption: None,
            unsigned_inside: false,
        }
    }

    /// An HS256 token MAC-ed with `secret`, with no claims yet.
    pub fn hs256(secret: impl Into<Vec<u8>>) -> Self {
        let mut header = Map::new();
        header.insert("alg".into(), "HS256".into());
        header.insert("typ".into(), "JWT".into());
        TokenBuilder {
            header,
            claims: Map::new(),
            raw_payload: None,
            signer: Signer::Hmac(secret.into()),
            encryption: None,
            unsigned_inside: false,
        }
    }

    /// The claims, for an opaque token that carries them at the issuer instead.
    pub(in crate::testing) fn into_claims(self) -> Map<String, Value> {
        self.claims
    }

    /// Sets a claim to any JSON value (numbers as strings, arrays for `iss`, ...).
    pub fn claim(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.claims.insert(name.to_owned(), value.into());
        self
    }

    /// Removes a claim.
    pub fn without_claim(mut self, name: &str) -> Self {
        self.claims.remove(name);
        self
    }

    /// Sets a header member (`kid`, `alg`, `jku`, `crit`, ...).
    pub fn header(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.header.insert(name.to_owned(), value.into());
        self
    }

    /// Removes a header member.
    pub fn without_header(mut self, name: &str) -> Self {
        self.header.remove(name);
        self
    }

    /// Sets `scope` (space-delimited).
    pub fn scope(self, scope: &str) -> Self {
        self.claim("scope", scope)
    }

    /// Binds the token to a DPoP key: `cnf.jkt` = `jkt` (see
    /// [`DpopProof::jkt`](crate::testing::DpopProof::jkt)).
    pub fn dpop_bound(self, jkt: &str) -> Self {
        self.claim("cnf", serde_json::json!({ "jkt": jkt }))
    }

    /// Binds the token to a client certificate: `cnf["x5t#S256"]` = its SHA-256 thumbprint
    /// (see [`certificate_thumbprint`]).
    pub fn certificate_bound(self, x5t_s256: &str) -> Self {
        self.claim("cnf", serde_json::json!({ "x5t#S256": x5t_s256 }))
    }

    /// Makes the token an exchanged one (RFC 8693) acted on by `actor`: `act: {"sub": actor}`.
    pub fn actor(self, actor: &str) -> Self {
        self.actor_chain([actor])
    }

    /// Sets a delegation chain, outermost (the current actor) first: `["service-b",
    /// "service-a"]` gives `act: {"sub": "service-b", "act": {"sub": "service-a"}}`, service-b
    /// calling now after service-a. An empty chain removes `act`.
    pub fn actor_chain<I, S>(self, actors: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let actors: Vec<S> = actors.into_iter().collect();
        let chain = actors.iter().rev().fold(None, |inner, actor| {
            let mut act = Map::new();
            act.insert("sub".into(), actor.as_ref().into());
            if let Some(inner) = inner {
                act.insert("act".into(), inner);
            }
            Some(Value::Object(act))
        });
        match chain {
            Some(act) => self.claim("act", act),
            None => self.without_claim("act"),
        }
    }

    /// Sets `aud`.
    pub fn audience(self, audience: impl Into<Value>) -> Self {
        self.claim("aud", audience)
    }

    /// Sets `iss`.
    pub fn issuer(self, issuer: impl Into<Value>) -> Self {
        self.claim("iss", issuer)
    }

    /// Sets `exp` relative to now; negative seconds give an expired token.
    pub fn expires_in_secs(self, seconds: i64) -> Self {
        self.claim("exp", unix_now() + seconds)
    }

    /// Sets `nbf` relative to now.
    pub fn not_before_in_secs(self, seconds: i64) -> Self {
        self.claim("nbf", unix_now() + seconds)
    }

    /// Uses this exact text as the payload JSON (duplicate names, non-objects, ...),
    /// ignoring the claims set so far.
    pub fn raw_payload(mut self, json: impl Into<String>) -> Self {
        self.raw_payload = Some(json.into());
        self
    }

    /// Signs with another RSA key, keeping the header's `kid`.
    pub fn signed_by(mut self, key: &SigningKey) -> Self {
        self.signer = Signer::Rs256(key.clone());
        self
    }

    /// MACs with `secret` (and sets `alg: HS256`), keeping everything else: the
    /// algorithm-confusion attack when `secret` is the issuer's public key.
    pub fn hmac_with(mut self, secret: impl Into<Vec<u8>>) -> Self {
        self.header.insert("alg".into(), "HS256".into());
        self.signer = Signer::Hmac(secret.into());
        self
    }

    /// Encrypts the signed token to `key` (a compact JWE, RFC 7516, with the key's `kid` and
    /// `cty: JWT` in its protected header), as Auth0 does for an API with "JSON Web
    /// Encryption" on (`RSA-OAEP-256`, `A256GCM`).
    pub fn encrypt_to(
        mut self,
        key: &EncryptionKey,
        alg: KeyEncryption,
        enc: ContentEncryption,
    ) -> Self {
        self.encryption = Some(Encryption::new(key, alg, enc));
        self
    }

    /// Sets a member of the JWE protected header (`cty`, `zip`, `crit`, or even `alg` and
    /// `enc`, to announce what was not done), after [`encrypt_to`](Self::encrypt_to).
    ///
    /// # Panics
    /// Without `encrypt_to` first: there is no JWE header to set.
    pub fn jwe_header(mut self, name: &str, value: impl Into<Value>) -> Self {
        let encryption = self
            .encryption
            .as_mut()
            .expect("jwe_header needs encrypt_to first");
        encryption.header.insert(name.to_owned(), value.into());
        self
    }

    /// Removes a member of the JWE protected header (`cty`, `kid`), after
    /// [`encrypt_to`](Self::encrypt_to).
    ///
    /// # Panics
    /// Without `encrypt_to` first: there is no JWE header to change.
    pub fn without_jwe_header(mut self, name: &str) -> Self {
        let encryption = self
            .encryption
            .as_mut()
            .expect("without_jwe_header needs encrypt_to first");
        encryption.header.remove(name);
        encryption.removed.push(name.to_owned());
        self
    }

    /// Encrypts the claims JSON (or the [raw payload](Self::raw_payload)) itself, unsigned,
    /// instead of a signed token: what a
    /// validator must never trust.
    pub fn unsigned_inside(mut self) -> Self {
        self.unsigned_inside = true;
        self
    }

    /// The compact serialization `header.payload.signature`; after
    /// [`encrypt_to`](Self::encrypt_to), that token encrypted, in the five segments of a
    /// compact JWE.
    pub fn sign(self) -> String {
        let header = URL_SAFE_NO_PAD.encode(Value::Object(self.header).to_string());
        let payload = self
            .raw_payload
            .unwrap_or_else(|| Value::Object(self.claims).to_string());
        if let Some(encryption) = self.encryption.as_ref().filter(|_| self.unsigned_inside) {
            return encryption.seal(payload.as_bytes());
        }
        let signing_input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(payload));
        let signature = match &self.signer {
            Signer::Rs256(key) => key.sign(crate::Algorithm::RS256, signing_input.as_bytes()),
            Signer::Hmac(secret) => {
                let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
                aws_lc_rs::hmac::sign(&key, signing_input.as_bytes())
                    .as_ref()
                    .to_vec()
            }
        };
        let jws = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature));
        match &self.encryption {
            Some(encryption) => encryption.seal(jws.as_bytes()),
            None => jws,
        }
    }
}

/// The key pairs behind [`SigningKey::pooled`], generated on first use.
mod pool {
    use std::cell::Cell;
    use std::sync::{Arc, OnceLock};

    use aws_lc_rs::rsa::{KeyPair, KeySize};

    pub(super) const SIZE: usize = 16;

    static PAIRS: [OnceLock<Arc<KeyPair>>; SIZE] = [const { OnceLock::new() }; SIZE];

    thread_local! {
        static CURSOR: Cell<usize> = const { Cell::new(0) };
    }

    pub(super) fn next_pair() -> Arc<KeyPair> {
        let index = CURSOR.with(|cursor| {
            let index = cursor.get();
            cursor.set((index + 1) % SIZE);
            index
        });
        Arc::clone(PAIRS[index].get_or_init(|| {
            Arc::new(KeyPair::generate(KeySize::Rsa2048).expect("RSA key generation"))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::SigningKey;

    #[test]
    fn one_thread_gets_distinct_pooled_keys_until_the_pool_wraps() {
        std::thread::spawn(|| {
            let moduli: Vec<_> = (0..=SigningKey::POOLED_KEYS)
                .map(|_| SigningKey::pooled("k").jwk()["n"].clone())
                .collect();
            let distinct: std::collections::HashSet<_> =
                moduli[..SigningKey::POOLED_KEYS].iter().collect();
            assert_eq!(distinct.len(), SigningKey::POOLED_KEYS);
            assert_eq!(moduli[SigningKey::POOLED_KEYS], moduli[0]);
        })
        .join()
        .expect("the pool test thread");
    }
}
