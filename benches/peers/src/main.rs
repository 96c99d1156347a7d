//! bearer-guard against its peers: the same axum route (`GET /api/private`) protected by
//! bearer-guard, by oauth-resource-server and by jwt-authorizer, each in its documented way,
//! driven through the router with tower `oneshot`, in one process, on the same RS256 tokens
//! and the same key set (a loopback [`TestIssuer`] serving a JWKS).
//!
//! - *new token*: every request carries a token that request has never seen (distinct `jti`;
//!   the tokens are minted up front, each used once per router);
//! - *repeated token*: every request carries the same token.
//!
//! Each router checks issuer, audience, expiry and signature. bearer-guard runs with its
//! defaults (verified-token cache on); the peers keep no verified-token cache. jwt-authorizer
//! 0.15 is written for axum 0.7, so its route is an axum 0.7 `Router`; the others are axum 0.8.
//!
//! ```text
//! cd benches/peers && cargo run --release
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{HeaderValue, Request, StatusCode, header};
use bearer_guard::BearerLayer;
use bearer_guard::testing::{DEFAULT_AUDIENCE, TestIssuer, TokenBuilder};
use jwt_authorizer::{IntoLayer, JwtAuthorizer, RegisteredClaims, Validation};
use oauth_resource_server::axum::AuthLayer;
use oauth_resource_server::{KeyNaming, OAuthConfig, OAuthValidator};
use tower::ServiceExt;

/// Rounds per case, interleaved between the routers; the best and the median are kept.
const ROUNDS: usize = 9;
/// New-token requests per router and round.
const NEW_TOKEN_CALLS: usize = 400;
/// How long one round of repeated-token requests should take.
const ROUND_TIME: Duration = Duration::from_millis(50);

#[derive(Clone)]
struct Token {
    authorization: HeaderValue,
}

impl Token {
    fn new(jwt: &str) -> Self {
        Token {
            authorization: HeaderValue::from_str(&format!("Bearer {jwt}")).unwrap(),
        }
    }
}

/// A protected route. jwt-authorizer's is an axum 0.7 router.
enum App {
    Axum(axum::Router),
    Axum07(axum07::Router),
}

impl App {
    fn route() -> axum::Router {
        axum::Router::new().route("/api/private", axum::routing::get(|| async { "private" }))
    }

    async fn status(&self, token: &Token) -> StatusCode {
        match self {
            App::Axum(app) => {
                let request = Request::get("/api/private")
                    .header(header::AUTHORIZATION, token.authorization.clone())
                    .body(Body::empty())
                    .unwrap();
                app.clone().oneshot(request).await.unwrap().status()
            }
            App::Axum07(app) => {
                let request = Request::get("/api/private")
                    .header(header::AUTHORIZATION, token.authorization.clone())
                    .body(axum07::body::Body::empty())
                    .unwrap();
                app.clone().oneshot(request).await.unwrap().status()
            }
        }
    }

    /// `tokens` in order; every request must pass.
    async fn run(&self, tokens: &[Token], calls: usize) -> Duration {
        let start = Instant::now();
        for token in tokens.iter().cycle().take(calls) {
            let status = self.status(token).await;
            assert_eq!(status, StatusCode::OK);
        }
        start.elapsed()
    }
}

struct Peer {
    name: &'static str,
    app: App,
}

async fn bearer_guard(issuer: &TestIssuer) -> App {
    let validator = issuer
        .validator()
        .jwks_uri(issuer.jwks_uri())
        .build()
        .expect("bearer-guard validator");
    validator.warm_up().await.expect("bearer-guard key set");
    App::Axum(App::route().layer(BearerLayer::new(validator)))
}

