//! What bearer-guard costs per request, against the floor: jsonwebtoken's own `decode` of the
//! same token with the same issuer and audience checks (a `DecodingKey` built once), under
//! criterion. The ratio table of the README comes from the other bench target, `ratios`.
//!
//! Groups (criterion ids `group/case`; the cases are built in `common/mod.rs`):
//! - `RS256`, `ES256`, `HS256`: one token each, with the same claims (about 300 bytes of
//!   payload). RS256 and ES256 keys come from a loopback `TestIssuer` (the ES256 key is a
//!   P-256 key published with `set_extra_jwks`), HS256 from a secret. Cases:
//!   `jsonwebtoken_decode` (the floor); `validator` (token cache off: every call verifies the
//!   signature, what a token seen for the first time costs); `validator_cached` (default
//!   cache, a repeated token: a cache hit); `layer`, `layer_cached`: the whole request through
//!   an axum `Router` with `BearerLayer` (tower `oneshot`) with either validator; for RS256
//!   also `router_only`, the same router without the layer.
//! - `concurrent`: the RS256 cases on every core at once, one thread per core each driving
//!   its own tokio runtime, all sharing the validators; criterion reports the throughput.
//!   (Threads, not tasks of one multi-thread runtime: a parked tokio worker took 2-6 ms to
//!   wake here, which skews rounds of a few milliseconds; the threads start together on a
//!   spin barrier.)
//! - `keys`: RS256 with 1, 10 and 100 keys in the set (the extra ones are random 2048-bit
//!   RSA JWKs, each under its own `kid`).
//! - `size_small`, `size_medium`, `size_large`: RS256 with about 300 B, 1 KiB and 8 KiB of
//!   payload (padded with a `groups` array).
//!
//! Criterion runs with 1 s of warm-up and 2 s of measurement per case; the whole run takes
//! about two minutes on two cores.
//!
//! ```text
//! cargo bench --bench layer
//! cargo bench --bench layer -- --warm-up-time 1 --measurement-time 3   # override the defaults
//! cargo bench --bench layer -- RS256/    # one group
//! ```

mod common;

use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput};

use common::{Group, Mode, Runtimes, setup};

fn criterion_groups(c: &mut Criterion, rt: &Runtimes, groups: &[Group]) {
    for group in groups {
        let mut bench = c.benchmark_group(&group.name);
        if group.mode == Mode::Concurrent {
            bench.throughput(Throughput::Elements(1));
        }
        for case in group.cases.iter().filter(|c| !c.new_token_each_call()) {
            // The `tasks` and `structures` groups time one case at several task counts.
            let id = match group.mode {
                Mode::Tasks => BenchmarkId::new(case.id, case.tasks),
                _ => BenchmarkId::from_parameter(case.id),
            };
            bench.bench_function(id, |b| {
                b.iter_custom(|iters| group.time(rt, case, iters, 0).0)
            });
        }
        bench.finish();
    }
}

fn main() {
    // Both jsonwebtoken backends may be compiled in (--all-features): pick one for `decode`.
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    let rt = Runtimes::new();
    // No pools of new tokens: criterion repeats a call, so it cannot time a new token per call
    // (`ratios` does).
    let (_issuers, groups) = rt.current.block_on(setup(rt.cores, false));

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    criterion_groups(&mut c, &rt, &groups);
    c.final_summary();
}
