//! RFC 9068 strict mode (`ValidatorBuilder::rfc9068`): the header's `typ` must be `at+jwt`
//! (or `application/at+jwt`, any letter case) and `sub`, `client_id`, `iat`, `jti` are
//! required. Off by default: Auth0 and others send `typ: JWT`.

use crate::common;

use bearer_guard::testing::TokenBuilder;
use common::{Fixture, PRIVATE, SCOPE, SCOPED};
use serde_json::json;

const NOT_AN_ACCESS_TOKEN: &str = "the token is not a JWT access token (typ at+jwt)";

async fn strict() -> Fixture {
    Fixture::start_with(|builder| builder.rfc9068()).await
}

/// A token meeting every RFC 9068 requirement.
fn access_token(f: &Fixture) -> TokenBuilder {
    f.issuer
        .token()
        .header("typ", "at+jwt")
        .claim("client_id", "client-1")
        .claim("jti", "token-id-1")
}

#[tokio::test]
async fn access_token_types_are_accepted_in_any_letter_case() {
    let f = strict().await;
    for typ in [
        "at+jwt",
        "application/at+jwt",
        "AT+JWT",
        "At+Jwt",
        "APPLICATION/AT+JWT",
        "Application/at+JWT",
    ] {
        let token = access_token(&f).header("typ", typ).sign();
        let reply = f.send(PRIVATE, &token).await;
        assert_eq!(
            reply.status,
            http::StatusCode::OK,
            "typ {typ:?}: {reply:#?}"
        );
        let body = reply.assert_ok();
        assert_eq!(body["client_id"], "client-1", "typ {typ:?}");
        assert_eq!(body["sub"], "test-client@clients", "typ {typ:?}");
    }
    // Strict mode changes nothing about scopes.
    let scoped = access_token(&f).scope(SCOPE).sign();
    f.send(SCOPED, &scoped).await.assert_ok();
    let unscoped = access_token(&f).sign();
    f.send(SCOPED, &unscoped)
        .await
        .assert_insufficient_scope(SCOPE);
}

#[tokio::test]
async fn other_types_and_a_missing_typ_are_refused() {
    let f = strict().await;
    for typ in [
        "JWT",
        "jwt",
        "application/jwt",
        "at+jwt ",
        " at+jwt",
        "at+jwt; charset=utf-8",
        "application/application/at+jwt",
        "application/",
        "x-application/at+jwt",
        "atjwt",
        "at jwt",
        "",
        "secevent+jwt",
        // Not ASCII, with a character across the `application/` prefix boundary.
        "applicatio\u{20ac}/at+jwt",
        "at+jwt\u{e9}",
    ] {
        let token = access_token(&f).header("typ", typ).sign();
        let reply = f.send(PRIVATE, &token).await;
        assert_eq!(
            reply.status,
            http::StatusCode::UNAUTHORIZED,
            "typ {typ:?}: {reply:#?}"
        );
        reply.assert_invalid_token_saying(NOT_AN_ACCESS_TOKEN);
    }
    let without_typ = access_token(&f).without_header("typ").sign();
    f.send(PRIVATE, &without_typ)
        .await
        .assert_invalid_token_saying(NOT_AN_ACCESS_TOKEN);
    // `typ` of another JSON type.
    for typ in [json!(null), json!(["at+jwt"]), json!(1)] {
        let token = access_token(&f).header("typ", typ.clone()).sign();
        let reply = f.send(PRIVATE, &token).await;
        reply.assert_invalid_token();
    }
}

#[tokio::test]
async fn each_required_claim_is_required() {
    let f = strict().await;
    f.send(PRIVATE, &access_token(&f).sign()).await.assert_ok();
    for claim in ["sub", "client_id", "iat", "jti"] {
        let token = access_token(&f).without_claim(claim).sign();
        let reply = f.send(PRIVATE, &token).await;
        reply.assert_invalid_token_saying(&format!("the token lacks the {claim} claim"));
    }
    // `azp` does not stand in for `client_id` in strict mode (RFC 9068 §2.2 requires
    // `client_id` itself).
    let azp_only = access_token(&f)
        .without_claim("client_id")
        .claim("azp", "client-1")
        .sign();
    f.send(PRIVATE, &azp_only)
        .await
        .assert_invalid_token_saying("the token lacks the client_id claim");
}

