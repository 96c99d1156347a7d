//! The limits and durations of a configuration: what must be positive, and the bounds of
//! each duration, checked with the rest by `build`.

use std::time::Duration;

use super::{ConfigProblem, MAX_LEEWAY, ValidatorBuilder};

/// The bounds of the duration settings: past them a setting means nothing useful, and every
/// sum of them stays far from overflowing a clock.
const DURATION_BOUNDS: [(&str, Duration); 5] = [
    ("jwks_ttl", Duration::from_secs(7 * 24 * 3600)),
    ("jwks_ttl_bounds", Duration::from_secs(7 * 24 * 3600)),
    ("stale_if_error", Duration::from_secs(7 * 24 * 3600)),
    ("refetch_cooldown", Duration::from_secs(3600)),
    ("fetch_timeout", Duration::from_secs(60)),
];

/// The least the lower key set TTL bound and the refetch cooldown may be: below it, an
/// issuer answering `Cache-Control: no-cache` (which selects the lower bound) or a stream of
/// unknown `kid`s would keep the fetches going without pause. (`jwks_ttl`, which only the
/// operator chooses, need only be positive: tests run with sub-second lifetimes.)
const MIN_FETCH_INTERVAL: Duration = Duration::from_secs(1);

impl ValidatorBuilder {
    /// The leeway, the limits that must be positive, and the bounded durations.
    pub(super) fn check_limits(&self, problems: &mut Vec<ConfigProblem>) {
        if self.leeway > MAX_LEEWAY {
            problems.push(ConfigProblem::LeewayTooLarge(self.leeway));
        }
        let zero = [
            ("max_token_bytes", self.max_token_bytes == 0),
            ("jwks_ttl", self.cache.ttl.is_zero()),
            ("fetch_timeout", self.limits.timeout.is_zero()),
            ("max_jwks_bytes", self.limits.max_body_bytes == 0),
            ("max_keys", self.cache.max_keys == 0),
        ];
        for (setting, is_zero) in zero {
            if is_zero {
                problems.push(ConfigProblem::ZeroLimit(setting));
            }
        }
        let lower_bounded = [
            ("jwks_ttl_bounds", self.cache.min_ttl),
            ("refetch_cooldown", self.cache.refetch_cooldown),
        ];
        for (setting, value) in lower_bounded {
            if value < MIN_FETCH_INTERVAL {
                problems.push(ConfigProblem::DurationTooShort {
                    setting,
                    min: MIN_FETCH_INTERVAL,
                });
            }
        }
        if self.cache.min_ttl > self.cache.max_ttl {
            problems.push(ConfigProblem::TtlBoundsReversed);
        }
        let durations = [
            self.cache.ttl,
            self.cache.max_ttl,
            self.cache.stale_if_error,
            self.cache.refetch_cooldown,
            self.limits.timeout,
        ];
        for ((setting, max), value) in DURATION_BOUNDS.into_iter().zip(durations) {
            if value > max {
                problems.push(ConfigProblem::DurationTooLong { setting, max });
            }
        }
    }
}
