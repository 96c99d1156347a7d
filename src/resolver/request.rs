//! [`RequestView`]: what a resolver may read of a request.

use http::{HeaderMap, Uri, header};

/// The parts of a request an [`IssuerResolver`](super::IssuerResolver) reads to tell the
/// tenant it is for: the host, the path, the headers. Borrowed, so reading costs nothing.
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    uri: &'a Uri,
    headers: &'a HeaderMap,
}

impl<'a> RequestView<'a> {
    /// A view of a request's URI and headers.
    pub fn new(uri: &'a Uri, headers: &'a HeaderMap) -> Self {
        RequestView { uri, headers }
    }

    /// A view of `request`.
    pub fn of<B>(request: &'a http::Request<B>) -> Self {
        RequestView::new(request.uri(), request.headers())
    }

    /// The host the request was sent to, without its port, as the client wrote it (compare
    /// it ignoring ASCII case): the URI's authority when it has one (HTTP/2 `:authority`,
    /// absolute-form, which RFC 9112 §3.2.2 puts before `Host`), else the `Host` header.
    /// `None` when there is neither, or the header is not visible ASCII.
    pub fn host(&self) -> Option<&'a str> {
        let authority = match self.uri.authority() {
            Some(authority) => authority.as_str(),
            None => self.headers.get(header::HOST)?.to_str().ok()?,
        };
        let host = without_port(without_userinfo(authority));
        (!host.is_empty()).then_some(host)
    }

    /// The request's path (without the query).
    pub fn path(&self) -> &'a str {
        self.uri.path()
    }

    /// The request's headers.
    pub fn headers(&self) -> &'a HeaderMap {
        self.headers
    }
}

fn without_userinfo(authority: &str) -> &str {
    authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host)
}

/// `host:port` -> `host`; an IPv6 literal keeps its brackets.
fn without_port(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority
            .find(']')
            .map_or(authority, |end| &authority[..=end]);
    }
    match authority.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
        _ => authority,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host_of(uri: &str, host_header: Option<&str>) -> Option<String> {
        let uri: Uri = uri.parse().unwrap();
        let mut headers = HeaderMap::new();
        if let Some(value) = host_header {
            headers.insert(header::HOST, value.parse().unwrap());
        }
        RequestView::new(&uri, &headers).host().map(str::to_owned)
    }

    #[test]
    fn the_host_comes_from_the_authority_then_the_host_header_without_the_port() {
        assert_eq!(
            host_of("/a", Some("a.api.example:8443")).as_deref(),
            Some("a.api.example")
        );
        assert_eq!(
            host_of("https://b.api.example/a", Some("a.api.example")).as_deref(),
            Some("b.api.example")
        );
        assert_eq!(host_of("/a", Some("[::1]:80")).as_deref(), Some("[::1]"));
        assert_eq!(
            host_of("/a", Some("u@a.api.example")).as_deref(),
            Some("a.api.example")
        );
        assert_eq!(host_of("/a", None), None);
        assert_eq!(host_of("/a", Some("")), None);
    }
}
