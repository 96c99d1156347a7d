//! Every advanced feature of bearer-guard in one API, demonstrated against two embedded test
//! issuers:
//!
//! - several issuers (`Validator::for_issuers`), each with its own audience, rules and keys;
//! - tenants resolved per request (`Validator::resolved_issuers`): each tenant on its own
//!   host, one signed up while the API runs;
//! - RFC 9068 strict mode (`typ: at+jwt`, `client_id`, `jti`, ...) for the partner issuer;
//! - claim rules for every route (`ValidatorBuilder::claim_rule`) and for one route
//!   (`RequireClaims`, answered with 403 through `or_forbidden`);
//! - a delegation rule (RFC 8693 token exchange): only the current actor, the outermost
//!   `act`, counts (`ClaimRule::actor_in`);
//! - an any-of-all scope policy: `admin` OR (`read:messages` AND `write:messages`);
//! - step-up authentication (RFC 9470) on one route: MFA (`acr`) within the last 5 minutes;
//! - optional authentication on a greeting route (`Option<Claims>`);
//! - RFC 9728 protected resource metadata, served and named in every challenge;
//! - an error hook writing RFC 9457 `application/problem+json` bodies;
//! - a cookie token source for browser clients.
//!
//! `cargo run --example advanced` builds the app, sends it a few requests with tower's
//! `oneshot`, prints what a client sees and exits (status 1 if an answer is not the expected one).

use std::collections::HashSet;
use std::process::ExitCode;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::body::Body;
use axum::routing::get;
use axum::{Json, Router};
use bearer_guard::axum::Claims;
use bearer_guard::testing::TestIssuer;
use bearer_guard::{
    AuthError, BearerLayer, ClaimRule, ErrorBody, IssuerResolver, ProtectedResourceMetadata,
    RequireAuthentication, RequireClaims, RequireScopes, ScopePolicy, Validator,
    layer::TokenSource,
};
use http::{Request, header};
use serde_json::{Value, json};
use tower::ServiceExt;

const API: &str = "https://api.example.com";
const PARTNER_API: &str = "https://partners.api.example.com";
/// The `acr` of a multi-factor sign-in, as Auth0 and others name it.
const MFA: &str = "http://schemas.openid.net/pape/policies/2007/06/multi-factor";

/// RFC 9457 problem details; the status and the `WWW-Authenticate` challenge stay the crate's.
fn problem(error: &AuthError) -> ErrorBody {
    ErrorBody::problem_json(&json!({
        "type": format!("{API}/problems/{}", error.error_code().unwrap_or("unauthorized")),
        "title": error.status().canonical_reason(),
        "status": error.status().as_u16(),
        "detail": error.description(),
    }))
}

async fn hello(claims: Option<Claims>) -> Json<Value> {
    let name = claims
        .as_ref()
        .and_then(|c| c.subject())
        .unwrap_or("stranger");
    Json(json!({ "message": format!("hello, {name}") }))
}

async fn messages(claims: Claims) -> Json<Value> {
    Json(json!({ "messages": ["hi"], "issuer": claims.issuer(), "client": claims.client_id() }))
}

fn app(validator: Validator, metadata: &ProtectedResourceMetadata) -> Router {
    let read = Router::new()
        .route("/api/messages", get(messages))
        .route_layer(RequireScopes::all(["read:messages"]));
    let admin = Router::new()
        .route("/api/admin", get(messages))
        .route_layer(RequireScopes::policy(ScopePolicy::any_of_all([
            vec!["admin"],
            vec!["read:messages", "write:messages"],
        ])));
    let billing = Router::new()
        .route("/api/billing", get(messages))
        .route_layer(RequireClaims::new(
            ClaimRule::equals("tier", "enterprise").or_forbidden(),
        ));
    // Only report-builder, calling on a user's behalf after a token exchange, reads reports.
    let reports = Router::new()
        .route("/api/reports", get(messages))
        .route_layer(RequireClaims::new(
            ClaimRule::actor_in(["report-builder"]).or_forbidden(),
        ));
    // Refused with 401 insufficient_user_authentication, acr_values and max_age: the client
    // signs the user in again with them.
    let transfers = Router::new()
        .route("/api/transfers", get(messages))
        .route_layer(RequireAuthentication::acr([MFA]).max_age(Duration::from_secs(300)));
    let api = Router::new()
        .merge(read)
        .merge(admin)
        .merge(billing)
        .merge(reports)
        .merge(transfers)
        .layer(
            BearerLayer::new(validator.clone())
                .token_source(TokenSource::Cookie("access_token".into())),
        );
    let public = Router::new()
        .route("/hello", get(hello))
        .layer(BearerLayer::new(validator).optional());
    api.merge(public)
        .route_service(&metadata.path(), metadata.service())
}

