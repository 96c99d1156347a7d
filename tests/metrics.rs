//! The `metrics` feature: each reported metric moves when what it counts happens.
//!
//! One test in this binary, since the recorder is global: an in-memory recorder from
//! `metrics-util` collects what the crate reports while a router takes requests and the
//! issuer serves, fails and recovers. The recorder resets counters and gauges when read (a
//! gauge not set since reads as zero), so the test adds the counters up over its readings
//! and keeps the largest gauge value seen.

mod common;

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use bearer_guard::IssuerResolver;
use bearer_guard::introspection::OpaqueTokenShape;
use bearer_guard::jwe::{ContentEncryption, KeyEncryption};
use bearer_guard::testing::{
    DEFAULT_AUDIENCE, DecryptionKeyPair, EncryptionKey, Fault, TestIssuer,
};
use common::{Fixture, PRIVATE, SCOPED, now};
use http::StatusCode;
use metrics_util::CompositeKey;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

/// One reading of the recorder: counter increments and gauge values since the last one.
struct Reading(Vec<(CompositeKey, DebugValue)>);

impl Reading {
    fn take() -> Self {
        static SNAPSHOTTER: OnceLock<Snapshotter> = OnceLock::new();
        let snapshotter = SNAPSHOTTER.get_or_init(|| {
            let recorder = DebuggingRecorder::new();
            let snapshotter = recorder.snapshotter();
            recorder
                .install()
                .expect("the only recorder of this binary");
            snapshotter
        });
        Reading(
            snapshotter
                .snapshot()
                .into_vec()
                .into_iter()
                .map(|(key, _unit, _description, value)| (key, value))
                .collect(),
        )
    }

    fn matching<'a>(
        &'a self,
        name: &'a str,
        labels: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a DebugValue> + 'a {
        self.0.iter().filter_map(move |(key, value)| {
            let key = key.key();
            let has_labels = labels.iter().all(|(name, wanted)| {
                key.labels()
                    .any(|label| label.key() == *name && label.value() == *wanted)
            });
            (key.name() == name && has_labels).then_some(value)
        })
    }

    /// The increments of every counter `name` carrying these labels.
    fn counter(&self, name: &str, labels: &[(&str, &str)]) -> u64 {
        self.matching(name, labels)
            .map(|value| match value {
                DebugValue::Counter(count) => *count,
                other => panic!("{name} is not a counter: {other:?}"),
            })
            .sum()
    }

    /// The value of gauge `name` with these labels, if it was set since the last reading.
    fn gauge(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        self.matching(name, labels).find_map(|value| match value {
            DebugValue::Gauge(value) => Some(value.into_inner()),
            _ => None,
        })
    }
}

/// Counters summed over several readings.
#[derive(Default)]
struct Totals(HashMap<String, u64>);

impl Totals {
    fn add(&mut self, reading: &Reading, name: &str, labels: &[(&str, &str)]) -> u64 {
        let key = format!("{name}{labels:?}");
        let total = self.0.entry(key).or_default();
        *total += reading.counter(name, labels);
        *total
    }
}

fn labels<'a>(owned: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    owned.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

