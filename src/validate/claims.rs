//! The claims of a token whose signature verified: `iss`, `aud`, the NumericDates, the
//! claims RFC 9068 requires, and the scopes; and the unverified `iss` that picks the issuer.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::Rules;
use super::payload::RegisteredClaims;
use crate::claims::VerifiedClaims;
use crate::error::{Claim, TokenProblem};
use crate::json_members::ClaimLookup;
use crate::scope::Scopes;

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

/// Decodes the payload and applies the claim rules. Only called on a verified signature.
pub(super) fn check_claims(
    payload: &[u8],
    rules: &Rules,
    now: i64,
) -> Result<VerifiedClaims, TokenProblem> {
    let registered = RegisteredClaims::read(payload)?;
    // Always UTF-8 once read: JSON's structure is ASCII and its strings were checked.
    let text = std::str::from_utf8(payload).map_err(|_| TokenProblem::MalformedClaims)?;
    let checked = check_claim_set(&registered, rules, now, false)?;
    VerifiedClaims::from_payload(
        checked.issuer,
        checked.audiences,
        checked.expires_at,
        checked.scopes,
        &registered,
        text.into(),
        registered.all_bytes,
    )
}

/// The claims of an active introspection response (RFC 7662 §2.2), checked by the same rules
/// as a JWT's: `aud` and `exp` required, `nbf` and `iat` checked, `iss` must match when it
/// is present (RFC 7662 makes it optional; it is the configured issuer when absent). RFC
/// 9068's extra claims are not required: the token is not a JWT.
pub(crate) fn check_introspected_claims(
    claims: Map<String, Value>,
    rules: &Rules,
    now: i64,
) -> Result<VerifiedClaims, TokenProblem> {
    let checked = check_claim_set(&claims, rules, now, true)?;
    VerifiedClaims::new(
        checked.issuer,
        checked.audiences,
        checked.expires_at,
        checked.scopes,
        claims,
    )
}

/// The typed claims of a claim set that passed the rules.
struct Checked {
    issuer: String,
    audiences: Vec<String>,
    expires_at: i64,
    scopes: Scopes,
}

fn check_claim_set(
    claims: &impl ClaimLookup,
    rules: &Rules,
    now: i64,
    introspected: bool,
) -> Result<Checked, TokenProblem> {
    let issuer = match claims.claim("iss") {
        None if introspected => rules.issuer.clone(),
        None => return Err(TokenProblem::MissingClaim(Claim::Issuer)),
        Some(Value::String(iss)) if *iss == rules.issuer => iss.clone(),
        Some(Value::String(_)) => return Err(TokenProblem::WrongIssuer),
        Some(_) => return Err(TokenProblem::InvalidClaim(Claim::Issuer)),
    };
    let audiences = audiences(claims)?;
    if !audiences.iter().any(|aud| rules.audiences.contains(aud)) {
        return Err(TokenProblem::WrongAudience);
    }

    let leeway = rules.leeway_secs;
    let expires_at = numeric_date(claims, Claim::ExpiresAt)?
        .ok_or(TokenProblem::MissingClaim(Claim::ExpiresAt))?;
    if now >= expires_at.saturating_add(leeway) {
        return Err(TokenProblem::Expired);
    }
    if let Some(not_before) = numeric_date(claims, Claim::NotBefore)?
        && now.saturating_add(leeway) < not_before
    {
        return Err(TokenProblem::NotYetValid);
    }
    if let Some(issued_at) = numeric_date(claims, Claim::IssuedAt)?
        && issued_at > now.saturating_add(leeway)
    {
        return Err(TokenProblem::IssuedInFuture);
    }

    if rules.rfc9068 && !introspected {
        require_rfc9068_claims(claims)?;
    }
    let scopes = Scopes::from_claims(claims, rules.scope_claims, &rules.scope_hierarchy)?;
    Ok(Checked {
        issuer,
        audiences,
        expires_at,
        scopes,
    })
}

