//! `build`: check every setting (reporting every problem at once), then assemble the
//! issuer's pipeline from settings known to be sound.

use std::sync::Arc;

use crate::algorithm::Algorithm;
use reqwest::Url;

use super::sender;
use super::{
    ConfigError, ConfigProblem, KeySource, MIN_HMAC_SECRET_BYTES, Secret, ValidatorBuilder,
};
use crate::introspection::ResponseKeys;
use crate::issuer::{Issuer, Keys};
use crate::jwe::Decrypter;
use crate::jwks::{Counters, Fetcher, JwksCache, JwksLocation};
use crate::keys::KeySet;
use crate::respond::{DpopChallenge, Responder};
use crate::scope::is_scope_token;
use crate::token_cache::TokenCache;
use crate::transport;
use crate::validate::Rules;
use crate::validator::Validator;

/// What checking found sound, in the form assembling needs.
struct Checked {
    issuer: String,
    algorithms: Vec<Algorithm>,
    keys: CheckedKeys,
    /// The introspection endpoint, when one was given.
    introspection_endpoint: Option<Url>,
    /// Encrypted tokens are decrypted with this, when decryption keys were given.
    decrypter: Option<Decrypter>,
}

enum CheckedKeys {
    Secret(Vec<u8>),
    KeySet(JwksLocation),
    Static(KeySet),
}

impl ValidatorBuilder {
    /// Checks the whole configuration and reports every problem at once.
    pub fn build(self) -> Result<Validator, ConfigError> {
        let checked = self.check().map_err(ConfigError::new)?;
        self.assemble(checked)
    }

    /// Every problem of the configuration, or what assembling needs.
    fn check(&self) -> Result<Checked, Vec<ConfigProblem>> {
        let mut problems = Vec::new();
        let issuer = match &self.issuer {
            None => Err(ConfigProblem::MissingIssuer),
            Some(issuer) => check_url(issuer, "issuer").map(|_| issuer.clone()),
        };
        let issuer = issuer.map_err(|problem| problems.push(problem)).ok();
        if self.audiences.is_empty() {
            problems.push(ConfigProblem::MissingAudience);
        }
        if self.audiences.iter().any(|aud| aud.trim().is_empty()) {
            problems.push(ConfigProblem::EmptyAudience);
        }
        let keys = self.check_keys(issuer.as_deref(), &mut problems);
        let algorithms = self.check_algorithms(&mut problems);
        self.check_limits(&mut problems);
        let introspection_endpoint = self.check_introspection(&mut problems);
        let decrypter = super::decryption::check(&self.decryption, &mut problems);
        // Every name that may reach a decision or a challenge's `scope=`.
        let scope_names = self.scope_hierarchy.names().chain(
            self.initial_scopes
                .iter()
                .flatten()
                .chain(&self.supported_scopes)
                .map(String::as_str),
        );
        for bad in scope_names.filter(|name| !is_scope_token(name)) {
            problems.push(ConfigProblem::InvalidScope(bad.to_owned()));
        }
        problems.extend(sender::problems(&self.dpop));
        if let Err(error) = crate::backend::self_test() {
            problems.push(ConfigProblem::CryptoBackend(match error {
                crate::backend::BackendError::Missing => {
                    "no crypto backend: enable the `aws-lc-rs` or `rust-crypto` feature"
                }
                crate::backend::BackendError::Rejected => {
                    "the crypto backend failed its known-answer test"
                }
            }));
        }
        match (issuer, keys) {
            (Some(issuer), Some(keys)) if problems.is_empty() => Ok(Checked {
                issuer,
                algorithms,
                keys,
                introspection_endpoint,
                decrypter,
            }),
            _ => Err(problems),
        }
    }

    /// The key source: a secret long enough, or a key set URL that is allowed.
    fn check_keys(
        &self,
        issuer: Option<&str>,
        problems: &mut Vec<ConfigProblem>,
    ) -> Option<CheckedKeys> {
        if self.key_sources_conflict {
            problems.push(ConfigProblem::SecretAndKeySet);
        }
        match &self.key_source {
            KeySource::Secret(Secret::NotBase64) => {
                problems.push(ConfigProblem::SecretNotBase64);
                None
            }
            KeySource::Secret(Secret::Bytes(bytes)) => {
                if bytes.len() < MIN_HMAC_SECRET_BYTES {
                    problems.push(ConfigProblem::SecretTooShort { bytes: bytes.len() });
                }
                Some(CheckedKeys::Secret(bytes.clone()))
            }
            KeySource::KeySetUri { uri, .. } => match check_url(uri, "jwks_uri") {
                Ok(url) => Some(CheckedKeys::KeySet(JwksLocation::Uri(url))),
                Err(problem) => {
                    problems.push(problem);
                    None
                }
            },
            KeySource::Static(keys) => {
                let algorithms = self.check_algorithms(&mut Vec::new());
                super::static_keys::check_static_keys(keys, &algorithms, self.cache.max_keys)
                    .map_err(|problem| problems.push(problem))
                    .ok()
                    .map(CheckedKeys::Static)
            }
            KeySource::Discovery => issuer.map(|_| CheckedKeys::KeySet(JwksLocation::Discover)),
        }
    }

