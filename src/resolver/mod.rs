//! Issuers resolved per request, for multi-tenant APIs: [`IssuerResolver`] says which issuers
//! (or which tenants of an issuer template) a request may present tokens from, and
//! [`Validator::resolved_issuers`](crate::Validator::resolved_issuers) builds each one's
//! pipeline from one template configuration when its first token arrives.
//!
//! ```
//! use bearer_guard::{IssuerResolver, Validator};
//!
//! // Entra ID, multi-tenant: a token of any listed tenant, whose `tid` names that tenant.
//! let tenants = IssuerResolver::template(
//!     "https://login.microsoftonline.com/{tenantid}/v2.0",
//!     ["9188040d-6c67-4c5b-b112-36a304b66dad"],
//! )
//! // Each tenant on its own host: a token of tenant A on tenant B's host is refused.
//! .tenant_of_request(|request| {
//!     let subdomain = request.host()?.strip_suffix(".api.example.com")?;
//!     Some(lookup_tenant_id(subdomain)?.to_owned())
//! });
//! let template = Validator::builder().audience("api://my-api");
//! let validator = Validator::resolved_issuers(template, tenants)?;
//! # fn lookup_tenant_id(_: &str) -> Option<&'static str> { None }
//! # Ok::<(), bearer_guard::ConfigError>(())
//! ```
//!
//! The order on every request, before any key or network request: the token's unverified
//! `iss` must fit the template (its tenant id one well-formed segment); the tenant must be
//! allowed (the list, or the callback, asked on every request so that a tenant removed is
//! refused at once); the request's own tenant, when [`tenant_of_request`] is set, must be
//! the token's. Only then is the issuer's pipeline looked up, or built (never fetching: the
//! key set is fetched by the first token that needs it, as for any validator). The
//! pipelines are kept in a cache bounded by [`max_issuers`] and emptied of those unused for
//! [`idle_timeout`]: the least recently used goes first.
//!
//! [`tenant_of_request`]: IssuerResolver::tenant_of_request
//! [`max_issuers`]: IssuerResolver::max_issuers
//! [`idle_timeout`]: IssuerResolver::idle_timeout

mod cache;
mod request;
mod tenant;

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

pub(crate) use cache::ResolvedIssuers;
pub use request::RequestView;
pub use tenant::{MAX_TENANT_ID_BYTES, TENANT_PLACEHOLDER};
pub(crate) use tenant::{Template, is_tenant_id};

/// The default bound on the issuers kept at once.
pub const DEFAULT_MAX_ISSUERS: u64 = 100;
/// The claim that must name a template's tenant unless configured otherwise: Entra ID's
/// `tid`.
pub const DEFAULT_TENANT_CLAIM: &str = "tid";
/// The default time an issuer is kept unused.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(3600);

type TenantCheck = dyn Fn(&Candidate<'_>) -> bool + Send + Sync;
type RequestTenant = dyn Fn(&RequestView<'_>) -> Option<String> + Send + Sync;

/// Which issuers a multi-tenant API accepts, decided per request: a list of issuers, or an
/// issuer template with `{tenantid}` and its tenants; the list may be a callback (which
/// reads, say, a set shared with the code that signs tenants up).
///
/// The callback is synchronous, unlike express-oauth2-jwt-bearer's: it runs on every
/// request before anything else is known about the token, so it must answer from memory.
/// An asynchronous one that asked a database would turn a flood of made-up `iss` values
/// into a flood of queries; keep the tenant list in memory and refresh it beside the API.
///
/// See the [module documentation](self) for an example and the order of the checks.
#[derive(Clone)]
pub struct IssuerResolver {
    template: Option<String>,
    /// The claim that must name a template's tenant (`tid` by default); `None`: none.
    tenant_claim: Option<String>,
    allow: Allow,
    request_tenant: Option<Arc<RequestTenant>>,
    max_issuers: u64,
    idle_timeout: Duration,
}

#[derive(Clone)]
enum Allow {
    List(Arc<HashSet<String>>),
    Callback(Arc<TenantCheck>),
}

impl fmt::Debug for IssuerResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssuerResolver")
            .field("template", &self.template)
            .field("tenant_claim", &self.tenant_claim)
            .field("allowed", &self.names())
            .field("tenant_of_request", &self.request_tenant.is_some())
            .field("max_issuers", &self.max_issuers)
            .field("idle_timeout", &self.idle_timeout)
            .finish()
    }
}

