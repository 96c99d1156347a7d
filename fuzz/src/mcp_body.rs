//! The `mcp_body` target: a request to an MCP endpoint behind the real `BearerLayer` and
//! `McpScopes` (with tool, prompt, resource and method requirements), its method,
//! `Content-Type`, `Content-Encoding`, token and routing headers (`Mcp-Method`, `Mcp-Name`:
//! none, mirrored from the body, or a wrong name) chosen by the first two bytes, the rest its
//! body.
//!
//! The oracle: never a panic or a 5xx; `GET`/`DELETE` reach the service with the body unread;
//! other methods get 405; a `POST` that is not plain `application/json`, or whose body is not
//! JSON-RPC 2.0 as serde_json reads it, never reaches the service; a body that reaches it is
//! byte for byte the one sent, and the token has every scope its messages require (read
//! independently with `serde_json::Value`); a `HeaderMismatch` (-32020) only when routing headers
//! were sent, and a body that passed with them matches them; every refusal is a well-formed JSON-RPC error or an
//! OAuth challenge, with a fixed text (so nothing of the request is echoed).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;

use bearer_guard::layer::BearerService;
use bearer_guard::mcp::{
    McpRequestBody, McpScopes, McpScopesService, PromptScope, ResourceScope, ToolScope,
};
use bearer_guard::testing::TokenBuilder;
use bearer_guard::{BearerLayer, ScopePolicy};
use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Either, Full};
use serde_json::Value;
use tower::{Layer, ServiceExt};

use crate::random::{Rng, random_json};
use crate::{AUDIENCE, FAR_FUTURE, ISSUER, SECRET};

type Echo = Pin<Box<dyn Future<Output = Result<Response<Full<Bytes>>, Infallible>> + Send>>;
type Inner = tower::util::ServiceFn<fn(Request<McpRequestBody<Full<Bytes>>>) -> Echo>;

/// The tools and their requirements; `unlisted_tools` is `admin`, `prompts/list` needs
/// `prompts:read`, every `tools/call` also needs `mcp`.
const TOOLS: &[ToolScope] = &[
    ToolScope::public("whoami"),
    ToolScope::all("read", &["read"]),
    ToolScope::all("send", &["read", "write"]),
    ToolScope::any("search", &["read", "admin"]),
];

/// The prompts and their requirements (another prompt needs nothing).
const PROMPTS: &[PromptScope] = &[
    PromptScope::all("summary", &["read"]),
    PromptScope::public("hello"),
];

/// The resources and their requirements: `notes://inbox` by its URI, every other note by the
/// template (one segment of `A-Za-z0-9-._~%`), anything else nothing.
const RESOURCES: &[ResourceScope] = &[
    ResourceScope::uri("notes://inbox", &["read"]),
    ResourceScope::template("notes://{id}", &["read", "write"]),
];

/// The scopes of the tokens the first input byte chooses from (`None`: no token).
const TOKENS: [Option<&str>; 6] = [
    None,
    Some(""),
    Some("mcp read"),
    Some("mcp read write"),
    Some("read write admin prompts:read"),
    Some("mcp read write admin prompts:read"),
];

/// The `Content-Type` values the input chooses from (`None`: no header); the first three are
/// JSON.
const CONTENT_TYPES: [Option<&str>; 6] = [
    Some("application/json"),
    Some("Application/JSON; charset=utf-8"),
    Some("application/json ;charset=\"UTF-8\""),
    None,
    Some("text/plain"),
    Some("application/json-rpc"),
];

/// The `Content-Encoding` values the input chooses from; the first two are no coding.
const ENCODINGS: [Option<&str>; 4] = [None, Some("identity"), Some("gzip"), Some("identity, br")];

