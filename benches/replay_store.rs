//! What recording a DPoP proof costs in each replay store: the memory store (in process), and
//! on a real Redis server started here (never a mock) the bare `SET key 1 NX PX ttl` (the
//! floor: one command, one round trip, no share) against `RedisReplayStore`'s script, which
//! also checks and takes the proof key's share in the same round trip.
//!
//! ```text
//! cargo bench --bench replay_store
//! ```
//!
//! Every call records a new proof (a new `jti`) of one proof key whose share is larger than
//! the run, so each one is a fresh insert that counts in its share.

// The tests' Redis server: started on a free loopback port, killed on drop.
#[allow(dead_code)] // the bench uses a part of what the tests do with it
#[path = "../tests/common/redis_server.rs"]
mod redis_server;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bearer_guard::dpop::{
    MemoryReplayStore, RedisReplayStore, ReplayKey, ReplayStore, ReplayVerdict,
};
use criterion::Criterion;
use redis_server::RedisServer;

const JKT: &str = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
const HTU: &str = "https://api.example.com/api/private";
const TTL: Duration = Duration::from_secs(331);
/// More proofs than any run records: the share never refuses one.
const SHARE: usize = 50_000_000;

/// A new proof of the one proof key each call.
fn next_proof(counter: &AtomicU64) -> ReplayKey {
    let jti = counter.fetch_add(1, Ordering::Relaxed);
    ReplayKey::new(JKT, HTU, &jti.to_string())
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = RedisServer::start();
    let store = rt
        .block_on(
            RedisReplayStore::builder(&server.url())
                .share(SHARE)
                .connect(),
        )
        .expect("the bench's Redis server answers");
    let client = redis::Client::open(server.url()).unwrap();
    let mut connection = rt
        .block_on(client.get_multiplexed_async_connection())
        .unwrap();
    let memory = MemoryReplayStore::with_capacity(SHARE).with_share(SHARE);
    let counter = AtomicU64::new(0);

    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let mut group = c.benchmark_group("replay_store");
    group.bench_function("memory_store", |b| {
        b.iter(|| {
            let verdict = rt.block_on(memory.insert_once(&next_proof(&counter), TTL));
            assert_eq!(verdict.unwrap(), ReplayVerdict::Fresh);
        })
    });
    group.bench_function("redis_set_nx_px_floor", |b| {
        b.iter(|| {
            let proof = next_proof(&counter);
            let reply: redis::Value = rt
                .block_on(
                    redis::cmd("SET")
                        .arg(proof.key())
                        .arg(1)
                        .arg("NX")
                        .arg("PX")
                        .arg(TTL.as_millis() as u64)
                        .query_async(&mut connection),
                )
                .unwrap();
            assert_eq!(reply, redis::Value::Okay);
        })
    });
    group.bench_function("redis_store_with_share", |b| {
        b.iter(|| {
            let verdict = rt.block_on(store.insert_once(&next_proof(&counter), TTL));
            assert_eq!(verdict.unwrap(), ReplayVerdict::Fresh);
        })
    });
    group.finish();
    c.final_summary();
}
