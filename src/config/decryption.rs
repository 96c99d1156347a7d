//! Encrypted access tokens: the API's decryption keys (PEM or a private JWK set) and the
//! accepted `alg`/`enc` pairs, checked at build time into a [`Decrypter`].

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

use super::{ConfigProblem, ValidatorBuilder};
use crate::dpop::jwk_thumbprint;
use crate::jwe::{
    ContentEncryption, Decrypter, DecryptionKey, KeyEncryption, KeyProblem, PrivateKey, RsaParts,
    default_pairs,
};
use crate::keys::{decode_pem, spki_to_jwk};

/// What was configured for encrypted tokens.
#[derive(Clone, Default)]
pub(super) struct DecryptionConfig {
    keys: Vec<GivenKeys>,
    algorithms: Option<Vec<(KeyEncryption, ContentEncryption)>>,
}

/// One call's worth of keys.
#[derive(Clone)]
enum GivenKeys {
    /// A PEM private key, with the `kid` it was given (else its thumbprint).
    Pem { kid: Option<String>, pem: String },
    /// A JWK set of private keys.
    JwkSet(Vec<u8>),
}

impl DecryptionConfig {
    /// How many key sources were given (the builder's `Debug` shows no more than that).
    pub(super) fn sources(&self) -> usize {
        self.keys.len()
    }
}

impl ValidatorBuilder {
    /// Decrypts encrypted access tokens (compact JWE, five segments) with this RSA private
    /// key: a PEM `PRIVATE KEY` (PKCS#8) or `RSA PRIVATE KEY` (PKCS#1) block, at least 2048
    /// bits. Tokens name it by `kid`: here the RFC 7638 thumbprint of its public key (use
    /// [`decryption_key_pem_with_kid`](Self::decryption_key_pem_with_kid) to give another).
    /// Call it once per key to accept several (rotation); a token without `kid` is then
    /// refused, since it does not say which key it needs. Signed tokens that are not
    /// encrypted are still accepted.
    ///
    /// The decrypted token must be a signed token (a nested JWT) and goes through every
    /// check a plain one does. Needs the `aws-lc-rs` backend: with `rust-crypto` alone,
    /// [`build`](Self::build) reports [`ConfigProblem::DecryptionKey`], because the pure-Rust
    /// RSA crate is open to the Marvin timing attack (RUSTSEC-2023-0071).
    pub fn decryption_key_pem(mut self, pem: impl Into<String>) -> Self {
        self.decryption.keys.push(GivenKeys::Pem {
            kid: None,
            pem: pem.into(),
        });
        self
    }

    /// Like [`decryption_key_pem`](Self::decryption_key_pem), for a key that tokens name by
    /// `kid` (what the issuer shows for it: Auth0's encryption key has the `kid` you give it
    /// in the API's settings).
    pub fn decryption_key_pem_with_kid(
        mut self,
        kid: impl Into<String>,
        pem: impl Into<String>,
    ) -> Self {
        self.decryption.keys.push(GivenKeys::Pem {
            kid: Some(kid.into()),
            pem: pem.into(),
        });
        self
    }

    /// Decrypts encrypted access tokens with the private RSA keys of this JWK set
    /// (`{"keys": [...]}`, each with `n`, `e`, `d`, `p`, `q`, `dp`, `dq`, `qi`), chosen by the
    /// token's `kid` (a key without `kid` is named by its RFC 7638 thumbprint). A key's
    /// `use`, if present, must be `enc`, and its `alg`, if present, one of
    /// [`KeyEncryption`]. See [`decryption_key_pem`](Self::decryption_key_pem).
    pub fn decryption_keys_jwk_set(mut self, jwks_document: impl Into<Vec<u8>>) -> Self {
        self.decryption
            .keys
            .push(GivenKeys::JwkSet(jwks_document.into()));
        self
    }

    /// The accepted `alg`/`enc` pairs of encrypted tokens, replacing the default (every
    /// [`KeyEncryption`] with every [`ContentEncryption`]: RSA-OAEP-256, -384 and -512 with
    /// A128GCM and A256GCM). A token with another pair is refused before anything is
    /// decrypted. RSA1_5 and `dir` are never accepted.
    pub fn encryption_algorithms(
        mut self,
        pairs: impl IntoIterator<Item = (KeyEncryption, ContentEncryption)>,
    ) -> Self {
        self.decryption.algorithms = Some(pairs.into_iter().collect());
        self
    }
}

/// The decrypter of the configuration (`None` without decryption keys), or its problems.
pub(super) fn check(
    config: &DecryptionConfig,
    problems: &mut Vec<ConfigProblem>,
) -> Option<Decrypter> {
    let algorithms = config.algorithms.clone();
    if algorithms
        .as_ref()
        .is_some_and(|pairs| pairs.is_empty() || config.keys.is_empty())
    {
        problems.push(ConfigProblem::EncryptionAlgorithms);
    }
    if config.keys.is_empty() {
        return None;
    }
    let mut keys: Vec<DecryptionKey> = Vec::new();
    let before = problems.len();
    for (position, given) in config.keys.iter().enumerate() {
        let loaded = match given {
            GivenKeys::Pem { kid, pem } => {
                let name = kid.clone().unwrap_or_else(|| format!("#{}", position + 1));
                pem_key(pem)
                    .and_then(|key| named(key, kid.clone()))
                    .map(|key| vec![key])
                    .map_err(|reason| format!("the PEM key {name}: {reason}"))
            }
            GivenKeys::JwkSet(document) => jwk_set_keys(document),
        };
        match loaded {
            Ok(loaded) => keys.extend(loaded),
            Err(reason) => problems.push(ConfigProblem::DecryptionKey(reason)),
        }
    }
    for (i, key) in keys.iter().enumerate() {
        if keys[..i].iter().any(|earlier| earlier.kid == key.kid) {
            problems.push(ConfigProblem::DuplicateDecryptionKeyId(key.kid.clone()));
        }
    }
    (problems.len() == before)
        .then(|| Decrypter::new(keys, algorithms.unwrap_or_else(default_pairs)))
}

