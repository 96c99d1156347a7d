//! The verified claims handed to handlers.

use std::fmt;
use std::sync::Arc;

use serde::de::{DeserializeOwned, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};

use crate::actor::{Actor, actor_chain};
use crate::error::{Claim, TokenProblem};
use crate::scope::Scopes;

/// The claims of a token that passed every check.
///
/// The layer puts one into the request extensions; it is an `Arc` inside, so cloning it is
/// cheap. The standard claims are typed accessors; anything else is reachable through
/// [`get`](VerifiedClaims::get) or [`deserialize`](VerifiedClaims::deserialize) into a type
/// of your own.
#[derive(Clone)]
pub struct VerifiedClaims(Arc<ClaimsInner>);

struct ClaimsInner {
    issuer: String,
    audiences: Vec<String>,
    expires_at: i64,
    subject: Option<String>,
    actors: Vec<Actor>,
    scopes: Scopes,
    /// `cnf`, read once here: the layer checks the binding on every request, cache hits
    /// included, and reads it from this instead of the claims' map.
    confirmation: Result<OwnedConfirmation, TokenProblem>,
    all: Map<String, Value>,
}

/// The binding members of `cnf`, owned by the claims (see [`Confirmation`]).
#[derive(Default)]
struct OwnedConfirmation {
    jkt: Option<Box<str>>,
    x5t_s256: Option<Box<str>>,
}

impl VerifiedClaims {
    /// The claims, with the `act` chain read once: a malformed one refuses the token.
    pub(crate) fn new(
        issuer: String,
        audiences: Vec<String>,
        expires_at: i64,
        scopes: Scopes,
        all: Map<String, Value>,
    ) -> Result<Self, TokenProblem> {
        let subject = all.get("sub").and_then(Value::as_str).map(str::to_owned);
        let actors = actor_chain(&all)?;
        let confirmation = read_confirmation(&all).map(|cnf| OwnedConfirmation {
            jkt: cnf.jkt.map(Box::from),
            x5t_s256: cnf.x5t_s256.map(Box::from),
        });
        Ok(VerifiedClaims(Arc::new(ClaimsInner {
            issuer,
            audiences,
            expires_at,
            subject,
            actors,
            scopes,
            confirmation,
            all,
        })))
    }

    /// `iss`: the issuer, equal to the configured one.
    pub fn issuer(&self) -> &str {
        &self.0.issuer
    }

    /// `aud`, as a list whether the token had a string or an array.
    pub fn audiences(&self) -> &[String] {
        &self.0.audiences
    }

    /// `exp`, in seconds since the Unix epoch (a fractional `exp` is rounded down).
    pub fn expires_at(&self) -> i64 {
        self.0.expires_at
    }

    /// `sub`, when it is a string. For client-credentials tokens this is usually the client
    /// id (Auth0 writes `{client_id}@clients`).
    pub fn subject(&self) -> Option<&str> {
        self.0.subject.as_deref()
    }

    /// The delegation chain of an exchanged token (RFC 8693 `act`), outermost first: the
    /// first is the current actor, the one calling on the subject's behalf, and the rest
    /// acted before it. Empty for a direct (not exchanged) token. Only the current actor
    /// should count for authorization ([`ClaimRule::actor_in`](crate::ClaimRule::actor_in));
    /// the scopes stay the token's own, what the subject granted to that actor.
    pub fn actors(&self) -> &[Actor] {
        &self.0.actors
    }

    /// The current actor's `sub` (the outermost `act`), if the token was exchanged.
    pub fn actor(&self) -> Option<&str> {
        self.0.actors.first().map(|actor| actor.subject.as_str())
    }

    /// The OAuth client the token was issued to: `client_id` (RFC 9068), else `azp` (Auth0,
    /// Keycloak, Entra ID v2), else `cid` (Okta).
    pub fn client_id(&self) -> Option<&str> {
        ["client_id", "azp", "cid"]
            .iter()
            .find_map(|name| self.0.all.get(*name).and_then(Value::as_str))
    }

    /// The scopes read from the configured scope claims.
    pub fn scopes(&self) -> &Scopes {
        &self.0.scopes
    }

    /// Whether the token has exactly this scope.
    pub fn has_scope(&self, scope: &str) -> bool {
        self.0.scopes.contains(scope)
    }

