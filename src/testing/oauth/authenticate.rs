//! The token endpoint's client authentication: HTTP Basic (`client_secret_basic`) or the
//! body's `client_id` and `client_secret` (`client_secret_post`), secrets compared in
//! constant time.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, HeaderValue, header};

use super::super::state::{ClientAuthentication, IssuerState};
use super::request::{Params, Refusal, refuse};

/// Authenticates the client by HTTP Basic (`client_secret_basic`) or by `client_id` and
/// `client_secret` in the body (`client_secret_post`), exactly one of them; records the
/// method of a client that authenticated, and returns its id.
pub(super) fn authenticate(
    state: &IssuerState,
    headers: &HeaderMap,
    params: &Params,
) -> Result<String, Refusal> {
    let mut authorization = headers.get_all(header::AUTHORIZATION).iter();
    let basic = match (authorization.next(), authorization.next()) {
        (None, _) => None,
        (Some(_), Some(_)) => {
            return Err(refuse(
                "invalid_request",
                "more than one Authorization header",
            ));
        }
        (Some(value), None) => Some(value),
    };
    let (client_id, secret, basic) = match basic {
        Some(value) => {
            let failed = |description| Refusal {
                error: "invalid_client",
                description,
                basic: true,
            };
            if params.contains_key("client_secret") {
                return Err(refuse(
                    "invalid_request",
                    "more than one client authentication method",
                ));
            }
            let (id, secret) = parse_basic(value).ok_or_else(|| {
                failed("client authentication by HTTP Basic or client_secret_post is required")
            })?;
            if params
                .get("client_id")
                .is_some_and(|form_id| *form_id != id)
            {
                return Err(refuse(
                    "invalid_request",
                    "client_id differs from the HTTP Basic credentials",
                ));
            }
            (id, secret, true)
        }
        None => match (params.get("client_id"), params.get("client_secret")) {
            (Some(id), Some(secret)) => (id.clone(), secret.clone(), false),
            (None, Some(_)) => {
                return Err(refuse("invalid_request", "client_secret without client_id"));
            }
            (_, None) => {
                return Err(refuse(
                    "invalid_client",
                    "client authentication is required",
                ));
            }
        },
    };
    let known = state
        .registry
        .read()
        .expect("lock")
        .clients
        .get(&client_id)
        .cloned();
    // An unknown client costs the same comparison as a wrong secret.
    let expected = known.as_deref().unwrap_or(b"\0unknown client\0");
    if secrets_equal(expected, secret.as_bytes()) && known.is_some() {
        let method = if basic {
            ClientAuthentication::Basic
        } else {
            ClientAuthentication::Post
        };
        state
            .client_authentications
            .lock()
            .expect("lock")
            .push(method);
        Ok(client_id)
    } else {
        Err(Refusal {
            error: "invalid_client",
            description: "client authentication failed",
            basic,
        })
    }
}

/// Compares two secrets in constant time, their lengths included (SHA-256 of each first).
fn secrets_equal(expected: &[u8], presented: &[u8]) -> bool {
    use aws_lc_rs::digest::{SHA256, digest};
    let (expected, presented) = (digest(&SHA256, expected), digest(&SHA256, presented));
    aws_lc_rs::constant_time::verify_slices_are_equal(expected.as_ref(), presented.as_ref()).is_ok()
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 7617, RFC 6749 §2.3.1), with
/// the scheme in any letter case.
fn parse_basic(value: &HeaderValue) -> Option<(String, String)> {
    let value = value.to_str().ok()?;
    let (scheme, credentials) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = STANDARD.decode(credentials.trim()).ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |text: &str| -> Option<String> {
        let text: String = url::form_urlencoded::parse(format!("x={text}").as_bytes())
            .next()
            .map(|(_, value)| value.into_owned())
            .unwrap_or_default();
        (!text.contains('\u{FFFD}')).then_some(text)
    };
    let id = unescape(id)?;
    (!id.is_empty()).then_some(())?;
    Some((id, unescape(secret)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_form_urldecoded() {
        let header = |text: &str| {
            HeaderValue::from_str(&format!("Basic {}", STANDARD.encode(text))).unwrap()
        };
        assert_eq!(
            parse_basic(&header("my%20client:s%2Bcr+t")),
            Some(("my client".into(), "s+cr t".into()))
        );
        assert_eq!(
            parse_basic(&header("id:")),
            Some(("id".into(), String::new()))
        );
        assert_eq!(parse_basic(&header(":secret")), None);
        assert_eq!(parse_basic(&header("no-colon")), None);
        assert_eq!(parse_basic(&header("id:%FF")), None);
        let lower = HeaderValue::from_str(&format!("basic {}", STANDARD.encode("a:b"))).unwrap();
        assert_eq!(parse_basic(&lower), Some(("a".into(), "b".into())));
        let bearer = HeaderValue::from_static("Bearer abc");
        assert_eq!(parse_basic(&bearer), None);
        let garbage = HeaderValue::from_static("Basic !!!");
        assert_eq!(parse_basic(&garbage), None);
    }

    #[test]
    fn secrets_compare_by_value_only() {
        assert!(secrets_equal(b"secret", b"secret"));
        assert!(!secrets_equal(b"secret", b"secreT"));
        assert!(!secrets_equal(b"secret", b"secret-but-longer"));
        assert!(!secrets_equal(b"", b"x"));
    }
}