/// The private key of a PEM block: PKCS#8 or PKCS#1.
fn pem_key(pem: &str) -> Result<PrivateKey, String> {
    let not_private = "not a PEM `PRIVATE KEY` or `RSA PRIVATE KEY` block".to_owned();
    let (label, der) = decode_pem(pem).map_err(|_| not_private.clone())?;
    let key = match label.as_str() {
        "PRIVATE KEY" => PrivateKey::from_pkcs8(&der),
        "RSA PRIVATE KEY" => PrivateKey::from_pkcs1(&der),
        _ => return Err(not_private),
    };
    key.map_err(|problem| problem.to_string())
}

/// The key with its `kid`: the one given, else the RFC 7638 thumbprint of its public key.
/// (Its size was checked as it loaded: AWS-LC takes RSA keys of 2048 to 8192 bits only.)
fn named(key: PrivateKey, kid: Option<String>) -> Result<DecryptionKey, String> {
    let kid = match kid {
        Some(kid) => kid,
        None => spki_to_jwk(key.public_key_spki())
            .ok()
            .as_ref()
            .and_then(Value::as_object)
            .and_then(jwk_thumbprint)
            .ok_or_else(|| KeyProblem::Rejected.to_string())?,
    };
    Ok(DecryptionKey { kid, key })
}

/// Every key of a private JWK set; the first unusable one is the problem.
fn jwk_set_keys(document: &[u8]) -> Result<Vec<DecryptionKey>, String> {
    let set: Value = serde_json::from_slice(document)
        .map_err(|_| "the decryption key set is not JSON".to_owned())?;
    let Some(jwks) = set.get("keys").and_then(Value::as_array) else {
        return Err("the decryption key set is not a JWK set".to_owned());
    };
    if jwks.is_empty() {
        return Err("the decryption key set has no key".to_owned());
    }
    jwks.iter()
        .enumerate()
        .map(|(position, jwk)| {
            let kid = jwk.get("kid").and_then(Value::as_str).map(str::to_owned);
            let name = kid.clone().unwrap_or_else(|| format!("#{}", position + 1));
            jwk_key(jwk)
                .and_then(|key| named(key, kid))
                .map_err(|reason| format!("the JWK {name}: {reason}"))
        })
        .collect()
}

/// The private key of one JWK: RSA, for encryption, with every private part.
fn jwk_key(jwk: &Value) -> Result<PrivateKey, String> {
    if jwk.get("kty").and_then(Value::as_str) != Some("RSA") {
        return Err("not an RSA key (kty)".to_owned());
    }
    if jwk.get("use").is_some_and(|usage| usage != "enc") {
        return Err("its `use` is not `enc`".to_owned());
    }
    if let Some(alg) = jwk.get("alg")
        && !KeyEncryption::ALL.iter().any(|known| alg == known.name())
    {
        return Err("its `alg` is not RSA-OAEP-256, -384 or -512".to_owned());
    }
    let part = |name: &str| {
        jwk.get(name)
            .and_then(Value::as_str)
            .and_then(|text| URL_SAFE_NO_PAD.decode(text).ok())
            .ok_or_else(|| format!("`{name}` is missing or not base64url (a private key has n, e, d, p, q, dp, dq, qi)"))
    };
    let parts = RsaParts {
        n: part("n")?,
        e: part("e")?,
        d: part("d")?,
        p: part("p")?,
        q: part("q")?,
        dp: part("dp")?,
        dq: part("dq")?,
        qi: part("qi")?,
    };
    PrivateKey::from_parts(&parts).map_err(|problem| problem.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PKCS#8 header and nothing usable after it: what matters is which problem is named.
    const NOT_A_KEY: &str = "-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n";

    fn problems(config: &DecryptionConfig) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        assert!(check(config, &mut problems).is_none());
        problems
    }

    #[test]
    fn no_keys_means_no_decrypter_and_no_problem() {
        let mut problems = Vec::new();
        assert!(check(&DecryptionConfig::default(), &mut problems).is_none());
        assert!(problems.is_empty());
    }

    #[test]
    fn an_unusable_pem_key_is_named_by_position_never_by_content() {
        let config = DecryptionConfig {
            keys: vec![GivenKeys::Pem {
                kid: None,
                pem: NOT_A_KEY.to_owned(),
            }],
            algorithms: None,
        };
        let found = problems(&config);
        let [ConfigProblem::DecryptionKey(text)] = found.as_slice() else {
            panic!("{found:?}");
        };
        assert!(text.starts_with("the PEM key #1: "), "{text}");
        assert!(!text.contains("MIIB"), "{text}");
        // Without AWS-LC, no key loads at all, and the problem says why.
        if cfg!(not(feature = "aws-lc-rs")) {
            assert!(text.contains("RUSTSEC-2023-0071"), "{text}");
        }
    }
}
