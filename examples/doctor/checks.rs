//! The doctor's steps, as functions returning data: the issuer's metadata, its key set, and
//! the validator's report on a token; the command line (`args`) and the text (`render`) as
//! modules beside it. `main.rs` reads stdin, prints and exits; the tests
//! (tests/suite/doctor.rs) include this file and assert on the data, the rendered text and
//! JSON, and the exit code.

use std::time::Duration;

use base64::Engine;
use bearer_guard::diagnose::Explanation;
use bearer_guard::jwks::{InspectedKey, discovery_urls, inspect_key_set};
use bearer_guard::{Algorithm, ValidatorBuilder};
use serde::Serialize;
use serde_json::Value;

/// The most keys a set may hold (`ValidatorBuilder::max_keys`'s default).
const MAX_KEYS: usize = 100;

// Beside this file wherever it is included from (main.rs, or a test through `#[path]`).
#[path = "args.rs"]
pub mod args;
#[path = "config.rs"]
mod config;
#[path = "proof.rs"]
mod proof;
#[path = "render.rs"]
pub mod render;

pub use config::Config;

/// The outcome of one step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// As the validator needs it.
    Ok,
    /// Works, but something deserves a look (keys the policy refuses).
    Warning,
    /// The validator fails here too (see the hint).
    Failed,
    /// Not a step of this configuration (HS256 fetches nothing; `JWKS_URI` skips discovery).
    Skipped,
}

/// One HTTP request the doctor made: the same the validator makes.
#[derive(Debug, Clone, Serialize)]
pub struct Request {
    /// The URL asked.
    pub url: String,
    /// The answer's status (`None`: no answer, see `error`).
    pub status: Option<u16>,
    /// The answer's `Content-Type` (the validator takes JSON only).
    pub content_type: Option<String>,
    /// Why there was no answer or no body (connection refused, timeout, ...).
    pub error: Option<String>,
}

/// The configuration as the validator sees it (never the secret: its length).
#[derive(Debug, Clone, Serialize)]
pub struct Configuration {
    pub issuer: Option<String>,
    pub audience: Option<String>,
    /// Where the keys come from: discovery, a key set URL, or a secret (by its length).
    pub keys: String,
    /// The decryption key for encrypted tokens (its file and `kid`), when one is configured.
    pub decryption: Option<String>,
    /// Where opaque tokens are introspected, and as which client (the secret by its length).
    pub introspection: Option<String>,
    /// What the builder refuses (empty: the configuration builds).
    pub problems: Vec<String>,
}

/// The issuer's metadata document.
#[derive(Debug, Clone, Serialize)]
pub struct MetadataStep {
    pub status: Status,
    pub requests: Vec<Request>,
    /// The `issuer` the document names.
    pub issuer: Option<String>,
    /// The key set URL discovery found.
    pub jwks_uri: Option<String>,
    /// Why the step was skipped, or the fallback taken.
    pub note: Option<String>,
    /// What to change, when the step failed.
    pub hint: Option<String>,
}

/// The key set document and the key policy's verdict on each key.
#[derive(Debug, Clone, Serialize)]
pub struct KeySetStep {
    pub status: Status,
    pub request: Option<Request>,
    pub cache_control: Option<String>,
    pub etag: Option<String>,
    /// Every key as published, with the key policy's verdict.
    pub keys: Vec<InspectedKey>,
    /// Why the step was skipped.
    pub note: Option<String>,
    /// What is wrong, when the step failed.
    pub hint: Option<String>,
}

/// The token: its length and header (never its payload or signature), and the report (of
/// the request, proof included, when a DPoP proof is given).
#[derive(Debug, Clone, Serialize)]
pub struct TokenStep {
    pub length: usize,
    /// `alg`, `kid` and `typ` of the header, when it decodes.
    pub header: Value,
    /// `Validator::explain` on the token, or `explain_request` on the DPoP request (`None`:
    /// the configuration does not build, or the request cannot be made).
    pub explanation: Option<Explanation>,
}

/// Everything the doctor found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub configuration: Configuration,
    pub metadata: MetadataStep,
    pub key_set: KeySetStep,
    pub token: Option<TokenStep>,
}