async fn oauth_resource_server(issuer: &TestIssuer) -> App {
    let config = OAuthConfig {
        enabled: true,
        issuer: issuer.issuer().to_owned(),
        jwks_uri: Some(issuer.jwks_uri()),
        audience: DEFAULT_AUDIENCE.to_owned(),
        resource: "http://127.0.0.1/api".to_owned(),
        // Authenticate only, as the other two do here: no scope required.
        allow_unscoped_tokens: true,
        ..OAuthConfig::default()
    };
    let resolved = config
        .resolve(KeyNaming::Dotted("oauth"))
        .expect("oauth-resource-server config")
        .expect("enabled");
    let validator = Arc::new(OAuthValidator::new(&resolved).expect("oauth-resource-server"));
    validator
        .refresh_now()
        .await
        .expect("oauth-resource-server key set");
    let layer = AuthLayer::builder()
        .oauth(validator)
        .build()
        .expect("oauth-resource-server layer");
    App::Axum(App::route().layer(layer))
}

async fn jwt_authorizer(issuer: &TestIssuer) -> App {
    let validation = Validation::new()
        .iss(&[issuer.issuer()])
        .aud(&[DEFAULT_AUDIENCE]);
    let authorizer = JwtAuthorizer::<RegisteredClaims>::from_jwks_url(&issuer.jwks_uri())
        .validation(validation)
        .build()
        .await
        .expect("jwt-authorizer");
    let app = axum07::Router::new()
        .route("/api/private", axum07::routing::get(|| async { "private" }))
        .layer(authorizer.into_layer());
    App::Axum07(app)
}

