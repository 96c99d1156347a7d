//! The `redis` replay store (feature `redis`) against a real Redis server started by the test
//! (`common::RedisServer`), never a mock: fresh then replayed, keys independent, two replicas
//! sharing one server, keys that expire with the window, a share per proof key that one
//! client fills for itself only, and an unreachable or silent server that is an error within
//! the timeout, never a hang or a panic.

use crate::common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use bearer_guard::dpop::{
    RedisReplayStore, ReplayKey, ReplayStore, ReplayStoreError, ReplayVerdict,
};
use common::RedisServer;

const WINDOW: Duration = Duration::from_secs(60);

/// The replay key of the proof `jti` of one client.
fn proof(jti: &str) -> ReplayKey {
    ReplayKey::new("client-jkt", "https://api.example.com/a", jti)
}

/// Whether `store` finds the proof `jti` fresh (`false`: a replay; never "full" here).
async fn fresh(
    store: &RedisReplayStore,
    jti: &str,
    ttl: Duration,
) -> Result<bool, ReplayStoreError> {
    let proof = proof(jti);
    match store.insert_once(&proof, ttl).await? {
        ReplayVerdict::Fresh => Ok(true),
        ReplayVerdict::Replayed => Ok(false),
        ReplayVerdict::Full => panic!("the test's server is never full"),
    }
}

async fn store(server: &RedisServer) -> RedisReplayStore {
    RedisReplayStore::connect(&server.url())
        .await
        .expect("the test's Redis server answers")
}

#[tokio::test]
async fn a_key_is_fresh_once_then_a_replay_and_keys_are_independent() {
    let server = RedisServer::start();
    let store = store(&server).await;

    assert!(fresh(&store, "a", WINDOW).await.unwrap());
    assert!(!fresh(&store, "a", WINDOW).await.unwrap());
    assert!(!fresh(&store, "a", WINDOW).await.unwrap());
    assert!(fresh(&store, "b", WINDOW).await.unwrap());
    assert!(!fresh(&store, "b", WINDOW).await.unwrap());
    assert_eq!(
        server.keys("bearer-guard:dpop:*").len(),
        2,
        "one key per proof"
    );
    assert_eq!(
        server.keys("bearer-guard:dpop-share:*").len(),
        1,
        "one share for the one client"
    );
    assert_eq!(server.key_count(), 3, "nothing else");
}

#[tokio::test]
async fn two_replicas_sharing_one_server_accept_a_key_once_between_them() {
    let server = RedisServer::start();
    let (first, second) = (store(&server).await, store(&server).await);

    assert!(fresh(&first, "seen", WINDOW).await.unwrap());
    assert!(!fresh(&second, "seen", WINDOW).await.unwrap());
    assert!(fresh(&second, "other", WINDOW).await.unwrap());
    assert!(!fresh(&first, "other", WINDOW).await.unwrap());

    // A race: the same key sent at once, many times, through both replicas; SET NX is atomic,
    // so exactly one call wins.
    let calls = (0..32).map(|i| {
        let replica = if i % 2 == 0 { &first } else { &second };
        fresh(replica, "raced", WINDOW)
    });
    let fresh = futures_util::future::join_all(calls)
        .await
        .into_iter()
        .map(|result| result.expect("the server answers"))
        .filter(|fresh| *fresh)
        .count();
    assert_eq!(
        fresh, 1,
        "exactly one of the concurrent calls finds the key fresh"
    );
}

