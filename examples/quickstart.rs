//! The Rust counterpart of Auth0's API quickstart: three routes behind one layer.
//!
//! | route | needs |
//! |---|---|
//! | `GET /api/public` | nothing |
//! | `GET /api/private` | a valid access token |
//! | `GET /api/private-scoped` | a valid access token with the scope `read:messages` |
//!
//! Run it with no configuration to walk the whole client credentials flow on one machine. It
//! starts an embedded issuer and does, in code, what Auth0's dashboard does:
//!
//! 1. registers the API `https://api.example.com` (RS256, or HS256 with `HS256_SECRET` as the
//!    API's signing secret) with the scopes `read:messages` and `write:messages`;
//! 2. registers a machine client and authorizes it for `read:messages` only (and a second
//!    one for `write:messages` only, to show a 403);
//! 3. serves the API on `BIND`, validating the issuer's tokens;
//! 4. gets a token from the issuer's `POST /oauth/token` by the client credentials grant,
//!    exactly as a client would;
//! 5. prints ready-to-paste `curl` commands: the token request, then calls to the routes,
//!    each labelled with the status to expect (200, 401, 200, 200, 403), and a call with an
//!    opaque access token, which the API introspects at the issuer with its own client
//!    credentials (200), JWTs still being validated locally.
//!
//! ```text
//! cargo run --example quickstart
//! HS256_SECRET=0123456789abcdef0123456789abcdef cargo run --example quickstart   # HS256 API
//! cargo run --example quickstart -- --check   # run those requests itself and exit
//! ```
//!
//! Point it at your authorization server with environment variables:
//!
//! - `AUTH0_DOMAIN` + `AUDIENCE`: `Validator::auth0(domain, audience)` (issuer
//!   `https://{domain}/`, JWKS at `/.well-known/jwks.json`, RS256; with `HS256_SECRET`, the
//!   same issuer and HS256 with that secret);
//! - `ISSUER` + `AUDIENCE`: any issuer, exactly as in the tokens' `iss`; the key set is found by
//!   discovery unless `JWKS_URI` is set; `HS256_SECRET` switches to HS256 with that secret
//!   (with `AUTH0_DOMAIN`, `ISSUER` and `JWKS_URI` override what the preset derives);
//! - `INTROSPECTION_CLIENT_ID` + `INTROSPECTION_CLIENT_SECRET`: the API's own credentials at
//!   the issuer, to accept opaque access tokens by token introspection (RFC 7662); the
//!   endpoint is discovered from the issuer's metadata (`introspection_endpoint`) unless
//!   `INTROSPECTION_URL` gives it. JWT access tokens are still validated locally, on the same
//!   three routes;
//! - `BIND`: the listen address (default `127.0.0.1:3010`);
//! - `DPOP`: `off`, `allowed` (the default: bearer tokens pass, DPoP-bound tokens need a
//!   proof) or `required` (only DPoP-bound tokens);
//! - `PUBLIC_URL`: the base URL clients call the API at, which DPoP proofs name in `htu`
//!   (default `http://{BIND}`);
//! - `REDIS_URL` (`redis://host:6379/`): the DPoP replay store is that Redis server instead
//!   of this process's memory, so quickstarts started with the same `REDIS_URL` and
//!   `PUBLIC_URL` are replicas of one API: a proof used at one is refused at the others. Point
//!   the second at the first one's demo issuer (`ISSUER=<the printed demo issuer>
//!   AUDIENCE=https://api.example.com`) so that both accept the same tokens.
//!
//! In demo mode, with DPoP on, a third client key gets a DPoP-bound token (`cnf.jkt`,
//! `token_type: DPoP`) from the issuer's token endpoint with a proof, and the printed calls
//! include one with that token and a single-use proof; `--check` also replays a proof (401)
//! and presents the bound token as a bearer token (401).
//!
//! Scopes are read from `scope`, `scp` and Auth0's `permissions`. An invalid configuration is
//! reported in full and the process exits with status 2.
//!
//! ```text
//! AUTH0_DOMAIN=my-tenant.us.auth0.com AUDIENCE=https://api.example.com \
//!     cargo run --example quickstart
//! ```

