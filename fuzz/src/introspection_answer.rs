//! Fuzz target `introspection_answer`: answers of an introspection endpoint, plain (RFC 7662
//! JSON) and signed (RFC 9701 JWT), read and decided as the introspector does, through
//! `bearer_guard::testing::read_introspection_answer` (feature `test-util`).
//!
//! The first byte picks a mode:
//!
//! * `0`: the rest as a plain JSON answer (no signed answer asked for);
//! * `1`: the rest as a signed answer (a JWT text), one asked for;
//! * `2`: a correctly signed answer whose envelope (`typ`, `iss`, `aud`, `iat`) is chosen by
//!   the second byte, each valid or broken, around the rest as the raw JSON text of
//!   `token_introspection` (so repeated names and odd values reach the parser);
//! * `3`: the rest as a plain JSON answer where a signed one was asked for (a downgrade);
//! * `4`: a valid signed answer with bytes changed by the rest (4 bytes per change).
//!
//! The oracle: nothing panics; an accepted answer meets every rule, checked here on its own:
//! the answer object has unique names, `active: true`, each of `token_type`, `typ` and
//! `token_use` absent or naming an access token (`DPoP` only with a non-empty `cnf.jkt`),
//! `iss` absent or the issuer, `aud` containing the API, `exp` ahead; a signed answer's
//! signature verifies independently (aws-lc-rs), its header says `token-introspection+jwt`,
//! its `iss` is the issuer, its `aud` the API's client id and its `iat` fresh (at most
//! 60 s + 60 s leeway old, at most the leeway ahead); a downgrade is never accepted.

use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bearer_guard::Algorithm;
use bearer_guard::testing::{AnswerRules, SigningKey, read_introspection_answer};
use serde_json::{Value, json};

use crate::{AUDIENCE, FAR_FUTURE, ISSUER, assert_unique_top_level_names, b64, now};

/// The API's own introspection client id: the `aud` of a signed answer.
pub const CLIENT_ID: &str = "api-client";
/// The leeway of `read_introspection_answer`.
const LEEWAY: i64 = 60;
/// How old a signed answer's `iat` may be, beyond the leeway.
const MAX_AGE: i64 = 60;

struct Answers {
    key: SigningKey,
    rules: AnswerRules,
    /// A valid signed answer about an active token.
    signed: String,
    /// `n` and `e` of the key, for the independent signature check.
    public: (Vec<u8>, Vec<u8>),
}

fn answers() -> &'static Answers {
    static ANSWERS: OnceLock<Answers> = OnceLock::new();
    ANSWERS.get_or_init(|| {
        let key = SigningKey::generate("key-1");
        let jwk = key.jwk();
        let part = |name: &str| {
            URL_SAFE_NO_PAD
                .decode(jwk[name].as_str().expect("a JWK member"))
                .expect("base64url")
        };
        let rules = AnswerRules {
            issuer: ISSUER.to_owned(),
            audience: AUDIENCE.to_owned(),
            client_id: CLIENT_ID.to_owned(),
            key_set: json!({ "keys": [jwk] }),
            now: now(),
            asked_signed: true,
        };
        let signed = sign(&key, &envelope(0, valid_answer().to_string().as_bytes()));
        Answers {
            public: (part("n"), part("e")),
            key,
            rules,
            signed,
        }
    })
}

/// An answer about an active access token for the API.
fn valid_answer() -> Value {
    json!({
        "active": true,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "exp": FAR_FUTURE,
        "scope": "read:messages",
        "client_id": "c",
        "token_type": "Bearer",
    })
}

/// The payload of a signed answer around the raw `inner` text, its envelope members chosen
/// by `control` (two bits each: valid, or one of three broken forms).
fn envelope(control: u8, inner: &[u8]) -> Vec<u8> {
    let now = answers_now();
    let iss = [
        json!(ISSUER),
        json!("https://evil.example/"),
        json!(null),
        json!([ISSUER]),
    ];
    let aud = [
        json!(CLIENT_ID),
        json!(AUDIENCE),
        json!([AUDIENCE, CLIENT_ID]),
        json!(null),
    ];
    let iat = [
        json!(now),
        json!(now - 3600),
        json!(now + 3600),
        json!("now"),
    ];
    let pick = |values: &[Value; 4], shift: u8| values[usize::from((control >> shift) & 3)].clone();
    let mut payload = Vec::new();
    payload.extend_from_slice(b"{");
    for (name, value) in [
        ("iss", pick(&iss, 0)),
        ("aud", pick(&aud, 2)),
        ("iat", pick(&iat, 4)),
    ] {
        if !value.is_null() {
            payload.extend_from_slice(format!("{name:?}:{value},").as_bytes());
        }
    }
    payload.extend_from_slice(b"\"token_introspection\":");
    payload.extend_from_slice(inner);
    payload.extend_from_slice(b"}");
    payload
}

