//! The pure check of one token: header, key choice, signature, claims.
//!
//! No I/O and no HTTP here: [`Rules`] and a [`KeySet`] in, verified claims or a
//! [`TokenProblem`] out. This is the part to read first, and the part the fuzzers drive.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::claims::{UniqueKeyObject, VerifiedClaims};
use crate::error::{Claim, TokenProblem};
use crate::keys::{KeyChoice, KeySet, VerificationKey};
use crate::scope::{ScopeClaims, Scopes};

/// The rules a token must meet, fixed when the validator is built.
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    pub(crate) issuer: String,
    pub(crate) audiences: Vec<String>,
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) leeway_secs: i64,
    pub(crate) scope_claims: ScopeClaims,
    /// RFC 9068: `typ` must be `at+jwt`, and `sub`, `client_id`, `iat`, `jti` are required.
    pub(crate) rfc9068: bool,
}

/// A token whose structure and header passed, and whose algorithm is allowed.
pub(crate) struct Parsed<'a> {
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<String>,
    signing_input: &'a str,
    /// The decoded payload.
    payload: Vec<u8>,
    signature: &'a str,
}

/// The header members this crate reads, from a JSON object with unique member names (an
/// array, a repeated name or invalid UTF-8 anywhere is a malformed header). Unknown members are
/// ignored, and `jku`, `x5u`, `jwk` and `x5c` are never read at all: a token does not get to
/// say which key verifies it.
struct Header {
    alg: String,
    kid: Option<String>,
    typ: Option<String>,
    cty: Option<String>,
    /// `crit` or `b64` is present, with any value (`null` included).
    has_crit: bool,
    has_b64: bool,
}

impl Header {
    fn parse(json: &[u8]) -> Result<Header, TokenProblem> {
        let UniqueKeyObject(mut members) =
            serde_json::from_slice(json).map_err(|_| TokenProblem::MalformedHeader)?;
        // A member that is present must be a string: `null` is not "absent".
        let mut string = |name: &str| match members.remove(name) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(_) => Err(TokenProblem::MalformedHeader),
        };
        Ok(Header {
            alg: string("alg")?.ok_or(TokenProblem::MalformedHeader)?,
            kid: string("kid")?,
            typ: string("typ")?,
            cty: string("cty")?,
            has_crit: members.contains_key("crit"),
            has_b64: members.contains_key("b64"),
        })
    }
}

/// Splits the token, decodes the header and applies the algorithm allow-list, all before any
/// key is looked up.
pub(crate) fn parse<'a>(token: &'a str, rules: &Rules) -> Result<Parsed<'a>, TokenProblem> {
    let mut segments = token.split('.');
    let (Some(header), Some(payload), Some(signature)) =
        (segments.next(), segments.next(), segments.next())
    else {
        return Err(TokenProblem::Malformed);
    };
    match segments.count() {
        0 => {}
        2 => return Err(TokenProblem::Encrypted),
        _ => return Err(TokenProblem::Malformed),
    }
    // An empty payload is a valid JWS (its claims are then rejected); an empty header or
    // signature never is.
    if header.is_empty() || signature.is_empty() {
        return Err(TokenProblem::Malformed);
    }
    let signing_input = &token[..header.len() + 1 + payload.len()];
    let header_json = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| TokenProblem::MalformedHeader)?;
    let header = Header::parse(&header_json)?;
    let alg = header
        .alg
        .parse::<Algorithm>()
        .ok()
        .filter(|alg| rules.algorithms.contains(alg))
        .ok_or(TokenProblem::AlgorithmNotAllowed)?;
    if header.has_crit {
        return Err(TokenProblem::UnsupportedCritical);
    }
    if header.has_b64 {
        return Err(TokenProblem::UnencodedPayload);
    }
    if header.cty.as_deref().is_some_and(is_jwt_media_type) {
        return Err(TokenProblem::Nested);
    }
    if rules.rfc9068 && !header.typ.as_deref().is_some_and(is_access_token_type) {
        return Err(TokenProblem::NotAnAccessToken);
    }
    // Strict base64url here, before any key is used: a payload that is not canonically
    // encoded is malformed even if its signature would verify.
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| TokenProblem::Malformed)?;
    Ok(Parsed {
        alg,
        kid: header.kid,
        signing_input,
        payload,
        signature,
    })
}

