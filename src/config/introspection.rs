//! The introspection settings of the builder: the API's own credentials at the issuer, the
//! endpoint, the authentication method, the cache times and mixed mode; their checks; and
//! the [`Introspector`] assembled from them.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;

use super::{ConfigProblem, ValidatorBuilder, build::check_url};
use crate::introspection::{
    CacheTimes, Client, Credentials, Endpoint, IntrospectionAuth, Introspector, OpaqueTokenShape,
    ResponseKeys,
};
use crate::jwks::{Counters, Fetcher};
use crate::validate::Rules;

/// The longest `introspection_cache_ttl` accepted: a revoked token must not live on for long.
const MAX_CACHE_TTL: Duration = Duration::from_secs(3600);
/// The longest `introspection_negative_ttl` accepted.
const MAX_NEGATIVE_TTL: Duration = Duration::from_secs(300);

/// What the builder was told about introspection.
#[derive(Clone, Debug)]
pub(super) struct IntrospectionConfig {
    credentials: Option<Credentials>,
    endpoint: Option<String>,
    auth: IntrospectionAuth,
    cache_ttl: Duration,
    negative_ttl: Duration,
    mixed_mode: bool,
    shapes: Vec<OpaqueTokenShape>,
    signed_answers: bool,
}

impl Default for IntrospectionConfig {
    fn default() -> Self {
        IntrospectionConfig {
            credentials: None,
            endpoint: None,
            auth: IntrospectionAuth::default(),
            cache_ttl: Duration::from_secs(60),
            negative_ttl: Duration::from_secs(5),
            mixed_mode: false,
            shapes: Vec::new(),
            signed_answers: false,
        }
    }
}

impl ValidatorBuilder {
    /// Accepts opaque (reference) access tokens by asking the issuer about each one (RFC
    /// 7662 token introspection), authenticating with the API's own client credentials at
    /// the issuer. The endpoint is the issuer's metadata's `introspection_endpoint` unless
    /// [`introspection_endpoint`](Self::introspection_endpoint) gives it.
    ///
    /// A token is accepted only when the answer says `active: true` and its `iss` (when
    /// present), `aud`, `exp`, `nbf` and `token_type` pass the same rules as a JWT's claims;
    /// the answer's members become the handler's claims (`scope`, `client_id`, `sub`, ...).
    /// Results are cached (see [`introspection_cache_ttl`](Self::introspection_cache_ttl));
    /// an endpoint that cannot answer means 503 with `Retry-After`, never acceptance.
    ///
    /// With a key source as well ([`jwks_uri`](Self::jwks_uri), a secret, static keys, the
    /// Auth0 preset, or [`mixed_mode`](Self::mixed_mode) for the discovered key set), compact
    /// JWS tokens are validated locally and only other tokens are introspected (mixed mode);
    /// without, every token is introspected, JWT-looking or not.
    pub fn introspection(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        self.introspection.credentials = Some(Credentials {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
        });
        self
    }

    /// The introspection endpoint, instead of the issuer metadata's `introspection_endpoint`.
    /// Must be `https`, or `http` on a loopback host.
    pub fn introspection_endpoint(mut self, url: impl Into<String>) -> Self {
        self.introspection.endpoint = Some(url.into());
        self
    }

    /// How the API authenticates to the introspection endpoint (default
    /// [`IntrospectionAuth::ClientSecretBasic`]).
    pub fn introspection_auth(mut self, auth: IntrospectionAuth) -> Self {
        self.introspection.auth = auth;
        self
    }

    /// The longest an active introspection result is reused (default 60 s, at most 1 h; `0`
    /// asks the issuer on every request). A result is never reused past the token's `exp`.
    ///
    /// This is the revocation delay: a token revoked at the issuer is still accepted from the
    /// cache for at most this long.
    pub fn introspection_cache_ttl(mut self, max: Duration) -> Self {
        self.introspection.cache_ttl = max;
        self
    }

    /// How long a refusal (an inactive token, or one the rules refuse) is reused (default
    /// 5 s, at most 5 min), so that a client retrying a bad token does not reach the issuer
    /// on every request.
    pub fn introspection_negative_ttl(mut self, ttl: Duration) -> Self {
        self.introspection.negative_ttl = ttl;
        self
    }

    /// Asks the introspection endpoint for signed answers only (RFC 9701,
    /// `Accept: application/token-introspection+jwt`) and requires them: a plain JSON
    /// answer, which anyone on the path could have written, is then refused (503, no
    /// downgrade). A signed answer is verified with the issuer's key set (or static keys):
    /// `typ`, `iss`, `aud` (the API's own introspection client id), a fresh `iat`. Register
    /// the API's client for signed answers at the issuer first (e.g. oidc-provider's
    /// `introspection_signed_response_alg`). Needs public keys: with a shared secret it is
    /// [`ConfigProblem::SignedIntrospectionWithoutKeys`].
    ///
    /// Without it, the API asks for plain JSON; a signed answer that comes anyway is
    /// verified all the same.
    pub fn introspection_signed_answers(mut self) -> Self {
        self.introspection.signed_answers = true;
        self
    }

