//! Checking the settings of sender-constrained tokens (DPoP) at build time.

use super::ConfigProblem;

/// Every problem of the DPoP settings.
pub(super) fn problems(dpop: &crate::dpop::Dpop) -> Vec<ConfigProblem> {
    use crate::dpop::{DpopMode, MAX_WINDOW};
    let mut problems = Vec::new();
    let parses = dpop.public_url_parses();
    if parses == Some(false) {
        problems.push(ConfigProblem::InvalidUrl("public_url"));
    }
    let known = parses == Some(true) || dpop.proxy.is_some();
    if dpop.mode == DpopMode::Required && !known {
        problems.push(ConfigProblem::DpopNeedsPublicUrl);
    }
    if dpop.algorithms.is_empty() || dpop.algorithms.iter().any(|alg| alg.is_symmetric()) {
        problems.push(ConfigProblem::DpopAlgorithm);
    }
    if dpop
        .nonce_secret
        .as_ref()
        .is_some_and(|secret| secret.len() < 32)
    {
        problems.push(ConfigProblem::DpopNonceSecretTooShort);
    }
    let durations = [
        ("dpop_iat_window", dpop.max_age.max(dpop.max_future)),
        ("dpop_nonce_rotation", dpop.nonce_rotation),
    ];
    for (setting, value) in durations {
        if value > MAX_WINDOW {
            problems.push(ConfigProblem::DurationTooLong {
                setting,
                max: MAX_WINDOW,
            });
        }
    }
    if dpop.nonce_rotation.is_zero() {
        problems.push(ConfigProblem::ZeroLimit("dpop_nonce_rotation"));
    }
    problems
}