impl Report {
    /// Whether the configuration builds, no step failed, and the token (if any) passes.
    pub fn passed(&self) -> bool {
        self.configuration.problems.is_empty()
            && self.metadata.status != Status::Failed
            && self.key_set.status != Status::Failed
            && self
                .token
                .as_ref()
                .is_none_or(|token| token.explanation.as_ref().is_some_and(Explanation::passed))
    }

    /// The CLI's exit status: 0 only when [`passed`](Self::passed).
    pub fn exit_code(&self) -> u8 {
        if self.passed() { 0 } else { 1 }
    }
}

/// Runs every step: metadata, key set, then the token's report.
pub async fn run(config: &Config, token: Option<&str>) -> Report {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        // The validator takes answers from the origin it asked only.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("an HTTP client with rustls");
    let issuer = config.effective_issuer();
    let secret = config.hs256_secret.as_ref();
    let keys = match (secret, config.effective_jwks_uri()) {
        (Some(secret), _) => format!("HS256 secret ({} bytes)", secret.len()),
        (None, Some(uri)) => format!("key set at {uri}"),
        (None, None) => "key set by discovery".to_owned(),
    };
    let (validator, problems) = match config.builder().map(ValidatorBuilder::build) {
        Ok(Ok(validator)) => (Some(validator), Vec::new()),
        Ok(Err(error)) => (
            None,
            error.problems().iter().map(ToString::to_string).collect(),
        ),
        Err(unreadable) => (None, vec![unreadable]),
    };
    let mut configuration = Configuration {
        issuer: issuer.clone(),
        audience: config.audience.clone(),
        keys,
        decryption: config.decryption(),
        introspection: config.introspection(),
        problems,
    };
    let metadata = match (secret, config.effective_jwks_uri(), issuer) {
        (Some(_), _, _) => skipped_metadata("HS256: the validator fetches nothing"),
        (None, Some(_), _) => skipped_metadata("a key set URL is configured: no discovery"),
        (None, None, None) => skipped_metadata("no issuer configured"),
        (None, None, Some(issuer)) => metadata(&http, &issuer).await,
    };
    let key_set = match (
        secret,
        config.effective_jwks_uri().or(metadata.jwks_uri.clone()),
    ) {
        (Some(_), _) => skipped_key_set("HS256: the key is the configured secret"),
        (None, None) => skipped_key_set("no key set URL: see the metadata step"),
        (None, Some(uri)) => key_set(&http, &uri, config.key_algorithms()).await,
    };
    let token = match token {
        None => None,
        Some(token) => Some(TokenStep {
            length: token.len(),
            header: token_header(token),
            explanation: match (&validator, &config.dpop_proof) {
                (Some(validator), None) => Some(validator.explain(token).await),
                (Some(validator), Some(dpop)) => match proof::dpop_request(config, token, dpop) {
                    Ok(request) => Some(validator.explain_request(&request).await),
                    Err(unusable) => {
                        configuration.problems.push(unusable);
                        None
                    }
                },
                (None, _) => None,
            },
        }),
    };
    Report {
        configuration,
        metadata,
        key_set,
        token,
    }
}

fn skipped_metadata(note: &str) -> MetadataStep {
    MetadataStep {
        status: Status::Skipped,
        requests: Vec::new(),
        issuer: None,
        jwks_uri: None,
        note: Some(note.to_owned()),
        hint: None,
    }
}

fn skipped_key_set(note: &str) -> KeySetStep {
    KeySetStep {
        status: Status::Skipped,
        request: None,
        cache_control: None,
        etag: None,
        keys: Vec::new(),
        note: Some(note.to_owned()),
        hint: None,
    }
}

/// A GET as the validator makes it; the answer's headers and body (body: a 2xx only).
async fn get(
    http: &reqwest::Client,
    url: &str,
) -> (Request, reqwest::header::HeaderMap, Option<Vec<u8>>) {
    let mut request = Request {
        url: url.to_owned(),
        status: None,
        content_type: None,
        error: None,
    };
    let answer = http
        .get(url)
        .header("accept", "application/json")
        .send()
        .await;
    let answer = match answer {
        Ok(answer) => answer,
        Err(error) => {
            request.error = Some(describe(&error));
            return (request, Default::default(), None);
        }
    };
    request.status = Some(answer.status().as_u16());
    let headers = answer.headers().clone();
    request.content_type = header_value(&headers, "content-type");
    let success = answer.status().is_success();
    let body = match answer.bytes().await {
        Ok(body) if success => Some(body.to_vec()),
        Ok(_) => None,
        Err(error) => {
            request.error = Some(describe(&error));
            None
        }
    };
    (request, headers, body)
}