use std::env;
use std::process::ExitCode;
use std::sync::Arc;

use axum::{Json, Router, routing::get};
use bearer_guard::axum::Claims;
use bearer_guard::dpop::{Dpop, DpopMode, RedisReplayStore};
use bearer_guard::testing::{Api, DEFAULT_AUDIENCE, DpopProof, TestIssuer, generate_secret};
use bearer_guard::{BearerLayer, RequireScopes, Validator, ValidatorBuilder, scope::ScopeClaims};
use serde_json::{Value, json};

async fn public() -> Json<Value> {
    Json(json!({ "message": "Hello from a public endpoint! No token needed." }))
}

async fn private(claims: Claims) -> Json<Value> {
    greet(
        "Hello from a private endpoint! You are authenticated.",
        &claims,
    )
}

async fn private_scoped(claims: Claims) -> Json<Value> {
    greet(
        "Hello from a private endpoint! You have read:messages.",
        &claims,
    )
}

fn greet(message: &str, claims: &Claims) -> Json<Value> {
    let scopes: Vec<&str> = claims.scopes().iter().collect();
    Json(json!({ "message": message, "sub": claims.subject(), "scopes": scopes }))
}

/// A set, non-empty environment variable.
fn var(name: &str) -> Option<String> {
    env::var(name).ok().filter(|value| !value.trim().is_empty())
}

/// The validator configuration: the demo issuer's, or the environment's.
fn configure(demo: Option<&Demo>, secret: Option<&str>, dpop: Dpop) -> ValidatorBuilder {
    let audience = var("AUDIENCE").unwrap_or_default();
    let mut builder = match (demo, var("AUTH0_DOMAIN")) {
        (Some(demo), _) => demo.issuer.validator(),
        // An Auth0 API signing with HS256: the preset's issuer, no key set.
        (None, Some(domain)) if secret.is_some() => {
            let host = domain.trim_start_matches("https://").trim_end_matches('/');
            Validator::builder()
                .issuer(format!("https://{host}/"))
                .audience(audience)
        }
        (None, Some(domain)) => Validator::auth0(&domain, &audience),
        (None, None) => match var("AUDIENCE") {
            Some(audience) => Validator::builder().audience(audience),
            None => Validator::builder(),
        },
    };
    if demo.is_none() {
        if let Some(issuer) = var("ISSUER") {
            builder = builder.issuer(issuer);
        }
        if let Some(jwks_uri) = var("JWKS_URI") {
            builder = builder.jwks_uri(jwks_uri);
        }
    }
    if let Some(secret) = secret {
        builder = builder.hs256_secret(secret.as_bytes());
    }
    // Opaque tokens: introspected with the API's own credentials; JWTs still local.
    let credentials = match demo {
        Some(demo) => Some((demo.api.id.to_owned(), demo.api.secret.clone())),
        None => var("INTROSPECTION_CLIENT_ID").zip(var("INTROSPECTION_CLIENT_SECRET")),
    };
    if let Some((client_id, client_secret)) = credentials {
        builder = builder.introspection(client_id, client_secret).mixed_mode();
        if let Some(url) = var("INTROSPECTION_URL").filter(|_| demo.is_none()) {
            builder = builder.introspection_endpoint(url);
        }
    }
    builder
        .scope_claims(ScopeClaims::default().permissions(true))
        .dpop(dpop)
}

/// `DPOP` (`off`, `allowed` or `required`; default `allowed`) with `PUBLIC_URL`, and the
/// replay store of `REDIS_URL` if set.
async fn dpop_settings(public_url: &str) -> Result<Dpop, String> {
    let dpop = match var("DPOP")
        .as_deref()
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        None | Some("allowed") => Dpop::allowed(),
        Some("off") => Dpop::off(),
        Some("required") => Dpop::required(),
        Some(other) => {
            return Err(format!(
                "DPOP must be off, allowed or required, not {other:?}"
            ));
        }
    };
    let dpop = dpop.public_url(public_url);
    let Some(url) = var("REDIS_URL") else {
        return Ok(dpop);
    };
    // Connected now: an unreachable server is reported at startup, not at the first proof.
    let store = RedisReplayStore::connect(&url)
        .await
        .map_err(|error| format!("REDIS_URL: {error}"))?;
    Ok(dpop.replay_store(Arc::new(store)))
}

