//! Claim rules, on every route (`ValidatorBuilder::claim_rule`) and per route
//! (`RequireClaims`), and any-of-all scope policies (`RequireScopes::policy`).
//!
//! Every rule is driven both ways through a real router: a failure is 401 `invalid_token`
//! with the rule's description as `error_description`, or 403 `insufficient_scope` for
//! `.or_forbidden()`; `.describe()` replaces the description.

use crate::common;

use std::time::Duration;

use axum::routing::get;
use axum::{Extension, Json, Router};
use bearer_guard::testing::{TestIssuer, TokenBuilder};
use bearer_guard::{
    BearerLayer, ClaimRule, RequireClaims, RequireScopes, ScopePolicy, Validator, VerifiedClaims,
};
use common::{Reply, now, parse_challenge, send, send_token};
use http::StatusCode;
use serde_json::{Value, json};

const GUARDED: &str = "/guarded";
const OPEN: &str = "/open";

async fn echo(Extension(claims): Extension<VerifiedClaims>) -> Json<Value> {
    Json(json!({ "sub": claims.subject(), "client_id": claims.client_id() }))
}

/// Rule applied by the validator, to every route behind the layer.
fn layer_app(issuer: &TestIssuer, rule: ClaimRule) -> Router {
    let validator = issuer.validator().claim_rule(rule).build().unwrap();
    Router::new()
        .route(GUARDED, get(echo))
        .route(OPEN, get(echo))
        .layer(BearerLayer::new(validator))
}

/// Rule applied by `RequireClaims` to `/guarded` only; `/open` is behind the layer alone.
fn route_app(validator: &Validator, guard: RequireClaims) -> Router {
    Router::new()
        .route(GUARDED, get(echo))
        .route_layer(guard)
        .route(OPEN, get(echo))
        .layer(BearerLayer::new(validator.clone()))
}

/// A refusal by a claim rule: 401 `invalid_token`, or 403 `insufficient_scope` when
/// `forbidden`, with exactly `error` and `error_description` (the rule's description) in the
/// challenge and the same in the JSON body.
#[track_caller]
fn assert_rule_refusal(reply: &Reply, forbidden: bool, description: &str) {
    common::assert_no_store(reply);
    let (status, code) = if forbidden {
        (StatusCode::FORBIDDEN, "insufficient_scope")
    } else {
        (StatusCode::UNAUTHORIZED, "invalid_token")
    };
    assert_eq!(reply.status, status, "{reply:#?}");
    let challenge = reply.challenge.as_deref().expect("a challenge");
    let (scheme, params) = parse_challenge(challenge);
    assert_eq!(scheme, "Bearer", "{challenge}");
    let expected = [
        ("error".to_owned(), code.to_owned()),
        ("error_description".to_owned(), description.to_owned()),
    ];
    assert_eq!(params, expected, "{challenge}");
    assert_eq!(reply.body["error"], code, "{reply:#?}");
    assert_eq!(reply.body["error_description"], description, "{reply:#?}");
}

/// A rule with tokens that meet it and tokens that do not.
struct Case {
    name: &'static str,
    rule: ClaimRule,
    description: &'static str,
    pass: Vec<TokenBuilder>,
    fail: Vec<TokenBuilder>,
}

