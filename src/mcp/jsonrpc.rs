//! The JSON-RPC side of [`McpScopes`](super::McpScopes): the bounded read of a `POST` body
//! (413 and 400 refusals with a JSON-RPC error body), and what the layer extracts from it.

use std::fmt;

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderValue, Response, StatusCode, header};
use http_body::Body;
use http_body_util::{BodyExt, Full};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// Reads a body of at most `limit` bytes; a refusal (413, 400) otherwise.
pub(super) async fn read_body<B>(
    headers: &http::HeaderMap,
    body: B,
    limit: usize,
) -> Result<Bytes, Response<Full<Bytes>>>
where
    B: Body<Data = Bytes>,
{
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(too_large(limit));
    }
    let mut body = std::pin::pin!(body);
    let mut collected = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Err(json_rpc_refusal(
                StatusCode::BAD_REQUEST,
                -32700,
                "the request body could not be read",
            ));
        };
        let Ok(mut data) = frame.into_data() else {
            continue; // trailers
        };
        if data.remaining() > limit - collected.len() {
            return Err(too_large(limit));
        }
        while data.has_remaining() {
            let chunk = data.chunk();
            collected.extend_from_slice(chunk);
            let read = chunk.len();
            data.advance(read);
        }
    }
    Ok(collected.freeze())
}

fn too_large(limit: usize) -> Response<Full<Bytes>> {
    let message = format!("the request body is larger than {limit} bytes");
    json_rpc_refusal(StatusCode::PAYLOAD_TOO_LARGE, -32600, &message)
}

/// A refusal with a JSON-RPC error body (`id` null: the request was not read).
fn json_rpc_refusal(status: StatusCode, code: i32, message: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({
        "jsonrpc": "2.0",
        "id": null,
        "error": { "code": code, "message": message },
    });
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

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

/// What the layer needs of one JSON-RPC message.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct Message {
    /// Every string `method` (several only when the key is repeated).
    pub(super) methods: Vec<String>,
    /// Every string `params.name`.
    pub(super) tool_names: Vec<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Parsed {
    Single(Message),
    Batch(Vec<Message>),
}

/// The message or batch in `body`; `None` for a body that is not JSON, or JSON that is
/// neither an object nor an array.
pub(super) fn parse(body: &[u8]) -> Option<Parsed> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let parsed = deserializer.deserialize_any(TopVisitor).ok()?;
    deserializer.end().ok()?;
    parsed
}

struct TopVisitor;

impl<'de> Visitor<'de> for TopVisitor {
    type Value = Option<Parsed>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON-RPC message or batch")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        Ok(Some(Parsed::Single(read_message(map)?)))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut messages = Vec::new();
        while let Some(AnyMessage(message)) = seq.next_element()? {
            messages.push(message);
        }
        Ok(Some(Parsed::Batch(messages)))
    }

    scalars_are!(None);
}

/// A batch element: a message, or anything else (no method).
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
    while let Some(key) = map.next_key::<Key>()? {
        match key {
            Key::Method => {
                if let MaybeString(Some(method)) = map.next_value()? {
                    message.methods.push(method);
                }
            }
            Key::Params => {
                let Names(names) = map.next_value()?;
                message.tool_names.extend(names);
            }
            Key::Name | Key::Other => {
                map.next_value::<IgnoredAny>()?;
            }
        }
    }
    Ok(message)
}

/// The `params` of a message: its string `name`s.
struct Names(Vec<String>);

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
        let mut names = Vec::new();
        while let Some(key) = map.next_key::<Key>()? {
            if key == Key::Name {
                if let MaybeString(Some(name)) = map.next_value()? {
                    names.push(name);
                }
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(Names(names))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        drain_seq(seq)?;
        Ok(Names(Vec::new()))
    }

    scalars_are!(Names(Vec::new()));
}

/// An object key the layer cares about (compared after JSON unescaping, as the service does).
#[derive(Debug, PartialEq, Eq)]
enum Key {
    Method,
    Params,
    Name,
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

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
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
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(methods: &[&str], tool_names: &[&str]) -> Message {
        Message {
            methods: methods.iter().map(|m| (*m).to_owned()).collect(),
            tool_names: tool_names.iter().map(|n| (*n).to_owned()).collect(),
        }
    }

    #[test]
    fn reads_only_method_and_tool_names() {
        let body = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call",
            "params":{"name":"send","arguments":{"name":"not this","method":"nor this"}}}"#;
        assert_eq!(
            parse(body),
            Some(Parsed::Single(message(&["tools/call"], &["send"])))
        );
        let batch = br#"[{"method":"a"}, 1, null, [], {"result":{}}, {"method":{"x":1}}]"#;
        assert_eq!(
            parse(batch),
            Some(Parsed::Batch(vec![
                message(&["a"], &[]),
                message(&[], &[]),
                message(&[], &[]),
                message(&[], &[]),
                message(&[], &[]),
                message(&[], &[]),
            ]))
        );
        // Repeated keys: every value.
        let repeated = br#"{"method":"x","method":"tools/call","params":{"name":"a","name":"b"}}"#;
        assert_eq!(
            parse(repeated),
            Some(Parsed::Single(message(&["x", "tools/call"], &["a", "b"])))
        );
    }

    #[test]
    fn bodies_that_are_not_json_rpc_have_no_messages() {
        for body in [
            &b""[..],
            b"nope",
            b"1",
            b"\"tools/call\"",
            b"{} {}",
            b"{\"method\":",
        ] {
            assert_eq!(parse(body), None, "{:?}", String::from_utf8_lossy(body));
        }
    }

    #[test]
    fn deep_arguments_cannot_hide_the_tool() {
        // What the layer skips is skipped without a depth limit (serde_json's `IgnoredAny`),
        // so it reads at least every body rmcp reads (rmcp's `Value`s stop at depth 128).
        let deep = format!("{}{}", "[".repeat(500), "]".repeat(500));
        let body =
            format!(r#"{{"method":"tools/call","params":{{"arguments":{deep},"name":"send"}}}}"#);
        assert_eq!(
            parse(body.as_bytes()),
            Some(Parsed::Single(message(&["tools/call"], &["send"])))
        );
    }
}
