//! An MCP server (rmcp, streamable HTTP) protected as the MCP authorization specification
//! asks: an OAuth 2.1 resource server whose tokens must be issued for its canonical URI.
//!
//! | path | needs |
//! |---|---|
//! | `GET /.well-known/oauth-protected-resource/mcp` | nothing: the RFC 9728 document |
//! | `POST /mcp` (`initialize`, `tools/list`, ...) | a valid access token for this server |
//! | `tools/call` `whoami` | the same, and reads the token's claims in the tool |
//! | `tools/call` `read_messages` | `read:messages` |
//! | `tools/call` `send_message` | `read:messages` and `write:messages` |
//!
//! The scopes are declared next to the tools (`Messages::SCOPES`) and checked against the
//! tool router at start-up. A call without a needed scope gets 403 `insufficient_scope` with
//! `scope="<every scope of the call>"` and `resource_metadata=`; a missing or invalid token
//! gets 401 with `resource_metadata=`, which MCP clients follow to the metadata document and
//! from there to the authorization server.
//!
//! Run it with no configuration to walk the whole flow on one machine. It starts an embedded
//! issuer and does, in code, what an authorization server's console does:
//!
//! 1. registers the MCP server as an API whose identifier is its canonical URI
//!    (`http://127.0.0.1:3011/mcp`), with the scopes `read:messages` and `write:messages`,
//!    and another API (`https://api.example.com`) whose tokens this server must refuse;
//! 2. registers a machine client authorized for both scopes of the MCP server (and for the
//!    other API);
//! 3. serves the MCP endpoint `/mcp` on `BIND`, and the metadata document outside the layer;
//! 4. gets tokens from the issuer's `POST /oauth/token` as an MCP client would, naming the
//!    server by RFC 8707 `resource`: first with `read:messages` only (least privilege), then,
//!    after the 403, with `read:messages write:messages` (the step-up);
//! 5. prints ready-to-paste `curl` commands, each labelled with the status to expect.
//!
//! ```text
//! cargo run --example mcp_server
//! cargo run --example mcp_server -- --check   # make those requests itself and exit
//! ```
//!
//! Point it at your authorization server with environment variables:
//!
//! - `ISSUER` + `AUDIENCE`: the issuer exactly as in the tokens' `iss`, and the MCP server's
//!   canonical URI as the audience (`https://mcp.example.com/mcp`: the URI clients connect
//!   to and pass as `resource`); the key set is found by discovery unless `JWKS_URI` is set;
//! - `BIND`: the listen address (default `127.0.0.1:3011`).
//!
//! Scopes are read from `scope`, `scp` and Auth0's `permissions`. An invalid configuration is
//! reported in full and the process exits with status 2.
//!
//! ```text
//! ISSUER=https://my-tenant.us.auth0.com/ AUDIENCE=https://mcp.example.com/mcp \
//!     cargo run --example mcp_server
//! ```

use std::env;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use axum::Router;
use bearer_guard::mcp::{McpScopes, ToolScope};
use bearer_guard::testing::{Api, TestIssuer, generate_secret};
use bearer_guard::{
    BearerLayer, ProtectedResourceMetadata, Validator, ValidatorBuilder, VerifiedClaims,
    scope::ScopeClaims,
};
use http::request::Parts;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::tool::Extension;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, ServerHandler, schemars, tool, tool_handler, tool_router};
use serde_json::{Value, json};

const READ: &str = "read:messages";
const WRITE: &str = "write:messages";
/// An API of the same issuer that is not this server: its tokens are refused here.
const OTHER_API: &str = "https://api.example.com";

// ---------------------------------------------------------------------------------------------
// The MCP server: three tools, and the scopes each needs, declared next to them.

#[derive(Clone)]
struct Messages {
    tool_router: ToolRouter<Self>,
    messages: Arc<Mutex<Vec<Value>>>,
}

#[derive(Debug, serde::Deserialize, schemars::JsonSchema)]
struct SendMessage {
    /// The message text.
    text: String,
}

/// The verified claims `BearerLayer` left on the HTTP request, which rmcp hands to tools.
fn claims(parts: &Parts) -> Result<&VerifiedClaims, ErrorData> {
    parts
        .extensions
        .get::<VerifiedClaims>()
        .ok_or_else(|| ErrorData::internal_error("no verified claims: BearerLayer missing", None))
}

#[tool_router]
impl Messages {
    fn new() -> Self {
        Messages {
            tool_router: Self::tool_router(),
            messages: Arc::new(Mutex::new(vec![json!({
                "from": "system",
                "text": "Welcome to the messages MCP server.",
            })])),
        }
    }

