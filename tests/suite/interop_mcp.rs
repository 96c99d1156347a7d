//! Interop with a real MCP client: the official TypeScript SDK (`@modelcontextprotocol/sdk`,
//! tests/interop/mcp_client.mjs: its streamable HTTP transport and client-credentials auth
//! provider) against the router of `examples/mcp_server` on loopback, with tokens from
//! oidc-provider (tests/interop/provider.mjs) issued for the server's canonical URI by RFC 8707
//! `resource`. The test needs Node.js >= 20 and npm on `PATH`, installs the npm packages on
//! first use, and fails (never skips) without them.

use crate::common;
use crate::mcp_example::mcp_server::{self, READ, WRITE};

use std::process::{Command, Stdio};

use bearer_guard::{ProtectedResourceMetadata, Validator};
use common::oidc_provider::{CLIENT, Provider, ProviderOptions, interop_dir};
use serde_json::{Value, json};

/// The exchanges the client made with `url` (and `method`), in order.
fn exchanges<'a>(out: &'a Value, method: &str, url: &str) -> Vec<&'a Value> {
    out["exchanges"]
        .as_array()
        .expect("exchanges")
        .iter()
        .filter(|exchange| exchange["method"] == method && exchange["url"] == url)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typescript_sdk_discovers_gets_a_token_for_the_resource_calls_tools_and_steps_up() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let resource = format!("{base}/mcp");
    let provider = Provider::start(&ProviderOptions {
        resource: Some(resource.clone()),
        ..ProviderOptions::default()
    });

    let metadata = ProtectedResourceMetadata::new(&resource).scopes_supported([READ, WRITE]);
    let metadata_url = metadata.url();
    let validator = Validator::builder()
        .issuer(provider.issuer.as_str())
        .audience(resource.as_str())
        .resource_metadata(&metadata_url)
        .build()
        .unwrap();
    let metadata = metadata.authorization_servers_of(&validator);
    let app = mcp_server::app(validator, &metadata, vec!["127.0.0.1".to_owned()]).unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    // The client starts with the least privilege: read:messages only.
    let mut node = Command::new("node");
    node.current_dir(interop_dir())
        .args(["mcp_client.mjs", &resource, &provider.issuer])
        .args([CLIENT.0, CLIENT.1, READ])
        .stdin(Stdio::null());
    let output = tokio::task::spawn_blocking(move || node.output())
        .await
        .unwrap()
        .expect("`node` runs (the interop test needs Node.js >= 20 on PATH)");
    server.abort();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{}\n{stderr}",
        String::from_utf8_lossy(&output.stdout)
    );
    let out: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");

    // Discovery from the 401: the first POST has no token and gets the challenge naming the
    // metadata document, which the SDK then reads, and the issuer's metadata after it.
    let posts = exchanges(&out, "POST", &resource);
    assert_eq!(posts[0]["status"], 401, "{out}");
    assert_eq!(
        posts[0]["challenge"],
        format!("Bearer resource_metadata=\"{metadata_url}\"")
    );
    let documents = exchanges(&out, "GET", &metadata_url);
    assert_eq!(
        documents.first().map(|d| &d["status"]),
        Some(&json!(200)),
        "{out}"
    );

    // Every token request is a client-credentials grant naming this server as `resource`:
    // read:messages until the step-up, then both scopes.
    let token_requests: Vec<&Value> = out["exchanges"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|exchange| exchange.get("form").is_some())
        .collect();
    assert!(token_requests.len() >= 2, "{out}");
    for request in &token_requests {
        assert_eq!(request["status"], 200, "{out}");
        assert_eq!(request["form"]["grant_type"], "client_credentials");
        assert_eq!(request["form"]["resource"], resource.as_str());
    }
    let (last, before) = token_requests.split_last().unwrap();
    assert!(
        before
            .iter()
            .all(|request| request["form"]["scope"] == READ),
        "{out}"
    );
    assert_eq!(last["form"]["scope"], format!("{READ} {WRITE}"));

    // initialize, tools/list and the calls the token allows.
    assert_eq!(out["server"], "rmcp", "{out}");
    assert_eq!(
        out["tools"],
        json!(["read_messages", "send_message", "whoami"])
    );
    assert_eq!(out["whoami"]["client_id"], CLIENT.0);
    assert_eq!(out["whoami"]["scopes"], json!([READ]));
    assert_eq!(out["read"][0]["from"], "system");

    // send_message with read:messages only: 403 naming every scope the call needs; the SDK
    // retries with a token of the same scope and gives up.
    let refusals: Vec<&Value> = posts
        .iter()
        .copied()
        .filter(|exchange| exchange["status"] == 403)
        .collect();
    assert!(!refusals.is_empty(), "{out}");
    for refusal in &refusals {
        assert_eq!(refusal["tool"], "send_message");
        assert_eq!(
            refusal["challenge"],
            format!(
                "Bearer error=\"insufficient_scope\", error_description=\"the token does not \
                 have the scopes this resource requires\", scope=\"{READ} {WRITE}\", \
                 resource_metadata=\"{metadata_url}\""
            )
        );
    }
    assert!(
        out["refused"]["message"].as_str().unwrap().contains("403"),
        "{out}"
    );
    assert_eq!(out["challenge_scope"], format!("{READ} {WRITE}"));

    // The step-up: the union of its scopes and the 403's, and the message goes through, and
    // stays (the example keeps what it is sent).
    assert_eq!(out["stepped_up"], json!([READ, WRITE]));
    assert_eq!(out["sent"]["text"], "from the TypeScript SDK");
    assert_eq!(out["sent"]["from"], CLIENT.0);
    assert_eq!(out["read_after"][1]["text"], "from the TypeScript SDK");

    // Nothing of the client's secret in what it printed.
    assert!(!String::from_utf8_lossy(&output.stdout).contains(CLIENT.1));
}
