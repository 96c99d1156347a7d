//! Two replicas of one API ("two validators, two routers") sharing one real Redis server as
//! their DPoP replay store (feature `redis`): a proof used at one replica is refused at the
//! other; the key lives as long as the proof could pass; one client's share is counted across
//! replicas and leaves the others untouched; a stopped server answers 503 (fail closed) or
//! lets the proof through when the API fails open.

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use bearer_guard::dpop::{Dpop, RedisReplayStore, ReplayStore};
use bearer_guard::error::DpopProblem;
use bearer_guard::testing::{DpopProof, TestIssuer};
use common::{PRIVATE, RedisServer, Reply, app, get_with};
use http::{HeaderName, StatusCode, header};

const PUBLIC_URL: &str = "https://api.example.com";

/// One replica: a validator for `issuer` whose replay store is `store`, behind the fixture
/// router.
fn replica(issuer: &TestIssuer, dpop: Dpop, store: Option<Arc<dyn ReplayStore>>) -> Router {
    let dpop = dpop.public_url(PUBLIC_URL);
    let dpop = match store {
        Some(store) => dpop.replay_store(store),
        None => dpop,
    };
    app(issuer
        .validator()
        .dpop(dpop)
        .build()
        .expect("valid configuration"))
}

async fn redis_store(server: &RedisServer) -> Arc<dyn ReplayStore> {
    Arc::new(
        RedisReplayStore::connect(&server.url())
            .await
            .expect("Redis answers"),
    )
}

/// `GET /api/private` with `Authorization: DPoP {token}` and `DPoP: {proof}`.
async fn call(app: &Router, token: &str, proof: &str) -> Reply {
    let authorization = format!("DPoP {token}");
    let headers = [
        (header::AUTHORIZATION, authorization.as_bytes()),
        (HeaderName::from_static("dpop"), proof.as_bytes()),
    ];
    get_with(app, PRIVATE, &headers).await
}

/// A key, a token bound to it, and a function that signs a fresh proof for `/api/private`.
fn bound_token(issuer: &TestIssuer) -> (String, impl Fn() -> String + use<>) {
    let key = DpopProof::generate();
    let token = issuer.token().dpop_bound(&key.jkt()).sign();
    let for_token = token.clone();
    let url = format!("{PUBLIC_URL}{PRIVATE}");
    (token, move || key.proof("GET", &url, &for_token))
}

