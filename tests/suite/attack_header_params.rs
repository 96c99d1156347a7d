//! Attack family: JOSE header parameters that change how a token must be processed.
//!
//! `crit` (any value: this crate implements no extension), `b64` (RFC 7797 unencoded payload),
//! `cty: JWT` in any letter case (a nested token), JWE-shaped tokens (five segments), and
//! `typ` in the default mode. Every token here is correctly signed, so only the header rule
//! decides. Each table runs in secret mode (HS256) and in key set mode (RS256).
//!
//! `typ` in the default mode is not inspected beyond being a string: `JWT`, `at+jwt`, an
//! absent `typ` and an odd one such as `foo` are all accepted. RFC 9068 strict mode was added
//! while this family was being written; `typ_in_rfc9068_strict_mode` pins its `typ` rule only.

use crate::common;

use bearer_guard::testing::TokenBuilder;
use common::{Case, Expect, Fixture, b64, hs_app, hs_token, run, run_one};
use serde_json::{Value, json};

/// The header-parameter cases for tokens made by `token` (a valid, signed token builder).
fn header_param_cases(mode: &str, token: &dyn Fn() -> TokenBuilder) -> Vec<Case> {
    use Expect::*;
    let set = |name: &str, value: Value| token().header(name, value).sign();
    let case =
        |name: &str, value: String, expect| Case::token(format!("{mode}: {name}"), value, expect);
    let mut cases = vec![case("control: valid", token().sign(), Ok)];
    // crit: any value rejects the token.
    for (what, value) in [
        ("[\"exp\"]", json!(["exp"])),
        ("[\"b64\"] without b64", json!(["b64"])),
        ("[]", json!([])),
        ("[\"\"]", json!([""])),
        ("[\"crit\"]", json!(["crit"])),
        ("[\"alg\"] (a registered name)", json!(["alg"])),
        ("[an extension URI]", json!(["https://example.com/ext"])),
        ("\"exp\" (a string)", json!("exp")),
        ("1", json!(1)),
        ("true", json!(true)),
        ("false", json!(false)),
        ("{}", json!({})),
        ("[[\"exp\"]]", json!([["exp"]])),
    ] {
        cases.push(case(
            &format!("crit {what}"),
            set("crit", value),
            InvalidToken,
        ));
    }
    cases.push(case(
        "crit [\"b64\"] with b64 false",
        token()
            .header("crit", json!(["b64"]))
            .header("b64", false)
            .sign(),
        InvalidToken,
    ));
    // b64: present at all rejects the token.
    for (what, value) in [
        ("false", json!(false)),
        ("true", json!(true)),
        ("\"false\"", json!("false")),
        ("0", json!(0)),
        ("[]", json!([])),
    ] {
        cases.push(case(
            &format!("b64 {what}"),
            set("b64", value),
            InvalidToken,
        ));
    }
    // cty: JWT in any letter case is a nested token.
    for cty in ["JWT", "jwt", "Jwt", "jWT", "JwT"] {
        cases.push(case(
            &format!("cty {cty}"),
            set("cty", json!(cty)),
            InvalidToken,
        ));
    }
    cases.push(case(
        "cty JWT with a JWT as the payload",
        token()
            .header("cty", "JWT")
            .raw_payload(json!(token().sign()).to_string())
            .sign(),
        InvalidToken,
    ));
    cases.push(case("cty as a number", set("cty", json!(1)), InvalidToken));
    cases.push(case(
        "cty as an array",
        set("cty", json!(["JWT"])),
        InvalidToken,
    ));
    cases.push(case("control: cty json", set("cty", json!("json")), Ok));
    cases.push(case(
        "control: cty application/json",
        set("cty", json!("application/json")),
        Ok,
    ));
    // typ in the default mode: not inspected.
    for typ in ["JWT", "jwt", "at+jwt", "application/at+jwt", "JOSE", "foo"] {
        cases.push(case(
            &format!("typ {typ} (default mode)"),
            set("typ", json!(typ)),
            Ok,
        ));
    }
    cases.push(case(
        "typ 1 (not a string)",
        set("typ", json!(1)),
        InvalidToken,
    ));
    cases.push(case(
        "typ absent (default mode)",
        token().without_header("typ").sign(),
        Ok,
    ));
    // JWE-shaped tokens.
    let jwe_header = b64(r#"{"alg":"RSA-OAEP","enc":"A256GCM"}"#);
    let valid = token().sign();
    cases.extend([
        case(
            "JWE, five segments",
            format!(
                "{jwe_header}.{}.{}.{}.{}",
                b64([7u8; 256]),
                b64([1u8; 12]),
                b64(b"ciphertext"),
                b64([2u8; 16])
            ),
            InvalidToken,
        ),
        case(
            "JWE dir, empty encrypted key",
            format!(
                "{}..{}.{}.{}",
                b64(r#"{"alg":"dir","enc":"A128GCM"}"#),
                b64([1u8; 12]),
                b64(b"ciphertext"),
                b64([2u8; 16])
            ),
            InvalidToken,
        ),
        case("five empty segments", "....".to_owned(), InvalidToken),
        case(
            "a valid JWS with two segments appended",
            format!("{valid}.x.y"),
            InvalidToken,
        ),
        case(
            "a valid JWS with one segment appended",
            format!("{valid}.x"),
            InvalidToken,
        ),
        case(
            "a valid JWS with three segments appended",
            format!("{valid}.x.y.z"),
            InvalidToken,
        ),
        case(
            "JWE header on three segments",
            {
                let (_, p, s) = common::segments(&valid);
                format!("{jwe_header}.{p}.{s}")
            },
            InvalidToken,
        ),
    ]);
    cases
}

#[tokio::test]
async fn header_parameters_in_secret_mode() {
    let app = hs_app();
    let cases = header_param_cases("HS256", &hs_token);
    run(&app, &cases).await;
}

#[tokio::test]
async fn header_parameters_in_key_set_mode() {
    let f = Fixture::warm_default().await;
    let token = || f.token();
    let cases = header_param_cases("RS256", &token);
    run(&f.app, &cases).await;
}

#[tokio::test]
async fn typ_in_rfc9068_strict_mode() {
    // Strict mode landed after this family was specified; a few cases pin its `typ` rule
    // (RFC 9068 §2.1 / §4: `at+jwt`, optionally with `application/`, case-insensitive).
    let app = common::app(
        common::hs_builder()
            .rfc9068()
            .build()
            .expect("valid configuration"),
    );
    let token = || {
        hs_token()
            .claim("client_id", "attack-tests")
            .claim("jti", "d1b5a0c4-7d3c-4b4e-9b1f-0f7a2b9f4c11")
    };
    use Expect::*;
    let typ = |name: &str, value: Value, expect| {
        Case::token(
            format!("strict: typ {name}"),
            token().header("typ", value).sign(),
            expect,
        )
    };
    let cases = vec![
        typ("at+jwt", json!("at+jwt"), Ok),
        typ("application/at+jwt", json!("application/at+jwt"), Ok),
        typ("AT+JWT", json!("AT+JWT"), Ok),
        typ("JWT", json!("JWT"), InvalidToken),
        typ("foo", json!("foo"), InvalidToken),
        typ("at+jwt with a space", json!("at+jwt "), InvalidToken),
        typ("application/jwt", json!("application/jwt"), InvalidToken),
        typ("null", Value::Null, InvalidToken),
        typ("1", json!(1), InvalidToken),
        typ("[\"at+jwt\"]", json!(["at+jwt"]), InvalidToken),
        Case::token(
            "strict: typ absent",
            token().without_header("typ").sign(),
            InvalidToken,
        ),
        Case::token(
            "strict: typ at+jwt with crit",
            token()
                .header("typ", "at+jwt")
                .header("crit", json!(["exp"]))
                .sign(),
            InvalidToken,
        ),
    ];
    run(&app, &cases).await;
}

/// Regression: `crit: null` was read as "no crit" (`Option<Value>` with `#[serde(default)]`
/// turns `null` into `None`), so the token was accepted. RFC 7515 §4.1.11 makes `crit` an
/// array of extension names; any `crit` this crate does not implement (any value at all) is
/// refused.
#[tokio::test]
async fn crit_null_is_refused() {
    let app = hs_app();
    run_one(
        &app,
        Case::token(
            "crit null",
            hs_token().header("crit", Value::Null).sign(),
            Expect::InvalidToken,
        ),
    )
    .await;
}

/// Regression: `b64: null` was read as "no b64" (same cause as `crit: null`) and accepted,
/// while any `b64` header parameter refuses the token (`b64: true`, `"false"`, `0` were
/// already refused).
#[tokio::test]
async fn b64_null_is_refused() {
    let app = hs_app();
    run_one(
        &app,
        Case::token(
            "b64 null",
            hs_token().header("b64", Value::Null).sign(),
            Expect::InvalidToken,
        ),
    )
    .await;
}

/// Regression: `cty: application/jwt` was not recognised as a nested token. RFC 7515
/// §4.1.10: a `cty` without a `/` is the media type with `application/` prepended, so `JWT`
/// and `application/jwt` (any case; media types are case-insensitive) name the same thing.
#[tokio::test]
async fn cty_application_jwt_is_refused_as_nested() {
    let app = hs_app();
    for cty in ["application/jwt", "application/JWT", "Application/Jwt"] {
        run_one(
            &app,
            Case::token(
                format!("cty {cty}"),
                hs_token().header("cty", cty).sign(),
                Expect::InvalidToken,
            ),
        )
        .await;
    }
}

#[tokio::test]
async fn header_bytes_that_are_not_utf8() {
    // Correctly MAC-ed, so only the header decoding decides.
    let app = hs_app();
    let payload = serde_json::to_vec(&Value::Object(common::hs_claims())).expect("JSON");
    use Expect::*;
    let cases = vec![
        Case::token(
            "control: raw header, valid UTF-8 in an unknown member",
            common::hs_raw(b"{\"alg\":\"HS256\",\"x\":\"caf\xc3\xa9\"}", &payload),
            Ok,
        ),
        Case::token(
            "0xFF in kid",
            common::hs_raw(b"{\"alg\":\"HS256\",\"kid\":\"k\xff\"}", &payload),
            InvalidToken,
        ),
        Case::token(
            "0xFF in typ",
            common::hs_raw(b"{\"alg\":\"HS256\",\"typ\":\"J\xffWT\"}", &payload),
            InvalidToken,
        ),
        Case::token(
            "0xFF in alg",
            common::hs_raw(b"{\"alg\":\"HS256\xff\"}", &payload),
            InvalidToken,
        ),
        Case::token(
            "0xFF in a member name",
            common::hs_raw(b"{\"alg\":\"HS256\",\"\xff\":1}", &payload),
            InvalidToken,
        ),
        Case::token(
            "UTF-16LE header",
            common::hs_raw(
                &r#"{"alg":"HS256"}"#.encode_utf16().flat_map(u16::to_le_bytes).collect::<Vec<_>>(),
                &payload,
            ),
            InvalidToken,
        ),
        Case::token(
            "byte order mark before the header",
            common::hs_raw(b"\xef\xbb\xbf{\"alg\":\"HS256\"}", &payload),
            InvalidToken,
        ),
    ];
    run(&app, &cases).await;
}

/// Regression (found by the `validate_token` fuzz target): invalid UTF-8 inside the value of a
/// header member the crate does not read was skipped unvalidated (serde_json's `IgnoredAny`
/// does not check UTF-8), so a header that is not UTF-8 JSON was accepted. RFC 7515 §5.2 step
/// 4: the decoded header must be "a UTF-8-encoded representation of a completely valid JSON
/// object"; the header now gets the same check as the payload.
#[tokio::test]
async fn non_utf8_in_an_unread_header_member_is_refused() {
    let app = hs_app();
    let payload = serde_json::to_vec(&Value::Object(common::hs_claims())).expect("JSON");
    run_one(
        &app,
        Case::token(
            "0xFF in an unknown header member, correctly MAC-ed",
            common::hs_raw(b"{\"alg\":\"HS256\",\"x\":\"\xff\"}", &payload),
            Expect::InvalidToken,
        ),
    )
    .await;
    run_one(
        &app,
        Case::token(
            "0xFF inside an array in an unknown header member, correctly MAC-ed",
            common::hs_raw(b"{\"alg\":\"HS256\",\"rit\":[\"exp\xff\"]}", &payload),
            Expect::InvalidToken,
        ),
    )
    .await;
}
