//! The key policy's verdict on each key of a JWK set, for diagnosis: what the key set cache
//! would keep and what it would leave out, and why, without fetching or caching anything.
//! Also the URLs discovery asks. The doctor example checks a live issuer with them.

use serde::Serialize;
use serde_json::Value;

use super::fetch::{fallback_jwks_url, metadata_urls};
use crate::Algorithm;
use crate::keys::{KeySet, KeySkipped, parse_key};

/// One key of a JWK set, as published, with the key policy's verdict on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct InspectedKey {
    /// `kid`, if the key has one (a string).
    pub kid: Option<String>,
    /// `kty`: the key type (`RSA`, `EC`, `OKP`, `oct`).
    pub kty: Option<String>,
    /// `alg`, if the key is pinned to an algorithm.
    pub alg: Option<String>,
    /// `use`, if present (`sig` or `enc`).
    #[serde(rename = "use")]
    pub usage: Option<String>,
    /// Why the key policy leaves the key out (`None`: the key verifies tokens).
    pub refused: Option<String>,
}

/// Where discovery looks for an issuer's key set, in the order the crate tries them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DiscoveryUrls {
    /// OpenID Connect discovery: `{issuer}/.well-known/openid-configuration`.
    pub openid_configuration: String,
    /// RFC 8414: `/.well-known/oauth-authorization-server{issuer's path}`, asked when the
    /// first answered 404 or 410.
    pub authorization_server: String,
    /// `{issuer}/.well-known/jwks.json`, the key set taken when both metadata documents
    /// answered 404 or 410 (any other failure fails the fetch instead).
    pub fallback_jwks: String,
}

/// The URLs discovery asks for `issuer` (`None`: the issuer is not a URL), so that a
/// diagnosis makes the same requests the validator does.
///
/// ```
/// let urls = bearer_guard::jwks::discovery_urls("https://idp.example/realms/main").unwrap();
/// assert_eq!(
///     urls.authorization_server,
///     "https://idp.example/.well-known/oauth-authorization-server/realms/main"
/// );
/// assert_eq!(urls.fallback_jwks, "https://idp.example/realms/main/.well-known/jwks.json");
/// assert!(bearer_guard::jwks::discovery_urls("not a url").is_none());
/// ```
pub fn discovery_urls(issuer: &str) -> Option<DiscoveryUrls> {
    let [oidc, rfc8414] = metadata_urls(issuer).ok()?;
    Some(DiscoveryUrls {
        openid_configuration: oidc.into(),
        authorization_server: rfc8414.into(),
        fallback_jwks: fallback_jwks_url(issuer).ok()?.into(),
    })
}

/// Why a whole key set is refused: no key of it is used (the previous set, if any, stays).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeySetRefused(String);

/// Applies the key policy to a JWK set document exactly as a fetched key set is parsed,
/// for the accepted `algorithms` (a validator's, by default `[RS256]`) and at most
/// `max_keys` keys (the builder's `max_keys`, by default 100), and returns each key's
/// verdict in the document's order.
///
/// A development aid: nothing is fetched or cached. A set refused whole (not a JWK set, too
/// many keys, secrets mixed with public keys) is an error.
///
/// ```
/// use bearer_guard::Algorithm;
/// use bearer_guard::jwks::inspect_key_set;
///
/// let document = br#"{"keys":[{"kty":"RSA","kid":"old","use":"enc","n":"AQAB","e":"AQAB"}]}"#;
/// let keys = inspect_key_set(document, &[Algorithm::RS256], 100).unwrap();
/// assert_eq!(keys[0].kid.as_deref(), Some("old"));
/// assert_eq!(keys[0].refused.as_deref(), Some("`use` is not `sig`"));
/// ```
pub fn inspect_key_set(
    document: &[u8],
    algorithms: &[Algorithm],
    max_keys: usize,
) -> Result<Vec<InspectedKey>, KeySetRefused> {
    #[derive(serde::Deserialize)]
    struct Document {
        keys: Vec<Value>,
    }
    let algorithms: Vec<_> = algorithms.iter().map(|alg| alg.to_jwt()).collect();
    // The set-wide rules (size, mixed sets, duplicate `kid`s) come from the parse the key
    // set cache runs; each key's own verdict from the same policy function it applies.
    let (_, skipped) = KeySet::parse(document, &algorithms, max_keys)
        .map_err(|rejected| KeySetRefused(rejected.to_string()))?;
    let document: Document = serde_json::from_slice(document)
        .map_err(|_| KeySetRefused("the document is not a JWK set".to_owned()))?;
    let member = |raw: &Value, name: &str| raw.get(name).and_then(Value::as_str).map(str::to_owned);
    Ok(document
        .keys
        .iter()
        .map(|raw| {
            let kid = member(raw, "kid");
            let duplicate = skipped.contains(&(kid.clone(), KeySkipped::DuplicateKid));
            let refused = match duplicate {
                true => Some(KeySkipped::DuplicateKid.to_string()),
                false => parse_key(raw, &algorithms)
                    .err()
                    .map(|reason| reason.to_string()),
            };
            InspectedKey {
                kty: member(raw, "kty"),
                alg: member(raw, "alg"),
                usage: member(raw, "use"),
                kid,
                refused,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::tests::modulus;
    use serde_json::json;

    fn rsa(kid: &str, bits: usize) -> Value {
        json!({"kty": "RSA", "kid": kid, "n": modulus(bits), "e": "AQAB"})
    }

    #[test]
    fn each_key_gets_the_policys_verdict_in_document_order() {
        let document = json!({"keys": [
            rsa("good", 2048),
            rsa("weak", 1024),
            rsa("twin", 2048),
            rsa("twin", 2048),
            {"kty": "RSA", "kid": "ps", "alg": "PS256", "n": modulus(2048), "e": "AQAB"},
        ]});
        let keys =
            inspect_key_set(document.to_string().as_bytes(), &[Algorithm::RS256], 100).unwrap();
        let verdicts: Vec<_> = keys
            .iter()
            .map(|key| (key.kid.as_deref().unwrap(), key.refused.as_deref()))
            .collect();
        assert_eq!(
            verdicts,
            [
                ("good", None),
                ("weak", Some("RSA modulus shorter than 2048 bits")),
                ("twin", Some("another key has the same `kid`")),
                ("twin", Some("another key has the same `kid`")),
                (
                    "ps",
                    Some("`alg` is not an accepted algorithm for this key")
                ),
            ]
        );
        assert_eq!(keys[4].alg.as_deref(), Some("PS256"));
        assert_eq!(keys[0].kty.as_deref(), Some("RSA"));
    }

    #[test]
    fn sets_refused_whole_are_errors() {
        let too_many = json!({"keys": [rsa("a", 2048), rsa("b", 2048)]}).to_string();
        let error = inspect_key_set(too_many.as_bytes(), &[Algorithm::RS256], 1).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the key set has 2 keys, more than the 1 accepted"
        );
        let error = inspect_key_set(b"<html>", &[Algorithm::RS256], 100).unwrap_err();
        assert_eq!(error.to_string(), "the document is not a JWK set");
    }
}
