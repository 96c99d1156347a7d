//! Property tests (proptest) of the whole middleware and of the signature check.
//!
//! 1. Arbitrary bytes as `Authorization` values (zero to three headers) never panic, never
//!    yield 2xx or 5xx, and always get a well-formed 400/401 answer that does not echo them.
//! 2. Structured mutations of a valid token (bit flips, byte inserts/deletes/replacements in
//!    any segment, segment swaps/drops/duplicates, header members or claims set to arbitrary
//!    JSON, truncation) are never accepted unless the result is byte-identical to the original:
//!    HS256 (fast, many cases) and RS256 through the test issuer (fewer cases).
//! 3. Re-signed tokens whose `iss` / `aud` / `exp` / `nbf` / `iat` is set to an arbitrary JSON
//!    value are accepted exactly when the README's claim rules say so.
//! 4. Re-signed tokens whose header has one member set to an arbitrary JSON value are accepted
//!    exactly when the README's header rules say so.
//! 5. Arbitrary JSON as the JWK set given to `testing::verify_signature` never panics and never
//!    verifies a token signed by a key (or secret) that the set does not contain.
//!
//! Case counts are kept moderate so that the file runs in a few seconds in a debug build.

use crate::common;

use std::sync::OnceLock;

use axum::Router;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bearer_guard::Validator;
use bearer_guard::testing::{
    DEFAULT_AUDIENCE, SigningKey, TestIssuer, TokenBuilder, verify_signature,
};
use common::{Expect, HS_ISSUER, PRIVATE, app, b64, check, hs_builder, hs_token, send_values};
use http::StatusCode;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Map, Value, json};

// ---------------------------------------------------------------------------------------------
// Shared worlds: one runtime, one secret-mode app, one RS256 issuer for the whole binary.
// ---------------------------------------------------------------------------------------------

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

struct World {
    validator: Validator,
    app: Router,
    token: String,
    /// Keeps the RS256 issuer serving for the whole run.
    _issuer: Option<TestIssuer>,
}

fn hs_world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let validator = hs_builder().build().expect("valid configuration");
        World {
            app: app(validator.clone()),
            validator,
            token: hs_token().sign(),
            _issuer: None,
        }
    })
}

fn rs_world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        runtime().block_on(async {
            let issuer = TestIssuer::start().await;
            let validator = issuer.validator().build().expect("valid configuration");
            validator.warm_up().await.expect("keys");
            World {
                app: app(validator.clone()),
                validator,
                token: issuer.token().scope(common::SCOPE).sign(),
                _issuer: Some(issuer),
            }
        })
    })
}

/// Validates through the validator and, when the bytes can be a header value, through the
/// layer too; returns whether either accepted. Fails the case on any 5xx or panic.
fn accepted(world: &World, token: &[u8]) -> Result<bool, TestCaseError> {
    let mut any = false;
    if let Ok(text) = std::str::from_utf8(token) {
        any |= runtime().block_on(world.validator.validate(text)).is_ok();
    }
    let mut value = b"Bearer ".to_vec();
    value.extend_from_slice(token);
    if http::HeaderValue::from_bytes(&value).is_ok() {
        let reply = runtime().block_on(send_values(&world.app, PRIVATE, &[value]));
        prop_assert!(
            !reply.status.is_server_error(),
            "5xx for a mutated token: {:?}",
            reply.status
        );
        any |= reply.status == StatusCode::OK;
    }
    Ok(any)
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

/// Strings that matter to JOSE processing, mixed into arbitrary JSON.
const INTERESTING: &[&str] = &[
    "RS256",
    "HS256",
    "none",
    "None",
    "ES256",
    "JWT",
    "jwt",
    "at+jwt",
    "sig",
    "enc",
    "verify",
    "key-1",
    "RSA",
    "oct",
    "EC",
    "P-256",
    "AQAB",
    HS_ISSUER,
    DEFAULT_AUDIENCE,
    "read:messages",
    "",
];

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        prop::sample::select(INTERESTING).prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    ".{0,6}",
                    prop::sample::select(INTERESTING).prop_map(String::from)
                ],
                inner,
                0..4
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(
            &[
                "alg", "kid", "typ", "cty", "crit", "b64", "jku", "jwk", "x5u", "x5c", "enc",
                "zip",
            ][..]
        )
        .prop_map(String::from),
        ".{0,6}",
    ]
}

fn claim_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(
            &[
                "iss",
                "aud",
                "exp",
                "nbf",
                "iat",
                "sub",
                "scope",
                "scp",
                "jti",
                "client_id",
            ][..]
        )
        .prop_map(String::from),
        ".{0,6}",
    ]
}

