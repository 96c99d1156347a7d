//! The JSON-RPC side of [`McpScopes`](super::McpScopes): what the layer reads of a `POST`
//! body, and whether the body is one it can read at all.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

use super::request::Refusal;

// ---------------------------------------------------------------------------------------------
// Reading the JSON-RPC messages: only `method`, `params.name` and `params.uri`, everything
// else skipped
// without building a tree. A key repeated in an object (`"method"` twice) yields every value,
// so that whichever one the service keeps, its requirement was checked.

/// The `visit_*` methods of the JSON scalars, each answering `$value`.
macro_rules! scalars_are {
    ($value:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($value)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($value)
        }
    };
}

/// What the layer needs of one JSON-RPC message, and what makes it one.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Message {
    /// Every string `method` (several only when the key is repeated).
    pub(super) methods: Vec<String>,
    /// Every string `params.name` (a tool or a prompt).
    pub(super) names: Vec<String>,
    /// Every string `params.uri` (a resource).
    pub(super) uris: Vec<String>,
    /// A `params` that is not an object, has no `name`, or a `name` that is not a string: the
    /// tool of a `tools/call` or the prompt of a `prompts/get` would be unknowable.
    odd_name: bool,
    /// The same for `uri`: the resource of a `resources/read` would be unknowable.
    odd_uri: bool,
    /// Every `jsonrpc` is `"2.0"`, and there is at least one.
    version_2: bool,
    /// A `method` that is not a string.
    odd_method: bool,
    /// A `result` or an `error`: an answer to a request of the server.
    answer: bool,
}

impl Message {
    /// A request, a notification or an answer of JSON-RPC 2.0.
    fn is_json_rpc(&self) -> bool {
        self.version_2 && !self.odd_method && (!self.methods.is_empty() || self.answer)
    }

    /// The refusal of a `tools/call`, `prompts/get` or `resources/read` whose target cannot
    /// be told: no string `params.name` (`params.uri`), or another value beside it.
    fn unnamed(&self) -> Option<Refusal> {
        self.methods.iter().find_map(|method| {
            let (method, unknowable) = match method.as_str() {
                super::TOOLS_CALL => (super::TOOLS_CALL, self.names.is_empty() || self.odd_name),
                super::PROMPTS_GET => (super::PROMPTS_GET, self.names.is_empty() || self.odd_name),
                super::RESOURCES_READ => {
                    (super::RESOURCES_READ, self.uris.is_empty() || self.odd_uri)
                }
                _ => return None,
            };
            unknowable.then_some(Refusal::Unnamed(method))
        })
    }
}

/// The messages of `body`, a JSON-RPC message or a non-empty batch, or why the layer cannot
/// read it: not JSON ([`Refusal::NotJson`]); JSON but not JSON-RPC 2.0
/// ([`Refusal::NotJsonRpc`]); a `tools/call` or `prompts/get` without a string name, a
/// `resources/read` without a string URI ([`Refusal::Unnamed`]).
pub(super) fn parse(body: &[u8]) -> Result<Vec<Message>, Refusal> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let parsed = deserializer
        .deserialize_any(TopVisitor)
        .map_err(|_| Refusal::NotJson)?;
    deserializer.end().map_err(|_| Refusal::NotJson)?;
    let messages = parsed.ok_or(Refusal::NotJsonRpc)?;
    if messages.is_empty() || !messages.iter().all(Message::is_json_rpc) {
        return Err(Refusal::NotJsonRpc);
    }
    if let Some(refusal) = messages.iter().find_map(Message::unnamed) {
        return Err(refusal);
    }
    Ok(messages)
}

struct TopVisitor;

impl<'de> Visitor<'de> for TopVisitor {
    /// The messages of a message or batch; `None` for a scalar.
    type Value = Option<Vec<Message>>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON-RPC message or batch")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Ok(Some(vec![read_message(map)?]))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut messages = Vec::new();
        while let Some(AnyMessage(message)) = seq.next_element()? {
            messages.push(message);
        }
        Ok(Some(messages))
    }

    scalars_are!(None);
}

/// A batch element: a message, or anything else (not JSON-RPC).
struct AnyMessage(Message);

impl<'de> de::Deserialize<'de> for AnyMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(MessageVisitor).map(AnyMessage)
    }
}

struct MessageVisitor;

impl<'de> Visitor<'de> for MessageVisitor {
    type Value = Message;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON-RPC message")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        read_message(map)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        drain_seq(seq)?;
        Ok(Message::default())
    }

    scalars_are!(Message::default());
}