/// RFC 9068 §2.2: `sub`, `client_id` and `jti` strings and an `iat` are required (`iss`,
/// `exp` and `aud` are required in every mode).
fn require_rfc9068_claims(claims: &impl ClaimLookup) -> Result<(), TokenProblem> {
    for claim in [Claim::Subject, Claim::ClientId, Claim::TokenId] {
        match claims.claim(claim.name()) {
            None => return Err(TokenProblem::MissingClaim(claim)),
            Some(Value::String(_)) => {}
            Some(_) => return Err(TokenProblem::InvalidClaim(claim)),
        }
    }
    if claims.claim(Claim::IssuedAt.name()).is_none() {
        return Err(TokenProblem::MissingClaim(Claim::IssuedAt));
    }
    Ok(())
}

/// `aud` as a string or a non-empty array of strings (RFC 7519 §4.1.3).
fn audiences(claims: &impl ClaimLookup) -> Result<Vec<String>, TokenProblem> {
    const INVALID: TokenProblem = TokenProblem::InvalidClaim(Claim::Audience);
    match claims.claim("aud") {
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
fn numeric_date(claims: &impl ClaimLookup, claim: Claim) -> Result<Option<i64>, TokenProblem> {
    let Some(value) = claims.claim(claim.name()) else {
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
    use super::super::tests::rules;
    use super::*;
    use crate::json_members::UniqueKeyObject;
    use serde_json::json;

    const NOW: i64 = 1_700_000_000;

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

    fn payload_with(members: &str) -> String {
        format!(
            r#"{{"iss":"https://issuer.example/","aud":"https://api.example.com","exp":{}{members}}}"#,
            NOW + 3600
        )
    }

    #[test]
    fn the_map_is_built_on_first_use_as_it_was_read_before() {
        let payload = payload_with(
            r#","sub":"s","org":{"id":"o\u00e9","tags":["a",1,2.5,null,true,{}]},"n":-0,"e":[]"#,
        );
        let claims = check_claims(payload.as_bytes(), &rules(), NOW).unwrap();
        assert_eq!(claims.subject(), Some("s"));
        assert!(!claims.map_is_built());
        let UniqueKeyObject(map) = serde_json::from_str(&payload).unwrap();
        let eager = VerifiedClaims::new(
            claims.issuer().into(),
            claims.audiences().to_vec(),
            claims.expires_at(),
            Scopes::default(),
            map.clone(),
        )
        .unwrap();
        // The same estimate as the map's, plus the text it is built from.
        assert_eq!(
            claims.approximate_heap_bytes(),
            eager.approximate_heap_bytes() + payload.len()
        );
        assert_eq!(claims.get("org"), map.get("org"));
        assert!(claims.map_is_built());
        assert_eq!(claims.all(), &map);
        // Names may repeat inside a claim's value, as in a map (the last one wins).
        let nested = payload_with(r#","x":{"a":1,"a":2}"#);
        let nested = check_claims(nested.as_bytes(), &rules(), NOW).unwrap();
        assert_eq!(nested.get("x"), Some(&json!({"a": 2})));
    }

    #[test]
    fn claims_not_read_are_checked_as_a_map_would_check_them() {
        let deep = format!(r#","x":{}{}"#, "[".repeat(200), "]".repeat(200));
        let mut bad: Vec<Vec<u8>> = [
            r#","x":1,"x":2"#,
            r#","x":1,"\u0078":2"#,
            r#","iss":"https://issuer.example/""#,
            r#","x":"\ud800""#,
            r#","x":{"\udfff":1}"#,
            r#","x":1e400"#,
            r#","x":"\q""#,
            r#","x":[1,]"#,
            deep.as_str(),
        ]
        .iter()
        .map(|members| payload_with(members).into_bytes())
        .collect();
        bad.push(format!("{} x", payload_with("")).into_bytes());
        bad.push(payload_with(",\"x\":\"\u{1}\"").into_bytes());
        let mut invalid_utf8 = payload_with(r#","x":"?""#).into_bytes();
        let question = invalid_utf8.iter().rposition(|byte| *byte == b'?').unwrap();
        invalid_utf8[question] = 0xff;
        bad.push(invalid_utf8);
        for payload in &bad {
            assert_eq!(
                check_claims(payload, &rules(), NOW).err(),
                Some(TokenProblem::MalformedClaims),
                "{}",
                String::from_utf8_lossy(payload)
            );
        }
    }
}