fn cases(issuer: &TestIssuer) -> Vec<Case> {
    let t = || issuer.token();
    vec![
        Case {
            name: "equals (string)",
            rule: ClaimRule::equals("gty", "client-credentials"),
            description: "the gty claim does not have the required value",
            pass: vec![t().claim("gty", "client-credentials")],
            fail: vec![
                t(),
                t().claim("gty", "password"),
                t().claim("gty", "Client-Credentials"),
                t().claim("gty", json!(["client-credentials"])),
                t().claim("gty", Value::Null),
            ],
        },
        Case {
            name: "equals (number)",
            rule: ClaimRule::equals("tier", 2),
            description: "the tier claim does not have the required value",
            pass: vec![t().claim("tier", 2)],
            fail: vec![t(), t().claim("tier", "2"), t().claim("tier", 3)],
        },
        Case {
            name: "equals (object)",
            rule: ClaimRule::equals("org", json!({"id": "org-1", "plan": "pro"})),
            description: "the org claim does not have the required value",
            pass: vec![t().claim("org", json!({"plan": "pro", "id": "org-1"}))],
            fail: vec![
                t().claim("org", json!({"id": "org-1"})),
                t().claim("org", json!({"id": "org-1", "plan": "pro", "x": 1})),
            ],
        },
        Case {
            name: "includes",
            rule: ClaimRule::includes("roles", "admin"),
            description: "the roles claim does not include the required value",
            pass: vec![
                t().claim("roles", "admin"),
                t().claim("roles", "reader admin writer"),
                t().claim("roles", json!(["reader", "admin"])),
                t().claim("roles", json!(["admin"])),
            ],
            fail: vec![
                t(),
                t().claim("roles", "administrator"),
                t().claim("roles", "reader,admin"),
                t().claim("roles", "Admin"),
                t().claim("roles", json!(["reader", "Admin"])),
                t().claim("roles", json!([])),
                t().claim("roles", json!([1, 2])),
                t().claim("roles", json!({"admin": true})),
                t().claim("roles", true),
            ],
        },
        Case {
            name: "predicate",
            rule: ClaimRule::predicate("the tenant is suspended", |claims| {
                claims.get("suspended") != Some(&Value::Bool(true))
            }),
            description: "the tenant is suspended",
            pass: vec![t(), t().claim("suspended", false)],
            fail: vec![t().claim("suspended", true)],
        },
        Case {
            name: "client_id_in",
            rule: ClaimRule::client_id_in(["billing-service", "reporting-job"]),
            description: "the token was issued to a client this API does not accept",
            pass: vec![
                t().claim("client_id", "billing-service"),
                t().claim("client_id", "reporting-job"),
                // `azp` when there is no `client_id`.
                t().claim("azp", "reporting-job"),
            ],
            fail: vec![
                t(),
                t().claim("client_id", "other-client"),
                t().claim("client_id", "Billing-Service"),
                t().claim("client_id", "billing"),
                t().claim("azp", "other-client"),
                // `client_id` wins over `azp`.
                t().claim("client_id", "other-client")
                    .claim("azp", "billing-service"),
                // The subject is not the client.
                t().claim("sub", "billing-service"),
            ],
        },
        Case {
            name: "max_age",
            rule: ClaimRule::max_age(Duration::from_secs(600)),
            description: "the token is older than this API accepts",
            pass: vec![
                t().claim("iat", now()),
                t().claim("iat", now() - 500),
                t().claim("iat", now() as f64 - 0.5),
            ],
            fail: vec![
                t().claim("iat", now() - 3600),
                t().claim("iat", now() - 700),
                t().without_claim("iat"),
            ],
        },
    ]
}

