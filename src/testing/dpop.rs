//! [`DpopProof`]: a DPoP key and the proofs it signs (RFC 9449 §4), valid or broken member by
//! member, for tests of APIs that accept DPoP-bound tokens.

use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, ECDSA_P384_SHA384_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair,
    KeyPair as _,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value, json};

use super::tokens::SigningKey;
use crate::Algorithm;
use crate::issuer::unix_now;

/// A DPoP key and the proofs it signs: ES256 (P-256) by default, or any algorithm DPoP
/// allows ([`generate_for`](Self::generate_for)).
///
/// ```
/// use bearer_guard::testing::{DpopProof, TestIssuer};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let issuer = TestIssuer::start().await;
/// let key = DpopProof::generate();
/// // A token bound to the key, and a proof of it for one request.
/// let token = issuer.token().dpop_bound(&key.jkt()).sign();
/// let proof = key.proof("GET", "https://api.example.com/api/private", &token);
/// // Send `Authorization: DPoP {token}` and `DPoP: {proof}`.
/// # let _ = proof;
/// # }
/// ```
///
/// Every member can be changed or removed, and the signature broken, to test each refusal:
/// `key.claim("htm", "POST")`, `key.without_claim("ath")`, `key.header("typ", "jwt")`,
/// `key.iat_offset_secs(-600)`, `key.signed_by(&other)`, `key.with_private_key_in_jwk()`...
#[derive(Clone)]
#[must_use]
pub struct DpopProof {
    key: Arc<ProofKey>,
    /// The key that signs, when it is not the key in the header.
    signer: Option<Arc<ProofKey>>,
    header: Vec<(String, Option<Value>)>,
    claims: Vec<(String, Option<Value>)>,
    iat_offset: i64,
    private_in_jwk: bool,
}

impl std::fmt::Debug for DpopProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DpopProof")
            .field("jkt", &self.jkt())
            .finish_non_exhaustive()
    }
}

/// A key of one of the asymmetric algorithms a proof may use.
enum ProofKey {
    Ec(EcdsaKeyPair, Algorithm),
    Rsa(SigningKey, Algorithm),
    Ed25519(Ed25519KeyPair),
}

impl ProofKey {
    fn generate(alg: Algorithm) -> Self {
        match alg {
            Algorithm::ES256 => ProofKey::Ec(
                EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("P-256 key"),
                alg,
            ),
            Algorithm::ES384 => ProofKey::Ec(
                EcdsaKeyPair::generate(&ECDSA_P384_SHA384_FIXED_SIGNING).expect("P-384 key"),
                alg,
            ),
            Algorithm::EdDSA => ProofKey::Ed25519(Ed25519KeyPair::generate().expect("Ed25519 key")),
            Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512 => ProofKey::Rsa(SigningKey::generate_without_kid(), alg),
            other => panic!("a DPoP proof is never signed with {other:?}"),
        }
    }

    fn alg(&self) -> Algorithm {
        match self {
            ProofKey::Ec(_, alg) | ProofKey::Rsa(_, alg) => *alg,
            ProofKey::Ed25519(_) => Algorithm::EdDSA,
        }
    }

    /// The public key as a JWK with only its key members (no `alg`, `use` or `kid`).
    fn jwk(&self) -> Value {
        match self {
            ProofKey::Ec(pair, alg) => {
                // The uncompressed point: 0x04, x, y.
                let point = &pair.public_key().as_ref()[1..];
                let (x, y) = point.split_at(point.len() / 2);
                let crv = if *alg == Algorithm::ES256 {
                    "P-256"
                } else {
                    "P-384"
                };
                json!({
                    "kty": "EC",
                    "crv": crv,
                    "x": URL_SAFE_NO_PAD.encode(x),
                    "y": URL_SAFE_NO_PAD.encode(y),
                })
            }
            ProofKey::Rsa(key, _) => {
                let full = key.jwk();
                json!({ "kty": "RSA", "n": full["n"], "e": full["e"] })
            }
            ProofKey::Ed25519(pair) => json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
            }),
        }
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            ProofKey::Ec(pair, _) => pair
                .sign(&SystemRandom::new(), message)
                .expect("ECDSA signing")
                .as_ref()
                .to_vec(),
            ProofKey::Rsa(key, alg) => key.sign(*alg, message),
            ProofKey::Ed25519(pair) => pair.sign(message).as_ref().to_vec(),
        }
    }
}

impl DpopProof {
    /// A fresh ES256 key.
    pub fn generate() -> Self {
        Self::generate_for(Algorithm::ES256)
    }