/// A machine-to-machine client: what Auth0 shows on an application's Settings tab.
struct Client {
    id: &'static str,
    secret: String,
}

/// The embedded issuer, set up as the seed's dashboard steps would set up a tenant.
struct Demo {
    issuer: TestIssuer,
    /// Authorized for `read:messages` only.
    reader: Client,
    /// Authorized for `write:messages` only: its token shows the 403.
    writer: Client,
    /// The API's own credentials at the issuer, for introspecting opaque tokens.
    api: Client,
}

impl Demo {
    async fn start(signing_secret: Option<&str>) -> Self {
        let issuer = TestIssuer::start().await;

        // 1. Create an API: its identifier (the audience) and signing algorithm, then its
        //    permissions (scopes).
        let api = Api::new(DEFAULT_AUDIENCE).scopes(["read:messages", "write:messages"]);
        let api = match signing_secret {
            Some(secret) => api.hs256(secret.as_bytes()),
            None => api,
        };
        issuer.register_api(api);

        // 2. Create machine-to-machine applications (client id and secret) and authorize each
        //    for the API with some of its permissions (a client grant).
        let reader = Client {
            id: "quickstart-client",
            secret: generate_secret(),
        };
        let writer = Client {
            id: "quickstart-writer",
            secret: generate_secret(),
        };
        issuer.register_client(reader.id, reader.secret.as_str());
        issuer.grant(reader.id, DEFAULT_AUDIENCE, ["read:messages"]);
        issuer.register_client(writer.id, writer.secret.as_str());
        issuer.grant(writer.id, DEFAULT_AUDIENCE, ["write:messages"]);

        // 3. The API's own client, with which it introspects opaque tokens.
        let api = Client {
            id: "quickstart-api",
            secret: generate_secret(),
        };
        issuer.register_client(api.id, api.secret.as_str());

        Demo {
            issuer,
            reader,
            writer,
            api,
        }
    }
}

