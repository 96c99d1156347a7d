//! The issuer's key set: where it lives and how it is fetched (`fetch`), the cache requests
//! read it from (`cache`), and what both count (`stats`).

mod cache;
mod fetch;
mod refresh;
mod stats;

pub use cache::KeySetStatus;
pub(crate) use cache::{CacheSettings, JwksCache};
pub use fetch::KeyFetchError;
pub(crate) use fetch::{FetchLimits, Fetcher, JwksLocation};
pub(crate) use stats::Counters;
pub use stats::KeyStats;
