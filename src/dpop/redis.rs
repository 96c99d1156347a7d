//! A DPoP replay store on a Redis (or Valkey) server (feature `redis`): several replicas of an
//! API that share one server refuse a proof replayed at any of them.
//!
//! One round trip per proof: a script (run atomically by the server) that answers "replayed"
//! when the proof's key is there, "full" when its proof key already holds its share of live
//! proofs, and otherwise records the proof (`SET key 1 PX ttl`) and counts it in its share (a
//! sorted set of expiry times per proof key, pruned as it is read); the server forgets both
//! when the proof's window ends. Each call is bounded by a timeout, connecting included; a
//! failure of any kind is a [`ReplayStoreError`], which the layer answers with 503 (fail
//! closed).

use std::fmt;
use std::sync::LazyLock;
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, RedisError, Script, Value};
use futures_util::future::BoxFuture;

use super::replay::{ReplayKey, ReplayStore, ReplayStoreError, ReplayVerdict};
use super::thumbprint::sha256_b64;

/// Records a proof once, within its proof key's share. `KEYS[1]`: the proof's key;
/// `KEYS[2]`: the share of its proof key, a sorted set of the proof keys it holds scored by
/// their expiry (the server's clock, in milliseconds). `ARGV[1]`: the proof's TTL in
/// milliseconds; `ARGV[2]`: the share. Answers 1 (fresh), 0 (replayed) or 2 (full).
///
/// The server's clock, not the replicas', ages the share, so replicas with skewed clocks
/// agree. The share's live members are counted before anything is written, and the proof's
/// `SET` is the script's first write: a server out of memory refuses that first write (`OOM`,
/// read as full) before the script has changed anything, which a prune written first would
/// prevent.
static RECORD_WITHIN_SHARE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
        if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
        local time = redis.call('TIME')
        local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
        if redis.call('ZCOUNT', KEYS[2], '(' .. now, '+inf') >= tonumber(ARGV[2]) then
            return 2
        end
        local ttl = tonumber(ARGV[1])
        redis.call('SET', KEYS[1], 1, 'PX', ttl)
        redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
        redis.call('ZADD', KEYS[2], now + ttl, KEYS[1])
        if redis.call('PTTL', KEYS[2]) < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end
        return 1
        ",
    )
});

/// A [`ReplayStore`] on a Redis (or Valkey) server, shared by every replica of an API.
///
/// The connection is multiplexed (one TCP connection carries the concurrent requests) and
/// managed: when it breaks, the failing call is refused and the next one reconnects. No call
/// waits longer than [the timeout](RedisReplayStoreBuilder::timeout), whatever the server
/// does; when the server cannot be reached the store answers an error, never a panic, and
/// the layer refuses the request with 503 unless configured to fail open.
///
/// ```no_run
/// use std::time::Duration;
/// use bearer_guard::dpop::RedisReplayStore;
///
/// # async fn demo() -> Result<(), bearer_guard::dpop::ReplayStoreError> {
/// // Connects now: a wrong URL or an unreachable server is reported at startup.
/// let store = RedisReplayStore::connect("redis://127.0.0.1:6379/").await?;
///
/// // Or connect on first use (the server may start after the API), with a tighter bound.
/// let store = RedisReplayStore::builder("redis://replay.internal:6379/")
///     .timeout(Duration::from_millis(200))
///     .connect_lazy()?;
/// # Ok(()) }
/// ```
///
/// The URL may carry credentials (`redis://:password@host/`) and a database number
/// (`redis://host/2`); neither is ever echoed in an error or in `Debug`. Keys are the ones the
/// layer passes (`bearer-guard:dpop:` and a hash of the proof's key thumbprint, `htu` and
/// `jti`) and one share per proof key (`bearer-guard:dpop-share:` and a hash of its
/// thumbprint), so the store can share a server with other data.
///
/// Each proof key (one client: a token is bound to one key) holds at most
/// [its share](RedisReplayStoreBuilder::share) of live proofs, across every replica: past it
/// the store answers [`ReplayVerdict::Full`] for that key only, so one client sending fresh
/// proofs at full speed cannot fill the server that every other client's proofs need.
///
/// It needs Redis 5 or later (or Valkey), and one server or primary: both keys of a proof are
/// written by one script, which Redis Cluster would refuse across hash slots.
#[derive(Clone)]
pub struct RedisReplayStore {
    connection: ConnectionManager,
    timeout: Duration,
    share: usize,
}

impl RedisReplayStore {
    /// The default bound on one call, connecting included.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(500);

    /// The default share of one proof key: 100,000 live proofs, a sustained ~300 proofs a
    /// second per client with the default 300 s `iat` window (a proof is kept up to 331 s),
    /// in at most ~20 MB of the server's memory per client.
    pub const DEFAULT_SHARE: usize = 100_000;

    /// Connects to the server at `url` (`redis://host:port/db`) with the default timeout.
    /// Fails when the URL is not a Redis URL or the server does not answer in time.
    pub async fn connect(url: &str) -> Result<Self, ReplayStoreError> {
        Self::builder(url).connect().await
    }

    /// A store for `url` with settings ([`RedisReplayStoreBuilder::timeout`]).
    pub fn builder(url: &str) -> RedisReplayStoreBuilder {
        RedisReplayStoreBuilder {
            url: url.to_owned(),
            timeout: Self::DEFAULT_TIMEOUT,
            share: Self::DEFAULT_SHARE,
        }
    }

    /// The most live proofs one proof key holds at once.
    pub fn share(&self) -> usize {
        self.share
    }
}

