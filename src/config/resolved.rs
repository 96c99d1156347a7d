//! `Validator::resolved_issuers`: issuers admitted per request by an [`IssuerResolver`],
//! each one's pipeline built from one template configuration when its first token arrives.

use std::sync::Arc;

use super::build::check_url;
use super::{ConfigError, ConfigProblem, KeySource, ValidatorBuilder};
use crate::resolver::{IssuerResolver, ResolvedIssuers, Template, is_tenant_id};
use crate::rules::ClaimRule;
use crate::transport;
use crate::validator::{Route, Validator};

/// The issuer the template is checked with when the resolver lists none: a name that no
/// DNS resolves, since the template's own pipeline never validates a token.
const SAMPLE_ISSUER: &str = "https://issuer.invalid/";

impl Validator {
    /// One validator for the issuers `resolver` admits, request by request (multi-tenant
    /// SaaS APIs, Entra ID multi-tenant apps): each gets the settings of `template`
    /// (audiences, algorithms, claim rules, DPoP, limits, which must not set an issuer) with
    /// its own issuer filled in, and its own key set and verified-token cache, built when
    /// its first token arrives. A token whose unverified `iss` the resolver does not admit
    /// is refused before any key lookup or network request, and leaves nothing behind.
    ///
    /// At most [`max_issuers`](IssuerResolver::max_issuers) pipelines are kept, the least
    /// recently used dropped first; the template's verified-token cache budget
    /// ([`token_cache_bytes`](ValidatorBuilder::token_cache_bytes)) is shared among them,
    /// so memory stays bounded by that budget plus `max_issuers` key sets. The DPoP and mTLS
    /// checks are the template's, one for all (one replay store: a proof stays used after
    /// its issuer's pipeline was dropped).
    ///
    /// ```
    /// use bearer_guard::{IssuerResolver, Validator};
    ///
    /// let tenants = IssuerResolver::issuers([
    ///     "https://tenant-a.eu.auth0.com/",
    ///     "https://tenant-b.eu.auth0.com/",
    /// ]);
    /// let template = Validator::builder().audience("https://api.example.com");
    /// let validator = Validator::resolved_issuers(template, tenants)?;
    /// # Ok::<(), bearer_guard::ConfigError>(())
    /// ```
    pub fn resolved_issuers(
        mut template: ValidatorBuilder,
        resolver: IssuerResolver,
    ) -> Result<Self, ConfigError> {
        let mut problems = Vec::new();
        if template.issuer.is_some() {
            problems.push(ConfigProblem::IssuerInTemplate);
        }
        if template.decryption.sources() > 0 {
            problems.push(ConfigProblem::DecryptionWithSeveralIssuers);
        }
        let pattern = check_resolver(&resolver, &mut problems);
        let shared_keys = !matches!(template.key_source, KeySource::Discovery);
        if pattern.is_some() && resolver.tenant_claim_name().is_none() && shared_keys {
            problems.push(ConfigProblem::SharedKeysWithoutTenantClaim);
        }
        let tenant_claim = resolver.tenant_claim_name().map(str::to_owned);
        // One HTTP client (one connection pool) for every issuer.
        if template.http_client.is_none() {
            match transport::default_client(template.limits.timeout) {
                Ok(client) => template.http_client = Some(client),
                Err(error) => problems.push(ConfigProblem::HttpClient(error.to_string())),
            }
        }
        let (max_issuers, _) = resolver.bounds();
        template.token_cache_bytes /= max_issuers.max(1);
        // The template's own settings, checked once with a sample issuer; this pipeline
        // never validates a token, it says how tokens are read and refusals written.
        let sample = sample_issuer(&resolver, pattern.as_ref());
        let sample = template.clone().issuer(sample).build();
        let sample = match sample {
            Ok(validator) if problems.is_empty() => validator,
            Ok(_) => return Err(ConfigError::new(problems)),
            Err(error) => {
                problems.extend(error.problems().iter().cloned());
                return Err(ConfigError::new(problems));
            }
        };
        let (names, shown) = (resolver.names(), resolver.shown());
        let template_route = sample.only_route().expect("built from one issuer");
        // One binder for every issuer: its DPoP replay store, proof keys and nonces outlive
        // an issuer's pipeline (a proof seen before an eviction stays seen) and are bounded
        // once, not once per issuer.
        let binder = Arc::clone(&template_route.binder);
        let make = move |issuer: &str, tenant: Option<&str>| {
            let mut builder = template.clone().issuer(issuer);
            if let (Some(tenant), Some(claim)) = (tenant, tenant_claim.as_deref()) {
                // First, so that a token of another tenant is refused as such before any
                // rule of the API's own is asked about it.
                builder
                    .claim_rules
                    .insert(0, ClaimRule::tenant_is(claim, tenant));
            }
            let route = builder.build().ok()?.only_route()?;
            Some(Route {
                issuer: route.issuer,
                binder: Arc::clone(&binder),
            })
        };
        let issuers: ResolvedIssuers<Route> =
            ResolvedIssuers::new(resolver, pattern, Box::new(make));
        Ok(Validator::resolved(issuers, template_route, names, shown))
    }
}

/// The resolver's own settings: bounds, the template, the listed issuers or tenant ids.
/// Returns the parsed template, when there is one and it is sound.
fn check_resolver(
    resolver: &IssuerResolver,
    problems: &mut Vec<ConfigProblem>,
) -> Option<Template> {
    let (max_issuers, idle_timeout) = resolver.bounds();
    if max_issuers == 0 {
        problems.push(ConfigProblem::ZeroLimit("max_issuers"));
    }
    if idle_timeout.is_zero() {
        problems.push(ConfigProblem::ZeroLimit("idle_timeout"));
    }
    let pattern = resolver.template_text().and_then(|raw| {
        let parsed = Template::parse(raw)
            .filter(|template| check_url(&template.fill("tenant"), "issuer").is_ok());
        if parsed.is_none() {
            problems.push(ConfigProblem::InvalidIssuerTemplate(raw.to_owned()));
        }
        parsed
    });
    let Some(listed) = resolver.listed() else {
        return pattern;
    };
    let mut listed: Vec<&String> = listed.iter().collect();
    listed.sort();
    for entry in &listed {
        if resolver.template_text().is_some() {
            if !is_tenant_id(entry) {
                problems.push(ConfigProblem::InvalidTenantId((*entry).clone()));
            }
        } else if let Err(problem) = check_url(entry, "issuer") {
            problems.push(problem);
        }
    }
    if listed.is_empty() {
        problems.push(ConfigProblem::MissingIssuer);
    }
    pattern
}

/// The issuer the template is built with to check it: the template filled in, else the first
/// sound listed issuer, else [`SAMPLE_ISSUER`] (a broken template is reported already).
fn sample_issuer(resolver: &IssuerResolver, pattern: Option<&Template>) -> String {
    if let Some(pattern) = pattern {
        return pattern.fill("tenant");
    }
    let first_listed = match resolver.template_text() {
        Some(_) => None,
        None => resolver
            .listed()
            .into_iter()
            .flatten()
            .filter(|issuer| check_url(issuer, "issuer").is_ok())
            .min(),
    };
    first_listed.map_or_else(|| SAMPLE_ISSUER.to_owned(), String::clone)
}

impl Validator {
    /// The pipeline of a validator of one issuer.
    fn only_route(&self) -> Option<Route> {
        let mut routes = self.routes();
        let route = routes.next().cloned();
        (routes.next().is_none() && !self.resolves_per_request())
            .then_some(route)
            .flatten()
    }
}