/// Runs every case through `app_for(rule)`: `/guarded` must follow the rule, and when
/// `open_follows_rule` is false, `/open` must ignore it.
async fn run_cases(
    issuer: &TestIssuer,
    open_follows_rule: bool,
    mut app_for: impl FnMut(ClaimRule) -> Router,
) {
    for case in cases(issuer) {
        for (variant, rule, forbidden, description) in [
            ("plain", case.rule.clone(), false, case.description),
            (
                "or_forbidden",
                case.rule.clone().or_forbidden(),
                true,
                case.description,
            ),
            (
                "describe",
                case.rule.clone().describe("not for you"),
                false,
                "not for you",
            ),
            (
                "describe + or_forbidden",
                case.rule.clone().or_forbidden().describe("not for you"),
                true,
                "not for you",
            ),
        ] {
            let app = app_for(rule);
            for (i, token) in case.pass.iter().enumerate() {
                let reply = send_token(&app, GUARDED, &token.clone().sign()).await;
                assert_eq!(
                    reply.status,
                    StatusCode::OK,
                    "{} ({variant}), passing token #{i}: {reply:#?}",
                    case.name
                );
                reply.assert_ok();
            }
            for (i, token) in case.fail.iter().enumerate() {
                let token = token.clone().sign();
                let reply = send_token(&app, GUARDED, &token).await;
                assert_eq!(
                    reply.param("error_description").as_deref(),
                    Some(description),
                    "{} ({variant}), failing token #{i}: {reply:#?}",
                    case.name
                );
                assert_rule_refusal(&reply, forbidden, description);
                let open = send_token(&app, OPEN, &token).await;
                if open_follows_rule {
                    assert_rule_refusal(&open, forbidden, description);
                } else {
                    assert_eq!(
                        open.status,
                        StatusCode::OK,
                        "{} ({variant}) on the open route, token #{i}: {open:#?}",
                        case.name
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn validator_rules_apply_to_every_route() {
    let issuer = TestIssuer::start().await;
    run_cases(&issuer, true, |rule| layer_app(&issuer, rule)).await;
}

#[tokio::test]
async fn route_rules_apply_to_their_route_only() {
    let issuer = TestIssuer::start().await;
    let validator = issuer.validator().build().unwrap();
    run_cases(&issuer, false, |rule| {
        route_app(&validator, RequireClaims::new(rule))
    })
    .await;
    // One validator for all those routers: one key set fetch.
    assert_eq!(issuer.jwks_fetches(), 1);
}

#[tokio::test]
async fn validator_rules_also_hold_on_verified_token_cache_hits() {
    let issuer = TestIssuer::start().await;
    let app = layer_app(&issuer, ClaimRule::equals("gty", "client-credentials"));
    let good = issuer.token().claim("gty", "client-credentials").sign();
    let bad = issuer.token().claim("gty", "password").sign();
    for _ in 0..3 {
        send_token(&app, GUARDED, &good).await.assert_ok();
        assert_rule_refusal(
            &send_token(&app, GUARDED, &bad).await,
            false,
            "the gty claim does not have the required value",
        );
    }
}

#[tokio::test]
async fn rules_are_checked_in_order_and_the_first_failure_answers() {
    let issuer = TestIssuer::start().await;
    let validator = issuer
        .validator()
        .claim_rule(ClaimRule::equals("gty", "client-credentials").describe("layer rule 1"))
        .claim_rule(
            ClaimRule::client_id_in(["billing-service"])
                .or_forbidden()
                .describe("layer rule 2"),
        )
        .build()
        .unwrap();
    let guard = RequireClaims::new(ClaimRule::includes("roles", "admin").describe("route rule 1"))
        .and(
            ClaimRule::max_age(Duration::from_secs(600))
                .or_forbidden()
                .describe("route rule 2"),
        );
    let app = route_app(&validator, guard);
    let token = |gty: &str, client: &str, roles: &str, age: i64| {
        issuer
            .token()
            .claim("gty", gty)
            .claim("client_id", client)
            .claim("roles", roles)
            .claim("iat", now() - age)
            .sign()
    };
    let cc = "client-credentials";
    let expectations = [
        (token(cc, "billing-service", "admin", 0), None),
        (
            token("x", "other", "none", 3600),
            Some((false, "layer rule 1")),
        ),
        (
            token(cc, "other", "none", 3600),
            Some((true, "layer rule 2")),
        ),
        (
            token(cc, "billing-service", "none", 3600),
            Some((false, "route rule 1")),
        ),
        (
            token(cc, "billing-service", "admin", 3600),
            Some((true, "route rule 2")),
        ),
    ];
    for (token, expected) in expectations {
        let reply = send_token(&app, GUARDED, &token).await;
        match expected {
            None => {
                reply.assert_ok();
            }
            Some((forbidden, description)) => {
                assert_rule_refusal(&reply, forbidden, description);
            }
        }
    }
}

#[tokio::test]
async fn a_rule_guard_without_the_layer_never_passes() {
    let issuer = TestIssuer::start().await;
    let app = Router::new()
        .route(GUARDED, get(|| async { "should not be reached" }))
        .route_layer(RequireClaims::new(ClaimRule::predicate("always", |_| true)));
    send(&app, GUARDED, None).await.assert_bare_challenge();
    // Even a valid token: nothing verified it.
    send_token(&app, GUARDED, &issuer.token().sign())
        .await
        .assert_bare_challenge();
    assert_eq!(issuer.jwks_fetches(), 0);
}

#[tokio::test]
async fn rule_refusals_carry_the_realm() {
    let issuer = TestIssuer::start().await;
    let validator = issuer.validator().realm("messages").build().unwrap();
    let rule = ClaimRule::includes("roles", "admin").or_forbidden();
    let inherited = route_app(&validator, RequireClaims::new(rule.clone()));
    let own = route_app(&validator, RequireClaims::new(rule).realm("admin-area"));
    let token = issuer.token().sign();
    for (app, realm) in [(inherited, "messages"), (own, "admin-area")] {
        let reply = send_token(&app, GUARDED, &token).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{reply:#?}");
        let (_, params) = parse_challenge(reply.challenge.as_deref().unwrap());
        assert_eq!(
            params[0],
            ("realm".to_owned(), realm.to_owned()),
            "{params:?}"
        );
        assert_eq!(reply.param("error").as_deref(), Some("insufficient_scope"));
    }
}

/// `admin` OR (`read:messages` AND `write:messages`).
fn admin_or_read_write() -> ScopePolicy {
    ScopePolicy::any_of_all([vec!["admin"], vec!["read:messages", "write:messages"]])
}

#[tokio::test]
async fn any_of_all_scope_policy_through_require_scopes() {
    let issuer = TestIssuer::start().await;
    let validator = issuer.validator().build().unwrap();
    let app = Router::new()
        .route(GUARDED, get(echo))
        .route_layer(RequireScopes::policy(admin_or_read_write()))
        .route(OPEN, get(echo))
        .layer(BearerLayer::new(validator));

    for scope in [
        "admin",
        "read:messages write:messages",
        "write:messages read:messages",
        "admin read:messages",
        "other admin",
    ] {
        let reply = send_token(&app, GUARDED, &issuer.token().scope(scope).sign()).await;
        assert_eq!(reply.status, StatusCode::OK, "scope {scope:?}: {reply:#?}");
    }
    // `scp` arrays count as well.
    let scp = issuer
        .token()
        .claim("scp", json!(["read:messages", "write:messages"]))
        .sign();
    send_token(&app, GUARDED, &scp).await.assert_ok();

    for scope in [
        "",
        "read:messages",
        "write:messages",
        "read:messages write:message",
        "administrator",
        "Admin",
        "admin:read",
        "read:messages,write:messages",
    ] {
        let token = issuer.token().scope(scope).sign();
        let reply = send_token(&app, GUARDED, &token).await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "scope {scope:?}");
        reply.assert_insufficient_scope("admin read:messages write:messages");
        // The route without the guard takes it.
        send_token(&app, OPEN, &token).await.assert_ok();
    }
    let no_scope = issuer.token().sign();
    send_token(&app, GUARDED, &no_scope)
        .await
        .assert_insufficient_scope("admin read:messages write:messages");
}

#[tokio::test]
async fn the_scope_parameter_names_each_scope_once() {
    let issuer = TestIssuer::start().await;
    let validator = issuer.validator().build().unwrap();
    // `read:messages` AND (`admin` OR `write:messages`), written as two alternatives that
    // share `read:messages`.
    let policy = ScopePolicy::any_of_all([
        vec!["read:messages", "admin"],
        vec!["read:messages", "write:messages"],
    ]);
    let app = Router::new()
        .route(GUARDED, get(echo))
        .route_layer(RequireScopes::policy(policy))
        .layer(BearerLayer::new(validator));
    let reply = send_token(&app, GUARDED, &issuer.token().scope("admin").sign()).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{reply:#?}");
    let scope = reply.param("scope").expect("a scope parameter");
    let mut names: Vec<&str> = scope.split(' ').collect();
    let listed = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(
        listed,
        names.len(),
        "scope=\"{scope}\" names a scope more than once"
    );
    assert_eq!(names, ["admin", "read:messages", "write:messages"]);
}
