//! The hints of the `binding` check for a request explained with its DPoP proof: the URL the
//! proof had to name, the clock, the key, the token the proof was made for.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use super::seen::shown;
use crate::dpop::Binder;
use crate::error::DpopProblem;
use crate::resolver::RequestView;

/// What the report knows of a request's proof: the URI it had to name, and the one it names.
#[derive(Default)]
pub(super) struct ProofContext {
    /// Whether the proof is checked: a request is explained and its issuer takes DPoP.
    pub(super) checked: bool,
    /// The normalised `htu` the request's proof had to carry, when it can be known.
    pub(super) expected_htu: Option<String>,
    /// The `htu` the request's proof carries, decoded without verification, for display.
    pub(super) proof_htu: Option<String>,
}

impl ProofContext {
    /// What `binder` expects of the proof of `request`, and what the proof says.
    pub(super) fn of(binder: &Binder, request: &RequestView<'_>) -> Self {
        if !binder.recognises_dpop() {
            return ProofContext::default();
        }
        ProofContext {
            checked: true,
            expected_htu: binder.expected_htu(request.path(), request.headers()),
            proof_htu: unverified_htu(request),
        }
    }
}

/// The `htu` of the request's one `DPoP` header, read without verification, made safe to
/// print.
fn unverified_htu(request: &RequestView<'_>) -> Option<String> {
    #[derive(Deserialize)]
    struct HtuOnly {
        htu: String,
    }
    let mut proofs = request.headers().get_all("dpop").iter();
    let (Some(proof), None) = (proofs.next(), proofs.next()) else {
        return None;
    };
    let payload = proof.to_str().ok()?.split('.').nth(1)?;
    let json = URL_SAFE_NO_PAD.decode(payload).ok()?;
    let claims: HtuOnly = serde_json::from_slice(&json).ok()?;
    Some(shown(&claims.htu))
}

/// The hint when the API asks for a DPoP nonce.
pub(super) const NONCE_HINT: &str = "the API issues DPoP nonces (`nonces(...)`): the client \
     retries with the nonce of the `DPoP-Nonce` header of its last answer in the proof's \
     `nonce`";

/// The hint for a refused DPoP proof, for the mistakes clients and deployments make:
/// `context` holds the URI the request's proof had to name and the one it names, `now` is
/// this machine's clock.
pub(super) fn proof_hint(problem: DpopProblem, context: &ProofContext, now: i64) -> Option<String> {
    let hint = match problem {
        DpopProblem::Missing => {
            "a DPoP-bound token is sent as `Authorization: DPoP <token>` with a proof in a \
             `DPoP` header, a new one for every request"
                .to_owned()
        }
        DpopProblem::WrongUri => format!(
            "the proof names {}, and must name the URL the client called as this API knows \
             it: {}; when clients call another URL (a gateway, a TLS-terminating proxy), set \
             `public_url(...)` to it, or name the proxy with `trusted_proxy(...)`",
            context.proof_htu.as_deref().unwrap_or("another URL"),
            context.expected_htu.as_deref().unwrap_or("unknown")
        ),
        DpopProblem::UnknownUri => "this API cannot know the URL its clients call: set \
             `public_url(...)` (or `trusted_proxy(...)` behind a proxy that sends the \
             original protocol and host)"
            .to_owned(),
        DpopProblem::WrongMethod => {
            "the proof's `htm` must be the request's method, in upper case".to_owned()
        }
        DpopProblem::WrongAth => "the proof's `ath` must be base64url(SHA-256) of this \
             access token: a proof made for another token (a previous one, before a \
             refresh) does not pass"
            .to_owned(),
        DpopProblem::KeyMismatch => "the proof is signed with another key than the one \
             the token is bound to (`cnf.jkt`): the client must sign with the key it \
             showed when it obtained the token"
            .to_owned(),
        DpopProblem::Stale | DpopProblem::IssuedInFuture => format!(
            "the proof's `iat` is checked against this machine's clock ({} now): is the \
             client's clock right, and is the proof new for each request?",
            now
        ),
        _ => return None,
    };
    Some(hint)
}