/// A header's value, when it is text.
fn header_value(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    let value = headers.get(name)?.to_str().ok()?;
    Some(value.to_owned())
}

/// A failed request with its causes (refused connection, DNS, TLS), without its URL (shown
/// beside it).
fn describe(error: &reqwest::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text
}

/// Discovery in the validator's order: OIDC, RFC 8414, then the `jwks.json` fallback when
/// both said (404, 410) they do not exist.
async fn metadata(http: &reqwest::Client, issuer: &str) -> MetadataStep {
    let mut step = skipped_metadata("");
    step.note = None;
    step.status = Status::Failed;
    let Some(urls) = discovery_urls(issuer) else {
        step.hint = Some(format!(
            "the issuer `{issuer}` is not a URL: set --issuer (ISSUER)"
        ));
        return step;
    };
    for url in [&urls.openid_configuration, &urls.authorization_server] {
        let (request, _, body) = get(http, url).await;
        let status = request.status;
        step.requests.push(request);
        match (status, body) {
            (Some(404 | 410), _) => continue,
            (_, Some(body)) => {
                let document: Value = serde_json::from_slice(&body).unwrap_or_default();
                step.issuer = document["issuer"].as_str().map(str::to_owned);
                step.jwks_uri = document["jwks_uri"].as_str().map(str::to_owned);
                step.status = match &step.issuer {
                    Some(found) if found == issuer => Status::Ok,
                    Some(found) if found.trim_end_matches('/') == issuer.trim_end_matches('/') => {
                        step.hint = Some(format!(
                            "only the trailing slash differs: set --issuer (ISSUER) to `{found}`, \
                             exactly as the metadata and the tokens' `iss` spell it"
                        ));
                        Status::Failed
                    }
                    Some(found) => {
                        step.hint = Some(format!(
                            "the document is another issuer's (`{found}`): check --issuer (ISSUER)"
                        ));
                        Status::Failed
                    }
                    None => {
                        step.hint = Some("not a metadata document (no `issuer`)".to_owned());
                        Status::Failed
                    }
                };
                return step;
            }
            _ => {
                step.hint = Some(
                    "the validator stops here too: only 404 or 410 moves on to the next document"
                        .to_owned(),
                );
                return step;
            }
        }
    }
    step.status = Status::Ok;
    step.jwks_uri = Some(urls.fallback_jwks);
    step.note =
        Some("no metadata document (404/410): the key set is taken from the fallback".to_owned());
    step
}

/// The key set: its cache headers and the key policy's verdict on each key.
async fn key_set(http: &reqwest::Client, uri: &str, algorithms: &[Algorithm]) -> KeySetStep {
    let (request, headers, body) = get(http, uri).await;
    let mut step = skipped_key_set("");
    step.note = None;
    step.cache_control = header_value(&headers, "cache-control");
    step.etag = header_value(&headers, "etag");
    step.request = Some(request);
    step.status = Status::Failed;
    let Some(body) = body else {
        step.hint = Some("no key set: every token is refused".to_owned());
        return step;
    };
    match inspect_key_set(&body, algorithms, MAX_KEYS) {
        Err(refused) => step.hint = Some(format!("the key set is refused whole: {refused}")),
        Ok(keys) => {
            let usable = keys.iter().filter(|key| key.refused.is_none()).count();
            step.status = match (usable, keys.len()) {
                (0, _) => {
                    step.hint = Some("no usable key: every token is refused".to_owned());
                    Status::Failed
                }
                (usable, all) if usable < all => Status::Warning,
                _ => Status::Ok,
            };
            step.keys = keys;
        }
    }
    step
}

/// The header members that say how a token was signed: never the payload or signature.
fn token_header(token: &str) -> Value {
    let decoded = token
        .split('.')
        .next()
        .and_then(|segment| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(segment)
                .ok()
        })
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok());
    let mut shown = serde_json::Map::new();
    for name in ["alg", "kid", "typ"] {
        if let Some(value) = decoded.as_ref().and_then(|header| header.get(name)) {
            shown.insert(name.to_owned(), value.clone());
        }
    }
    Value::Object(shown)
}
