//! Issuers resolved per request: `Validator::resolved_issuers` with an `IssuerResolver`.
//!
//! Loopback test issuers play the tenants. Each tenant has its own host
//! (`a.api.example` -> tenant A); the tenants served are a set the test changes while the
//! API runs. The rules: a token is only ever checked against the tenant the request is for;
//! an issuer not admitted costs no fetch and leaves nothing behind; the kept pipelines are
//! bounded, least recently used out, and what outlives them (the DPoP replay store) does.
//! Templates with `{tenantid}` are in `tenant_templates.rs`.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::common;

use bearer_guard::dpop::Dpop;
use bearer_guard::error::{DpopProblem, TokenProblem};
use bearer_guard::resolver::IssuerResolver;
use bearer_guard::testing::{DEFAULT_AUDIENCE, DpopProof, SigningKey, TestIssuer};
use bearer_guard::{AuthError, Validator};
use common::{CountingServer, PRIVATE, Reply, app, b64, get_with};
use http::{HeaderName, StatusCode, header};

/// Tenants A, B and C (each its own issuer and key), the tenants served (a set shared with
/// the resolver's callback) and the host of each tenant.
struct Tenants {
    issuers: [TestIssuer; 3],
    served: Arc<RwLock<HashSet<String>>>,
    validator: Validator,
    app: axum::Router,
}

const HOSTS: [&str; 3] = ["a.api.example", "b.api.example", "c.api.example"];

impl Tenants {
    /// A and B served, C not yet; at most `max_issuers` pipelines kept.
    async fn start(max_issuers: u64) -> Self {
        let issuers = [
            TestIssuer::start_with_key(SigningKey::pooled("a-key")).await,
            TestIssuer::start_with_key(SigningKey::pooled("b-key")).await,
            TestIssuer::start_with_key(SigningKey::pooled("c-key")).await,
        ];
        let served: HashSet<String> = issuers[..2].iter().map(|i| i.issuer().into()).collect();
        let served = Arc::new(RwLock::new(served));
        let hosts: HashMap<&str, String> = HOSTS
            .iter()
            .zip(&issuers)
            .map(|(host, issuer)| (*host, issuer.issuer().to_owned()))
            .collect();
        let admitted = Arc::clone(&served);
        let resolver = IssuerResolver::issuers_where(move |candidate| {
            admitted.read().unwrap().contains(candidate.issuer())
        })
        .tenant_of_request(move |request| hosts.get(request.host()?).cloned())
        .max_issuers(max_issuers);
        let template = Validator::builder().audience(DEFAULT_AUDIENCE);
        let validator = Validator::resolved_issuers(template, resolver).expect("valid");
        Tenants {
            app: app(validator.clone()),
            issuers,
            served,
            validator,
        }
    }

    fn token(&self, tenant: usize) -> String {
        self.issuers[tenant].token().sign()
    }

    async fn send(&self, host: &str, token: &str) -> Reply {
        let authorization = format!("Bearer {token}");
        get_with(
            &self.app,
            PRIVATE,
            &[
                (header::HOST, host.as_bytes()),
                (header::AUTHORIZATION, authorization.as_bytes()),
            ],
        )
        .await
    }

    fn jwks_fetches(&self) -> [usize; 3] {
        self.issuers.each_ref().map(TestIssuer::jwks_fetches)
    }
}

#[tokio::test]
async fn a_token_of_tenant_a_on_tenant_b_host_is_refused() {
    let f = Tenants::start(10).await;
    let token_a = f.token(0);
    let reply = f.send(HOSTS[0], &token_a).await;
    assert_eq!(reply.assert_ok()["iss"], f.issuers[0].issuer());

    f.send(HOSTS[1], &token_a)
        .await
        .assert_invalid_token_for(TokenProblem::WrongTenant);
    f.send("unknown.api.example", &token_a)
        .await
        .assert_invalid_token_for(TokenProblem::WrongTenant);
    // Without a request, the tenant of the request cannot be known: refused.
    let error = f.validator.validate(&token_a).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid token: the token's issuer is not the tenant this request is for"
    );
    assert_eq!(
        f.jwks_fetches(),
        [1, 0, 0],
        "B is never asked about A's token"
    );
    let explained = f.validator.explain(&token_a).await;
    let failure = explained.first_failure().expect("refused");
    assert_eq!(failure.name, "iss", "{explained}");
    assert!(
        failure.found.contains("not the tenant this request is for"),
        "{explained}"
    );
    assert!(
        failure
            .hint
            .as_deref()
            .unwrap_or("")
            .contains("another tenant"),
        "{explained}"
    );
}

