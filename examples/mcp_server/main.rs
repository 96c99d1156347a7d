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
//! | any other path | nothing: 404, never a challenge (only `/mcp` is behind the layer) |
//!
//! The messages sent are kept for the life of the process (one store shared by every
//! request), so a `read_messages` after a `send_message` shows it.
//!
//! The scopes are declared next to the tools (`Messages::SCOPES`) and checked against the
//! tool router at start-up. A call without a needed scope gets 403 `insufficient_scope` with
//! `scope="<every scope of the call>"` and `resource_metadata=`; a missing or invalid token
//! gets 401 with `resource_metadata=`, which MCP clients follow to the metadata document and
//! from there to the authorization server, and `scope="read:messages"`, the scope to start
//! with (writing is the step up).
//!
//! This file is the part to copy: the tools, their scopes, the router and `main`. With no
//! configuration, an embedded issuer walks an MCP client's flow (`demo.rs`: the issuer, the
//! printed `curl` commands and `--check`).
//!
//! ```text
//! cargo run --example mcp_server
//! cargo run --example mcp_server -- --check   # make those requests itself and exit
//! RUST_LOG=bearer_guard=debug cargo run --example mcp_server   # log why each request is refused
//! ```
//!
//! Logs go to stderr, filtered by `RUST_LOG` (warnings only without it). The effective
//! configuration is printed at start-up.
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

mod demo;

use std::env;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use axum::Router;
use bearer_guard::mcp::{McpScopes, ToolScope};
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
use tracing_subscriber::EnvFilter;

use demo::Demo;

/// The scope that reads the messages.
pub const READ: &str = "read:messages";
/// The scope that, with `READ`, sends one.
pub const WRITE: &str = "write:messages";

/// The messages, shared by every request: rmcp builds a `Messages` per request (stateless
/// mode) or per session, so the store must live outside it. One process keeps it in memory;
/// replicas would share a database instead (see the README's MCP section).
pub type Store = Arc<Mutex<Vec<Value>>>;

// ---------------------------------------------------------------------------------------------
// The MCP server: three tools, and the scopes each needs, declared next to them.

#[derive(Clone)]
struct Messages {
    tool_router: ToolRouter<Self>,
    messages: Store,
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
    fn new(messages: Store) -> Self {
        Messages {
            tool_router: Self::tool_router(),
            messages,
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

/// A store holding the welcome message.
fn welcome() -> Store {
    Arc::new(Mutex::new(vec![json!({
        "from": "system",
        "text": "Welcome to the messages MCP server.",
    })]))
}

/// The router: `/mcp` behind `BearerLayer` and `McpScopes`, the RFC 9728 document outside,
/// and every other path a plain 404 (not a challenge: clients probe well-known paths).
pub fn app(
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
    // One store for every request: the factory runs per request, each gets a handle to it.
    let store = welcome();
    let mcp = StreamableHttpService::new(
        move || Ok(Messages::new(Arc::clone(&store))),
        Arc::new(LocalSessionManager::default()),
        config,
    );
    // `route_layer`, not `layer`: only the routes above it are behind the layer. `layer`
    // would also wrap the router's fallback, so that an unknown path (a client probing
    // `/.well-known/oauth-protected-resource` at the root) got a 401 challenge, not a 404.
    Ok(Router::new()
        .route_service("/mcp", scopes.layer_on(mcp))
        .route_layer(BearerLayer::new(validator))
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

#[tokio::main]
async fn main() -> ExitCode {
    // On stderr, so that stdout stays the demo's commands and `--check` lines.
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
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
    // The 401 names the metadata document and the scope a client should start with: every
    // session reads, writing is the step up.
    let scopes = ProtectedResourceMetadata::new(&resource).scopes_supported([READ, WRITE]);
    let validator = match configure(demo.as_ref(), &resource)
        .protected_resource(&scopes)
        .initial_scopes([READ])
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
    // The effective configuration: the validator's Debug names the issuer, the audience and
    // the algorithms (no secret); the key set is the issuer's, by discovery unless JWKS_URI.
    let jwks_uri = var("JWKS_URI").filter(|_| demo.is_none());
    println!(
        "key set from {}",
        jwks_uri
            .as_deref()
            .unwrap_or("the issuer's metadata (discovery)")
    );
    let metadata = scopes
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
    println!("MCP endpoint {base}/mcp, metadata at {}", metadata.url());
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    if let Some(demo) = &demo {
        if let Some(exit) = demo.run(&base, &resource, check_only).await {
            return exit;
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
