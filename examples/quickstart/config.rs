//! The quickstart's configuration, from environment variables:
//!
//! - `AUTH0_DOMAIN` + `AUDIENCE`: `Validator::auth0(domain, audience)` (issuer
//!   `https://{domain}/`, JWKS at `/.well-known/jwks.json`, RS256; with `HS256_SECRET`, the
//!   same issuer and HS256 with that secret);
//! - `ISSUER` + `AUDIENCE`: any issuer, exactly as in the tokens' `iss`; the key set is found by
//!   discovery unless `JWKS_URI` is set; `HS256_SECRET` switches to HS256 with that secret
//!   (with `AUTH0_DOMAIN`, `ISSUER` and `JWKS_URI` override what the preset derives);
//! - `INTROSPECTION_CLIENT_ID` + `INTROSPECTION_CLIENT_SECRET`: the API's own credentials at
//!   the issuer, to accept opaque access tokens by token introspection (RFC 7662); the
//!   endpoint is discovered from the issuer's metadata (`introspection_endpoint`) unless
//!   `INTROSPECTION_URL` gives it. JWT access tokens are still validated locally, on the same
//!   three routes;
//! - `JWE_PRIVATE_KEY_FILE`: a PEM file with the API's RSA private key (PKCS#8 `PRIVATE KEY`
//!   or PKCS#1 `RSA PRIVATE KEY`, at least 2048 bits): encrypted access tokens (JWE, as
//!   Auth0 issues them with "JSON Web Encryption" on) are decrypted with it, then validated
//!   like any other; plain signed tokens are still accepted. Tokens name the key by `kid`:
//!   the RFC 7638 thumbprint of its public key, unless `JWE_KEY_ID` gives another (Auth0:
//!   the key id shown in the API's token settings). In demo mode the embedded issuer
//!   encrypts the API's tokens to it;
//! - `BIND`: the listen address (default `127.0.0.1:3010`);
//! - `DPOP`: `off`, `allowed` (the default: bearer tokens pass, DPoP-bound tokens need a
//!   proof) or `required` (only DPoP-bound tokens);
//! - `PUBLIC_URL`: the base URL clients call the API at, which DPoP proofs name in `htu`
//!   (default `http://{BIND}`);
//! - `REDIS_URL` (`redis://host:6379/`): the DPoP replay store is that Redis server instead
//!   of this process's memory, so quickstarts started with the same `REDIS_URL` and
//!   `PUBLIC_URL` are replicas of one API: a proof used at one is refused at the others. Point
//!   the second at the first one's demo issuer (`ISSUER=<the printed demo issuer>
//!   AUDIENCE=https://api.example.com`) so that both accept the same tokens.
//!
//! Without `ISSUER` and `AUTH0_DOMAIN` the embedded demo issuer is used (`demo.rs`). Scopes
//! are read from `scope`, `scp` and Auth0's `permissions`. An invalid configuration is
//! reported in full and the process exits with status 2.

use std::env;
use std::process::ExitCode;
use std::sync::Arc;

use bearer_guard::dpop::{Dpop, DpopMode, RedisReplayStore};
use bearer_guard::{Validator, ValidatorBuilder, scope::ScopeClaims};
use tokio::net::TcpListener;

use crate::demo::Demo;

/// A set, non-empty environment variable.
pub fn var(name: &str) -> Option<String> {
    env::var(name).ok().filter(|value| !value.trim().is_empty())
}

/// What the environment configures: the listener, the validator, and the demo issuer when
/// no issuer is configured (it must live as long as the server).
pub struct Settings {
    pub listener: TcpListener,
    /// `http://{the bound address}`.
    pub base: String,
    /// `PUBLIC_URL` without a trailing slash, or `base`.
    pub public_url: String,
    pub validator: Validator,
    /// `DPOP`: the demo labels its calls by it.
    pub mode: DpopMode,
    pub demo: Option<Demo>,
}

