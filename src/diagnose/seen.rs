//! What a token shows without verification: its segments, header and claims, decoded for
//! display only. Nothing here decides anything (the validator's verdict does), and the
//! signature segment is never kept.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

/// The longest value shown, in characters: a token's claims are the sender's text.
const SHOWN_CHARS: usize = 120;

/// A token as seen before verification.
pub(super) struct Seen {
    /// How many `.`-separated segments the token has (0 for no token).
    pub(super) segments: usize,
    pub(super) header: Option<Map<String, Value>>,
    pub(super) payload: Option<Map<String, Value>>,
}

impl Seen {
    /// Decodes the header and payload of a compact JWS; anything else shows its segment
    /// count only.
    pub(super) fn decode(token: &str) -> Seen {
        let segments = if token.is_empty() {
            0
        } else {
            token.split('.').count()
        };
        let mut parts = token.split('.');
        let (header, payload) = match (segments, parts.next(), parts.next()) {
            (3, Some(header), Some(payload)) => (json_object(header), json_object(payload)),
            _ => (None, None),
        };
        Seen {
            segments,
            header,
            payload,
        }
    }

    /// A header member, as text (`None` when absent).
    pub(super) fn header(&self, name: &str) -> Option<String> {
        self.header.as_ref()?.get(name).map(text)
    }

    /// A claim, as text (`None` when absent).
    pub(super) fn claim(&self, name: &str) -> Option<String> {
        self.payload.as_ref()?.get(name).map(text)
    }

    /// A NumericDate claim in Unix seconds (`None` when absent or not a number).
    pub(super) fn date(&self, name: &str) -> Option<i64> {
        self.payload.as_ref()?.get(name)?.as_f64().map(|s| s as i64)
    }

    /// Whether the claims are an OpenID Connect ID token's rather than an access token's:
    /// claims only ID tokens carry (`nonce`, `at_hash`, `c_hash`; not `auth_time`, which RFC
    /// 9068 access tokens may carry too, for step-up), or profile claims (`email`, `name`)
    /// with no scope claim at all.
    pub(super) fn looks_like_id_token(&self) -> bool {
        let Some(claims) = &self.payload else {
            return false;
        };
        let has = |name: &str| claims.contains_key(name);
        ["nonce", "at_hash", "c_hash"].iter().any(|name| has(name))
            || (has("email") || has("name"))
                && !["scope", "scp", "permissions"].iter().any(|name| has(name))
    }

    /// The token's structure, in words.
    pub(super) fn format(&self) -> String {
        match (self.segments, &self.header, &self.payload) {
            (0, _, _) => "no token".to_owned(),
            (1, _, _) => "1 segment: an opaque token, not a JWT".to_owned(),
            (3, Some(_), Some(_)) => "a JWT (3 segments, header and claims decode)".to_owned(),
            (3, None, _) => "3 segments, the header is not base64url JSON".to_owned(),
            (3, _, None) => "3 segments, the claims are not base64url JSON".to_owned(),
            (5, _, _) => "5 segments: an encrypted token (JWE)".to_owned(),
            (count, _, _) => format!("{count} segments: not a JWT"),
        }
    }
}

/// A base64url segment decoded as a JSON object, if it is one.
fn json_object(segment: &str) -> Option<Map<String, Value>> {
    let bytes = URL_SAFE_NO_PAD.decode(segment).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// A JSON value as a person reads it: strings bare, arrays of strings comma-separated.
fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Array(items) => items.iter().map(text).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

/// `value` made safe to print: control characters escaped (a claim may hold a newline or a
/// terminal escape), and cut to [`SHOWN_CHARS`].
pub(super) fn shown(value: &str) -> String {
    let mut out = String::new();
    for (count, c) in value.chars().enumerate() {
        if count == SHOWN_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shown_escapes_control_characters_and_cuts_long_values() {
        assert_eq!(shown("a\nb\u{1b}[31m"), "a\\nb\\u{1b}[31m");
        let long = "x".repeat(500);
        assert_eq!(shown(&long).chars().count(), SHOWN_CHARS + 1);
    }

    #[test]
    fn only_a_three_segment_token_is_decoded() {
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"RS256","kid":"k1"}"#);
        let payload = URL_SAFE_NO_PAD.encode(r#"{"aud":["a","b"],"exp":1.5}"#);
        let seen = Seen::decode(&format!("{header}.{payload}.c2ln"));
        assert_eq!(seen.header("kid").as_deref(), Some("k1"));
        assert_eq!(seen.claim("aud").as_deref(), Some("a, b"));
        assert_eq!(seen.date("exp"), Some(1));
        let opaque = Seen::decode("abc");
        assert_eq!((opaque.segments, opaque.header.is_none()), (1, true));
        assert_eq!(
            Seen::decode("a.b.c.d.e").format(),
            "5 segments: an encrypted token (JWE)"
        );
        assert_eq!(Seen::decode("").format(), "no token");
    }
}
