//! The bearer token from the `Authorization` header (RFC 6750 §2.1).

use http::{HeaderMap, header};

use crate::error::{AuthError, RequestProblem, TokenProblem};

/// Takes the token out of `Authorization: Bearer <token>`.
///
/// The scheme is matched case-insensitively; one or more spaces may separate it from the
/// token. A header with another scheme counts as no token (a bare challenge follows), a
/// malformed bearer credential is a 400, and a token longer than `max_len` is rejected before
/// its characters are even looked at.
pub(crate) fn bearer_token(headers: &HeaderMap, max_len: usize) -> Result<&str, AuthError> {
    let mut values = headers.get_all(header::AUTHORIZATION).into_iter();
    let Some(value) = values.next() else {
        return Err(AuthError::MissingToken);
    };
    if values.next().is_some() {
        return Err(AuthError::InvalidRequest(
            RequestProblem::SeveralAuthorizationHeaders,
        ));
    }
    let bytes = value.as_bytes();
    let (scheme, rest) = match bytes.iter().position(|&b| b == b' ') {
        Some(space) => (&bytes[..space], &bytes[space..]),
        None => (bytes, &b""[..]),
    };
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return Err(AuthError::MissingToken);
    }
    let credentials = trim_spaces(rest);
    if credentials.is_empty() {
        return Err(AuthError::InvalidRequest(RequestProblem::EmptyToken));
    }
    if credentials.len() > max_len {
        return Err(AuthError::InvalidToken(TokenProblem::TooLarge));
    }
    if credentials.contains(&b' ') {
        return Err(AuthError::InvalidRequest(RequestProblem::SeveralTokens));
    }
    if !is_b64token(credentials) {
        return Err(AuthError::InvalidRequest(RequestProblem::InvalidCharacters));
    }
    // `is_b64token` admitted only ASCII, so this conversion cannot fail.
    std::str::from_utf8(credentials)
        .map_err(|_| AuthError::InvalidRequest(RequestProblem::InvalidCharacters))
}

fn trim_spaces(mut bytes: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = bytes {
        bytes = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = bytes {
        bytes = rest;
    }
    bytes
}

/// `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`
fn is_b64token(token: &[u8]) -> bool {
    let body_len = token.len() - token.iter().rev().take_while(|&&b| b == b'=').count();
    body_len > 0
        && token[..body_len].iter().all(|&b| {
            b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'+' | b'/')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn extract(values: &[&[u8]]) -> Result<String, AuthError> {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(
                header::AUTHORIZATION,
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        bearer_token(&headers, 100).map(str::to_owned)
    }

    #[test]
    fn takes_the_token_whatever_the_scheme_case() {
        assert_eq!(extract(&[b"Bearer abc.def.ghi"]).unwrap(), "abc.def.ghi");
        assert_eq!(extract(&[b"bearer abc"]).unwrap(), "abc");
        assert_eq!(extract(&[b"BEARER   abc"]).unwrap(), "abc");
        assert_eq!(
            extract(&[b"Bearer a-b_c~d+e/f=="]).unwrap(),
            "a-b_c~d+e/f=="
        );
    }

    #[test]
    fn another_scheme_or_no_header_is_no_token() {
        assert_eq!(extract(&[]), Err(AuthError::MissingToken));
        assert_eq!(
            extract(&[b"Basic dXNlcjpwYXNz"]),
            Err(AuthError::MissingToken)
        );
        assert_eq!(extract(&[b"Bearerabc"]), Err(AuthError::MissingToken));
    }

    #[test]
    fn malformed_credentials_are_invalid_requests() {
        let problem = |p| Err(AuthError::InvalidRequest(p));
        assert_eq!(extract(&[b"Bearer"]), problem(RequestProblem::EmptyToken));
        assert_eq!(
            extract(&[b"Bearer   "]),
            problem(RequestProblem::EmptyToken)
        );
        assert_eq!(
            extract(&[b"Bearer a b"]),
            problem(RequestProblem::SeveralTokens)
        );
        assert_eq!(
            extract(&[b"Bearer a,b"]),
            problem(RequestProblem::InvalidCharacters)
        );
        assert_eq!(
            extract(&[b"Bearer ==="]),
            problem(RequestProblem::InvalidCharacters)
        );
        assert_eq!(
            extract(&[b"Bearer a=b"]),
            problem(RequestProblem::InvalidCharacters)
        );
        assert_eq!(
            extract(&[b"Bearer \xc3\xa9"]),
            problem(RequestProblem::InvalidCharacters)
        );
        assert_eq!(
            extract(&[b"Bearer a", b"Bearer b"]),
            problem(RequestProblem::SeveralAuthorizationHeaders)
        );
    }

    #[test]
    fn oversized_tokens_are_rejected_before_inspection() {
        let long = format!("Bearer {}", "a".repeat(101));
        assert_eq!(
            extract(&[long.as_bytes()]),
            Err(AuthError::InvalidToken(TokenProblem::TooLarge))
        );
    }
}