#[tokio::test]
async fn a_tenant_added_while_running_is_accepted_and_one_removed_refused() {
    let f = Tenants::start(10).await;
    let token_c = f.token(2);
    f.send(HOSTS[2], &token_c)
        .await
        .assert_invalid_token_for(TokenProblem::WrongIssuer);
    assert_eq!(f.jwks_fetches(), [0, 0, 0]);
    assert_eq!(f.validator.issuer_count(), 0);

    f.served
        .write()
        .unwrap()
        .insert(f.issuers[2].issuer().into());
    let reply = f.send(HOSTS[2], &token_c).await;
    assert_eq!(reply.assert_ok()["iss"], f.issuers[2].issuer());
    assert_eq!(f.jwks_fetches(), [0, 0, 1]);
    assert_eq!(f.validator.issuer_count(), 1);

    // Removed: refused on the next request, its pipeline kept or not.
    f.served.write().unwrap().remove(f.issuers[2].issuer());
    f.send(HOSTS[2], &token_c)
        .await
        .assert_invalid_token_for(TokenProblem::WrongIssuer);
}

/// A token for `iss`, signed by nothing: the resolver decides before any signature.
fn unsigned_token(iss: &str) -> String {
    let header = br#"{"alg":"RS256","typ":"JWT","kid":"a-key"}"#;
    let payload = serde_json::json!({ "iss": iss, "aud": DEFAULT_AUDIENCE, "exp": 4102444800u64 });
    format!(
        "{}.{}.{}",
        b64(header),
        b64(payload.to_string()),
        b64("signature")
    )
}

#[tokio::test]
async fn a_flood_of_made_up_issuers_causes_no_fetch_and_no_growth() {
    let f = Tenants::start(10).await;
    // Had a made-up issuer been admitted, its discovery would come here.
    let trap = CountingServer::start("{}".into()).await;
    for i in 0..1000 {
        let iss = match i % 4 {
            0 => format!("{}/tenant-{i}/", trap.url),
            1 => format!("{}{i}", f.issuers[0].issuer()),
            2 => format!("https://tenant-{i}.login.example/"),
            _ => format!("not a URL {i}"),
        };
        f.send(HOSTS[i % 2], &unsigned_token(&iss))
            .await
            .assert_invalid_token_for(TokenProblem::WrongIssuer);
    }
    assert_eq!(trap.connections(), 0);
    assert_eq!(f.jwks_fetches(), [0, 0, 0]);
    assert_eq!(f.validator.key_stats().discovery_fetches, 0);
    assert_eq!(
        f.validator.issuer_count(),
        0,
        "nothing kept for an issuer not admitted"
    );
}

#[tokio::test]
async fn over_the_bound_the_least_recently_used_issuer_is_dropped_and_fetched_again() {
    let f = Tenants::start(2).await;
    f.served
        .write()
        .unwrap()
        .insert(f.issuers[2].issuer().into());
    let tokens: Vec<String> = (0..3).map(|tenant| f.token(tenant)).collect();
    for tenant in 0..3 {
        f.send(HOSTS[tenant], &tokens[tenant]).await.assert_ok();
        assert!(f.validator.issuer_count() <= 2);
    }
    assert_eq!(f.jwks_fetches(), [1, 1, 1]);
    assert_eq!(f.validator.issuer_count(), 2);
    // A was the least recently used: dropped for C, its keys fetched again.
    f.send(HOSTS[0], &tokens[0]).await.assert_ok();
    assert_eq!(f.jwks_fetches(), [2, 1, 1]);
    // That dropped B; C, used more recently, stays.
    f.send(HOSTS[2], &tokens[2]).await.assert_ok();
    assert_eq!(f.jwks_fetches(), [2, 1, 1]);
    f.send(HOSTS[1], &tokens[1]).await.assert_ok();
    assert_eq!(f.jwks_fetches(), [2, 2, 1]);
    assert_eq!(f.validator.issuer_count(), 2);
}