impl Settings {
    /// Reads the environment, binds `BIND` and builds the validator; prints the effective
    /// configuration (no secret). On failure, says why and returns the exit status.
    pub async fn from_env() -> Result<Settings, ExitCode> {
        let secret = var("HS256_SECRET");
        let decryption_key = decryption_key().map_err(|problem| {
            eprintln!("{problem}");
            ExitCode::from(2)
        })?;
        let demo = match var("ISSUER").or(var("AUTH0_DOMAIN")) {
            None => Some(Demo::start(secret.as_deref(), decryption_key.as_ref()).await),
            Some(_) => None,
        };
        let bind = var("BIND").unwrap_or_else(|| "127.0.0.1:3010".to_owned());
        let listener = match TcpListener::bind(&bind).await {
            Ok(listener) => listener,
            Err(error) => {
                eprintln!("cannot listen on {bind}: {error}");
                return Err(ExitCode::FAILURE);
            }
        };
        let base = format!(
            "http://{}",
            listener.local_addr().map_or(bind, |a| a.to_string())
        );
        let public_url = var("PUBLIC_URL").unwrap_or_else(|| base.clone());
        let public_url = public_url.trim_end_matches('/').to_owned();
        let dpop = dpop_settings(&public_url).await.map_err(|problem| {
            eprintln!("{problem}");
            ExitCode::from(2)
        })?;
        let mode = dpop.mode();
        let builder = configure(demo.as_ref(), secret.as_deref(), dpop);
        let builder = match &decryption_key {
            Some(key) => key.configure(builder),
            None => builder,
        };
        let validator = match builder.build() {
            Ok(validator) => validator,
            Err(error) => {
                eprintln!("invalid bearer-guard configuration:");
                for problem in error.problems() {
                    eprintln!("  - {problem}");
                }
                eprintln!("set AUTH0_DOMAIN or ISSUER, and AUDIENCE; optionally JWKS_URI, or");
                eprintln!("HS256_SECRET with ISSUER or AUTH0_DOMAIN; INTROSPECTION_CLIENT_ID and");
                eprintln!(
                    "INTROSPECTION_CLIENT_SECRET (and optionally INTROSPECTION_URL) for opaque tokens"
                );
                return Err(ExitCode::from(2));
            }
        };
        let replay_store = if var("REDIS_URL").is_some() {
            "the Redis server of REDIS_URL"
        } else {
            "in memory"
        };
        println!(
            "validating with {validator:?} (DPoP {mode:?}, public URL {public_url}, \
             replay store {replay_store})"
        );
        println!(
            "configuration: {}",
            effective(demo.is_some(), secret.as_deref())
        );
        Ok(Settings {
            listener,
            base,
            public_url,
            validator,
            mode,
            demo,
        })
    }
}

/// Where the issuer, the keys and the introspection credentials come from, secrets as their
/// length only.
fn effective(demo: bool, secret: Option<&str>) -> String {
    let issuer = match (demo, var("ISSUER"), var("AUTH0_DOMAIN")) {
        (true, ..) => "the embedded demo issuer".to_owned(),
        (false, Some(issuer), _) => format!("ISSUER {issuer}"),
        (false, None, Some(domain)) => format!("AUTH0_DOMAIN {domain}"),
        (false, None, None) => "none".to_owned(),
    };
    let keys = match (secret, var("JWKS_URI")) {
        (Some(secret), _) => format!("HS256 secret of {} bytes", secret.len()),
        (None, Some(uri)) => format!("JWKS_URI {uri}"),
        (None, None) => "the issuer's key set (discovery)".to_owned(),
    };
    let introspection = match var("INTROSPECTION_CLIENT_ID") {
        _ if demo => "the demo API's client".to_owned(),
        Some(client_id) => format!(
            "client {client_id} (secret of {} bytes)",
            var("INTROSPECTION_CLIENT_SECRET").map_or(0, |secret| secret.len())
        ),
        None => "off".to_owned(),
    };
    let encrypted = match (var("JWE_PRIVATE_KEY_FILE"), var("JWE_KEY_ID")) {
        (None, _) => "refused".to_owned(),
        (Some(file), Some(kid)) => format!("decrypted with the key of {file} (kid {kid})"),
        (Some(file), None) => format!("decrypted with the key of {file} (kid: its thumbprint)"),
    };
    format!(
        "issuer from {issuer}; keys: {keys}; introspection: {introspection}; \
         encrypted tokens: {encrypted}"
    )
}

