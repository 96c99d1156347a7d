//! Issuers resolved per request under continuous traffic: one tenant's issuer failing, then
//! recovering, while another tenant's issuer rotates its key, leaves every other tenant
//! served, and each tenant's troubles cost only its own fetches.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::common::{PRIVATE, app, get_with};
use bearer_guard::Validator;
use bearer_guard::resolver::IssuerResolver;
use bearer_guard::testing::{DEFAULT_AUDIENCE, Fault, SigningKey, TestIssuer};
use http::{StatusCode, header};

const HOSTS: [&str; 3] = ["a.api.example", "b.api.example", "c.api.example"];
/// The validator's refetch cooldown: an unknown `kid` is looked for at most once per this.
const COOLDOWN: Duration = Duration::from_secs(1);
/// Time for a fetch on loopback on a busy machine, beyond the cooldown.
const FETCH_MARGIN: Duration = Duration::from_millis(500);
/// How long tenant A's issuer answers 503.
const OUTAGE: Duration = Duration::from_millis(2500);

/// What the traffic saw: per stream of requests, `(sent, status)`.
type Seen = Arc<Mutex<HashMap<&'static str, Vec<(Instant, StatusCode)>>>>;

/// Tenants A, B and C, each its own issuer and host, traffic from four tasks:
/// - `a-cached`: A's token, whose key the validator holds;
/// - `a-new-kid`: A's token under a key A publishes only once it has recovered;
/// - `b-current`: B's current token, B rotating to a new key mid-run;
/// - `c-steady`: C's token, nothing happening at C.
///
/// Asserted: C and A's cached token are served throughout (A's outage is felt only by a
/// token that needs A's keys); the token of A's unpublished key is never accepted before A
/// publishes it (401 unknown, or 503 while A cannot be asked: never a 500) and is accepted
/// within one cooldown and a fetch after A recovered and published it; B's new token is accepted within one
/// cooldown and a fetch of the rotation; C's issuer sees no fetch beyond its first, and
/// A's at most one per cooldown while it fails (plus the edges).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenants_stay_served_while_another_tenants_issuer_fails_or_rotates() {
    let _alone = crate::alone().await;
    let hard_limit = Instant::now() + Duration::from_secs(30);
    let issuers = Arc::new([
        TestIssuer::start_with_key(SigningKey::pooled("a-key")).await,
        TestIssuer::start_with_key(SigningKey::pooled("b-key")).await,
        TestIssuer::start_with_key(SigningKey::pooled("c-key")).await,
    ]);
    let hosts: HashMap<&str, String> = HOSTS
        .iter()
        .zip(issuers.iter())
        .map(|(host, issuer)| (*host, issuer.issuer().to_owned()))
        .collect();
    let resolver = IssuerResolver::issuers(issuers.iter().map(TestIssuer::issuer))
        .tenant_of_request(move |request| hosts.get(request.host()?).cloned());
    let template = Validator::builder()
        .audience(DEFAULT_AUDIENCE)
        .refetch_cooldown(COOLDOWN);
    let router = app(Validator::resolved_issuers(template, resolver).expect("valid"));

    let unpublished_a = SigningKey::generate("a-key-2");
    let streams: Arc<RwLock<HashMap<&'static str, (usize, String)>>> =
        Arc::new(RwLock::new(HashMap::from([
            ("a-cached", (0, issuers[0].token().sign())),
            (
                "a-new-kid",
                (
                    0,
                    issuers[0]
                        .token()
                        .signed_by(&unpublished_a)
                        .header("kid", "a-key-2")
                        .sign(),
                ),
            ),
            ("b-current", (1, issuers[1].token().sign())),
            ("c-steady", (2, issuers[2].token().sign())),
        ])));
    // Every tenant's keys are fetched once before the traffic starts.
    for name in ["a-cached", "b-current", "c-steady"] {
        let (tenant, token) = streams.read().unwrap()[name].clone();
        assert_eq!(
            send(&router, tenant, &token).await,
            StatusCode::OK,
            "{name}"
        );
    }
    let fetches_before = issuers.each_ref().map(TestIssuer::jwks_fetches);

    let traffic_began = Instant::now();
    let seen: Seen = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut traffic = tokio::task::JoinSet::new();
    for name in ["a-cached", "a-new-kid", "b-current", "c-steady"] {
        let (router, streams, seen, stop) = (
            router.clone(),
            Arc::clone(&streams),
            Arc::clone(&seen),
            Arc::clone(&stop),
        );
        traffic.spawn(async move {
            while !stop.load(Ordering::Relaxed) && Instant::now() < hard_limit {
                let (tenant, token) = streams.read().unwrap()[name].clone();
                let sent = Instant::now();
                let status = send(&router, tenant, &token).await;
                seen.lock()
                    .unwrap()
                    .entry(name)
                    .or_default()
                    .push((sent, status));
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
    }

    tokio::time::sleep(Duration::from_millis(300)).await;
    // A fails; B rotates, and its clients take tokens of the new key from now on.
    issuers[0].set_fault(Some(Fault::Status(503)));
    issuers[1].rotate_to(SigningKey::pooled("b-key-2"));
    let rotated = Instant::now();
    let b_new = issuers[1].token().sign();
    streams.write().unwrap().insert("b-current", (1, b_new));
    tokio::time::sleep(OUTAGE).await;
    // A recovers and publishes the key its newer tokens are signed with.
    let fetches_failing_a = issuers[0].jwks_fetches() - fetches_before[0];
    issuers[0].publish(unpublished_a);
    issuers[0].set_fault(None);
    let recovered = Instant::now();
    let failing = recovered - traffic_began;
    tokio::time::sleep(COOLDOWN + FETCH_MARGIN + Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    while let Some(task) = traffic.join_next().await {
        task.expect("no traffic task panicked");
    }

    let seen = seen.lock().unwrap();
    for name in ["a-cached", "c-steady"] {
        let refused: Vec<_> = seen[name]
            .iter()
            .filter(|(_, s)| *s != StatusCode::OK)
            .collect();
        assert!(refused.is_empty(), "{name} refused: {refused:?}");
    }
    for (sent, status) in &seen["a-new-kid"] {
        if *sent < recovered {
            // Unknown at A (401), or A cannot be asked (503): never accepted, never a 500.
            assert!(
                [StatusCode::UNAUTHORIZED, StatusCode::SERVICE_UNAVAILABLE].contains(status),
                "{status} for A's unpublished key"
            );
        } else if sent.duration_since(recovered) > COOLDOWN + FETCH_MARGIN {
            assert_eq!(*status, StatusCode::OK, "A's new key after A recovered");
        } else {
            // Within a cooldown of A's last failed fetch the kid is still unknown (401).
            assert!(
                [
                    StatusCode::OK,
                    StatusCode::UNAUTHORIZED,
                    StatusCode::SERVICE_UNAVAILABLE
                ]
                .contains(status),
                "{status} just after A recovered"
            );
        }
    }
    for (sent, status) in &seen["b-current"] {
        if sent.saturating_duration_since(rotated) > COOLDOWN + FETCH_MARGIN {
            assert_eq!(*status, StatusCode::OK, "B's new key after the rotation");
        } else {
            assert!(
                [StatusCode::OK, StatusCode::UNAUTHORIZED].contains(status),
                "{status} around B's rotation"
            );
        }
    }
    let fetches = issuers.each_ref().map(TestIssuer::jwks_fetches);
    assert_eq!(
        fetches[2], fetches_before[2],
        "C's issuer is never asked again"
    );
    // One request-driven fetch per cooldown while A's new kid is unknown, one retry per
    // backoff while A fails, plus the edges.
    let bound = 2 * failing.as_secs_f64().ceil() as usize + 3;
    assert!(
        fetches_failing_a <= bound,
        "{fetches_failing_a} fetches at A in {failing:?} (bound {bound})"
    );
    assert!(
        fetches_failing_a >= 1,
        "the unknown kid was looked for at A"
    );
}

/// The status of `GET /api/private` on `tenant`'s host with `token`.
async fn send(router: &axum::Router, tenant: usize, token: &str) -> StatusCode {
    let authorization = format!("Bearer {token}");
    let headers = [
        (header::HOST, HOSTS[tenant].as_bytes()),
        (header::AUTHORIZATION, authorization.as_bytes()),
    ];
    get_with(router, PRIVATE, &headers).await.status
}
