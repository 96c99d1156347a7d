//! A token request as the endpoint reads it (form or JSON parameters) and the RFC 6749
//! §5.2 refusal it answers with.

use std::collections::HashMap;

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::{Value, json};

/// A refusal by the token endpoint: an RFC 6749 §5.2 error.
#[derive(Debug)]
pub(super) struct Refusal {
    pub(super) error: &'static str,
    pub(super) description: &'static str,
    /// The client tried HTTP Basic: `invalid_client` is then 401 with a Basic challenge.
    pub(super) basic: bool,
}

pub(super) fn refuse(error: &'static str, description: &'static str) -> Refusal {
    Refusal {
        error,
        description,
        basic: false,
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let challenge = self.basic && self.error == "invalid_client";
        let status = if challenge {
            StatusCode::UNAUTHORIZED
        } else {
            StatusCode::BAD_REQUEST
        };
        let mut response = (
            status,
            Json(json!({ "error": self.error, "error_description": self.description })),
        )
            .into_response();
        let headers = response.headers_mut();
        no_store(headers);
        if challenge {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"oauth\", charset=\"UTF-8\""),
            );
        }
        response
    }
}

pub(super) fn no_store(headers: &mut HeaderMap) {
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
}

/// The request parameters, from a form (RFC 6749) or a JSON object (Auth0 accepts both).
/// Parameters without a value count as omitted (RFC 6749 §3.1); a repeated one is an
/// `invalid_request` (§3.2), except `resource`, which RFC 8707 lets a client repeat (in
/// JSON: a string or an array of strings).
pub(super) fn parse_params(headers: &HeaderMap, body: &[u8]) -> Result<Params, Refusal> {
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(|value| {
            value
                .split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        });
    let pairs: Vec<(String, String)> = match media_type.as_deref() {
        Some("application/x-www-form-urlencoded") => {
            let malformed = || refuse("invalid_request", "the form is malformed");
            std::str::from_utf8(body).map_err(|_| malformed())?;
            let pairs: Vec<(String, String)> = url::form_urlencoded::parse(body)
                .map(|(name, value)| (name.into_owned(), value.into_owned()))
                .collect();
            // Percent-encoded bytes that are not UTF-8 decode to U+FFFD.
            if pairs
                .iter()
                .any(|(name, value)| name.contains('\u{FFFD}') || value.contains('\u{FFFD}'))
            {
                return Err(malformed());
            }
            pairs
        }
        Some("application/json") => {
            let malformed = || refuse("invalid_request", "the JSON body is malformed");
            let object: serde_json::Map<String, Value> =
                serde_json::from_slice(body).map_err(|_| malformed())?;
            object
                .into_iter()
                .flat_map(|(name, value)| match value {
                    Value::String(text) => vec![Ok((name, text))],
                    Value::Array(items) if name == RESOURCE => items
                        .into_iter()
                        .map(|item| match item {
                            Value::String(text) => Ok((RESOURCE.to_owned(), text)),
                            _ => Err(refuse("invalid_request", "parameters must be strings")),
                        })
                        .collect(),
                    _ => vec![Err(refuse("invalid_request", "parameters must be strings"))],
                })
                .collect::<Result<_, _>>()?
        }
        _ => {
            return Err(refuse(
                "invalid_request",
                "the body must be application/x-www-form-urlencoded",
            ));
        }
    };
    let mut params = Params::default();
    for (name, value) in pairs {
        if value.is_empty() {
            continue;
        }
        if name == RESOURCE {
            params.resources.push(value);
        } else if params.values.insert(name, value).is_some() {
            return Err(refuse("invalid_request", "a parameter is repeated"));
        }
    }
    Ok(params)
}

/// RFC 8707's parameter naming the resource (the API) a token is for.
const RESOURCE: &str = "resource";

/// The parameters of a token request: every `resource`, and the others by name.
#[derive(Default)]
pub(super) struct Params {
    values: HashMap<String, String>,
    pub(super) resources: Vec<String>,
}

impl Params {
    pub(super) fn get(&self, name: &str) -> Option<&String> {
        self.values.get(name)
    }

    pub(super) fn contains_key(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }
}
