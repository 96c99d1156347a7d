//! The HTTP side of [`McpScopes`](super::McpScopes): which requests it reads (the method, the
//! media type, the content coding), the bounded read of a `POST` body, and its own refusals,
//! each with a JSON-RPC error body as MCP clients expect from the endpoint.

use bytes::{Buf, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use http_body::Body;
use http_body_util::{BodyExt, Full};

/// Why the layer answers a request itself instead of checking its scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// A method other than `GET`, `POST` and `DELETE` (405).
    MethodNotAllowed,
    /// A `POST` whose `Content-Type` is not `application/json` (415).
    NotJsonMediaType,
    /// A `POST` body with a `Content-Encoding` other than `identity` (415).
    Encoded,
    /// A body over the limit (413).
    TooLarge(usize),
    /// A body that failed while being read (400).
    BodyFailed,
    /// A body that is not JSON, or JSON with trailing data (400).
    NotJson,
    /// JSON that is not one JSON-RPC message or a non-empty batch of them (400).
    NotJsonRpc,
    /// A `tools/call` or `prompts/get` without a string `params.name`, or a `resources/read`
    /// without a string `params.uri` (400): the method.
    Unnamed(&'static str),
    /// An `Mcp-Method` or `Mcp-Name` header that does not match the body (400, MCP's
    /// `HeaderMismatch`): the header's name.
    HeaderMismatch(&'static str),
}

/// MCP's `HeaderMismatch` error code (streamable HTTP transport, revision 2026-07-28).
const HEADER_MISMATCH: i32 = -32020;

/// The methods of MCP's streamable HTTP transport, in the `Allow` header of a 405.
const ALLOWED: &str = "GET, POST, DELETE";

/// What the layer does with a request of `method` when it has requirements.
pub(super) enum Route {
    /// `GET` (the SSE stream) and `DELETE` (the end of a session): on to the service, the body
    /// neither read nor buffered.
    Unread,
    /// `POST`: the body is read and checked.
    Read,
}

/// The route of `method`, or the 405 of any method the MCP transport does not have: the layer
/// cannot know what a service would make of it.
pub(super) fn route(method: &Method) -> Result<Route, Refusal> {
    match *method {
        Method::POST => Ok(Route::Read),
        Method::GET | Method::DELETE => Ok(Route::Unread),
        _ => Err(Refusal::MethodNotAllowed),
    }
}

/// `Ok` when the body of a `POST` with these headers is one the layer can read as the service
/// will: a single `Content-Type` of `application/json` (any parameters, any case), and no
/// content coding but `identity`. A compressed body the layer did not decode would be read by
/// the layer as garbage and by a decoding service as a call.
pub(super) fn check_headers(headers: &HeaderMap) -> Result<(), Refusal> {
    let mut types = headers.get_all(header::CONTENT_TYPE).iter();
    let json = match (types.next(), types.next()) {
        (Some(value), None) => value.to_str().is_ok_and(|value| {
            let essence = value.split(';').next().unwrap_or_default();
            essence.trim().eq_ignore_ascii_case("application/json")
        }),
        _ => false,
    };
    if !json {
        return Err(Refusal::NotJsonMediaType);
    }
    let identity = headers
        .get_all(header::CONTENT_ENCODING)
        .iter()
        .all(|value| {
            value.to_str().is_ok_and(|value| {
                value
                    .split(',')
                    .all(|coding| coding.trim().eq_ignore_ascii_case("identity"))
            })
        });
    if !identity {
        return Err(Refusal::Encoded);
    }
    Ok(())
}

/// Reads a body of at most `limit` bytes.
pub(super) async fn read_body<B>(
    headers: &HeaderMap,
    body: B,
    limit: usize,
) -> Result<Bytes, Refusal>
where
    B: Body<Data = Bytes>,
{
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(Refusal::TooLarge(limit));
    }
    let mut body = std::pin::pin!(body);
    let mut collected = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            return Err(Refusal::BodyFailed);
        };
        let Ok(mut data) = frame.into_data() else {
            continue; // trailers
        };
        if data.remaining() > limit - collected.len() {
            return Err(Refusal::TooLarge(limit));
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

impl Refusal {
    /// The status, JSON-RPC error code and message (fixed texts: nothing of the request).
    fn parts(self) -> (StatusCode, i32, String) {
        let (status, code, message) = match self {
            Refusal::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                -32600,
                "the MCP endpoint takes GET, POST and DELETE",
            ),
            Refusal::NotJsonMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                -32600,
                "the request body must be application/json",
            ),
            Refusal::Encoded => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                -32600,
                "the request body must not have a Content-Encoding",
            ),
            Refusal::TooLarge(limit) => {
                let message = format!("the request body is larger than {limit} bytes");
                return (StatusCode::PAYLOAD_TOO_LARGE, -32600, message);
            }
            Refusal::BodyFailed => (
                StatusCode::BAD_REQUEST,
                -32700,
                "the request body could not be read",
            ),
            Refusal::NotJson => (
                StatusCode::BAD_REQUEST,
                -32700,
                "the request body is not JSON",
            ),
            Refusal::NotJsonRpc => (
                StatusCode::BAD_REQUEST,
                -32600,
                "the request body is not a JSON-RPC 2.0 message or batch",
            ),
            Refusal::Unnamed(method) => {
                let field = if method == super::RESOURCES_READ {
                    "uri"
                } else {
                    "name"
                };
                let message = format!("{method} needs a string params.{field}");
                return (StatusCode::BAD_REQUEST, -32602, message);
            }
            Refusal::HeaderMismatch(header) => {
                // The values are not echoed: a refusal never repeats what the client sent.
                let message =
                    format!("Header mismatch: the {header} header does not match the request body");
                return (StatusCode::BAD_REQUEST, HEADER_MISMATCH, message);
            }
        };
        (status, code, message.to_owned())
    }

    /// The response: `status` with a JSON-RPC error body (`id` null: the request was not
    /// read as a call), `Cache-Control: no-store`, and `Allow` on a 405.
    pub(super) fn response(self) -> Response<Full<Bytes>> {
        let (status, code, message) = self.parts();
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
        if self == Refusal::MethodNotAllowed {
            headers.insert(header::ALLOW, HeaderValue::from_static(ALLOWED));
        }
        response
    }
}
