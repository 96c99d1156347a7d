//! What the doctor checks: the quickstart's settings, from flags or its environment
//! variables, and the builder the quickstart makes of them.

use bearer_guard::dpop::{Dpop, DpopMode};
use bearer_guard::{Algorithm, Validator, ValidatorBuilder};

/// The builder's default algorithms in key set mode: what keys are judged for unless
/// `--algorithms` names others (`ValidatorBuilder::algorithms`).
const ALGORITHMS: [Algorithm; 1] = [Algorithm::RS256];

/// What to check: the quickstart's settings, from flags or its environment variables.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// `--issuer`, `ISSUER`: exactly as the tokens' `iss`.
    pub issuer: Option<String>,
    /// `--audience`, `AUDIENCE`: the API's identifier.
    pub audience: Option<String>,
    /// `--jwks-uri`, `JWKS_URI`: the key set URL (none: discovery).
    pub jwks_uri: Option<String>,
    /// `--hs256-secret`, `HS256_SECRET`: secret mode (never printed).
    pub hs256_secret: Option<String>,
    /// `AUTH0_DOMAIN`: the Auth0 preset, as the quickstart applies it.
    pub auth0_domain: Option<String>,
    /// `--algorithms RS256,ES256`: the API's algorithm allow-list (none: the builder's
    /// default, RS256 in key set mode).
    pub algorithms: Option<Vec<Algorithm>>,
    /// `--jwe-private-key-file`, `JWE_PRIVATE_KEY_FILE`: the PEM file of the API's RSA
    /// private key, for encrypted tokens (read, never printed).
    pub jwe_private_key_file: Option<String>,
    /// `--jwe-key-id`, `JWE_KEY_ID`: the `kid` tokens name that key by (none: its RFC 7638
    /// thumbprint).
    pub jwe_key_id: Option<String>,
    /// `--introspection-client-id`, `INTROSPECTION_CLIENT_ID`: the API's client at the
    /// issuer, with which opaque tokens are introspected (JWTs are still verified locally).
    pub introspection_client_id: Option<String>,
    /// `--introspection-client-secret`, `INTROSPECTION_CLIENT_SECRET` (never printed).
    pub introspection_client_secret: Option<String>,
    /// `--introspection-url`, `INTROSPECTION_URL`: the endpoint (none: discovery).
    pub introspection_url: Option<String>,
    /// `--dpop`, `DPOP`: `off`, `allowed` or `required`, as the quickstart reads it (none, and
    /// no public URL or proof: the validator takes no DPoP).
    pub dpop: Option<String>,
    /// `--public-url`, `PUBLIC_URL`: the URL clients call the API at, which proofs name.
    pub public_url: Option<String>,
    /// `--dpop-proof`: the `DPoP` header the client sent with the token; the report then
    /// explains the request, proof included.
    pub dpop_proof: Option<String>,
    /// `--url`: the URL the client called with the proof (default: the proof's `htu`).
    pub request_url: Option<String>,
    /// `--method`: the request's method (default: the proof's `htm`).
    pub request_method: Option<String>,
}

impl Config {
    /// The Auth0 tenant's host, from `AUTH0_DOMAIN` (with or without `https://`).
    fn auth0_host(&self) -> Option<&str> {
        let domain = self.auth0_domain.as_deref()?.trim();
        Some(domain.trim_start_matches("https://").trim_end_matches('/'))
    }

    /// The issuer the validator is configured with (`ISSUER` over the Auth0 preset's).
    pub fn effective_issuer(&self) -> Option<String> {
        let preset = self.auth0_host().map(|host| format!("https://{host}/"));
        self.issuer.clone().or(preset)
    }

    /// The configured key set URL (`JWKS_URI` over the Auth0 preset's; none: discovery).
    pub fn effective_jwks_uri(&self) -> Option<String> {
        let preset = match self.hs256_secret {
            Some(_) => None,
            None => self
                .auth0_host()
                .map(|host| format!("https://{host}/.well-known/jwks.json")),
        };
        self.jwks_uri.clone().or(preset)
    }

    /// The builder the quickstart makes of the same settings; an error names a file that
    /// cannot be read.
    pub(super) fn builder(&self) -> Result<ValidatorBuilder, String> {
        let audience = self.audience.clone().unwrap_or_default();
        let mut builder = match self.auth0_host() {
            Some(host) if self.hs256_secret.is_none() => Validator::auth0(host, &audience),
            _ => Validator::builder().audience(audience),
        };
        if let Some(issuer) = self.effective_issuer() {
            builder = builder.issuer(issuer);
        }
        if let Some(uri) = &self.jwks_uri {
            builder = builder.jwks_uri(uri.as_str());
        }
        if let Some(secret) = &self.hs256_secret {
            builder = builder.hs256_secret(secret.as_bytes());
        }
        if let Some(algorithms) = &self.algorithms {
            builder = builder.algorithms(algorithms.iter().copied());
        }
        if let Some(path) = &self.jwe_private_key_file {
            let pem = std::fs::read_to_string(path)
                .map_err(|error| format!("JWE_PRIVATE_KEY_FILE {path}: {error}"))?;
            builder = match &self.jwe_key_id {
                Some(kid) => builder.decryption_key_pem_with_kid(kid.as_str(), pem),
                None => builder.decryption_key_pem(pem),
            };
        }
        if let Some(client_id) = &self.introspection_client_id {
            let secret = self.introspection_client_secret.as_deref().ok_or(
                "INTROSPECTION_CLIENT_ID needs INTROSPECTION_CLIENT_SECRET (the API's own \
                 client credentials at the issuer)",
            )?;
            builder = builder
                .introspection(client_id.as_str(), secret)
                .mixed_mode();
            if let Some(url) = &self.introspection_url {
                builder = builder.introspection_endpoint(url.as_str());
            }
        }
        if self.dpop.is_some() || self.public_url.is_some() || self.dpop_proof.is_some() {
            let mode = self
                .dpop
                .as_deref()
                .map_or(Ok(DpopMode::Allowed), |mode| mode.trim().parse())
                .map_err(|error| format!("DPOP: {error}"))?;
            let dpop = Dpop::from(mode);
            builder = builder.dpop(match &self.public_url {
                Some(url) => dpop.public_url(url.trim_end_matches('/')),
                None => dpop,
            });
        }
        Ok(builder)
    }

    /// The decryption key, as the report shows it (never its content).
    pub(super) fn decryption(&self) -> Option<String> {
        let path = self.jwe_private_key_file.as_deref()?;
        Some(match &self.jwe_key_id {
            Some(kid) => format!("decrypts encrypted tokens with the key in {path} (kid {kid})"),
            None => {
                format!("decrypts encrypted tokens with the key in {path} (kid: its thumbprint)")
            }
        })
    }

    /// Introspection, as the report shows it (the secret by its length only).
    pub(super) fn introspection(&self) -> Option<String> {
        let client_id = self.introspection_client_id.as_deref()?;
        let secret = self
            .introspection_client_secret
            .as_ref()
            .map_or(0, String::len);
        let endpoint = self
            .introspection_url
            .as_deref()
            .unwrap_or("the endpoint of the issuer's metadata");
        Some(format!(
            "opaque tokens introspected at {endpoint} as {client_id} (secret: {secret} bytes)"
        ))
    }

    /// The algorithms keys are judged for: the configured ones, else the default.
    pub(super) fn key_algorithms(&self) -> &[Algorithm] {
        self.algorithms.as_deref().unwrap_or(&ALGORITHMS)
    }
}