fn assert_replayed(reply: &Reply) {
    common::assert_no_store(reply);
    assert_eq!(
        reply.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        reply.summary()
    );
    assert_eq!(
        reply.body["error"],
        "invalid_dpop_proof",
        "{}",
        reply.summary()
    );
    assert_eq!(
        reply.body["error_description"],
        DpopProblem::Replayed.to_string(),
        "{}",
        reply.summary()
    );
    // The DPoP challenge carries the error (beside a bare `Bearer` one in `allowed` mode).
    let challenges: Vec<&str> = reply
        .headers
        .get_all(header::WWW_AUTHENTICATE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .collect();
    assert!(
        challenges
            .iter()
            .any(|c| c.starts_with("DPoP") && c.contains("error=\"invalid_dpop_proof\"")),
        "{challenges:?}"
    );
}

#[tokio::test]
async fn a_proof_used_at_one_replica_is_refused_at_the_other() {
    let issuer = TestIssuer::start().await;
    let server = RedisServer::start();
    let first = replica(&issuer, Dpop::allowed(), Some(redis_store(&server).await));
    let second = replica(&issuer, Dpop::allowed(), Some(redis_store(&server).await));
    let (token, fresh_proof) = bound_token(&issuer);

    let proof = fresh_proof();
    let reply = call(&first, &token, &proof).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.summary());
    assert_replayed(&call(&second, &token, &proof).await);
    assert_replayed(&call(&first, &token, &proof).await);

    // Fresh proofs of the same key pass at either replica, once each.
    let proof = fresh_proof();
    assert_eq!(call(&second, &token, &proof).await.status, StatusCode::OK);
    assert_replayed(&call(&first, &token, &proof).await);
    assert_eq!(
        server.keys("bearer-guard:dpop:*").len(),
        2,
        "one key per proof"
    );

    // Without a shared store, each replica remembers only its own proofs: the replay at the
    // other replica passes. This is what the Redis store is for.
    let alone = [
        replica(&issuer, Dpop::allowed(), None),
        replica(&issuer, Dpop::allowed(), None),
    ];
    let proof = fresh_proof();
    assert_eq!(call(&alone[0], &token, &proof).await.status, StatusCode::OK);
    assert_eq!(call(&alone[1], &token, &proof).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_proof_is_remembered_for_its_iat_window_and_no_longer() {
    let issuer = TestIssuer::start().await;
    let server = RedisServer::start();
    let store = redis_store(&server).await;
    let (token, fresh_proof) = bound_token(&issuer);

    // The default window: a fresh proof's key lives about 300 s (`iat` + 300 s + the second
    // in which it still passes - now).
    let api = replica(&issuer, Dpop::allowed(), Some(store.clone()));
    assert_eq!(
        call(&api, &token, &fresh_proof()).await.status,
        StatusCode::OK
    );
    let ttl = server.pttl(&only_key(&server));
    assert!((295_000..=301_000).contains(&ttl), "PTTL {ttl} ms");

    // A 2 s window: the key is gone when the proof's `iat` is too old to pass anyway.
    let server = RedisServer::start();
    let short = Dpop::allowed().iat_window(Duration::from_secs(2), Duration::from_secs(2));
    let api = replica(&issuer, short, Some(redis_store(&server).await));
    let proof = fresh_proof();
    assert_eq!(call(&api, &token, &proof).await.status, StatusCode::OK);
    let key = only_key(&server);
    let ttl = server.pttl(&key);
    assert!(
        (0..=3_000).contains(&ttl),
        "PTTL {ttl} ms, not the 2 s window (and the second it still passes in)"
    );
    assert_replayed(&call(&api, &token, &proof).await);
    tokio::time::sleep(Duration::from_millis(ttl as u64 + 300)).await;
    assert_eq!(server.pttl(&key), -2, "the key expired with the window");
    let late = call(&api, &token, &proof).await;
    assert_eq!(late.status, StatusCode::UNAUTHORIZED, "{}", late.summary());
    assert_eq!(late.body["error"], "invalid_dpop_proof");
    assert_ne!(
        late.body["error_description"],
        DpopProblem::Replayed.to_string(),
        "once forgotten, the proof is refused for its age"
    );
}

#[tokio::test]
async fn a_stopped_redis_answers_503_unless_the_api_fails_open() {
    let issuer = TestIssuer::start().await;
    let mut server = RedisServer::start();
    let timeout = Duration::from_millis(300);
    let store: Arc<dyn ReplayStore> = Arc::new(
        RedisReplayStore::builder(&server.url())
            .timeout(timeout)
            .connect()
            .await
            .unwrap(),
    );
    let closed = replica(&issuer, Dpop::allowed(), Some(store.clone()));
    let open = replica(
        &issuer,
        Dpop::allowed().replay_store_fail_open(),
        Some(store),
    );
    let (token, fresh_proof) = bound_token(&issuer);
    assert_eq!(
        call(&closed, &token, &fresh_proof()).await.status,
        StatusCode::OK
    );

    server.stop();
    let reply = call(&closed, &token, &fresh_proof()).await;
    assert_eq!(
        reply.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        reply.summary()
    );
    assert!(
        reply.header(header::RETRY_AFTER).is_some(),
        "{}",
        reply.summary()
    );
    assert_eq!(
        reply.challenge, None,
        "not the client's fault: no challenge"
    );
    let reply = call(&open, &token, &fresh_proof()).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "fails open: {}",
        reply.summary()
    );
    // Bearer tokens never touch the store.
    let bearer = issuer.token().sign();
    let reply = common::send_token(&closed, PRIVATE, &bearer).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.summary());

    server.restart();
    let mut reply = call(&closed, &token, &fresh_proof()).await;
    for _ in 0..50 {
        if reply.status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        reply = call(&closed, &token, &fresh_proof()).await;
    }
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "after the restart: {}",
        reply.summary()
    );
}