    #[tool(description = "Who the access token says is calling: subject, client and scopes")]
    fn whoami(&self, Extension(parts): Extension<Parts>) -> Result<String, ErrorData> {
        let claims = claims(&parts)?;
        let scopes: Vec<&str> = claims.scopes().iter().collect();
        Ok(json!({
            "sub": claims.subject(),
            "client_id": claims.client_id(),
            "scopes": scopes,
        })
        .to_string())
    }

    #[tool(description = "Read the messages (needs read:messages)")]
    fn read_messages(&self) -> String {
        Value::from(self.messages.lock().expect("lock").clone()).to_string()
    }

    #[tool(description = "Send a message (needs read:messages and write:messages)")]
    fn send_message(
        &self,
        Parameters(SendMessage { text }): Parameters<SendMessage>,
        Extension(parts): Extension<Parts>,
    ) -> Result<String, ErrorData> {
        let from = claims(&parts)?.subject().unwrap_or("unknown").to_owned();
        let message = json!({ "from": from, "text": text });
        self.messages.lock().expect("lock").push(message.clone());
        Ok(message.to_string())
    }
}

impl Messages {
    /// What each tool needs, next to the tools; `McpScopes::tools` reads it.
    const SCOPES: &'static [ToolScope] = &[
        ToolScope::public("whoami"),
        ToolScope::all("read_messages", &[READ]),
        ToolScope::all("send_message", &[READ, WRITE]),
    ];
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for Messages {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

// ---------------------------------------------------------------------------------------------
// The HTTP side: the layer, the scopes, the metadata document.

/// The router: `/mcp` behind `BearerLayer` and `McpScopes`, the RFC 9728 document outside.
fn app(
    validator: Validator,
    metadata: &ProtectedResourceMetadata,
    allowed_hosts: Vec<String>,
) -> Result<Router, String> {
    let scopes = McpScopes::new().tools(Messages::SCOPES);
    // Every tool has a requirement, and every requirement a tool.
    let tools = Messages::tool_router().list_all();
    scopes
        .check_tools(tools.iter().map(|tool| tool.name.as_ref()))
        .map_err(|error| error.to_string())?;

    // Stateless, with JSON answers: each POST stands alone, so one curl makes one call.
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_allowed_hosts(allowed_hosts);
    let mcp = StreamableHttpService::new(
        || Ok(Messages::new()),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    Ok(Router::new()
        .route_service("/mcp", scopes.layer_on(mcp))
        .layer(BearerLayer::new(validator))
        .route_service(&metadata.path(), metadata.service()))
}

/// A set, non-empty environment variable.
fn var(name: &str) -> Option<String> {
    env::var(name).ok().filter(|value| !value.trim().is_empty())
}

/// The validator configuration: the demo issuer's, or the environment's.
fn configure(demo: Option<&Demo>, resource: &str) -> ValidatorBuilder {
    let builder = match demo {
        Some(demo) => demo.issuer.validator_for(resource),
        None => {
            let mut builder = Validator::builder();
            if let Some(audience) = var("AUDIENCE") {
                builder = builder.audience(audience);
            }
            if let Some(issuer) = var("ISSUER") {
                builder = builder.issuer(issuer);
            }
            if let Some(jwks_uri) = var("JWKS_URI") {
                builder = builder.jwks_uri(jwks_uri);
            }
            builder
        }
    };
    builder.scope_claims(ScopeClaims::default().permissions(true))
}

/// The embedded issuer: the MCP server registered as an API, one client.
struct Demo {
    issuer: TestIssuer,
    client_id: &'static str,
    client_secret: String,
}

impl Demo {
    async fn start(resource: &str) -> Self {
        let issuer = TestIssuer::start().await;
        issuer.register_api(Api::new(resource).scopes([READ, WRITE]));
        issuer.register_api(Api::new(OTHER_API).scopes([READ]));
        let client_id = "mcp-client";
        let client_secret = generate_secret();
        issuer.register_client(client_id, client_secret.as_str());
        issuer.grant(client_id, resource, [READ, WRITE]);
        issuer.grant(client_id, OTHER_API, [READ]);
        Demo {
            issuer,
            client_id,
            client_secret,
        }
    }

    /// A token for `resource` (RFC 8707) with `scope`, as an MCP client gets one.
    async fn token(&self, resource: &str, scope: &str) -> Result<String, String> {
        self.issuer
            .client_credentials_for_resources(
                self.client_id,
                &self.client_secret,
                &[resource],
                Some(scope),
            )
            .await
            .map(|token| token.access_token)
            .map_err(|error| format!("token request refused: {error}"))
    }
}

/// One request to print and, with `--check`, to make.
struct Call {
    expect: u16,
    why: &'static str,
    /// `None`: `GET` of the metadata document; else the JSON-RPC body of a `POST /mcp`.
    body: Option<Value>,
    token: Option<String>,
    /// Text the answer must contain (a challenge parameter, a body field).
    shows: Option<String>,
}

fn tool_call(id: u64, name: &str, arguments: Value) -> Value {
    json!({
        "jsonrpc": "2.0", "id": id, "method": "tools/call",
        "params": { "name": name, "arguments": arguments },
    })
}

/// Prints the steps and a curl command per request; returns the requests.
async fn print_demo(demo: &Demo, base: &str, resource: &str) -> Result<Vec<Call>, String> {
    let issuer = &demo.issuer;
    let read = demo.token(resource, READ).await?;
    let read_write = demo.token(resource, &format!("{READ} {WRITE}")).await?;
    let other = demo.token(OTHER_API, READ).await?;
    let metadata_url = format!("{base}/.well-known/oauth-protected-resource/mcp");

    println!(
        "\ndemo issuer {} with the MCP server {resource} registered as an API",
        issuer.issuer()
    );
    println!(
        "  scopes {READ} {WRITE}; client {} authorized for both (and for {OTHER_API})",
        demo.client_id
    );
    println!("\n# 1. get a token for this MCP server (RFC 8707 resource), least privilege first");
    println!(
        "curl -s --request POST --url {} \\\n  --user '{}:{}' \\\n  \
         --data grant_type=client_credentials --data-urlencode resource={resource} \\\n  \
         --data scope={READ}\n",
        issuer.token_endpoint(),
        demo.client_id,
        demo.client_secret
    );
    println!(
        "# after a 403 naming more scopes, step up: the same request with all of them\n\
         #   --data-urlencode 'scope={READ} {WRITE}'\n"
    );
    println!("# 2. talk to the MCP server (tokens valid for 24 hours)\n");
    let calls = vec![
        Call {
            expect: 200,
            why: "the RFC 9728 document, outside the layer",
            body: None,
            token: None,
            shows: Some(format!("\"resource\":\"{resource}\"")),
        },
        Call {
            expect: 401,
            why: "no token: the challenge names the metadata document",
            body: Some(tool_call(1, "whoami", json!({}))),
            token: None,
            shows: Some(format!("resource_metadata=\"{metadata_url}\"")),
        },
        Call {
            expect: 200,
            why: "initialize",
            body: Some(json!({
                "jsonrpc": "2.0", "id": 1, "method": "initialize",
                "params": {
                    "protocolVersion": "2025-06-18", "capabilities": {},
                    "clientInfo": { "name": "curl", "version": "1" },
                },
            })),
            token: Some(read.clone()),
            shows: Some("\"serverInfo\"".to_owned()),
        },
        Call {
            expect: 200,
            why: "tools/list",
            body: Some(json!({ "jsonrpc": "2.0", "id": 2, "method": "tools/list" })),
            token: Some(read.clone()),
            shows: Some("send_message".to_owned()),
        },
        Call {
            expect: 200,
            why: "whoami reads the token's claims in the tool",
            body: Some(tool_call(3, "whoami", json!({}))),
            token: Some(read.clone()),
            shows: Some(format!("{}@clients", demo.client_id)),
        },
        Call {
            expect: 200,
            why: "read_messages: the token has read:messages",
            body: Some(tool_call(4, "read_messages", json!({}))),
            token: Some(read.clone()),
            shows: Some("Welcome".to_owned()),
        },
        Call {
            expect: 403,
            why: "send_message needs write:messages too; scope= lists all it needs",
            body: Some(tool_call(5, "send_message", json!({ "text": "hi" }))),
            token: Some(read),
            shows: Some(format!("scope=\"{READ} {WRITE}\"")),
        },
        Call {
            expect: 200,
            why: "after the step-up: a token with read:messages write:messages",
            body: Some(tool_call(6, "send_message", json!({ "text": "hi" }))),
            token: Some(read_write),
            shows: Some("\"text\\\":\\\"hi\\\"".to_owned()),
        },
        Call {
            expect: 401,
            why: "a token issued for another resource (aud https://api.example.com)",
            body: Some(tool_call(7, "whoami", json!({}))),
            token: Some(other),
            shows: Some("error=\"invalid_token\"".to_owned()),
        },
    ];
    for call in &calls {
        println!("# expect {} ({})", call.expect, call.why);
        match &call.body {
            None => println!("curl -i {metadata_url}\n"),
            Some(body) => {
                let auth = call.token.as_ref().map_or(String::new(), |token| {
                    format!(" \\\n  -H 'Authorization: Bearer {token}'")
                });
                println!(
                    "curl -i {base}/mcp{auth} \\\n  \
                     -H 'Content-Type: application/json' \
                     -H 'Accept: application/json, text/event-stream' \\\n  \
                     -d '{body}'\n"
                );
            }
        }
    }
    Ok(calls)
}

/// Makes the requests and compares each answer with its label.
async fn check(base: &str, calls: &[Call]) -> bool {
    let client = reqwest::Client::new();
    let mut all_ok = true;
    for call in calls {
        let (label, request) = match &call.body {
            None => (
                "GET metadata".to_owned(),
                client.get(format!("{base}/.well-known/oauth-protected-resource/mcp")),
            ),
            Some(body) => {
                let method = body["method"].as_str().unwrap_or_default();
                let name = body["params"]["name"].as_str().unwrap_or_default();
                let request = client
                    .post(format!("{base}/mcp"))
                    .header("content-type", "application/json")
                    .header("accept", "application/json, text/event-stream")
                    .body(body.to_string());
                (format!("{method} {name}"), request)
            }
        };
        let request = match &call.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let (status, text) = match request.send().await {
            Ok(response) => {
                let status = response.status().as_u16();
                let challenge = response
                    .headers()
                    .get("www-authenticate")
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let body = response.text().await.unwrap_or_default();
                (status, format!("{challenge}\n{body}"))
            }
            Err(error) => {
                println!("check: {label} failed: {error}");
                all_ok = false;
                continue;
            }
        };
        let shown = call.shows.as_ref().is_none_or(|shows| text.contains(shows));
        let ok = status == call.expect && shown;
        all_ok &= ok;
        let verdict = if ok { "ok" } else { "WRONG" };
        println!(
            "check: {label:<28} expected {} got {status} {verdict}",
            call.expect
        );
        if !shown {
            println!("  expected to see {:?} in:\n  {text}", call.shows);
        }
    }
    all_ok
}

#[tokio::main]
async fn main() -> ExitCode {
    let check_only = env::args().skip(1).any(|arg| arg == "--check");
    let bind = var("BIND").unwrap_or_else(|| "127.0.0.1:3011".to_owned());
    let listener = match tokio::net::TcpListener::bind(&bind).await {
        Ok(listener) => listener,
        Err(error) => {
            eprintln!("cannot listen on {bind}: {error}");
            return ExitCode::FAILURE;
        }
    };
    let base = format!(
        "http://{}",
        listener.local_addr().map_or(bind, |a| a.to_string())
    );

    // The canonical URI: the audience of this server's tokens and the metadata's `resource`.
    // Demo mode: an embedded issuer, which must live as long as the server.
    let (demo, resource) = match var("ISSUER") {
        None => {
            let resource = format!("{base}/mcp");
            (Some(Demo::start(&resource).await), resource)
        }
        Some(_) => (None, var("AUDIENCE").unwrap_or_default()),
    };
    let metadata_url = ProtectedResourceMetadata::new(&resource).url();
    let validator = match configure(demo.as_ref(), &resource)
        .resource_metadata(&metadata_url)
        .build()
    {
        Ok(validator) => validator,
        Err(error) => {
            eprintln!("invalid bearer-guard configuration:");
            for problem in error.problems() {
                eprintln!("  - {problem}");
            }
            eprintln!("set ISSUER, and AUDIENCE to this server's canonical URI");
            eprintln!("(https://mcp.example.com/mcp); optionally JWKS_URI");
            return ExitCode::from(2);
        }
    };
    println!("validating with {validator:?}");
    let metadata = ProtectedResourceMetadata::new(&resource)
        .scopes_supported([READ, WRITE])
        .resource_name("Messages MCP server")
        .authorization_servers_of(&validator);

    // rmcp refuses Host headers it does not know (DNS rebinding): loopback, and the host of
    // the canonical URI.
    let mut allowed_hosts = vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".into()];
    if let Some(host) = url::Url::parse(&resource)
        .ok()
        .and_then(|url| url.host_str().map(str::to_owned))
    {
        allowed_hosts.push(host);
    }
    let app = match app(validator, &metadata, allowed_hosts) {
        Ok(app) => app,
        Err(error) => {
            eprintln!("the tools and their scopes disagree: {error}");
            return ExitCode::from(2);
        }
    };
    println!("MCP endpoint {base}/mcp, metadata at {metadata_url}");
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    if let Some(demo) = &demo {
        let calls = match print_demo(demo, &base, &resource).await {
            Ok(calls) => calls,
            Err(error) => {
                eprintln!("{error}");
                return ExitCode::FAILURE;
            }
        };
        if check_only {
            return if check(&base, &calls).await {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
    } else if check_only {
        eprintln!("--check needs the demo issuer (no ISSUER)");
        return ExitCode::from(2);
    }

    match server.await {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(error)) => {
            eprintln!("server stopped: {error}");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("server task failed: {error}");
            ExitCode::FAILURE
        }
    }
}
