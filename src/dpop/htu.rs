//! The `htu` a proof must carry for a request: the API's public URL (configured, never read
//! from the request's `Host` or `X-Forwarded-*` unless a trusted proxy is named) joined with
//! the request's path, and the RFC 3986 normalisation both sides go through before they are
//! compared (scheme and host case, default port, dot segments; query and fragment dropped).

use http::{HeaderMap, HeaderName};
use url::{Host, Url};

/// Where the scheme and host of the request's public URI come from.
#[derive(Debug, Clone)]
pub(crate) struct PublicUri {
    /// The configured public URL: origin, and a path prefix without its trailing `/`.
    pub(crate) base: Option<(String, String)>,
    /// Headers a trusted TLS-terminating proxy sets: (protocol, host).
    pub(crate) proxy: Option<(HeaderName, HeaderName)>,
}

impl PublicUri {
    /// Parses the configured public URL: an absolute `http(s)` URL without query or fragment.
    pub(crate) fn parse_base(raw: &str) -> Option<(String, String)> {
        let url = Url::parse(raw).ok()?;
        let usable = matches!(url.scheme(), "http" | "https")
            && url.host().is_some()
            && url.query().is_none()
            && url.fragment().is_none();
        usable.then(|| {
            (
                url.origin().ascii_serialization(),
                url.path().trim_end_matches('/').to_owned(),
            )
        })
    }

    /// Whether the URI of a request can be known at all.
    pub(crate) fn is_known(&self) -> bool {
        self.base.is_some() || self.proxy.is_some()
    }

    /// The normalised public URI of a request to `path` with `headers`: the proxy's headers
    /// when a trusted proxy is named and both are present and sound, else the public URL.
    pub(crate) fn of(&self, path: &str, headers: &HeaderMap) -> Option<String> {
        let prefix = self.base.as_ref().map_or("", |(_, prefix)| prefix.as_str());
        if let Some((proto, host)) = &self.proxy
            && let (Some(proto), Some(host)) =
                (last_value(headers, proto), last_value(headers, host))
            && matches!(proto.to_ascii_lowercase().as_str(), "http" | "https")
            && !host.contains(['/', '?', '#', '@'])
        {
            return normalize(&format!("{proto}://{host}{prefix}{path}"));
        }
        let (origin, prefix) = self.base.as_ref()?;
        normalize(&format!("{origin}{prefix}{path}"))
    }
}

/// The last entry of a header (the one the nearest proxy wrote), trimmed.
fn last_value<'a>(headers: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    let value = headers.get_all(name).iter().next_back()?.to_str().ok()?;
    let last = value.rsplit(',').next()?.trim();
    (!last.is_empty()).then_some(last)
}

/// The RFC 3986 §6.2.2 normal form of an absolute `http(s)` URI without its query and
/// fragment: scheme and host in lower case, the default port dropped, dot segments removed,
/// an empty path as `/`. `None` for anything else, including what is not RFC 3986 syntax
/// (`scheme://authority`, printable ASCII, no backslash): the WHATWG parser underneath
/// repairs such input into a URL (`https:/host`, backslashes for slashes, tabs dropped),
/// and a proof's `htu` must name the URI, not something a browser would turn into it.
pub(crate) fn normalize(uri: &str) -> Option<String> {
    let (scheme, rest) = uri.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    // Any userinfo is refused, an empty one (`https://@host/`) too: the parser drops an
    // empty userinfo, which would make two different URIs one.
    let rfc3986 = scheme.chars().all(|c| c.is_ascii_alphabetic())
        && !rest.starts_with('/')
        && !authority.contains('@')
        && host_escapes_are_unreserved(authority)
        && uri.bytes().all(|b| b.is_ascii_graphic() && b != b'\\');
    if !rfc3986 {
        return None;
    }
    let mut url = Url::parse(uri).ok()?;
    if !matches!(url.scheme(), "http" | "https") {
        return None;
    }
    match url.host()? {
        // The parser reads a host whose last label is a number as an IPv4 address in any
        // of its legacy forms (`0x7f.1`, `2130706433`); RFC 3986 names only the dotted one.
        Host::Ipv4(address) => {
            let written = authority
                .rsplit_once(':')
                .map_or(authority, |(host, _)| host);
            if written != address.to_string() {
                return None;
            }
        }
        Host::Domain(_) | Host::Ipv6(_) => {}
    }
    url.set_query(None);
    url.set_fragment(None);
    Some(url.into())
}