/// `count` tokens with distinct `jti`s, minted on every core.
fn mint(base: &TokenBuilder, count: usize) -> Vec<Token> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = count.div_ceil(cores);
    std::thread::scope(|scope| {
        let minters: Vec<_> = (0..count)
            .step_by(chunk)
            .map(|first| {
                scope.spawn(move || {
                    (first..(first + chunk).min(count))
                        .map(|jti| {
                            Token::new(&base.clone().claim("jti", format!("{jti:032x}")).sign())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        minters
            .into_iter()
            .flat_map(|minter| minter.join().unwrap())
            .collect()
    })
}

/// Repeated-token requests per round: about [`ROUND_TIME`].
async fn calibrate(app: &App, token: &Token) -> usize {
    let mut calls = 8;
    loop {
        let took = app.run(std::slice::from_ref(token), calls).await;
        if took >= ROUND_TIME / 4 {
            return (calls as f64 * ROUND_TIME.as_secs_f64() / took.as_secs_f64()).max(1.0)
                as usize;
        }
        calls *= 2;
    }
}

/// The best round (other processes on the machine only ever add time) and the median one.
fn best_and_median(mut samples: Vec<f64>) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    (samples[0], samples[samples.len() / 2])
}

/// The version of `name` this was built with, from the lock file.
fn version(name: &str) -> String {
    let lock = include_str!("../Cargo.lock");
    let marker = format!("name = \"{name}\"\nversion = \"");
    lock.find(&marker)
        .and_then(|at| lock[at + marker.len()..].split('"').next())
        .unwrap_or("?")
        .to_owned()
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split(':').nth(1))
                .map(|model| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!(
        "{cpu}, {cores} cores, {} {}; {date}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let issuer = TestIssuer::start().await;
    let base = issuer.token().scope("read:messages");
    let repeated = Token::new(&base.clone().claim("jti", "repeated").sign());
    let new_tokens = mint(&base, ROUNDS * NEW_TOKEN_CALLS);

    let peers = [
        Peer {
            name: "bearer-guard",
            app: bearer_guard(&issuer).await,
        },
        Peer {
            name: "oauth-resource-server",
            app: oauth_resource_server(&issuer).await,
        },
        Peer {
            name: "jwt-authorizer",
            app: jwt_authorizer(&issuer).await,
        },
    ];

    // Every router accepts the tokens and refuses a wrong audience and a bad signature.
    let wrong_audience = Token::new(&base.clone().audience("https://other.example").sign());
    let mut forged = base.clone().claim("jti", "forged").sign();
    forged.replace_range(forged.len() - 4.., "AAAA");
    for peer in &peers {
        assert_eq!(
            peer.app.status(&repeated).await,
            StatusCode::OK,
            "{}",
            peer.name
        );
        for bad in [&wrong_audience, &Token::new(&forged)] {
            let status = peer.app.status(bad).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{}", peer.name);
        }
    }

    let mut calls = Vec::new();
    for peer in &peers {
        calls.push(calibrate(&peer.app, &repeated).await);
    }
    let mut fresh = vec![Vec::new(); peers.len()];
    let mut again = vec![Vec::new(); peers.len()];
    for round in 0..ROUNDS {
        let slice = &new_tokens[round * NEW_TOKEN_CALLS..(round + 1) * NEW_TOKEN_CALLS];
        for (index, peer) in peers.iter().enumerate() {
            let took = peer.app.run(slice, NEW_TOKEN_CALLS).await;
            fresh[index].push(took.as_secs_f64() * 1e6 / NEW_TOKEN_CALLS as f64);
            let took = peer
                .app
                .run(std::slice::from_ref(&repeated), calls[index])
                .await;
            again[index].push(took.as_secs_f64() * 1e6 / calls[index] as f64);
        }
    }
    let fresh: Vec<(f64, f64)> = fresh.into_iter().map(best_and_median).collect();
    let again: Vec<(f64, f64)> = again.into_iter().map(best_and_median).collect();
    let bare = App::Axum(App::route());
    let mut alone = Vec::new();
    for _ in 0..ROUNDS {
        let calls = calls[0] * 4;
        let took = bare.run(std::slice::from_ref(&repeated), calls).await;
        alone.push(took.as_secs_f64() * 1e6 / calls as f64);
    }
    let (alone, _) = best_and_median(alone);

    println!("Machine: {}", machine());
    println!(
        "RS256 (2048-bit key, one key in the set), GET /api/private through the router \
         (tower oneshot), {ROUNDS} interleaved rounds: time per request of the best round \
         (median round in parentheses); x bearer-guard = the crate's best / bearer-guard's.\n"
    );
    println!(
        "| crate | new token: per request | x bearer-guard | repeated token: per request | x bearer-guard |"
    );
    println!("|---|---:|---:|---:|---:|");
    for (index, peer) in peers.iter().enumerate() {
        let name = match peer.name {
            "bearer-guard" => "bearer-guard (this crate)".to_owned(),
            name => format!("{name} {}", version(name)),
        };
        println!(
            "| {name} | {:.1} µs ({:.1}) | {:.2} | {:.2} µs ({:.2}) | {:.1} |",
            fresh[index].0,
            fresh[index].1,
            fresh[index].0 / fresh[0].0,
            again[index].0,
            again[index].1,
            again[index].0 / again[0].0
        );
    }
    println!("\nThe same axum 0.8 route without authentication: {alone:.2} µs per request.");
    // For the README's chart, drawn by `cargo bench --bench ratios`: a caption, then per crate
    // its name, new token µs and repeated token µs (best rounds), tab-separated.
    let mut results = format!("{}\n", machine());
    for (index, peer) in peers.iter().enumerate() {
        let name = match peer.name {
            "bearer-guard" => "bearer-guard".to_owned(),
            name => format!("{name} {}", version(name)),
        };
        results.push_str(&format!(
            "{name}\t{:.2}\t{:.2}\n",
            fresh[index].0, again[index].0
        ));
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/results.tsv");
    std::fs::write(path, results).expect("write results.tsv");
    println!("Wrote {path}.");
    println!("\nTargets (bearer-guard no slower on new tokens, >= 5x faster on repeated ones):");
    for (index, peer) in peers.iter().enumerate().skip(1) {
        let new_ratio = fresh[index].0 / fresh[0].0;
        let repeated_ratio = again[index].0 / again[0].0;
        let verdict = |met: bool| if met { "met" } else { "MISSED" };
        println!(
            "- vs {}: new token {new_ratio:.2}x ({}), repeated token {repeated_ratio:.1}x ({})",
            peer.name,
            verdict(new_ratio >= 1.0),
            verdict(repeated_ratio >= 5.0)
        );
    }
}
