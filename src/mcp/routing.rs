//! The routing headers of MCP revision 2026-07-28 (streamable HTTP transport, "Standard
//! Request Headers"): `Mcp-Method` mirrors the JSON-RPC `method`, `Mcp-Name` the `params.name`
//! of `tools/call` and `prompts/get` or the `params.uri` of `resources/read`. Proxies route on
//! them; the layer refuses a request whose headers say something else than its body, so that
//! nothing in front of the server can be told one thing while the server does another. The
//! scope decision is never taken from them.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;

use super::jsonrpc::Message;
use super::request::Refusal;
use super::{PROMPTS_GET, RESOURCES_READ, TOOLS_CALL};

/// The header mirroring the JSON-RPC method.
pub const MCP_METHOD: &str = "Mcp-Method";
/// The header mirroring the tool or prompt name, or the resource URI.
pub const MCP_NAME: &str = "Mcp-Name";

/// The sentinel of a Base64-encoded header value: `=?base64?{value}?=`.
const SENTINEL: (&str, &str) = ("=?base64?", "?=");

/// `Ok` when each routing header present matches the body. A header sent twice, with bytes a
/// header value may not have, or a Base64 value that does not decode to UTF-8 is a mismatch;
/// so is a routing header on a batch (the revision that has the headers has no batches, and
/// one header cannot describe several messages) or an `Mcp-Name` for a method without a name.
pub(super) fn check(headers: &HeaderMap, messages: &[Message]) -> Result<(), Refusal> {
    let method = value(headers, MCP_METHOD)?;
    let name = match value(headers, MCP_NAME)? {
        Some(name) => Some(decode(&name).ok_or(Refusal::HeaderMismatch(MCP_NAME))?),
        None => None,
    };
    if method.is_none() && name.is_none() {
        return Ok(());
    }
    let [message] = messages else {
        let header = if method.is_some() {
            MCP_METHOD
        } else {
            MCP_NAME
        };
        return Err(Refusal::HeaderMismatch(header));
    };
    if let Some(method) = method
        && (message.methods.is_empty() || message.methods.iter().any(|m| *m != method))
    {
        return Err(Refusal::HeaderMismatch(MCP_METHOD));
    }
    if let Some(name) = name {
        // Every method of the message (several only when the key is repeated) must name its
        // target by this value.
        let named = !message.methods.is_empty()
            && message.methods.iter().all(|method| {
                let values = match method.as_str() {
                    TOOLS_CALL | PROMPTS_GET => &message.names,
                    RESOURCES_READ => &message.uris,
                    _ => return false,
                };
                !values.is_empty() && values.iter().all(|value| *value == name)
            });
        if !named {
            return Err(Refusal::HeaderMismatch(MCP_NAME));
        }
    }
    Ok(())
}

/// The value of `header`: `None` when absent, refused when repeated or not visible ASCII.
fn value(headers: &HeaderMap, header: &'static str) -> Result<Option<String>, Refusal> {
    let mut values = headers.get_all(header).iter();
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some(value), None) => match value.to_str() {
            Ok(value) => Ok(Some(value.to_owned())),
            Err(_) => Err(Refusal::HeaderMismatch(header)),
        },
        (Some(_), Some(_)) => Err(Refusal::HeaderMismatch(header)),
    }
}

/// A plain value as it is, an encoded one (`=?base64?...?=`, markers lowercase) decoded:
/// `None` when it does not decode to UTF-8.
fn decode(value: &str) -> Option<String> {
    let Some(encoded) = value
        .strip_prefix(SENTINEL.0)
        .and_then(|rest| rest.strip_suffix(SENTINEL.1))
    else {
        return Some(value.to_owned());
    };
    String::from_utf8(STANDARD.decode(encoded).ok()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_names_are_decoded_before_the_comparison() {
        assert_eq!(decode("get_weather").as_deref(), Some("get_weather"));
        assert_eq!(
            decode("=?base64?SGVsbG8sIOS4lueVjA==?=").as_deref(),
            Some("Hello, 世界")
        );
        assert_eq!(
            decode("=?base64?PT9iYXNlNjQ/bGl0ZXJhbD89?=").as_deref(),
            Some("=?base64?literal?=")
        );
        assert_eq!(decode("=?base64?not base64?="), None);
        assert_eq!(decode("=?base64?/w==?="), None); // not UTF-8
        // Uppercase markers are no sentinel: the value is compared as it is.
        assert_eq!(
            decode("=?BASE64?YQ==?=").as_deref(),
            Some("=?BASE64?YQ==?=")
        );
    }
}
