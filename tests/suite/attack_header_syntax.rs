//! Attack family: the `Authorization` header itself (RFC 6750 §2.1 / RFC 9110 §11.4).
//!
//! Garbage values, every whitespace arrangement, letter case, comma lists, obs-text bytes,
//! very long values and several headers. Control characters other than HTAB cannot be put in
//! an `http::HeaderValue` at all, so only bytes `http` accepts (HTAB, 0x20-0x7E, 0x80-0xFF) are
//! used. Outcomes per the behaviour contract (README, "Behaviour"): no header or another scheme is a bare 401, a malformed bearer
//! credential is 400 `invalid_request`, a presented token that fails is 401 `invalid_token`,
//! and a token over the 16 KiB cap is 401 `invalid_token`.

use crate::common;

use common::{Case, Expect, SCOPED, hs_app, hs_token, run};

fn bytes(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

#[tokio::test]
async fn authorization_header_syntax_table() {
    let app = hs_app();
    let t = hs_token().sign();
    let tb = t.as_bytes();
    let unscoped = hs_token().without_claim("scope").sign();
    let cap = 16 * 1024;

    use Expect::*;
    let cases = vec![
        // Controls: the same valid token, written normally.
        Case::token("valid token", &t, Ok),
        Case::token("valid token on the scoped route", &t, Ok).on(SCOPED),
        Case::token(
            "valid token without the scope",
            &unscoped,
            InsufficientScope,
        )
        .on(SCOPED),
        // No bearer credentials at all: bare challenge.
        Case::headers("no Authorization header", vec![], Bare),
        Case::headers("no Authorization header, scoped route", vec![], Bare).on(SCOPED),
        Case::header("empty value", "", Bare),
        Case::header("only spaces", "     ", Bare),
        Case::header("only a tab", "\t", Bare),
        Case::header("Basic scheme", "Basic dXNlcjpwYXNzd29yZA==", Bare),
        Case::header("DPoP scheme with a valid token", format!("DPoP {t}"), Bare),
        Case::header("MAC scheme with a valid token", format!("MAC {t}"), Bare),
        Case::header("token without a scheme", t.clone(), Bare),
        Case::header("scheme glued to the token", format!("Bearer{t}"), Bare),
        Case::header("scheme with a colon, no space", format!("Bearer:{t}"), Bare),
        Case::header(
            "scheme with a colon and a space",
            format!("Bearer: {t}"),
            Bare,
        ),
        Case::header(
            "scheme and token separated by a tab",
            format!("Bearer\t{t}"),
            Bare,
        ),
        Case::header(
            "scheme and token separated by a no-break space (obs-text)",
            bytes(&[b"Bearer\xc2\xa0", tb]),
            Bare,
        ),
        Case::header("scheme with a suffix", format!("Bearerx {t}"), Bare),
        Case::header("scheme Bearer-Token", format!("Bearer-Token {t}"), Bare),
        Case::header("scheme with obs-text", bytes(&[b"B\xe9arer ", tb]), Bare),
        Case::header(
            "another scheme first in a comma list",
            format!("Basic dXNlcjpwYXNz, Bearer {t}"),
            Bare,
        ),
        // The scheme is case-insensitive; one or more spaces separate it from the token.
        Case::header("lowercase scheme", format!("bearer {t}"), Ok),
        Case::header("uppercase scheme", format!("BEARER {t}"), Ok),
        Case::header("mixed-case scheme", format!("bEaReR {t}"), Ok),
        Case::header(
            "several spaces after the scheme",
            format!("Bearer     {t}"),
            Ok,
        ),
        Case::header("trailing spaces", format!("Bearer {t}    "), Ok),
        Case::header(
            "space then tab before, tab after",
            format!("Bearer \t{t}\t"),
            Ok,
        ),
        Case::header(
            "five thousand spaces before the token",
            format!("Bearer {}{t}", " ".repeat(5000)),
            Ok,
        ),
        Case::header(
            "twenty thousand trailing spaces (not part of the token)",
            format!("Bearer {t}{}", " ".repeat(20_000)),
            Ok,
        ),
        // Malformed bearer credentials: 400 invalid_request.
        Case::header("Bearer without a token", "Bearer", InvalidRequest),
        Case::header("BEARER without a token", "BEARER", InvalidRequest),
        Case::header("Bearer and one space", "Bearer ", InvalidRequest),
        Case::header("Bearer and many spaces", "Bearer        ", InvalidRequest),
        Case::header("Bearer and tabs", "Bearer \t \t", InvalidRequest),
        Case::header("two tokens", format!("Bearer {t} {t}"), InvalidRequest),
        Case::header(
            "two tokens, several spaces",
            format!("Bearer {t}   x"),
            InvalidRequest,
        ),
        Case::header(
            "comma list of tokens",
            format!("Bearer {t},{t}"),
            InvalidRequest,
        ),
        Case::header(
            "comma list with another scheme after",
            format!("Bearer {t}, Basic dXNlcjpwYXNz"),
            InvalidRequest,
        ),
        Case::header("trailing comma", format!("Bearer {t},"), InvalidRequest),
        Case::header(
            "tab inside the credentials",
            format!("Bearer {t}\t{t}"),
            InvalidRequest,
        ),
        Case::header("quoted token", format!("Bearer \"{t}\""), InvalidRequest),
        Case::header("auth-param syntax", "Bearer token=\"abc\"", InvalidRequest),
        Case::header(
            "semicolon after the token",
            format!("Bearer {t};"),
            InvalidRequest,
        ),
        Case::header(
            "leading '=' padding",
            format!("Bearer =={t}"),
            InvalidRequest,
        ),
        Case::header(
            "'=' inside the token",
            format!("Bearer a=b.{t}"),
            InvalidRequest,
        ),
        Case::header("only '='", "Bearer ===", InvalidRequest),
        Case::header(
            "percent-encoded dot",
            format!("Bearer {}", t.replacen('.', "%2E", 1)),
            InvalidRequest,
        ),
        Case::header(
            "obs-text byte 0xFF after the token",
            bytes(&[b"Bearer ", tb, b"\xff"]),
            InvalidRequest,
        ),
        Case::header(
            "UTF-8 e-acute as the token",
            b"Bearer \xc3\xa9".to_vec(),
            InvalidRequest,
        ),
        Case::header(
            "Latin-1 o-umlaut in the token",
            bytes(&[b"Bearer ", &tb[..10], b"\xf6", &tb[10..]]),
            InvalidRequest,
        ),
        Case::header(
            "backslash in the token",
            format!("Bearer {t}\\"),
            InvalidRequest,
        ),
        Case::header(
            "colon in the token",
            format!("Bearer x:{t}"),
            InvalidRequest,
        ),
        Case::header(
            "exclamation mark in the token",
            "Bearer abc!def",
            InvalidRequest,
        ),
        Case::header("angle brackets", format!("Bearer <{t}>"), InvalidRequest),
        // Syntactically fine b64token, not a valid JWS: 401 invalid_token.
        Case::header("trailing '=' padding", format!("Bearer {t}="), InvalidToken),
        Case::header(
            "trailing '==' padding",
            format!("Bearer {t}=="),
            InvalidToken,
        ),
        Case::header("trailing '~'", format!("Bearer {t}~"), InvalidToken),
        Case::header("a single dot", "Bearer .", InvalidToken),
        Case::header("three dots", "Bearer ...", InvalidToken),
        Case::header("one letter", "Bearer a", InvalidToken),
        Case::header("tildes", "Bearer ~~~~", InvalidToken),
        Case::header("plus and slash", "Bearer +/+/", InvalidToken),
        Case::header("a.b.c", "Bearer a.b.c", InvalidToken),
        // Size: the cap is 16 KiB of token, checked before any character is looked at.
        Case::header(
            "exactly the cap, valid characters",
            format!("Bearer {}", "a".repeat(cap)),
            InvalidToken,
        ),
        Case::header(
            "one byte over the cap",
            format!("Bearer {}", "a".repeat(cap + 1)),
            InvalidToken,
        ),
        Case::header(
            "a megabyte of token",
            format!("Bearer {}", "a".repeat(1 << 20)),
            InvalidToken,
        ),
        Case::header(
            "over the cap with invalid characters",
            format!("Bearer {}", "!".repeat(cap + 1)),
            InvalidToken,
        ),
        Case::header(
            "over the cap with spaces inside",
            format!("Bearer {}", "a ".repeat(cap)),
            InvalidToken,
        ),
        Case::header(
            "valid token padded with dots past the cap",
            format!("Bearer {t}{}", ".".repeat(cap)),
            InvalidToken,
        ),
        // Several Authorization headers: 400 whatever they hold.
        Case::headers(
            "two headers with the same valid token",
            vec![format!("Bearer {t}").into(), format!("Bearer {t}").into()],
            InvalidRequest,
        ),
        Case::headers(
            "Basic header then a valid Bearer header",
            vec![b"Basic dXNlcjpwYXNz".to_vec(), format!("Bearer {t}").into()],
            InvalidRequest,
        ),
        Case::headers(
            "empty header then a valid Bearer header",
            vec![Vec::new(), format!("Bearer {t}").into()],
            InvalidRequest,
        ),
        Case::headers(
            "valid Bearer header then an empty one",
            vec![format!("Bearer {t}").into(), Vec::new()],
            InvalidRequest,
        ),
    ];
    let ran = run(&app, &cases).await;
    assert_eq!(ran, cases.len());
}