/// The time the harness's rules are set to (fixed once per process).
fn answers_now() -> i64 {
    static NOW: OnceLock<i64> = OnceLock::new();
    *NOW.get_or_init(now)
}

/// A compact JWS of `payload` signed by `key`, `typ: token-introspection+jwt`.
fn sign(key: &SigningKey, payload: &[u8]) -> String {
    sign_with_type(key, payload, "token-introspection+jwt")
}

fn sign_with_type(key: &SigningKey, payload: &[u8], typ: &str) -> String {
    let header = json!({ "alg": "RS256", "kid": "key-1", "typ": typ });
    let input = format!("{}.{}", b64(header.to_string()), b64(payload));
    let signature = key.sign(Algorithm::RS256, input.as_bytes());
    format!("{input}.{}", b64(signature))
}

/// Mode by the first byte; see the module documentation.
pub fn introspection_answer(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let a = answers();
    let mut rules = a.rules.clone();
    rules.now = answers_now();
    match mode % 5 {
        0 => {
            rules.asked_signed = false;
            let outcome = read_introspection_answer(&rules, rest, false);
            if let Ok(Ok(_)) = outcome {
                assert_unique_top_level_names(rest);
                let answer: Value = serde_json::from_slice(rest).expect("an accepted JSON answer");
                check_answer(&answer);
            }
        }
        1 => check_signed(a, &rules, rest),
        2 => {
            let Some((&control, inner)) = rest.split_first() else {
                return;
            };
            let typ = if control & 0x40 == 0 {
                "token-introspection+jwt"
            } else {
                "JWT"
            };
            let jwt = sign_with_type(&a.key, &envelope(control, inner), typ);
            check_signed(a, &rules, jwt.as_bytes());
        }
        3 => {
            let outcome = read_introspection_answer(&rules, rest, false);
            assert!(
                outcome.is_err(),
                "a plain answer passed where a signed one was asked for"
            );
        }
        _ => {
            let mut bytes = a.signed.clone().into_bytes();
            for change in rest.chunks(4) {
                let at = (usize::from(change[0]) << 8 | usize::from(*change.get(1).unwrap_or(&0)))
                    % bytes.len();
                match change.get(2).unwrap_or(&0) % 3 {
                    0 => bytes[at] ^= 1 << (change.get(3).unwrap_or(&0) % 8),
                    1 => bytes[at] = *change.get(3).unwrap_or(&b'A'),
                    _ => {
                        bytes.remove(at);
                        if bytes.is_empty() {
                            return;
                        }
                    }
                }
            }
            check_signed(a, &rules, &bytes);
        }
    }
}

