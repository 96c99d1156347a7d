//! Sender-constrained tokens through the quickstart router: DPoP (RFC 9449) and
//! certificate-bound tokens (RFC 8705).

mod common;

use bearer_guard::TokenProblem;
use common::*;
use serde_json::json;

/// §7.2, the downgrade: a token bound to a DPoP key (`cnf.jkt`) or to a client certificate
/// (`cnf["x5t#S256"]`) presented as a plain bearer token is refused, whatever else `cnf`
/// holds; a `cnf` with neither binding is ignored.
#[tokio::test]
async fn a_bound_token_presented_as_bearer_is_refused() {
    let fixture = Fixture::warm_default().await;
    let dpop_bound = fixture
        .token()
        .claim(
            "cnf",
            json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}),
        )
        .sign();
    fixture
        .send(PRIVATE, &dpop_bound)
        .await
        .assert_invalid_token_for(TokenProblem::DpopBound);
    let certificate_bound = fixture
        .token()
        .claim(
            "cnf",
            json!({"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}),
        )
        .sign();
    fixture
        .send(PRIVATE, &certificate_bound)
        .await
        .assert_invalid_token_for(TokenProblem::CertificateBound);
    let other_members = fixture.token().claim("cnf", json!({"kid": "k"})).sign();
    fixture.send(PRIVATE, &other_members).await.assert_ok();
    let not_an_object = fixture.token().claim("cnf", json!("jkt")).sign();
    fixture
        .send(PRIVATE, &not_an_object)
        .await
        .assert_invalid_token_saying("the cnf claim is invalid");
    // `Validator::validate` has no request to check a binding against: it refuses them too.
    let refused = fixture.validator.validate(&dpop_bound).await.unwrap_err();
    assert_eq!(
        refused,
        bearer_guard::AuthError::InvalidToken(TokenProblem::DpopBound)
    );
}
