//! The life of a key set under real traffic (issue 10): a new signing key while its tokens
//! keep coming, discovery that fails at start-up, keys the issuer removes (down to an empty
//! set), fetches cut off by their runtime, the smaller limits, and one test that lives like
//! production through all of it; and the byte-bounded verified-token cache. Every test drives a real axum router through `BearerLayer`
//! against the loopback test issuer and checks statuses and fetch counts.
//!
//! Timing: the refetch cooldown is 1 s where it matters; a new key must be accepted within
//! one cooldown plus [`FETCH_MARGIN`] (the fetch itself, on a loaded machine) of first being
//! seen. Every wait polls a condition against a deadline; every loop is bounded.

use crate::common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use bearer_guard::testing::{Endpoint, Fault, SigningKey, TestIssuer};
use bearer_guard::{Validator, config::ConfigProblem, jwks::KeyFetchError};
use common::{Fixture, PRIVATE, app, eventually, send_token};
use http::StatusCode;
use serde_json::json;

/// The refetch cooldown of the timing tests.
const COOLDOWN: Duration = Duration::from_secs(1);
/// What a refetch itself may take beyond the cooldown (a loopback fetch takes milliseconds;
/// the rest is room for a machine shared with builds).
const FETCH_MARGIN: Duration = Duration::from_millis(400);
/// Where Keycloak serves a realm's key set: not the `/.well-known/jwks.json` fallback.
const KEYCLOAK_CERTS: &str = "/protocol/openid-connect/certs";

/// Polls `condition` every millisecond until it holds or `within` has passed; how long it took.
async fn wait_for(within: Duration, mut condition: impl FnMut() -> bool) -> Option<Duration> {
    common::poll_every(Duration::from_millis(1), within, async || condition()).await
}

/// Sends `token` every `every` until it is accepted or `within` has passed; when it was
/// accepted (the send time of the first 200, from `since`), and every status seen.
async fn first_acceptance(
    fixture: &Fixture,
    token: &str,
    since: Instant,
    every: Duration,
    within: Duration,
) -> (Option<Duration>, Vec<u16>) {
    let mut statuses = Vec::new();
    loop {
        let sent = Instant::now();
        let reply = fixture.send(PRIVATE, token).await;
        statuses.push(reply.status.as_u16());
        if reply.status == StatusCode::OK {
            return (Some(sent - since), statuses);
        }
        if since.elapsed() >= within {
            return (None, statuses);
        }
        tokio::time::sleep(every).await;
    }
}

// Item 1: a new signing key under steady traffic.

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_kid_under_steady_traffic_is_accepted_within_one_cooldown_of_first_being_seen() {
    let _alone = crate::alone().await;
    // The default TTL (10 min): only the unknown-kid refetch can bring the new key in time.
    let fixture = Fixture::start_with(|builder| builder.refetch_cooldown(COOLDOWN)).await;
    let next = SigningKey::generate("key-2");
    fixture.validator.warm_up().await.expect("warm-up");
    // Right after that fetch, the issuer starts signing with a new key, and its tokens keep
    // coming every 150 ms: less than a cooldown apart.
    fixture.issuer.rotate_to(next);
    let token = fixture.issuer.token().sign();
    let first_seen = Instant::now();
    let (accepted, statuses) = first_acceptance(
        &fixture,
        &token,
        first_seen,
        Duration::from_millis(150),
        4 * COOLDOWN,
    )
    .await;
    let fetches = fixture.issuer.jwks_fetches();
    println!("new kid accepted after {accepted:?} of traffic; statuses {statuses:?}");
    let accepted = accepted.unwrap_or_else(|| {
        panic!(
            "the new kid's token was refused for {:?} of traffic every 150 ms \
             ({} requests, {fetches} key set fetches in all, statuses {statuses:?})",
            4 * COOLDOWN,
            statuses.len()
        )
    });
    assert!(
        accepted <= COOLDOWN + FETCH_MARGIN,
        "the new kid was accepted {accepted:?} after first being seen, more than one cooldown \
         ({COOLDOWN:?}) + {FETCH_MARGIN:?}"
    );
    // The warm-up, then one refetch for the new kid.
    assert!(fetches <= 2, "{fetches} key set fetches");
    assert_eq!(fixture.validator.key_stats().unknown_kid_refetches, 1);
    fixture.send(PRIVATE, &token).await.assert_ok();
}

// Item 2: discovery.