/// Every fixed text of the layer's JSON-RPC refusals, with their status and code.
const REFUSALS: &[(u16, i64, &str)] = &[
    (405, -32600, "the MCP endpoint takes GET, POST and DELETE"),
    (415, -32600, "the request body must be application/json"),
    (
        415,
        -32600,
        "the request body must not have a Content-Encoding",
    ),
    (400, -32700, "the request body could not be read"),
    (400, -32700, "the request body is not JSON"),
    (
        400,
        -32600,
        "the request body is not a JSON-RPC 2.0 message or batch",
    ),
    (400, -32602, "tools/call needs a string params.name"),
    (400, -32602, "prompts/get needs a string params.name"),
    (400, -32602, "resources/read needs a string params.uri"),
    (
        400,
        -32020,
        "Header mismatch: the Mcp-Method header does not match the request body",
    ),
    (
        400,
        -32020,
        "Header mismatch: the Mcp-Name header does not match the request body",
    ),
];

struct Harness {
    runtime: tokio::runtime::Runtime,
    service: BearerService<McpScopesService<Inner>>,
    tokens: Vec<Option<String>>,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = crate::runtime();
        let validator = crate::secret_mode().build().expect("a valid configuration");
        let inner: Inner = tower::service_fn(echo as fn(_) -> _);
        let service = BearerLayer::new(validator).layer(scopes().layer_on(inner));
        let tokens = TOKENS
            .iter()
            .map(|scope| {
                scope.map(|scope| {
                    TokenBuilder::hs256(SECRET)
                        .claim("iss", ISSUER)
                        .claim("aud", AUDIENCE)
                        .claim("sub", "fuzz@clients")
                        .claim("exp", FAR_FUTURE)
                        .claim("scope", scope)
                        .sign()
                })
            })
            .collect();
        Harness {
            runtime,
            service,
            tokens,
        }
    })
}

fn scopes() -> McpScopes {
    McpScopes::new()
        .tools(TOOLS)
        .prompts(PROMPTS)
        .resources(RESOURCES)
        .unlisted_tools(ScopePolicy::all(["admin"]))
        .method("tools/call", ScopePolicy::all(["mcp"]))
        .method("prompts/list", ScopePolicy::all(["prompts:read"]))
}

/// The service behind the layer: echoes the body it got, and says whether it was the
/// request's own (`unread`) or the layer's buffer.
fn echo(request: Request<McpRequestBody<Full<Bytes>>>) -> Echo {
    Box::pin(async move {
        let body = request.into_body();
        let unread = matches!(body, Either::Left(_));
        let bytes = body.collect().await.expect("a full body").to_bytes();
        let mut response = Response::new(Full::new(bytes));
        let value = if unread { "unread" } else { "read" };
        response
            .headers_mut()
            .insert("x-echo", http::HeaderValue::from_static(value));
        Ok(response)
    })
}

