//! The reading of JSON-RPC bodies: what is read, what is refused.

use super::*;
use crate::mcp::{PROMPTS_GET, RESOURCES_READ, TOOLS_CALL};

/// A message's methods and tool names.
type Read = (Vec<String>, Vec<String>);

/// The methods and tool names of each message of `body`.
fn read(body: &[u8]) -> Result<Vec<Read>, Refusal> {
    let messages = parse(body)?;
    Ok(messages.into_iter().map(|m| (m.methods, m.names)).collect())
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
    let repeated =
        br#"{"jsonrpc":"2.0","method":"x","method":"tools/call","params":{"name":"a","name":"b"}}"#;
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
            Refusal::Unnamed(TOOLS_CALL),
        ),
        (
            b"{\"jsonrpc\":\"2.0\",\"method\":\"tools/call\",\"params\":{\"name\":\"a\",\"name\":1}}",
            Refusal::Unnamed(TOOLS_CALL),
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
    assert_eq!(read(body), Err(Refusal::Unnamed(TOOLS_CALL)));
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

#[test]
fn prompts_and_resources_are_read_and_must_be_named() {
    let body = br#"[{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"p","arguments":{"uri":"x"}}},
        {"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"messages://1"}}]"#;
    let messages = parse(body).unwrap();
    assert_eq!(messages[0].names, ["p"]);
    assert!(messages[0].uris.is_empty());
    assert_eq!(messages[1].uris, ["messages://1"]);
    for (body, method) in [
        (
            &br#"{"jsonrpc":"2.0","method":"prompts/get","params":{}}"#[..],
            PROMPTS_GET,
        ),
        (
            br#"{"jsonrpc":"2.0","method":"prompts/get","params":{"name":["p"]}}"#,
            PROMPTS_GET,
        ),
        (
            br#"{"jsonrpc":"2.0","method":"resources/read","params":{"name":"n"}}"#,
            RESOURCES_READ,
        ),
        (
            br#"{"jsonrpc":"2.0","method":"resources/read","params":{"uri":"a","uri":1}}"#,
            RESOURCES_READ,
        ),
        (
            br#"{"jsonrpc":"2.0","method":"resources/read","params":{"uri":"a"},"params":{}}"#,
            RESOURCES_READ,
        ),
        (
            br#"{"jsonrpc":"2.0","method":"resources/read","params":"a"}"#,
            RESOURCES_READ,
        ),
    ] {
        assert_eq!(
            read(body),
            Err(Refusal::Unnamed(method)),
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
}
