//! The issuer's key set: where it lives and how it is fetched (`fetch`), one fetched set and
//! its freshness (`snapshot`), the cache requests read it from (`cache`), what they count
//! (`stats`), and the key policy's verdict on each key of a set, for diagnosis (`inspect`).

mod cache;
mod fetch;
mod inspect;
mod snapshot;
mod stats;

pub(crate) use cache::JwksCache;
pub use fetch::KeyFetchError;
pub(crate) use fetch::{FetchLimits, Fetcher, JwksLocation};
pub use inspect::{DiscoveryUrls, InspectedKey, KeySetRefused, discovery_urls, inspect_key_set};
pub(crate) use snapshot::CacheSettings;
pub use snapshot::KeySetStatus;
pub(crate) use stats::Counters;
pub use stats::KeyStats;