    /// The algorithm list: not empty, of the key source's family, and (for HMAC) no longer
    /// a hash than the secret.
    fn check_algorithms(&self, problems: &mut Vec<ConfigProblem>) -> Vec<Algorithm> {
        let secret = match &self.key_source {
            KeySource::Secret(Secret::Bytes(bytes)) => Some(bytes.as_slice()),
            _ => None,
        };
        let secret_mode = matches!(self.key_source, KeySource::Secret(_));
        let algorithms = self.algorithms.clone().unwrap_or_else(|| {
            vec![if secret_mode {
                Algorithm::HS256
            } else {
                Algorithm::RS256
            }]
        });
        if algorithms.is_empty() {
            problems.push(ConfigProblem::NoAlgorithm);
        }
        for &alg in &algorithms {
            let symmetric = alg.is_symmetric();
            if let Some(secret) = secret.filter(|s| s.len() >= MIN_HMAC_SECRET_BYTES)
                && symmetric
                && !crate::keys::hmac_secret_fits(secret.len(), alg.to_jwt())
            {
                problems.push(ConfigProblem::SecretShorterThanHash(alg));
            }
            if secret_mode && !symmetric {
                problems.push(ConfigProblem::AlgorithmNeedsKeySet(alg));
            }
            if !secret_mode && symmetric {
                problems.push(ConfigProblem::AlgorithmNeedsSecret(alg));
            }
        }
        algorithms
    }

    /// The validator, from settings `check` found sound.
    fn assemble(self, checked: Checked) -> Result<Validator, ConfigError> {
        let Checked {
            issuer,
            algorithms,
            keys,
            introspection_endpoint,
            decrypter,
        } = checked;
        let algorithms: Vec<_> = algorithms.into_iter().map(Algorithm::to_jwt).collect();
        let counters = Arc::new(Counters::new(&issuer));
        // One fetcher for the key set and introspection: one HTTP client, one discovery.
        let needs_fetcher = self.introspects() || matches!(keys, CheckedKeys::KeySet(_));
        let fetcher = match needs_fetcher {
            false => None,
            true => {
                let client = match &self.http_client {
                    Some(client) => client.clone(),
                    None => transport::default_client(self.limits.timeout).map_err(|error| {
                        ConfigError::new(vec![ConfigProblem::HttpClient(error.to_string())])
                    })?,
                };
                let location = match &keys {
                    CheckedKeys::KeySet(location) => location.clone(),
                    _ => JwksLocation::Discover,
                };
                Some(Arc::new(Fetcher::new(
                    &issuer,
                    location,
                    client,
                    self.limits.clone(),
                )))
            }
        };
        let keys = match (keys, &fetcher) {
            (CheckedKeys::Secret(secret), _) => Keys::Secret(KeySet::secret(&secret, &algorithms)),
            (CheckedKeys::Static(set), _) => Keys::Static(Arc::new(set)),
            (CheckedKeys::KeySet(_), Some(fetcher)) => Keys::Jwks(Arc::new(JwksCache::new(
                Arc::clone(fetcher),
                Arc::clone(&counters),
                self.cache.clone(),
                algorithms.clone(),
            ))),
            (CheckedKeys::KeySet(_), None) => unreachable!("a key set always has a fetcher"),
        };
        let response_keys = match &keys {
            Keys::Jwks(cache) => ResponseKeys::Jwks(Arc::clone(cache)),
            Keys::Static(set) => ResponseKeys::Static(Arc::clone(set)),
            Keys::Secret(_) => ResponseKeys::None,
        };
        let rules = Rules {
            issuer,
            audiences: self.audiences.clone(),
            algorithms,
            leeway_secs: i64::try_from(self.leeway.as_secs()).unwrap_or(i64::MAX),
            scope_claims: self.scope_claims,
            scope_hierarchy: self.scope_hierarchy.clone(),
            rfc9068: self.rfc9068,
        };
        let token_cache =
            (self.token_cache_bytes > 0).then(|| TokenCache::new(self.token_cache_bytes));
        let introspector = fetcher.and_then(|fetcher| {
            self.assemble_introspection(
                introspection_endpoint,
                fetcher,
                counters,
                response_keys,
                &rules,
            )
        });
        let local_jwt = self.validates_jwts_locally();
        let binder = crate::dpop::Binder::new(self.dpop, self.mtls);
        let dpop_challenge = binder.advertised_algs().map(|algs| DpopChallenge {
            algs: algs.into(),
            bearer: binder.accepts_bearer(),
        });
        let initial_scopes = self
            .initial_scopes
            .as_ref()
            .unwrap_or(&self.supported_scopes)
            .join(" ");
        let responder = Responder::new(
            self.realm.as_deref(),
            self.resource_metadata.as_deref(),
            Some(initial_scopes.as_str()).filter(|scopes| !scopes.is_empty()),
            self.error_body,
            dpop_challenge,
        );
        let issuer = Issuer::new(
            rules,
            keys,
            self.max_token_bytes,
            responder,
            token_cache,
            self.claim_rules,
        );
        let issuer = match introspector {
            Some(introspector) => issuer.with_introspection(introspector, local_jwt),
            None => issuer,
        };
        let issuer = match decrypter {
            Some(decrypter) => issuer.with_decryption(decrypter),
            None => issuer,
        };
        Ok(Validator::one(issuer, binder))
    }
}

