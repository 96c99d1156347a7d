//! Certificate-bound access tokens (RFC 8705 §3) behind a TLS server of your own: a rustls
//! acceptor that asks every client for a certificate, hands the certificate to the layer as a
//! [`ClientCertificate`] request extension, and serves an axum router behind [`BearerLayer`]
//! with mTLS binding on. A token whose `cnf["x5t#S256"]` names a certificate is accepted only
//! over a connection that presented that certificate; a token without `cnf` is a plain bearer
//! token.
//!
//! ```text
//! cargo run --example mtls_server                     # listens on 127.0.0.1:3443
//! BIND=127.0.0.1:8443 cargo run --example mtls_server
//! ```
//!
//! With no configuration it makes a throwaway CA, a server certificate for `127.0.0.1` and a
//! client certificate, starts an embedded issuer, mints a token bound to the client
//! certificate, writes the PEM files to a temporary directory and prints `curl` commands: with
//! the client certificate (200) and without it (401). For your own certificates, build the
//! [`ServerConfig`] with [`server_config`] from PEM files (`CertificateDer::pem_file_iter`,
//! `PrivateKeyDer::from_pem_file` of `rustls::pki_types::pem::PemObject`) and the CA that
//! issues your clients' certificates.
//!
//! The TLS part is the few lines of [`serve_connection`]: after the handshake, the first
//! certificate the peer presented (its end-entity certificate) goes into the extensions of
//! every request of that connection. Connections without a certificate are accepted (bearer
//! tokens still work over them); a certificate the CA did not issue fails the handshake.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::routing::get;
use axum::{Extension, Json, Router};
use bearer_guard::dpop::{ClientCertificate, Mtls};
use bearer_guard::testing::{TestIssuer, certificate_thumbprint};
use bearer_guard::{BearerLayer, VerifiedClaims};
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::RootCertStore;
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use serde_json::json;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;
use tracing_subscriber::EnvFilter;

/// A TLS server configuration that asks clients for a certificate issued by one of
/// `client_roots` (and accepts clients without one), on rustls' aws-lc-rs provider.
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    client_roots: RootCertStore,
) -> Result<ServerConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(client_roots), provider.clone())
            // Bearer tokens need no certificate; a certificate-bound token without one is
            // refused by the layer, not by the handshake.
            .allow_unauthenticated()
            .build()
            .map_err(|error| rustls::Error::General(error.to_string()))?;
    ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
}

/// Accepts TLS connections on `listener` and serves `app` on each, forever.
pub async fn serve(listener: TcpListener, config: Arc<ServerConfig>, app: Router) {
    let acceptor = TlsAcceptor::from(config);
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(serve_connection(
            stream,
            peer,
            acceptor.clone(),
            app.clone(),
        ));
    }
}

/// One connection: the TLS handshake, then HTTP/1.1 with the client's certificate (if it
/// presented one) on every request as a [`ClientCertificate`].
pub async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    app: Router,
) {
    let tls = match acceptor.accept(stream).await {
        Ok(tls) => tls,
        Err(error) => return eprintln!("{peer}: TLS handshake failed: {error}"),
    };
    let certificate = tls
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first())
        .map(|der| ClientCertificate(Bytes::copy_from_slice(der)));
    let service = hyper::service::service_fn(move |mut request: http::Request<Incoming>| {
        if let Some(certificate) = &certificate {
            request.extensions_mut().insert(certificate.clone());
        }
        app.clone().oneshot(request)
    });
    if let Err(error) = http1::Builder::new()
        .serve_connection(TokioIo::new(tls), service)
        .await
    {
        eprintln!("{peer}: {error}");
    }
}

/// A throwaway certificate authority for the demo and the tests.
pub struct DemoCa {
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate (DER): the client roots of the server, the server root of clients.
    pub der: CertificateDer<'static>,
    /// The CA certificate in PEM.
    pub pem: String,
}

/// A certificate the [`DemoCa`] issued, with its private key.
pub struct Issued {
    /// The certificate (DER).
    pub der: CertificateDer<'static>,
    /// The certificate, then its PKCS #8 private key, in PEM (reqwest's `Identity::from_pem`).
    pub pem: String,
    key: KeyPair,
}

impl DemoCa {
    /// A new CA with an ECDSA P-256 key.
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::new()).expect("no names");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().expect("a P-256 key");
        let certificate = params.self_signed(&key).expect("a CA certificate");
        DemoCa {
            issuer: Issuer::new(params, key),
            der: certificate.der().clone(),
            pem: certificate.pem(),
        }
    }

    /// A certificate for `names` (DNS names or IP addresses), for a server or a client.
    pub fn issue(&self, common_name: &str, names: &[&str]) -> Issued {
        let names = names
            .iter()
            .map(|name| name.to_string())
            .collect::<Vec<_>>();
        let mut params = CertificateParams::new(names).expect("valid names");
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        let key = KeyPair::generate().expect("a P-256 key");
        let certificate = params.signed_by(&key, &self.issuer).expect("a certificate");
        Issued {
            pem: format!("{}{}", certificate.pem(), key.serialize_pem()),
            der: certificate.der().clone(),
            key,
        }
    }

    /// The client roots of a server that trusts this CA.
    pub fn roots(&self) -> RootCertStore {
        let mut roots = RootCertStore::empty();
        roots.add(self.der.clone()).expect("a valid CA certificate");
        roots
    }
}

impl Issued {
    /// The private key, for [`server_config`].
    pub fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivatePkcs8KeyDer::from(self.key.serialize_der()).into()
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Logs on stderr, filtered by RUST_LOG (`bearer_guard=debug`: each refusal and why).
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let issuer = TestIssuer::start().await;
    let validator = issuer.validator().mtls(Mtls::new()).build()?;
    println!("validating with {validator:?}, certificate-bound tokens (mTLS)");
    let app = Router::new()
        .route(
            "/api/private",
            get(|Extension(claims): Extension<VerifiedClaims>| async move {
                Json(json!({ "sub": claims.subject(), "cnf": claims.all().get("cnf") }))
            }),
        )
        .layer(BearerLayer::new(validator));

    let ca = DemoCa::new("bearer-guard demo CA");
    let server = ca.issue("127.0.0.1", &["127.0.0.1", "localhost"]);
    let client = ca.issue("demo-client", &["demo-client.example"]);
    let config = server_config(vec![server.der.clone()], server.private_key(), ca.roots())?;

    let dir = std::env::temp_dir().join(format!("bearer-guard-mtls-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join("ca.pem"), &ca.pem)?;
    std::fs::write(dir.join("client.pem"), &client.pem)?;
    let token = issuer
        .token()
        .certificate_bound(&certificate_thumbprint(&client.der))
        .sign();

    let listener =
        TcpListener::bind(std::env::var("BIND").as_deref().unwrap_or("127.0.0.1:3443")).await?;
    let url = format!("https://{}/api/private", listener.local_addr()?);
    let files = dir.display();
    println!("A token bound to {files}/client.pem (cnf.x5t#S256):\n\nTOKEN={token}\n");
    println!("# 200: the certificate the token is bound to");
    println!(
        "curl --cacert {files}/ca.pem --cert {files}/client.pem -H \"Authorization: Bearer $TOKEN\" {url}"
    );
    println!("# 401: no client certificate");
    println!("curl --cacert {files}/ca.pem -H \"Authorization: Bearer $TOKEN\" {url}");
    serve(listener, Arc::new(config), app).await;
    Ok(())
}
