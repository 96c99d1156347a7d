//! The JSON-RPC side of [`McpScopes`](super::McpScopes): what the layer reads of a `POST`
//! body, and whether the body is one it can read at all.

use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};

use super::request::Refusal;

// ---------------------------------------------------------------------------------------------
// Reading the JSON-RPC messages: only `method` and `params.name`, everything else skipped
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
    /// Every string `params.name`.
    pub(super) tool_names: Vec<String>,
    /// A `params` that is not an object, has no `name`, or a `name` that is not a string: the
    /// tool of a `tools/call` would be unknowable.
    odd_params: bool,
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

    /// A `tools/call` whose tool cannot be told: no `params.name`, or one that is not a string.
    fn is_nameless_tool_call(&self) -> bool {
        self.methods
            .iter()
            .any(|method| method == super::TOOLS_CALL)
            && (self.tool_names.is_empty() || self.odd_params)
    }
}

/// The messages of `body`, a JSON-RPC message or a non-empty batch, or why the layer cannot
/// read it: not JSON ([`Refusal::NotJson`]); JSON but not JSON-RPC 2.0
/// ([`Refusal::NotJsonRpc`]); a `tools/call` without a string tool name
/// ([`Refusal::NamelessToolCall`]).
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
    if messages.iter().any(Message::is_nameless_tool_call) {
        return Err(Refusal::NamelessToolCall);
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
                let Names { names, odd } = map.next_value()?;
                // Each `params` must name the tool: the service may keep any one of them.
                message.odd_params |= odd || names.is_empty();
                message.tool_names.extend(names);
            }
            Key::Version => {
                let MaybeString(version) = map.next_value()?;
                versions.push(version);
            }
            Key::Answer => {
                map.next_value::<Skip>()?;
                message.answer = true;
            }
            Key::Name | Key::Other => {
                map.next_value::<Skip>()?;
            }
        }
    }
    message.version_2 =
        !versions.is_empty() && versions.iter().all(|v| v.as_deref() == Some("2.0"));
    Ok(message)
}

/// The `params` of a message: its string `name`s, and whether it is not an object or has a
/// `name` that is not a string.
struct Names {
    names: Vec<String>,
    odd: bool,
}

impl Names {
    /// `params` that are not an object: no tool name.
    fn none() -> Self {
        Names {
            names: Vec::new(),
            odd: true,
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
        let mut names = Names {
            names: Vec::new(),
            odd: false,
        };
        while let Some(key) = map.next_key::<Key>()? {
            if key == Key::Name {
                match map.next_value()? {
                    MaybeString(Some(name)) => names.names.push(name),
                    MaybeString(None) => names.odd = true,
                }
            } else {
                map.next_value::<Skip>()?;
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
mod tests {
    use super::*;

    /// A message's methods and tool names.
    type Read = (Vec<String>, Vec<String>);

    /// The methods and tool names of each message of `body`.
    fn read(body: &[u8]) -> Result<Vec<Read>, Refusal> {
        let messages = parse(body)?;
        Ok(messages
            .into_iter()
            .map(|m| (m.methods, m.tool_names))
            .collect())
    }

    fn message(methods: &[&str], tool_names: &[&str]) -> Read {
        let owned = |items: &[&str]| items.iter().map(|i| (*i).to_owned()).collect();
        (owned(methods), owned(tool_names))
    }

    #[test]
    fn reads_only_method_and_tool_names() {
        let body = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call",
            "params":{"name":"send","arguments":{"name":"not this","method":"nor this"}}}"#;
        assert_eq!(read(body), Ok(vec![message(&["tools/call"], &["send"])]));
        let batch = br#"[{"jsonrpc":"2.0","method":"a","params":[1]},
            {"jsonrpc":"2.0","id":1,"result":{}}, {"jsonrpc":"2.0","id":2,"error":{}}]"#;
        assert_eq!(
            read(batch),
            Ok(vec![
                message(&["a"], &[]),
                message(&[], &[]),
                message(&[], &[])
            ])
        );
        // Repeated keys: every value.
        let repeated = br#"{"jsonrpc":"2.0","method":"x","method":"tools/call","params":{"name":"a","name":"b"}}"#;
        assert_eq!(
            read(repeated),
            Ok(vec![message(&["x", "tools/call"], &["a", "b"])])
        );
    }

    #[test]
    fn bodies_that_are_not_json_rpc_are_refused() {
        for (body, refusal) in [
            (&b""[..], Refusal::NotJson),
            (b"nope", Refusal::NotJson),
            (b"{} {}", Refusal::NotJson),
            (b"{\"method\":", Refusal::NotJson),
            (b"1", Refusal::NotJsonRpc),
            (b"\"tools/call\"", Refusal::NotJsonRpc),
            (b"[]", Refusal::NotJsonRpc),
            (b"{}", Refusal::NotJsonRpc),
            (b"{\"method\":\"a\"}", Refusal::NotJsonRpc),
            (b"{\"jsonrpc\":\"2.0\"}", Refusal::NotJsonRpc),
            (b"{\"jsonrpc\":\"2.0\",\"method\":null}", Refusal::NotJsonRpc),
            (b"[{\"jsonrpc\":\"2.0\",\"method\":\"a\"},1]", Refusal::NotJsonRpc),
            (
                b"{\"jsonrpc\":\"2.0\",\"method\":\"tools/call\"}",
                Refusal::NamelessToolCall,
            ),
            (
                b"{\"jsonrpc\":\"2.0\",\"method\":\"tools/call\",\"params\":{\"name\":\"a\",\"name\":1}}",
                Refusal::NamelessToolCall,
            ),
        ] {
            assert_eq!(read(body), Err(refusal), "{:?}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn what_serde_json_cannot_read_is_refused_wherever_it_is() {
        // Found by the `mcp_body` fuzz target: values the layer only skipped were not checked,
        // so bodies that serde_json (and so rmcp) cannot read went on.
        for body in [
            &br#"{"jsonrpc":"2.0","id":1e400,"result":{}}"#[..],
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"x":"\ud800"}}}"#,
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"\ud800":1}}}"#,
            br#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":["\u12"]}"#,
            b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":[\"\xff\"]}",
        ] {
            assert_eq!(
                read(body),
                Err(Refusal::NotJson),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
        // A `params` without a name beside one with: whichever the service keeps, it may be
        // the nameless one.
        let body = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a"},"params":{"arguments":{}}}"#;
        assert_eq!(read(body), Err(Refusal::NamelessToolCall));
    }

    #[test]
    fn deep_arguments_cannot_hide_the_tool() {
        // What the layer skips it reads as serde_json's `Value` does (rmcp's), depth limit
        // included: deep arguments are read up to it, and deeper ones refused, never skipped.
        let nested = |depth: usize| {
            let deep = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
            format!(
                r#"{{"jsonrpc":"2.0","method":"tools/call","params":{{"arguments":{deep},"name":"send"}}}}"#
            )
        };
        let body = nested(100);
        assert!(serde_json::from_str::<serde_json::Value>(&body).is_ok());
        assert_eq!(
            read(body.as_bytes()),
            Ok(vec![message(&["tools/call"], &["send"])])
        );
        let body = nested(500);
        assert!(serde_json::from_str::<serde_json::Value>(&body).is_err());
        assert_eq!(read(body.as_bytes()), Err(Refusal::NotJson));
    }
}
