//! Attack family: claims games, on correctly MAC-ed tokens (secret mode, so any payload can be
//! signed), so that only the claim rules decide.
//!
//! `exp` / `nbf` / `iat` of every JSON type and extreme values; `iss` and `aud` of the wrong
//! type or shape; repeated claim names (including through a `\u` escape); payloads that are
//! not UTF-8 or not an object; deeply nested JSON; and the scope claims on a scoped route.

use crate::common;

use bearer_guard::testing::{DEFAULT_AUDIENCE, TokenBuilder};
use common::{
    Case, Expect, HS_ISSUER, HS_SECRET, SCOPED, b64, hs_app, hs_builder, hs_claims, hs_raw,
    hs_token, now, run,
};
use serde_json::{Value, json};

const HEADER: &[u8] = br#"{"alg":"HS256","typ":"JWT"}"#;

/// A token with `name` set to `value`.
fn with(name: &str, value: impl Into<Value>) -> String {
    hs_token().claim(name, value).sign()
}

/// A token without `name`.
fn without(name: &str) -> String {
    hs_token().without_claim(name).sign()
}

/// The valid claims as JSON text without `omit`, with `extra` members (raw JSON text,
/// starting with a comma) appended: for repeated names and numbers written exactly.
fn claims_text(omit: &[&str], extra: &str) -> String {
    let mut claims = hs_claims();
    for name in omit {
        claims.remove(*name);
    }
    let text = Value::Object(claims).to_string();
    format!("{}{extra}}}", &text[..text.len() - 1])
}

/// A token whose payload is exactly `payload` (UTF-8 text).
fn raw(payload: &str) -> String {
    hs_token().raw_payload(payload).sign()
}

/// A token whose payload is exactly these bytes (need not be UTF-8).
fn raw_bytes(payload: &[u8]) -> String {
    hs_raw(HEADER, payload)
}