/// `at+jwt` or `application/at+jwt`, in any letter case (RFC 9068 §2.1, RFC 7515 §4.1.9).
fn is_access_token_type(typ: &str) -> bool {
    media_subtype(typ).eq_ignore_ascii_case("at+jwt")
}

/// `JWT` or `application/jwt`, in any letter case: a nested token (RFC 7519 §5.2).
fn is_jwt_media_type(cty: &str) -> bool {
    media_subtype(cty).eq_ignore_ascii_case("jwt")
}

/// A `typ` or `cty` without its optional `application/` prefix (RFC 7515 §4.1.9).
fn media_subtype(media_type: &str) -> &str {
    const PREFIX: &str = "application/";
    match media_type.get(..PREFIX.len()) {
        Some(head) if head.eq_ignore_ascii_case(PREFIX) => &media_type[PREFIX.len()..],
        _ => media_type,
    }
}

/// The `iss` a token claims, before anything is verified: only to choose which issuer's
/// configuration verifies it.
pub(crate) fn unverified_issuer(token: &str) -> Result<String, TokenProblem> {
    #[derive(Deserialize)]
    struct IssuerOnly {
        iss: Option<Value>,
    }
    let payload = token.split('.').nth(1).ok_or(TokenProblem::Malformed)?;
    let json = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| TokenProblem::Malformed)?;
    let claims: IssuerOnly =
        serde_json::from_slice(&json).map_err(|_| TokenProblem::MalformedClaims)?;
    match claims.iss {
        None => Err(TokenProblem::MissingClaim(Claim::Issuer)),
        Some(Value::String(iss)) => Ok(iss),
        Some(_) => Err(TokenProblem::InvalidClaim(Claim::Issuer)),
    }
}

/// The outcome of verifying a parsed token against a key set.
pub(crate) enum Outcome {
    /// Valid, verified with this key.
    Valid(VerifiedClaims, Arc<VerificationKey>),
    Invalid(TokenProblem),
    /// No key has the token's `kid`: a fresher key set might.
    UnknownKey,
}

/// Chooses the key, verifies the signature, then checks the claims at time `now` (Unix
/// seconds).
pub(crate) fn verify(parsed: &Parsed<'_>, keys: &KeySet, rules: &Rules, now: i64) -> Outcome {
    let key = match verify_signature(parsed, keys) {
        Ok(key) => key,
        Err(outcome) => return outcome,
    };
    match check_claims(&parsed.payload, rules, now) {
        Ok(claims) => Outcome::Valid(claims, key),
        Err(problem) => Outcome::Invalid(problem),
    }
}

/// Chooses the key and verifies the signature, without looking at the claims; returns the key
/// that verified it.
pub(crate) fn verify_signature(
    parsed: &Parsed<'_>,
    keys: &KeySet,
) -> Result<Arc<VerificationKey>, Outcome> {
    let key = match keys.choose(parsed.kid.as_deref(), parsed.alg) {
        KeyChoice::Found(key) => key,
        KeyChoice::Unknown => return Err(Outcome::UnknownKey),
        KeyChoice::Rejected(problem) => return Err(Outcome::Invalid(problem)),
    };
    let signature = URL_SAFE_NO_PAD
        .decode(parsed.signature)
        .map_err(|_| Outcome::Invalid(TokenProblem::Malformed))?;
    key.verify(parsed.alg, parsed.signing_input.as_bytes(), &signature)
        .map_err(Outcome::Invalid)?;
    Ok(Arc::clone(key))
}

