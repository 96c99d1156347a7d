//! The JOSE header of a token: the members this crate reads, and the media types of `typ`
//! and `cty`.

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};

use crate::error::TokenProblem;
use crate::json_members::{CheckedJson, MemberName, refuse_repeated_names};

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
        let ([alg, kid, typ, cty], [has_crit, has_b64]) =
            HeaderMembers::read(json, ["alg", "kid", "typ", "cty"], ["crit", "b64"])?;
        Ok(Header {
            alg: alg.ok_or(TokenProblem::MalformedHeader)?,
            kid,
            typ,
            cty,
            has_crit,
            has_b64,
        })
    }
}

/// The reader of a JOSE header (a JWS's or a JWE's): one pass over a JSON object with unique
/// member names, keeping only the members asked for. An array, a repeated name, invalid
/// UTF-8 or anything else `serde_json` would not read into a `Value`, anywhere, is a
/// malformed header, so skipping the other members accepts no more than reading them did.
pub(crate) struct HeaderMembers<'names, const STRINGS: usize, const FLAGS: usize> {
    strings: [&'names str; STRINGS],
    flags: [&'names str; FLAGS],
}

/// What [`HeaderMembers::read`] finds: each string member or `None`, and each flag.
type Found<const STRINGS: usize, const FLAGS: usize> = ([Option<String>; STRINGS], [bool; FLAGS]);

impl<'names, const STRINGS: usize, const FLAGS: usize> HeaderMembers<'names, STRINGS, FLAGS> {
    /// The string members named in `strings` (each `None` when absent; a member that is
    /// present must be a string: `null` is not "absent"), and whether each member named in
    /// `flags` is present, with any value (`null` included).
    pub(crate) fn read(
        json: &[u8],
        strings: [&'names str; STRINGS],
        flags: [&'names str; FLAGS],
    ) -> Result<Found<STRINGS, FLAGS>, TokenProblem> {
        let mut reader = serde_json::Deserializer::from_slice(json);
        let found = HeaderMembers { strings, flags }
            .deserialize(&mut reader)
            .and_then(|found| reader.end().map(|()| found));
        found.map_err(|_| TokenProblem::MalformedHeader)
    }
}

impl<'de, const STRINGS: usize, const FLAGS: usize> DeserializeSeed<'de>
    for HeaderMembers<'_, STRINGS, FLAGS>
{
    type Value = Found<STRINGS, FLAGS>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, const STRINGS: usize, const FLAGS: usize> Visitor<'de>
    for HeaderMembers<'_, STRINGS, FLAGS>
{
    type Value = Found<STRINGS, FLAGS>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JOSE header: a JSON object with unique member names")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut strings = std::array::from_fn(|_| None);
        let mut flags = [false; FLAGS];
        // Every name, read or not, to refuse a repeated one.
        let mut names = Vec::new();
        while let Some(MemberName(name)) = access.next_key()? {
            if let Some(index) = self.strings.iter().position(|wanted| *wanted == name) {
                strings[index] = Some(access.next_value::<String>()?);
            } else {
                if let Some(index) = self.flags.iter().position(|wanted| *wanted == name) {
                    flags[index] = true;
                }
                access.next_value::<CheckedJson>()?;
            }
            names.push(name);
        }
        refuse_repeated_names(names)?;
        Ok((strings, flags))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &[u8]) -> Result<Header, TokenProblem> {
        Header::parse(json)
    }

    #[test]
    fn the_read_members_are_taken_and_the_rest_ignored() {
        let header = parse(
            br#"{"alg":"RS256","kid":"k\u0031","typ":"at+jwt","x":{"y":[1,2.5,null,true,{"z":"w"}]},"cty":"json"}"#,
        )
        .unwrap();
        assert_eq!(header.alg, "RS256");
        assert_eq!(header.kid.as_deref(), Some("k1"));
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        assert_eq!(header.cty.as_deref(), Some("json"));
        assert!(!header.has_crit && !header.has_b64);
        let flagged = parse(br#"{"alg":"RS256","crit":null,"b64":false}"#).unwrap();
        assert!(flagged.has_crit && flagged.has_b64);
        // Nested objects may repeat names: only the top level is the header's.
        assert!(parse(br#"{"alg":"RS256","x":{"a":1,"a":2}}"#).is_ok());
    }

    #[test]
    fn anything_the_json_reader_would_not_take_is_a_malformed_header() {
        let deep = format!(
            r#"{{"alg":"RS256","x":{}{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        let bad: &[&[u8]] = &[
            br#"["alg"]"#,
            b"null",
            br#"{"kid":"k"}"#,
            br#"{"alg":null}"#,
            br#"{"alg":"RS256","kid":7}"#,
            br#"{"alg":"RS256","typ":null}"#,
            br#"{"alg":"RS256","alg":"none"}"#,
            // A repeated name is refused whether or not this crate reads it, and however
            // it is spelled.
            br#"{"alg":"RS256","x":1,"x":2}"#,
            br#"{"alg":"RS256","x":1,"\u0078":2}"#,
            br#"{"alg":"RS256","crit":[],"crit":[]}"#,
            // Invalid UTF-8, a lone surrogate or a number out of range in a member that is
            // not read.
            b"{\"alg\":\"RS256\",\"x\":\"\xff\"}",
            b"{\"alg\":\"RS256\",\"\xc3\":1}",
            br#"{"alg":"RS256","x":"\ud800"}"#,
            br#"{"alg":"RS256","x":{"\udfff":1}}"#,
            br#"{"alg":"RS256","x":1e400}"#,
            br#"{"alg":"RS256","x":"\q"}"#,
            br#"{"alg":"RS256"} x"#,
            br#"{"alg":"RS256","x":[1,]}"#,
            deep.as_bytes(),
        ];
        for json in bad {
            assert_eq!(
                parse(json).err(),
                Some(TokenProblem::MalformedHeader),
                "{}",
                String::from_utf8_lossy(json)
            );
        }
    }
}
