//! The pure check of one token: header, key choice, signature, claims.
//!
//! No I/O and no HTTP here: [`Rules`] and a [`KeySet`] in, verified claims or a
//! [`TokenProblem`] out. This is the part to read first, and the part the fuzzers drive.

mod claims;
mod header;
mod payload;

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;

use crate::claims::VerifiedClaims;
use crate::error::TokenProblem;
use crate::keys::{KeyChoice, KeySet, VerificationKey};
use crate::scope::{ScopeClaims, ScopeHierarchy};
use claims::check_claims;
pub(crate) use claims::{check_introspected_claims, unverified_issuer};
use header::{Header, is_other_token_type};
pub(crate) use header::{HeaderMembers, is_access_token_type, is_jwt_media_type, media_subtype};

/// The rules a token must meet, fixed when the validator is built.
#[derive(Debug, Clone)]
pub(crate) struct Rules {
    pub(crate) issuer: String,
    pub(crate) audiences: Vec<String>,
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) leeway_secs: i64,
    pub(crate) scope_claims: ScopeClaims,
    /// Which scopes imply which: the token's scopes are expanded once, when verified.
    pub(crate) scope_hierarchy: ScopeHierarchy,
    /// RFC 9068: `typ` must be `at+jwt`, and `sub`, `client_id`, `iat`, `jti` are required.
    pub(crate) rfc9068: bool,
}

/// A token whose structure and header passed, and whose algorithm is allowed. It holds the
/// token as `T`: borrowed while a request is decided at once, owned (see
/// [`into_owned`](Parsed::into_owned)) when it must wait for the key set, so that the wait
/// continues the work instead of starting over.
pub(crate) struct Parsed<T> {
    token: T,
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<String>,
    /// The header's `typ`, as sent.
    pub(crate) typ: Option<String>,
    /// Where the signing input (`header.payload`) ends in the token.
    signing_input_len: usize,
    /// The decoded payload.
    payload: Vec<u8>,
}

impl<T: AsRef<str>> Parsed<T> {
    /// The token this was parsed from.
    pub(crate) fn token(&self) -> &str {
        self.token.as_ref()
    }

    /// The decoded payload (verified only once [`verify_signature`] said so).
    pub(crate) fn payload(&self) -> &[u8] {
        &self.payload
    }

    fn signing_input(&self) -> &str {
        &self.token()[..self.signing_input_len]
    }

    fn signature(&self) -> &str {
        &self.token()[self.signing_input_len + 1..]
    }
}

impl Parsed<&str> {
    /// The same parsed token, owning its text.
    pub(crate) fn into_owned(self) -> Parsed<Box<str>> {
        Parsed {
            token: self.token.into(),
            alg: self.alg,
            kid: self.kid,
            typ: self.typ,
            signing_input_len: self.signing_input_len,
            payload: self.payload,
        }
    }
}

/// Splits the token, decodes the header and applies the algorithm allow-list and the access
/// token `typ` rules, all before any key is looked up.
pub(crate) fn parse<'a>(token: &'a str, rules: &Rules) -> Result<Parsed<&'a str>, TokenProblem> {
    split(token, rules, true)
}

/// [`parse`] for a JWS that is not an access token (a signed introspection response, whose
/// `typ` its caller checks): the same structure, header and algorithm rules, no `typ` rule.
pub(crate) fn parse_jws<'a>(
    token: &'a str,
    rules: &Rules,
) -> Result<Parsed<&'a str>, TokenProblem> {
    split(token, rules, false)
}

fn split<'a>(
    token: &'a str,
    rules: &Rules,
    access_token: bool,
) -> Result<Parsed<&'a str>, TokenProblem> {
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
    let signing_input_len = header.len() + 1 + payload.len();
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
    // Strict mode wants `at+jwt`; every mode refuses a type that names another kind of token.
    let typ = header.typ.as_deref();
    if access_token
        && ((rules.rfc9068 && !typ.is_some_and(is_access_token_type))
            || typ.is_some_and(is_other_token_type))
    {
        return Err(TokenProblem::NotAnAccessToken);
    }
    // Strict base64url here, before any key is used: a payload that is not canonically
    // encoded is malformed even if its signature would verify.
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| TokenProblem::Malformed)?;
    Ok(Parsed {
        token,
        alg,
        kid: header.kid,
        typ: header.typ,
        signing_input_len,
        payload,
    })
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
pub(crate) fn verify(
    parsed: &Parsed<impl AsRef<str>>,
    keys: &KeySet,
    rules: &Rules,
    now: i64,
) -> Outcome {
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
    parsed: &Parsed<impl AsRef<str>>,
    keys: &KeySet,
) -> Result<Arc<VerificationKey>, Outcome> {
    let key = match keys.choose(parsed.kid.as_deref(), parsed.alg) {
        KeyChoice::Found(key) => key,
        KeyChoice::Unknown => return Err(Outcome::UnknownKey),
        KeyChoice::Rejected(problem) => return Err(Outcome::Invalid(problem)),
    };
    let signature = URL_SAFE_NO_PAD
        .decode(parsed.signature())
        .map_err(|_| Outcome::Invalid(TokenProblem::Malformed))?;
    key.verify(parsed.alg, parsed.signing_input().as_bytes(), &signature)
        .map_err(Outcome::Invalid)?;
    Ok(Arc::clone(key))
}

/// The current time in Unix seconds, the unit of JWT time claims.
pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    pub(super) fn rules() -> Rules {
        Rules {
            issuer: "https://issuer.example/".into(),
            audiences: vec!["https://api.example.com".into()],
            algorithms: vec![Algorithm::HS256],
            leeway_secs: 60,
            scope_claims: ScopeClaims::default(),
            scope_hierarchy: Default::default(),
            rfc9068: false,
        }
    }

    fn b64(value: &Value) -> String {
        URL_SAFE_NO_PAD.encode(value.to_string())
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
}