/// Decodes the payload and applies the claim rules. Only called on a verified signature.
fn check_claims(payload: &[u8], rules: &Rules, now: i64) -> Result<VerifiedClaims, TokenProblem> {
    let UniqueKeyObject(claims) =
        serde_json::from_slice(payload).map_err(|_| TokenProblem::MalformedClaims)?;

    let issuer = match claims.get("iss") {
        None => return Err(TokenProblem::MissingClaim(Claim::Issuer)),
        Some(Value::String(iss)) if *iss == rules.issuer => iss.clone(),
        Some(Value::String(_)) => return Err(TokenProblem::WrongIssuer),
        Some(_) => return Err(TokenProblem::InvalidClaim(Claim::Issuer)),
    };
    let audiences = audiences(&claims)?;
    if !audiences.iter().any(|aud| rules.audiences.contains(aud)) {
        return Err(TokenProblem::WrongAudience);
    }

    let leeway = rules.leeway_secs;
    let expires_at = numeric_date(&claims, Claim::ExpiresAt)?
        .ok_or(TokenProblem::MissingClaim(Claim::ExpiresAt))?;
    if now >= expires_at.saturating_add(leeway) {
        return Err(TokenProblem::Expired);
    }
    if let Some(not_before) = numeric_date(&claims, Claim::NotBefore)?
        && now.saturating_add(leeway) < not_before
    {
        return Err(TokenProblem::NotYetValid);
    }
    if let Some(issued_at) = numeric_date(&claims, Claim::IssuedAt)?
        && issued_at > now.saturating_add(leeway)
    {
        return Err(TokenProblem::IssuedInFuture);
    }

    if rules.rfc9068 {
        require_rfc9068_claims(&claims)?;
    }
    let scopes = Scopes::from_claims(&claims, rules.scope_claims)?;
    Ok(VerifiedClaims::new(
        issuer, audiences, expires_at, scopes, claims,
    ))
}

/// RFC 9068 §2.2: `sub`, `client_id` and `jti` strings and an `iat` are required (`iss`,
/// `exp` and `aud` are required in every mode).
fn require_rfc9068_claims(claims: &Map<String, Value>) -> Result<(), TokenProblem> {
    for claim in [Claim::Subject, Claim::ClientId, Claim::TokenId] {
        match claims.get(claim.name()) {
            None => return Err(TokenProblem::MissingClaim(claim)),
            Some(Value::String(_)) => {}
            Some(_) => return Err(TokenProblem::InvalidClaim(claim)),
        }
    }
    if !claims.contains_key(Claim::IssuedAt.name()) {
        return Err(TokenProblem::MissingClaim(Claim::IssuedAt));
    }
    Ok(())
}

/// `aud` as a string or a non-empty array of strings (RFC 7519 §4.1.3).
fn audiences(claims: &Map<String, Value>) -> Result<Vec<String>, TokenProblem> {
    const INVALID: TokenProblem = TokenProblem::InvalidClaim(Claim::Audience);
    match claims.get("aud") {
        None => Err(TokenProblem::MissingClaim(Claim::Audience)),
        Some(Value::String(aud)) => Ok(vec![aud.clone()]),
        Some(Value::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|item| item.as_str().map(str::to_owned).ok_or(INVALID))
            .collect(),
        Some(_) => Err(INVALID),
    }
}