#[tokio::test]
async fn discovery_failing_at_start_up_is_retried_and_finds_a_key_set_outside_the_fallback_path() {
    let _alone = crate::alone().await;
    let issuer = TestIssuer::start().await;
    issuer.set_jwks_path(KEYCLOAK_CERTS);
    // The API and its IdP start together; the IdP's proxy answers 503 for a while.
    issuer.set_fault_at(Endpoint::Discovery, Some(Fault::Status(503)));
    let fixture = Fixture::with_issuer(issuer, |builder| {
        builder
            .refetch_cooldown(COOLDOWN)
            .fetch_timeout(Duration::from_secs(1))
    });
    let token = fixture.issuer.token().sign();
    let down_until = Instant::now() + COOLDOWN + Duration::from_millis(200);
    let mut refused = 0;
    while Instant::now() < down_until {
        fixture
            .send(PRIVATE, &token)
            .await
            .assert_keys_unavailable();
        refused += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let discovery_while_down = fixture.issuer.discovery_fetches();
    fixture.issuer.set_fault_at(Endpoint::Discovery, None);
    let recovered = Instant::now();
    let (accepted, statuses) = first_acceptance(
        &fixture,
        &token,
        recovered,
        Duration::from_millis(100),
        3 * COOLDOWN,
    )
    .await;
    println!(
        "{refused} requests refused while discovery failed; accepted {accepted:?} after it \
         recovered; statuses after {statuses:?}"
    );
    let accepted = accepted.unwrap_or_else(|| {
        panic!(
            "tokens still refused {:?} after discovery recovered (statuses {statuses:?}; \
             discovery fetches {}, key set fetches served at {KEYCLOAK_CERTS}: {})",
            3 * COOLDOWN,
            fixture.issuer.discovery_fetches(),
            fixture.issuer.jwks_fetches()
        )
    });
    assert!(
        accepted <= COOLDOWN + FETCH_MARGIN,
        "accepted {accepted:?} after discovery recovered"
    );
    // At most one attempt per cooldown from requests, plus the refresh task's retries
    // (backoff 0.4-0.6 s, then 0.8-1.2 s) while discovery failed, then one that succeeds.
    assert!(
        (1..=5).contains(&discovery_while_down),
        "{discovery_while_down} discovery requests in {:?} of outage",
        COOLDOWN + Duration::from_millis(200)
    );
    assert!(fixture.issuer.discovery_fetches() <= discovery_while_down + 2);
    assert!(
        (1..=2).contains(&fixture.issuer.jwks_fetches()),
        "{} key set fetches",
        fixture.issuer.jwks_fetches()
    );
}

#[tokio::test]
async fn an_issuer_without_metadata_is_read_at_the_auth0_key_set_path() {
    let _alone = crate::alone().await;
    for status in [404, 410] {
        // Auth0 without discovery: both metadata documents are absent (the test issuer
        // serves no RFC 8414 document at all), the key set is at /.well-known/jwks.json.
        let issuer = TestIssuer::start().await;
        issuer.set_fault_at(Endpoint::Discovery, Some(Fault::Status(status)));
        let fixture = Fixture::with_issuer(issuer, |builder| builder);
        let token = fixture.issuer.token().sign();
        let reply = fixture.send(PRIVATE, &token).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "discovery {status}: {reply:#?}"
        );
        let served = (
            fixture.issuer.discovery_fetches(),
            fixture.issuer.jwks_fetches(),
        );
        assert_eq!(served, (1, 1), "(discovery, key set) requests served");
        assert_eq!(fixture.validator.key_stats().jwks_fetches, 1);
    }
}

#[tokio::test]
async fn a_key_set_that_moved_is_rediscovered_after_a_failed_fetch() {
    let _alone = crate::alone().await;
    let cooldown = COOLDOWN;
    let fixture = Fixture::start_with(|builder| builder.refetch_cooldown(cooldown)).await;
    fixture.validator.warm_up().await.expect("warm-up");
    let old = fixture.issuer.token().sign();
    fixture.send(PRIVATE, &old).await.assert_ok();
    // The issuer is reconfigured: its key set moves, discovery names the new place, and it
    // signs with a new key.
    fixture.issuer.set_jwks_path("/v1/keys");
    fixture.issuer.rotate("key-2");
    let new = fixture.issuer.token().sign();
    // Requests further apart than the cooldown: each may refetch, so only discovery decides.
    let moved = Instant::now();
    let (accepted, statuses) =
        first_acceptance(&fixture, &new, moved, 2 * cooldown, Duration::from_secs(8)).await;
    let stats = fixture.validator.key_stats();
    println!("new key accepted {accepted:?} after the move; statuses {statuses:?}; {stats:?}");
    assert!(
        accepted.is_some(),
        "the new key was refused for 8 s after the key set moved: every fetch went to the old \
         URL (statuses {statuses:?}, discovery fetches {}, {stats:?})",
        fixture.issuer.discovery_fetches()
    );
    assert!(stats.failed_refreshes >= 1, "{stats:?}");
    // Discovered at warm-up, then once more after the fetch at the old URL failed.
    assert_eq!(fixture.issuer.discovery_fetches(), 2);
    fixture.send(PRIVATE, &old).await.assert_ok();
}

// Item 3: removed keys.

/// Warms a validator with a 300 ms TTL, sends `token` three times (the second time puts it
/// in the verified-token cache, the third is served from it), changes the issuer, and waits
/// until the first key set fetch after the change has finished: fetches are single-flight,
/// so that one is done once the issuer has served a second one.
async fn refresh_after(change: impl FnOnce(&TestIssuer)) -> (Fixture, String) {
    let fixture = Fixture::start_with(|builder| builder.jwks_ttl(Duration::from_millis(300))).await;
    fixture.validator.warm_up().await.expect("warm-up");
    let token = fixture.issuer.token().sign();
    for _ in 0..3 {
        fixture.send(PRIVATE, &token).await.assert_ok();
    }
    assert_eq!(fixture.validator.cached_tokens(), 1);
    change(&fixture.issuer);
    let before = fixture.issuer.jwks_fetches();
    let waited = wait_for(Duration::from_secs(3), || {
        fixture.issuer.jwks_fetches() >= before + 2
    })
    .await;
    assert!(
        waited.is_some(),
        "no two refreshes within 3 s: {:?}",
        fixture.validator.key_stats()
    );
    (fixture, token)
}

#[tokio::test]
async fn an_empty_key_set_revokes_every_key_cached_tokens_included() {
    let _alone = crate::alone().await;
    let (fixture, cached) = refresh_after(|issuer| issuer.retire("key-1")).await;
    let reply = fixture.send(PRIVATE, &cached).await;
    assert_eq!(
        reply.status,
        StatusCode::UNAUTHORIZED,
        "a cached token of a key the issuer removed passed after the refresh that saw the empty \
         set ({:?})",
        fixture.validator.key_stats()
    );
    reply.assert_invalid_token();
    fixture
        .send(PRIVATE, &fixture.issuer.token().sign())
        .await
        .assert_invalid_token();
    // The empty set is installed, and warm-up still says there is no usable key.
    assert!(matches!(
        fixture.validator.warm_up().await,
        Err(KeyFetchError::NoUsableKeys)
    ));
    fixture.send(PRIVATE, &cached).await.assert_invalid_token();
}