#[tokio::test]
async fn every_metric_moves_when_what_it_counts_happens() {
    Reading::take(); // installs the recorder before the validator exists
    let fixture = Fixture::start_with(|builder| {
        builder
            .jwks_ttl(Duration::from_millis(400))
            .stale_if_error(Duration::from_secs(60))
    })
    .await;
    let issuer = fixture.issuer.issuer().to_owned();
    let by_issuer = |extra: &'static [(&'static str, &'static str)]| {
        let mut labels = vec![("issuer", issuer.clone())];
        labels.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        labels
    };

    // Phase 1: traffic of every kind while the issuer is healthy.
    let token = fixture.issuer.token().scope("read:messages").sign();
    for _ in 0..3 {
        assert_eq!(fixture.send(PRIVATE, &token).await.status, StatusCode::OK);
    }
    let unscoped = fixture.issuer.token().sign();
    assert_eq!(
        fixture.send(SCOPED, &unscoped).await.status,
        StatusCode::FORBIDDEN
    );
    let expired = fixture.issuer.token().claim("exp", now() - 3600).sign();
    assert_eq!(
        fixture.send(PRIVATE, &expired).await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        common::send(&fixture.app, PRIVATE, None).await.status,
        StatusCode::UNAUTHORIZED
    );

    let healthy = Reading::take();
    let mut totals = Totals::default();
    let requests = "bearer_guard_requests_total";
    // Three of `token` and the unscoped one pass the layer.
    assert_eq!(
        totals.add(&healthy, requests, &[("outcome", "accepted")]),
        4
    );
    let refusals = [
        (("insufficient_scope", "scope"), 1),
        (("invalid_token", "expired"), 1),
        (("missing_token", "no_token"), 1),
    ];
    for ((error, problem), expected) in refusals {
        let labels = [
            ("outcome", "refused"),
            ("error", error),
            ("problem", problem),
        ];
        assert_eq!(
            totals.add(&healthy, requests, &labels),
            expected,
            "{labels:?}"
        );
    }
    // `token` enters the cache on its second verification and is a hit on its third.
    assert!(totals.add(&healthy, "bearer_guard_token_cache_hits_total", &[]) >= 1);
    assert!(totals.add(&healthy, "bearer_guard_token_cache_misses_total", &[]) >= 2);
    let discovery = by_issuer(&[("document", "discovery")]);
    let jwks = by_issuer(&[("document", "jwks")]);
    let requests_to_issuer = "bearer_guard_issuer_requests_total";
    assert_eq!(
        totals.add(&healthy, requests_to_issuer, &labels(&discovery)),
        1
    );
    assert!(totals.add(&healthy, requests_to_issuer, &labels(&jwks)) >= 1);
    let replaced = by_issuer(&[("outcome", "replaced")]);
    let fetches = "bearer_guard_key_set_fetches_total";
    assert!(totals.add(&healthy, fetches, &labels(&replaced)) >= 1);
    let issuer_only = by_issuer(&[]);
    assert_eq!(
        healthy.gauge("bearer_guard_key_set_keys", &labels(&issuer_only)),
        Some(1.0)
    );
    assert_eq!(
        healthy.gauge("bearer_guard_key_set_age_seconds", &labels(&issuer_only)),
        Some(0.0)
    );
    let last_success = healthy
        .gauge(
            "bearer_guard_key_set_last_success_timestamp_seconds",
            &labels(&issuer_only),
        )
        .expect("set by the first fetch");
    assert!((last_success - now() as f64).abs() < 5.0, "{last_success}");

    // Phase 2: the issuer fails; refreshes fail and the stale key set keeps serving.
    fixture.issuer.set_fault(Some(Fault::Status(500)));
    let failed = by_issuer(&[("outcome", "failed")]);
    let mut failures = 0;
    let mut stale_serves = 0;
    let mut age: f64 = 0.0;
    common::eventually(Duration::from_secs(10), async || {
        assert_eq!(fixture.send(PRIVATE, &token).await.status, StatusCode::OK);
        let reading = Reading::take();
        failures = totals.add(&reading, fetches, &labels(&failed));
        stale_serves = totals.add(
            &reading,
            "bearer_guard_key_set_stale_serves_total",
            &labels(&issuer_only),
        );
        let reported = reading.gauge("bearer_guard_key_set_age_seconds", &labels(&issuer_only));
        age = age.max(reported.unwrap_or(0.0));
        failures > 0 && stale_serves > 0 && age > 0.0
    })
    .await;
    assert!(failures >= 1, "no failed fetch counted");
    assert!(stale_serves >= 1, "no stale serve counted");
    // Set at each failed fetch: the time since the last success.
    assert!(age > 0.0 && age < 10.0, "{age}");

    // Phase 3: the issuer recovers; the next refresh succeeds and is counted.
    fixture.issuer.set_fault(None);
    let replaced_before = totals.add(&Reading(Vec::new()), fetches, &labels(&replaced));
    let recovered = common::eventually(Duration::from_secs(10), async || {
        totals.add(&Reading::take(), fetches, &labels(&replaced)) > replaced_before
    })
    .await;
    assert!(
        recovered.is_some(),
        "no successful refresh reported after recovery"
    );
    assert!(fixture.validator.key_set_status().is_some_and(|s| !s.stale));

    // Phase 4: introspection with a token shape; junk fills its share of the calls in
    // flight (64, each held by a slow endpoint), and the next junk token is refused and
    // counted.
    let opaque = TestIssuer::start().await;
    opaque.register_client("api", "api-secret");
    let shape = OpaqueTokenShape::new().prefix("at_");
    let validator = opaque
        .validator()
        .introspection("api", "api-secret")
        .introspection_token_shape(shape)
        .build()
        .expect("valid configuration");
    let app = common::app(validator);
    assert_eq!(
        common::send_token(&app, PRIVATE, "warm-up").await.status,
        StatusCode::UNAUTHORIZED
    );
    opaque.set_delay(Duration::from_millis(500));
    let held: Vec<_> = (0..64)
        .map(|n| {
            let app = app.clone();
            tokio::spawn(
                async move { common::send_token(&app, PRIVATE, &format!("junk-{n}")).await },
            )
        })
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while opaque.introspection_requests() < 65 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        common::send_token(&app, PRIVATE, "junk-64").await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let junk = [("issuer", opaque.issuer().to_owned())];
    assert_eq!(
        totals.add(
            &Reading::take(),
            "bearer_guard_introspection_junk_refused_total",
            &labels(&junk)
        ),
        1
    );
    for request in held {
        request.await.expect("the junk request");
    }

    // Phase 5: issuers resolved per request: a token on another tenant's host is counted
    // with its own reason, and the admitted issuer's key set fetch under its own name.
    let tenant = TestIssuer::start().await;
    let tenant_issuer = tenant.issuer().to_owned();
    let resolver =
        IssuerResolver::issuers([tenant_issuer.clone()]).tenant_of_request(move |request| {
            (request.host()? == "a.api.example").then(|| tenant_issuer.clone())
        });
    let template = bearer_guard::Validator::builder().audience(DEFAULT_AUDIENCE);
    let resolved = bearer_guard::Validator::resolved_issuers(template, resolver).expect("valid");
    let app = common::app(resolved);
    let token = tenant.token().sign();
    let authorization = format!("Bearer {token}");
    for (host, status) in [
        ("a.api.example", StatusCode::OK),
        ("b.api.example", StatusCode::UNAUTHORIZED),
    ] {
        let headers = [
            (http::header::HOST, host.as_bytes()),
            (http::header::AUTHORIZATION, authorization.as_bytes()),
        ];
        assert_eq!(
            common::get_with(&app, PRIVATE, &headers).await.status,
            status
        );
    }
    let reading = Reading::take();
    let wrong_tenant = [
        ("outcome", "refused"),
        ("error", "invalid_token"),
        ("problem", "wrong_tenant"),
    ];
    assert_eq!(totals.add(&reading, requests, &wrong_tenant), 1);
    let tenant_jwks = [
        ("issuer", tenant.issuer().to_owned()),
        ("document", "jwks".to_owned()),
    ];
    assert_eq!(
        totals.add(&reading, requests_to_issuer, &labels(&tenant_jwks)),
        1
    );

    // Encrypted tokens: the cache keeps them as presented, so the third sight is a hit (no
    // decryption, no signature); a token no key opens is counted as `undecryptable`.
    let pair = DecryptionKeyPair::generate("enc-1");
    let decrypting = Fixture::with_issuer(TestIssuer::start().await, |builder| {
        builder.decryption_key_pem_with_kid(pair.kid(), pair.private_key_pem())
    });
    let encrypt = |key: EncryptionKey| {
        let (alg, enc) = (KeyEncryption::RsaOaep256, ContentEncryption::A256Gcm);
        decrypting.issuer.token().encrypt_to(&key, alg, enc).sign()
    };
    Reading::take();
    let encrypted = encrypt(pair.encryption_key());
    for _ in 0..3 {
        let reply = decrypting.send(PRIVATE, &encrypted).await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    let stranger = DecryptionKeyPair::generate("enc-1").encryption_key();
    let undecryptable = decrypting.send(PRIVATE, &encrypt(stranger)).await;
    assert_eq!(undecryptable.status, StatusCode::UNAUTHORIZED);
    let reading = Reading::take();
    assert_eq!(
        reading.counter("bearer_guard_token_cache_hits_total", &[]),
        1
    );
    let refused = [
        ("outcome", "refused"),
        ("error", "invalid_token"),
        ("problem", "undecryptable"),
    ];
    assert_eq!(reading.counter(requests, &refused), 1);
}
