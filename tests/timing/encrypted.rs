//! Encrypted access tokens under continuous traffic: the API's decryption key rotates (both
//! keys configured, clients moving from the old to the new one) while the issuer rotates its
//! signing key and then fails for a while. What decryption adds must not change how the key
//! set lives: a token of the new signing key is accepted within one cooldown and a fetch,
//! tokens already seen keep passing while the issuer fails, and nothing is a 500.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::common::{Fixture, PRIVATE};
use bearer_guard::jwe::{ContentEncryption, KeyEncryption};
use bearer_guard::testing::{DecryptionKeyPair, EncryptionKey, Fault, SigningKey};
use http::StatusCode;
use serde_json::json;

const COOLDOWN: Duration = Duration::from_secs(1);
/// Time for a fetch on loopback on a busy machine, beyond the cooldown.
const FETCH_MARGIN: Duration = Duration::from_millis(500);
const TASKS: usize = 3;

/// What the traffic saw: when each request was sent, its token and its answer.
type Seen = Arc<Mutex<Vec<(Instant, Arc<str>, StatusCode)>>>;

/// Three tasks send encrypted tokens. Phase 1: tokens encrypted to the old decryption key.
/// Phase 2: clients encrypt to the new key and the issuer signs with a new key. Phase 3: the
/// issuer answers 503. Asserted: every request before the rotation and every request of a
/// token seen before the outage passes; the new signing key's token is refused (401, never
/// 500) only until one cooldown and a fetch after the rotation; the issuer's key set is
/// fetched at most once per cooldown plus the edges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_tokens_live_through_key_rotations_and_an_issuer_outage() {
    let _alone = crate::alone().await;
    let hard_limit = Instant::now() + Duration::from_secs(30);
    let (old, new) = (
        DecryptionKeyPair::generate("enc-old"),
        DecryptionKeyPair::generate("enc-new"),
    );
    let set = json!({"keys": [old.private_jwk(), new.private_jwk()]}).to_string();
    let fixture = Fixture::start_with(|builder| {
        builder
            .decryption_keys_jwk_set(set)
            .refetch_cooldown(COOLDOWN)
    })
    .await;
    let fixture = Arc::new(fixture);
    let encrypt = |fixture: &Fixture, key: &EncryptionKey| {
        let (alg, enc) = (KeyEncryption::RsaOaep256, ContentEncryption::A256Gcm);
        fixture.issuer.token().encrypt_to(key, alg, enc).sign()
    };
    let first = encrypt(&fixture, &old.encryption_key());
    assert_eq!(fixture.send(PRIVATE, &first).await.status, StatusCode::OK);
    let fetches_before = fixture.issuer.jwks_fetches();

    // The token each task sends now: the same for all, changed by the phases.
    let current: Arc<RwLock<String>> = Arc::new(RwLock::new(first.clone()));
    let seen: Seen = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let began = Instant::now();
    let mut traffic = tokio::task::JoinSet::new();
    for _ in 0..TASKS {
        let (fixture, current, seen, stop) = (
            Arc::clone(&fixture),
            Arc::clone(&current),
            Arc::clone(&seen),
            Arc::clone(&stop),
        );
        traffic.spawn(async move {
            while !stop.load(Ordering::Relaxed) && Instant::now() < hard_limit {
                let token: Arc<str> = current.read().unwrap().as_str().into();
                let sent = Instant::now();
                let status = fixture.send(PRIVATE, &token).await.status;
                seen.lock().unwrap().push((sent, token, status));
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
    }

    tokio::time::sleep(Duration::from_millis(300)).await;
    fixture.issuer.rotate_to(SigningKey::pooled("key-2"));
    let rotated = Instant::now();
    let second = encrypt(&fixture, &new.encryption_key());
    *current.write().unwrap() = second.clone();
    tokio::time::sleep(COOLDOWN + FETCH_MARGIN + Duration::from_millis(300)).await;
    let outage = Instant::now();
    fixture.issuer.set_fault(Some(Fault::Status(503)));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    stop.store(true, Ordering::Relaxed);
    while let Some(task) = traffic.join_next().await {
        task.expect("no traffic task panicked");
    }
    let ended = Instant::now();

    let seen = seen.lock().unwrap();
    assert!(seen.len() > 100, "traffic ran: {} requests", seen.len());
    for (sent, token, status) in seen.iter() {
        let late = sent.saturating_duration_since(rotated) > COOLDOWN + FETCH_MARGIN;
        if **token == *first || late {
            assert_eq!(
                *status,
                StatusCode::OK,
                "{:?} after the start",
                *sent - began
            );
        } else {
            assert!(
                [StatusCode::OK, StatusCode::UNAUTHORIZED].contains(status),
                "{status} for the new signing key's first token"
            );
        }
    }
    assert!(
        seen.iter()
            .any(|(sent, token, _)| **token == *second && *sent > outage),
        "the new token was sent during the outage"
    );
    let fetches = fixture.issuer.jwks_fetches() - fetches_before;
    let bound = 2 * (ended - began).as_secs_f64().ceil() as usize + 3;
    assert!(
        (1..=bound).contains(&fetches),
        "{fetches} key set fetches in {:?} (bound {bound})",
        ended - began
    );
}