    /// Any claim by name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.0.all.get(name)
    }

    /// Every claim of the token.
    pub fn all(&self) -> &Map<String, Value> {
        &self.0.all
    }

    /// The sender binding the token's `cnf` claim (RFC 7800) names: the members this crate
    /// checks, `jkt` (DPoP, RFC 9449) and `x5t#S256` (mTLS, RFC 8705). Other members beside
    /// one of those are ignored (Keycloak sends them); a `cnf` with neither (only `jwk`,
    /// `kid`, `x5t`, `jwe`, ... or empty) binds the token to something this crate cannot
    /// verify, so it is refused rather than read as a bearer token a thief could use. A `cnf`
    /// that is not an object, or one of those members that is not a string, is an invalid
    /// claim.
    pub(crate) fn confirmation(&self) -> Result<Confirmation<'_>, TokenProblem> {
        match &self.0.confirmation {
            Ok(cnf) => Ok(Confirmation {
                jkt: cnf.jkt.as_deref(),
                x5t_s256: cnf.x5t_s256.as_deref(),
            }),
            Err(problem) => Err(*problem),
        }
    }

    /// How the token is bound to its sender, from its `cnf` claim: the layer accepted it only
    /// after checking that binding (the DPoP proof, or the client certificate).
    pub fn binding(&self) -> Binding {
        match self.confirmation() {
            Ok(Confirmation { jkt: Some(jkt), .. }) => Binding::Dpop {
                jkt: jkt.to_owned(),
            },
            Ok(Confirmation {
                x5t_s256: Some(x5t),
                ..
            }) => Binding::Mtls {
                x5t_s256: x5t.to_owned(),
            },
            _ => Binding::Bearer,
        }
    }

    /// Refuses a sender-constrained token presented as a plain bearer token: whoever holds a
    /// copy of it must not be able to use it without the key or certificate it is bound to.
    pub(crate) fn refuse_bearer_use(&self) -> Result<(), TokenProblem> {
        let confirmation = self.confirmation()?;
        if confirmation.jkt.is_some() {
            return Err(TokenProblem::DpopBound);
        }
        if confirmation.x5t_s256.is_some() {
            return Err(TokenProblem::CertificateBound);
        }
        Ok(())
    }

    /// About how many bytes these claims take in memory: the typed copies plus every JSON
    /// value, with the allocator's and the map's per-node costs. An estimate that grows
    /// with the number of values, not just their text, since a token of many tiny values
    /// decodes into far more memory than its length.
    pub(crate) fn approximate_heap_bytes(&self) -> usize {
        let inner = &self.0;
        let strings = |list: &mut dyn Iterator<Item = usize>| -> usize {
            list.map(|len| len + STRING_COST).sum()
        };
        std::mem::size_of::<ClaimsInner>()
            + inner.issuer.len()
            + strings(&mut inner.audiences.iter().map(String::len))
            + inner.subject.as_ref().map_or(0, |s| s.len() + STRING_COST)
            + inner
                .actors
                .iter()
                .map(|actor| {
                    std::mem::size_of::<Actor>()
                        + actor.subject.len()
                        + STRING_COST
                        + actor.issuer.as_ref().map_or(0, |i| i.len() + STRING_COST)
                })
                .sum::<usize>()
            + strings(&mut inner.scopes.iter().map(str::len))
            + inner.confirmation.as_ref().map_or(0, |cnf| {
                strings(
                    &mut [&cnf.jkt, &cnf.x5t_s256]
                        .into_iter()
                        .flatten()
                        .map(|m| m.len()),
                )
            })
            + object_bytes(&inner.all)
    }

    /// The claims as a type of your own (unknown fields are ignored unless your type denies
    /// them).
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(MapRef(&self.0.all))
    }
}

impl fmt::Debug for VerifiedClaims {
    // Claims can carry personal data: the debug form names who and what, not everything.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedClaims")
            .field("iss", &self.0.issuer)
            .field("sub", &self.0.subject)
            .field("act", &self.actor())
            .field("aud", &self.0.audiences)
            .field("exp", &self.0.expires_at)
            .field("scopes", &self.0.scopes)
            .finish_non_exhaustive()
    }
}

/// How a token is bound to its sender, as the layer checked it
/// ([`VerifiedClaims::binding`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Binding {
    /// Not bound: a bearer token.
    Bearer,
    /// Bound to a DPoP key (RFC 9449), with a valid proof of it.
    Dpop {
        /// The key's RFC 7638 thumbprint (`cnf.jkt`).
        jkt: String,
    },
    /// Bound to the client certificate of the request (RFC 8705).
    Mtls {
        /// The certificate's SHA-256 thumbprint (`cnf["x5t#S256"]`).
        x5t_s256: String,
    },
}

/// The binding members of the `cnf` claim in `all`, as
/// [`VerifiedClaims::confirmation`] documents them.
fn read_confirmation(all: &Map<String, Value>) -> Result<Confirmation<'_>, TokenProblem> {
    let invalid = TokenProblem::InvalidClaim(Claim::Confirmation);
    let cnf = match all.get("cnf") {
        None => return Ok(Confirmation::default()),
        Some(Value::Object(cnf)) => cnf,
        Some(_) => return Err(invalid),
    };
    let member = |name: &str| match cnf.get(name) {
        None => Ok(None),
        Some(Value::String(text)) if !text.is_empty() => Ok(Some(text.as_str())),
        Some(_) => Err(invalid),
    };
    let confirmation = Confirmation {
        jkt: member("jkt")?,
        x5t_s256: member("x5t#S256")?,
    };
    if confirmation == Confirmation::default() {
        return Err(TokenProblem::UnknownConfirmation);
    }
    Ok(confirmation)
}

