//! The one support tree of the integration tests: the module `common` of `tests/suite/main.rs`
//! (each test module reaches it with `use crate::common;`) and of the binaries that need a
//! process of their own (`tests/metrics.rs`, `tests/timing/main.rs`):
//!
//! - [`fixture`]: the router every request goes through ([`app`]: `/api/public` open,
//!   `/api/private` behind `BearerLayer`, `/api/private-scoped` also behind `RequireScopes`;
//!   [`guarded_app`] with every kind of refusal), and [`Fixture`], a test issuer with a
//!   validator and that router.
//! - [`logs`]: what the crate logged on the test's thread ([`Logs`]): no secret in any line,
//!   warnings counted.
//! - [`reply`]: requests through a router and what a client sees ([`Reply`], with assertions for
//!   each row of the behaviour contract), the challenge parser, and the rule that no response
//!   ever echoes the token.
//! - [`cases`]: tables of named cases ([`Case`], [`Expect`], [`run`]) for the adversarial
//!   families (`attack_*.rs`) and the property tests, checked without panicking.
//! - [`tokens`]: raw token material: base64url, segments, HS256 tokens and MACs from raw bytes,
//!   an RSA key that signs arbitrary bytes, and a counting server for `jku`/`x5u` attacks.
//! - [`oidc_provider`]: a real oidc-provider (tests/interop/provider.mjs) as a child process,
//!   for the interop tests.
//! - [`wait`]: the one bounded poll loop ([`eventually`], [`retry`]): tests wait on what they
//!   can observe, against a deadline.
//! - [`redis_server`]: a real `redis-server` on a free loopback port ([`RedisServer`]), for
//!   the tests of the `redis` replay store.
//! - [`wait`]: [`eventually`], a condition polled against a deadline.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code, unused_imports)]

pub mod cases;
pub mod fixture;
pub mod logs;
pub mod oidc_provider;
pub mod redis_server;
pub mod reply;
pub mod tokens;
pub mod wait;

pub use cases::*;
pub use fixture::*;
pub use logs::Logs;
pub use redis_server::*;
pub use reply::*;
pub use tokens::*;
pub use wait::*;
