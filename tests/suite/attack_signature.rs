//! Attack family: signature games.
//!
//! Stripped, empty, truncated, bit-flipped, spliced and oversized signatures; extra segments
//! and stray dots; base64 padding, non-canonical base64url (unused bits set in the last
//! character) and the standard alphabet — in the signature and, re-signed so that only the
//! encoding is wrong, in the header and the payload. RS256 through the issuer's key set, and
//! HS256 (MAC truncation, wrong secrets) through a secret-mode validator.

use crate::common;

use base64::Engine;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{
    GeneralPurpose, GeneralPurposeConfig, STANDARD_NO_PAD, URL_SAFE_NO_PAD,
};
use common::{
    Case, Expect, Fixture, RawRsaKey, SCOPE, b64, hs_app, hs_claims, hs_mac, hs_token, run,
    segments, unb64,
};
use serde_json::json;

const URL_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// The same bytes with unused trailing bits set in the last character: a second, non-canonical
/// spelling of the segment. `None` when the segment length leaves no unused bits.
fn noncanonical(segment: &str) -> Option<String> {
    if segment.len().is_multiple_of(4) || segment.len() % 4 == 1 {
        return None;
    }
    let last = *segment.as_bytes().last()?;
    let value = URL_ALPHABET.iter().position(|&c| c == last)?;
    let mut out = segment[..segment.len() - 1].to_owned();
    out.push(URL_ALPHABET[value ^ 1] as char);
    // The same bytes to a lenient decoder; refused by the strict one.
    let lenient = GeneralPurpose::new(
        &alphabet::URL_SAFE,
        GeneralPurposeConfig::new()
            .with_encode_padding(false)
            .with_decode_padding_mode(DecodePaddingMode::RequireNone)
            .with_decode_allow_trailing_bits(true),
    );
    assert_eq!(
        lenient.decode(&out).expect("lenient decode"),
        URL_SAFE_NO_PAD.decode(segment).expect("canonical decode")
    );
    assert!(URL_SAFE_NO_PAD.decode(&out).is_err());
    Some(out)
}

/// Flips one bit of the decoded signature and re-encodes it.
fn flip(signature: &str, byte: usize, bit: u8) -> String {
    let mut bytes = unb64(signature);
    let index = byte.min(bytes.len() - 1);
    bytes[index] ^= 1 << bit;
    b64(bytes)
}