/// The members of a token's `cnf` claim that bind it to its sender.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Confirmation<'a> {
    /// `jkt`: the SHA-256 thumbprint of the DPoP public key (RFC 9449 §6.1).
    pub(crate) jkt: Option<&'a str>,
    /// `x5t#S256`: the SHA-256 thumbprint of the client certificate (RFC 8705 §3.1).
    pub(crate) x5t_s256: Option<&'a str>,
}

/// What a heap string costs beyond its bytes: its handle and the allocator's rounding.
const STRING_COST: usize = 32;
/// What one member of a JSON object costs beyond its key and value: the map's node share.
const MEMBER_COST: usize = 48;

fn object_bytes(object: &Map<String, Value>) -> usize {
    object
        .iter()
        .map(|(key, value)| MEMBER_COST + key.len() + STRING_COST + value_bytes(value))
        .sum()
}

fn value_bytes(value: &Value) -> usize {
    std::mem::size_of::<Value>()
        + match value {
            Value::Null | Value::Bool(_) | Value::Number(_) => 0,
            Value::String(text) => text.len() + STRING_COST,
            Value::Array(items) => items.iter().map(value_bytes).sum(),
            Value::Object(object) => object_bytes(object),
        }
}

/// Deserializes a borrowed claims map without cloning it into a `Value`.
struct MapRef<'a>(&'a Map<String, Value>);

impl<'de> Deserializer<'de> for MapRef<'de> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        use serde::de::IntoDeserializer;
        visitor.visit_map(serde::de::value::MapDeserializer::new(
            self.0
                .iter()
                .map(|(k, v)| (k.as_str(), v.into_deserializer())),
        ))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map struct enum identifier ignored_any
    }
}

/// A JSON object whose keys are unique: RFC 7519 §4 lets a parser reject duplicate claim
/// names, and accepting them invites "which one did you check?" attacks.
pub(crate) struct UniqueKeyObject(pub(crate) Map<String, Value>);

impl<'de> serde::Deserialize<'de> for UniqueKeyObject {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ObjectVisitor;
        impl<'de> Visitor<'de> for ObjectVisitor {
            type Value = UniqueKeyObject;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object with unique member names")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let mut map = Map::new();
                while let Some((key, value)) = access.next_entry::<String, Value>()? {
                    if map.contains_key(&key) {
                        return Err(serde::de::Error::custom("duplicate member name"));
                    }
                    map.insert(key, value);
                }
                Ok(UniqueKeyObject(map))
            }
        }
        deserializer.deserialize_map(ObjectVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_member_names_are_refused() {
        let parsed: Result<UniqueKeyObject, _> = serde_json::from_str(r#"{"a":1,"a":2}"#);
        assert!(parsed.is_err());
        let parsed: UniqueKeyObject = serde_json::from_str(r#"{"a":1,"b":{"a":2}}"#).unwrap();
        assert_eq!(parsed.0.len(), 2);
    }

    #[test]
    fn non_objects_are_refused() {
        for text in ["[]", "1", "\"x\"", "null"] {
            assert!(
                serde_json::from_str::<UniqueKeyObject>(text).is_err(),
                "{text}"
            );
        }
    }

    #[test]
    fn claims_deserialize_into_user_types() {
        #[derive(serde::Deserialize)]
        struct Custom {
            org: String,
        }
        let mut all = Map::new();
        all.insert("org".into(), Value::from("acme"));
        all.insert("sub".into(), Value::from("client@clients"));
        let claims = VerifiedClaims::new("iss".into(), vec![], 0, Scopes::default(), all).unwrap();
        assert_eq!(claims.deserialize::<Custom>().unwrap().org, "acme");
        assert_eq!(claims.subject(), Some("client@clients"));
    }

    #[test]
    fn the_memory_estimate_grows_with_the_number_of_values() {
        let claims = |all: Map<String, Value>| {
            VerifiedClaims::new("iss".into(), vec![], 0, Scopes::default(), all)
                .unwrap()
                .approximate_heap_bytes()
        };
        let mut one_string = Map::new();
        one_string.insert("x".into(), Value::from("a".repeat(4000)));
        let mut many_values = Map::new();
        many_values.insert("x".into(), Value::from(vec![0; 2000]));
        // About the same JSON length (4 kB), but 2,000 values of 32 bytes each.
        assert!(claims(many_values) > 10 * claims(one_string));
    }
}
