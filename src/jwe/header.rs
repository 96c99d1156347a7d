//! The protected header of a compact JWE: the members read before anything is decrypted.

use crate::error::TokenProblem;
use crate::validate::{HeaderMembers, is_access_token_type, is_jwt_media_type};

/// The JWE header members this crate reads, from a JSON object with unique member names.
/// Unknown members are ignored; `jku`, `jwk`, `x5u` and `x5c` are never read (the token does
/// not choose the key), and neither is `epk` (no ECDH-ES is offered).
pub(super) struct JweHeader {
    pub(super) alg: String,
    pub(super) enc: String,
    pub(super) kid: Option<String>,
    pub(super) cty: Option<String>,
    /// `zip` is present, with any value: compressed plaintext is refused (decompressing
    /// attacker-sized input before the inner token is verified invites trouble, and no
    /// issuer this crate meets compresses access tokens).
    pub(super) has_zip: bool,
    /// `crit` is present, with any value: no JWE extension is implemented.
    pub(super) has_crit: bool,
}

impl JweHeader {
    pub(super) fn parse(json: &[u8]) -> Result<JweHeader, TokenProblem> {
        let ([alg, enc, kid, cty], [has_zip, has_crit]) =
            HeaderMembers::read(json, ["alg", "enc", "kid", "cty"], ["zip", "crit"])?;
        let required = |member: Option<String>| member.ok_or(TokenProblem::MalformedHeader);
        Ok(JweHeader {
            alg: required(alg)?,
            enc: required(enc)?,
            kid,
            cty,
            has_zip,
            has_crit,
        })
    }

    /// Whether `cty` says the payload is a JWT: `JWT` (Auth0), `at+jwt` (oidc-provider),
    /// with or without `application/`, in any letter case; or no `cty` at all (some issuers
    /// send none). Anything else is a payload that is not a nested token.
    pub(super) fn announces_jwt(&self) -> bool {
        self.cty
            .as_deref()
            .is_none_or(|cty| is_jwt_media_type(cty) || is_access_token_type(cty))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(json: &str) -> Result<JweHeader, TokenProblem> {
        JweHeader::parse(json.as_bytes())
    }

    #[test]
    fn alg_and_enc_are_required_strings_and_names_unique() {
        for bad in [
            r#"{"enc":"A256GCM"}"#,
            r#"{"alg":"RSA-OAEP-256"}"#,
            r#"{"alg":"RSA-OAEP-256","enc":null}"#,
            r#"{"alg":"RSA-OAEP-256","enc":"A256GCM","kid":7}"#,
            r#"{"alg":"RSA-OAEP-256","enc":"A256GCM","enc":"A128GCM"}"#,
            r#"["alg"]"#,
        ] {
            assert_eq!(
                header(bad).err(),
                Some(TokenProblem::MalformedHeader),
                "{bad}"
            );
        }
        let good = header(r#"{"alg":"RSA-OAEP-256","enc":"A256GCM","kid":"k","zip":"DEF"}"#);
        let good = good.unwrap();
        assert_eq!(
            (good.alg.as_str(), good.enc.as_str()),
            ("RSA-OAEP-256", "A256GCM")
        );
        assert!(good.has_zip && !good.has_crit);
    }

    #[test]
    fn the_content_types_of_a_nested_jwt_are_accepted_and_no_other() {
        let with = |cty: &str| {
            header(&format!(r#"{{"alg":"a","enc":"e","cty":"{cty}"}}"#))
                .unwrap()
                .announces_jwt()
        };
        for cty in [
            "JWT",
            "jwt",
            "at+jwt",
            "application/at+jwt",
            "Application/JWT",
        ] {
            assert!(with(cty), "{cty}");
        }
        for cty in ["json", "application/json", "dpop+jwt", ""] {
            assert!(!with(cty), "{cty}");
        }
        assert!(header(r#"{"alg":"a","enc":"e"}"#).unwrap().announces_jwt());
    }
}
