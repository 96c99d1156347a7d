//! The tests that measure time: key sets refreshed ahead of expiry, refetch cooldowns, new
//! and retired keys under continuous traffic. Their assertions are bounds the configuration
//! promises (a cooldown, a time to live) plus a stated margin for the fetch itself, so they
//! run in a binary of their own, one test at a time ([`alone`]): nothing else in the process
//! takes the CPU whose timing they check.

#[path = "../common/mod.rs"]
mod common;
mod encrypted;
mod key_lifecycle;
mod key_management;
mod tenants;

/// Held by every test of this binary for its whole run.
static ALONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Waits until no other test of this binary runs; the test runs alone while it holds this.
pub async fn alone() -> tokio::sync::MutexGuard<'static, ()> {
    ALONE.lock().await
}

/// [`alone`] for a test that starts its own runtimes.
pub fn alone_blocking() -> tokio::sync::MutexGuard<'static, ()> {
    ALONE.blocking_lock()
}