#[tokio::test]
async fn rs256_signature_games() {
    let raw = RawRsaKey::generate("raw");
    let raw_jwk = raw.jwk();
    let f = Fixture::warm(move |issuer| issuer.set_extra_jwks(vec![raw_jwk]), |b| b).await;
    // A token whose signature has a '-' or '_' (almost always), so that the standard-alphabet
    // spelling differs from it.
    let t = (0..)
        .map(|i| f.token().claim("jti", i).sign())
        .find(|t| segments(t).2.contains(['-', '_']))
        .expect("a signature with '-' or '_'");
    let (h, p, s) = segments(&t);
    let other = f.token().claim("sub", "someone-else").sign();
    let (_, p2, s2) = segments(&other);
    let (h2, _, _) = segments(&f.token().header("typ", "at+jwt").sign());
    assert_ne!(h2, h);
    let admin = f.token().scope("read:messages admin").sign();
    let (_, p_admin, _) = segments(&admin);
    let sig = unb64(&s);
    let n = unb64(f.issuer.signing_key().jwk()["n"].as_str().expect("n"));
    let std_sig = STANDARD_NO_PAD.encode(&sig);
    assert_ne!(std_sig, s);

    // A header and payload whose base64url has unused bits, signed as written: only the
    // encoding is wrong.
    let mut padded_header = json!({"alg": "RS256", "kid": "raw", "typ": "JWT"});
    while b64(padded_header.to_string()).len() % 4 != 2 {
        let fill = format!("{}x", padded_header["x"].as_str().unwrap_or(""));
        padded_header["x"] = json!(fill);
    }
    let claims = json!({
        "iss": f.issuer.issuer(),
        "aud": bearer_guard::testing::DEFAULT_AUDIENCE,
        "exp": common::now() + 600,
        "scope": SCOPE,
        "sub": "??>>??>>",
    });
    let mut claims_text = claims.to_string();
    while b64(&claims_text).len() % 4 != 2 {
        claims_text.push(' ');
    }
    let header_b64 = b64(padded_header.to_string());
    let payload_b64 = b64(&claims_text);
    let resign = |header: &str, payload: &str| {
        let input = format!("{header}.{payload}");
        format!("{input}.{}", raw.sign(input.as_bytes()))
    };
    let payload_std = STANDARD_NO_PAD.encode(&claims_text);
    assert_ne!(
        payload_std, payload_b64,
        "the payload needs '+' or '/' in standard base64"
    );

    use Expect::*;
    let cases = vec![
        Case::token("control: valid", &t, Ok),
        Case::token(
            "control: raw signer, canonical header and payload",
            resign(&header_b64, &payload_b64),
            Ok,
        ),
        // Missing signatures.
        Case::token("stripped signature h.p.", format!("{h}.{p}."), InvalidToken),
        Case::header("empty token", "Bearer ", InvalidRequest),
        Case::token("two segments h.p", format!("{h}.{p}"), InvalidToken),
        Case::token("signature only", format!("..{s}"), InvalidToken),
        // Truncated.
        Case::token(
            "truncated by one character",
            &t[..t.len() - 1],
            InvalidToken,
        ),
        Case::token(
            "truncated by two characters",
            &t[..t.len() - 2],
            InvalidToken,
        ),
        Case::token(
            "truncated by four characters (whole bytes)",
            &t[..t.len() - 4],
            InvalidToken,
        ),
        Case::token(
            "signature cut in half",
            format!("{h}.{p}.{}", &s[..s.len() / 2]),
            InvalidToken,
        ),
        Case::token(
            "signature of one character",
            format!("{h}.{p}.{}", &s[..1]),
            InvalidToken,
        ),
        // One bit.
        Case::token(
            "first bit of the signature flipped",
            format!("{h}.{p}.{}", flip(&s, 0, 7)),
            InvalidToken,
        ),
        Case::token(
            "a middle bit of the signature flipped",
            format!("{h}.{p}.{}", flip(&s, 128, 3)),
            InvalidToken,
        ),
        Case::token(
            "last bit of the signature flipped",
            format!("{h}.{p}.{}", flip(&s, usize::MAX, 0)),
            InvalidToken,
        ),
        Case::token(
            "one bit flipped in the payload",
            format!(
                "{h}.{}.{s}",
                b64({
                    let mut bytes = unb64(&p);
                    let at = bytes.len() / 2;
                    bytes[at] ^= 1;
                    bytes
                })
            ),
            InvalidToken,
        ),
        Case::token(
            "one bit flipped in the header (typ JWT -> JWU)",
            format!(
                "{}.{p}.{s}",
                b64(String::from_utf8(unb64(&h))
                    .expect("UTF-8")
                    .replace("JWT", "JWU"))
            ),
            InvalidToken,
        ),
        // Segments and dots.
        Case::token("extra segment", format!("{t}.{s}"), InvalidToken),
        Case::token("extra short segment", format!("{t}.x"), InvalidToken),
        Case::token("trailing dot", format!("{t}."), InvalidToken),
        Case::token("leading dot", format!(".{t}"), InvalidToken),
        Case::token("double dot", format!("{h}..{p}.{s}"), InvalidToken),
        Case::token("six segments", format!("{t}.{h}.{p}.{s}"), InvalidToken),
        // Encodings.
        Case::token("signature padded with '='", format!("{t}="), InvalidToken),
        Case::token("signature padded with '=='", format!("{t}=="), InvalidToken),
        Case::token(
            "payload padded with '=' (mid-token '=' is not b64token)",
            format!("{h}.{p}=.{s}"),
            InvalidRequest,
        ),
        Case::token(
            "non-canonical last character of the signature",
            format!(
                "{h}.{p}.{}",
                noncanonical(&s).expect("256 bytes leave unused bits")
            ),
            InvalidToken,
        ),
        Case::token(
            "signature in the standard alphabet",
            format!("{h}.{p}.{std_sig}"),
            InvalidToken,
        ),
        Case::token(
            "signature in standard base64 with padding",
            format!(
                "{h}.{p}.{}",
                base64::engine::general_purpose::STANDARD.encode(&sig)
            ),
            InvalidToken,
        ),
        Case::token(
            "non-canonical header, signed as written",
            resign(
                &noncanonical(&header_b64).expect("unused bits"),
                &payload_b64,
            ),
            InvalidToken,
        ),
        Case::token(
            "non-canonical payload, signed as written",
            resign(
                &header_b64,
                &noncanonical(&payload_b64).expect("unused bits"),
            ),
            InvalidToken,
        ),
        Case::token(
            "payload in the standard alphabet, signed as written",
            resign(&header_b64, &payload_std),
            InvalidToken,
        ),
        // Oversized and degenerate values.
        Case::token(
            "signature twice over",
            format!("{h}.{p}.{}", b64([sig.clone(), sig.clone()].concat())),
            InvalidToken,
        ),
        Case::token(
            "signature with a trailing zero byte",
            format!("{h}.{p}.{}", b64([sig.clone(), vec![0]].concat())),
            InvalidToken,
        ),
        Case::token(
            "signature with a leading zero byte",
            format!("{h}.{p}.{}", b64([vec![0], sig.clone()].concat())),
            InvalidToken,
        ),
        Case::token(
            "8 KB signature",
            format!("{h}.{p}.{}", b64(vec![0x5a; 8192])),
            InvalidToken,
        ),
        Case::token(
            "signature pushing the token over 16 KiB",
            format!("{h}.{p}.{}", b64(vec![0x5a; 12 * 1024])),
            InvalidToken,
        ),
        Case::token(
            "all-zero signature",
            format!("{h}.{p}.{}", b64(vec![0; sig.len()])),
            InvalidToken,
        ),
        Case::token(
            "all-ones signature",
            format!("{h}.{p}.{}", b64(vec![0xff; sig.len()])),
            InvalidToken,
        ),
        Case::token(
            "signature equal to the modulus",
            format!("{h}.{p}.{}", b64(&n)),
            InvalidToken,
        ),
        Case::token(
            "signature equal to 1",
            format!(
                "{h}.{p}.{}",
                b64({
                    let mut one = vec![0; sig.len()];
                    *one.last_mut().expect("bytes") = 1;
                    one
                })
            ),
            InvalidToken,
        ),
        Case::token("one zero byte", format!("{h}.{p}.AA"), InvalidToken),
        // Splicing valid parts of other valid tokens.
        Case::token(
            "another token's signature",
            format!("{h}.{p}.{s2}"),
            InvalidToken,
        ),
        Case::token(
            "another token's header",
            format!("{h2}.{p}.{s}"),
            InvalidToken,
        ),
        Case::token(
            "a more privileged token's payload",
            format!("{h}.{p_admin}.{s}"),
            InvalidToken,
        ),
        Case::token(
            "header and payload swapped",
            format!("{p}.{h}.{s}"),
            InvalidToken,
        ),
        Case::token(
            "payload of another token, that token's signature",
            format!("{h}.{p2}.{s}"),
            InvalidToken,
        ),
        Case::token(
            "signature upper-cased",
            format!("{h}.{p}.{}", s.to_ascii_uppercase()),
            InvalidToken,
        ),
        Case::token(
            "signature reversed",
            format!("{h}.{p}.{}", s.chars().rev().collect::<String>()),
            InvalidToken,
        ),
        Case::token(
            "space inside the signature",
            format!("{h}.{p}.{} {}", &s[..10], &s[10..]),
            InvalidRequest,
        ),
    ];
    run(&f.app, &cases).await;
}

