//! Certificate-bound tokens (RFC 8705 §3) over real TLS on loopback: the rustls acceptor of
//! `examples/mtls_server.rs` (the same code, compiled in), a throwaway CA from rcgen, and
//! reqwest clients (rustls) that present a client certificate, another one, or none.

#[allow(dead_code)]
#[path = "../../examples/mtls_server.rs"]
mod mtls_server;

use std::sync::Arc;

use axum::routing::get;
use axum::{Extension, Json, Router};
use bearer_guard::dpop::{Binding, ClientCertificate, Mtls};
use bearer_guard::testing::{TestIssuer, certificate_thumbprint as thumbprint};
use bearer_guard::{BearerLayer, VerifiedClaims, error::TokenProblem};
use http::StatusCode;
use mtls_server::{DemoCa, Issued, serve, server_config};
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

/// The handler of the mTLS router: how the token was bound, and its subject.
async fn binding(Extension(claims): Extension<VerifiedClaims>) -> Json<Value> {
    let binding = match claims.binding() {
        Binding::Bearer => json!("bearer"),
        Binding::Mtls { x5t_s256 } => json!({ "mtls": x5t_s256 }),
        other => json!(format!("{other:?}")),
    };
    Json(json!({ "sub": claims.subject(), "binding": binding }))
}

#[tokio::test]
async fn a_certificate_bound_token_passes_only_over_a_connection_with_that_certificate() {
    let issuer = TestIssuer::start().await;
    let validator = issuer.validator().mtls(Mtls::new()).build().unwrap();
    let app = Router::new()
        .route("/api/private", get(binding))
        .layer(BearerLayer::new(validator));
    let ca = DemoCa::new("test CA");
    let url = format!("{}/api/private", start_tls(&ca, app).await);
    let (alice, bob) = (
        ca.issue("alice", &["alice.example"]),
        ca.issue("bob", &["bob.example"]),
    );
    let (with_alice, with_bob, anonymous) = (
        client(&ca, Some(&alice)),
        client(&ca, Some(&bob)),
        client(&ca, None),
    );

    // Bound to Alice's certificate: 200 over Alice's connection, and the handler is told so.
    let bound = issuer
        .token()
        .certificate_bound(&thumbprint(&alice.der))
        .sign();
    let (status, body) = get_json(&with_alice, &url, Some(&bound)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["binding"], json!({ "mtls": thumbprint(&alice.der) }));

    // The same token over Bob's connection (same CA, valid certificate) or with none: 401.
    let refusals = [
        (&with_bob, TokenProblem::CertificateMismatch),
        (&anonymous, TokenProblem::CertificateMissing),
    ];
    for (client, problem) in refusals {
        let (status, body) = get_json(client, &url, Some(&bound)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{problem:?}: {body}");
        assert_eq!(body["error"], "invalid_token", "{problem:?}: {body}");
        assert_eq!(body["error_description"], problem.to_string(), "{body}");
    }

    // A token without `cnf` is a bearer token, with or without a client certificate.
    let plain = issuer.token().sign();
    for (who, client) in [("alice", &with_alice), ("no certificate", &anonymous)] {
        let (status, body) = get_json(client, &url, Some(&plain)).await;
        assert_eq!(status, StatusCode::OK, "{who}: {body}");
        assert_eq!(body["binding"], "bearer", "{who}");
    }
}

#[tokio::test]
async fn without_mtls_binding_a_certificate_bound_token_is_refused_even_with_its_certificate() {
    let issuer = TestIssuer::start().await;
    let app = Router::new()
        .route("/api/private", get(binding))
        .layer(BearerLayer::new(issuer.validator().build().unwrap()));
    let ca = DemoCa::new("test CA");
    let url = format!("{}/api/private", start_tls(&ca, app).await);
    let alice = ca.issue("alice", &["alice.example"]);
    let bound = issuer
        .token()
        .certificate_bound(&thumbprint(&alice.der))
        .sign();
    let (status, body) = get_json(&client(&ca, Some(&alice)), &url, Some(&bound)).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a binding the layer does not check: {body}"
    );
}
