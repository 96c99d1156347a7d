//! Issuer templates whose tenants sign with keys of their own (Keycloak realms,
//! `{host}/realms/{tenantid}`; Auth0 or Okta tenants on their own domains): the tenant claim
//! can be named, or left out when each tenant's own discovery gives its own keys, and it
//! cannot be left out when the template's keys are one set for every tenant.

use axum::routing::get;
use axum::{Json, Router};
use bearer_guard::error::TokenProblem;
use bearer_guard::resolver::IssuerResolver;
use bearer_guard::testing::{DEFAULT_AUDIENCE, SigningKey, TokenBuilder};
use bearer_guard::{Validator, config::ConfigProblem};
use serde_json::json;

use crate::common::{PRIVATE, app, send_token};

const REALMS: [&str; 2] = ["acme", "globex"];

/// A Keycloak-like server on loopback: each realm its own discovery document and key set,
/// at `/realms/{realm}`.
struct Realms {
    base: String,
    keys: [SigningKey; 2],
    task: tokio::task::JoinHandle<()>,
}

impl Realms {
    async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let keys = [
            SigningKey::pooled("acme-key"),
            SigningKey::pooled("globex-key"),
        ];
        let mut router = Router::new();
        for (realm, key) in REALMS.iter().zip(&keys) {
            let issuer = format!("{base}/realms/{realm}");
            let discovery = json!({"issuer": issuer, "jwks_uri": format!("{issuer}/certs")});
            let jwks = json!({"keys": [key.jwk()]});
            router = router
                .route(
                    &format!("/realms/{realm}/.well-known/openid-configuration"),
                    get(move || async move { Json(discovery) }),
                )
                .route(
                    &format!("/realms/{realm}/certs"),
                    get(move || async move { Json(jwks) }),
                );
        }
        let task = tokio::spawn(async move {
            axum::serve(listener, router).await.expect("serve");
        });
        Realms { base, keys, task }
    }

    fn template(&self) -> String {
        format!("{}/realms/{{tenantid}}", self.base)
    }

    /// A token of `realm`'s issuer, signed with `key`.
    fn token(&self, realm: &str, key: &SigningKey) -> TokenBuilder {
        TokenBuilder::rs256(key)
            .issuer(format!("{}/realms/{realm}", self.base))
            .audience(DEFAULT_AUDIENCE)
            .expires_in_secs(300)
    }

    fn app(&self, resolver: IssuerResolver) -> Router {
        let template = Validator::builder().audience(DEFAULT_AUDIENCE);
        app(Validator::resolved_issuers(template, resolver).expect("valid"))
    }
}

impl Drop for Realms {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[tokio::test]
async fn without_a_tenant_claim_each_realms_own_keys_say_which_tenant_issued_a_token() {
    let realms = Realms::start().await;
    let app =
        realms.app(IssuerResolver::template(realms.template(), REALMS).without_tenant_claim());
    let [acme_key, globex_key] = &realms.keys;
    for (realm, key) in REALMS.iter().zip([acme_key, globex_key]) {
        let token = realms.token(realm, key).sign();
        send_token(&app, PRIVATE, &token).await.assert_ok();
    }
    // Acme's key passed off as Globex's token: Globex's own keys do not verify it.
    let passed_off = realms.token("globex", acme_key).sign();
    send_token(&app, PRIVATE, &passed_off)
        .await
        .assert_invalid_token_for(TokenProblem::UnknownKey);
}

#[tokio::test]
async fn the_tenant_claim_is_tid_unless_named_otherwise() {
    let realms = Realms::start().await;
    let [acme_key, _] = &realms.keys;
    let with_tid = realms.app(IssuerResolver::template(realms.template(), REALMS));
    let named =
        realms.app(IssuerResolver::template(realms.template(), REALMS).tenant_claim("realm"));
    let bare = realms.token("acme", acme_key);
    let by_tid = bare.clone().claim("tid", "acme").sign();
    let by_realm = bare.clone().claim("realm", "acme").sign();
    send_token(&with_tid, PRIVATE, &by_tid).await.assert_ok();
    send_token(&named, PRIVATE, &by_realm).await.assert_ok();
    for (app, token) in [(&with_tid, &by_realm), (&named, &by_tid)] {
        send_token(app, PRIVATE, token)
            .await
            .assert_invalid_token_for(TokenProblem::TenantMismatch);
    }
    let other_realm = bare.claim("realm", "globex").sign();
    send_token(&named, PRIVATE, &other_realm)
        .await
        .assert_invalid_token_for(TokenProblem::TenantMismatch);
}

/// Tenants that share one key set (a `jwks_uri`, static keys, a secret on the template) are
/// told apart by the tenant claim alone: leaving it out is refused when the validator is
/// built.
#[test]
fn shared_keys_need_the_tenant_claim() {
    let template = "https://login.example.com/{tenantid}/v2.0";
    let problems = |builder: bearer_guard::ValidatorBuilder| {
        let resolver = IssuerResolver::template(template, ["tenant-x"]).without_tenant_claim();
        Validator::resolved_issuers(builder.audience(DEFAULT_AUDIENCE), resolver)
            .err()
            .map(|error| error.problems().to_vec())
            .unwrap_or_default()
    };
    let shared = [
        Validator::builder().jwks_uri("https://login.example.com/common/keys"),
        Validator::builder().hs256_secret(vec![7u8; 32]),
    ];
    for builder in shared {
        assert_eq!(
            problems(builder),
            [ConfigProblem::SharedKeysWithoutTenantClaim]
        );
    }
    assert_eq!(
        problems(Validator::builder()),
        [],
        "each tenant's own discovery"
    );
}
