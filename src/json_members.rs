//! Reading a JSON object's members in one pass, keeping only those asked for: the pieces the
//! JOSE header and the claims readers share. What is not kept is still checked as
//! `serde_json` checks a `Value`, so a reader that skips a member accepts no more than one
//! that builds it.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserializer, Error, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

/// What a heap string costs beyond its bytes: its handle and the allocator's rounding.
pub(crate) const STRING_COST: usize = 32;
/// What one member of a JSON object costs beyond its key and value: the map's node share.
pub(crate) const MEMBER_COST: usize = 48;

/// Claims looked up by name: a claims map, or the registered claims read from a JWT's
/// payload in one pass (the checks of a verified token read only those).
pub(crate) trait ClaimLookup {
    /// The claim `name`, if present.
    fn claim(&self, name: &str) -> Option<&Value>;
}

impl ClaimLookup for Map<String, Value> {
    fn claim(&self, name: &str) -> Option<&Value> {
        self.get(name)
    }
}

/// A member name, borrowed from the JSON text unless it has escapes to decode.
pub(crate) struct MemberName<'de>(pub(crate) Cow<'de, str>);

impl<'de> serde::Deserialize<'de> for MemberName<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl<'de> Visitor<'de> for NameVisitor {
            type Value = MemberName<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a member name")
            }
            fn visit_borrowed_str<E>(self, name: &'de str) -> Result<Self::Value, E> {
                Ok(MemberName(Cow::Borrowed(name)))
            }
            fn visit_str<E>(self, name: &str) -> Result<Self::Value, E> {
                Ok(MemberName(Cow::Owned(name.to_owned())))
            }
        }
        deserializer.deserialize_str(NameVisitor)
    }
}

/// Refuses an object whose member names, every one of them, are not unique (RFC 7519 §4 and
/// RFC 7515 §4 let a parser refuse them; accepting them invites "which one did you check?").
/// The names are sorted rather than searched on each member, so that an object of many
/// members costs no quadratic time.
pub(crate) fn refuse_repeated_names<E: Error>(mut names: Vec<Cow<'_, str>>) -> Result<(), E> {
    names.sort_unstable();
    if names.windows(2).any(|pair| pair[0] == pair[1]) {
        return Err(E::custom("duplicate member name"));
    }
    Ok(())
}

/// Any JSON value, read and checked as `serde_json` reads a `Value` (strings decoded, so
/// invalid UTF-8 and lone surrogates are refused; numbers parsed, so one beyond the `f64`
/// range is refused; the nesting limit kept) but kept nowhere. `IgnoredAny` would skip
/// those checks and accept what a `Value` refuses. It holds what the `Value` would take in
/// memory, by [`value_bytes`]' measure, for the budget of claims kept as text.
pub(crate) struct CheckedJson(pub(crate) usize);

/// About how many bytes a JSON value takes in memory as a `Value`: its node, plus its text or
/// its members, with the allocator's and the map's per-node costs.
pub(crate) fn value_bytes(value: &Value) -> usize {
    std::mem::size_of::<Value>()
        + match value {
            Value::Null | Value::Bool(_) | Value::Number(_) => 0,
            Value::String(text) => text.len() + STRING_COST,
            Value::Array(items) => items.iter().map(value_bytes).sum(),
            Value::Object(object) => object
                .iter()
                .map(|(name, value)| member_bytes(name, value_bytes(value)))
                .sum(),
        }
}

/// What one member of a map takes beside its value: its node share and its name.
pub(crate) fn member_bytes(name: &str, value_bytes: usize) -> usize {
    MEMBER_COST + name.len() + STRING_COST + value_bytes
}

const NODE: usize = std::mem::size_of::<Value>();

impl<'de> serde::Deserialize<'de> for CheckedJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CheckedJson(0))
    }
}

impl<'de> Visitor<'de> for CheckedJson {
    type Value = CheckedJson;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(CheckedJson(NODE))
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(CheckedJson(NODE))
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(CheckedJson(NODE))
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(CheckedJson(NODE))
    }
    fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
        Ok(CheckedJson(NODE + text.len() + STRING_COST))
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(CheckedJson(NODE))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<Self::Value, A::Error> {
        let mut bytes = NODE;
        while let Some(CheckedJson(item)) = items.next_element()? {
            bytes += item;
        }
        Ok(CheckedJson(bytes))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut members: A) -> Result<Self::Value, A::Error> {
        // Names in nested objects may repeat, as in a `Value` (the last one wins there), so
        // a repeated one is counted twice: the estimate only grows.
        let mut bytes = NODE;
        while let Some((MemberName(name), CheckedJson(value))) = members.next_entry()? {
            bytes += member_bytes(&name, value);
        }
        Ok(CheckedJson(bytes))
    }
}

/// Deserializes a borrowed claims map without cloning it into a `Value`.
pub(crate) struct MapRef<'a>(pub(crate) &'a Map<String, Value>);

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
    fn the_checked_size_is_the_values_size() {
        let text = r#"{"a":[1,2.5,null,true,"text",{"b":{"c":"\u00e9"}}],"d":"","e":{}}"#;
        let value: Value = serde_json::from_str(text).unwrap();
        let CheckedJson(bytes) = serde_json::from_str(text).unwrap();
        assert_eq!(bytes, value_bytes(&value));
    }

    #[test]
    fn what_a_value_refuses_is_refused() {
        for bad in [
            r#"{"x":"\ud800"}"#,
            r#"{"\udfff":1}"#,
            r#"[1e400]"#,
            r#"{"x":"\q"}"#,
            r#"[1,]"#,
        ] {
            assert!(serde_json::from_str::<Value>(bad).is_err(), "{bad}");
            assert!(serde_json::from_str::<CheckedJson>(bad).is_err(), "{bad}");
        }
        assert!(serde_json::from_slice::<CheckedJson>(b"\"\xff\"").is_err());
    }

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
}
