//! `Validator::explain_request` on sender-bound tokens: a DPoP proof checked as the layer
//! checks it (its verdict is the layer's, but for the replay store, which explaining never
//! writes), the URI the proof had to name and the one it names, a hint for each common
//! mistake; and a certificate-bound token against the request's client certificate.

use crate::common;

use axum::Router;
use bearer_guard::Validator;
use bearer_guard::diagnose::{Explanation, Outcome};
use bearer_guard::dpop::Dpop;
use bearer_guard::testing::{DpopProof, TestIssuer};
use common::{PRIVATE, get_with};
use http::{HeaderName, StatusCode, header};

const BASE: &str = "https://api.example.com";

/// The request `GET /api/private` with `Authorization: {scheme} {token}` and these proofs.
fn request(scheme: &str, token: &str, proofs: &[&str]) -> http::Request<()> {
    let mut builder =
        http::Request::get(PRIVATE).header(header::AUTHORIZATION, format!("{scheme} {token}"));
    for proof in proofs {
        builder = builder.header("dpop", *proof);
    }
    builder.body(()).expect("a request")
}

/// The same request through the layer.
async fn send(app: &Router, scheme: &str, token: &str, proofs: &[&str]) -> StatusCode {
    let authorization = format!("{scheme} {token}");
    let mut headers = vec![(header::AUTHORIZATION, authorization.as_bytes())];
    for proof in proofs {
        headers.push((HeaderName::from_static("dpop"), proof.as_bytes()));
    }
    get_with(app, PRIVATE, &headers).await.status
}

/// The `binding` check of a report.
fn binding(report: &Explanation) -> &bearer_guard::diagnose::Check {
    report
        .checks
        .iter()
        .find(|check| check.name == "binding")
        .expect("a binding check")
}

async fn dpop_validator(issuer: &TestIssuer) -> Validator {
    issuer
        .validator()
        .dpop(Dpop::allowed().public_url(BASE))
        .build()
        .expect("valid configuration")
}

#[tokio::test]
async fn a_good_proof_passes_and_explaining_it_records_nothing() {
    let issuer = TestIssuer::start().await;
    let validator = dpop_validator(&issuer).await;
    let app = common::app(validator.clone());
    let key = DpopProof::generate();
    let token = issuer.token().dpop_bound(&key.jkt()).sign();
    let proof = key.proof("GET", &format!("{BASE}{PRIVATE}"), &token);

    let report = validator
        .explain_request(&request("DPoP", &token, &[&proof]))
        .await;
    assert!(report.passed(), "{report}");
    let check = binding(&report);
    assert!(
        check
            .expected
            .contains("https://api.example.com/api/private")
            && check.expected.contains("a replay is not checked"),
        "{report}"
    );
    // Explaining did not use the proof up: the layer takes it once, then refuses the replay.
    assert_eq!(send(&app, "DPoP", &token, &[&proof]).await, StatusCode::OK);
    assert_eq!(
        send(&app, "DPoP", &token, &[&proof]).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_proof_for_another_url_fails_binding_and_names_both_urls() {
    let issuer = TestIssuer::start().await;
    let validator = dpop_validator(&issuer).await;
    let key = DpopProof::generate();
    let token = issuer.token().dpop_bound(&key.jkt()).sign();
    // The client called the API through a local port-forward; the API knows its public URL.
    let proof = key.proof("GET", "http://localhost:3000/api/private", &token);

    let report = validator
        .explain_request(&request("DPoP", &token, &[&proof]))
        .await;
    let check = report.first_failure().expect("a failure");
    assert_eq!(check.name, "binding", "{report}");
    assert_eq!(check.outcome, Outcome::Fail);
    assert!(check.found.contains("another URI"), "{report}");
    let hint = check.hint.as_deref().unwrap_or_default();
    for part in [
        "http://localhost:3000/api/private",
        "https://api.example.com/api/private",
        "public_url",
    ] {
        assert!(hint.contains(part), "{part} in {hint}");
    }
    // Every check before the binding passed: the token itself is fine.
    let before = report.checks.iter().take_while(|c| c.name != "binding");
    assert!(
        before.clone().all(|c| c.outcome == Outcome::Pass),
        "{report}"
    );
}

#[tokio::test]
async fn each_common_proof_mistake_has_its_hint() {
    let issuer = TestIssuer::start().await;
    let validator = dpop_validator(&issuer).await;
    let key = DpopProof::generate();
    let other = DpopProof::generate();
    let token = issuer.token().dpop_bound(&key.jkt()).sign();
    let here = format!("{BASE}{PRIVATE}");
    let cases = [
        ("no proof", request("DPoP", &token, &[]), "`DPoP` header"),
        (
            "a proof for another token",
            request(
                "DPoP",
                &token,
                &[&key.proof("GET", &here, "another.token.x")],
            ),
            "`ath`",
        ),
        (
            "another key",
            request("DPoP", &token, &[&other.proof("GET", &here, &token)]),
            "`cnf.jkt`",
        ),
        (
            "another method",
            request("DPoP", &token, &[&key.proof("POST", &here, &token)]),
            "`htm`",
        ),
        (
            "an old proof",
            request(
                "DPoP",
                &token,
                &[&key
                    .clone()
                    .iat_offset_secs(-400)
                    .proof("GET", &here, &token)],
            ),
            "clock",
        ),
        (
            "the bound token as a bearer token",
            request("Bearer", &token, &[]),
            "`DPoP` scheme",
        ),
    ];
    for (name, request, expected) in cases {
        let report = validator.explain_request(&request).await;
        let check = report.first_failure().expect("a failure");
        assert_eq!(check.name, "binding", "{name}: {report}");
        let hint = check.hint.as_deref().unwrap_or_default();
        assert!(hint.contains(expected), "{name}: {expected} in {hint:?}");
    }
}

/// The report's verdict is the layer's on every request (a fresh proof each, so that the
/// replay store, which only the layer writes, never decides).
#[tokio::test]
async fn the_verdict_on_a_request_is_the_layers() {
    let issuer = TestIssuer::start().await;
    let validator = dpop_validator(&issuer).await;
    let app = common::app(validator.clone());
    let key = DpopProof::generate();
    let other = DpopProof::generate();
    let bound = issuer.token().dpop_bound(&key.jkt()).sign();
    let bearer = issuer.token().sign();
    let here = format!("{BASE}{PRIVATE}");
    type Case<'a> = (&'a str, &'a str, Box<dyn Fn() -> Vec<String> + 'a>);
    let cases: Vec<Case<'_>> = vec![
        (
            "DPoP",
            &bound,
            Box::new(|| vec![key.proof("GET", &here, &bound)]),
        ),
        ("DPoP", &bound, Box::new(Vec::new)),
        (
            "DPoP",
            &bound,
            Box::new(|| vec![key.proof("GET", "https://evil.example/api/private", &bound)]),
        ),
        (
            "DPoP",
            &bound,
            Box::new(|| vec![key.proof("DELETE", &here, &bound)]),
        ),
        (
            "DPoP",
            &bound,
            Box::new(|| vec![other.proof("GET", &here, &bound)]),
        ),
        (
            "DPoP",
            &bound,
            Box::new(|| {
                vec![
                    key.proof("GET", &here, &bound),
                    key.proof("GET", &here, &bound),
                ]
            }),
        ),
        ("Bearer", &bound, Box::new(Vec::new)),
        ("Bearer", &bearer, Box::new(Vec::new)),
        (
            "DPoP",
            &bearer,
            Box::new(|| vec![key.proof("GET", &here, &bearer)]),
        ),
    ];
    for (scheme, token, proofs) in &cases {
        let explained = proofs();
        let explained: Vec<&str> = explained.iter().map(String::as_str).collect();
        let report = validator
            .explain_request(&request(scheme, token, &explained))
            .await;
        let sent = proofs();
        let sent: Vec<&str> = sent.iter().map(String::as_str).collect();
        let status = send(&app, scheme, token, &sent).await;
        assert_eq!(
            report.passed(),
            status == StatusCode::OK,
            "{scheme} with {} proofs: the layer answered {status}\n{report}",
            sent.len()
        );
    }
}