/// A NumericDate (RFC 7519 §2): a JSON number of seconds, possibly fractional. Fractions are
/// rounded down and values beyond `i64` saturate; anything that is not a number (a string, a
/// boolean, `null`) is invalid.
fn numeric_date(claims: &Map<String, Value>, claim: Claim) -> Result<Option<i64>, TokenProblem> {
    let Some(value) = claims.get(claim.name()) else {
        return Ok(None);
    };
    let Value::Number(number) = value else {
        return Err(TokenProblem::InvalidClaim(claim));
    };
    if let Some(seconds) = number.as_i64() {
        Ok(Some(seconds))
    } else if number.as_u64().is_some() {
        Ok(Some(i64::MAX))
    } else {
        let seconds = number
            .as_f64()
            .filter(|s| s.is_finite())
            .ok_or(TokenProblem::InvalidClaim(claim))?;
        // `as` saturates at the i64 bounds.
        Ok(Some(seconds.floor() as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: i64 = 1_700_000_000;

    fn rules() -> Rules {
        Rules {
            issuer: "https://issuer.example/".into(),
            audiences: vec!["https://api.example.com".into()],
            algorithms: vec![Algorithm::HS256],
            leeway_secs: 60,
            scope_claims: ScopeClaims::default(),
            rfc9068: false,
        }
    }

    fn b64(value: &Value) -> String {
        URL_SAFE_NO_PAD.encode(value.to_string())
    }

    fn claims_with(changes: Value) -> Result<VerifiedClaims, TokenProblem> {
        let mut claims = json!({
            "iss": "https://issuer.example/",
            "aud": "https://api.example.com",
            "exp": NOW + 3600,
            "iat": NOW,
        });
        for (name, value) in changes.as_object().unwrap() {
            if value.is_null() && name != "exp" {
                claims.as_object_mut().unwrap().remove(name);
            } else {
                claims[name] = value.clone();
            }
        }
        check_claims(claims.to_string().as_bytes(), &rules(), NOW)
    }

    fn header(value: Value) -> Result<Algorithm, TokenProblem> {
        let token = format!("{}.e30.c2ln", b64(&value));
        parse(&token, &rules()).map(|p| p.alg)
    }

    #[test]
    fn structure_is_three_non_empty_segments() {
        for token in ["a", "a.b", ".b.c", "a.b.", "a.b.c.d"] {
            assert_eq!(
                parse(token, &rules()).err(),
                Some(TokenProblem::Malformed),
                "{token}"
            );
        }
        assert_eq!(
            parse("a.b.c.d.e", &rules()).err(),
            Some(TokenProblem::Encrypted)
        );
    }

    #[test]
    fn the_payload_must_be_canonical_base64url() {
        let header = b64(&json!({"alg": "HS256"}));
        for payload in ["e30=", "e3 0", "e3?0", "AB"] {
            let token = format!("{header}.{payload}.c2ln");
            assert_eq!(
                parse(&token, &rules()).err(),
                Some(TokenProblem::Malformed),
                "{payload}"
            );
        }
        assert!(
            parse(&format!("{header}..c2ln"), &rules()).is_ok(),
            "empty payload parses"
        );
    }

    #[test]
    fn alg_gate_comes_first_and_is_exact() {
        assert_eq!(header(json!({"alg": "HS256"})), Ok(Algorithm::HS256));
        for alg in ["none", "None", "NONE", "hs256", "RS256", ""] {
            assert_eq!(
                header(json!({"alg": alg})),
                Err(TokenProblem::AlgorithmNotAllowed),
                "{alg}"
            );
        }
        assert_eq!(
            header(json!({"alg": 1})),
            Err(TokenProblem::MalformedHeader)
        );
        assert_eq!(
            header(json!({"kid": "a"})),
            Err(TokenProblem::MalformedHeader)
        );
    }

    #[test]
    fn header_members_must_have_their_types_and_null_is_not_absent() {
        assert_eq!(
            header(json!(["HS256", "k"])),
            Err(TokenProblem::MalformedHeader)
        );
        assert_eq!(
            header(json!({"alg": "HS256", "kid": null})),
            Err(TokenProblem::MalformedHeader)
        );
        assert_eq!(
            header(json!({"alg": "HS256", "typ": 1})),
            Err(TokenProblem::MalformedHeader)
        );
        assert_eq!(
            header(json!({"alg": "HS256", "crit": null})),
            Err(TokenProblem::UnsupportedCritical)
        );
        assert_eq!(
            header(json!({"alg": "HS256", "b64": null})),
            Err(TokenProblem::UnencodedPayload)
        );
        assert_eq!(
            header(json!({"alg": "HS256", "cty": "Application/JWT"})),
            Err(TokenProblem::Nested)
        );
        let non_utf8 = URL_SAFE_NO_PAD.encode(b"{\"alg\":\"HS256\",\"x\":\"\xff\"}");
        assert_eq!(
            parse(&format!("{non_utf8}.e30.c2ln"), &rules()).err(),
            Some(TokenProblem::MalformedHeader)
        );
    }

    #[test]
    fn header_extensions_are_refused() {
        assert_eq!(
            header(json!({"alg": "HS256", "crit": ["exp"]})),
            Err(TokenProblem::UnsupportedCritical)
        );
        assert_eq!(
            header(json!({"alg": "HS256", "b64": false})),
            Err(TokenProblem::UnencodedPayload)
        );
        assert_eq!(
            header(json!({"alg": "HS256", "cty": "jwt"})),
            Err(TokenProblem::Nested)
        );
        assert_eq!(
            header(json!({"alg": "HS256", "kid": 7})),
            Err(TokenProblem::MalformedHeader)
        );
        let duplicate = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","alg":"none"}"#);
        assert_eq!(
            parse(&format!("{duplicate}.e30.c2ln"), &rules()).err(),
            Some(TokenProblem::MalformedHeader)
        );
    }

    #[test]
    fn rfc9068_mode_requires_the_access_token_type_in_any_case() {
        let strict = Rules {
            rfc9068: true,
            ..rules()
        };
        let typ = |typ: Value| {
            let token = format!("{}.e30.c2ln", b64(&json!({"alg": "HS256", "typ": typ})));
            parse(&token, &strict).map(|p| p.alg)
        };
        for accepted in [
            "at+jwt",
            "AT+JWT",
            "application/at+jwt",
            "Application/At+JWT",
        ] {
            assert_eq!(typ(json!(accepted)), Ok(Algorithm::HS256), "{accepted}");
        }
        for refused in [
            json!("JWT"),
            json!("jwt"),
            json!("application/jwt"),
            json!("xat+jwt"),
        ] {
            assert_eq!(
                typ(refused.clone()),
                Err(TokenProblem::NotAnAccessToken),
                "{refused}"
            );
        }
        let untyped = format!("{}.e30.c2ln", b64(&json!({"alg": "HS256"})));
        assert_eq!(
            parse(&untyped, &strict).err(),
            Some(TokenProblem::NotAnAccessToken)
        );
        assert!(
            parse(&untyped, &rules()).is_ok(),
            "default mode ignores typ"
        );
    }

    #[test]
    fn rfc9068_mode_requires_its_claims() {
        let strict = Rules {
            rfc9068: true,
            ..rules()
        };
        let complete = json!({
            "iss": "https://issuer.example/", "aud": "https://api.example.com",
            "exp": NOW + 60, "iat": NOW, "sub": "c@clients", "client_id": "c", "jti": "1",
        });
        assert!(check_claims(complete.to_string().as_bytes(), &strict, NOW).is_ok());
        for (name, claim) in [
            ("sub", Claim::Subject),
            ("client_id", Claim::ClientId),
            ("jti", Claim::TokenId),
            ("iat", Claim::IssuedAt),
        ] {
            let mut missing = complete.clone();
            missing.as_object_mut().unwrap().remove(name);
            assert_eq!(
                check_claims(missing.to_string().as_bytes(), &strict, NOW).err(),
                Some(TokenProblem::MissingClaim(claim))
            );
        }
        let mut numeric = complete.clone();
        numeric["client_id"] = json!(7);
        assert_eq!(
            check_claims(numeric.to_string().as_bytes(), &strict, NOW).err(),
            Some(TokenProblem::InvalidClaim(Claim::ClientId))
        );
    }

    #[test]
    fn issuer_must_match_exactly() {
        assert!(claims_with(json!({})).is_ok());
        assert_eq!(
            claims_with(json!({"iss": "https://issuer.example"})).err(),
            Some(TokenProblem::WrongIssuer)
        );
        assert_eq!(
            claims_with(json!({"iss": null})).err(),
            Some(TokenProblem::MissingClaim(Claim::Issuer))
        );
        assert_eq!(
            claims_with(json!({"iss": ["https://issuer.example/"]})).err(),
            Some(TokenProblem::InvalidClaim(Claim::Issuer))
        );
    }

    #[test]
    fn audience_string_or_array_must_contain_ours() {
        let ok = claims_with(json!({"aud": ["other", "https://api.example.com"]})).unwrap();
        assert_eq!(ok.audiences().len(), 2);
        assert_eq!(
            claims_with(json!({"aud": "other"})).err(),
            Some(TokenProblem::WrongAudience)
        );
        for bad in [json!([]), json!(1), json!([1])] {
            assert_eq!(
                claims_with(json!({ "aud": bad })).err(),
                Some(TokenProblem::InvalidClaim(Claim::Audience))
            );
        }
        assert_eq!(
            claims_with(json!({"aud": null})).err(),
            Some(TokenProblem::MissingClaim(Claim::Audience))
        );
    }

    #[test]
    fn time_claims_with_leeway() {
        assert!(claims_with(json!({"exp": NOW - 30})).is_ok());
        assert_eq!(
            claims_with(json!({"exp": NOW - 61})).err(),
            Some(TokenProblem::Expired)
        );
        assert_eq!(
            claims_with(json!({"exp": NOW - 60})).err(),
            Some(TokenProblem::Expired)
        );
        assert!(claims_with(json!({"nbf": NOW + 30})).is_ok());
        assert_eq!(
            claims_with(json!({"nbf": NOW + 120})).err(),
            Some(TokenProblem::NotYetValid)
        );
        assert_eq!(
            claims_with(json!({"iat": NOW + 120})).err(),
            Some(TokenProblem::IssuedInFuture)
        );
        assert!(claims_with(json!({"exp": (NOW + 10) as f64 + 0.5})).is_ok());
        assert!(claims_with(json!({"exp": u64::MAX})).is_ok());
        assert_eq!(
            claims_with(json!({"exp": -1})).err(),
            Some(TokenProblem::Expired)
        );
    }

    #[test]
    fn time_claims_must_be_numbers() {
        for (name, claim) in [
            ("exp", Claim::ExpiresAt),
            ("nbf", Claim::NotBefore),
            ("iat", Claim::IssuedAt),
        ] {
            for bad in [json!("1700000000"), json!(true), json!([1])] {
                assert_eq!(
                    claims_with(json!({ name: bad })).err(),
                    Some(TokenProblem::InvalidClaim(claim)),
                    "{name}"
                );
            }
        }
        assert_eq!(
            claims_with(json!({"exp": null})).err(),
            Some(TokenProblem::InvalidClaim(Claim::ExpiresAt))
        );
    }

    #[test]
    fn payload_must_be_an_object_with_unique_names() {
        let duplicate = br#"{"iss":"x","iss":"https://issuer.example/"}"#;
        assert_eq!(
            check_claims(duplicate, &rules(), NOW).err(),
            Some(TokenProblem::MalformedClaims)
        );
        assert_eq!(
            check_claims(b"[]", &rules(), NOW).err(),
            Some(TokenProblem::MalformedClaims)
        );
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(10_000), "]".repeat(10_000));
        assert_eq!(
            check_claims(deep.as_bytes(), &rules(), NOW).err(),
            Some(TokenProblem::MalformedClaims)
        );
    }
}