/// Parses a URL and applies the transport rule: https, or http on a loopback host.
pub(super) fn check_url(raw: &str, role: &'static str) -> Result<Url, ConfigProblem> {
    match Url::parse(raw) {
        Ok(url) if url.query().is_none() && url.fragment().is_none() => {
            if transport::is_allowed_url(&url) {
                Ok(url)
            } else {
                Err(ConfigProblem::InsecureUrl(role))
            }
        }
        _ => Err(ConfigProblem::InvalidUrl(role)),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn problems(builder: ValidatorBuilder) -> Vec<ConfigProblem> {
        builder
            .build()
            .err()
            .map(|e| e.problems().to_vec())
            .unwrap_or_default()
    }

    #[test]
    fn reports_every_problem_at_once() {
        let found = problems(
            ValidatorBuilder::default()
                .issuer("http://issuer.example/")
                .audience(" ")
                .hs256_secret("short")
                .algorithms([Algorithm::RS256])
                .leeway(Duration::from_secs(3600)),
        );
        assert_eq!(
            found,
            [
                ConfigProblem::InsecureUrl("issuer"),
                ConfigProblem::EmptyAudience,
                ConfigProblem::SecretTooShort { bytes: 5 },
                ConfigProblem::AlgorithmNeedsKeySet(Algorithm::RS256),
                ConfigProblem::LeewayTooLarge(Duration::from_secs(3600)),
            ]
        );
    }

    #[test]
    fn issuer_and_audience_are_required() {
        assert_eq!(
            problems(ValidatorBuilder::default()),
            [ConfigProblem::MissingIssuer, ConfigProblem::MissingAudience]
        );
    }

    #[test]
    fn key_set_mode_refuses_hmac_and_empty_algorithm_lists() {
        let base = ValidatorBuilder::default()
            .issuer("https://issuer.example/")
            .audience("api");
        assert_eq!(
            problems(base.clone().algorithms([Algorithm::HS256])),
            [ConfigProblem::AlgorithmNeedsSecret(Algorithm::HS256)]
        );
        assert_eq!(problems(base.algorithms([])), [ConfigProblem::NoAlgorithm]);
    }

    #[test]
    fn hs384_and_hs512_need_secrets_as_long_as_their_hash() {
        let found = problems(
            ValidatorBuilder::default()
                .issuer("https://issuer.example/")
                .audience("api")
                .hs256_secret([7u8; 48])
                .algorithms([Algorithm::HS256, Algorithm::HS384, Algorithm::HS512]),
        );
        assert_eq!(
            found,
            [ConfigProblem::SecretShorterThanHash(Algorithm::HS512)]
        );
    }

    #[test]
    fn the_auth0_preset_takes_an_hs256_secret_instead_of_its_key_set() {
        let built = Validator::auth0("tenant.auth0.com", "https://api.example.com")
            .hs256_secret([7u8; 32])
            .build();
        assert!(built.is_ok(), "{built:?}");
        let explicit = Validator::auth0("tenant.auth0.com", "https://api.example.com")
            .jwks_uri("https://tenant.auth0.com/keys")
            .hs256_secret([7u8; 32]);
        assert_eq!(problems(explicit), [ConfigProblem::SecretAndKeySet]);
    }

    #[test]
    fn secret_and_jwks_uri_conflict() {
        let found = problems(
            ValidatorBuilder::default()
                .issuer("https://issuer.example/")
                .audience("api")
                .hs256_secret([7u8; 32])
                .jwks_uri("https://issuer.example/jwks"),
        );
        assert_eq!(found, [ConfigProblem::SecretAndKeySet]);
    }

    #[test]
    fn base64_secrets_are_decoded_and_checked() {
        let base = ValidatorBuilder::default()
            .issuer("https://issuer.example/")
            .audience("api");
        assert!(
            base.clone()
                .hs256_secret_base64(&"QUFB".repeat(11))
                .build()
                .is_ok()
        );
        assert_eq!(
            problems(base.clone().hs256_secret_base64("not base64!")),
            [ConfigProblem::SecretNotBase64]
        );
        assert_eq!(
            problems(base.hs256_secret_base64("QUFB")),
            [ConfigProblem::SecretTooShort { bytes: 3 }]
        );
    }

    #[test]
    fn loopback_http_is_allowed() {
        let built = ValidatorBuilder::default()
            .issuer("http://127.0.0.1:9/")
            .audience("api")
            .build();
        assert!(built.is_ok(), "{built:?}");
    }

    #[test]
    fn debug_output_redacts_the_secret() {
        let text = format!(
            "{:?}",
            ValidatorBuilder::default().hs256_secret("s3cr3t-value")
        );
        assert!(!text.contains("s3cr3t"), "{text}");
    }
}