#[tokio::test]
async fn hs256_mac_games() {
    let app = hs_app();
    let t = hs_token().sign();
    let (h, p, s) = segments(&t);
    let mac = unb64(&s);
    assert_eq!(mac.len(), 32);
    let input = format!("{h}.{p}");
    let with_secret = |secret: &[u8]| {
        let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
        b64(aws_lc_rs::hmac::sign(&key, input.as_bytes()).as_ref())
    };
    // Re-MAC-ed tokens whose header or payload is encoded wrongly.
    let mut claims = serde_json::Value::Object(hs_claims());
    claims["sub"] = json!("??>>??>>");
    let mut claims_text = claims.to_string();
    while b64(&claims_text).len() % 4 != 2 {
        claims_text.push(' ');
    }
    let mut header_text = r#"{"alg":"HS256","typ":"JWT"}"#.to_owned();
    while b64(&header_text).len() % 4 != 2 {
        header_text.insert(1, ' ');
    }
    let header_b64 = b64(&header_text);
    let payload_b64 = b64(&claims_text);
    let remac = |header: &str, payload: &str| {
        let input = format!("{header}.{payload}");
        format!("{input}.{}", hs_mac(&input))
    };
    let payload_std = STANDARD_NO_PAD.encode(&claims_text);
    assert_ne!(payload_std, payload_b64);

    use Expect::*;
    let cases = vec![
        Case::token("control: valid", &t, Ok),
        Case::token(
            "control: re-MAC-ed canonical header and payload",
            remac(&header_b64, &payload_b64),
            Ok,
        ),
        Case::token(
            "MAC truncated to 16 bytes",
            format!("{input}.{}", b64(&mac[..16])),
            InvalidToken,
        ),
        Case::token(
            "MAC truncated to 31 bytes",
            format!("{input}.{}", b64(&mac[..31])),
            InvalidToken,
        ),
        Case::token(
            "MAC truncated to 1 byte",
            format!("{input}.{}", b64(&mac[..1])),
            InvalidToken,
        ),
        Case::token("MAC stripped", format!("{input}."), InvalidToken),
        Case::token(
            "MAC with an extra byte",
            format!("{input}.{}", b64([mac.clone(), vec![0]].concat())),
            InvalidToken,
        ),
        Case::token(
            "MAC with a leading zero byte",
            format!("{input}.{}", b64([vec![0], mac.clone()].concat())),
            InvalidToken,
        ),
        Case::token(
            "MAC twice over",
            format!("{input}.{}", b64([mac.clone(), mac.clone()].concat())),
            InvalidToken,
        ),
        Case::token(
            "MAC bit flipped",
            format!("{input}.{}", flip(&s, 31, 0)),
            InvalidToken,
        ),
        Case::token(
            "MAC with another secret",
            format!(
                "{input}.{}",
                with_secret(b"another-secret-of-at-least-32-bytes!")
            ),
            InvalidToken,
        ),
        Case::token(
            "MAC with an empty secret",
            format!("{input}.{}", with_secret(b"")),
            InvalidToken,
        ),
        Case::token(
            "MAC with the secret minus its last byte",
            format!(
                "{input}.{}",
                with_secret(&common::HS_SECRET[..common::HS_SECRET.len() - 1])
            ),
            InvalidToken,
        ),
        Case::token(
            "MAC over the header only",
            format!("{input}.{}", hs_mac(&h)),
            InvalidToken,
        ),
        Case::token(
            "MAC over h.p. (with the trailing dot)",
            format!("{input}.{}", hs_mac(&format!("{input}."))),
            InvalidToken,
        ),
        Case::token(
            "all-zero MAC",
            format!("{input}.{}", b64([0u8; 32])),
            InvalidToken,
        ),
        Case::token(
            "non-canonical MAC",
            format!(
                "{input}.{}",
                noncanonical(&s).expect("32 bytes leave unused bits")
            ),
            InvalidToken,
        ),
        Case::token(
            "MAC in the standard alphabet with padding",
            format!(
                "{input}.{}",
                base64::engine::general_purpose::STANDARD.encode(&mac)
            ),
            InvalidToken,
        ),
        Case::token("MAC padded with '='", format!("{t}="), InvalidToken),
        Case::token(
            "non-canonical header, re-MAC-ed",
            remac(
                &noncanonical(&header_b64).expect("unused bits"),
                &payload_b64,
            ),
            InvalidToken,
        ),
        Case::token(
            "non-canonical payload, re-MAC-ed",
            remac(
                &header_b64,
                &noncanonical(&payload_b64).expect("unused bits"),
            ),
            InvalidToken,
        ),
        Case::token(
            "standard-alphabet payload, re-MAC-ed",
            remac(&header_b64, &payload_std),
            InvalidToken,
        ),
        Case::token(
            "padded payload, re-MAC-ed (mid-token '=')",
            remac(&header_b64, &format!("{payload_b64}==")),
            InvalidRequest,
        ),
    ];
    run(&app, &cases).await;
}
