//! The `WWW-Authenticate` challenges of a refusal (RFC 6750 §3, RFC 9449 §7.1): the
//! `Bearer` challenge, the `DPoP` one beside it (with `algs`) where DPoP is advertised, which
//! of them carries the error, and the quoting of their parameters. `respond.rs` writes them.

use std::sync::Arc;

use http::{HeaderValue, StatusCode};

use crate::error::AuthError;

impl AuthError {
    /// The `WWW-Authenticate` value, or `None` for a 503 (which is not an auth challenge): a
    /// `Bearer` challenge, or a `DPoP` one for a refused DPoP proof.
    pub fn challenge(&self, realm: Option<&str>) -> Option<HeaderValue> {
        let scheme = if self.is_about_the_proof() {
            "DPoP"
        } else {
            "Bearer"
        };
        render(scheme, &self.challenge_params(realm)?)
    }

    /// Whether the refusal concerns the DPoP proof (its challenge is then the `DPoP` one).
    fn is_about_the_proof(&self) -> bool {
        matches!(
            self,
            AuthError::InvalidDpopProof(_) | AuthError::UseDpopNonce { .. }
        )
    }

    /// `realm` (if any), then the error parameters; `None` for a 503.
    fn challenge_params(&self, realm: Option<&str>) -> Option<Vec<(&'static str, String)>> {
        let mut params: Vec<(&'static str, String)> = Vec::new();
        if let Some(realm) = realm {
            params.push(("realm", realm.to_owned()));
        }
        match self {
            AuthError::MissingToken => {}
            AuthError::KeysUnavailable { .. }
            | AuthError::IntrospectionUnavailable { .. }
            | AuthError::ReplayStoreUnavailable { .. }
            | AuthError::NoRuntime => {
                return None;
            }
            AuthError::InsufficientScope { required } => {
                params.push(("error", "insufficient_scope".to_owned()));
                params.push(("error_description", self.description()));
                params.push(("scope", required.clone()));
            }
            AuthError::InsufficientUserAuthentication(step_up) => {
                params.push(("error", "insufficient_user_authentication".to_owned()));
                params.push(("error_description", self.description()));
                // RFC 9470 §3: both are auth-params; a quoted number is one of the two forms
                // it allows for `max_age`, and the one its own example uses.
                if let Some(acr_values) = &step_up.acr_values {
                    params.push(("acr_values", acr_values.clone()));
                }
                if let Some(max_age) = step_up.max_age {
                    params.push(("max_age", max_age.to_string()));
                }
            }
            AuthError::InvalidRequest(_)
            | AuthError::InvalidToken(_)
            | AuthError::RuleFailed { .. }
            | AuthError::InvalidDpopProof(_)
            | AuthError::UseDpopNonce { .. } => {
                params.push(("error", self.error_code()?.to_owned()));
                params.push(("error_description", self.description()));
            }
        }
        Some(params)
    }

    /// The challenges of this refusal, in order: the `Bearer` one where bearer tokens are
    /// accepted, the `DPoP` one (with `algs`) where DPoP is advertised. The error goes on the
    /// `DPoP` challenge when it concerns the proof, the request used the `DPoP` scheme, or
    /// bearer tokens are not accepted; on the `Bearer` one otherwise.
    pub(crate) fn challenges(
        &self,
        realm: Option<&str>,
        resource_metadata: Option<&str>,
        initial_scopes: Option<&str>,
        dpop: Option<&DpopChallenge>,
        dpop_request: bool,
    ) -> Vec<HeaderValue> {
        let Some(params) = self.challenge_params(realm) else {
            return Vec::new();
        };
        let bare: Vec<(&str, String)> = params
            .iter()
            .filter(|(name, _)| *name == "realm")
            .cloned()
            .collect();
        // A 401 names the scopes to start with; a 403 already names those the call needs, and a
        // step-up 401 asks for a new user authentication, not other scopes (the token's stand).
        let initial_scopes = initial_scopes.filter(|_| {
            self.status() == StatusCode::UNAUTHORIZED
                && !matches!(self, AuthError::InsufficientUserAuthentication(_))
        });
        let with_metadata = |mut params: Vec<(&'static str, String)>| {
            if let Some(scopes) = initial_scopes {
                params.push(("scope", scopes.to_owned()));
            }
            if let Some(url) = resource_metadata {
                params.push(("resource_metadata", url.to_owned()));
            }
            params
        };
        let Some(dpop) = dpop else {
            return render("Bearer", &with_metadata(params))
                .into_iter()
                .collect();
        };
        let on_dpop = self.is_about_the_proof() || dpop_request || !dpop.bearer;
        let mut challenges = Vec::new();
        if dpop.bearer {
            let bearer = if on_dpop {
                bare.clone()
            } else {
                params.clone()
            };
            challenges.extend(render("Bearer", &with_metadata(bearer)));
        }
        let mut dpop_params = with_metadata(if on_dpop { params } else { bare });
        dpop_params.push(("algs", dpop.algs.to_string()));
        challenges.extend(render("DPoP", &dpop_params));
        challenges
    }
}

/// One challenge: the scheme, then `name="value"` parameters.
fn render(scheme: &str, params: &[(&str, String)]) -> Option<HeaderValue> {
    let mut value = String::from(scheme);
    for (i, (name, raw)) in params.iter().enumerate() {
        value.push_str(if i == 0 { " " } else { ", " });
        value.push_str(name);
        value.push_str("=\"");
        push_quoted_string_content(&mut value, raw);
        value.push('"');
    }
    // Only visible ASCII and spaces survive `push_quoted_string_content`, so this cannot fail.
    HeaderValue::from_str(&value).ok()
}

/// What the `DPoP` challenge says: the accepted proof algorithms, and whether the `Bearer`
/// challenge is sent beside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DpopChallenge {
    pub(crate) algs: Arc<str>,
    pub(crate) bearer: bool,
}

/// Writes `raw` as the content of an HTTP quoted-string: `"` and `\` escaped, anything that is
/// not visible ASCII or a space dropped. Nothing is cut: every value is the configuration's
/// (fixed descriptions, scopes, `acr_values`, URLs), never the request's, and a list cut short
/// would send the client after too little (a scope set, an `acr` it cannot satisfy).
fn push_quoted_string_content(out: &mut String, raw: &str) {
    for c in raw.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' '..='~' => out.push(c),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_kept_whole() {
        let acr_values: Vec<String> = (0..8)
            .map(|i| format!("https://acr.example.com/policies/multi-factor/level-{i}"))
            .collect();
        let raw = acr_values.join(" ");
        assert!(raw.len() > 400);
        let mut out = String::new();
        push_quoted_string_content(&mut out, &raw);
        assert_eq!(out, raw);
    }

    #[test]
    fn quoted_strings_escape_quotes_and_drop_controls() {
        let mut out = String::new();
        push_quoted_string_content(&mut out, "a\"b\\c\r\nd\u{e9}");
        assert_eq!(out, "a\\\"b\\\\cd");
    }
}