/// One input: byte 0 the method (mostly `POST`) and the token, byte 1 the `Content-Type`, the
/// `Content-Encoding` (bits 3-4) and the routing headers (bits 5-6), the rest the body.
pub fn mcp_body(data: &[u8]) {
    let h = harness();
    let (&first, rest) = data.split_first().unwrap_or((&0, &[]));
    let (&second, body) = rest.split_first().unwrap_or((&0, &[]));
    let method = match first & 7 {
        0..=3 => Method::POST,
        4 => Method::GET,
        5 => Method::DELETE,
        6 => Method::PUT,
        _ => Method::from_bytes(b"PURGE").expect("a method"),
    };
    let token = &h.tokens[usize::from(first >> 3) % TOKENS.len()];
    let content_type = CONTENT_TYPES[usize::from(second & 7) % CONTENT_TYPES.len()];
    let encoding = ENCODINGS[usize::from(second >> 3) % ENCODINGS.len()];
    let mut request = Request::builder().method(method.clone()).uri("/mcp");
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    if let Some(value) = content_type {
        request = request.header(header::CONTENT_TYPE, value);
    }
    if let Some(value) = encoding {
        request = request.header(header::CONTENT_ENCODING, value);
    }
    let routing = routing_headers(second >> 5, body);
    for (name, value) in &routing {
        request = request.header(*name, value.as_str());
    }
    let request = request
        .body(Full::new(Bytes::copy_from_slice(body)))
        .expect("a request");
    let (status, headers, answer) = h.runtime.block_on(async {
        let response = h
            .service
            .clone()
            .oneshot(request)
            .await
            .expect("infallible");
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.expect("a full body").to_bytes();
        (parts.status, parts.headers, bytes)
    });
    assert!(!status.is_server_error(), "{status}");
    let scopes = TOKENS[usize::from(first >> 3) % TOKENS.len()];
    let Some(scopes) = scopes else {
        assert_eq!(status, StatusCode::UNAUTHORIZED, "no token");
        return;
    };
    let echoed = headers.get("x-echo").map(|v| v.to_str().expect("ASCII"));
    if method == Method::GET || method == Method::DELETE {
        assert_eq!(status, StatusCode::OK);
        assert_eq!(echoed, Some("unread"), "{method} body read by the layer");
        return;
    }
    if method != Method::POST {
        assert_refusal(status, &headers, &answer, 405);
        assert_eq!(headers[header::ALLOW], "GET, POST, DELETE");
        return;
    }
    let plain = content_type.is_some_and(|t| {
        t.to_ascii_lowercase().starts_with("application/json")
            && !t.to_ascii_lowercase().starts_with("application/json-")
    }) && encoding.is_none_or(|e| e == "identity");
    if !plain {
        assert_refusal(status, &headers, &answer, 415);
        return;
    }
    match echoed {
        Some(how) => {
            assert_eq!(how, "read");
            assert_eq!(&answer[..], body, "the body reached the service changed");
            let granted: Vec<&str> = scopes.split(' ').collect();
            check_passed(body, &granted);
            check_routing(body, &routing);
        }
        None if status == StatusCode::FORBIDDEN => {
            let challenge = headers[header::WWW_AUTHENTICATE].to_str().expect("ASCII");
            assert!(
                challenge.contains("error=\"insufficient_scope\""),
                "{challenge}"
            );
        }
        None => {
            assert_refusal(status, &headers, &answer, 400);
            let code =
                serde_json::from_slice::<Value>(&answer).expect("JSON")["error"]["code"].as_i64();
            if code == Some(-32020) {
                assert!(!routing.is_empty(), "a header mismatch without headers");
                return;
            }
            // serde_json's `Value` keeps the last of a repeated key, the layer reads them all:
            // only a repeated key lets the layer refuse what this view reads as a call.
            if serde_json::from_slice::<Value>(body).is_ok_and(|v| readable(&v)) {
                assert!(
                    repeats_a_key(body),
                    "a readable JSON-RPC body refused: {:?}",
                    String::from_utf8_lossy(body)
                );
            }
        }
    }
}

/// The routing headers of `choice` (two bits): none; `Mcp-Method` and `Mcp-Name` mirrored from
/// a single message of `body` as `Value` reads it (when they are header-safe); the method
/// mirrored and a wrong name.
fn routing_headers(choice: u8, body: &[u8]) -> Vec<(&'static str, String)> {
    let Ok(Value::Object(message)) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    let safe = |v: &str| !v.is_empty() && v.bytes().all(|b| (0x21..0x7f).contains(&b));
    let method = message
        .get("method")
        .and_then(Value::as_str)
        .filter(|m| safe(m));
    let name = ["name", "uri"]
        .iter()
        .find_map(|key| message.get("params")?.get(*key)?.as_str())
        .filter(|n| safe(n) && !n.starts_with("=?"));
    let mut headers = Vec::new();
    if choice & 3 == 0 {
        return headers;
    }
    if let Some(method) = method {
        headers.push(("Mcp-Method", method.to_owned()));
    }
    match (choice & 3, name) {
        (1, Some(name)) => headers.push(("Mcp-Name", name.to_owned())),
        (2 | 3, _) => headers.push(("Mcp-Name", WRONG_NAME.to_owned())),
        _ => {}
    }
    headers
}

/// A body that passed with routing headers: one message whose method and name (or URI) are
/// theirs.
fn check_routing(body: &[u8], routing: &[(&str, String)]) {
    if routing.is_empty() {
        return;
    }
    let value: Value = serde_json::from_slice(body).expect("JSON that passed");
    assert!(value.is_object(), "a batch passed with routing headers");
    for (header, sent) in routing {
        let in_body = if *header == "Mcp-Method" {
            value["method"].as_str()
        } else {
            let key = match value["method"].as_str() {
                Some("tools/call" | "prompts/get") => "name",
                Some("resources/read") => "uri",
                _ => panic!("Mcp-Name passed with {value}"),
            };
            value["params"][key].as_str()
        };
        let sent = if sent == WRONG_NAME {
            "x"
        } else {
            sent.as_str()
        };
        assert_eq!(in_body, Some(sent), "{header} passed against {value}");
    }
}

