//! Digests: SHA-256 (with base64url), the RFC 7638 thumbprint of a JWK (`cnf.jkt`), and the
//! thumbprint of a certificate (`cnf["x5t#S256"]`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// SHA-256 of `bytes`.
pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// base64url(SHA-256(`bytes`)), without padding: the form of `ath`, `jkt` and `x5t#S256`.
pub(crate) fn sha256_b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(sha256(bytes))
}

/// The RFC 7638 SHA-256 thumbprint of a public JWK: its required members, in lexicographic
/// order, as JSON without whitespace, hashed. `None` for a key type this crate does not
/// verify or a required member that is not a string.
pub(crate) fn jwk_thumbprint(jwk: &Map<String, Value>) -> Option<String> {
    let members = required_members(jwk)?;
    let mut canonical = String::from("{");
    for (i, name) in members.iter().enumerate() {
        let value = jwk.get(*name)?.as_str()?;
        if i > 0 {
            canonical.push(',');
        }
        // serde_json escapes as RFC 8259 says; base64url values need no escaping anyway.
        canonical.push_str(&Value::from(*name).to_string());
        canonical.push(':');
        canonical.push_str(&Value::from(value).to_string());
    }
    canonical.push('}');
    Some(sha256_b64(canonical.as_bytes()))
}

/// The RFC 7638 required members of a public JWK of a type this crate verifies, in
/// lexicographic order; `None` for another `kty`.
pub(crate) fn required_members(jwk: &Map<String, Value>) -> Option<&'static [&'static str]> {
    match jwk.get("kty")?.as_str()? {
        "EC" => Some(&["crv", "kty", "x", "y"]),
        "RSA" => Some(&["e", "kty", "n"]),
        "OKP" => Some(&["crv", "kty", "x"]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc7638_example_thumbprint() {
        // RFC 7638 §3.1.
        let jwk = serde_json::json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        assert_eq!(
            jwk_thumbprint(jwk.as_object().unwrap()).as_deref(),
            Some("NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")
        );
    }

    #[test]
    fn unknown_types_and_non_string_members_have_no_thumbprint() {
        let oct = serde_json::json!({"kty": "oct", "k": "c2VjcmV0"});
        assert_eq!(jwk_thumbprint(oct.as_object().unwrap()), None);
        let bad = serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": 1});
        assert_eq!(jwk_thumbprint(bad.as_object().unwrap()), None);
    }
}