/// Without DPoP configured, the binding check is the bearer one, and a bound token is
/// refused there, as the layer refuses it.
#[tokio::test]
async fn without_dpop_a_bound_token_is_refused_at_binding() {
    let issuer = TestIssuer::start().await;
    let validator = issuer.validator().build().expect("valid configuration");
    let key = DpopProof::generate();
    let token = issuer.token().dpop_bound(&key.jkt()).sign();
    let report = validator
        .explain_request(&request("Bearer", &token, &[]))
        .await;
    let check = report.first_failure().expect("a failure");
    assert_eq!(check.name, "binding", "{report}");
    assert_eq!(check.expected, "a bearer token (no cnf)");
    let bearer = issuer.token().sign();
    assert!(
        validator
            .explain_request(&request("Bearer", &bearer, &[]))
            .await
            .passed()
    );
}

/// A certificate-bound token is explained against the request's client certificate, as the
/// layer checks it: it passes with that certificate, and fails at `binding` without it or
/// with another one.
#[tokio::test]
async fn a_certificate_bound_token_is_explained_against_the_requests_certificate() {
    use bearer_guard::dpop::{ClientCertificate, Mtls};
    use bearer_guard::testing::certificate_thumbprint;
    use bytes::Bytes;

    let issuer = TestIssuer::start().await;
    let validator = issuer
        .validator()
        .mtls(Mtls::new())
        .build()
        .expect("valid configuration");
    let certificate = Bytes::from_static(b"the client's certificate, DER");
    let token = issuer
        .token()
        .certificate_bound(&certificate_thumbprint(&certificate))
        .sign();
    let with = |certificate: Option<&[u8]>| {
        let mut request = request("Bearer", &token, &[]);
        if let Some(der) = certificate {
            request
                .extensions_mut()
                .insert(ClientCertificate(Bytes::copy_from_slice(der)));
        }
        request
    };

    let report = validator.explain_request(&with(Some(&certificate))).await;
    assert!(report.passed(), "{report}");
    for (name, request) in [
        ("no certificate", with(None)),
        ("another certificate", with(Some(b"another one"))),
    ] {
        let report = validator.explain_request(&request).await;
        let check = report.first_failure().expect("a failure");
        assert_eq!(check.name, "binding", "{name}: {report}");
    }
}
