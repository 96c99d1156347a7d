//! [`ResolvedIssuers`]: the checks of an [`IssuerResolver`] on every request, and the
//! bounded cache of the pipelines of the issuers it admitted.

use std::sync::Arc;

use moka::policy::EvictionPolicy;
use moka::sync::Cache;

use super::{Allow, Candidate, IssuerResolver, RequestTenant, RequestView, Template};
use crate::error::TokenProblem;

/// Builds the pipeline of an admitted issuer (and its tenant id, with a template); `None`
/// when its configuration does not hold (an issuer a callback admitted that is no URL).
pub(crate) type MakeRoute<R> = dyn Fn(&str, Option<&str>) -> Option<R> + Send + Sync;

/// The admission rules of an [`IssuerResolver`] and the pipelines built so far, by issuer.
pub(crate) struct ResolvedIssuers<R> {
    template: Option<Template>,
    allow: Allow,
    request_tenant: Option<Arc<RequestTenant>>,
    routes: Cache<String, R>,
    make: Box<MakeRoute<R>>,
}

impl<R: Clone + Send + Sync + 'static> ResolvedIssuers<R> {
    /// `template` is the resolver's template, parsed (the configuration checked it).
    pub(crate) fn new(
        resolver: IssuerResolver,
        template: Option<Template>,
        make: Box<MakeRoute<R>>,
    ) -> Self {
        let (max_issuers, idle_timeout) = resolver.bounds();
        ResolvedIssuers {
            template,
            allow: resolver.allow,
            request_tenant: resolver.request_tenant,
            // Least recently used out, always: moka's default (TinyLFU) may refuse a new
            // entry, and a tenant refused a place would build its pipeline, and fetch its
            // keys, on every request.
            routes: Cache::builder()
                .max_capacity(max_issuers)
                .time_to_idle(idle_timeout)
                .eviction_policy(EvictionPolicy::lru())
                .build(),
            make,
        }
    }

    /// The pipeline for a token whose unverified issuer is `iss`, presented with `request`;
    /// or why the token is refused. Nothing is built, and nothing fetched, for an issuer
    /// that is not admitted.
    pub(crate) fn resolve(
        &self,
        iss: &str,
        request: Option<&RequestView<'_>>,
    ) -> Result<R, TokenProblem> {
        let tenant = match &self.template {
            Some(template) => template.tenant_of(iss).ok_or(TokenProblem::WrongIssuer)?,
            None => iss,
        };
        let candidate = Candidate {
            issuer: iss,
            tenant,
            request,
        };
        if !self.allow.admits(&candidate) {
            return Err(TokenProblem::WrongIssuer);
        }
        if let Some(tenant_of_request) = &self.request_tenant {
            let expected = request.and_then(|request| tenant_of_request(request));
            if expected.as_deref() != Some(tenant) {
                return Err(TokenProblem::WrongTenant);
            }
        }
        if let Some(route) = self.routes.get(iss) {
            return Ok(route);
        }
        let tenant_id = self.template.is_some().then_some(tenant);
        let route = self
            .routes
            .optionally_get_with_by_ref(iss, || (self.make)(iss, tenant_id))
            .ok_or(TokenProblem::WrongIssuer)?;
        // A new issuer is rare: evict now, so the bound holds at once rather than when
        // moka next does its housekeeping.
        self.routes.run_pending_tasks();
        Ok(route)
    }

    /// The pipelines kept now.
    pub(crate) fn active(&self) -> Vec<R> {
        self.routes.iter().map(|(_, route)| route).collect()
    }

    /// How many pipelines are kept now.
    pub(crate) fn len(&self) -> u64 {
        self.routes.run_pending_tasks();
        self.routes.entry_count()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    /// Resolved issuers that count the pipelines built; building takes a while, as a real
    /// one (an HTTP client's pool, caches) may under load.
    fn counting(resolver: IssuerResolver) -> (Arc<ResolvedIssuers<usize>>, Arc<AtomicUsize>) {
        let built = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&built);
        let make = move |_: &str, _: Option<&str>| {
            std::thread::sleep(Duration::from_millis(50));
            Some(counter.fetch_add(1, Ordering::SeqCst))
        };
        (
            Arc::new(ResolvedIssuers::new(resolver, None, Box::new(make))),
            built,
        )
    }

    #[test]
    fn an_issuer_is_built_once_however_many_requests_race_for_it() {
        let (issuers, built) = counting(IssuerResolver::issuers(["https://a.example/"]));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let issuers = Arc::clone(&issuers);
                std::thread::spawn(move || issuers.resolve("https://a.example/", None))
            })
            .collect();
        for thread in threads {
            assert_eq!(thread.join().unwrap(), Ok(0));
        }
        assert_eq!(built.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn an_issuer_not_admitted_is_never_built() {
        let (issuers, built) = counting(IssuerResolver::issuers(["https://a.example/"]));
        for iss in [
            "https://b.example/",
            "https://a.example",
            "",
            "https://a.example/ ",
        ] {
            assert_eq!(issuers.resolve(iss, None), Err(TokenProblem::WrongIssuer));
        }
        assert_eq!((built.load(Ordering::SeqCst), issuers.len()), (0, 0));
    }
}