#[tokio::test]
async fn a_key_lives_for_its_window_and_is_gone_after_it() {
    let server = RedisServer::start();
    let store = store(&server).await;

    assert!(fresh(&store, "long", WINDOW).await.unwrap());
    let ttl = server.pttl(proof("long").key());
    assert!(
        (WINDOW.as_millis() as i64 - 5_000..=WINDOW.as_millis() as i64).contains(&ttl),
        "PTTL {ttl} ms, not the window of {WINDOW:?}"
    );

    let short = Duration::from_millis(150);
    assert!(fresh(&store, "short", short).await.unwrap());
    assert!(server.pttl(proof("short").key()) > 0);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(server.pttl(proof("short").key()), -2, "the key is gone");
    assert!(
        fresh(&store, "short", short).await.unwrap(),
        "after its window a key is new again (the layer's iat check refuses the old proof)"
    );

    // Less than a millisecond still expires (Redis refuses `PX 0`).
    assert!(
        fresh(&store, "tiny", Duration::from_micros(10))
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(server.pttl(proof("tiny").key()), -2);
}

#[tokio::test]
async fn a_stopped_server_is_an_error_within_the_timeout_and_a_restarted_one_is_used_again() {
    let mut server = RedisServer::start();
    let timeout = Duration::from_millis(300);
    let store = RedisReplayStore::builder(&server.url())
        .timeout(timeout)
        .connect()
        .await
        .unwrap();
    assert!(fresh(&store, "before", WINDOW).await.unwrap());

    server.stop();
    for _ in 0..3 {
        let started = Instant::now();
        let error = fresh(&store, "during", WINDOW)
            .await
            .expect_err("no server, no answer");
        assert!(started.elapsed() < timeout + Duration::from_millis(500));
        assert!(
            error
                .to_string()
                .starts_with("the DPoP replay store failed: "),
            "{error}"
        );
    }
    // Connecting to a stopped server fails; a lazy store fails on use.
    assert!(RedisReplayStore::connect(&server.url()).await.is_err());
    let lazy = RedisReplayStore::builder(&server.url())
        .timeout(timeout)
        .connect_lazy()
        .expect("a lazy store does not connect yet");
    assert!(fresh(&lazy, "lazy", WINDOW).await.is_err());

    // The managed connection reconnects once the server is back (it is empty: not persisted).
    server.restart();
    let fresh_after = common::retry(Duration::from_secs(5), async || {
        fresh(&store, "after", WINDOW).await
    })
    .await;
    assert!(fresh_after.expect("reconnected"));
    assert!(fresh(&lazy, "lazy", WINDOW).await.unwrap());
}

#[tokio::test]
async fn a_server_that_never_answers_is_an_error_within_the_timeout() {
    // Accepts connections and reads nothing: neither the handshake nor the SET is answered.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}/", silent.local_addr().unwrap());
    let _held = std::thread::spawn(move || {
        let held: Vec<_> = silent.incoming().take(8).collect();
        std::thread::sleep(Duration::from_secs(10));
        drop(held);
    });

    let timeout = Duration::from_millis(200);
    let started = Instant::now();
    assert!(
        RedisReplayStore::builder(&url)
            .timeout(timeout)
            .connect()
            .await
            .is_err()
    );
    assert!(started.elapsed() < timeout + Duration::from_millis(500));

    let lazy = RedisReplayStore::builder(&url)
        .timeout(timeout)
        .connect_lazy()
        .unwrap();
    let started = Instant::now();
    assert!(fresh(&lazy, "silent", WINDOW).await.is_err());
    assert!(started.elapsed() < timeout + Duration::from_millis(500));
}

#[tokio::test]
async fn a_bad_url_is_refused_without_echoing_it() {
    for url in [
        "http://:s3cret@127.0.0.1/",
        "redis://:s3cret@[::1/",
        "not a url s3cret",
    ] {
        let error = RedisReplayStore::builder(url)
            .connect_lazy()
            .expect_err(url);
        assert!(!error.to_string().contains("s3cret"), "{error}");
    }
    let store = RedisReplayStore::builder("redis://:s3cret@127.0.0.1:1/")
        .connect_lazy()
        .unwrap();
    assert!(!format!("{store:?}").contains("s3cret"));
}

#[test]
fn connect_lazy_outside_a_runtime_is_an_error_not_a_panic() {
    let error = RedisReplayStore::builder("redis://127.0.0.1:1/")
        .connect_lazy()
        .expect_err("the connection's tasks need a Tokio runtime");
    assert!(error.to_string().contains("Tokio runtime"), "{error}");
}

/// A server out of memory (`maxmemory` with `noeviction`) cannot record a proof: that is
/// "full" (refused by the layer even when it fails open on errors), not a transport error.
#[tokio::test]
async fn a_server_out_of_memory_is_full_not_an_error() {
    let server = RedisServer::start();
    let store = store(&server).await;
    server.command(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
    server.command(&["CONFIG", "SET", "maxmemory", "1"]);
    let verdict = store.insert_once(&proof("oom"), WINDOW).await;
    assert_eq!(verdict.unwrap(), ReplayVerdict::Full);
    assert_eq!(server.key_count(), 0);
}

/// A store on `server` whose proof keys hold at most `share` live proofs each.
async fn store_with_share(server: &RedisServer, share: usize) -> RedisReplayStore {
    RedisReplayStore::builder(&server.url())
        .share(share)
        .connect()
        .await
        .expect("the test's Redis server answers")
}

/// What `store` answers for the proof `jti` of the client `jkt`.
async fn verdict(store: &RedisReplayStore, jkt: &str, jti: &str, ttl: Duration) -> ReplayVerdict {
    let proof = ReplayKey::new(jkt, "https://api.example.com/a", jti);
    store
        .insert_once(&proof, ttl)
        .await
        .expect("the server answers")
}

#[tokio::test]
async fn one_key_fills_its_own_share_across_replicas_and_no_one_elses() {
    let server = RedisServer::start();
    let (first, second) = (
        store_with_share(&server, 5).await,
        store_with_share(&server, 5).await,
    );
    assert_eq!(first.share(), 5);
    assert_eq!(
        RedisReplayStore::connect(&server.url())
            .await
            .unwrap()
            .share(),
        RedisReplayStore::DEFAULT_SHARE
    );

    // The share counts across replicas: three proofs at one, two at the other.
    for jti in ["1", "2", "3"] {
        assert_eq!(
            verdict(&first, "abuser", jti, WINDOW).await,
            ReplayVerdict::Fresh
        );
    }
    for jti in ["4", "5"] {
        assert_eq!(
            verdict(&second, "abuser", jti, WINDOW).await,
            ReplayVerdict::Fresh
        );
    }
    for store in [&first, &second] {
        assert_eq!(
            verdict(store, "abuser", "6", WINDOW).await,
            ReplayVerdict::Full
        );
    }
    // A replay is still a replay, not "full"; and a refused proof was not recorded.
    assert_eq!(
        verdict(&first, "abuser", "1", WINDOW).await,
        ReplayVerdict::Replayed
    );
    assert_eq!(server.keys("bearer-guard:dpop:*").len(), 5);

    // Another client's proofs are untouched: all of its own share, at either replica.
    for jti in ["1", "2", "3", "4", "5"] {
        assert_eq!(
            verdict(&second, "polite", jti, WINDOW).await,
            ReplayVerdict::Fresh
        );
    }
    assert_eq!(
        verdict(&first, "polite", "6", WINDOW).await,
        ReplayVerdict::Full
    );
}

#[tokio::test]
async fn a_share_frees_as_its_proofs_expire_and_is_gone_with_the_last() {
    let server = RedisServer::start();
    let store = store_with_share(&server, 2).await;
    let short = Duration::from_millis(300);

    assert_eq!(
        verdict(&store, "client", "a", short).await,
        ReplayVerdict::Fresh
    );
    assert_eq!(
        verdict(&store, "client", "b", WINDOW).await,
        ReplayVerdict::Fresh
    );
    assert_eq!(
        verdict(&store, "client", "c", WINDOW).await,
        ReplayVerdict::Full
    );
    let share = server.keys("bearer-guard:dpop-share:*");
    assert_eq!(share.len(), 1, "{share:?}");
    let ttl = server.pttl(&share[0]);
    assert!(
        (WINDOW.as_millis() as i64 - 5_000..=WINDOW.as_millis() as i64).contains(&ttl),
        "the share lives as long as its longest proof: PTTL {ttl} ms"
    );

    // Once "a" has expired, its place is free again (and only one place).
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match verdict(&store, "client", "c", WINDOW).await {
            ReplayVerdict::Fresh => break,
            ReplayVerdict::Full if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => panic!("{other:?} after the first proof's window"),
        }
    }
    assert_eq!(
        verdict(&store, "client", "d", WINDOW).await,
        ReplayVerdict::Full
    );

    // A share whose proofs have all expired is gone from the server with them.
    let server = RedisServer::start();
    let store = store_with_share(&server, 2).await;
    assert_eq!(
        verdict(&store, "client", "a", short).await,
        ReplayVerdict::Fresh
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while server.key_count() > 0 {
        assert!(Instant::now() < deadline, "{:?}", server.keys("*"));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The share is checked and taken in one atomic script: proofs of one key sent at once
/// through two replicas never get more than the share between them.
#[tokio::test]
async fn concurrent_proofs_of_one_key_never_exceed_its_share() {
    let server = RedisServer::start();
    let (first, second) = (
        store_with_share(&server, 10).await,
        store_with_share(&server, 10).await,
    );
    let calls = (0..64).map(|i| {
        let replica = if i % 2 == 0 { &first } else { &second };
        async move { verdict(replica, "racer", &i.to_string(), WINDOW).await }
    });
    let verdicts = futures_util::future::join_all(calls).await;
    let count = |wanted| verdicts.iter().filter(|v| **v == wanted).count();
    assert_eq!(count(ReplayVerdict::Fresh), 10, "{verdicts:?}");
    assert_eq!(count(ReplayVerdict::Full), 54, "{verdicts:?}");
    assert_eq!(server.keys("bearer-guard:dpop:*").len(), 10);
}