/// Whether every percent-encoding in `authority` is of an unreserved ASCII character, the
/// only ones RFC 3986 §6.2.2.2 decodes. The parser decodes every one in a host and then maps
/// the result through IDNA (`%EF%BD%81`, a full-width `a`, becomes `a`; a soft hyphen
/// vanishes), which would make a different URI name the API's host.
fn host_escapes_are_unreserved(authority: &str) -> bool {
    let mut escapes = authority.split('%');
    escapes.next();
    escapes.all(|escape| {
        let decoded = escape
            .get(..2)
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        decoded.is_some_and(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_ignores_case_default_ports_query_and_fragment() {
        let expected = Some("https://api.example.com/a/b".to_owned());
        for uri in [
            "https://api.example.com/a/b",
            "HTTPS://API.Example.COM/a/b",
            "https://api.example.com:443/a/b",
            "https://api.example.com/a/b?x=1",
            "https://api.example.com/a/b#frag",
            "https://api.example.com/a/./c/../b",
            // RFC 3986 §6.2.2.2: a percent-encoded unreserved character is that character.
            "https://%61pi.ex%41mple.com/a/b",
            "https://api%2Eexample.com/a/b",
        ] {
            assert_eq!(normalize(uri), expected, "{uri}");
        }
        assert_eq!(
            normalize("http://127.0.0.1:80").as_deref(),
            Some("http://127.0.0.1/")
        );
        assert_ne!(normalize("https://api.example.com/A/b"), expected);
        assert_ne!(normalize("https://api.example.com:8443/a/b"), expected);
        for refused in [
            "/a/b",
            "ftp://x/a",
            "https://u:p@api.example.com/",
            "not a uri",
            // Found by the `dpop_proof` fuzz target: the WHATWG parser repairs these into
            // the URL, RFC 3986 does not (a missing or doubled slash, backslashes, spaces
            // and control characters it strips).
            "HTTPS:/API.EXAMPLE.COM:443/a/b",
            "https:api.example.com/a/b",
            "https:\\\\api.example.com\\a\\b",
            "https:///api.example.com/a/b",
            "https://api.exa\tmple.com/a/b",
            " https://api.example.com/a/b",
            "https://api.example.com/a/b\n",
            // Found by the same target in CI: an empty userinfo, which the parser drops.
            "HTTPS://@API.EXAMPLE.COM:443/?q",
            "https://@api.example.com/a/b",
            "https://:@api.example.com/a/b",
            // Percent-encodings in the host that are not of an unreserved character, which
            // the parser decodes and maps through IDNA: a full-width `a`, a soft hyphen, an
            // ideographic full stop, a cut or invalid escape.
            "https://%EF%BD%81pi.example.com/a/b",
            "https://a%C2%ADpi.example.com/a/b",
            "https://api%E3%80%82example.com/a/b",
            "https://api.example.com%/a/b",
            "https://api.example.com%4/a/b",
            "https://api.example.com%zz/a/b",
            // 127.0.0.1 in the legacy forms the parser reads as that address.
            "http://0x7f.0.0.1/a/b",
            "http://127.1/a/b",
            "http://2130706433:80/a/b",
            "http://0127.0.0.1/a/b",
        ] {
            assert_eq!(normalize(refused), None, "{refused}");
        }
    }

    /// `proof::verify` takes an `htu` equal to the expected URI (a `normalize` output) without
    /// normalising it: that holds only if `normalize` leaves its own output unchanged.
    #[test]
    fn a_normalised_uri_is_its_own_normal_form() {
        for uri in [
            "https://api.example.com/a/b",
            "HTTPS://API.Example.COM:443/a/./c/../b?x=1#f",
            "http://127.0.0.1:80",
            "https://api.example.com/%7Euser/a%20b/caf%C3%A9",
            "https://api.example.com/a b/\u{e9}t\u{e9}",
            "https://[::1]:8443/v1/",
            "https://xn--caf-dma.example/a",
            "https://api.example.com/a/..%2F/b",
        ] {
            let Some(normal) = normalize(uri) else {
                continue;
            };
            assert_eq!(
                normalize(&normal).as_deref(),
                Some(normal.as_str()),
                "{uri}"
            );
        }
    }

    #[test]
    fn the_public_url_decides_unless_a_trusted_proxy_is_named() {
        let mut headers = HeaderMap::new();
        headers.insert("host", "evil.example".parse().unwrap());
        headers.insert("x-forwarded-host", "evil.example".parse().unwrap());
        headers.insert("x-forwarded-proto", "http".parse().unwrap());
        let configured = PublicUri {
            base: PublicUri::parse_base("https://API.example.com/v1/"),
            proxy: None,
        };
        assert_eq!(
            configured.of("/messages", &headers).as_deref(),
            Some("https://api.example.com/v1/messages")
        );
        let proxied = PublicUri {
            base: None,
            proxy: Some((
                HeaderName::from_static("x-forwarded-proto"),
                HeaderName::from_static("x-forwarded-host"),
            )),
        };
        assert_eq!(
            proxied.of("/messages", &headers).as_deref(),
            Some("http://evil.example/messages")
        );
        assert_eq!(proxied.of("/messages", &HeaderMap::new()), None);
        assert!(
            !PublicUri {
                base: None,
                proxy: None
            }
            .is_known()
        );
        assert_eq!(PublicUri::parse_base("https://api.example.com/?q"), None);
    }
}
