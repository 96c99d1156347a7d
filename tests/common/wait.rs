//! Waiting for something to happen: the one bounded poll loop of the tests. A test waits on a
//! condition it can observe (a counter, a status) against a deadline, never for a fixed
//! sleep that a loaded machine may outlast.

use std::time::{Duration, Instant};

/// How often [`eventually`] looks.
pub const EVERY: Duration = Duration::from_millis(10);

/// Checks `condition` every `every` until it holds or `within` has passed: how long it took
/// to hold, or `None` if it never did.
pub async fn poll_every(
    every: Duration,
    within: Duration,
    mut condition: impl AsyncFnMut() -> bool,
) -> Option<Duration> {
    let started = Instant::now();
    loop {
        if condition().await {
            return Some(started.elapsed());
        }
        if started.elapsed() >= within {
            return None;
        }
        tokio::time::sleep(every).await;
    }
}

/// [`poll_every`] every [`EVERY`].
pub async fn eventually(
    within: Duration,
    condition: impl AsyncFnMut() -> bool,
) -> Option<Duration> {
    poll_every(EVERY, within, condition).await
}

/// Tries `attempt` every [`EVERY`] until it succeeds or `within` has passed: its value, or its
/// last error.
pub async fn retry<T, E>(
    within: Duration,
    mut attempt: impl AsyncFnMut() -> Result<T, E>,
) -> Result<T, E> {
    let started = Instant::now();
    loop {
        match attempt().await {
            Err(error) if started.elapsed() < within => {
                let _ = error;
                tokio::time::sleep(EVERY).await;
            }
            done => return done,
        }
    }
}
