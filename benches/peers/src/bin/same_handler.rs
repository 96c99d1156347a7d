//! A control for `scripts/load.sh`: the quickstart's two routes with the *same* handler, so
//! that wrk against them measures bearer-guard's cost over HTTP and nothing else (the
//! quickstart's `/api/private` handler also extracts the claims and writes them back).
//!
//! ```text
//! cd benches/peers && cargo run --release --bin same_handler    # prints the port and a token
//! wrk -t2 -c32 -d10s http://127.0.0.1:PORT/api/public
//! wrk -t2 -c32 -d10s -H "Authorization: Bearer TOKEN" http://127.0.0.1:PORT/api/private
//! ```

use axum::Router;
use axum::routing::get;
use bearer_guard::BearerLayer;
use bearer_guard::testing::TestIssuer;

async fn hello() -> &'static str {
    "{\"message\":\"Hello\"}"
}

#[tokio::main]
async fn main() {
    let issuer = TestIssuer::start().await;
    let validator = issuer.validator().build().expect("validator");
    validator.warm_up().await.expect("key set");
    let app = Router::new()
        .route("/api/private", get(hello))
        .layer(BearerLayer::new(validator))
        .route("/api/public", get(hello));
    let bind = std::env::var("BIND").unwrap_or_else(|_| "127.0.0.1:0".into());
    let listener = tokio::net::TcpListener::bind(&bind).await.expect("bind");
    println!("listening on http://{}", listener.local_addr().unwrap());
    println!("token {}", issuer.token().scope("read:messages").sign());
    axum::serve(listener, app).await.expect("serve");
}