/// The wrong `Mcp-Name` the input may choose: `x`, Base64-encoded.
const WRONG_NAME: &str = "=?base64?eA==?=";

/// JSON-RPC 2.0 whose every `tools/call` and `prompts/get` names its target with a string,
/// and every `resources/read` its URI.
fn readable(value: &Value) -> bool {
    is_json_rpc(value)
        && messages(value)
            .iter()
            .all(|message| match message["method"].as_str() {
                Some("tools/call" | "prompts/get") => message["params"]["name"].is_string(),
                Some("resources/read") => message["params"]["uri"].is_string(),
                _ => true,
            })
}

/// Whether `uri` is a note of the template `notes://{id}`.
fn a_note(uri: &str) -> bool {
    uri.strip_prefix("notes://").is_some_and(|id| {
        !id.is_empty()
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~%".contains(&b))
    })
}

/// Whether some object in the JSON text `body` has a member name twice (after unescaping).
fn repeats_a_key(body: &[u8]) -> bool {
    use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
    struct Repeats(bool);
    impl<'de> Deserialize<'de> for Repeats {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer.deserialize_any(RepeatsVisitor)
        }
    }
    struct RepeatsVisitor;
    impl<'de> Visitor<'de> for RepeatsVisitor {
        type Value = Repeats;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("JSON")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Repeats, A::Error> {
            let mut names = std::collections::HashSet::new();
            let mut repeats = false;
            while let Some(name) = map.next_key::<String>()? {
                repeats |= !names.insert(name);
                repeats |= map.next_value::<Repeats>()?.0;
            }
            Ok(Repeats(repeats))
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Repeats, A::Error> {
            let mut repeats = false;
            while let Some(item) = seq.next_element::<Repeats>()? {
                repeats |= item.0;
            }
            Ok(Repeats(repeats))
        }
        fn visit_bool<E>(self, _: bool) -> Result<Repeats, E> {
            Ok(Repeats(false))
        }
        fn visit_i64<E>(self, _: i64) -> Result<Repeats, E> {
            Ok(Repeats(false))
        }
        fn visit_u64<E>(self, _: u64) -> Result<Repeats, E> {
            Ok(Repeats(false))
        }
        fn visit_f64<E>(self, _: f64) -> Result<Repeats, E> {
            Ok(Repeats(false))
        }
        fn visit_str<E>(self, _: &str) -> Result<Repeats, E> {
            Ok(Repeats(false))
        }
        fn visit_unit<E>(self) -> Result<Repeats, E> {
            Ok(Repeats(false))
        }
    }
    serde_json::from_slice::<Repeats>(body).is_ok_and(|r| r.0)
}

/// A body the layer let through with a requirement: JSON-RPC 2.0 as serde_json reads it, and
/// every scope its messages need granted.
fn check_passed(body: &[u8], granted: &[&str]) {
    let value: Value = match serde_json::from_slice(body) {
        Ok(value) => value,
        // Deeper than serde_json's `Value` goes: the layer skips what it does not need without
        // a depth limit, and the service cannot read such a body either.
        Err(error) if error.to_string().contains("recursion limit") => return,
        Err(error) => panic!("a body that is not JSON passed: {error}"),
    };
    assert!(
        is_json_rpc(&value),
        "a body that is not JSON-RPC passed: {value}"
    );
    let has = |scope: &str| granted.contains(&scope);
    for message in messages(&value) {
        let Some(method) = message.get("method").and_then(Value::as_str) else {
            continue;
        };
        match method {
            "prompts/list" => assert!(has("prompts:read"), "prompts/list passed"),
            "prompts/get" => {
                let name = message["params"]["name"]
                    .as_str()
                    .unwrap_or_else(|| panic!("a nameless prompts/get passed: {message}"));
                let ok = name != "summary" || has("read");
                assert!(ok, "prompts/get {name:?} passed with {granted:?}");
            }
            "resources/read" => {
                let uri = message["params"]["uri"]
                    .as_str()
                    .unwrap_or_else(|| panic!("a resources/read without a URI passed: {message}"));
                let ok = match uri {
                    "notes://inbox" => has("read"),
                    uri if a_note(uri) => has("read") && has("write"),
                    _ => true,
                };
                assert!(ok, "resources/read {uri:?} passed with {granted:?}");
            }
            "tools/call" => {
                assert!(has("mcp"), "tools/call passed without mcp");
                let name = message["params"]["name"]
                    .as_str()
                    .unwrap_or_else(|| panic!("a nameless tools/call passed: {message}"));
                let ok = match name {
                    "whoami" => true,
                    "read" => has("read"),
                    "send" => has("read") && has("write"),
                    "search" => has("read") || has("admin"),
                    _ => has("admin"),
                };
                assert!(ok, "tools/call {name:?} passed with {granted:?}");
            }
            _ => {}
        }
    }
}

