//! Issuers resolved per request against one fixed issuer, both on a verified-token cache
//! hit: what the resolver adds to a request (reading `iss`, the template and admission
//! checks, the request's tenant, the pipeline lookup in the LRU).
//!
//! Cases (criterion ids `tenants/case`):
//! - `fixed`: `Validator::validate` of one issuer's token, repeated (a cache hit);
//! - `resolved`: `Validator::validate_request` with an Entra-like template
//!   (`{issuer}{tenantid}/v2.0`), 50 tenants admitted by a callback over a shared set, the
//!   tenant read from the request's host; the 50 tenants' tokens in turn, each a cache hit.
//!
//! ```text
//! cargo bench --bench tenants
//! ```

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bearer_guard::Validator;
use bearer_guard::resolver::{IssuerResolver, RequestView};
use bearer_guard::testing::{DEFAULT_AUDIENCE, TestIssuer};
use criterion::Criterion;
use http::{HeaderMap, HeaderValue, Uri, header};

const TENANTS: usize = 50;

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let issuer = rt.block_on(TestIssuer::start());
    let fixed = issuer.validator().build().expect("valid");
    let fixed_token = issuer.token().sign();

    let tenants: HashSet<String> = (0..TENANTS).map(|i| format!("tenant-{i}")).collect();
    let tenants = Arc::new(RwLock::new(tenants));
    let resolver = IssuerResolver::template_where(
        format!("{}{{tenantid}}/v2.0", issuer.issuer()),
        move |candidate| tenants.read().unwrap().contains(candidate.tenant()),
    )
    .tenant_of_request(|request| Some(request.host()?.strip_suffix(".api.example")?.to_owned()));
    let template = Validator::builder()
        .audience(DEFAULT_AUDIENCE)
        .jwks_uri(issuer.jwks_uri());
    let resolved = Validator::resolved_issuers(template, resolver).expect("valid");
    let uri = Uri::from_static("/api/private");
    let requests: Vec<(String, HeaderMap)> = (0..TENANTS)
        .map(|i| {
            let tenant = format!("tenant-{i}");
            let token = issuer
                .token()
                .issuer(format!("{}{tenant}/v2.0", issuer.issuer()))
                .claim("tid", tenant.as_str())
                .sign();
            let mut headers = HeaderMap::new();
            let host = HeaderValue::from_str(&format!("{tenant}.api.example")).expect("a host");
            headers.insert(header::HOST, host);
            (token, headers)
        })
        .collect();
    // Twice each: a token enters the verified-token cache the second time it verifies.
    for _ in 0..2 {
        rt.block_on(fixed.validate(&fixed_token)).expect("valid");
        for (token, headers) in &requests {
            let view = RequestView::new(&uri, headers);
            rt.block_on(resolved.validate_request(token, &view))
                .expect("valid");
        }
    }

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let mut group = c.benchmark_group("tenants");
    group.bench_function("fixed", |b| {
        b.iter(|| rt.block_on(fixed.validate(&fixed_token)).expect("valid"))
    });
    let mut next = 0;
    group.bench_function("resolved", |b| {
        b.iter(|| {
            let (token, headers) = &requests[next % TENANTS];
            next += 1;
            let view = RequestView::new(&uri, headers);
            rt.block_on(resolved.validate_request(token, &view))
                .expect("valid")
        })
    });
    group.finish();
    c.final_summary();
}
