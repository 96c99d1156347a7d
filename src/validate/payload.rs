//! A verified JWT's payload read in one pass: the registered claims the checks read are kept
//! as values, every other member is checked as a `Value` would be and measured, but not
//! built (the map of every claim is built from the text only when something asks for it).

use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::Value;

use crate::error::TokenProblem;
use crate::json_members::ClaimLookup;
use crate::json_members::{
    CheckedJson, MemberName, member_bytes, refuse_repeated_names, value_bytes,
};

/// Every claim the checks of a verified token read: `iss`, `aud`, the NumericDates, what RFC
/// 9068 requires, the scope claims, `cnf`, `act`, and what [`VerifiedClaims`]' typed
/// accessors read when it is built. A name missing here would read as an absent claim, so
/// [`ClaimLookup::claim`] asserts (in debug builds) that it is asked for no other.
///
/// [`VerifiedClaims`]: crate::VerifiedClaims
const REGISTERED: [&str; 13] = [
    "iss",
    "aud",
    "exp",
    "nbf",
    "iat",
    "sub",
    "client_id",
    "jti",
    "scope",
    "scp",
    "permissions",
    "cnf",
    "act",
];

/// The registered claims of a payload, and what the map of every claim will take in memory.
pub(super) struct RegisteredClaims {
    values: [Option<Value>; REGISTERED.len()],
    pub(super) all_bytes: usize,
}

impl ClaimLookup for RegisteredClaims {
    fn claim(&self, name: &str) -> Option<&Value> {
        let index = REGISTERED.iter().position(|registered| *registered == name);
        debug_assert!(index.is_some(), "{name} is read but not registered");
        index.and_then(|index| self.values[index].as_ref())
    }
}

impl RegisteredClaims {
    /// Reads `payload`: a JSON object with unique member names, as a claims map would be
    /// read (anything that map refuses is refused here).
    pub(super) fn read(payload: &[u8]) -> Result<RegisteredClaims, TokenProblem> {
        let mut reader = serde_json::Deserializer::from_slice(payload);
        let claims = ReadRegistered
            .deserialize(&mut reader)
            .and_then(|claims| reader.end().map(|()| claims));
        claims.map_err(|_| TokenProblem::MalformedClaims)
    }
}

struct ReadRegistered;

impl<'de> DeserializeSeed<'de> for ReadRegistered {
    type Value = RegisteredClaims;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ReadRegistered {
    type Value = RegisteredClaims;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object with unique member names")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut claims = RegisteredClaims {
            values: Default::default(),
            all_bytes: 0,
        };
        // Every name, registered or not, to refuse a repeated one.
        let mut names = Vec::new();
        while let Some(MemberName(name)) = access.next_key()? {
            let bytes = match REGISTERED.iter().position(|registered| *registered == name) {
                Some(index) => {
                    let value: Value = access.next_value()?;
                    let bytes = value_bytes(&value);
                    claims.values[index] = Some(value);
                    bytes
                }
                None => access.next_value::<CheckedJson>()?.0,
            };
            claims.all_bytes += member_bytes(&name, bytes);
            names.push(name);
        }
        refuse_repeated_names(names)?;
        Ok(claims)
    }
}