/// The messages of a message or batch.
fn messages(value: &Value) -> Vec<&Value> {
    match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    }
}

/// One JSON-RPC 2.0 message or a non-empty batch, as `serde_json::Value` reads it.
fn is_json_rpc(value: &Value) -> bool {
    let message = |m: &Value| {
        m.get("jsonrpc") == Some(&Value::from("2.0"))
            && match m.get("method") {
                Some(method) => method.is_string(),
                None => m.get("result").is_some() || m.get("error").is_some(),
            }
    };
    match value {
        Value::Array(items) => !items.is_empty() && items.iter().all(message),
        Value::Object(_) => message(value),
        _ => false,
    }
}

/// A refusal of the layer itself: `status`, a JSON-RPC error body with `id` null and one of
/// the fixed texts, `no-store`, no challenge.
fn assert_refusal(status: StatusCode, headers: &HeaderMap, body: &[u8], expected: u16) {
    assert_eq!(
        status.as_u16(),
        expected,
        "{:?}",
        String::from_utf8_lossy(body)
    );
    assert!(headers.get(header::WWW_AUTHENTICATE).is_none());
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    let value: Value = serde_json::from_slice(body).expect("a JSON refusal");
    assert_eq!(value["jsonrpc"], "2.0");
    assert_eq!(value["id"], Value::Null);
    let code = value["error"]["code"].as_i64().expect("a code");
    let message = value["error"]["message"].as_str().expect("a message");
    assert!(
        REFUSALS.contains(&(expected, code, message)),
        "{expected} {code} {message:?}"
    );
    assert_eq!(value.as_object().map(|o| o.len()), Some(3));
}

/// Seeds: messages and batches that pass and that are refused, under each header choice.
pub fn seeds() -> Vec<Vec<u8>> {
    let bodies: [&str; 18] = [
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"send","arguments":{"text":"hi"}}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami"}}"#,
        r#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read"}},{"jsonrpc":"2.0","method":"notifications/initialized"}]"#,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#,
        r#"{"jsonrpc":"2.0","id":3,"method":"prompts/list"}"#,
        r#"{"jsonrpc":"2.0","id":4,"result":{}}"#,
        r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"search","name":7}}"#,
        r#"{"jsonrpc":"2.0","id":6,"method":"tools\/call","params":{"n\u0061me":"purge"}}"#,
        r#"[]"#,
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\"} trailing",
        // The first run's findings: what only the layer skipped (a number out of range, a lone
        // surrogate, a cut escape) and a second, nameless `params`.
        r#"{"jsonrpc":"2.0","id":41e400,"result":{}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read","arguments":{"\ud800":1}}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":["\u12"]}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami"},"params":{"arguments":null}}"#,
        r#"{"jsonrpc":"2.0","id":7,"method":"prompts/get","params":{"name":"summary"}}"#,
        r#"{"jsonrpc":"2.0","id":8,"method":"resources/read","params":{"uri":"notes://inbox"}}"#,
        r#"[{"jsonrpc":"2.0","id":9,"method":"resources/read","params":{"uri":"notes://7"}},{"jsonrpc":"2.0","id":10,"method":"prompts/get","params":{"name":"hello"}}]"#,
        r#"{"jsonrpc":"2.0","id":11,"method":"resources/read","params":{"name":"notes://7"}}"#,
    ];
    let mut seeds = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        // POST with each token, plain JSON; then a few header and method variants.
        for token in 0..TOKENS.len() as u8 {
            seeds.push([&[token << 3, 0][..], body.as_bytes()].concat());
        }
        let variant = [(1u8, 1u8), (0, 3), (0, 2 << 3), (4, 0), (6, 0)][i % 5];
        seeds.push([&[variant.0 | 5 << 3, variant.1][..], body.as_bytes()].concat());
        // The routing headers, mirrored and with a wrong name, with every scope.
        for routing in [1u8, 2] {
            seeds.push([&[5 << 3, routing << 5][..], body.as_bytes()].concat());
        }
    }
    seeds
}

