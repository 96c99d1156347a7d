//! Issuer templates with `{tenantid}` (`IssuerResolver::template`): an Entra-like
//! multi-tenant issuer whose tenants share one key set. The rules: `tid` names the tenant of
//! `iss`; a tenant id is one well-formed segment, whatever the callback admits; nothing is
//! fetched for a tenant not admitted; and resolved issuers are configured up front.

use crate::common;

use bearer_guard::error::TokenProblem;
use bearer_guard::resolver::IssuerResolver;
use bearer_guard::testing::{DEFAULT_AUDIENCE, TestIssuer};
use bearer_guard::{Validator, config::ConfigProblem};
use common::{PRIVATE, Reply, app};

/// An Entra-like multi-tenant issuer: `{issuer}{tenantid}/v2.0`, one key set for all tenants,
/// every tenant whose id starts with `tenant-` served (a callback as loose as a careless
/// one: the tenant id's syntax must hold on its own).
struct Entra {
    keys: TestIssuer,
    validator: Validator,
    app: axum::Router,
}

impl Entra {
    async fn start() -> Self {
        let keys = TestIssuer::start().await;
        let template = format!("{}{{tenantid}}/v2.0", keys.issuer());
        let resolver = IssuerResolver::template_where(template, |candidate| {
            candidate.tenant().starts_with("tenant-")
        });
        let builder = Validator::builder()
            .audience(DEFAULT_AUDIENCE)
            .jwks_uri(keys.jwks_uri());
        let validator = Validator::resolved_issuers(builder, resolver).expect("valid");
        Entra {
            app: app(validator.clone()),
            validator,
            keys,
        }
    }

    fn issuer_of(&self, tenant: &str) -> String {
        format!("{}{tenant}/v2.0", self.keys.issuer())
    }

    async fn send(&self, iss: &str, tid: Option<&str>) -> Reply {
        let token = self.keys.token().issuer(iss);
        let token = match tid {
            Some(tid) => token.claim("tid", tid),
            None => token,
        };
        common::send_token(&self.app, PRIVATE, &token.sign()).await
    }
}

#[tokio::test]
async fn a_template_issuer_must_carry_its_own_tenant_in_tid() {
    let f = Entra::start().await;
    let x = f.issuer_of("tenant-x");
    let reply = f.send(&x, Some("tenant-x")).await;
    assert_eq!(reply.assert_ok()["iss"], x.as_str());

    f.send(&x, Some("tenant-y"))
        .await
        .assert_invalid_token_for(TokenProblem::TenantMismatch);
    f.send(&x, None)
        .await
        .assert_invalid_token_for(TokenProblem::TenantMismatch);
    let passed_off = f
        .keys
        .token()
        .issuer(x.as_str())
        .claim("tid", "tenant-y")
        .sign();
    let explained = f.validator.explain(&passed_off).await;
    let failure = explained.first_failure().expect("refused");
    assert_eq!(failure.name, "iss", "{explained}");
    assert!(
        failure.hint.as_deref().unwrap_or("").contains("`tid`"),
        "{explained}"
    );
    // Tenant Y's token claiming X's tenant, and the other way round.
    f.send(&f.issuer_of("tenant-y"), Some("tenant-x"))
        .await
        .assert_invalid_token_for(TokenProblem::TenantMismatch);
    f.send(&f.issuer_of("tenant-y"), Some("tenant-y"))
        .await
        .assert_ok();
}

#[tokio::test]
async fn a_tenant_id_that_is_not_one_segment_or_not_listed_is_refused_without_a_fetch() {
    let f = Entra::start().await;
    for tenant in [
        "tenant-x/..",
        "..",
        ".",
        "tenant-x/../tenant-y",
        "%2e%2e",
        "tenant-x%2F",
        "a/b",
        "tenant-x?",
        "tenant-x#",
        "tenant-x@evil",
        "",
        "other",
    ] {
        let iss = f.issuer_of(tenant);
        f.send(&iss, Some(tenant))
            .await
            .assert_invalid_token_for(TokenProblem::WrongIssuer);
    }
    assert_eq!((f.keys.discovery_fetches(), f.keys.jwks_fetches()), (0, 0));
}

#[tokio::test]
async fn resolved_issuers_are_configured_up_front() {
    let problems = |template: bearer_guard::ValidatorBuilder, resolver: IssuerResolver| {
        Validator::resolved_issuers(template, resolver)
            .err()
            .map(|error| error.problems().to_vec())
            .unwrap_or_default()
    };
    let template = Validator::builder().audience(DEFAULT_AUDIENCE);
    let entra = "https://login.microsoftonline.com/{tenantid}/v2.0";
    assert_eq!(
        problems(
            template.clone(),
            IssuerResolver::template(entra, ["tenant-x"])
        ),
        []
    );
    assert_eq!(
        problems(
            template.clone(),
            IssuerResolver::template("https://login.example.com/", ["tenant-x"])
        ),
        [ConfigProblem::InvalidIssuerTemplate(
            "https://login.example.com/".into()
        )]
    );
    assert_eq!(
        problems(template.clone(), IssuerResolver::template(entra, ["a/b"])),
        [ConfigProblem::InvalidTenantId("a/b".into())]
    );
    assert_eq!(
        problems(
            template.clone().issuer("https://login.example.com/"),
            IssuerResolver::template(entra, ["tenant-x"]).max_issuers(0)
        ),
        [
            ConfigProblem::IssuerInTemplate,
            ConfigProblem::ZeroLimit("max_issuers")
        ]
    );
    assert_eq!(
        problems(
            template.clone(),
            IssuerResolver::issuers(["http://login.example.com/"])
        ),
        [ConfigProblem::InsecureUrl("issuer")]
    );
    assert_eq!(
        problems(
            template.clone(),
            IssuerResolver::issuers(Vec::<String>::new())
        ),
        [ConfigProblem::MissingIssuer]
    );
    // The template's own settings are checked too.
    assert_eq!(
        problems(
            Validator::builder(),
            IssuerResolver::template(entra, ["tenant-x"])
        ),
        [ConfigProblem::MissingAudience]
    );
    let resolved =
        Validator::resolved_issuers(template.clone(), IssuerResolver::template(entra, ["x"]))
            .expect("valid");
    // The metadata names the listed issuers, never a template.
    let names: Vec<&str> = resolved.issuer_names().collect();
    assert_eq!(names, ["https://login.microsoftonline.com/x/v2.0"]);
    let loose = IssuerResolver::template_where(entra, |_| true);
    let loose = Validator::resolved_issuers(template.clone(), loose).expect("valid");
    assert_eq!(loose.issuer_names().count(), 0);
    let fixed = template
        .issuer("https://login.example.com/")
        .build()
        .expect("valid");
    let combined = Validator::for_issuers([fixed, resolved]).expect_err("refused");
    assert_eq!(
        combined.problems(),
        [ConfigProblem::ResolvedIssuersCombined]
    );
}
