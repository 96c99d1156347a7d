//! The `redis` replay store (feature `redis`) against a real Redis server started by the test
//! (`common::RedisServer`), never a mock: fresh then replayed, keys independent, two replicas
//! sharing one server, keys that expire with the window, and an unreachable or silent server
//! that is an error within the timeout, never a hang or a panic.

use crate::common;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use bearer_guard::dpop::{RedisReplayStore, ReplayStore};
use common::RedisServer;

const WINDOW: Duration = Duration::from_secs(60);

async fn store(server: &RedisServer) -> RedisReplayStore {
    RedisReplayStore::connect(&server.url())
        .await
        .expect("the test's Redis server answers")
}

#[tokio::test]
async fn a_key_is_fresh_once_then_a_replay_and_keys_are_independent() {
    let server = RedisServer::start();
    let store = store(&server).await;

    assert!(
        store
            .insert_once("bearer-guard:dpop:a", WINDOW)
            .await
            .unwrap()
    );
    assert!(
        !store
            .insert_once("bearer-guard:dpop:a", WINDOW)
            .await
            .unwrap()
    );
    assert!(
        !store
            .insert_once("bearer-guard:dpop:a", WINDOW)
            .await
            .unwrap()
    );
    assert!(
        store
            .insert_once("bearer-guard:dpop:b", WINDOW)
            .await
            .unwrap()
    );
    assert!(
        !store
            .insert_once("bearer-guard:dpop:b", WINDOW)
            .await
            .unwrap()
    );
    assert_eq!(server.key_count(), 2);
}

#[tokio::test]
async fn two_replicas_sharing_one_server_accept_a_key_once_between_them() {
    let server = RedisServer::start();
    let (first, second) = (store(&server).await, store(&server).await);

    assert!(
        first
            .insert_once("bearer-guard:dpop:seen", WINDOW)
            .await
            .unwrap()
    );
    assert!(
        !second
            .insert_once("bearer-guard:dpop:seen", WINDOW)
            .await
            .unwrap()
    );
    assert!(
        second
            .insert_once("bearer-guard:dpop:other", WINDOW)
            .await
            .unwrap()
    );
    assert!(
        !first
            .insert_once("bearer-guard:dpop:other", WINDOW)
            .await
            .unwrap()
    );

    // A race: the same key sent at once, many times, through both replicas; SET NX is atomic,
    // so exactly one call wins.
    let calls = (0..32).map(|i| {
        let replica = if i % 2 == 0 { &first } else { &second };
        replica.insert_once("bearer-guard:dpop:raced", WINDOW)
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

    assert!(
        store
            .insert_once("bearer-guard:dpop:long", WINDOW)
            .await
            .unwrap()
    );
    let ttl = server.pttl("bearer-guard:dpop:long");
    assert!(
        (WINDOW.as_millis() as i64 - 5_000..=WINDOW.as_millis() as i64).contains(&ttl),
        "PTTL {ttl} ms, not the window of {WINDOW:?}"
    );

    let short = Duration::from_millis(150);
    assert!(
        store
            .insert_once("bearer-guard:dpop:short", short)
            .await
            .unwrap()
    );
    assert!(server.pttl("bearer-guard:dpop:short") > 0);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        server.pttl("bearer-guard:dpop:short"),
        -2,
        "the key is gone"
    );
    assert!(
        store
            .insert_once("bearer-guard:dpop:short", short)
            .await
            .unwrap(),
        "after its window a key is new again (the layer's iat check refuses the old proof)"
    );

    // Less than a millisecond still expires (Redis refuses `PX 0`).
    assert!(
        store
            .insert_once("bearer-guard:dpop:tiny", Duration::from_micros(10))
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(server.pttl("bearer-guard:dpop:tiny"), -2);
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
    assert!(
        store
            .insert_once("bearer-guard:dpop:before", WINDOW)
            .await
            .unwrap()
    );

    server.stop();
    for _ in 0..3 {
        let started = Instant::now();
        let error = store
            .insert_once("bearer-guard:dpop:during", WINDOW)
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
    assert!(
        lazy.insert_once("bearer-guard:dpop:lazy", WINDOW)
            .await
            .is_err()
    );

    // The managed connection reconnects once the server is back (it is empty: not persisted).
    server.restart();
    let fresh = common::retry(Duration::from_secs(5), async || {
        store.insert_once("bearer-guard:dpop:after", WINDOW).await
    })
    .await;
    assert!(fresh.expect("reconnected"));
    assert!(
        lazy.insert_once("bearer-guard:dpop:lazy", WINDOW)
            .await
            .unwrap()
    );
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
    assert!(
        lazy.insert_once("bearer-guard:dpop:silent", WINDOW)
            .await
            .is_err()
    );
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