/// A byte, biased towards the base64url alphabet and the dot.
fn token_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        any::<u8>(),
        prop::sample::select(
            &b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/"[..]
        ),
    ]
}

#[derive(Debug, Clone)]
enum Mutation {
    FlipBit {
        segment: usize,
        index: usize,
        bit: u8,
    },
    Insert {
        segment: usize,
        index: usize,
        byte: u8,
    },
    Delete {
        segment: usize,
        index: usize,
    },
    Replace {
        segment: usize,
        index: usize,
        byte: u8,
    },
    Swap(usize, usize),
    Duplicate(usize),
    Drop(usize),
    Truncate(usize),
    SetHeader(String, Value),
    RemoveHeader(String),
    SetClaim(String, Value),
    RemoveClaim(String),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let seg = 0usize..3;
    prop_oneof![
        (seg.clone(), any::<usize>(), 0u8..8).prop_map(|(segment, index, bit)| {
            Mutation::FlipBit {
                segment,
                index,
                bit,
            }
        }),
        (seg.clone(), any::<usize>(), token_byte()).prop_map(|(segment, index, byte)| {
            Mutation::Insert {
                segment,
                index,
                byte,
            }
        }),
        (seg.clone(), any::<usize>())
            .prop_map(|(segment, index)| Mutation::Delete { segment, index }),
        (seg.clone(), any::<usize>(), token_byte()).prop_map(|(segment, index, byte)| {
            Mutation::Replace {
                segment,
                index,
                byte,
            }
        }),
        (seg.clone(), seg.clone()).prop_map(|(a, b)| Mutation::Swap(a, b)),
        seg.clone().prop_map(Mutation::Duplicate),
        seg.prop_map(Mutation::Drop),
        any::<usize>().prop_map(Mutation::Truncate),
        (header_name(), arb_json()).prop_map(|(n, v)| Mutation::SetHeader(n, v)),
        header_name().prop_map(Mutation::RemoveHeader),
        (claim_name(), arb_json()).prop_map(|(n, v)| Mutation::SetClaim(n, v)),
        claim_name().prop_map(Mutation::RemoveClaim),
    ]
}

/// Decodes a segment as a JSON object (or an empty one if it no longer is).
fn object_of(segment: &[u8]) -> Map<String, Value> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

fn apply(token: &[u8], mutations: &[Mutation]) -> Vec<u8> {
    let mut segments: Vec<Vec<u8>> = token.split(|&b| b == b'.').map(<[u8]>::to_vec).collect();
    for mutation in mutations {
        let len = segments.len();
        if len == 0 {
            segments.push(Vec::new());
            continue;
        }
        match mutation {
            Mutation::FlipBit {
                segment,
                index,
                bit,
            } => {
                let s = &mut segments[segment % len];
                if !s.is_empty() {
                    let i = index % s.len();
                    s[i] ^= 1 << bit;
                }
            }
            Mutation::Insert {
                segment,
                index,
                byte,
            } => {
                let s = &mut segments[segment % len];
                let i = index % (s.len() + 1);
                s.insert(i, *byte);
            }
            Mutation::Delete { segment, index } => {
                let s = &mut segments[segment % len];
                if !s.is_empty() {
                    let i = index % s.len();
                    s.remove(i);
                }
            }
            Mutation::Replace {
                segment,
                index,
                byte,
            } => {
                let s = &mut segments[segment % len];
                if !s.is_empty() {
                    let i = index % s.len();
                    s[i] = *byte;
                }
            }
            Mutation::Swap(a, b) => segments.swap(a % len, b % len),
            Mutation::Duplicate(a) => {
                let copy = segments[a % len].clone();
                segments.insert(a % len, copy);
            }
            Mutation::Drop(a) => {
                segments.remove(a % len);
            }
            Mutation::Truncate(at) => {
                let mut joined = segments.join(&b'.');
                joined.truncate(at % (joined.len() + 1));
                segments = joined.split(|&b| b == b'.').map(<[u8]>::to_vec).collect();
            }
            Mutation::SetHeader(name, value) | Mutation::SetClaim(name, value) => {
                let index = usize::from(matches!(mutation, Mutation::SetClaim(..))) % len;
                let mut object = object_of(&segments[index]);
                object.insert(name.clone(), value.clone());
                segments[index] = b64(Value::Object(object).to_string()).into_bytes();
            }
            Mutation::RemoveHeader(name) | Mutation::RemoveClaim(name) => {
                let index = usize::from(matches!(mutation, Mutation::RemoveClaim(_))) % len;
                let mut object = object_of(&segments[index]);
                object.remove(name);
                segments[index] = b64(Value::Object(object).to_string()).into_bytes();
            }
        }
    }
    segments.join(&b'.')
}

