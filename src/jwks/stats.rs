//! What the key set cache counts: [`KeyStats`] for tests and health pages, and the same
//! events reported to the `metrics` facade.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::telemetry;

/// Counters of what the key set cache did, for metrics and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyStats {
    /// Requests for the key set document.
    pub jwks_fetches: u64,
    /// Requests for issuer metadata (OIDC discovery and RFC 8414).
    pub discovery_fetches: u64,
    /// Key set refreshes that failed (the previous key set stayed in use).
    pub failed_refreshes: u64,
    /// Revalidations answered `304 Not Modified`.
    pub not_modified: u64,
    /// Refreshes started because a token named an unknown `kid`.
    pub unknown_kid_refetches: u64,
    /// Requests that had to wait for a fetch (cold start or unknown `kid`).
    pub requests_waited: u64,
    /// Requests verified with a key set past its freshness (issuer unreachable).
    pub stale_serves: u64,
}

impl KeyStats {
    /// The sum of two counters, for several issuers.
    pub(crate) fn add(self, other: KeyStats) -> KeyStats {
        KeyStats {
            jwks_fetches: self.jwks_fetches + other.jwks_fetches,
            discovery_fetches: self.discovery_fetches + other.discovery_fetches,
            failed_refreshes: self.failed_refreshes + other.failed_refreshes,
            not_modified: self.not_modified + other.not_modified,
            unknown_kid_refetches: self.unknown_kid_refetches + other.unknown_kid_refetches,
            requests_waited: self.requests_waited + other.requests_waited,
            stale_serves: self.stale_serves + other.stale_serves,
        }
    }
}

/// What the cache counts; each event also goes to the `metrics` facade (feature `metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Event {
    JwksFetch,
    DiscoveryFetch,
    FailedRefresh,
    NotModified,
    UnknownKidRefetch,
    RequestWaited,
    StaleServe,
}

pub(crate) struct Counters {
    /// The issuer, as the `issuer` label of the metrics.
    pub(crate) issuer: Arc<str>,
    jwks_fetches: AtomicU64,
    discovery_fetches: AtomicU64,
    failed_refreshes: AtomicU64,
    not_modified: AtomicU64,
    unknown_kid_refetches: AtomicU64,
    requests_waited: AtomicU64,
    stale_serves: AtomicU64,
}

impl Counters {
    pub(crate) fn new(issuer: &str) -> Self {
        Counters {
            issuer: issuer.into(),
            jwks_fetches: AtomicU64::new(0),
            discovery_fetches: AtomicU64::new(0),
            failed_refreshes: AtomicU64::new(0),
            not_modified: AtomicU64::new(0),
            unknown_kid_refetches: AtomicU64::new(0),
            requests_waited: AtomicU64::new(0),
            stale_serves: AtomicU64::new(0),
        }
    }

    pub(crate) fn count(&self, event: Event) {
        let counter = match event {
            Event::JwksFetch => &self.jwks_fetches,
            Event::DiscoveryFetch => &self.discovery_fetches,
            Event::FailedRefresh => &self.failed_refreshes,
            Event::NotModified => &self.not_modified,
            Event::UnknownKidRefetch => &self.unknown_kid_refetches,
            Event::RequestWaited => &self.requests_waited,
            Event::StaleServe => &self.stale_serves,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        match event {
            Event::JwksFetch => telemetry::issuer_request(&self.issuer, "jwks"),
            Event::DiscoveryFetch => telemetry::issuer_request(&self.issuer, "discovery"),
            Event::StaleServe => telemetry::stale_serve(&self.issuer),
            Event::FailedRefresh
            | Event::NotModified
            | Event::UnknownKidRefetch
            | Event::RequestWaited => {}
        }
    }

    pub(crate) fn snapshot(&self) -> KeyStats {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        KeyStats {
            jwks_fetches: read(&self.jwks_fetches),
            discovery_fetches: read(&self.discovery_fetches),
            failed_refreshes: read(&self.failed_refreshes),
            not_modified: read(&self.not_modified),
            unknown_kid_refetches: read(&self.unknown_kid_refetches),
            requests_waited: read(&self.requests_waited),
            stale_serves: read(&self.stale_serves),
        }
    }
}