/// What a client does: `POST /oauth/token` with `grant_type=client_credentials` and the
/// API's identifier as `audience`, authenticated by HTTP Basic (and, for a DPoP-bound token,
/// a `DPoP` proof of the client's key); returns the access token and its scopes.
async fn get_token(
    token_endpoint: &str,
    client: &Client,
    dpop: Option<&DpopProof>,
) -> Result<(String, String), String> {
    let form = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("audience", DEFAULT_AUDIENCE)
        .finish();
    let mut request = reqwest::Client::new().post(token_endpoint);
    if let Some(key) = dpop {
        request = request.header("dpop", key.token_request_proof(token_endpoint));
    }
    let response = request
        .basic_auth(client.id, Some(&client.secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form)
        .send()
        .await
        .map_err(|error| format!("token request failed: {error}"))?;
    let status = response.status();
    let body: Value = response
        .bytes()
        .await
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    match body["access_token"].as_str() {
        Some(token) if status.is_success() => Ok((
            token.to_owned(),
            body["scope"].as_str().unwrap_or_default().to_owned(),
        )),
        _ => Err(format!("token request refused: {status} {body}")),
    }
}

/// One call to print and, with `--check`, to make.
struct Call {
    expect: u16,
    why: &'static str,
    path: &'static str,
    token: Option<String>,
    /// `Authorization: DPoP` with this proof.
    proof: Option<Proof>,
}

/// The DPoP proof of a call.
enum Proof {
    /// A fresh proof of this key, made when the call is made.
    Fresh(DpopProof),
    /// This exact proof (to show a replay).
    Fixed(String),
}

/// Prints the steps and a curl command per call; returns the calls.
async fn print_demo(
    demo: &Demo,
    alg: &str,
    base: &str,
    public_url: &str,
    mode: DpopMode,
) -> Result<Vec<Call>, String> {
    let issuer = &demo.issuer;
    let (token, scope) = get_token(&issuer.token_endpoint(), &demo.reader, None).await?;
    let (writer_token, _) = get_token(&issuer.token_endpoint(), &demo.writer, None).await?;
    // An opaque (reference) token, as Okta, Keycloak or Ory Hydra may issue: it means
    // something only to the issuer, which the API asks (POST /oauth/introspect).
    let opaque = issuer
        .opaque_token()
        .scope("read:messages")
        .claim("client_id", demo.reader.id)
        .claim("sub", format!("{}@clients", demo.reader.id))
        .issue();
    // In `required`, bearer tokens are refused whatever their scopes.
    let bearer = |status: u16| {
        if mode == DpopMode::Required {
            401
        } else {
            status
        }
    };

    println!(
        "\ndemo issuer {} set up like an Auth0 tenant:",
        issuer.issuer()
    );
    println!(
        "  API {DEFAULT_AUDIENCE} ({alg}), scopes read:messages write:messages\n  \
         client {} authorized for read:messages\n  \
         client {} authorized for write:messages",
        demo.reader.id, demo.writer.id
    );
    println!(
        "\n# 1. get a token by the client credentials grant (done just now: scope \"{scope}\")"
    );
    println!(
        "curl -s --request POST --url {} \\\n  --user '{}:{}' \\\n  \
         --data grant_type=client_credentials --data-urlencode audience={DEFAULT_AUDIENCE}\n",
        issuer.token_endpoint(),
        demo.reader.id,
        demo.reader.secret
    );
    println!("# 2. call the API (tokens valid for 24 hours)\n");
    let call = |expect, why, path, token: Option<&String>| Call {
        expect,
        why,
        path,
        token: token.cloned(),
        proof: None,
    };
    let mut calls = vec![
        call(200, "no token needed", "/api/public", None),
        call(401, "no token", "/api/private", None),
        call(bearer(200), "a valid token", "/api/private", Some(&token)),
        call(
            bearer(200),
            "the token has read:messages",
            "/api/private-scoped",
            Some(&token),
        ),
        call(
            bearer(403),
            "quickstart-writer's token lacks read:messages",
            "/api/private-scoped",
            Some(&writer_token),
        ),
        call(
            bearer(200),
            "an opaque token with read:messages, introspected at the issuer",
            "/api/private-scoped",
            Some(&opaque),
        ),
    ];
    if mode != DpopMode::Off {
        // The reader again, now with a DPoP key: its token is bound to that key.
        let key = DpopProof::generate();
        let (bound, _) = get_token(&issuer.token_endpoint(), &demo.reader, Some(&key)).await?;
        let url = format!("{public_url}/api/private-scoped");
        println!(
            "# a DPoP-bound token (cnf.jkt {}), for calls with a fresh proof of its key each",
            key.jkt()
        );
        println!(
            "# expect 200 (a DPoP-bound token and its proof; the proof is SINGLE-USE: sent \
             twice, the second call gets 401)\ncurl -i -H 'Authorization: DPoP {bound}' \\\n  \
             -H 'DPoP: {}' {base}/api/private-scoped\n",
            key.proof("GET", &url, &bound)
        );
        let replayed = key.proof("GET", &url, &bound);
        calls.push(Call {
            proof: Some(Proof::Fresh(key)),
            ..call(
                200,
                "a DPoP-bound token with a fresh proof",
                "/api/private-scoped",
                Some(&bound),
            )
        });
        calls.push(Call {
            proof: Some(Proof::Fixed(replayed.clone())),
            ..call(
                200,
                "a fresh proof, used once",
                "/api/private-scoped",
                Some(&bound),
            )
        });
        calls.push(Call {
            proof: Some(Proof::Fixed(replayed)),
            ..call(
                401,
                "the same proof replayed",
                "/api/private-scoped",
                Some(&bound),
            )
        });
        calls.push(call(
            401,
            "the DPoP-bound token presented as a bearer token",
            "/api/private-scoped",
            Some(&bound),
        ));
    }
    for call in calls.iter().filter(|call| call.proof.is_none()) {
        let auth = call.token.as_ref().map_or(String::new(), |token| {
            format!(" -H 'Authorization: Bearer {token}'")
        });
        println!(
            "# expect {} ({})\ncurl -i{auth} {base}{}\n",
            call.expect, call.why, call.path
        );
    }
    Ok(calls)
}

/// Makes the calls and compares each status with its label.
async fn check(base: &str, public_url: &str, calls: &[Call]) -> bool {
    let client = reqwest::Client::new();
    let mut all_ok = true;
    for call in calls {
        let mut request = client.get(format!("{base}{}", call.path));
        match (&call.token, &call.proof) {
            (Some(token), None) => request = request.bearer_auth(token),
            (Some(token), Some(proof)) => {
                let proof = match proof {
                    Proof::Fresh(key) => {
                        key.proof("GET", &format!("{public_url}{}", call.path), token)
                    }
                    Proof::Fixed(proof) => proof.clone(),
                };
                request = request
                    .header("authorization", format!("DPoP {token}"))
                    .header("dpop", proof);
            }
            (None, _) => {}
        }
        let status = match request.send().await {
            Ok(response) => response.status().as_u16(),
            Err(error) => {
                println!("check: GET {} failed: {error}", call.path);
                all_ok = false;
                continue;
            }
        };
        let verdict = if status == call.expect { "ok" } else { "WRONG" };
        all_ok &= status == call.expect;
        println!(
            "check: GET {:<20} expected {} got {status} {verdict} ({})",
            call.path, call.expect, call.why
        );
    }
    all_ok
}

#[tokio::main]
async fn main() -> ExitCode {
    let check_only = env::args().skip(1).any(|arg| arg == "--check");
    let secret = var("HS256_SECRET");
    // Demo mode: an embedded issuer, which must live as long as the server.
    let demo = match var("ISSUER").or(var("AUTH0_DOMAIN")) {
        None => Some(Demo::start(secret.as_deref()).await),
        Some(_) => None,
    };
    let bind = var("BIND").unwrap_or_else(|| "127.0.0.1:3010".to_owned());
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
    let public_url = var("PUBLIC_URL").unwrap_or_else(|| base.clone());
    let public_url = public_url.trim_end_matches('/').to_owned();
    let dpop = match dpop_settings(&public_url).await {
        Ok(dpop) => dpop,
        Err(problem) => {
            eprintln!("{problem}");
            return ExitCode::from(2);
        }
    };
    let mode = dpop.mode();
    let validator = match configure(demo.as_ref(), secret.as_deref(), dpop).build() {
        Ok(validator) => validator,
        Err(error) => {
            eprintln!("invalid bearer-guard configuration:");
            for problem in error.problems() {
                eprintln!("  - {problem}");
            }
            eprintln!("set AUTH0_DOMAIN or ISSUER, and AUDIENCE; optionally JWKS_URI, or");
            eprintln!("HS256_SECRET with ISSUER or AUTH0_DOMAIN; INTROSPECTION_CLIENT_ID and");
            eprintln!(
                "INTROSPECTION_CLIENT_SECRET (and optionally INTROSPECTION_URL) for opaque tokens"
            );
            return ExitCode::from(2);
        }
    };
    let replay_store = if var("REDIS_URL").is_some() {
        "the Redis server of REDIS_URL"
    } else {
        "in memory"
    };
    println!(
        "validating with {validator:?} (DPoP {mode:?}, public URL {public_url}, \
         replay store {replay_store})"
    );

    let app = Router::new()
        .route("/api/private-scoped", get(private_scoped))
        .route_layer(RequireScopes::all(["read:messages"]))
        .route("/api/private", get(private))
        .layer(BearerLayer::new(validator))
        .route("/api/public", get(public));

    println!("listening on {base}");
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    if let Some(demo) = &demo {
        let alg = if secret.is_some() { "HS256" } else { "RS256" };
        let calls = match print_demo(demo, alg, &base, &public_url, mode).await {
            Ok(calls) => calls,
            Err(error) => {
                eprintln!("{error}");
                return ExitCode::FAILURE;
            }
        };
        if check_only {
            return if check(&base, &public_url, &calls).await {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
    } else if check_only {
        eprintln!("--check needs the demo issuer (no ISSUER or AUTH0_DOMAIN)");
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