/// A signed answer: accepted only when the JWT and its envelope meet the rules and its
/// answer does.
fn check_signed(a: &Answers, rules: &AnswerRules, body: &[u8]) {
    let outcome = read_introspection_answer(rules, body, true);
    let Ok(Ok(_)) = outcome else {
        return;
    };
    let text = std::str::from_utf8(body)
        .expect("an accepted answer is UTF-8")
        .trim();
    let parts: Vec<&str> = text.split('.').collect();
    assert_eq!(parts.len(), 3, "an accepted signed answer is a compact JWS");
    let signature = URL_SAFE_NO_PAD
        .decode(parts[2])
        .expect("a canonical signature");
    let key = aws_lc_rs::signature::RsaPublicKeyComponents {
        n: &a.public.0,
        e: &a.public.1,
    };
    let signing_input = &text.as_bytes()[..parts[0].len() + 1 + parts[1].len()];
    key.verify(
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
        signing_input,
        &signature,
    )
    .expect("an accepted signed answer verifies independently");
    let header: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).expect("b64")).expect("JSON");
    let typ = header["typ"].as_str().expect("a typ").to_ascii_lowercase();
    assert!(
        typ == "token-introspection+jwt" || typ == "application/token-introspection+jwt",
        "accepted typ {typ}"
    );
    let payload = URL_SAFE_NO_PAD.decode(parts[1]).expect("b64");
    assert_unique_top_level_names(&payload);
    let envelope: Value = serde_json::from_slice(&payload).expect("a JSON payload");
    assert_eq!(envelope["iss"], ISSUER, "accepted iss");
    let aud_ok = match &envelope["aud"] {
        Value::String(aud) => aud == CLIENT_ID,
        Value::Array(auds) => auds.iter().any(|aud| aud == CLIENT_ID),
        _ => false,
    };
    assert!(aud_ok, "accepted aud {}", envelope["aud"]);
    let iat = envelope["iat"].as_f64().expect("a numeric iat");
    let now = rules.now as f64;
    assert!(
        iat >= now - (MAX_AGE + LEEWAY) as f64 && iat <= now + LEEWAY as f64,
        "accepted iat {iat} at {now}"
    );
    // The answer inside: its names unique too, as a plain answer's must be.
    let inner = inner_text(&payload).expect("token_introspection");
    assert_unique_top_level_names(inner);
    check_answer(&envelope["token_introspection"]);
}

/// The raw text of the `token_introspection` member of `payload` (which has unique names).
fn inner_text(payload: &[u8]) -> Option<&[u8]> {
    use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
    use serde_json::value::RawValue;
    struct Find;
    impl<'de> Visitor<'de> for Find {
        type Value = Option<&'de [u8]>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut found = None;
            while let Some(name) = map.next_key::<String>()? {
                if name == "token_introspection" {
                    let raw: &'de RawValue = map.next_value()?;
                    found = Some(raw.get().as_bytes());
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            }
            Ok(found)
        }
    }
    let mut de = serde_json::Deserializer::from_slice(payload);
    de.deserialize_map(Find).ok().flatten()
}

/// The rules an accepted answer object meets.
fn check_answer(answer: &Value) {
    let object = answer.as_object().expect("an accepted answer is an object");
    assert_eq!(
        object.get("active"),
        Some(&json!(true)),
        "accepted without active: true"
    );
    let jkt_ok = answer["cnf"]["jkt"]
        .as_str()
        .is_some_and(|jkt| !jkt.is_empty());
    for (member, names) in [
        (
            "token_type",
            &[
                "bearer",
                "access_token",
                "urn:ietf:params:oauth:token-type:access_token",
            ][..],
        ),
        ("typ", &["bearer"][..]),
        ("token_use", &["access_token"][..]),
    ] {
        match object.get(member) {
            None => {}
            Some(Value::String(kind))
                if kind.eq_ignore_ascii_case("dpop") && member != "token_use" =>
            {
                assert!(jkt_ok, "accepted {member} DPoP without cnf.jkt");
            }
            Some(Value::String(kind)) => assert!(
                names.iter().any(|name| kind.eq_ignore_ascii_case(name)),
                "accepted {member} {kind}"
            ),
            Some(other) => panic!("accepted {member} {other}"),
        }
    }
    match object.get("iss") {
        None => {}
        Some(iss) => assert_eq!(iss, ISSUER, "accepted iss"),
    }
    let aud_ok = match object.get("aud") {
        Some(Value::String(aud)) => aud == AUDIENCE,
        Some(Value::Array(auds)) => auds.iter().any(|aud| aud == AUDIENCE),
        _ => false,
    };
    assert!(aud_ok, "accepted aud {:?}", object.get("aud"));
    let exp = object
        .get("exp")
        .and_then(Value::as_f64)
        .expect("accepted without a numeric exp");
    assert!(
        exp + LEEWAY as f64 > answers_now() as f64,
        "accepted an expired token"
    );
}