#[tokio::test]
async fn required_string_claims_must_be_strings() {
    let f = strict().await;
    for claim in ["sub", "client_id", "jti"] {
        for value in [json!(1), json!(null), json!(["x"]), json!({"id": "x"})] {
            let token = access_token(&f).claim(claim, value.clone()).sign();
            let reply = f.send(PRIVATE, &token).await;
            reply.assert_invalid_token_saying(&format!("the {claim} claim is invalid"));
        }
    }
    let iat_text = access_token(&f).claim("iat", "1700000000").sign();
    f.send(PRIVATE, &iat_text)
        .await
        .assert_invalid_token_saying("the iat claim is invalid");
}

#[tokio::test]
async fn the_default_mode_accepts_typ_jwt_and_no_access_token_claims() {
    let f = Fixture::start().await;
    // The TestIssuer's tokens say `typ: JWT` and have neither `client_id` nor `jti`.
    let plain = f.issuer.token().sign();
    f.send(PRIVATE, &plain).await.assert_ok();
    let without_typ = f.issuer.token().without_header("typ").sign();
    f.send(PRIVATE, &without_typ).await.assert_ok();
    let bare = f
        .issuer
        .token()
        .without_claim("sub")
        .without_claim("iat")
        .sign();
    f.send(PRIVATE, &bare).await.assert_ok();
    // And of course a full RFC 9068 token.
    f.send(PRIVATE, &access_token(&f).sign()).await.assert_ok();
}

#[tokio::test]
async fn strict_mode_does_not_relax_anything_else() {
    let f = strict().await;
    for (token, description) in [
        (
            access_token(&f).expires_in_secs(-3600).sign(),
            "the token has expired",
        ),
        (
            access_token(&f).audience("https://other.example").sign(),
            "the token is not intended for this API",
        ),
        (
            access_token(&f).issuer("https://evil.example/").sign(),
            "the token issuer is not accepted",
        ),
        (
            access_token(&f).claim("iat", common::now() + 3600).sign(),
            "the token was issued in the future",
        ),
    ] {
        f.send(PRIVATE, &token)
            .await
            .assert_invalid_token_saying(description);
    }
}

/// A JWT whose `typ` says it is another kind of token (a DPoP proof, an introspection
/// response, a logout token, a security event, a client assertion...) is refused in the
/// default mode too, even when its `aud` is this API: its issuer signed it for another
/// purpose. Media types compare in any letter case, with or without `application/`; `at+jwt`,
/// `JWT` and no `typ` keep working.
#[tokio::test]
async fn the_default_mode_refuses_jwts_of_other_types() {
    let f = Fixture::start().await;
    for typ in [
        "dpop+jwt",
        "token-introspection+jwt",
        "logout+jwt",
        "secevent+jwt",
        "jwk-set+jwt",
        "oauth-authz-req+jwt",
        "entity-statement+jwt",
        "trust-mark+jwt",
        "kb+jwt",
        "vc+jwt",
        "dc+sd-jwt",
        "DPoP+JWT",
        "application/dpop+jwt",
        "Application/Logout+JWT",
    ] {
        let token = access_token(&f).header("typ", typ).sign();
        f.send(PRIVATE, &token)
            .await
            .assert_invalid_token_saying(NOT_AN_ACCESS_TOKEN);
        let refused = f.validator.validate(&token).await.unwrap_err();
        assert_eq!(
            refused.description(),
            NOT_AN_ACCESS_TOKEN,
            "typ {typ:?} through Validator::validate"
        );
    }
    for typ in [
        "at+jwt",
        "application/AT+JWT",
        "JWT",
        "jwt",
        "application/jwt",
    ] {
        let token = access_token(&f).header("typ", typ).sign();
        f.send(PRIVATE, &token).await.assert_ok();
    }
    let untyped = access_token(&f).without_header("typ").sign();
    f.send(PRIVATE, &untyped).await.assert_ok();
}