fn read_message<'de, A: MapAccess<'de>>(mut map: A) -> Result<Message, A::Error> {
    let mut message = Message::default();
    let mut versions: Vec<Option<String>> = Vec::new();
    while let Some(key) = map.next_key::<Key>()? {
        match key {
            Key::Method => match map.next_value()? {
                MaybeString(Some(method)) => message.methods.push(method),
                MaybeString(None) => message.odd_method = true,
            },
            Key::Params => {
                let Names {
                    names,
                    uris,
                    odd_name,
                    odd_uri,
                } = map.next_value()?;
                // Each `params` must name the target: the service may keep any one of them.
                message.odd_name |= odd_name || names.is_empty();
                message.odd_uri |= odd_uri || uris.is_empty();
                message.names.extend(names);
                message.uris.extend(uris);
            }
            Key::Version => {
                let MaybeString(version) = map.next_value()?;
                versions.push(version);
            }
            Key::Answer => {
                map.next_value::<Skip>()?;
                message.answer = true;
            }
            Key::Name | Key::Uri | Key::Other => {
                map.next_value::<Skip>()?;
            }
        }
    }
    message.version_2 =
        !versions.is_empty() && versions.iter().all(|v| v.as_deref() == Some("2.0"));
    Ok(message)
}

/// The `params` of a message: its string `name`s and `uri`s, and whether it is not an object
/// or has a `name` (`uri`) that is not a string.
#[derive(Default)]
struct Names {
    names: Vec<String>,
    uris: Vec<String>,
    odd_name: bool,
    odd_uri: bool,
}

impl Names {
    /// `params` that are not an object: no name, no URI.
    fn none() -> Self {
        Names {
            odd_name: true,
            odd_uri: true,
            ..Names::default()
        }
    }
}

impl<'de> de::Deserialize<'de> for Names {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NamesVisitor)
    }
}

struct NamesVisitor;

impl<'de> Visitor<'de> for NamesVisitor {
    type Value = Names;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("JSON-RPC params")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut names = Names::default();
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Name => match map.next_value()? {
                    MaybeString(Some(name)) => names.names.push(name),
                    MaybeString(None) => names.odd_name = true,
                },
                Key::Uri => match map.next_value()? {
                    MaybeString(Some(uri)) => names.uris.push(uri),
                    MaybeString(None) => names.odd_uri = true,
                },
                _ => {
                    map.next_value::<Skip>()?;
                }
            }
        }
        Ok(names)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        drain_seq(seq)?;
        Ok(Names::none())
    }

    scalars_are!(Names::none());
}

/// An object key the layer cares about (compared after JSON unescaping, as the service does).
#[derive(Debug, PartialEq, Eq)]
enum Key {
    Method,
    Params,
    Name,
    Uri,
    /// `jsonrpc`.
    Version,
    /// `result` or `error`.
    Answer,
    Other,
}

impl<'de> de::Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }
            fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
                Ok(match key {
                    "method" => Key::Method,
                    "params" => Key::Params,
                    "name" => Key::Name,
                    "uri" => Key::Uri,
                    "jsonrpc" => Key::Version,
                    "result" | "error" => Key::Answer,
                    _ => Key::Other,
                })
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// A value that is a string, or anything else (skipped).
struct MaybeString(Option<String>);

impl<'de> de::Deserialize<'de> for MaybeString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(MaybeStringVisitor)
    }
}

struct MaybeStringVisitor;

impl<'de> Visitor<'de> for MaybeStringVisitor {
    type Value = MaybeString;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Self::Value, E> {
        Ok(MaybeString(Some(value.to_owned())))
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        drain_map(map)?;
        Ok(MaybeString(None))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        drain_seq(seq)?;
        Ok(MaybeString(None))
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(MaybeString(None))
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
        Ok(MaybeString(None))
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
        Ok(MaybeString(None))
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
        Ok(MaybeString(None))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(MaybeString(None))
    }
}

fn drain_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> Result<(), A::Error> {
    while seq.next_element::<Skip>()?.is_some() {}
    Ok(())
}

fn drain_map<'de, A: MapAccess<'de>>(mut map: A) -> Result<(), A::Error> {
    while map.next_entry::<Skip, Skip>()?.is_some() {}
    Ok(())
}

/// A value the layer does not need, read as strictly as serde_json reads a `Value` (rmcp's
/// reading): strings decoded (escapes, surrogates, UTF-8), numbers in range, nesting within
/// serde_json's depth limit. serde's `IgnoredAny` checks none of that, so a body the service
/// cannot read would pass the layer unread in parts.
struct Skip;

impl<'de> de::Deserialize<'de> for Skip {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SkipVisitor)
    }
}

struct SkipVisitor;

impl<'de> Visitor<'de> for SkipVisitor {
    type Value = Skip;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        drain_map(map)?;
        Ok(Skip)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        drain_seq(seq)?;
        Ok(Skip)
    }

    scalars_are!(Skip);
}

#[cfg(test)]
mod tests;