// ---------------------------------------------------------------------------------------------
// 1. Arbitrary Authorization values
// ---------------------------------------------------------------------------------------------

/// Bytes `http` accepts in a header value (control characters other than HTAB and DEL are
/// dropped).
fn header_bytes(raw: Vec<u8>) -> Vec<u8> {
    raw.into_iter()
        .filter(|&b| b == b'\t' || (b >= 0x20 && b != 0x7f))
        .collect()
}

fn authorization_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..64),
        prop::collection::vec(any::<u8>(), 0..64)
            .prop_map(|rest| [b"Bearer ".to_vec(), rest].concat()),
        (
            prop::sample::select(&["Bearer ", "bearer ", "BEARER  ", "Bearer\t", "Basic ", ""][..]),
            "[A-Za-z0-9._~+/=, -]{0,120}"
        )
            .prop_map(|(scheme, rest)| format!("{scheme}{rest}").into_bytes()),
        prop::collection::vec("[A-Za-z0-9_-]{0,40}", 0..7).prop_map(|segments| format!(
            "Bearer {}",
            segments.join(".")
        )
        .into_bytes()),
    ]
    .prop_map(header_bytes)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_authorization_values_get_a_proper_refusal(
        values in prop::collection::vec(authorization_value(), 0..4)
    ) {
        let world = hs_world();
        let reply = runtime().block_on(send_values(&world.app, PRIVATE, &values));
        let outcome = match reply.status {
            StatusCode::BAD_REQUEST => check(&reply, Expect::InvalidRequest, &values),
            StatusCode::UNAUTHORIZED => check(&reply, Expect::InvalidToken, &values)
                .or_else(|_| check(&reply, Expect::Bare, &values)),
            other => Err(format!("unexpected status {other}")),
        };
        prop_assert!(outcome.is_ok(), "{:?} for {:?}", outcome, values);
    }
}