/// The API's key for encrypted tokens: the PEM of `JWE_PRIVATE_KEY_FILE`, with the `kid` of
/// `JWE_KEY_ID` if set.
pub struct DecryptionKey {
    pub pem: String,
    pub kid: Option<String>,
}

impl DecryptionKey {
    fn configure(&self, builder: ValidatorBuilder) -> ValidatorBuilder {
        match &self.kid {
            Some(kid) => builder.decryption_key_pem_with_kid(kid, &self.pem),
            None => builder.decryption_key_pem(&self.pem),
        }
    }
}

/// `JWE_PRIVATE_KEY_FILE`, read (whether it holds a usable key is the builder's check).
fn decryption_key() -> Result<Option<DecryptionKey>, String> {
    let Some(path) = var("JWE_PRIVATE_KEY_FILE") else {
        return Ok(None);
    };
    let pem = std::fs::read_to_string(&path)
        .map_err(|error| format!("JWE_PRIVATE_KEY_FILE {path}: {error}"))?;
    Ok(Some(DecryptionKey {
        pem,
        kid: var("JWE_KEY_ID"),
    }))
}

/// The validator configuration: the demo issuer's, or the environment's.
fn configure(demo: Option<&Demo>, secret: Option<&str>, dpop: Dpop) -> ValidatorBuilder {
    let audience = var("AUDIENCE").unwrap_or_default();
    let mut builder = match (demo, var("AUTH0_DOMAIN")) {
        (Some(demo), _) => demo.issuer.validator(),
        // An Auth0 API signing with HS256: the preset's issuer, no key set.
        (None, Some(domain)) if secret.is_some() => {
            let host = domain.trim_start_matches("https://").trim_end_matches('/');
            Validator::builder()
                .issuer(format!("https://{host}/"))
                .audience(audience)
        }
        (None, Some(domain)) => Validator::auth0(&domain, &audience),
        (None, None) => match var("AUDIENCE") {
            Some(audience) => Validator::builder().audience(audience),
            None => Validator::builder(),
        },
    };
    if demo.is_none() {
        if let Some(issuer) = var("ISSUER") {
            builder = builder.issuer(issuer);
        }
        if let Some(jwks_uri) = var("JWKS_URI") {
            builder = builder.jwks_uri(jwks_uri);
        }
    }
    if let Some(secret) = secret {
        builder = builder.hs256_secret(secret.as_bytes());
    }
    // Opaque tokens: introspected with the API's own credentials; JWTs still local.
    let credentials = match demo {
        Some(demo) => Some(demo.api_credentials()),
        None => var("INTROSPECTION_CLIENT_ID").zip(var("INTROSPECTION_CLIENT_SECRET")),
    };
    if let Some((client_id, client_secret)) = credentials {
        builder = builder.introspection(client_id, client_secret).mixed_mode();
        if let Some(url) = var("INTROSPECTION_URL").filter(|_| demo.is_none()) {
            builder = builder.introspection_endpoint(url);
        }
    }
    builder
        .scope_claims(ScopeClaims::default().permissions(true))
        .dpop(dpop)
}

/// `DPOP` (`off`, `allowed` or `required`; default `allowed`) with `PUBLIC_URL`, and the
/// replay store of `REDIS_URL` if set.
async fn dpop_settings(public_url: &str) -> Result<Dpop, String> {
    let mode = var("DPOP")
        .as_deref()
        .map_or(Ok(DpopMode::Allowed), str::parse)
        .map_err(|error| format!("DPOP: {error}"))?;
    let dpop = Dpop::from(mode);
    let dpop = dpop.public_url(public_url);
    let Some(url) = var("REDIS_URL") else {
        return Ok(dpop);
    };
    // Connected now: an unreachable server is reported at startup, not at the first proof.
    let store = RedisReplayStore::connect(&url)
        .await
        .map_err(|error| format!("REDIS_URL: {error}"))?;
    Ok(dpop.replay_store(Arc::new(store)))
}
