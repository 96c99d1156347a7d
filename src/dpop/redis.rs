//! A DPoP replay store on a Redis (or Valkey) server (feature `redis`): several replicas of an
//! API that share one server refuse a proof replayed at any of them.
//!
//! One round trip per proof: `SET key 1 NX PX ttl` answers `OK` when the key was absent (the
//! proof is fresh) and nil when it is still there (a replay); the server forgets the key when
//! the proof's window ends. Each call is bounded by a timeout, connecting included; a failure
//! of any kind is a [`ReplayStoreError`], which the layer answers with 503 (fail closed).

use std::fmt;
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, RedisError, Value};
use futures_util::future::BoxFuture;

use super::replay::{ReplayKey, ReplayStore, ReplayStoreError, ReplayVerdict};

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
/// layer passes (`bearer-guard:dpop:` and a hash of the proof's `htu` and `jti`), so the store
/// can share a server with other data.
#[derive(Clone)]
pub struct RedisReplayStore {
    connection: ConnectionManager,
    timeout: Duration,
}

impl RedisReplayStore {
    /// The default bound on one call, connecting included.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(500);

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
        }
    }
}

impl fmt::Debug for RedisReplayStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The URL may hold a password: it is not kept, so it cannot be shown.
        f.debug_struct("RedisReplayStore")
            .field("timeout", &self.timeout)
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
            let command = set_if_absent(proof.key(), ttl);
            let reply =
                tokio::time::timeout(self.timeout, command.query_async::<Value>(&mut connection))
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
                Value::Okay => Ok(ReplayVerdict::Fresh),
                Value::Nil => Ok(ReplayVerdict::Replayed),
                other => Err(ReplayStoreError(format!(
                    "unexpected Redis reply to SET NX: {other:?}"
                ))),
            }
        })
    }
}

/// `SET key 1 NX PX ttl`: stores the key only when absent, for `ttl` rounded up to a whole
/// millisecond (at least one: Redis refuses `PX 0`).
fn set_if_absent(key: &str, ttl: Duration) -> ::redis::Cmd {
    let millis = u64::try_from(ttl.as_nanos().div_ceil(1_000_000))
        .unwrap_or(u64::MAX)
        .max(1);
    let mut command = ::redis::cmd("SET");
    command.arg(key).arg(1).arg("NX").arg("PX").arg(millis);
    command
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
}

impl fmt::Debug for RedisReplayStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisReplayStoreBuilder")
            .field("timeout", &self.timeout)
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
