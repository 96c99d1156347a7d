//! RFC 9728 OAuth 2.0 Protected Resource Metadata: the document that tells OAuth 2.1 and MCP
//! clients which authorization servers issue tokens for this API and which scopes it knows,
//! served at `/.well-known/oauth-protected-resource` and named in the 401 challenges.
//!
//! ```
//! use axum::{Router, routing::get};
//! use bearer_guard::{BearerLayer, ProtectedResourceMetadata, Validator};
//!
//! let metadata = ProtectedResourceMetadata::new("https://api.example.com")
//!     .scopes_supported(["read:messages", "write:messages"])
//!     .resource_name("Messages API");
//! let validator = Validator::builder()
//!     .issuer("https://my-tenant.us.auth0.com/")
//!     .audience("https://api.example.com")
//!     .resource_metadata(metadata.url())
//!     .build()?;
//! let metadata = metadata.authorization_servers_of(&validator);
//!
//! let app: Router = Router::new()
//!     .route("/api/private", get(|| async { "private" }))
//!     .layer(BearerLayer::new(validator))
//!     .route_service(&metadata.path(), metadata.service());
//! # Ok::<(), bearer_guard::ConfigError>(())
//! ```

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{HeaderValue, Request, Response, header};
use http_body_util::Full;
use serde::Serialize;
use tower_service::Service;

use crate::validator::Validator;

const WELL_KNOWN: &str = "/.well-known/oauth-protected-resource";

/// The protected resource metadata document (RFC 9728 §2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProtectedResourceMetadata {
    resource: String,
    authorization_servers: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    scopes_supported: Vec<String>,
    bearer_methods_supported: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    resource_name: Option<String>,
    /// RFC 9728 §2: the proof algorithms of DPoP (RFC 9449), when it is accepted.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    dpop_signing_alg_values_supported: Vec<String>,
    /// RFC 9728 §2: whether only DPoP-bound tokens are accepted.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    dpop_bound_access_tokens_required: bool,
}

impl ProtectedResourceMetadata {
    /// The metadata of the resource `resource` (the API identifier, an https URL), with the
    /// `header` bearer method.
    pub fn new(resource: impl Into<String>) -> Self {
        ProtectedResourceMetadata {
            resource: resource.into(),
            authorization_servers: Vec::new(),
            scopes_supported: Vec::new(),
            bearer_methods_supported: vec!["header".to_owned()],
            resource_name: None,
            dpop_signing_alg_values_supported: Vec::new(),
            dpop_bound_access_tokens_required: false,
        }
    }

    /// Lists the issuers `validator` accepts as the authorization servers, and describes its
    /// DPoP settings: `dpop_signing_alg_values_supported` when it checks DPoP proofs,
    /// `dpop_bound_access_tokens_required` when it requires them.
    pub fn authorization_servers_of(mut self, validator: &Validator) -> Self {
        self.authorization_servers = validator.issuer_names().map(str::to_owned).collect();
        self.authorization_servers.sort();
        self.dpop_signing_alg_values_supported = validator
            .advertised_dpop_algs()
            .map(|algs| algs.split(' ').map(str::to_owned).collect())
            .unwrap_or_default();
        self.dpop_bound_access_tokens_required = validator.requires_dpop();
        self
    }

    /// The DPoP proof algorithms to advertise (RFC 9728 `dpop_signing_alg_values_supported`).
    pub fn dpop_signing_algs<I, S>(mut self, algs: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.dpop_signing_alg_values_supported = algs.into_iter().map(Into::into).collect();
        self
    }

    /// Whether only DPoP-bound tokens are accepted (RFC 9728
    /// `dpop_bound_access_tokens_required`; omitted when false).
    pub fn dpop_bound_access_tokens_required(mut self, required: bool) -> Self {
        self.dpop_bound_access_tokens_required = required;
        self
    }

    /// Adds an authorization server by its issuer identifier.
    pub fn authorization_server(mut self, issuer: impl Into<String>) -> Self {
        self.authorization_servers.push(issuer.into());
        self
    }

    /// The scopes the API knows.
    pub fn scopes_supported<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes_supported = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// The ways the API accepts a token: `header`, `body`, `query` (default: `header`).
    pub fn bearer_methods<I, S>(mut self, methods: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.bearer_methods_supported = methods.into_iter().map(Into::into).collect();
        self
    }

    /// A human-readable name of the API.
    pub fn resource_name(mut self, name: impl Into<String>) -> Self {
        self.resource_name = Some(name.into());
        self
    }

    /// The path the document is served at (RFC 9728 §3.1: the well-known segment goes
    /// between the host and the resource's path).
    pub fn path(&self) -> String {
        let path = reqwest::Url::parse(&self.resource)
            .map(|url| url.path().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        format!("{WELL_KNOWN}{path}")
    }

    /// The document's URL, for [`ValidatorBuilder::resource_metadata`]. A resource that is
    /// not a URL gets the path alone.
    ///
    /// [`ValidatorBuilder::resource_metadata`]: crate::ValidatorBuilder::resource_metadata
    pub fn url(&self) -> String {
        match reqwest::Url::parse(&self.resource) {
            Ok(url) => format!("{}{}", url.origin().ascii_serialization(), self.path()),
            Err(_) => self.path(),
        }
    }

    /// The `scopes_supported` of the document.
    pub(crate) fn supported_scopes(&self) -> &[String] {
        &self.scopes_supported
    }

    /// The document as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }

    /// A tower service answering every request with the document.
    pub fn service(&self) -> MetadataService {
        MetadataService {
            body: Bytes::from(self.to_json().to_string()),
        }
    }
}

/// Serves a [`ProtectedResourceMetadata`] document.
#[derive(Debug, Clone)]
pub struct MetadataService {
    body: Bytes,
}

impl<B> Service<Request<B>> for MetadataService {
    type Response = Response<Full<Bytes>>;
    type Error = Infallible;
    type Future = Ready<Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: Request<B>) -> Self::Future {
        let mut response = Response::new(Full::new(self.body.clone()));
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static("max-age=3600"),
        );
        ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_well_known_segment_goes_before_the_resource_path() {
        let root = ProtectedResourceMetadata::new("https://api.example.com");
        assert_eq!(root.path(), "/.well-known/oauth-protected-resource");
        assert_eq!(
            root.url(),
            "https://api.example.com/.well-known/oauth-protected-resource"
        );
        let nested = ProtectedResourceMetadata::new("https://example.com/api/v1/");
        assert_eq!(
            nested.path(),
            "/.well-known/oauth-protected-resource/api/v1"
        );
    }

    #[test]
    fn the_document_has_the_rfc_9728_members() {
        let document = ProtectedResourceMetadata::new("https://api.example.com")
            .authorization_server("https://issuer.example/")
            .scopes_supported(["read:messages"])
            .to_json();
        assert_eq!(
            document,
            serde_json::json!({
                "resource": "https://api.example.com",
                "authorization_servers": ["https://issuer.example/"],
                "scopes_supported": ["read:messages"],
                "bearer_methods_supported": ["header"],
            })
        );
    }
}
