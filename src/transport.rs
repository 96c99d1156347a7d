//! The transport policy of every request to the issuer: which URLs may be fetched, which
//! redirects followed, and the default HTTP client. `config` checks configured URLs with it,
//! the key set fetch every URL it is about to ask and every answer it gets.

use std::time::Duration;

use reqwest::Url;

/// `https`, or `http` to a loopback host (for local issuers and tests).
pub(crate) fn is_allowed_url(url: &Url) -> bool {
    match url.scheme() {
        "https" => url.host().is_some(),
        "http" => is_loopback(url),
        _ => false,
    }
}

/// A key set URL found in the issuer's metadata: allowed like any URL, and plain http only
/// when the issuer itself is on a loopback host (an https issuer's metadata must not point
/// the server at a local plain-http port).
pub(crate) fn is_allowed_discovered_url(issuer: &Url, jwks_uri: &Url) -> bool {
    is_allowed_url(jwks_uri) && (jwks_uri.scheme() == "https" || is_loopback(issuer))
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Redirects only within the origin that was asked, and at most a few.
fn same_origin_redirects() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        let same_origin = attempt
            .previous()
            .first()
            .is_some_and(|first| first.origin() == attempt.url().origin());
        if attempt.previous().len() > 3 || !same_origin {
            attempt.stop()
        } else {
            attempt.follow()
        }
    })
}

/// The default HTTP client: same-origin redirects only, connect and total timeouts.
pub(crate) fn default_client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .redirect(same_origin_redirects())
        .connect_timeout(timeout)
        .timeout(timeout)
        .user_agent(concat!("bearer-guard/", env!("CARGO_PKG_VERSION")))
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http() {
        let allowed = |u: &str| is_allowed_url(&Url::parse(u).unwrap());
        assert!(allowed("https://issuer.example/jwks"));
        assert!(allowed("http://127.0.0.1:8080/jwks"));
        assert!(allowed("http://localhost/jwks"));
        assert!(allowed("http://[::1]/jwks"));
        assert!(!allowed("http://issuer.example/jwks"));
        assert!(!allowed("http://127.0.0.1.nip.io/jwks"));
        assert!(!allowed("file:///etc/passwd"));
    }

    #[test]
    fn a_discovered_key_set_is_plain_http_only_for_a_loopback_issuer() {
        let url = |u: &str| Url::parse(u).unwrap();
        let https_issuer = url("https://tenant.example/");
        let loopback_issuer = url("http://127.0.0.1:8080/");
        let local_http = url("http://127.0.0.1:9000/keys");
        assert!(!is_allowed_discovered_url(&https_issuer, &local_http));
        assert!(is_allowed_discovered_url(&loopback_issuer, &local_http));
        assert!(is_allowed_discovered_url(
            &https_issuer,
            &url("https://keys.example/jwks")
        ));
        assert!(!is_allowed_discovered_url(
            &loopback_issuer,
            &url("http://keys.example/jwks")
        ));
    }
}