#[tokio::test]
async fn a_key_set_of_encryption_keys_only_revokes_the_signing_keys() {
    let _alone = crate::alone().await;
    let (fixture, cached) = refresh_after(|issuer| {
        // The same key, now published for encryption only: no key is left to verify with.
        let mut enc = issuer.signing_key().jwk();
        enc["use"] = json!("enc");
        issuer.retire("key-1");
        issuer.set_extra_jwks(vec![enc]);
    })
    .await;
    let reply = fixture.send(PRIVATE, &cached).await;
    assert_eq!(
        reply.status,
        StatusCode::UNAUTHORIZED,
        "a cached token passed after the refresh that saw its key published for encryption \
         only ({:?})",
        fixture.validator.key_stats()
    );
    reply.assert_invalid_token();
    fixture
        .send(PRIVATE, &fixture.issuer.token().sign())
        .await
        .assert_invalid_token();
}

#[tokio::test]
async fn a_malformed_key_set_answer_keeps_the_stale_keys() {
    let _alone = crate::alone().await;
    for fault in [Fault::Html, Fault::HugeBody(2 << 20)] {
        let (fixture, cached) = refresh_after(|issuer| {
            issuer.set_fault_at(Endpoint::KeySet, Some(fault.clone()));
        })
        .await;
        let stats = fixture.validator.key_stats();
        assert!(stats.failed_refreshes >= 1, "{fault:?}: {stats:?}");
        fixture.send(PRIVATE, &cached).await.assert_ok();
        fixture
            .send(PRIVATE, &fixture.issuer.token().sign())
            .await
            .assert_ok();
    }
}

// Item 4: background work that outlives its runtime. Plain tests that build their runtimes:
// the issuer runs on its own for the whole test, the validator is used on two in turn.

/// A runtime for the issuer alone, alive for the whole test.
fn issuer_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("a runtime")
}

/// A runtime like `#[tokio::test]`'s: its tasks run only inside `block_on`.
fn api_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

#[test]
fn a_fetch_cut_off_by_its_runtime_shutting_down_is_retried_by_the_next_request() {
    let _alone = crate::alone_blocking();
    let issuer_runtime = issuer_runtime();
    let fixture = issuer_runtime.block_on(Fixture::start());
    let token = fixture.issuer.token().sign();
    // Runtime A starts a request whose key set fetch hangs on a slow issuer, then shuts down.
    fixture.issuer.set_delay(Duration::from_secs(2));
    let runtime_a = api_runtime();
    runtime_a.block_on(async {
        let (app, token) = (fixture.app.clone(), token.clone());
        tokio::spawn(async move { send_token(&app, PRIVATE, &token).await.status });
        let reached = wait_for(Duration::from_secs(3), || {
            fixture.issuer.discovery_fetches() >= 1
        })
        .await;
        assert!(reached.is_some(), "the fetch never reached the issuer");
    });
    drop(runtime_a);
    fixture.issuer.set_delay(Duration::ZERO);

    let runtime_b = api_runtime();
    let reply = runtime_b.block_on(async {
        tokio::time::timeout(Duration::from_secs(5), fixture.send(PRIVATE, &token))
            .await
            .expect("an answer within 5 s")
    });
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "the first request on runtime B after runtime A died mid-fetch: {} {:?} ({:?})",
        reply.status,
        reply.body,
        fixture.validator.key_stats()
    );
    assert_eq!(fixture.issuer.jwks_fetches(), 1);
    drop(runtime_b);
    drop(fixture);
}