#[tokio::main]
async fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let internal = TestIssuer::start().await;
    let partner = TestIssuer::start().await;
    let metadata = ProtectedResourceMetadata::new(API)
        .scopes_supported(["read:messages", "write:messages", "admin"])
        .resource_name("Messages API");

    // With several issuers, refusals are written one way for the whole API: realm, metadata
    // URL and error hook are set once, on a builder each issuer's validator is cloned from
    // (validators that differ in them are a configuration error).
    let refusals = Validator::builder()
        .realm("messages")
        .resource_metadata(metadata.url())
        .error_body(problem);
    let internal_rules = refusals
        .clone()
        .issuer(internal.issuer())
        .audience(API)
        .claim_rule(ClaimRule::max_age(Duration::from_secs(3600)))
        .build()?;
    let partner_rules = refusals
        .issuer(partner.issuer())
        .audience(PARTNER_API)
        .rfc9068()
        .claim_rule(ClaimRule::client_id_in(["partner-sync"]))
        .build()?;
    let validator = Validator::for_issuers([internal_rules, partner_rules])?;
    let metadata = metadata.authorization_servers_of(&validator);
    let app = app(validator, &metadata);

    // Tokens as the two authorization servers would issue them.
    let internal_token = |scope: &str| internal.token().audience(API).scope(scope);
    let partner_token = partner
        .token()
        .audience(PARTNER_API)
        .header("typ", "at+jwt")
        .claim("client_id", "partner-sync")
        .claim("jti", "p-1")
        .scope("read:messages");
    let rw = internal_token("read:messages write:messages").sign();
    let read_only = internal_token("read:messages").sign();
    let too_old = internal_token("read:messages")
        .claim("iat", now() - 7200)
        .sign();
    let exchanged = internal_token("read:messages")
        .actor("report-builder")
        .sign();
    // report-builder acted first; another service calls now.
    let relayed = internal_token("read:messages")
        .actor_chain(["relay", "report-builder"])
        .sign();
    let stepped_up = internal_token("read:messages")
        .claim("acr", MFA)
        .claim("auth_time", now() - 60)
        .sign();
    let partner_ok = partner_token.clone().sign();
    let partner_jwt = partner_token.clone().header("typ", "JWT").sign();
    let partner_other = partner_token.claim("client_id", "someone").sign();

    // (what, expected status, path, token in the Authorization header, token in the cookie)
    const MSG: &str = "/api/messages";
    let cases: [(&str, u16, &str, &str, &str); 17] = [
        (
            "RFC 9728 metadata",
            200,
            "/.well-known/oauth-protected-resource",
            "",
            "",
        ),
        ("optional auth, anonymous", 200, "/hello", "", ""),
        ("optional auth, token", 200, "/hello", &rw, ""),
        ("no token", 401, MSG, "", ""),
        ("internal issuer", 200, MSG, &rw, ""),
        ("partner issuer, at+jwt", 200, MSG, &partner_ok, ""),
        ("partner, typ JWT (strict)", 401, MSG, &partner_jwt, ""),
        ("partner, other client", 401, MSG, &partner_other, ""),
        ("token older than 1 h", 401, MSG, &too_old, ""),
        ("read only, admin route", 403, "/api/admin", &read_only, ""),
        ("read + write in a cookie", 200, "/api/admin", "", &rw),
        ("claim rule of one route", 403, "/api/billing", &rw, ""),
        (
            "exchanged, current actor",
            200,
            "/api/reports",
            &exchanged,
            "",
        ),
        (
            "exchanged, earlier actor",
            403,
            "/api/reports",
            &relayed,
            "",
        ),
        ("no MFA, step-up route", 401, "/api/transfers", &rw, ""),
        (
            "recent MFA, step-up route",
            200,
            "/api/transfers",
            &stepped_up,
            "",
        ),
        ("header and cookie", 400, MSG, &rw, &rw),
    ];
    let mut failures = 0;
    for (what, expected, path, bearer, cookie) in cases {
        let mut request = Request::get(path).body(Body::empty())?;
        if !bearer.is_empty() {
            let value = format!("Bearer {bearer}").parse()?;
            request.headers_mut().insert(header::AUTHORIZATION, value);
        }
        if !cookie.is_empty() {
            let value = format!("theme=dark; access_token={cookie}").parse()?;
            request.headers_mut().insert(header::COOKIE, value);
        }
        let response = app.clone().oneshot(request).await?;
        let (status, headers) = (response.status(), response.headers().clone());
        let body = axum::body::to_bytes(response.into_body(), 64 * 1024).await?;
        let ok = status.as_u16() == expected;
        failures += usize::from(!ok);
        println!(
            "[{}] {what}: GET {path} -> {status}",
            if ok { "ok" } else { "UNEXPECTED" }
        );
        if let Some(challenge) = headers.get(header::WWW_AUTHENTICATE) {
            println!("    WWW-Authenticate: {}", challenge.to_str()?);
        }
        let kind = headers
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str())
            .transpose()?;
        println!(
            "    {}: {}",
            kind.unwrap_or("-"),
            String::from_utf8_lossy(&body)
        );
    }
    failures += tenants(&internal, &partner).await?;
    println!(
        "\nissuers: {} (internal), {} (partner)",
        internal.issuer(),
        partner.issuer()
    );
    Ok(if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Two tenants, each on its own host: `internal.api.example.com` and
/// `partner.api.example.com`; the partner signs up while the API runs. Returns the number of
/// unexpected answers.
async fn tenants(
    internal: &TestIssuer,
    partner: &TestIssuer,
) -> Result<usize, Box<dyn std::error::Error>> {
    let signed_up = Arc::new(RwLock::new(HashSet::from([internal.issuer().to_owned()])));
    let admitted = Arc::clone(&signed_up);
    let hosts = [
        ("internal.api.example.com", internal.issuer().to_owned()),
        ("partner.api.example.com", partner.issuer().to_owned()),
    ];
    let resolver = IssuerResolver::issuers_where(move |tenant| {
        admitted.read().unwrap().contains(tenant.issuer())
    })
    .tenant_of_request(move |request| {
        let host = request.host()?;
        let tenant = hosts
            .iter()
            .find(|(name, _)| host.eq_ignore_ascii_case(name));
        tenant.map(|(_, issuer)| issuer.clone())
    });
    let validator = Validator::resolved_issuers(Validator::builder().audience(API), resolver)?;
    let app = Router::new()
        .route("/api/messages", get(messages))
        .layer(BearerLayer::new(validator));
    let internal_token = internal.token().audience(API).sign();
    let partner_token = partner.token().audience(API).sign();
    let mut failures = 0;
    for (what, host, token, expected) in [
        (
            "tenant on its host",
            "internal.api.example.com",
            &internal_token,
            200,
        ),
        (
            "tenant on another's host",
            "partner.api.example.com",
            &internal_token,
            401,
        ),
        (
            "before signing up",
            "partner.api.example.com",
            &partner_token,
            401,
        ),
        (
            "after signing up",
            "partner.api.example.com",
            &partner_token,
            200,
        ),
    ] {
        if what == "after signing up" {
            signed_up
                .write()
                .unwrap()
                .insert(partner.issuer().to_owned());
        }
        let request = Request::get("/api/messages")
            .header(header::HOST, host)
            .header(header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Body::empty())?;
        let status = app.clone().oneshot(request).await?.status();
        let ok = status.as_u16() == expected;
        failures += usize::from(!ok);
        println!(
            "[{}] tenants, {what}: GET {host}/api/messages -> {status}",
            if ok { "ok" } else { "UNEXPECTED" }
        );
    }
    Ok(failures)
}

fn now() -> i64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.map_or(0, |d| d.as_secs() as i64)
}