impl fmt::Debug for RedisReplayStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may hold a password: it is not kept, so it cannot be shown.
        f.debug_struct("RedisReplayStore")
            .field("timeout", &self.timeout)
            .field("share", &self.share)
            .finish_non_exhaustive()
    }
}

impl ReplayStore for RedisReplayStore {
    fn insert_once<'a>(
        &'a self,
        proof: &'a ReplayKey,
        ttl: Duration,
    ) -> BoxFuture<'a, Result<ReplayVerdict, ReplayStoreError>> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let mut invocation = RECORD_WITHIN_SHARE.prepare_invoke();
            invocation
                .key(proof.key())
                .key(share_key(proof.thumbprint()))
                .arg(ttl_millis(ttl))
                .arg(self.share);
            let reply = tokio::time::timeout(
                self.timeout,
                invocation.invoke_async::<Value>(&mut connection),
            )
            .await
            .map_err(|_| {
                ReplayStoreError(format!("Redis did not answer within {:?}", self.timeout))
            })?;
            let reply = match reply {
                Ok(reply) => reply,
                // The server is out of memory (`maxmemory` with `noeviction`): it cannot
                // record the proof, so the proof is refused like any full store's, never
                // failed open.
                Err(error) if is_out_of_memory(&error) => return Ok(ReplayVerdict::Full),
                Err(error) => return Err(redis_error(error)),
            };
            match reply {
                Value::Int(1) => Ok(ReplayVerdict::Fresh),
                Value::Int(0) => Ok(ReplayVerdict::Replayed),
                Value::Int(2) => Ok(ReplayVerdict::Full),
                other => Err(ReplayStoreError(format!(
                    "unexpected Redis reply to the replay script: {other:?}"
                ))),
            }
        })
    }
}

/// The key of a proof key's share: a hash of its thumbprint (bounded in length whatever a
/// custom caller passes as one).
fn share_key(thumbprint: &str) -> String {
    format!(
        "bearer-guard:dpop-share:{}",
        sha256_b64(thumbprint.as_bytes())
    )
}

/// `ttl` rounded up to a whole millisecond (at least one: Redis refuses `PX 0`).
fn ttl_millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_nanos().div_ceil(1_000_000))
        .unwrap_or(u64::MAX)
        .max(1)
}

/// `-OOM command not allowed when used memory > 'maxmemory'`.
fn is_out_of_memory(error: &RedisError) -> bool {
    error.code() == Some("OOM")
}

fn redis_error(error: RedisError) -> ReplayStoreError {
    ReplayStoreError(format!("Redis: {error}"))
}

/// Settings of a [`RedisReplayStore`], then [`connect`](Self::connect) or
/// [`connect_lazy`](Self::connect_lazy).
#[derive(Clone)]
pub struct RedisReplayStoreBuilder {
    url: String,
    timeout: Duration,
    share: usize,
}

impl fmt::Debug for RedisReplayStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisReplayStoreBuilder")
            .field("timeout", &self.timeout)
            .field("share", &self.share)
            .finish_non_exhaustive()
    }
}

impl RedisReplayStoreBuilder {
    /// The longest one call may take, connecting included (default
    /// [`RedisReplayStore::DEFAULT_TIMEOUT`]). A request waits at most this long for the
    /// store before it is refused (or let through, when the layer fails open).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How many live proofs one proof key may hold at once, across every replica (at least
    /// one; default [`RedisReplayStore::DEFAULT_SHARE`]): the proofs one client can send
    /// within one `iat` window. Past it that client's proofs are [`ReplayVerdict::Full`]
    /// (503) until its oldest ones expire; other clients are not affected.
    pub fn share(mut self, share: usize) -> Self {
        self.share = share.max(1);
        self
    }

    /// Connects now; fails when the URL is not a Redis URL or the server does not answer
    /// within the timeout.
    pub async fn connect(self) -> Result<RedisReplayStore, ReplayStoreError> {
        let (client, config) = self.parts()?;
        let connection = tokio::time::timeout(
            self.timeout,
            ConnectionManager::new_with_config(client, config),
        )
        .await
        .map_err(|_| ReplayStoreError(format!("Redis did not answer within {:?}", self.timeout)))?
        .map_err(redis_error)?;
        Ok(RedisReplayStore {
            connection,
            timeout: self.timeout,
            share: self.share,
        })
    }

    /// Connects on first use: the server may be down or not started yet (those calls fail
    /// until it answers). Fails only on a URL that is not a Redis URL, or when called outside
    /// a Tokio runtime (the connection's tasks run on the current one).
    pub fn connect_lazy(self) -> Result<RedisReplayStore, ReplayStoreError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(ReplayStoreError(
                "RedisReplayStore::connect_lazy must be called within a Tokio runtime".into(),
            ));
        }
        let (client, config) = self.parts()?;
        let connection =
            ConnectionManager::new_lazy_with_config(client, config).map_err(redis_error)?;
        Ok(RedisReplayStore {
            connection,
            timeout: self.timeout,
            share: self.share,
        })
    }

    fn parts(&self) -> Result<(Client, ConnectionManagerConfig), ReplayStoreError> {
        // Not `redis_error`: a parse error may quote the URL, and the URL may hold a password.
        let client = Client::open(self.url.as_str())
            .map_err(|error| ReplayStoreError(format!("not a Redis URL ({:?})", error.kind())))?;
        // No retry inside a call (a request never sleeps through a backoff): a call that
        // finds the connection broken fails, and the next one connects again.
        let config = ConnectionManagerConfig::new()
            .set_number_of_retries(0)
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        Ok((client, config))
    }
}