/// An `mcp_body` input: mostly a plain JSON `POST` of a JSON-RPC message or batch whose
/// `jsonrpc`, `method`, `params.name` are mostly sound, sometimes repeated, odd or missing.
pub(crate) fn structured(rng: &mut Rng) -> Vec<u8> {
    let mut first = rng.byte();
    if rng.chance(80) {
        first &= !4; // POST
    }
    let mut second = rng.byte();
    if rng.chance(80) {
        // application/json (two spellings), no coding or identity, any routing headers.
        second &= 0b0110_1001;
    }
    let message = |rng: &mut Rng| {
        let mut members = Vec::new();
        for _ in 0..1 + rng.below(2) {
            let version = if rng.chance(90) {
                "\"2.0\"".to_owned()
            } else {
                random_json(rng, 1)
            };
            members.push(format!("\"jsonrpc\":{version}"));
            let method = if rng.chance(90) {
                let methods = [
                    "\"tools/call\"",
                    "\"tools\\/call\"",
                    "\"tools/list\"",
                    "\"prompts/list\"",
                    "\"prompts/get\"",
                    "\"resources/read\"",
                    "\"initialize\"",
                ];
                methods[rng.below(methods.len())].to_owned()
            } else {
                random_json(rng, 1)
            };
            match rng.below(10) {
                0 => members.push("\"result\":{}".to_owned()),
                1 => {}
                _ => members.push(format!("\"method\":{method}")),
            }
            let name = if rng.chance(85) {
                let names = [
                    "\"whoami\"",
                    "\"read\"",
                    "\"send\"",
                    "\"search\"",
                    "\"purge\"",
                    "\"re\\u0061d\"",
                    "\"summary\"",
                    "\"hello\"",
                ];
                names[rng.below(names.len())].to_owned()
            } else {
                random_json(rng, 2)
            };
            let uris = [
                "\"notes://inbox\"",
                "\"notes://7\"",
                "\"notes://a%2Fb\"",
                "\"notes://7/x\"",
                "\"notes://\"",
                "\"other://x\"",
            ];
            let uri = uris[rng.below(uris.len())];
            let params = match rng.below(12) {
                0 => random_json(rng, 1),
                10 => format!("{{\"uri\":{uri}}}"),
                11 => format!("{{\"uri\":{uri},\"uri\":{}}}", random_json(rng, 1)),
                1 => format!("{{\"arguments\":{}}}", random_json(rng, 2)),
                2 => format!("{{\"name\":{name},\"name\":{}}}", random_json(rng, 2)),
                _ => format!("{{\"name\":{name},\"arguments\":{}}}", random_json(rng, 2)),
            };
            if rng.chance(90) {
                members.push(format!("\"params\":{params}"));
            }
            members.push(format!("\"id\":{}", rng.below(100)));
        }
        // Shuffle by rotation: key order must not matter.
        let turn = rng.below(members.len());
        members.rotate_left(turn);
        format!("{{{}}}", members.join(","))
    };
    let mut body = if rng.chance(30) {
        let items: Vec<String> = (0..rng.below(4)).map(|_| message(rng)).collect();
        format!("[{}]", items.join(","))
    } else {
        message(rng)
    };
    if rng.chance(5) {
        body.push_str(&random_json(rng, 0));
    }
    [vec![first, second], body.into_bytes()].concat()
}
