//! Delegation chains (RFC 8693 `act`) through a router: the chain reaches the handler in
//! order, only the current (outermost) actor counts for `ClaimRule::actor_in`, scopes stay the
//! token's own, and a malformed or too deep `act` refuses the token without echoing it.

use crate::common;

use axum::routing::get;
use axum::{Extension, Json, Router};
use bearer_guard::error::{Claim, TokenProblem};
use bearer_guard::testing::{TestIssuer, TokenBuilder};
use bearer_guard::{
    BearerLayer, ClaimRule, MAX_ACTOR_DEPTH, RequireClaims, RequireScopes, VerifiedClaims,
};
use common::{Reply, send_token};
use http::StatusCode;
use serde_json::{Value, json};

const ACTED: &str = "/acted";
const OR_DIRECT: &str = "/or-direct";
const FORBIDDEN: &str = "/forbidden";
const SCOPED: &str = "/scoped";
const OPEN: &str = "/open";

const ACTOR_REFUSAL: &str = "the token's actor is not allowed here";

async fn echo(Extension(claims): Extension<VerifiedClaims>) -> Json<Value> {
    let actors: Vec<Value> = claims
        .actors()
        .iter()
        .map(|actor| json!({ "sub": actor.subject, "iss": actor.issuer }))
        .collect();
    Json(json!({
        "sub": claims.subject(),
        "actor": claims.actor(),
        "actors": actors,
        "scopes": claims.scopes().iter().collect::<Vec<_>>(),
    }))
}

/// `/acted` needs service-a as the current actor; `/or-direct` also takes direct calls;
/// `/forbidden` answers a wrong actor with 403; `/scoped` needs service-a and `read:data`;
/// `/open` is behind the layer alone.
fn app(issuer: &TestIssuer) -> Router {
    let validator = issuer.validator().build().unwrap();
    Router::new()
        .route(ACTED, get(echo))
        .route_layer(RequireClaims::new(ClaimRule::actor_in(["service-a"])))
        .merge(
            Router::new()
                .route(OR_DIRECT, get(echo))
                .route_layer(RequireClaims::new(ClaimRule::actor_in_or_direct([
                    "service-a",
                ]))),
        )
        .merge(
            Router::new()
                .route(FORBIDDEN, get(echo))
                .route_layer(RequireClaims::new(
                    ClaimRule::actor_in(["service-a"]).or_forbidden(),
                )),
        )
        .merge(
            Router::new()
                .route(SCOPED, get(echo))
                .route_layer(RequireScopes::all(["read:data"]))
                .route_layer(RequireClaims::new(ClaimRule::actor_in(["service-a"]))),
        )
        .route(OPEN, get(echo))
        .layer(BearerLayer::new(validator))
}

async fn send(app: &Router, path: &str, token: TokenBuilder) -> (Reply, String) {
    let token = token.sign();
    let reply = send_token(app, path, &token).await;
    common::assert_no_echo(format!("Bearer {token}").as_bytes(), &reply);
    (reply, token)
}