    /// What the issuer's opaque access tokens look like (call it once per format the issuer
    /// issues): a cheap check made before any introspection call.
    ///
    /// Every distinct token that is not in the result cache costs one call to the issuer,
    /// and at most 256 calls are in flight per issuer; past that, new tokens get a 503. With
    /// shapes, tokens of none of them (made-up strings, in a flood) may hold at most 64 of
    /// those slots, so that 192 stay free for new tokens of a configured shape whatever the
    /// flood does; junk refused so is counted
    /// ([`IntrospectionStats::junk_refused`](crate::introspection::IntrospectionStats), the
    /// metric `bearer_guard_introspection_junk_refused_total`). Such tokens are still
    /// introspected while their share has room, so a new token format of the issuer keeps
    /// working, at the smaller share. Without shapes, every token shares the whole pool.
    ///
    /// A shape that constrains nothing, an empty prefix, `min > max` and the like are
    /// [`ConfigProblem::TokenShape`].
    pub fn introspection_token_shape(mut self, shape: OpaqueTokenShape) -> Self {
        self.introspection.shapes.push(shape);
        self
    }

    /// With introspection: validate compact JWS tokens locally as well, with the key set
    /// found by discovery (mixed mode, for issuers moving between token formats). Implied by
    /// [`jwks_uri`](Self::jwks_uri), a secret, static keys and the Auth0 preset.
    pub fn mixed_mode(mut self) -> Self {
        self.introspection.mixed_mode = true;
        self
    }

    /// Whether introspection is configured.
    pub(super) fn introspects(&self) -> bool {
        self.introspection.credentials.is_some()
    }

    /// Whether compact JWS tokens are validated locally: without introspection always; with
    /// it, when a key source was chosen explicitly or mixed mode asked for.
    pub(super) fn validates_jwts_locally(&self) -> bool {
        !self.introspects()
            || self.introspection.mixed_mode
            || !matches!(self.key_source, super::KeySource::Discovery)
    }

    /// The problems of the introspection settings; the endpoint, when one was given.
    pub(super) fn check_introspection(&self, problems: &mut Vec<ConfigProblem>) -> Option<Url> {
        let config = &self.introspection;
        let endpoint = config.endpoint.as_deref().and_then(|raw| {
            check_url(raw, "introspection_endpoint")
                .map_err(|problem| problems.push(problem))
                .ok()
        });
        match &config.credentials {
            None if config.endpoint.is_some() => {
                problems.push(ConfigProblem::IntrospectionWithoutCredentials);
            }
            Some(credentials) if credentials.client_id.trim().is_empty() => {
                problems.push(ConfigProblem::EmptyIntrospectionClient);
            }
            _ => {}
        }
        if config.signed_answers && matches!(self.key_source, super::KeySource::Secret(_)) {
            problems.push(ConfigProblem::SignedIntrospectionWithoutKeys);
        }
        if config.credentials.is_none() && !config.shapes.is_empty() {
            problems.push(ConfigProblem::TokenShape(
                "a token shape is set but introspection is not configured",
            ));
        }
        problems.extend(
            config
                .shapes
                .iter()
                .filter_map(OpaqueTokenShape::problem)
                .map(ConfigProblem::TokenShape),
        );
        for (setting, value, max) in [
            ("introspection_cache_ttl", config.cache_ttl, MAX_CACHE_TTL),
            (
                "introspection_negative_ttl",
                config.negative_ttl,
                MAX_NEGATIVE_TTL,
            ),
        ] {
            if value > max {
                problems.push(ConfigProblem::DurationTooLong { setting, max });
            }
        }
        endpoint
    }

    /// The introspector, when introspection is configured.
    pub(super) fn assemble_introspection(
        &self,
        endpoint: Option<Url>,
        fetcher: Arc<Fetcher>,
        counters: Arc<Counters>,
        keys: ResponseKeys,
        rules: &Rules,
    ) -> Option<Introspector> {
        let config = &self.introspection;
        let credentials = config.credentials.clone()?;
        let client = Client {
            endpoint: endpoint.map_or(Endpoint::Discovered, Endpoint::Given),
            credentials,
            auth: config.auth,
            fetcher,
            counters,
            keys,
            rules: rules.clone(),
            signed_answers: config.signed_answers,
        };
        let times = CacheTimes {
            max_ttl: config.cache_ttl,
            negative_ttl: config.negative_ttl,
        };
        Some(Introspector::new(
            client,
            times,
            self.token_cache_bytes,
            config.shapes.clone(),
        ))
    }
}