fn nested_arrays(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

#[tokio::test]
async fn time_claims() {
    let app = hs_app();
    let now = now();
    use Expect::*;
    let cases = vec![
        Case::token("control: valid", hs_token().sign(), Ok),
        // exp
        Case::token(
            "exp as a numeric string",
            with("exp", (now + 3600).to_string()),
            InvalidToken,
        ),
        Case::token(
            "exp as an exponent string",
            with("exp", "4.1e9"),
            InvalidToken,
        ),
        Case::token("exp as an empty string", with("exp", ""), InvalidToken),
        Case::token(
            "exp as a float in the future",
            with("exp", now as f64 + 3600.5),
            Ok,
        ),
        Case::token(
            "exp written in exponent notation (4.1e9, year 2099)",
            raw(&claims_text(&["exp"], r#","exp":4.1e9"#)),
            Ok,
        ),
        Case::token("exp negative", with("exp", -1), InvalidToken),
        Case::token("exp zero", with("exp", 0), InvalidToken),
        Case::token(
            "exp negative zero float",
            raw(&claims_text(&["exp"], r#","exp":-0.0"#)),
            InvalidToken,
        ),
        Case::token("exp i64::MIN", with("exp", i64::MIN), InvalidToken),
        Case::token("exp -1e300", with("exp", -1e300), InvalidToken),
        Case::token("exp null", with("exp", Value::Null), InvalidToken),
        Case::token("exp true", with("exp", true), InvalidToken),
        Case::token(
            "exp as an array",
            with("exp", json!([now + 3600])),
            InvalidToken,
        ),
        Case::token(
            "exp as an object",
            with("exp", json!({"value": now + 3600})),
            InvalidToken,
        ),
        Case::token("exp u64::MAX", with("exp", u64::MAX), Ok),
        Case::token("exp 1e300 (saturates)", with("exp", 1e300), Ok),
        Case::token(
            "exp 1e400 (beyond f64)",
            raw(&claims_text(&["exp"], r#","exp":1e400"#)),
            InvalidToken,
        ),
        Case::token(
            "exp as a 40-digit integer",
            raw(&claims_text(
                &["exp"],
                r#","exp":1234567890123456789012345678901234567890"#,
            )),
            Ok,
        ),
        Case::token("exp missing", without("exp"), InvalidToken),
        Case::token(
            "exp 30 s ago (inside the leeway)",
            with("exp", now - 30),
            Ok,
        ),
        Case::token("exp 2 min ago", with("exp", now - 120), InvalidToken),
        Case::token(
            "far-future lifetime (100 years)",
            with("exp", now + 100 * 365 * 24 * 3600),
            Ok,
        ),
        // nbf
        Case::token(
            "nbf as a string",
            with("nbf", (now - 10).to_string()),
            InvalidToken,
        ),
        Case::token(
            "nbf as a float in the past",
            with("nbf", now as f64 - 10.5),
            Ok,
        ),
        Case::token("nbf negative", with("nbf", -1), Ok),
        Case::token("nbf null", with("nbf", Value::Null), InvalidToken),
        Case::token("nbf false", with("nbf", false), InvalidToken),
        Case::token("nbf in an hour", with("nbf", now + 3600), InvalidToken),
        Case::token("nbf in 30 s (inside the leeway)", with("nbf", now + 30), Ok),
        Case::token("nbf u64::MAX", with("nbf", u64::MAX), InvalidToken),
        Case::token("nbf 1e300", with("nbf", 1e300), InvalidToken),
        // iat
        Case::token(
            "iat as a string",
            with("iat", now.to_string()),
            InvalidToken,
        ),
        Case::token("iat as a float", with("iat", now as f64 - 0.25), Ok),
        Case::token("iat negative", with("iat", -1), Ok),
        Case::token("iat null", with("iat", Value::Null), InvalidToken),
        Case::token("iat as an array", with("iat", json!([now])), InvalidToken),
        Case::token("iat in an hour", with("iat", now + 3600), InvalidToken),
        Case::token("iat u64::MAX", with("iat", u64::MAX), InvalidToken),
        Case::token("iat missing", without("iat"), Ok),
    ];
    run(&app, &cases).await;
}

#[tokio::test]
async fn issuer_and_audience() {
    let app = hs_app();
    use Expect::*;
    let cases = vec![
        Case::token("control: valid", hs_token().sign(), Ok),
        // iss
        Case::token(
            "iss as an array holding the issuer",
            with("iss", json!([HS_ISSUER])),
            InvalidToken,
        ),
        Case::token("iss as a number", with("iss", 1), InvalidToken),
        Case::token(
            "iss as an object",
            with("iss", json!({"iss": HS_ISSUER})),
            InvalidToken,
        ),
        Case::token("iss null", with("iss", Value::Null), InvalidToken),
        Case::token("iss missing", without("iss"), InvalidToken),
        Case::token(
            "iss without the trailing slash",
            with("iss", HS_ISSUER.trim_end_matches('/')),
            InvalidToken,
        ),
        Case::token(
            "iss with a trailing space",
            with("iss", format!("{HS_ISSUER} ")),
            InvalidToken,
        ),
        Case::token(
            "iss upper-cased",
            with("iss", HS_ISSUER.to_uppercase()),
            InvalidToken,
        ),
        Case::token(
            "iss with a NUL appended",
            with("iss", format!("{HS_ISSUER}\u{0}")),
            InvalidToken,
        ),
        Case::token(
            "iss as a prefix match",
            with("iss", format!("{HS_ISSUER}evil")),
            InvalidToken,
        ),
        Case::token("iss empty", with("iss", ""), InvalidToken),
        // JSON escapes spell the same string: accepted.
        Case::token(
            "iss with JSON-escaped slashes (the same string)",
            raw(&claims_text(
                &["iss"],
                r#","iss":"https:\/\/issuer.example\/""#,
            )),
            Ok,
        ),
        Case::token(
            "iss with a \\u-escaped letter (the same string)",
            raw(&claims_text(
                &["iss"],
                r#","iss":"\u0068ttps://issuer.example/""#,
            )),
            Ok,
        ),
        // aud
        Case::token("aud as a number", with("aud", 1), InvalidToken),
        Case::token(
            "aud as an empty array",
            with("aud", json!([])),
            InvalidToken,
        ),
        Case::token(
            "aud as an array with the right value",
            with("aud", json!([DEFAULT_AUDIENCE])),
            Ok,
        ),
        Case::token(
            "aud as an array with another value first",
            with("aud", json!(["https://other.example", DEFAULT_AUDIENCE])),
            Ok,
        ),
        Case::token(
            "aud array with a number after the right value",
            with("aud", json!([DEFAULT_AUDIENCE, 1])),
            InvalidToken,
        ),
        Case::token(
            "aud array with null after the right value",
            with("aud", json!([DEFAULT_AUDIENCE, null])),
            InvalidToken,
        ),
        Case::token(
            "aud nested array",
            with("aud", json!([[DEFAULT_AUDIENCE]])),
            InvalidToken,
        ),
        Case::token(
            "aud as an object",
            with("aud", json!({"aud": DEFAULT_AUDIENCE})),
            InvalidToken,
        ),
        Case::token("aud null", with("aud", Value::Null), InvalidToken),
        Case::token("aud missing", without("aud"), InvalidToken),
        Case::token(
            "aud of another API",
            with("aud", "https://other.example"),
            InvalidToken,
        ),
        Case::token(
            "aud upper-cased",
            with("aud", DEFAULT_AUDIENCE.to_uppercase()),
            InvalidToken,
        ),
        Case::token(
            "aud with a trailing slash",
            with("aud", format!("{DEFAULT_AUDIENCE}/")),
            InvalidToken,
        ),
        Case::token(
            "aud as a space-separated list",
            with("aud", format!("https://other.example {DEFAULT_AUDIENCE}")),
            InvalidToken,
        ),
        Case::token("aud empty string", with("aud", ""), InvalidToken),
    ];
    run(&app, &cases).await;
}

#[tokio::test]
async fn repeated_claim_names() {
    let app = hs_app();
    let now = now();
    let wrong_then_right = format!(r#","aud":"https://other.example","aud":"{DEFAULT_AUDIENCE}""#);
    let right_then_wrong = format!(r#","aud":"{DEFAULT_AUDIENCE}","aud":"https://other.example""#);
    use Expect::*;
    let cases = vec![
        Case::token(
            "control: raw payload without repeats",
            raw(&claims_text(&[], "")),
            Ok,
        ),
        Case::token(
            "two aud, wrong then right",
            raw(&claims_text(&["aud"], &wrong_then_right)),
            InvalidToken,
        ),
        Case::token(
            "two aud, right then wrong",
            raw(&claims_text(&["aud"], &right_then_wrong)),
            InvalidToken,
        ),
        Case::token(
            "two aud, both right",
            raw(&claims_text(
                &["aud"],
                &format!(r#","aud":"{DEFAULT_AUDIENCE}","aud":"{DEFAULT_AUDIENCE}""#),
            )),
            InvalidToken,
        ),
        Case::token(
            "two exp, expired then valid",
            raw(&claims_text(
                &["exp"],
                &format!(r#","exp":{},"exp":{}"#, now - 3600, now + 3600),
            )),
            InvalidToken,
        ),
        Case::token(
            "two exp, valid then expired",
            raw(&claims_text(
                &["exp"],
                &format!(r#","exp":{},"exp":{}"#, now + 3600, now - 3600),
            )),
            InvalidToken,
        ),
        Case::token(
            "two iss",
            raw(&claims_text(
                &["iss"],
                &format!(r#","iss":"https://evil.example/","iss":"{HS_ISSUER}""#),
            )),
            InvalidToken,
        ),
        Case::token(
            "aud repeated through a \\u escape of its name",
            raw(&claims_text(
                &["aud"],
                &format!(r#","aud":"https://other.example","\u0061ud":"{DEFAULT_AUDIENCE}""#),
            )),
            InvalidToken,
        ),
        Case::token(
            "two scope claims",
            raw(&claims_text(
                &["scope"],
                r#","scope":"none","scope":"read:messages""#,
            )),
            InvalidToken,
        )
        .on(SCOPED),
        Case::token(
            "a repeated name inside a nested object is fine",
            raw(&claims_text(
                &[],
                r#","ext":{"a":1},"ext2":{"a":1,"b":{"a":2}}"#,
            )),
            Ok,
        ),
    ];
    run(&app, &cases).await;
}

#[tokio::test]
async fn payloads_that_are_not_utf8_json_objects() {
    let app = hs_app();
    let good = claims_text(&[], "");
    let with_sub_bytes = |bytes: &[u8]| {
        let mut payload = good.as_bytes()[..good.len() - 1].to_vec();
        payload.extend_from_slice(br#","x":""#);
        payload.extend_from_slice(bytes);
        payload.extend_from_slice(br#""}"#);
        raw_bytes(&payload)
    };
    let utf16: Vec<u8> = good.encode_utf16().flat_map(u16::to_le_bytes).collect();
    use Expect::*;
    let cases = vec![
        Case::token(
            "control: the same claims as raw bytes",
            raw_bytes(good.as_bytes()),
            Ok,
        ),
        Case::token(
            "control: trailing whitespace after the object",
            raw_bytes(format!("{good} \n\t").as_bytes()),
            Ok,
        ),
        Case::token("0xFF in a string", with_sub_bytes(b"\xff"), InvalidToken),
        Case::token(
            "truncated UTF-8 sequence",
            with_sub_bytes(b"\xe2\x82"),
            InvalidToken,
        ),
        Case::token(
            "overlong UTF-8 '/'",
            with_sub_bytes(b"\xc0\xaf"),
            InvalidToken,
        ),
        Case::token(
            "UTF-8-encoded surrogate",
            with_sub_bytes(b"\xed\xa0\x80"),
            InvalidToken,
        ),
        Case::token(
            "lone surrogate escape",
            with_sub_bytes(br"\ud800"),
            InvalidToken,
        ),
        Case::token("raw NUL in a string", with_sub_bytes(b"\x00"), InvalidToken),
        Case::token(
            "raw newline in a string",
            with_sub_bytes(b"\n"),
            InvalidToken,
        ),
        Case::token(
            "invalid UTF-8 in a member name",
            raw_bytes(&[b"{\"\xff\":1,".as_slice(), &good.as_bytes()[1..]].concat()),
            InvalidToken,
        ),
        Case::token(
            "UTF-8 byte order mark before the object",
            raw_bytes(&[b"\xef\xbb\xbf".as_slice(), good.as_bytes()].concat()),
            InvalidToken,
        ),
        Case::token("UTF-16LE JSON", raw_bytes(&utf16), InvalidToken),
        Case::token(
            "garbage after the object",
            raw_bytes(format!("{good}x").as_bytes()),
            InvalidToken,
        ),
        Case::token(
            "a second object after the first",
            raw_bytes(format!("{good}{good}").as_bytes()),
            InvalidToken,
        ),
        Case::token("payload []", raw("[]"), InvalidToken),
        Case::token("payload null", raw("null"), InvalidToken),
        Case::token("payload a string", raw(r#""claims""#), InvalidToken),
        Case::token("payload a number", raw("123"), InvalidToken),
        Case::token(
            "payload the claims in an array",
            raw(&format!("[{good}]")),
            InvalidToken,
        ),
        Case::token("payload empty (empty segment)", raw(""), InvalidToken),
        Case::token("payload whitespace only", raw("   "), InvalidToken),
        Case::token(
            "payload truncated JSON",
            raw(&good[..good.len() - 1]),
            InvalidToken,
        ),
    ];
    run(&app, &cases).await;
}

#[tokio::test]
async fn deeply_nested_json() {
    let app = hs_app();
    let cap = 16 * 1024;
    let deep_5000 = raw(&claims_text(
        &[],
        &format!(r#","deep":{}"#, nested_arrays(5000)),
    ));
    assert!(deep_5000.len() <= cap, "{}", deep_5000.len());
    let deep_10000 = raw(&claims_text(
        &[],
        &format!(r#","deep":{}"#, nested_arrays(10_000)),
    ));
    assert!(deep_10000.len() > cap);
    let deep_objects = raw(&claims_text(
        &[],
        &format!(
            r#","deep":{}1{}"#,
            r#"{"a":"#.repeat(2000),
            "}".repeat(2000)
        ),
    ));
    assert!(deep_objects.len() <= cap, "{}", deep_objects.len());
    // An unsigned header nested 5000 deep in an unknown member, and in `crit`.
    let deep_header = |member: &str| {
        let header = format!(r#"{{"alg":"HS256","{member}":{}}}"#, nested_arrays(5000));
        format!(
            "{}.{}.{}",
            b64(header),
            b64(claims_text(&[], "")),
            b64([0u8; 32])
        )
    };
    use Expect::*;
    let cases = vec![
        Case::token(
            "control: 100 nested arrays (inside serde_json's limit)",
            raw(&claims_text(
                &[],
                &format!(r#","deep":{}"#, nested_arrays(100)),
            )),
            Ok,
        ),
        Case::token("5000 nested arrays in a claim", &deep_5000, InvalidToken),
        Case::token(
            "10 000 nested arrays (over the 16 KiB cap)",
            &deep_10000,
            InvalidToken,
        ),
        Case::token(
            "2000 nested objects in a claim",
            &deep_objects,
            InvalidToken,
        ),
        Case::token(
            "5000 nested arrays as the whole payload",
            raw(&nested_arrays(5000)),
            InvalidToken,
        ),
        Case::token(
            "5000 nested arrays as aud",
            raw(&claims_text(
                &["aud"],
                &format!(r#","aud":{}"#, nested_arrays(5000)),
            )),
            InvalidToken,
        ),
        Case::token(
            "5000 nested arrays in an unknown header member, bad MAC",
            deep_header("x"),
            InvalidToken,
        ),
        Case::token(
            "5000 nested arrays in crit, bad MAC",
            deep_header("crit"),
            InvalidToken,
        ),
    ];
    run(&app, &cases).await;

    // With the cap raised to 64 KiB, 10 000 levels reach the JSON parser, which must refuse
    // them without overflowing the stack.
    let roomy = common::app(
        hs_builder()
            .max_token_bytes(64 * 1024)
            .build()
            .expect("valid configuration"),
    );
    let cases = vec![
        Case::token("control: valid, 64 KiB cap", hs_token().sign(), Ok),
        Case::token(
            "10 000 nested arrays in a claim, 64 KiB cap",
            &deep_10000,
            InvalidToken,
        ),
        Case::token(
            "10 000 nested arrays as the whole payload, 64 KiB cap",
            raw(&nested_arrays(10_000)),
            InvalidToken,
        ),
        Case::token(
            "10 000 nested arrays in an unknown header member, bad MAC, 64 KiB cap",
            {
                let header = format!(r#"{{"alg":"HS256","x":{}}}"#, nested_arrays(10_000));
                format!(
                    "{}.{}.{}",
                    b64(header),
                    b64(claims_text(&[], "")),
                    b64([0u8; 32])
                )
            },
            InvalidToken,
        ),
    ];
    run(&roomy, &cases).await;
}

#[tokio::test]
async fn scope_claims_on_a_scoped_route() {
    let app = hs_app();
    use Expect::*;
    let scoped = |name: &str, token: String, expect| Case::token(name, token, expect).on(SCOPED);
    let cases = vec![
        scoped("control: scope read:messages", hs_token().sign(), Ok),
        scoped("scope missing", without("scope"), InsufficientScope),
        scoped(
            "scope null (treated as none)",
            with("scope", Value::Null),
            InsufficientScope,
        ),
        scoped(
            "scope with a suffix",
            with("scope", "read:messagesX"),
            InsufficientScope,
        ),
        scoped(
            "scope upper-cased",
            with("scope", "READ:MESSAGES"),
            InsufficientScope,
        ),
        scoped(
            "scope as a prefix",
            with("scope", "read:"),
            InsufficientScope,
        ),
        scoped(
            "scope comma-separated",
            with("scope", "write:messages,read:messages"),
            InsufficientScope,
        ),
        scoped(
            "scope among others",
            with("scope", "openid read:messages profile"),
            Ok,
        ),
        scoped(
            "scope as an array",
            with("scope", json!([common::SCOPE])),
            Ok,
        ),
        scoped(
            "scp as an array",
            hs_token()
                .without_claim("scope")
                .claim("scp", json!([common::SCOPE]))
                .sign(),
            Ok,
        ),
        scoped("scope as a number", with("scope", 1), InvalidToken),
        scoped(
            "scope as an object",
            with("scope", json!({"read:messages": true})),
            InvalidToken,
        ),
        scoped(
            "scope array with a number",
            with("scope", json!([common::SCOPE, 1])),
            InvalidToken,
        ),
        scoped(
            "permissions claim not read by default",
            hs_token()
                .without_claim("scope")
                .claim("permissions", json!([common::SCOPE]))
                .sign(),
            InsufficientScope,
        ),
        // A scope-carrying token signed with another secret never reaches the scope check.
        scoped(
            "valid scope, wrong secret",
            TokenBuilder::hs256(&HS_SECRET[1..])
                .claim("iss", HS_ISSUER)
                .claim("aud", DEFAULT_AUDIENCE)
                .claim("exp", now() + 600)
                .scope(common::SCOPE)
                .sign(),
            InvalidToken,
        ),
    ];
    run(&app, &cases).await;
}