#[tokio::test]
async fn the_chain_reaches_the_handler_outermost_first() {
    let issuer = TestIssuer::start().await;
    let app = app(&issuer);
    let (reply, _) = send(
        &app,
        OPEN,
        issuer
            .token()
            .claim("sub", "alice")
            .actor_chain(["service-b", "service-a", "gateway"]),
    )
    .await;
    let body = reply.assert_ok();
    assert_eq!(body["sub"], "alice");
    assert_eq!(body["actor"], "service-b");
    let subjects: Vec<&str> = body["actors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["sub"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, ["service-b", "service-a", "gateway"]);

    // An `iss` beside the actor's `sub` is typed too.
    let act = json!({ "sub": "service-a", "iss": "https://sts.example" });
    let (reply, _) = send(&app, ACTED, issuer.token().claim("act", act)).await;
    let body = reply.assert_ok();
    assert_eq!(body["actors"][0]["iss"], "https://sts.example");

    // A direct token has no chain.
    let (reply, _) = send(&app, OPEN, issuer.token()).await;
    assert_eq!(reply.assert_ok()["actors"], json!([]));
}

#[tokio::test]
async fn only_the_outermost_actor_is_checked() {
    let issuer = TestIssuer::start().await;
    let app = app(&issuer);
    let t = || issuer.token();
    for token in [
        t().actor("service-a"),
        t().actor_chain(["service-a", "service-b"]),
    ] {
        let (reply, _) = send(&app, ACTED, token.clone()).await;
        assert_eq!(reply.assert_ok()["actor"], "service-a");
        let (reply, _) = send(&app, OR_DIRECT, token).await;
        reply.assert_ok();
    }
    for token in [
        // service-a acted earlier; service-b calls now.
        t().actor_chain(["service-b", "service-a"]),
        t().actor("service-b"),
        t().actor("Service-A"),
        // The subject is not the actor.
        t().claim("sub", "service-a"),
        // No `act`: a direct call, where an actor is required.
        t(),
    ] {
        let (reply, _) = send(&app, ACTED, token.clone()).await;
        reply.assert_invalid_token_saying(ACTOR_REFUSAL);
        let (reply, _) = send(&app, FORBIDDEN, token).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{reply:#?}");
        assert_eq!(reply.param("error").as_deref(), Some("insufficient_scope"));
        assert_eq!(reply.body["error_description"], ACTOR_REFUSAL);
    }
}

#[tokio::test]
async fn direct_calls_pass_only_where_configured() {
    let issuer = TestIssuer::start().await;
    let app = app(&issuer);
    let (reply, _) = send(&app, OR_DIRECT, issuer.token().claim("sub", "alice")).await;
    assert_eq!(reply.assert_ok()["actor"], Value::Null);
    let (reply, _) = send(&app, ACTED, issuer.token().claim("sub", "alice")).await;
    reply.assert_invalid_token_saying(ACTOR_REFUSAL);
    // A wrong actor is still refused where direct calls are allowed.
    let (reply, _) = send(&app, OR_DIRECT, issuer.token().actor("service-b")).await;
    reply.assert_invalid_token_saying(ACTOR_REFUSAL);
}

#[tokio::test]
async fn scopes_remain_the_tokens_own() {
    let issuer = TestIssuer::start().await;
    let app = app(&issuer);
    let acted = |scope: &str| issuer.token().scope(scope).actor("service-a");
    let (reply, _) = send(&app, SCOPED, acted("read:data")).await;
    assert_eq!(reply.assert_ok()["scopes"], json!(["read:data"]));
    // The allowed actor does not bring scopes the token lacks.
    let (reply, _) = send(&app, SCOPED, acted("write:data")).await;
    reply.assert_insufficient_scope("read:data");
    // Nor do scopes inside `act`: only the token's own `scope` counts.
    let act = json!({ "sub": "service-a", "scope": "read:data" });
    let (reply, _) = send(
        &app,
        SCOPED,
        issuer.token().scope("other").claim("act", act),
    )
    .await;
    reply.assert_insufficient_scope("read:data");
}

#[tokio::test]
async fn a_malformed_act_is_refused_on_every_route() {
    let issuer = TestIssuer::start().await;
    let app = app(&issuer);
    for act in [
        json!("service-a"),
        json!(["service-a"]),
        json!(null),
        json!(42),
        json!({}),
        json!({ "sub": 7 }),
        json!({ "sub": "" }),
        json!({ "sub": ["service-a"] }),
        json!({ "sub": "service-a", "iss": false }),
        json!({ "sub": "service-a", "act": "service-b" }),
        json!({ "sub": "service-a", "act": { "iss": "https://sts.example" } }),
    ] {
        for path in [OPEN, ACTED, OR_DIRECT] {
            let (reply, _) = send(&app, path, issuer.token().claim("act", act.clone())).await;
            reply.assert_invalid_token_for(TokenProblem::InvalidClaim(Claim::Actor));
            assert_eq!(reply.body["error_description"], "the act claim is invalid");
        }
    }
}

#[tokio::test]
async fn the_depth_of_the_chain_is_bounded() {
    let issuer = TestIssuer::start().await;
    let app = app(&issuer);
    let chain = |depth: usize| -> Vec<String> {
        std::iter::once("service-a".to_owned())
            .chain((1..depth).map(|level| format!("service-{level}")))
            .collect()
    };
    let (reply, _) = send(
        &app,
        ACTED,
        issuer.token().actor_chain(chain(MAX_ACTOR_DEPTH)),
    )
    .await;
    assert_eq!(
        reply.assert_ok()["actors"].as_array().unwrap().len(),
        MAX_ACTOR_DEPTH
    );
    for depth in [MAX_ACTOR_DEPTH + 1, 100] {
        let (reply, _) = send(&app, OPEN, issuer.token().actor_chain(chain(depth))).await;
        reply.assert_invalid_token_for(TokenProblem::InvalidClaim(Claim::Actor));
    }
}

#[tokio::test]
async fn introspected_tokens_carry_their_chain_and_are_checked_alike() {
    let issuer = TestIssuer::start().await;
    issuer.register_client("api-client", "api-client-secret-0123456789abcdef");
    let validator = issuer
        .validator()
        .introspection("api-client", "api-client-secret-0123456789abcdef")
        .build()
        .unwrap();
    let app = Router::new()
        .route(ACTED, get(echo))
        .route_layer(RequireClaims::new(ClaimRule::actor_in(["service-b"])))
        .layer(BearerLayer::new(validator));
    let chain = json!({ "sub": "service-b", "act": { "sub": "service-a" } });
    let token = issuer.opaque_token().claim("act", chain).issue();
    let reply = send_token(&app, ACTED, &token).await;
    common::assert_no_echo(format!("Bearer {token}").as_bytes(), &reply);
    let body = reply.assert_ok();
    assert_eq!(body["actors"][1]["sub"], "service-a");

    let token = issuer
        .opaque_token()
        .claim("act", json!({ "sub": "service-b", "act": [] }))
        .issue();
    let reply = send_token(&app, ACTED, &token).await;
    common::assert_no_echo(format!("Bearer {token}").as_bytes(), &reply);
    reply.assert_invalid_token_for(TokenProblem::InvalidClaim(Claim::Actor));
}
