//! Certificate-bound tokens (RFC 8705 §3): the client certificate of a request, from the
//! [`ClientCertificate`] extension a TLS server sets or from a header a TLS-terminating proxy
//! sets, and the check of its SHA-256 thumbprint against the token's `cnf["x5t#S256"]`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use http::{HeaderName, Request};

use super::thumbprint::sha256_b64;
use crate::error::TokenProblem;

/// The DER client certificate of a request, as a request extension. A TLS server that asks
/// for client certificates (rustls' `WebPkiClientVerifier`, ...) puts the end-entity
/// certificate of each connection on its requests:
///
/// ```
/// use bearer_guard::dpop::ClientCertificate;
///
/// # fn demo(der: Vec<u8>, mut request: http::Request<()>) {
/// request.extensions_mut().insert(ClientCertificate(der.into()));
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCertificate(pub Bytes);

/// Where a request's client certificate comes from, for certificate-bound tokens.
///
/// By default only the [`ClientCertificate`] extension is read. Behind a TLS-terminating
/// proxy, name the header it writes the client certificate into (PEM, URL-encoded PEM as
/// nginx's `$ssl_client_escaped_cert`, or base64 DER): the header is then trusted, so the
/// proxy must always overwrite it, and the API must be reachable through that proxy only.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct Mtls {
    header: Option<HeaderName>,
}

impl Mtls {
    /// Reads the [`ClientCertificate`] extension only.
    pub fn new() -> Self {
        Mtls::default()
    }

    /// Also reads the certificate from `header`, which a TLS-terminating proxy in front of
    /// the API sets (and overwrites) on every request. The extension wins when both are there.
    pub fn trusted_header(mut self, header: HeaderName) -> Self {
        self.header = Some(header);
        self
    }

    /// Checks that the request's client certificate has the thumbprint `x5t_s256`.
    pub(crate) fn check<B>(
        &self,
        request: &Request<B>,
        x5t_s256: &str,
    ) -> Result<(), TokenProblem> {
        let der = match request.extensions().get::<ClientCertificate>() {
            Some(certificate) => certificate.0.to_vec(),
            None => self
                .header
                .as_ref()
                .and_then(|name| request.headers().get(name))
                .and_then(|value| value.to_str().ok())
                .and_then(certificate_from_header)
                .ok_or(TokenProblem::CertificateMissing)?,
        };
        if sha256_b64(&der) == x5t_s256 {
            Ok(())
        } else {
            Err(TokenProblem::CertificateMismatch)
        }
    }
}

/// A DER certificate from a header: PEM (possibly URL-encoded, possibly with its line breaks
/// turned into spaces), or base64 DER (standard or URL-safe alphabet).
pub(crate) fn certificate_from_header(value: &str) -> Option<Vec<u8>> {
    let decoded;
    let value = if value.contains('%') {
        decoded = percent_decode(value)?;
        decoded.as_str()
    } else {
        value
    };
    let body = match value.find("-----BEGIN CERTIFICATE-----") {
        Some(start) => {
            let rest = &value[start + "-----BEGIN CERTIFICATE-----".len()..];
            &rest[..rest.find("-----END CERTIFICATE-----")?]
        }
        None => value,
    };
    let compact: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let compact = compact.trim_end_matches('=');
    let der = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(compact)
        .or_else(|_| URL_SAFE_NO_PAD.decode(compact))
        .ok()?;
    // A DER certificate is a SEQUENCE.
    (der.first() == Some(&0x30)).then_some(der)
}

fn percent_decode(value: &str) -> Option<String> {
    let bytes: Vec<u8> =
        url::form_urlencoded::parse(format!("x={}", value.replace('+', "%2B")).as_bytes())
            .next()?
            .1
            .into_owned()
            .into_bytes();
    String::from_utf8(bytes).ok()
}

/// The PEM form of a DER certificate (64-character lines), for tests and proxies.
#[cfg(any(test, feature = "test-util"))]
pub(crate) fn pem(der: &[u8]) -> String {
    pem_block("CERTIFICATE", der)
}

/// A PEM block of `der` with this label (64-character lines).
#[cfg(any(test, feature = "test-util"))]
pub(crate) fn pem_block(label: &str, der: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = format!("-----BEGIN {label}-----\n");
    for line in encoded.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).unwrap_or_default());
        pem.push('\n');
    }
    pem.push_str(&format!("-----END {label}-----\n"));
    pem
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_is_read_in_each_header_form() {
        let der: Vec<u8> = [0x30, 0x82, 0x01, 0x0a]
            .into_iter()
            .chain(0..=255)
            .collect();
        let pem = pem(&der);
        let forms = [
            pem.clone(),
            pem.replace('\n', " "),
            pem.replace('\n', "%0A").replace(' ', "%20"),
            base64::engine::general_purpose::STANDARD.encode(&der),
            URL_SAFE_NO_PAD.encode(&der),
        ];
        for form in forms {
            assert_eq!(
                certificate_from_header(&form).as_deref(),
                Some(&der[..]),
                "{form}"
            );
        }
        assert_eq!(certificate_from_header("not a certificate"), None);
    }
}