/// Seeds: a valid plain answer, valid and broken signed ones, a downgrade, mutations.
pub fn seeds() -> Vec<Vec<u8>> {
    let a = answers();
    let valid = valid_answer().to_string();
    let mut dpop = valid_answer();
    dpop["token_type"] = json!("DPoP");
    dpop["cnf"] = json!({ "jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I" });
    let keycloak = json!({"active": true, "aud": AUDIENCE, "exp": FAR_FUTURE, "typ": "Refresh"});
    let mut seeds = vec![
        [b"\x00".as_slice(), valid.as_bytes()].concat(),
        [b"\x00".as_slice(), dpop.to_string().as_bytes()].concat(),
        [b"\x00".as_slice(), keycloak.to_string().as_bytes()].concat(),
        [b"\x00".as_slice(), br#"{"active":false}"#].concat(),
        [b"\x01".as_slice(), a.signed.as_bytes()].concat(),
        [b"\x03".as_slice(), valid.as_bytes()].concat(),
        vec![4, 0, 10, 0, 1],
        vec![4, 1, 0, 1, b'x'],
    ];
    for control in [0u8, 0b01, 0b0100, 0b01_0000, 0x40] {
        seeds.push([&[2u8, control][..], valid.as_bytes()].concat());
    }
    seeds.push([&[2u8, 0][..], dpop.to_string().as_bytes()].concat());
    // The second finding: `token_use: DPoP` was read as a DPoP token.
    let mut dpop_use = valid_answer();
    dpop_use["token_use"] = json!("DPoP");
    dpop_use["cnf"] = json!({ "jkt": "abc" });
    seeds.push([b"\x00".as_slice(), dpop_use.to_string().as_bytes()].concat());
    // The first finding: a repeated name inside a signed answer was read as its last value.
    seeds.push(
        [
            &[2u8, 0][..],
            br#"{"active":"true","aud":"https://api.example.com","exp":4102444800,"active":true}"#,
        ]
        .concat(),
    );
    seeds
}

/// Structure-aware inputs from a random number: mostly answers with the members the rules
/// read, each valid or not, plain or signed (mode 0 or 2).
pub fn structured(mut random: u64, extra: &str) -> Vec<u8> {
    let mut next = |n: u64| {
        random = random
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (random >> 33) % n
    };
    let choices: [(&str, &[Value]); 9] = [
        (
            "active",
            &[json!(true), json!(false), json!("true"), json!(1)],
        ),
        (
            "iss",
            &[json!(ISSUER), json!("https://evil.example/"), json!(7)],
        ),
        (
            "aud",
            &[
                json!(AUDIENCE),
                json!([AUDIENCE]),
                json!("other"),
                json!([]),
            ],
        ),
        (
            "exp",
            &[
                json!(FAR_FUTURE),
                json!(1),
                json!("4102444800"),
                json!(1e300),
            ],
        ),
        ("nbf", &[json!(1), json!(FAR_FUTURE), json!(null)]),
        (
            "token_type",
            &[
                json!("Bearer"),
                json!("DPoP"),
                json!("refresh_token"),
                json!("id_token"),
                json!(["Bearer"]),
            ],
        ),
        (
            "typ",
            &[
                json!("Bearer"),
                json!("Refresh"),
                json!("ID"),
                json!("DPoP"),
            ],
        ),
        (
            "token_use",
            &[json!("access_token"), json!("refresh_token"), json!("DPoP")],
        ),
        (
            "cnf",
            &[
                json!({"jkt": "abc"}),
                json!({"jkt": ""}),
                json!({"jkt": 1}),
                json!("abc"),
                json!({"x5t#S256": "abc"}),
            ],
        ),
    ];
    let mut members = Vec::new();
    for (name, values) in choices {
        if next(3) > 0 {
            let value = &values[next(values.len() as u64) as usize];
            members.push(format!("{name:?}:{value}"));
        }
    }
    if next(4) == 0 {
        // A repeated member name.
        members.push(r#""active":true"#.to_owned());
    }
    if next(4) == 0 && extra.starts_with('{') {
        members.push(format!("\"extra\":{extra}"));
    }
    let answer = format!("{{{}}}", members.join(","));
    if next(2) == 0 {
        [b"\x00".as_slice(), answer.as_bytes()].concat()
    } else {
        let control = next(256) as u8 & if next(2) == 0 { 0 } else { 0xff };
        [&[2u8, control][..], answer.as_bytes()].concat()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_seeds_pass() {
        for seed in super::seeds() {
            super::introspection_answer(&seed);
        }
        for n in 0..200 {
            super::introspection_answer(&super::structured(n, "{}"));
        }
    }
}
