//! The MCP server's demo: with no `ISSUER`, an embedded issuer, the printed `curl` commands
//! and `--check`. Nothing here is needed by an MCP server: it stands in for the authorization
//! server and the MCP client.
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

use std::process::ExitCode;

use bearer_guard::testing::{Api, TestIssuer, generate_secret};
use serde_json::{Value, json};

use super::{READ, WRITE};

/// An API of the same issuer that is not this server: its tokens are refused here.
const OTHER_API: &str = "https://api.example.com";

/// The embedded issuer: the MCP server registered as an API, one client.
pub struct Demo {
    pub issuer: TestIssuer,
    client_id: &'static str,
    client_secret: String,
}

impl Demo {
    /// The issuer with this server registered as an API, and one client.
    pub async fn start(resource: &str) -> Self {
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

    /// Prints the demo for the server at `base`; with `check_only`, makes its calls and
    /// returns the exit status (`None`: keep serving).
    pub async fn run(&self, base: &str, resource: &str, check_only: bool) -> Option<ExitCode> {
        let calls = match print_demo(self, base, resource).await {
            Ok(calls) => calls,
            Err(error) => {
                eprintln!("{error}");
                return Some(ExitCode::FAILURE);
            }
        };
        if !check_only {
            return None;
        }
        Some(if check(base, &calls).await {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
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
            token: Some(read.clone()),
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
            expect: 200,
            why: "read_messages shows the message sent: the store outlives each request",
            body: Some(tool_call(7, "read_messages", json!({}))),
            token: Some(read),
            shows: Some("\\\"text\\\":\\\"hi\\\"".to_owned()),
        },
        Call {
            expect: 401,
            why: "a token issued for another resource (aud https://api.example.com)",
            body: Some(tool_call(8, "whoami", json!({}))),
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
