//! The verified claims handed to handlers.

use std::fmt;
use std::sync::{Arc, OnceLock};

use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::actor::{Actor, actor_chain};
use crate::error::{Claim, TokenProblem};
use crate::json_members::{
    ClaimLookup, MapRef, STRING_COST, UniqueKeyObject, member_bytes, value_bytes,
};
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
    /// `nbf` as the token cache reads it, so that a cached entry does not need the map.
    not_before: Option<i64>,
    /// A JWT's payload as text, for the map to be read from on first use: most requests
    /// never ask for a claim beyond the typed ones, and building the map was the largest
    /// cost of a fresh token after its signature. Empty when the map came filled (an
    /// introspection answer).
    payload: Box<str>,
    /// What the map takes in memory, or will take once built ([`value_bytes`]' measure):
    /// counted in the cache's budget either way, so that building it later cannot make a
    /// full cache hold more than its budget.
    all_bytes: usize,
    all: OnceLock<Map<String, Value>>,
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
        let all_bytes = all
            .iter()
            .map(|(name, value)| member_bytes(name, value_bytes(value)))
            .sum();
        let mut claims = Self::build(issuer, audiences, expires_at, scopes, &all)?;
        claims.all_bytes = all_bytes;
        claims.all = OnceLock::from(all);
        Ok(VerifiedClaims(Arc::new(claims)))
    }

    /// The claims of a JWT whose payload `text` was read in one pass: `registered` holds
    /// the claims the checks read, and the map of every claim is built from the text when
    /// something first asks for it. `all_bytes` is what that map will take.
    pub(crate) fn from_payload(
        issuer: String,
        audiences: Vec<String>,
        expires_at: i64,
        scopes: Scopes,
        registered: &impl ClaimLookup,
        text: Box<str>,
        all_bytes: usize,
    ) -> Result<Self, TokenProblem> {
        let mut claims = Self::build(issuer, audiences, expires_at, scopes, registered)?;
        claims.payload = text;
        claims.all_bytes = all_bytes;
        Ok(VerifiedClaims(Arc::new(claims)))
    }

    /// The typed claims, read from `claims`; the map and its text are the caller's to add.
    fn build(
        issuer: String,
        audiences: Vec<String>,
        expires_at: i64,
        scopes: Scopes,
        claims: &impl ClaimLookup,
    ) -> Result<ClaimsInner, TokenProblem> {
        let subject = claims
            .claim("sub")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let actors = actor_chain(claims)?;
        let confirmation = read_confirmation(claims).map(|cnf| OwnedConfirmation {
            jkt: cnf.jkt.map(Box::from),
            x5t_s256: cnf.x5t_s256.map(Box::from),
        });
        // Rounded down as the claims check reads it; beyond `i64`, `as` saturates.
        let not_before = claims
            .claim("nbf")
            .and_then(Value::as_f64)
            .map(|seconds| seconds.floor() as i64);
        Ok(ClaimsInner {
            issuer,
            audiences,
            expires_at,
            subject,
            actors,
            scopes,
            confirmation,
            not_before,
            payload: Box::default(),
            all_bytes: 0,
            all: OnceLock::new(),
        })
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
            .find_map(|name| self.all().get(*name).and_then(Value::as_str))
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
        self.all().get(name)
    }

    /// Every claim of the token. For a JWT the map is read from the payload the first time
    /// it (or [`get`](Self::get), [`deserialize`](Self::deserialize) or
    /// [`client_id`](Self::client_id)) is asked for, then kept: a request that needs only
    /// the typed claims never builds it.
    pub fn all(&self) -> &Map<String, Value> {
        self.0.all.get_or_init(|| {
            // The text was read once already, by the same parser with the same rules, so
            // this does not fail; if it ever did, no claim beyond the typed ones is the
            // answer that grants nothing, rather than a panic inside a request.
            serde_json::from_str::<UniqueKeyObject>(&self.0.payload)
                .map(|UniqueKeyObject(all)| all)
                .unwrap_or_default()
        })
    }

    /// The map of every claim, built now if it was not: for the claim rules, which must
    /// never be asked about a map that is not the token's. A payload that cannot be read as
    /// one (it was read once already, so this does not happen) refuses the token rather
    /// than letting a rule judge an empty map.
    pub(crate) fn all_checked(&self) -> Result<&Map<String, Value>, TokenProblem> {
        if let Some(all) = self.0.all.get() {
            return Ok(all);
        }
        let UniqueKeyObject(all) =
            serde_json::from_str(&self.0.payload).map_err(|_| TokenProblem::MalformedClaims)?;
        Ok(self.0.all.get_or_init(|| all))
    }

    /// Whether the map of every claim was built (it is built on first use only).
    #[cfg(test)]
    pub(crate) fn map_is_built(&self) -> bool {
        self.0.all.get().is_some()
    }

    /// `nbf`, rounded down, when it is a number: the token cache keeps an entry from being
    /// used before it.
    pub(crate) fn not_before(&self) -> Option<i64> {
        self.0.not_before
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

    /// About how many bytes these claims take in memory: the typed copies, the payload's
    /// text, plus every JSON value of the map (built or not), with the allocator's and the
    /// map's per-node costs. An estimate that grows
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
            + inner.payload.len()
            + inner.all_bytes
    }

    /// The claims as a type of your own (unknown fields are ignored unless your type denies
    /// them).
    pub fn deserialize<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        T::deserialize(MapRef(self.all()))
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

/// The binding members of the `cnf` claim in `claims`, as
/// [`VerifiedClaims::confirmation`] documents them.
fn read_confirmation(claims: &impl ClaimLookup) -> Result<Confirmation<'_>, TokenProblem> {
    let invalid = TokenProblem::InvalidClaim(Claim::Confirmation);
    let cnf = match claims.claim("cnf") {
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

#[cfg(test)]
mod tests {
    use super::*;

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