#[test]
fn refresh_ahead_restarts_on_the_runtime_in_use_when_its_own_is_gone() {
    let _alone = crate::alone_blocking();
    let issuer_runtime = issuer_runtime();
    let fixture = issuer_runtime.block_on(Fixture::start_with(|builder| {
        builder.jwks_ttl(Duration::from_millis(200))
    }));
    let token = fixture.issuer.token().sign();
    // Warmed up inside runtime A's block_on (where the refresh task starts), then A is gone.
    let runtime_a = api_runtime();
    runtime_a.block_on(async {
        fixture.validator.warm_up().await.expect("warm-up");
        fixture.send(PRIVATE, &token).await.assert_ok();
    });
    drop(runtime_a);
    let after_a = fixture.issuer.jwks_fetches();

    let runtime_b = api_runtime();
    let requests = runtime_b.block_on(async {
        let until = Instant::now() + Duration::from_millis(1500);
        let mut requests = 0;
        while Instant::now() < until {
            fixture.send(PRIVATE, &token).await.assert_ok();
            requests += 1;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        requests
    });
    let refreshes = fixture.issuer.jwks_fetches() - after_a;
    println!("{requests} requests on runtime B, {refreshes} key set refreshes");
    // A 200 ms TTL refreshed at 75-90 % of it: about 8 refreshes in 1.5 s; at least 3 even if
    // the task restarts only once the key set is past its freshness.
    assert!(
        refreshes >= 3,
        "{refreshes} key set refreshes in 1.5 s of traffic on runtime B with a 200 ms TTL: the \
         refresh task died with runtime A ({:?})",
        fixture.validator.key_stats()
    );
    drop(runtime_b);
    drop(fixture);
}

// Item 5: the smaller items.

#[test]
fn every_duration_setting_is_bounded_at_build_time() {
    let _alone = crate::alone_blocking();
    const WEEK: Duration = Duration::from_secs(7 * 24 * 3600);
    const HOUR: Duration = Duration::from_secs(3600);
    const MINUTE: Duration = Duration::from_secs(60);
    const SECOND: Duration = Duration::from_secs(1);
    let base = || {
        Validator::builder()
            .issuer("https://issuer.example/")
            .audience("https://api.example.com")
    };
    // (builder method, its bound, a builder past the bound)
    let too_long = [
        ("jwks_ttl", WEEK, base().jwks_ttl(Duration::MAX)),
        ("jwks_ttl", WEEK, base().jwks_ttl(WEEK + SECOND)),
        (
            "jwks_ttl_bounds",
            WEEK,
            base().jwks_ttl_bounds(MINUTE, Duration::MAX),
        ),
        (
            "jwks_ttl_bounds",
            WEEK,
            base().jwks_ttl_bounds(MINUTE, WEEK + SECOND),
        ),
        ("stale_if_error", WEEK, base().stale_if_error(Duration::MAX)),
        ("stale_if_error", WEEK, base().stale_if_error(WEEK + SECOND)),
        (
            "refetch_cooldown",
            HOUR,
            base().refetch_cooldown(Duration::MAX),
        ),
        (
            "refetch_cooldown",
            HOUR,
            base().refetch_cooldown(HOUR + SECOND),
        ),
        (
            "fetch_timeout",
            60 * SECOND,
            base().fetch_timeout(Duration::MAX),
        ),
        (
            "fetch_timeout",
            60 * SECOND,
            base().fetch_timeout(61 * SECOND),
        ),
    ];
    for (setting, max, builder) in too_long {
        let error = match builder.build() {
            Ok(_) => panic!("{setting} over {max:?} was accepted by build()"),
            Err(error) => error,
        };
        assert_eq!(
            error.problems(),
            [ConfigProblem::DurationTooLong { setting, max }],
            "{error}"
        );
        assert!(error.to_string().contains(setting), "{error}");
    }
    let at_the_bound = [
        ("jwks_ttl(7 days)", base().jwks_ttl(WEEK)),
        (
            "jwks_ttl_bounds(1 min, 7 days)",
            base().jwks_ttl_bounds(MINUTE, WEEK),
        ),
        ("stale_if_error(7 days)", base().stale_if_error(WEEK)),
        ("refetch_cooldown(1 h)", base().refetch_cooldown(HOUR)),
        ("fetch_timeout(60 s)", base().fetch_timeout(60 * SECOND)),
    ];
    for (setting, builder) in at_the_bound {
        if let Err(error) = builder.build() {
            panic!("{setting} was refused: {error}");
        }
    }
}

#[tokio::test]
async fn a_custom_http_client_never_installs_a_key_set_from_another_origin() {
    let _alone = crate::alone().await;
    let issuer = TestIssuer::start().await;
    let elsewhere = TestIssuer::start_with_key(SigningKey::generate("elsewhere-1")).await;
    // Signed by the other issuer's key, with every claim of this issuer.
    let forged = elsewhere.token().issuer(issuer.issuer()).sign();
    let redirect = Fault::RedirectTo(elsewhere.jwks_uri());
    issuer.set_fault_at(Endpoint::KeySet, Some(redirect.clone()));
    // reqwest's default policy follows up to 10 redirects, to any origin.
    let fixture = Fixture::with_issuer(issuer, |builder| {
        builder
            .http_client(reqwest::Client::new())
            .refetch_cooldown(Duration::from_secs(1))
    });

    // Cold: the redirect is the only key set there is.
    let reply = fixture.send(PRIVATE, &forged).await;
    assert_ne!(
        reply.status,
        StatusCode::OK,
        "a token of another origin's key set was accepted"
    );
    reply.assert_keys_unavailable();
    assert!(fixture.validator.warm_up().await.is_err());
    assert!(!fixture.validator.is_ready());

    // Warm: the issuer's own key set, then a refresh redirected elsewhere.
    fixture.issuer.set_fault_at(Endpoint::KeySet, None);
    fixture.validator.warm_up().await.expect("warm-up");
    let own = fixture.issuer.token().sign();
    fixture.send(PRIVATE, &own).await.assert_ok();
    fixture
        .issuer
        .set_fault_at(Endpoint::KeySet, Some(redirect));
    let failed_before = fixture.validator.key_stats().failed_refreshes;
    // The forged token's kid is unknown: once the cooldown has passed, it makes the
    // validator refetch, into the redirect.
    let refetched = eventually(Duration::from_secs(5), async || {
        let reply = fixture.send(PRIVATE, &forged).await;
        assert_eq!(
            reply.status,
            StatusCode::UNAUTHORIZED,
            "a token of another origin's key set was accepted after a redirected refresh"
        );
        fixture.validator.key_stats().failed_refreshes > failed_before
    })
    .await;
    assert!(refetched.is_some(), "the redirected refresh never happened");
    fixture.send(PRIVATE, &own).await.assert_ok();
}

// A test that lives like production.

/// Tasks sending requests, each every few milliseconds.
const TASKS: usize = 4;
/// The key set's freshness in the production test: refreshed every 1.5-1.8 s.
const TTL: Duration = Duration::from_secs(2);
/// The key ids the issuer goes through, in order; a record's `kid` indexes it.
const KIDS: [&str; 3] = ["key-1", "key-2", "key-3"];

/// One response the traffic saw.
#[derive(Clone, Copy, Debug)]
struct Record {
    sent: Instant,
    /// Index into [`KIDS`] of the key that signed the token.
    kid: usize,
    /// Which API instance answered (0: warmed at start, 1: started during phase d).
    instance: usize,
    status: StatusCode,
    retry_after: bool,
}

/// What the traffic sends, and where: the driver changes it between phases.
struct Mix {
    app: Router,
    instance: usize,
    tokens: Vec<(usize, Arc<str>)>,
}

/// The state of the issuer and of each instance's key set, when it changed.
#[derive(Clone, Copy, Debug)]
struct Sample {
    at: Instant,
    jwks_fetches: usize,
    discovery_fetches: usize,
    /// Keys in each instance's key set (`None`: no usable key set, or the instance is gone).
    keys: [Option<usize>; 2],
}

/// A token's key is valid for `instance` from `from` until `until`.
struct Validity {
    kid: usize,
    instance: usize,
    from: Instant,
    until: Option<Instant>,
}

/// A key the issuer removed, and the count of key set fetches served at that moment.
struct Removal {
    kid: usize,
    at: Instant,
    fetches_then: usize,
    keys_then: Option<usize>,
}

struct Phase {
    name: &'static str,
    start: Instant,
    end: Instant,
    counts_at_start: (usize, usize),
    counts_at_end: (usize, usize),
    /// What the phase measured, for the report.
    measured: String,
}

/// The send time and status of the latest response per (kid, instance).
type Latest = HashMap<(usize, usize), (Instant, StatusCode)>;

/// The driver's view of the run: the shared state it changes and reads.
struct Run {
    issuer: Arc<TestIssuer>,
    mix: Arc<Mutex<Mix>>,
    latest: Arc<Mutex<Latest>>,
    validators: Arc<Mutex<[Option<Validator>; 2]>>,
    phases: Vec<Phase>,
    validity: Vec<Validity>,
    removals: Vec<Removal>,
}

impl Run {
    fn counts(&self) -> (usize, usize) {
        (self.issuer.jwks_fetches(), self.issuer.discovery_fetches())
    }

    fn begin(&mut self, name: &'static str) {
        let now = Instant::now();
        if let Some(last) = self.phases.last_mut() {
            last.end = now;
            last.counts_at_end = (self.issuer.jwks_fetches(), self.issuer.discovery_fetches());
        }
        let counts = self.counts();
        self.phases.push(Phase {
            name,
            start: now,
            end: now,
            counts_at_start: counts,
            counts_at_end: counts,
            measured: String::new(),
        });
    }

    fn measured(&mut self, what: String) {
        let phase = self.phases.last_mut().expect("a phase");
        if !phase.measured.is_empty() {
            phase.measured.push_str("; ");
        }
        phase.measured.push_str(&what);
    }

    /// Whether the latest response for `kid` at `instance`, sent after `since`, was `status`.
    fn latest_is(&self, kid: usize, instance: usize, since: Instant, status: StatusCode) -> bool {
        self.latest
            .lock()
            .unwrap()
            .get(&(kid, instance))
            .is_some_and(|&(sent, seen)| sent >= since && seen == status)
    }

    /// The issuer signs with `key` (made beforehand: generating one takes a while) from now
    /// on, and the traffic sends its tokens too.
    fn new_key(&mut self, key: SigningKey, instance: usize) -> Instant {
        let kid = KIDS
            .iter()
            .position(|k| key.kid() == Some(k))
            .expect("a known kid");
        self.issuer.rotate_to(key);
        let token: Arc<str> = self.issuer.token().sign().into();
        let now = Instant::now();
        self.mix.lock().unwrap().tokens.push((kid, token));
        self.validity.push(Validity {
            kid,
            instance,
            from: now,
            until: None,
        });
        now
    }

    /// The issuer removes a key from its set (its tokens keep coming).
    fn remove_key(&mut self, kid: usize) -> Instant {
        self.issuer.retire(KIDS[kid]);
        let at = Instant::now();
        let fetches_then = self.issuer.jwks_fetches();
        let keys_then = self.validators.lock().unwrap()[0]
            .as_ref()
            .and_then(Validator::key_set_status)
            .map(|status| status.keys);
        for validity in &mut self.validity {
            if validity.kid == kid && validity.until.is_none() {
                validity.until = Some(at);
            }
        }
        self.removals.push(Removal {
            kid,
            at,
            fetches_then,
            keys_then,
        });
        at
    }

    /// Keeps the traffic going for a while, so that each phase is seen to hold.
    async fn hold(&self) {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Continuous traffic from [`TASKS`] tasks through the router, against one issuer, for the
/// life of a key set: the issuer (a) signs with a new key right after a refresh, (b) removes
/// a key, (c) publishes an empty set, then a new key, (e) goes down and comes back, and (d) a
/// new API instance starts while discovery answers 503, which then recovers. The key set
/// lives at Keycloak's path, not at the discovery fallback.
///
/// Asserted over every response: no valid token refused later than one cooldown plus
/// [`FETCH_MARGIN`] after its key appeared (for the instance started in (d): after discovery
/// recovered); no token of a removed key accepted once the fetch that saw it gone has
/// finished (the validator's key set changed after the issuer served that fetch, or the issuer
/// served the next fetch: fetches are single-flight); no 5xx but 503 with `Retry-After`, and
/// that only from the instance started in (d) before it first had a key set; in each phase of
/// `L` seconds at most `2 ⌈L⌉ + 3` key set fetches and as many discovery requests (one
/// request-driven fetch per 1 s cooldown, one scheduled refresh per 1.5 s or per retry
/// backoff of 0.4 s and more while failing, plus the phase's edges).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_set_lives_like_production_under_continuous_traffic() {
    let _alone = crate::alone().await;
    let test_started = Instant::now();
    let issuer = Arc::new(TestIssuer::start().await);
    issuer.set_jwks_path(KEYCLOAK_CERTS);
    let configure = |builder: bearer_guard::ValidatorBuilder| {
        builder
            .refetch_cooldown(COOLDOWN)
            .jwks_ttl(TTL)
            .fetch_timeout(Duration::from_millis(500))
    };
    let validator_a = configure(issuer.validator()).build().unwrap();
    let validator_b = configure(issuer.validator()).build().unwrap();
    let [key_2, key_3] = [KIDS[1], KIDS[2]].map(SigningKey::generate);
    validator_a.warm_up().await.expect("warm-up");
    let first_token: Arc<str> = issuer.token().sign().into();
    let mut run = Run {
        issuer: Arc::clone(&issuer),
        mix: Arc::new(Mutex::new(Mix {
            app: app(validator_a.clone()),
            instance: 0,
            tokens: vec![(0, first_token)],
        })),
        latest: Arc::default(),
        validators: Arc::new(Mutex::new([Some(validator_a), None])),
        phases: Vec::new(),
        validity: vec![Validity {
            kid: 0,
            instance: 0,
            from: Instant::now(),
            until: None,
        }],
        removals: Vec::new(),
    };
    let stop = Arc::new(AtomicBool::new(false));
    // Every loop below also ends at this hard limit, whatever happens.
    let hard_limit = test_started + Duration::from_secs(45);

    let mut traffic = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        let (mix, latest, stop) = (
            Arc::clone(&run.mix),
            Arc::clone(&run.latest),
            Arc::clone(&stop),
        );
        traffic.spawn(async move {
            let mut records = Vec::new();
            let mut turn = task;
            while !stop.load(Ordering::Relaxed) && Instant::now() < hard_limit {
                let (app, instance, (kid, token)) = {
                    let mix = mix.lock().unwrap();
                    let token = mix.tokens[turn % mix.tokens.len()].clone();
                    (mix.app.clone(), mix.instance, token)
                };
                turn += 1;
                let sent = Instant::now();
                let reply = send_token(&app, PRIVATE, &token).await;
                let retry_after = reply.headers.contains_key(http::header::RETRY_AFTER);
                records.push(Record {
                    sent,
                    kid,
                    instance,
                    status: reply.status,
                    retry_after,
                });
                {
                    let mut latest = latest.lock().unwrap();
                    let entry = latest
                        .entry((kid, instance))
                        .or_insert((sent, reply.status));
                    if sent >= entry.0 {
                        *entry = (sent, reply.status);
                    }
                }
                tokio::time::sleep(Duration::from_millis(4)).await;
            }
            records
        });
    }
    let watcher = {
        let (issuer, validators, stop) = (
            Arc::clone(&issuer),
            Arc::clone(&run.validators),
            Arc::clone(&stop),
        );
        tokio::spawn(async move {
            let mut samples: Vec<Sample> = Vec::new();
            while !stop.load(Ordering::Relaxed) && Instant::now() < hard_limit {
                let keys = {
                    let validators = validators.lock().unwrap();
                    [0, 1].map(|i| {
                        validators[i]
                            .as_ref()
                            .and_then(Validator::key_set_status)
                            .map(|status| status.keys)
                    })
                };
                let sample = Sample {
                    at: Instant::now(),
                    jwks_fetches: issuer.jwks_fetches(),
                    discovery_fetches: issuer.discovery_fetches(),
                    keys,
                };
                let changed = samples.last().is_none_or(|last| {
                    (last.jwks_fetches, last.discovery_fetches, last.keys)
                        != (sample.jwks_fetches, sample.discovery_fetches, sample.keys)
                });
                if changed {
                    samples.push(sample);
                }
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
            samples
        })
    };

    // Steady traffic until the next scheduled refresh.
    run.begin("steady: key-1, until the next refresh");
    let fetches = issuer.jwks_fetches();
    let refreshed = wait_for(TTL + COOLDOWN, || issuer.jwks_fetches() > fetches).await;
    run.measured(format!("next refresh after {refreshed:?}"));

    // (a) Right after that fetch the issuer signs with a new key.
    run.begin("a: new signing key right after a fetch");
    let appeared = run.new_key(key_2, 0);
    let accepted = wait_for(3 * COOLDOWN, || {
        run.latest_is(1, 0, appeared, StatusCode::OK)
    })
    .await;
    run.measured(format!("key-2 accepted after {accepted:?}"));
    run.hold().await;

    // (b) The issuer removes the old key.
    run.begin("b: key-1 removed");
    let removed = run.remove_key(0);
    let refused = wait_for(TTL + 2 * COOLDOWN, || {
        run.latest_is(0, 0, removed, StatusCode::UNAUTHORIZED)
    })
    .await;
    run.measured(format!("key-1 refused after {refused:?}"));
    run.hold().await;

    // (c) The issuer publishes an empty set, then a new key.
    run.begin("c: empty key set");
    let removed = run.remove_key(1);
    let refused = wait_for(TTL + 2 * COOLDOWN, || {
        run.latest_is(1, 0, removed, StatusCode::UNAUTHORIZED)
    })
    .await;
    run.measured(format!("key-2 refused after {refused:?}"));
    run.hold().await;
    run.begin("c2: a new key after the empty set");
    let appeared = run.new_key(key_3, 0);
    let accepted = wait_for(3 * COOLDOWN, || {
        run.latest_is(2, 0, appeared, StatusCode::OK)
    })
    .await;
    run.measured(format!("key-3 accepted after {accepted:?}"));
    run.hold().await;

    // (e) The issuer goes down for longer than the TTL, and comes back.
    run.begin("e: issuer down, then back");
    issuer.stop();
    tokio::time::sleep(TTL + Duration::from_millis(200)).await;
    let stale = run.validators.lock().unwrap()[0]
        .as_ref()
        .and_then(Validator::key_set_status)
        .is_some_and(|status| status.stale);
    issuer.resume().await;
    let resumed_fetches = issuer.jwks_fetches();
    let validators = Arc::clone(&run.validators);
    let fresh_again = wait_for(Duration::from_secs(6), || {
        issuer.jwks_fetches() > resumed_fetches
            && validators.lock().unwrap()[0]
                .as_ref()
                .and_then(Validator::key_set_status)
                .is_some_and(|status| !status.stale)
    })
    .await;
    run.measured(format!(
        "served stale at the end of the outage: {stale}; fresh again {fresh_again:?} after \
         the issuer came back"
    ));
    run.hold().await;

    // (d) A new API instance starts while the IdP's discovery answers 503, which recovers.
    run.begin("d: new instance starts while discovery answers 503");
    issuer.set_fault_at(Endpoint::Discovery, Some(Fault::Status(503)));
    {
        let mut mix = run.mix.lock().unwrap();
        mix.app = app(validator_b.clone());
        mix.instance = 1;
    }
    {
        // The old instance is gone.
        let mut validators = run.validators.lock().unwrap();
        validators[0] = None;
        validators[1] = Some(validator_b.clone());
    }
    tokio::time::sleep(COOLDOWN + Duration::from_millis(500)).await;
    issuer.set_fault_at(Endpoint::Discovery, None);
    let recovered = Instant::now();
    run.validity.push(Validity {
        kid: 2,
        instance: 1,
        from: recovered,
        until: None,
    });
    let accepted = wait_for(3 * COOLDOWN, || {
        run.latest_is(2, 1, recovered, StatusCode::OK)
    })
    .await;
    run.measured(format!(
        "key-3 accepted {accepted:?} after discovery recovered"
    ));
    run.hold().await;
    run.begin("end");
    run.phases.pop();

    stop.store(true, Ordering::Relaxed);
    let mut records: Vec<Record> = traffic.join_all().await.into_iter().flatten().collect();
    records.sort_by_key(|record| record.sent);
    let samples = watcher.await.expect("the watcher");

    report_and_check(
        &run,
        &records,
        &samples,
        test_started,
        fresh_again,
        &validator_b,
    );
}

/// Prints what the run measured and asserts the production contract over every response.
fn report_and_check(
    run: &Run,
    records: &[Record],
    samples: &[Sample],
    started: Instant,
    fresh_again: Option<Duration>,
    validator_b: &Validator,
) {
    let at = |instant: Instant| instant.saturating_duration_since(started).as_secs_f64();
    let phase_of = |instant: Instant| {
        run.phases
            .iter()
            .rev()
            .find(|phase| phase.start <= instant)
            .map_or("before the phases", |phase| phase.name)
    };
    let mut violations: Vec<String> = Vec::new();

    // Valid tokens: refused no later than one cooldown (+ margin) after their key appeared.
    let limit = COOLDOWN + FETCH_MARGIN;
    for validity in &run.validity {
        let late: Vec<&Record> = records
            .iter()
            .filter(|r| r.kid == validity.kid && r.instance == validity.instance)
            .filter(|r| r.sent >= validity.from + limit)
            .filter(|r| validity.until.is_none_or(|until| r.sent < until))
            .filter(|r| r.status != StatusCode::OK)
            .collect();
        if let (Some(first), Some(last)) = (late.first(), late.last()) {
            violations.push(format!(
                "{} (instance {}): {} valid tokens refused more than {limit:?} after the key \
                 appeared at {:.3} s, from {:.3} s ({}, status {}) to {:.3} s ({}, status {})",
                KIDS[validity.kid],
                validity.instance,
                late.len(),
                at(validity.from),
                at(first.sent),
                phase_of(first.sent),
                first.status,
                at(last.sent),
                phase_of(last.sent),
                last.status,
            ));
        }
    }

    // Removed keys: never accepted once the fetch that saw them gone has finished.
    for removal in &run.removals {
        let seen_gone = samples.iter().find(|sample| {
            sample.jwks_fetches >= removal.fetches_then + 2
                || (sample.jwks_fetches > removal.fetches_then
                    && sample.keys[0] != removal.keys_then)
        });
        let Some(seen_gone) = seen_gone else {
            violations.push(format!(
                "{}: removed at {:.3} s, never fetched afterwards",
                KIDS[removal.kid],
                at(removal.at)
            ));
            continue;
        };
        let accepted: Vec<&Record> = records
            .iter()
            .filter(|r| r.kid == removal.kid && r.sent >= seen_gone.at)
            .filter(|r| r.status == StatusCode::OK)
            .collect();
        println!(
            "{} removed at {:.3} s; the fetch that saw it gone had finished by {:.3} s",
            KIDS[removal.kid],
            at(removal.at),
            at(seen_gone.at)
        );
        if let (Some(first), Some(last)) = (accepted.first(), accepted.last()) {
            violations.push(format!(
                "{}: {} tokens accepted after the fetch that saw the key gone (finished by \
                 {:.3} s), from {:.3} s ({}) to {:.3} s ({})",
                KIDS[removal.kid],
                accepted.len(),
                at(seen_gone.at),
                at(first.sent),
                phase_of(first.sent),
                at(last.sent),
                phase_of(last.sent),
            ));
        }
    }

    // 5xx: only 503 with Retry-After, from the new instance before it first had a key set.
    let first_keys_b = samples
        .iter()
        .find(|sample| sample.keys[1].is_some())
        .map(|sample| sample.at);
    let bad_5xx: Vec<&Record> = records
        .iter()
        .filter(|r| r.status.is_server_error())
        .filter(|r| {
            r.status != StatusCode::SERVICE_UNAVAILABLE
                || !r.retry_after
                || r.instance != 1
                || first_keys_b.is_some_and(|first| r.sent >= first)
        })
        .collect();
    if let (Some(first), Some(last)) = (bad_5xx.first(), bad_5xx.last()) {
        violations.push(format!(
            "{} responses 5xx outside the documented 503 (the new instance had its first key \
             set at {:?} s): from {:.3} s ({}, {} instance {}, status {}) to {:.3} s ({}, \
             status {})",
            bad_5xx.len(),
            first_keys_b.map(at),
            at(first.sent),
            phase_of(first.sent),
            KIDS[first.kid],
            first.instance,
            first.status,
            at(last.sent),
            phase_of(last.sent),
            last.status,
        ));
    }

    // Fetch counts per phase, and the report.
    println!("phase timings (seconds from the start of the test):");
    for phase in &run.phases {
        let length = phase.end.saturating_duration_since(phase.start);
        let bound = 2 * length.as_secs_f64().ceil() as usize + 3;
        let jwks = phase.counts_at_end.0 - phase.counts_at_start.0;
        let discovery = phase.counts_at_end.1 - phase.counts_at_start.1;
        let in_phase = records
            .iter()
            .filter(|r| r.sent >= phase.start && r.sent < phase.end);
        let mut statuses: HashMap<u16, usize> = HashMap::new();
        for record in in_phase {
            *statuses.entry(record.status.as_u16()).or_default() += 1;
        }
        let mut statuses: Vec<_> = statuses.into_iter().collect();
        statuses.sort();
        println!(
            "  {:<52} {:>7.3} .. {:>7.3} ({:.3} s): {jwks} key set fetches, {discovery} \
             discovery requests (bound {bound}); statuses {statuses:?}; {}",
            phase.name,
            at(phase.start),
            at(phase.end),
            length.as_secs_f64(),
            phase.measured,
        );
        if jwks > bound || discovery > bound {
            violations.push(format!(
                "{}: {jwks} key set fetches and {discovery} discovery requests in {:.3} s, \
                 over the bound {bound}",
                phase.name,
                length.as_secs_f64()
            ));
        }
    }
    if fresh_again.is_none() {
        violations
            .push("e: the key set was not fresh again within 6 s of the issuer coming back".into());
    }
    println!(
        "{} requests in {:.3} s; instance B {:?}",
        records.len(),
        started.elapsed().as_secs_f64(),
        validator_b.key_stats()
    );
    assert!(
        violations.is_empty(),
        "{} violations of the production contract:\n{}",
        violations.len(),
        violations.join("\n")
    );
}

#[tokio::test]
async fn a_redirect_to_another_origin_through_a_custom_client_is_a_cross_origin_redirect() {
    let _alone = crate::alone().await;
    let issuer = TestIssuer::start().await;
    let elsewhere = TestIssuer::start_with_key(SigningKey::generate("elsewhere-1")).await;
    issuer.set_fault_at(
        Endpoint::KeySet,
        Some(Fault::RedirectTo(elsewhere.jwks_uri())),
    );
    let validator = issuer
        .validator()
        .http_client(reqwest::Client::new())
        .build()
        .unwrap();
    match validator.warm_up().await {
        Err(KeyFetchError::CrossOriginRedirect(url)) => {
            assert_eq!(url.as_str(), elsewhere.jwks_uri(), "the final URL")
        }
        other => panic!("expected CrossOriginRedirect, got {other:?}"),
    }
    assert!(!validator.is_ready());
    let forged = elsewhere.token().issuer(issuer.issuer()).sign();
    assert!(validator.validate(&forged).await.is_err());
}

/// A token of about 16 KB whose payload is thousands of tiny JSON values: cheap to send,
/// about 200 KB once decoded.
fn bloated_token(issuer: &TestIssuer, serial: usize) -> String {
    let token = issuer
        .token()
        .claim("jti", format!("bloated-{serial}"))
        .claim("x", vec![0; 5_700])
        .sign();
    assert!(
        (15_000..=16 * 1024).contains(&token.len()),
        "{} bytes",
        token.len()
    );
    token
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_verified_token_cache_is_bounded_by_bytes() {
    let _alone = crate::alone().await;
    const BUDGET: u64 = 1 << 20;
    const SENT: usize = 40;
    let fixture = Fixture::start_with(|builder| builder.token_cache_bytes(BUDGET)).await;
    let small = fixture.issuer.token().sign();
    for _ in 0..2 {
        fixture.send(PRIVATE, &small).await.assert_ok();
    }
    assert_eq!(fixture.validator.cached_tokens(), 1);
    let one_small = fixture.validator.cached_token_bytes();
    assert!(
        one_small >= small.len() as u64 && one_small < 64 * 1024,
        "{one_small} bytes for one {}-byte token",
        small.len()
    );

    let tokens: Vec<String> = (0..SENT)
        .map(|serial| bloated_token(&fixture.issuer, serial))
        .collect();
    // Each sent twice: a token enters the cache the second time it verifies.
    for token in &tokens {
        for _ in 0..2 {
            fixture.send(PRIVATE, token).await.assert_ok();
        }
    }
    let cached = fixture.validator.cached_tokens();
    let bytes = fixture.validator.cached_token_bytes();
    println!("{SENT} bloated tokens sent twice: {cached} cached, {bytes} bytes");
    assert!(
        bytes <= BUDGET,
        "{bytes} bytes cached, over the {BUDGET} budget"
    );
    // Each weighs its 16 KB plus about 200 KB of decoded claims: a handful fit in 1 MiB (at
    // most 10 even if the estimate of the decoded claims were as low as 84 KB).
    assert!(
        (1..=10).contains(&cached),
        "{cached} of {SENT} bloated tokens cached in {BUDGET} bytes"
    );
    // Every token still passes, cached or not.
    for token in &tokens {
        fixture.send(PRIVATE, token).await.assert_ok();
    }

    // 0 turns the cache off.
    let off = Fixture::start_with(|builder| builder.token_cache_bytes(0)).await;
    let token = off.issuer.token().sign();
    for _ in 0..3 {
        off.send(PRIVATE, &token).await.assert_ok();
    }
    assert_eq!(
        (
            off.validator.cached_tokens(),
            off.validator.cached_token_bytes()
        ),
        (0, 0)
    );
}