/// An issuer a token names, offered to the callback of
/// [`IssuerResolver::issuers_where`] or [`IssuerResolver::template_where`]. Nothing of it is
/// verified yet: the callback only says whether the API serves this issuer.
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    issuer: &'a str,
    tenant: &'a str,
    request: Option<&'a RequestView<'a>>,
}

impl<'a> Candidate<'a> {
    /// The token's `iss`, unverified.
    pub fn issuer(&self) -> &'a str {
        self.issuer
    }

    /// The tenant: the tenant id of a template (well-formed), or the whole issuer.
    pub fn tenant(&self) -> &'a str {
        self.tenant
    }

    /// The request the token came with (`None` under [`Validator::validate`](crate::Validator::validate)).
    pub fn request(&self) -> Option<&'a RequestView<'a>> {
        self.request
    }
}

impl IssuerResolver {
    fn new(template: Option<String>, allow: Allow) -> Self {
        IssuerResolver {
            template,
            tenant_claim: Some(DEFAULT_TENANT_CLAIM.to_owned()),
            allow,
            request_tenant: None,
            max_issuers: DEFAULT_MAX_ISSUERS,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
        }
    }

    /// The issuers on this list, each exactly as tokens carry it in `iss`.
    pub fn issuers<I, S>(issuers: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let list = issuers.into_iter().map(Into::into).collect();
        IssuerResolver::new(None, Allow::List(Arc::new(list)))
    }