// ---------------------------------------------------------------------------------------------
// 2. Mutated tokens
// ---------------------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig { cases: 3072, ..ProptestConfig::default() })]

    #[test]
    fn mutated_hs256_tokens_are_never_accepted(mutations in prop::collection::vec(mutation(), 1..4)) {
        let world = hs_world();
        let mutated = apply(world.token.as_bytes(), &mutations);
        let ok = accepted(world, &mutated)?;
        prop_assert!(
            !ok || mutated == world.token.as_bytes(),
            "accepted a mutated token: {:?}",
            String::from_utf8_lossy(&mutated)
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn mutated_rs256_tokens_are_never_accepted(mutations in prop::collection::vec(mutation(), 1..4)) {
        let world = rs_world();
        let mutated = apply(world.token.as_bytes(), &mutations);
        let ok = accepted(world, &mutated)?;
        prop_assert!(
            !ok || mutated == world.token.as_bytes(),
            "accepted a mutated token: {:?}",
            String::from_utf8_lossy(&mutated)
        );
    }
}

#[test]
fn the_unmutated_tokens_are_accepted() {
    for world in [hs_world(), rs_world()] {
        assert!(accepted(world, world.token.as_bytes()).expect("no 5xx"));
        assert!(
            !accepted(world, &apply(world.token.as_bytes(), &[Mutation::Drop(2)])).expect("no 5xx")
        );
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Claim rules on re-signed tokens
// ---------------------------------------------------------------------------------------------

/// A claim value: arbitrary JSON, or a time relative to "now" (resolved when the case runs).
#[derive(Debug, Clone)]
enum ClaimValue {
    Json(Value),
    SecondsFromNow(i64),
    FractionalFromNow(i64, u8),
}

fn claim_value() -> impl Strategy<Value = ClaimValue> {
    prop_oneof![
        arb_json().prop_map(ClaimValue::Json),
        (-100_000i64..100_000).prop_map(ClaimValue::SecondsFromNow),
        (-100_000i64..100_000, 1u8..100).prop_map(|(s, f)| ClaimValue::FractionalFromNow(s, f)),
    ]
}

/// A NumericDate as the crate reads it: a JSON number, fractions rounded down, saturating.
fn numeric_date(value: &Value) -> Option<i64> {
    let number = value.as_number()?;
    number
        .as_i64()
        .or_else(|| number.as_u64().map(|_| i64::MAX))
        .or_else(|| number.as_f64().map(|f| f.floor() as i64))
}

/// Whether the rules accept the default claims with `name` set to `value` at `now` (60 s
/// leeway); `None` when the value is within 2 s of a time boundary (the clock may tick).
fn model_accepts(name: &str, value: &Value, now: i64) -> Option<bool> {
    let leeway = 60;
    let near = |t: i64, edge: i64| t.abs_diff(edge) <= 2;
    Some(match name {
        "iss" => value == &json!(HS_ISSUER),
        "aud" => match value {
            Value::String(aud) => aud == DEFAULT_AUDIENCE,
            Value::Array(items) => {
                !items.is_empty()
                    && items.iter().all(Value::is_string)
                    && items.contains(&json!(DEFAULT_AUDIENCE))
            }
            _ => false,
        },
        "exp" => match numeric_date(value) {
            None => false,
            Some(t) if near(t, now - leeway) => return None,
            Some(t) => now < t.saturating_add(leeway),
        },
        "nbf" | "iat" => match numeric_date(value) {
            None => false,
            Some(t) if near(t, now + leeway) => return None,
            Some(t) => t <= now + leeway,
        },
        _ => true,
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3072, ..ProptestConfig::default() })]

    #[test]
    fn resigned_claims_follow_the_rules(
        name in prop::sample::select(&["iss", "aud", "exp", "nbf", "iat", "x-custom"][..]),
        value in claim_value(),
    ) {
        let now = common::now();
        let value = match value {
            ClaimValue::Json(value) => value,
            ClaimValue::SecondsFromNow(s) => json!(now + s),
            ClaimValue::FractionalFromNow(s, f) => json!((now + s) as f64 + f64::from(f) / 100.0),
        };
        let Some(expected) = model_accepts(name, &value, now) else {
            return Ok(());
        };
        let token = hs_token().claim(name, value.clone()).sign();
        let world = hs_world();
        let reply = runtime().block_on(send_values(&world.app, PRIVATE, &[format!("Bearer {token}").into_bytes()]));
        let expect = if expected { Expect::Ok } else { Expect::InvalidToken };
        let outcome = check(&reply, expect, &[]);
        prop_assert!(outcome.is_ok(), "{name} = {value}: {outcome:?}");
    }
}

// ---------------------------------------------------------------------------------------------
// 4. Header rules on re-signed tokens
// ---------------------------------------------------------------------------------------------

/// Whether the rules accept an HS256 token whose header has `name` set to `value` (secret
/// mode): `alg` must be `HS256`; `crit` and `b64` reject whatever their value; `kid`, `typ`
/// and `cty` must be strings (`typ` is otherwise not inspected in the default mode), and
/// `cty` must not name a nested JWT; other members are not inspected.
fn header_model_accepts(name: &str, value: &Value) -> bool {
    match name {
        "alg" => value == &json!("HS256"),
        "crit" | "b64" => false,
        "kid" | "typ" => value.is_string(),
        "cty" => value.as_str().is_some_and(|cty| {
            !cty.eq_ignore_ascii_case("JWT") && !cty.eq_ignore_ascii_case("application/jwt")
        }),
        _ => true,
    }
}

fn header_member_value() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => arb_json(),
        1 => prop::sample::select(&["HS256", "JWT", "jwt", "application/jwt", "Application/JWT", "at+jwt"][..])
            .prop_map(Value::from),
    ]
}

fn check_resigned_header(name: &str, value: &Value) -> Result<(), TestCaseError> {
    let expected = header_model_accepts(name, value);
    let token = hs_token().header(name, value.clone()).sign();
    let world = hs_world();
    let reply = runtime().block_on(send_values(
        &world.app,
        PRIVATE,
        &[format!("Bearer {token}").into_bytes()],
    ));
    let expect = if expected {
        Expect::Ok
    } else {
        Expect::InvalidToken
    };
    let outcome = check(&reply, expect, &[]);
    prop_assert!(outcome.is_ok(), "header {name} = {value}: {outcome:?}");
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn resigned_header_members_follow_the_rules(name in header_name(), value in header_member_value()) {
        check_resigned_header(&name, &value)?;
    }
}

// ---------------------------------------------------------------------------------------------
// 5. verify_signature against arbitrary key material
// ---------------------------------------------------------------------------------------------

struct Keys {
    /// Signs the RS256 token; never in a generated set.
    signer: SigningKey,
    /// Another real RSA key, which generated sets may contain.
    bystander: SigningKey,
    rs_token: String,
    hs_token: String,
}

const HS_SIGNER: &[u8] = b"the-secret-that-signs-the-hs256-token!!";

fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let signer = SigningKey::generate("key-1");
        let bystander = SigningKey::generate("key-1");
        let claims = |b: TokenBuilder| b.claim("iss", HS_ISSUER).claim("exp", 4_102_444_800i64);
        Keys {
            rs_token: claims(TokenBuilder::rs256(&signer)).sign(),
            hs_token: claims(TokenBuilder::hs256(HS_SIGNER).header("kid", "key-1")).sign(),
            signer,
            bystander,
        }
    })
}

/// A JWK-shaped object whose members are drawn from plausible and arbitrary values.
fn jwk_like() -> impl Strategy<Value = Value> {
    let keys = keys();
    let bystander = keys.bystander.jwk();
    let signer_n = keys.signer.jwk()["n"].clone();
    let b64_bytes =
        |max: usize| prop::collection::vec(any::<u8>(), 0..max).prop_map(|b| Value::from(b64(b)));
    let member = |choices: Vec<Value>| {
        prop_oneof![
            3 => prop::sample::select(choices),
            1 => arb_json(),
        ]
    };
    (
        member(vec![json!("RSA"), json!("EC"), json!("OKP"), json!("oct")]),
        member(vec![json!("key-1"), json!("other"), Value::Null]),
        prop_oneof![Just(bystander["n"].clone()), b64_bytes(300), arb_json(),],
        prop_oneof![
            Just(json!("AQAB")),
            Just(json!("Aw")),
            b64_bytes(8),
            arb_json(),
        ],
        member(vec![json!("sig"), json!("enc"), Value::Null]),
        member(vec![
            json!("RS256"),
            json!("HS256"),
            json!("PS256"),
            json!("ES256"),
            Value::Null,
        ]),
        prop_oneof![b64_bytes(64), arb_json()],
        member(vec![
            json!("P-256"),
            json!("P-384"),
            json!("Ed25519"),
            Value::Null,
        ]),
        (b64_bytes(66), b64_bytes(66)),
        any::<bool>(),
    )
        .prop_map(
            move |(kty, kid, n, e, usage, alg, k, crv, (x, y), signer_modulus)| {
                let mut jwk = Map::new();
                let mut put = |name: &str, value: Value| {
                    if !value.is_null() {
                        jwk.insert(name.to_owned(), value);
                    }
                };
                put("kty", kty);
                put("kid", kid);
                // The signer's modulus appears only with another exponent: a different key.
                let is_aqab = e == json!("AQAB");
                put(
                    "n",
                    if signer_modulus && !is_aqab {
                        signer_n.clone()
                    } else {
                        n
                    },
                );
                put("e", e);
                put("use", usage);
                put("alg", alg);
                put("k", k);
                put("crv", crv);
                put("x", x);
                put("y", y);
                Value::Object(jwk)
            },
        )
}

fn key_material() -> impl Strategy<Value = Value> {
    prop_oneof![
        arb_json(),
        jwk_like(),
        prop::collection::vec(prop_oneof![3 => jwk_like(), 1 => arb_json()], 0..5)
            .prop_map(|keys| json!({ "keys": keys })),
        (prop::collection::vec(jwk_like(), 0..3), arb_json())
            .prop_map(|(keys, extra)| json!({ "keys": keys, "extra": extra })),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_key_material_never_verifies_a_foreign_signature(material in key_material()) {
        let keys = keys();
        // The secret that signed the HS256 token must not be in the material.
        prop_assume!(!material.to_string().contains(&b64(HS_SIGNER)));
        let rs = verify_signature(&material, &keys.rs_token);
        prop_assert!(rs.is_err(), "RS256 token verified by {material}");
        let hs = verify_signature(&material, &keys.hs_token);
        prop_assert!(hs.is_err(), "HS256 token verified by {material}");
    }
}

#[test]
fn verify_signature_accepts_the_right_keys() {
    // The oracle above is not vacuous: the real key material does verify.
    let keys = keys();
    assert_eq!(verify_signature(&keys.signer.jwk(), &keys.rs_token), Ok(()));
    // Published next to a bystander with the same kid, the signer's key is ambiguous: unused.
    let shared_kid = json!({ "keys": [keys.bystander.jwk(), keys.signer.jwk()] });
    assert!(verify_signature(&shared_kid, &keys.rs_token).is_err());
    let secret = json!({"kty": "oct", "kid": "key-1", "k": b64(HS_SIGNER)});
    assert_eq!(verify_signature(&secret, &keys.hs_token), Ok(()));
    assert!(verify_signature(&keys.bystander.jwk(), &keys.rs_token).is_err());
}
