//! Certificate-bound tokens (RFC 8705 §3) over real TLS on loopback: the rustls acceptor of
//! `examples/mtls_server.rs` (the same code, compiled in), a throwaway CA from rcgen, and
//! reqwest clients (rustls) that present a client certificate, another one, or none.

#[allow(dead_code)]
#[path = "../examples/mtls_server.rs"]
mod mtls_server;

use std::sync::Arc;

use axum::routing::get;
use axum::{Extension, Json, Router};
use bearer_guard::dpop::ClientCertificate;
use http::StatusCode;
use mtls_server::{DemoCa, Issued, serve, server_config, thumbprint};
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// A TLS server for `app` on a free loopback port, trusting client certificates of `ca`;
/// returns its base URL (`https://127.0.0.1:PORT`).
async fn start_tls(ca: &DemoCa, app: Router) -> String {
    let server = ca.issue("127.0.0.1", &["127.0.0.1"]);
    let config = server_config(vec![server.der.clone()], server.private_key(), ca.roots())
        .expect("a valid TLS configuration");
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("https://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(listener, Arc::new(config), app));
    url
}

/// A client that trusts `ca` for the server and presents `identity`, if any.
fn client(ca: &DemoCa, identity: Option<&Issued>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_der(&ca.der).unwrap()])
        .no_proxy();
    if let Some(identity) = identity {
        builder = builder.identity(reqwest::Identity::from_pem(identity.pem.as_bytes()).unwrap());
    }
    builder.build().expect("a TLS client")
}

/// What the client sees: the status and the JSON body.
async fn get_json(client: &reqwest::Client, url: &str, token: Option<&str>) -> (StatusCode, Value) {
    let mut request = client.get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("the TLS server answers");
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

#[tokio::test]
async fn the_acceptor_puts_the_client_certificate_on_every_request() {
    let ca = DemoCa::new("test CA");
    let app = Router::new().route(
        "/certificate",
        get(
            |certificate: Option<Extension<ClientCertificate>>| async move {
                Json(json!({ "x5t#S256": certificate.map(|Extension(c)| thumbprint(&c.0)) }))
            },
        ),
    );
    let url = format!("{}/certificate", start_tls(&ca, app).await);
    let (alice, bob) = (
        ca.issue("alice", &["alice.example"]),
        ca.issue("bob", &["bob.example"]),
    );

    let with_alice = client(&ca, Some(&alice));
    for _ in 0..2 {
        // Each request of the connection carries the certificate of its handshake.
        let (status, body) = get_json(&with_alice, &url, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body["x5t#S256"], thumbprint(&alice.der));
    }
    let (_, body) = get_json(&client(&ca, Some(&bob)), &url, None).await;
    assert_eq!(body["x5t#S256"], thumbprint(&bob.der));
    let (status, body) = get_json(&client(&ca, None), &url, None).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a client without a certificate is served"
    );
    assert_eq!(body["x5t#S256"], Value::Null);

    // A certificate from another CA fails the handshake: no request reaches the router.
    let stranger = DemoCa::new("another CA").issue("mallory", &["mallory.example"]);
    let refused = client(&ca, Some(&stranger)).get(&url).send().await;
    assert!(refused.is_err(), "{refused:?}");
}