/// The share per client across replicas, under traffic: an abusive client sends fresh proofs
/// from three tasks, alternating between two replicas, well past its share, while two
/// well-behaved clients send a request every 5 ms to either replica. The abuser gets exactly
/// its share between both replicas and 503 after it; every well-behaved request passes,
/// before and after the abuser is cut off. Before the share, the abuser could fill the
/// server every replica's proofs need. Bounded: 300 abusive requests, in process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abusive_client_gets_its_share_across_replicas_and_no_one_elses() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    const SHARE: usize = 100;
    const ABUSIVE_REQUESTS: usize = 300;
    let issuer = TestIssuer::start().await;
    let server = RedisServer::start();
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let store = RedisReplayStore::builder(&server.url())
            .share(SHARE)
            .connect()
            .await
            .expect("Redis answers");
        replicas.push(replica(&issuer, Dpop::allowed(), Some(Arc::new(store))));
    }
    let replicas = Arc::new(replicas);
    let (abusive_token, abusive_proof) = bound_token(&issuer);
    let abusive_proof = Arc::new(abusive_proof);
    let sent = Arc::new(AtomicUsize::new(0));
    let (passed, refused) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let done = Arc::new(AtomicBool::new(false));
    let abusive: Vec<_> = (0..3)
        .map(|_| {
            let (replicas, token, proof) = (
                replicas.clone(),
                abusive_token.clone(),
                abusive_proof.clone(),
            );
            let (sent, passed, refused) = (sent.clone(), passed.clone(), refused.clone());
            tokio::spawn(async move {
                loop {
                    let n = sent.fetch_add(1, SeqCst);
                    if n >= ABUSIVE_REQUESTS {
                        break;
                    }
                    let reply = call(&replicas[n % 2], &token, &proof()).await;
                    match reply.status {
                        StatusCode::OK => passed.fetch_add(1, SeqCst),
                        StatusCode::SERVICE_UNAVAILABLE => refused.fetch_add(1, SeqCst),
                        other => panic!("the abuser got {other}: {}", reply.summary()),
                    };
                }
            })
        })
        .collect();
    let polite: Vec<_> = (0..2)
        .map(|_| {
            let (replicas, refused, done) = (replicas.clone(), refused.clone(), done.clone());
            let (token, proof) = bound_token(&issuer);
            tokio::spawn(async move {
                let mut pace = tokio::time::interval(Duration::from_millis(5));
                let (mut sent, mut after_cutoff) = (0, 0);
                // On past the abuser's end until one request went after its cutoff; bounded,
                // for a run in which the abuser is never cut off (the assertion below fails).
                let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
                while (!done.load(SeqCst) || after_cutoff == 0)
                    && tokio::time::Instant::now() < deadline
                {
                    pace.tick().await;
                    let cut_off = refused.load(SeqCst) > 0;
                    let reply = call(&replicas[sent % 2], &token, &proof()).await;
                    assert_eq!(
                        reply.status,
                        StatusCode::OK,
                        "a well-behaved request: {}",
                        reply.summary()
                    );
                    sent += 1;
                    after_cutoff += usize::from(cut_off);
                }
                (sent, after_cutoff)
            })
        })
        .collect();
    for task in abusive {
        task.await.unwrap();
    }
    done.store(true, SeqCst);
    for task in polite {
        let (sent, after_cutoff) = task.await.unwrap();
        assert!(
            sent > 0 && after_cutoff > 0,
            "{sent} sent, {after_cutoff} after the cutoff"
        );
    }
    assert_eq!(
        passed.load(SeqCst),
        SHARE,
        "the abuser's share, between both replicas"
    );
    assert_eq!(refused.load(SeqCst), ABUSIVE_REQUESTS - SHARE);
}

/// The one replay key the server holds.
fn only_key(server: &RedisServer) -> String {
    let keys = server.keys("bearer-guard:dpop:*");
    assert_eq!(keys.len(), 1, "{keys:?}");
    keys.into_iter().next().unwrap()
}
