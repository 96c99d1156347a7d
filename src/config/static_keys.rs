//! The static key source: public keys given at build time (a JWK set document, or PEM keys
//! with their `kid`), checked by the same key policy as a fetched key set. No network ever.

use crate::algorithm::Algorithm;
use serde_json::Value;

use super::{ConfigProblem, KeySource, ValidatorBuilder};
use crate::keys::{KeySet, pem_to_jwk};

/// What was given.
#[derive(Clone)]
pub(super) enum StaticKeys {
    /// A JWK set document.
    Document(Vec<u8>),
    /// PEM public keys with their `kid`.
    Pem(Vec<(String, String)>),
}

impl ValidatorBuilder {
    /// Verifies tokens with the public keys of this JWK set document (`{"keys": [...]}`),
    /// given at build time, instead of fetching a key set: for APIs that cannot reach their
    /// issuer at run time (air-gapped networks, tests, issuers without a key set endpoint).
    /// Every key passes the same key policy as a fetched one (asymmetric keys only, RSA
    /// at least 2048 bits, `use`/`key_ops`/`alg` honoured; a key that fails is skipped and
    /// logged, as in a fetched set); [`build`](Self::build) reports a document that is not
    /// a JWK set, or has no usable key. Key rotation then means a new build.
    pub fn static_key_set(mut self, jwks_document: impl Into<Vec<u8>>) -> Self {
        self.set_key_source(KeySource::Static(StaticKeys::Document(
            jwks_document.into(),
        )));
        self
    }

    /// Adds a PEM public key (`-----BEGIN PUBLIC KEY-----`: RSA, P-256, P-384 or Ed25519; or
    /// `-----BEGIN RSA PUBLIC KEY-----`) that verifies tokens whose header names `kid`;
    /// call it once per key. The same key policy applies as to a JWK set (see
    /// [`static_key_set`](Self::static_key_set)); [`build`](Self::build) reports a PEM block
    /// that is not a usable public key.
    pub fn static_public_key_pem(mut self, kid: impl Into<String>, pem: impl Into<String>) -> Self {
        let mut keys = match &self.key_source {
            KeySource::Static(StaticKeys::Pem(keys)) => keys.clone(),
            _ => Vec::new(),
        };
        keys.push((kid.into(), pem.into()));
        self.set_key_source(KeySource::Static(StaticKeys::Pem(keys)));
        self
    }
}

/// The key set of the static keys, or what is wrong with them.
pub(super) fn check_static_keys(
    keys: &StaticKeys,
    algorithms: &[Algorithm],
    max_keys: usize,
) -> Result<KeySet, ConfigProblem> {
    let problem = |text: String| ConfigProblem::StaticKeys(text);
    let document = match keys {
        StaticKeys::Document(document) => document.clone(),
        StaticKeys::Pem(pems) => {
            let mut jwks = Vec::new();
            for (kid, pem) in pems {
                let jwk = pem_to_jwk(pem, kid)
                    .map_err(|error| problem(format!("the PEM key {kid:?}: {error}")))?;
                jwks.push(jwk);
            }
            serde_json::to_vec(&serde_json::json!({ "keys": Value::from(jwks) }))
                .map_err(|error| problem(error.to_string()))?
        }
    };
    let algorithms: Vec<_> = algorithms.iter().map(|alg| alg.to_jwt()).collect();
    let (set, skipped) = KeySet::parse(&document, &algorithms, max_keys)
        .map_err(|rejected| problem(rejected.to_string()))?;
    for (kid, reason) in &skipped {
        let kid = kid.as_deref().unwrap_or("-");
        if matches!(keys, StaticKeys::Pem(_)) {
            // Each PEM key was given on purpose: one the policy refuses is a mistake.
            return Err(problem(format!(
                "the PEM key {kid:?} fails the key policy: {reason}"
            )));
        }
        tracing::warn!(kid, %reason, "bearer-guard: skipped a key of the static key set");
    }
    if set.len() == 0 {
        return Err(problem("no key passes the key policy".to_owned()));
    }
    Ok(set)
}
