//! Waiting on a condition, never on a fixed sleep: polled until it holds or a deadline passes.

use std::time::{Duration, Instant};

/// Polls `condition` every 20 ms until it holds or `within` passes; whether it held.
pub async fn eventually(within: Duration, mut condition: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if condition().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
