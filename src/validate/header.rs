//! The JOSE header of a token: the members this crate reads, and the media types of `typ`
//! and `cty`.

use serde_json::{Map, Value};

use crate::claims::UniqueKeyObject;
use crate::error::TokenProblem;

/// The header members this crate reads, from a JSON object with unique member names (an
/// array, a repeated name or invalid UTF-8 anywhere is a malformed header). Unknown members are
/// ignored, and `jku`, `x5u`, `jwk` and `x5c` are never read at all: a token does not get to
/// say which key verifies it.
pub(super) struct Header {
    pub(super) alg: String,
    pub(super) kid: Option<String>,
    pub(super) typ: Option<String>,
    pub(super) cty: Option<String>,
    /// `crit` or `b64` is present, with any value (`null` included).
    pub(super) has_crit: bool,
    pub(super) has_b64: bool,
}

impl Header {
    pub(super) fn parse(json: &[u8]) -> Result<Header, TokenProblem> {
        let mut members = HeaderMembers::parse(json)?;
        Ok(Header {
            alg: members.required("alg")?,
            kid: members.string("kid")?,
            typ: members.string("typ")?,
            cty: members.string("cty")?,
            has_crit: members.has("crit"),
            has_b64: members.has("b64"),
        })
    }
}

/// The members of a JOSE header (a JWS's or a JWE's), from a JSON object with unique member
/// names: an array, a repeated name or invalid UTF-8 anywhere is a malformed header.
pub(crate) struct HeaderMembers(Map<String, Value>);

impl HeaderMembers {
    pub(crate) fn parse(json: &[u8]) -> Result<HeaderMembers, TokenProblem> {
        let UniqueKeyObject(members) =
            serde_json::from_slice(json).map_err(|_| TokenProblem::MalformedHeader)?;
        Ok(HeaderMembers(members))
    }

    /// The string member `name`, if present. A member that is present must be a string:
    /// `null` is not "absent".
    pub(crate) fn string(&mut self, name: &str) -> Result<Option<String>, TokenProblem> {
        match self.0.remove(name) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(_) => Err(TokenProblem::MalformedHeader),
        }
    }

    /// The string member `name`, which must be present.
    pub(crate) fn required(&mut self, name: &str) -> Result<String, TokenProblem> {
        self.string(name)?.ok_or(TokenProblem::MalformedHeader)
    }

    /// Whether `name` is present, with any value (`null` included).
    pub(crate) fn has(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }
}

/// `at+jwt` or `application/at+jwt`, in any letter case (RFC 9068 §2.1, RFC 7515 §4.1.9).
pub(crate) fn is_access_token_type(typ: &str) -> bool {
    media_subtype(typ).eq_ignore_ascii_case("at+jwt")
}

/// A `typ` that says the JWT is another kind of token than an access token: any structured
/// `+jwt` (or `+sd-jwt`) type but `at+jwt`, in any letter case, with or without
/// `application/`. DPoP proofs (`dpop+jwt`), introspection responses
/// (`token-introspection+jwt`), logout tokens (`logout+jwt`), security events
/// (`secevent+jwt`) and the rest are signed by the same issuers with the same keys, so an
/// `aud` that happens to match must not make one pass as an access token. Every `+jwt`
/// type is refused rather than a list of the registered ones, so that a type registered
/// later is refused too.
pub(super) fn is_other_token_type(typ: &str) -> bool {
    let subtype = media_subtype(typ);
    let ends_with = |suffix: &str| {
        subtype
            .len()
            .checked_sub(suffix.len())
            .and_then(|start| subtype.get(start..))
            .is_some_and(|tail| tail.eq_ignore_ascii_case(suffix))
    };
    (ends_with("+jwt") || ends_with("+sd-jwt")) && !is_access_token_type(typ)
}

/// `JWT` or `application/jwt`, in any letter case: a nested token (RFC 7519 §5.2).
pub(crate) fn is_jwt_media_type(cty: &str) -> bool {
    media_subtype(cty).eq_ignore_ascii_case("jwt")
}

/// A `typ` or `cty` without its optional `application/` prefix (RFC 7515 §4.1.9).
pub(crate) fn media_subtype(media_type: &str) -> &str {
    const PREFIX: &str = "application/";
    match media_type.get(..PREFIX.len()) {
        Some(head) if head.eq_ignore_ascii_case(PREFIX) => &media_type[PREFIX.len()..],
        _ => media_type,
    }
}