    /// The issuers `allowed` admits ([`Candidate::tenant`] is the whole issuer). It decides
    /// which servers the API will fetch keys from: admit only issuers you know.
    pub fn issuers_where(allowed: impl Fn(&Candidate<'_>) -> bool + Send + Sync + 'static) -> Self {
        IssuerResolver::new(None, Allow::Callback(Arc::new(allowed)))
    }

    /// The issuers `template` names for these tenants: `template` carries `{tenantid}`
    /// once (Entra ID: `https://login.microsoftonline.com/{tenantid}/v2.0`), and a token must
    /// then also carry its tenant id in `tid`, checked once it is verified (a token of one
    /// tenant signed with keys all tenants share must not pass for another's). Another claim:
    /// [`tenant_claim`](Self::tenant_claim); none, for issuers that sign each tenant's
    /// tokens with keys of its own: [`without_tenant_claim`](Self::without_tenant_claim).
    ///
    /// A tenant id is 1 to [`MAX_TENANT_ID_BYTES`] ASCII letters, digits, `-`, `_`, `.`,
    /// neither starting with `.` nor holding `..`: one path segment, nothing a server
    /// might decode (`%`) or resolve (`..`).
    pub fn template<I, S>(template: impl Into<String>, tenants: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let list = tenants.into_iter().map(Into::into).collect();
        IssuerResolver::new(Some(template.into()), Allow::List(Arc::new(list)))
    }

    /// The issuers `template` names for the tenants `allowed` admits (see
    /// [`template`](Self::template)); [`Candidate::tenant`] is the well-formed tenant id.
    pub fn template_where(
        template: impl Into<String>,
        allowed: impl Fn(&Candidate<'_>) -> bool + Send + Sync + 'static,
    ) -> Self {
        IssuerResolver::new(Some(template.into()), Allow::Callback(Arc::new(allowed)))
    }

    /// Ties each request to one tenant: `tenant` reads it from the request (by host, path or
    /// header) and the token's tenant (a tenant id with a template, else the issuer) must
    /// equal it. A request it maps to no tenant (`None`) is refused, and so is every token
    /// under [`Validator::validate`](crate::Validator::validate), which has no request.
    pub fn tenant_of_request(
        mut self,
        tenant: impl Fn(&RequestView<'_>) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.request_tenant = Some(Arc::new(tenant));
        self
    }

    /// The claim a template's token must carry its tenant id in, checked once the token is
    /// verified: `tid` (Entra ID) unless set here.
    pub fn tenant_claim(mut self, claim: impl Into<String>) -> Self {
        self.tenant_claim = Some(claim.into());
        self
    }

    /// No claim has to name a template's tenant: for issuers that sign each tenant's tokens
    /// with keys of its own, found by each tenant's own discovery (Auth0 or Okta tenants,
    /// `https://{tenantid}.eu.auth0.com/`; Keycloak realms,
    /// `https://sso.example.com/realms/{tenantid}`), so that the signature already says
    /// which tenant issued a token. A template whose keys are one set for every tenant (a
    /// `jwks_uri`, static keys or a shared secret on the template's builder) needs the
    /// claim: that is refused when the validator is built
    /// ([`ConfigProblem::SharedKeysWithoutTenantClaim`](crate::config::ConfigProblem::SharedKeysWithoutTenantClaim)).
    pub fn without_tenant_claim(mut self) -> Self {
        self.tenant_claim = None;
        self
    }

    /// At most this many issuers' pipelines (key set, verified-token cache) are kept; the
    /// least recently used is dropped for a new one (and built again, its keys fetched
    /// again, when its tokens return). 100 by default.
    pub fn max_issuers(mut self, issuers: u64) -> Self {
        self.max_issuers = issuers;
        self
    }

    /// An issuer unused for this long is dropped (1 hour by default).
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.idle_timeout = idle;
        self
    }

    pub(crate) fn template_text(&self) -> Option<&str> {
        self.template.as_deref()
    }

    /// The claim that must name a template's tenant, if any.
    pub(crate) fn tenant_claim_name(&self) -> Option<&str> {
        self.tenant_claim.as_deref()
    }

    pub(crate) fn listed(&self) -> Option<&HashSet<String>> {
        match &self.allow {
            Allow::List(list) => Some(list),
            Allow::Callback(_) => None,
        }
    }

    pub(crate) fn bounds(&self) -> (u64, Duration) {
        (self.max_issuers, self.idle_timeout)
    }

    /// What the accepted issuers look like, for diagnosis: the concrete ones, or the
    /// template, or what admits them.
    pub(crate) fn shown(&self) -> Vec<String> {
        match (&self.template, &self.allow) {
            (Some(template), Allow::Callback(_)) => {
                vec![format!("{template} (tenants admitted by a callback)")]
            }
            (None, Allow::Callback(_)) => vec!["(issuers admitted by a callback)".to_owned()],
            _ => self.names(),
        }
    }

    /// The issuers accepted, when they are listed (for `Validator::issuer_names` and the
    /// protected resource metadata): none when a callback admits them.
    pub(crate) fn names(&self) -> Vec<String> {
        match (&self.template, &self.allow) {
            (Some(template), Allow::List(tenants)) => {
                let mut names: Vec<_> = tenants
                    .iter()
                    .map(|tenant| template.replace(TENANT_PLACEHOLDER, tenant))
                    .collect();
                names.sort();
                names
            }
            (None, Allow::List(issuers)) => {
                let mut names: Vec<_> = issuers.iter().cloned().collect();
                names.sort();
                names
            }
            (_, Allow::Callback(_)) => Vec::new(),
        }
    }
}

impl Allow {
    fn admits(&self, candidate: &Candidate<'_>) -> bool {
        match self {
            Allow::List(list) => list.contains(candidate.tenant),
            Allow::Callback(allowed) => allowed(candidate),
        }
    }
}