    /// A fresh key for `alg`: `ES256`, `ES384`, `EdDSA`, or an RSA algorithm (`RS256`,
    /// `PS256`, ...; a 2048-bit key).
    ///
    /// # Panics
    /// On an HMAC algorithm, which a proof never uses.
    pub fn generate_for(alg: Algorithm) -> Self {
        DpopProof {
            key: Arc::new(ProofKey::generate(alg)),
            signer: None,
            header: Vec::new(),
            claims: Vec::new(),
            iat_offset: 0,
            private_in_jwk: false,
        }
    }

    /// The public key as a JWK (`kty` and the key's members: `crv`, `x`, `y` for EC; `n`, `e`
    /// for RSA; `crv`, `x` for Ed25519).
    pub fn jwk(&self) -> Value {
        self.key.jwk()
    }

    /// The key's RFC 7638 SHA-256 thumbprint: what a token bound to it carries in `cnf.jkt`.
    pub fn jkt(&self) -> String {
        let jwk = self.jwk();
        crate::dpop::jwk_thumbprint(jwk.as_object().expect("an object")).expect("a thumbprint")
    }

    /// Sets (or adds) a header member.
    pub fn header(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.header.push((name.to_owned(), Some(value.into())));
        self
    }

    /// Removes a header member (`typ`, `alg`, `jwk`).
    pub fn without_header(mut self, name: &str) -> Self {
        self.header.push((name.to_owned(), None));
        self
    }

    /// Sets (or adds) a claim, replacing what [`proof`](Self::proof) would put there.
    pub fn claim(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.claims.push((name.to_owned(), Some(value.into())));
        self
    }

    /// Removes a claim (`jti`, `htm`, `htu`, `iat`, `ath`).
    pub fn without_claim(mut self, name: &str) -> Self {
        self.claims.push((name.to_owned(), None));
        self
    }

    /// Puts `iat` this many seconds from now (negative: in the past).
    pub fn iat_offset_secs(mut self, seconds: i64) -> Self {
        self.iat_offset = seconds;
        self
    }

    /// Sets the server nonce the proof carries.
    pub fn nonce(self, nonce: &str) -> Self {
        self.claim("nonce", nonce)
    }

    /// Signs with `other`'s key while the header still carries this key.
    pub fn signed_by(mut self, other: &DpopProof) -> Self {
        self.signer = Some(Arc::clone(&other.key));
        self
    }

    /// Adds a private member (`d`) to the embedded `jwk`.
    pub fn with_private_key_in_jwk(mut self) -> Self {
        self.private_in_jwk = true;
        self
    }

    /// A proof for one request to `url` with `method`, bound to `access_token` (`ath`): a
    /// fresh `jti`, `iat` now (plus any offset).
    pub fn proof(&self, method: &str, url: &str, access_token: &str) -> String {
        let ath = crate::dpop::sha256_b64(access_token.as_bytes());
        self.sign(method, url, Some(ath))
    }

    /// A proof for a token request (no `ath`), as a client sends to a token endpoint.
    pub fn token_request_proof(&self, token_endpoint: &str) -> String {
        self.sign("POST", token_endpoint, None)
    }

    fn sign(&self, method: &str, url: &str, ath: Option<String>) -> String {
        let mut jwk = self.jwk();
        if self.private_in_jwk {
            jwk["d"] = Value::from("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
        }
        let mut header = Map::new();
        header.insert("typ".into(), "dpop+jwt".into());
        header.insert("alg".into(), self.key.alg().name().into());
        header.insert("jwk".into(), jwk);
        apply(&mut header, &self.header);
        let mut claims = Map::new();
        let mut jti = [0u8; 16];
        aws_lc_rs::rand::fill(&mut jti).expect("system random");
        claims.insert("jti".into(), URL_SAFE_NO_PAD.encode(jti).into());
        claims.insert("htm".into(), method.into());
        claims.insert("htu".into(), url.into());
        claims.insert("iat".into(), (unix_now() + self.iat_offset).into());
        if let Some(ath) = ath {
            claims.insert("ath".into(), ath.into());
        }
        apply(&mut claims, &self.claims);
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(Value::Object(header).to_string()),
            URL_SAFE_NO_PAD.encode(Value::Object(claims).to_string())
        );
        let signer = self.signer.as_ref().unwrap_or(&self.key);
        let signature = signer.sign(signing_input.as_bytes());
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

fn apply(members: &mut Map<String, Value>, changes: &[(String, Option<Value>)]) {
    for (name, value) in changes {
        match value {
            Some(value) => members.insert(name.clone(), value.clone()),
            None => members.remove(name),
        };
    }
}