#[tokio::test]
async fn an_issuer_unused_for_its_idle_timeout_is_dropped() {
    let issuer = TestIssuer::start().await;
    let resolver =
        IssuerResolver::issuers([issuer.issuer()]).idle_timeout(Duration::from_millis(100));
    let template = Validator::builder().audience(DEFAULT_AUDIENCE);
    let validator = Validator::resolved_issuers(template, resolver).expect("valid");
    validator
        .validate(&issuer.token().sign())
        .await
        .expect("valid");
    assert_eq!(validator.issuer_count(), 1);
    // Expiry can only become more certain with time: a slow machine makes this no flakier.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(validator.issuer_count(), 0);
    validator
        .validate(&issuer.token().sign())
        .await
        .expect("valid");
    assert_eq!(issuer.jwks_fetches(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_traffic_across_tenants_builds_each_issuer_once() {
    let f = Arc::new(Tenants::start(10).await);
    f.served
        .write()
        .unwrap()
        .insert(f.issuers[2].issuer().into());
    let tokens: Arc<Vec<String>> = Arc::new((0..3).map(|tenant| f.token(tenant)).collect());
    // Every task's first request at once: the pipelines are built under contention.
    let start = Arc::new(tokio::sync::Barrier::new(12));
    let tasks: Vec<_> = (0..12)
        .map(|task| {
            let (f, tokens, start) = (Arc::clone(&f), Arc::clone(&tokens), Arc::clone(&start));
            tokio::spawn(async move {
                start.wait().await;
                for round in 0..20 {
                    let tenant = (task + round) % 3;
                    f.send(HOSTS[tenant], &tokens[tenant]).await.assert_ok();
                    let other = (tenant + 1) % 3;
                    f.send(HOSTS[other], &tokens[tenant])
                        .await
                        .assert_invalid_token_for(TokenProblem::WrongTenant);
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("no task panicked");
    }
    assert_eq!(
        f.jwks_fetches(),
        [1, 1, 1],
        "one pipeline, one fetch per issuer"
    );
    assert_eq!(f.validator.issuer_count(), 3);
}

#[tokio::test]
async fn a_resolved_issuer_keeps_the_alg_allow_list_before_any_key() {
    let f = Tenants::start(10).await;
    let token = f.issuers[0].token().hmac_with(vec![7u8; 32]).sign();
    f.send(HOSTS[0], &token)
        .await
        .assert_invalid_token_for(TokenProblem::AlgorithmNotAllowed);
    assert_eq!(f.jwks_fetches(), [0, 0, 0]);
    assert_eq!(
        StatusCode::UNAUTHORIZED,
        f.send(HOSTS[0], "x.y.z").await.status
    );
}

#[tokio::test]
async fn a_dpop_proof_stays_used_after_its_issuer_was_dropped() {
    const BASE: &str = "https://api.example.com";
    let a = TestIssuer::start().await;
    let b = TestIssuer::start().await;
    let resolver = IssuerResolver::issuers([a.issuer(), b.issuer()]).max_issuers(1);
    let template = Validator::builder()
        .audience(DEFAULT_AUDIENCE)
        .dpop(Dpop::required().public_url(BASE));
    let validator = Validator::resolved_issuers(template, resolver).expect("valid");
    let app = app(validator.clone());
    let dpop = |token: &str, proof: &str| {
        let authorization = format!("DPoP {token}");
        let app = app.clone();
        let proof = proof.to_owned();
        async move {
            let headers = [
                (header::AUTHORIZATION, authorization.as_bytes()),
                (HeaderName::from_static("dpop"), proof.as_bytes()),
            ];
            get_with(&app, PRIVATE, &headers).await
        }
    };
    let key = DpopProof::generate();
    let url = format!("{BASE}{PRIVATE}");
    let token_a = a.token().dpop_bound(&key.jkt()).sign();
    let proof_a = key.proof("GET", &url, &token_a);
    dpop(&token_a, &proof_a).await.assert_ok();
    let token_b = b.token().dpop_bound(&key.jkt()).sign();
    dpop(&token_b, &key.proof("GET", &url, &token_b))
        .await
        .assert_ok();
    assert_eq!(a.jwks_fetches(), 1);
    assert_eq!(validator.issuer_count(), 1, "A was dropped for B");

    let replayed = dpop(&token_a, &proof_a).await;
    assert_eq!(replayed.status, StatusCode::UNAUTHORIZED, "{replayed:#?}");
    assert_eq!(
        replayed.body["error_description"],
        AuthError::InvalidDpopProof(DpopProblem::Replayed).description()
    );
    assert_eq!(a.jwks_fetches(), 2, "A was built again");
}
