//! The issuer's key set: where it lives and how it is fetched (`fetch`), one fetched set and
//! its freshness (`snapshot`), the cache requests read it from (`cache`), and what they
//! count (`stats`).

mod cache;
mod fetch;
mod snapshot;
mod stats;

pub(crate) use cache::JwksCache;
pub use fetch::KeyFetchError;
pub(crate) use fetch::{FetchLimits, Fetcher, JwksLocation};
pub(crate) use snapshot::CacheSettings;
pub use snapshot::KeySetStatus;
pub(crate) use stats::Counters;
pub use stats::KeyStats;
