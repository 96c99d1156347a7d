//! A DPoP request for the report: the token with its proof (`--dpop-proof`), sent as the
//! client sent it (`--method`, `--url`; by default what the proof itself names), so that the
//! validator explains the proof as the layer checks it.

use base64::Engine;
use serde::Deserialize;

use super::Config;

/// The request the client made with `token` and the configured proof, or why it cannot be
/// made (a URL that is not absolute, a method that is not one).
pub(super) fn dpop_request(
    config: &Config,
    token: &str,
    proof: &str,
) -> Result<http::Request<()>, String> {
    let named = ProofNames::of(proof);
    let method = config
        .request_method
        .clone()
        .or(named.htm)
        .unwrap_or_else(|| "GET".to_owned());
    let url = config
        .request_url
        .clone()
        .or(named.htu)
        .ok_or("--url is needed: the proof names no `htu`")?;
    let uri: http::Uri = url
        .parse()
        .map_err(|_| format!("--url {url:?} is not a URL"))?;
    let (Some(authority), Some(path)) = (uri.authority(), uri.path_and_query()) else {
        return Err(format!("--url {url:?} is not an absolute URL"));
    };
    http::Request::builder()
        .method(method.as_str())
        .uri(path.as_str())
        .header(http::header::HOST, authority.as_str())
        .header(http::header::AUTHORIZATION, format!("DPoP {token}"))
        .header("dpop", proof)
        .body(())
        .map_err(|error| format!("the request {method} {url}: {error}"))
}

/// The method and URL a proof names, read without verification.
#[derive(Default, Deserialize)]
struct ProofNames {
    htm: Option<String>,
    htu: Option<String>,
}

impl ProofNames {
    fn of(proof: &str) -> Self {
        proof
            .split('.')
            .nth(1)
            .and_then(|payload| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(payload)
                    .ok()
            })
            .and_then(|json| serde_json::from_slice(&json).ok())
            .unwrap_or_default()
    }
}
