//! The test issuer's client credentials grant, over real HTTP: `POST /oauth/token` answers as
//! RFC 6749 §4.4 / §5 and Auth0 do, and its tokens pass (or are refused by) a real
//! `BearerLayer` router served on loopback.

use crate::common;

use axum::Router;
use axum::routing::get;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bearer_guard::testing::{Api, DEFAULT_TOKEN_LIFETIME, Fault, TestIssuer, generate_secret};
use bearer_guard::{BearerLayer, RequireScopes, Validator};
use common::{Reply, decode, echo_claims, eventually};
use http::header;
use serde_json::{Value, json};

const API: &str = "https://api.example.com";
const HS_API: &str = "https://hs.example.com";
const HS_SECRET: &str = "the-hs256-api-signing-secret-of-40-bytes";
const READ: &str = "read:messages";
const WRITE: &str = "write:messages";
const CLIENT: &str = "reader-client";
const SECRET: &str = "reader-client-secret";

/// An issuer with the seed's set-up: the API with `read:messages` and `write:messages`, and
/// a client authorized for `read:messages` only.
async fn seeded() -> TestIssuer {
    let issuer = TestIssuer::start().await;
    issuer.register_api(Api::new(API).scopes([READ, WRITE]));
    issuer.register_client(CLIENT, SECRET);
    issuer.grant(CLIENT, API, [READ]);
    issuer
}

/// How a request authenticates the client.
#[derive(Clone, Copy)]
enum Auth<'a> {
    /// `Authorization: Basic ...`.
    Basic(&'a str, &'a str),
    /// `client_id` and `client_secret` in the form.
    Post(&'a str, &'a str),
    /// Both at once.
    Both(&'a str, &'a str),
    /// Neither.
    None,
}

/// The assertions on what the token endpoint answered.
trait TokenEndpointReply {
    fn assert_oauth_error(&self, status: u16, error: &str);
    fn assert_json_no_store(&self);
    fn assert_token(&self, scope: &str) -> String;
}

impl TokenEndpointReply for Reply {
    /// Asserts an RFC 6749 §5.2 error: status, `error`, a description, JSON, `no-store`.
    #[track_caller]
    fn assert_oauth_error(&self, status: u16, error: &str) {
        assert_eq!(
            (self.status.as_u16(), self.body["error"].as_str()),
            (status, Some(error)),
            "{self:?}"
        );
        assert!(
            self.body["error_description"].is_string(),
            "no error_description: {self:?}"
        );
        assert!(self.body.get("access_token").is_none(), "{self:?}");
        self.assert_json_no_store();
        if status == 401 {
            let challenge = self.header(header::WWW_AUTHENTICATE).expect("a challenge");
            assert!(challenge.starts_with("Basic "), "{challenge}");
        } else {
            assert_eq!(self.header(header::WWW_AUTHENTICATE), None, "{self:?}");
        }
    }

    #[track_caller]
    fn assert_json_no_store(&self) {
        assert_eq!(
            self.header(header::CONTENT_TYPE),
            Some("application/json"),
            "{self:?}"
        );
        assert_eq!(
            self.header(header::CACHE_CONTROL),
            Some("no-store"),
            "{self:?}"
        );
    }

    /// Asserts a token response and returns the token.
    #[track_caller]
    fn assert_token(&self, scope: &str) -> String {
        assert_eq!(self.status, 200, "{self:?}");
        self.assert_json_no_store();
        assert_eq!(self.body["token_type"], "Bearer", "{self:?}");
        assert_eq!(self.body["scope"], scope, "{self:?}");
        assert_eq!(
            self.body["expires_in"],
            DEFAULT_TOKEN_LIFETIME.as_secs(),
            "{self:?}"
        );
        self.body["access_token"]
            .as_str()
            .expect("an access_token")
            .to_owned()
    }
}

/// POSTs `body` with this content type and client authentication to the token endpoint.
async fn post_raw(issuer: &TestIssuer, auth: Auth<'_>, content_type: &str, body: Vec<u8>) -> Reply {
    let mut request = reqwest::Client::new()
        .post(issuer.token_endpoint())
        .header(header::CONTENT_TYPE, content_type)
        .body(body);
    if let Auth::Basic(id, secret) | Auth::Both(id, secret) = auth {
        request = request.basic_auth(id, Some(secret));
    }
    let response = request.send().await.expect("the token endpoint answers");
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = response.bytes().await.expect("a body");
    Reply::from_parts(status, headers, bytes.to_vec())
}

/// POSTs these form parameters (plus the client's, for [`Auth::Post`] and [`Auth::Both`]).
async fn post(issuer: &TestIssuer, auth: Auth<'_>, params: &[(&str, &str)]) -> Reply {
    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.extend_pairs(params);
    if let Auth::Post(id, secret) | Auth::Both(id, secret) = auth {
        form.append_pair("client_id", id)
            .append_pair("client_secret", secret);
    }
    let body = form.finish().into_bytes();
    post_raw(issuer, auth, "application/x-www-form-urlencoded", body).await
}

/// A client credentials request for `audience`, with `scope` if given.
async fn request(
    issuer: &TestIssuer,
    auth: Auth<'_>,
    audience: &str,
    scope: Option<&str>,
) -> Reply {
    let mut params = vec![("grant_type", "client_credentials"), ("audience", audience)];
    if let Some(scope) = scope {
        params.push(("scope", scope));
    }
    post(issuer, auth, &params).await
}

/// The seed's API behind `BearerLayer`, served on loopback: `/api/private` needs a token,
/// `/api/private-scoped` `read:messages`, `/api/messages/write` `write:messages`. Protected
/// handlers echo the claims (`common::echo_claims`). Returns the base URL.
async fn serve_api(validator: Validator) -> String {
    let app = Router::new()
        .route("/api/private-scoped", get(echo_claims))
        .route_layer(RequireScopes::all([READ]))
        .merge(
            Router::new()
                .route("/api/messages/write", get(echo_claims))
                .route_layer(RequireScopes::all([WRITE])),
        )
        .route("/api/private", get(echo_claims))
        .layer(BearerLayer::new(validator));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

/// GETs `path` over HTTP with the token, as a client would.
async fn call(base: &str, path: &str, token: Option<&str>) -> Reply {
    let mut request = reqwest::Client::new().get(format!("{base}{path}"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("the API answers");
    let (status, headers) = (response.status(), response.headers().clone());
    let bytes = response.bytes().await.expect("a body");
    Reply::from_parts(status, headers, bytes.to_vec())
}

// ---------------------------------------------------------------------------------------------
// Discovery and the token response

#[tokio::test]
async fn discovery_advertises_the_token_endpoint() {
    let issuer = seeded().await;
    assert_eq!(
        issuer.token_endpoint(),
        format!("{}oauth/token", issuer.issuer())
    );
    let url = format!("{}.well-known/openid-configuration", issuer.issuer());
    let document: Value = serde_json::from_slice(
        &reqwest::get(url)
            .await
            .expect("discovery")
            .bytes()
            .await
            .expect("a body"),
    )
    .expect("JSON");
    assert_eq!(document["token_endpoint"], issuer.token_endpoint());
    assert_eq!(
        document["grant_types_supported"],
        json!(["client_credentials"])
    );
    assert_eq!(
        document["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post"])
    );
}

#[tokio::test]
async fn a_granted_client_gets_a_token_with_auth0_claims() {
    let issuer = seeded().await;
    let reply = request(&issuer, Auth::Basic(CLIENT, SECRET), API, None).await;
    let token = reply.assert_token(READ);
    assert_eq!(reply.header(header::PRAGMA), Some("no-cache"));

    let (head, claims) = decode(&token);
    assert_eq!(head["alg"], "RS256");
    assert_eq!(head["typ"], "JWT");
    assert_eq!(head["kid"], "key-1");
    assert_eq!(claims["iss"], issuer.issuer());
    assert_eq!(claims["sub"], format!("{CLIENT}@clients"));
    assert_eq!(claims["aud"], API);
    assert_eq!(claims["azp"], CLIENT);
    assert_eq!(claims["client_id"], CLIENT);
    assert_eq!(claims["gty"], "client-credentials");
    assert_eq!(claims["scope"], READ);
    let (iat, exp) = (
        claims["iat"].as_i64().unwrap(),
        claims["exp"].as_i64().unwrap(),
    );
    assert_eq!(exp - iat, DEFAULT_TOKEN_LIFETIME.as_secs() as i64);
    let jti = claims["jti"].as_str().expect("a jti");
    assert!(jti.len() >= 16, "{jti}");

    // Every token has its own jti.
    let again = request(&issuer, Auth::Basic(CLIENT, SECRET), API, None)
        .await
        .assert_token(READ);
    assert_ne!(decode(&again).1["jti"], jti);

    // The issuer's own validator for the API accepts it, keys by discovery.
    let validator = issuer.validator_for(API).build().unwrap();
    let verified = validator.validate(&token).await.expect("a valid token");
    assert_eq!(verified.client_id(), Some(CLIENT));
    assert!(verified.has_scope(READ) && !verified.has_scope(WRITE));
    assert_eq!(issuer.token_requests(), 2);
}

#[tokio::test]
async fn client_secret_post_and_json_bodies_work_too() {
    let issuer = seeded().await;
    request(&issuer, Auth::Post(CLIENT, SECRET), API, None)
        .await
        .assert_token(READ);

    // Auth0 also takes the parameters as a JSON object.
    let body = json!({
        "grant_type": "client_credentials",
        "client_id": CLIENT,
        "client_secret": SECRET,
        "audience": API,
    });
    post_raw(
        &issuer,
        Auth::None,
        "application/json",
        body.to_string().into_bytes(),
    )
    .await
    .assert_token(READ);

    // A charset parameter on the media type is fine.
    let form = format!("grant_type=client_credentials&audience={API}");
    post_raw(
        &issuer,
        Auth::Basic(CLIENT, SECRET),
        "application/x-www-form-urlencoded; charset=UTF-8",
        form.into_bytes(),
    )
    .await
    .assert_token(READ);
}

#[tokio::test]
async fn scope_selects_among_the_granted_scopes() {
    let issuer = seeded().await;
    issuer.register_client("both", "both-secret");
    issuer.grant("both", API, [READ, WRITE]);
    let auth = Auth::Basic("both", "both-secret");

    request(&issuer, auth, API, None)
        .await
        .assert_token("read:messages write:messages");
    let token = request(&issuer, auth, API, Some(WRITE))
        .await
        .assert_token(WRITE);
    assert_eq!(decode(&token).1["scope"], WRITE);
    // Repeated scopes count once; order follows the request.
    request(
        &issuer,
        auth,
        API,
        Some("write:messages read:messages write:messages"),
    )
    .await
    .assert_token("write:messages read:messages");
    // A parameter without a value is treated as omitted (RFC 6749 §3.1): every granted scope.
    request(&issuer, auth, API, Some(""))
        .await
        .assert_token("read:messages write:messages");
}

#[tokio::test]
async fn a_client_granted_no_scopes_gets_a_token_without_scope() {
    let issuer = seeded().await;
    issuer.register_client("bare", "bare-secret");
    issuer.grant("bare", API, Vec::<String>::new());
    let token = request(&issuer, Auth::Basic("bare", "bare-secret"), API, None)
        .await
        .assert_token("");
    assert_eq!(decode(&token).1.get("scope"), None);
}

#[tokio::test]
async fn token_lifetime_and_rfc9068_profile_follow_the_api() {
    let issuer = seeded().await;
    let api = "https://strict.example.com";
    issuer.register_api(
        Api::new(api)
            .scopes([READ])
            .token_lifetime(std::time::Duration::from_secs(600))
            .rfc9068_profile(),
    );
    issuer.grant(CLIENT, api, [READ]);
    let reply = request(&issuer, Auth::Basic(CLIENT, SECRET), api, None).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["expires_in"], 600);
    let token = reply.body["access_token"].as_str().unwrap();
    let (head, claims) = decode(token);
    assert_eq!(head["typ"], "at+jwt");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        600
    );
    let strict = issuer.validator_for(api).rfc9068().build().unwrap();
    strict.validate(token).await.expect("an RFC 9068 token");
}

#[tokio::test]
async fn tokens_are_signed_with_the_current_key_after_rotation() {
    let issuer = seeded().await;
    // The first fetch counts toward the unknown-kid refetch cooldown: the shortest there is.
    let validator = issuer
        .validator_for(API)
        .refetch_cooldown(std::time::Duration::from_secs(1))
        .build()
        .unwrap();
    let first = request(&issuer, Auth::Basic(CLIENT, SECRET), API, None)
        .await
        .assert_token(READ);
    validator.validate(&first).await.expect("valid");
    issuer.rotate("key-2");
    let second = request(&issuer, Auth::Basic(CLIENT, SECRET), API, None)
        .await
        .assert_token(READ);
    assert_eq!(decode(&second).0["kid"], "key-2");
    let accepted = eventually(std::time::Duration::from_secs(5), async || {
        validator.validate(&second).await.is_ok()
    })
    .await;
    assert!(accepted.is_some(), "not valid after a refetch");
}

#[tokio::test]
async fn the_client_credentials_helper_encodes_basic_credentials() {
    let issuer = seeded().await;
    // RFC 6749 §2.3.1: form-urlencoded before base64, so these characters survive.
    let (id, secret) = ("client with spaces", "p+ss:w%rd/é&=");
    issuer.register_client(id, secret);
    issuer.grant(id, API, [READ, WRITE]);
    let token = issuer
        .client_credentials(id, secret, API, Some(WRITE))
        .await
        .expect("a token");
    assert_eq!(
        (token.token_type.as_str(), token.scope.as_str()),
        ("Bearer", WRITE)
    );
    assert_eq!(decode(&token.access_token).1["client_id"], id);

    let refused = issuer
        .client_credentials(id, "wrong", API, None)
        .await
        .unwrap_err();
    assert_eq!(
        (refused.status, refused.error.as_str()),
        (401, "invalid_client")
    );
    assert!(refused.www_authenticate.unwrap().starts_with("Basic "));

    // A generated secret needs no encoding: reqwest's and curl's unencoded Basic work.
    let generated = generate_secret();
    assert_eq!(generated.len(), 43);
    assert!(
        generated
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    assert_ne!(generated, generate_secret());
    issuer.register_client("generated", generated.as_str());
    issuer.grant("generated", API, [READ]);
    request(&issuer, Auth::Basic("generated", &generated), API, None)
        .await
        .assert_token(READ);
}

// ---------------------------------------------------------------------------------------------
// Through a BearerLayer router

#[tokio::test]
async fn a_granted_token_passes_the_layer_with_its_scopes() {
    let issuer = seeded().await;
    let base = serve_api(issuer.validator_for(API).build().unwrap()).await;
    let token = issuer
        .client_credentials(CLIENT, SECRET, API, None)
        .await
        .expect("a token")
        .access_token;

    let body = call(&base, "/api/private", Some(&token))
        .await
        .assert_ok()
        .clone();
    assert_eq!(body["sub"], format!("{CLIENT}@clients"));
    assert_eq!(body["client_id"], CLIENT);
    assert_eq!(body["scopes"], json!([READ]));

    let reply = call(&base, "/api/private-scoped", Some(&token)).await;
    assert_eq!(reply.assert_ok()["scopes"], json!([READ]));

    call(&base, "/api/private", None)
        .await
        .assert_bare_challenge();
}

#[tokio::test]
async fn a_route_needing_an_ungranted_scope_answers_403() {
    let issuer = seeded().await;
    let base = serve_api(issuer.validator_for(API).build().unwrap()).await;
    let token = issuer
        .client_credentials(CLIENT, SECRET, API, None)
        .await
        .expect("a token")
        .access_token;
    call(&base, "/api/messages/write", Some(&token))
        .await
        .assert_insufficient_scope(WRITE);

    // A client granted write:messages only: the other way round.
    issuer.register_client("writer", "writer-secret");
    issuer.grant("writer", API, [WRITE]);
    let writer = issuer
        .client_credentials("writer", "writer-secret", API, None)
        .await
        .expect("a token")
        .access_token;
    call(&base, "/api/messages/write", Some(&writer))
        .await
        .assert_ok();
    call(&base, "/api/private-scoped", Some(&writer))
        .await
        .assert_insufficient_scope(READ);
}

#[tokio::test]
async fn a_token_for_an_ungranted_scope_is_refused_with_invalid_scope() {
    let issuer = seeded().await;
    request(&issuer, Auth::Basic(CLIENT, SECRET), API, Some(WRITE))
        .await
        .assert_oauth_error(400, "invalid_scope");
    // One ungranted scope among granted ones refuses the whole request.
    request(
        &issuer,
        Auth::Basic(CLIENT, SECRET),
        API,
        Some("read:messages write:messages"),
    )
    .await
    .assert_oauth_error(400, "invalid_scope");
    // A scope the API does not define.
    request(&issuer, Auth::Basic(CLIENT, SECRET), API, Some("admin"))
        .await
        .assert_oauth_error(400, "invalid_scope");
    // Not a scope-token at all (RFC 6749 §3.3).
    request(
        &issuer,
        Auth::Post(CLIENT, SECRET),
        API,
        Some("read:\"messages\""),
    )
    .await
    .assert_oauth_error(400, "invalid_scope");
}

// ---------------------------------------------------------------------------------------------
// HS256 APIs

#[tokio::test]
async fn hs256_api_tokens_verify_with_the_api_secret() {
    let issuer = seeded().await;
    issuer.register_api(Api::new(HS_API).hs256(HS_SECRET).scopes([READ, WRITE]));
    issuer.grant(CLIENT, HS_API, [READ]);
    let token = request(&issuer, Auth::Basic(CLIENT, SECRET), HS_API, None)
        .await
        .assert_token(READ);
    let (head, claims) = decode(&token);
    assert_eq!(head["alg"], "HS256");
    assert_eq!(head.get("kid"), None);
    assert_eq!(claims["aud"], HS_API);

    let validator = Validator::builder()
        .issuer(issuer.issuer())
        .audience(HS_API)
        .hs256_secret(HS_SECRET)
        .build()
        .unwrap();
    let base = serve_api(validator.clone()).await;
    let reply = call(&base, "/api/private-scoped", Some(&token)).await;
    assert_eq!(reply.assert_ok()["scopes"], json!([READ]));
    call(&base, "/api/messages/write", Some(&token))
        .await
        .assert_insufficient_scope(WRITE);
    let stats = validator.key_stats();
    assert_eq!((stats.discovery_fetches, stats.jwks_fetches), (0, 0));

    // Another secret, or a key set validator, refuses it.
    let other = Validator::builder()
        .issuer(issuer.issuer())
        .audience(HS_API)
        .hs256_secret("another-secret-that-is-also-32-bytes-long")
        .build()
        .unwrap();
    assert_eq!(
        other.validate(&token).await.unwrap_err().status().as_u16(),
        401
    );
    let rs256 = issuer.validator().audience(HS_API).build().unwrap();
    assert_eq!(
        rs256.validate(&token).await.unwrap_err().status().as_u16(),
        401
    );
    // validator_for knows the API is HS256.
    issuer
        .validator_for(HS_API)
        .build()
        .unwrap()
        .validate(&token)
        .await
        .expect("valid");
}

// ---------------------------------------------------------------------------------------------
// Refusals, one error code at a time

#[tokio::test]
async fn invalid_client_for_unknown_clients_and_wrong_secrets() {
    let issuer = seeded().await;
    // With HTTP Basic: 401 and a Basic challenge.
    request(&issuer, Auth::Basic("nobody", SECRET), API, None)
        .await
        .assert_oauth_error(401, "invalid_client");
    request(&issuer, Auth::Basic(CLIENT, "wrong-secret"), API, None)
        .await
        .assert_oauth_error(401, "invalid_client");
    request(&issuer, Auth::Basic(CLIENT, ""), API, None)
        .await
        .assert_oauth_error(401, "invalid_client");
    // A secret that is a prefix of the right one, or extends it.
    request(
        &issuer,
        Auth::Basic(CLIENT, &SECRET[..SECRET.len() - 1]),
        API,
        None,
    )
    .await
    .assert_oauth_error(401, "invalid_client");
    request(
        &issuer,
        Auth::Basic(CLIENT, &format!("{SECRET}x")),
        API,
        None,
    )
    .await
    .assert_oauth_error(401, "invalid_client");
    // In the body: 400, no challenge.
    request(&issuer, Auth::Post("nobody", SECRET), API, None)
        .await
        .assert_oauth_error(400, "invalid_client");
    request(&issuer, Auth::Post(CLIENT, "wrong-secret"), API, None)
        .await
        .assert_oauth_error(400, "invalid_client");
}

#[tokio::test]
async fn invalid_client_without_client_authentication() {
    let issuer = seeded().await;
    request(&issuer, Auth::None, API, None)
        .await
        .assert_oauth_error(400, "invalid_client");
    // A client_id alone authenticates nothing.
    post(
        &issuer,
        Auth::None,
        &[
            ("grant_type", "client_credentials"),
            ("audience", API),
            ("client_id", CLIENT),
        ],
    )
    .await
    .assert_oauth_error(400, "invalid_client");
}

#[tokio::test]
async fn invalid_client_for_malformed_or_foreign_authorization_headers() {
    let issuer = seeded().await;
    let form = format!("grant_type=client_credentials&audience={API}");
    for authorization in [
        "Basic !!!not-base64!!!".to_owned(),
        format!("Basic {}", STANDARD.encode("no-colon-here")),
        format!("Basic {}", STANDARD.encode(":secret-without-id")),
        "Bearer some.jwt.token".to_owned(),
    ] {
        let response = reqwest::Client::new()
            .post(issuer.token_endpoint())
            .header(header::AUTHORIZATION, &authorization)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(form.clone())
            .send()
            .await
            .unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        let reply = Reply::from_parts(status, headers, response.bytes().await.unwrap().to_vec());
        reply.assert_oauth_error(401, "invalid_client");
        let description = reply.body["error_description"].as_str().unwrap();
        assert!(!description.contains("secret-without-id"), "{description}");
    }
}

#[tokio::test]
async fn invalid_request_for_two_client_authentication_methods() {
    let issuer = seeded().await;
    request(&issuer, Auth::Both(CLIENT, SECRET), API, None)
        .await
        .assert_oauth_error(400, "invalid_request");
    // A client_id in the body that contradicts the Basic one.
    post(
        &issuer,
        Auth::Basic(CLIENT, SECRET),
        &[
            ("grant_type", "client_credentials"),
            ("audience", API),
            ("client_id", "someone-else"),
        ],
    )
    .await
    .assert_oauth_error(400, "invalid_request");
    // ...while the same client_id is allowed.
    post(
        &issuer,
        Auth::Basic(CLIENT, SECRET),
        &[
            ("grant_type", "client_credentials"),
            ("audience", API),
            ("client_id", CLIENT),
        ],
    )
    .await
    .assert_token(READ);
}

#[tokio::test]
async fn unauthorized_client_without_a_grant_for_the_api() {
    let issuer = seeded().await;
    issuer.register_client("stranger", "stranger-secret");
    request(
        &issuer,
        Auth::Basic("stranger", "stranger-secret"),
        API,
        None,
    )
    .await
    .assert_oauth_error(400, "unauthorized_client");
    // A grant on another API does not count.
    issuer.register_api(Api::new("https://other.example.com").scopes([READ]));
    issuer.grant("stranger", "https://other.example.com", [READ]);
    request(
        &issuer,
        Auth::Post("stranger", "stranger-secret"),
        API,
        None,
    )
    .await
    .assert_oauth_error(400, "unauthorized_client");
    // Revoking a grant takes effect at once.
    issuer.revoke_grant(CLIENT, API);
    request(&issuer, Auth::Basic(CLIENT, SECRET), API, None)
        .await
        .assert_oauth_error(400, "unauthorized_client");
}

#[tokio::test]
async fn unsupported_grant_type_for_other_grants() {
    let issuer = seeded().await;
    for grant_type in [
        "password",
        "authorization_code",
        "refresh_token",
        "urn:ietf:params:oauth:grant-type:jwt-bearer",
        "CLIENT_CREDENTIALS",
    ] {
        post(
            &issuer,
            Auth::Basic(CLIENT, SECRET),
            &[("grant_type", grant_type), ("audience", API)],
        )
        .await
        .assert_oauth_error(400, "unsupported_grant_type");
    }
}

#[tokio::test]
async fn invalid_request_for_missing_or_unknown_parameters() {
    let issuer = seeded().await;
    let auth = Auth::Basic(CLIENT, SECRET);
    // No grant_type.
    post(&issuer, auth, &[("audience", API)])
        .await
        .assert_oauth_error(400, "invalid_request");
    // No audience (and an empty one counts as none).
    post(&issuer, auth, &[("grant_type", "client_credentials")])
        .await
        .assert_oauth_error(400, "invalid_request");
    request(&issuer, auth, "", None)
        .await
        .assert_oauth_error(400, "invalid_request");
    // An audience that is no registered API.
    request(&issuer, auth, "https://unknown.example.com", None)
        .await
        .assert_oauth_error(400, "invalid_request");
    // Unknown parameters are ignored (RFC 6749 §3.2).
    post(
        &issuer,
        auth,
        &[
            ("grant_type", "client_credentials"),
            ("audience", API),
            ("unknown_parameter", "ignored"),
        ],
    )
    .await
    .assert_token(READ);
}

#[tokio::test]
async fn invalid_request_for_malformed_bodies() {
    let issuer = seeded().await;
    let auth = Auth::Basic(CLIENT, SECRET);
    let form = "application/x-www-form-urlencoded";
    let cases: [(&str, &str, Vec<u8>); 7] = [
        (
            "repeated parameter",
            form,
            format!("grant_type=client_credentials&audience={API}&audience={API}").into_bytes(),
        ),
        (
            "repeated grant_type",
            form,
            format!("grant_type=client_credentials&grant_type=client_credentials&audience={API}")
                .into_bytes(),
        ),
        (
            "not UTF-8",
            form,
            b"grant_type=client_credentials&audience=\xff\xfe".to_vec(),
        ),
        (
            "percent-encoded non-UTF-8",
            form,
            b"grant_type=client_credentials&audience=%ff".to_vec(),
        ),
        (
            "wrong content type",
            "text/plain",
            format!("grant_type=client_credentials&audience={API}").into_bytes(),
        ),
        (
            "malformed JSON",
            "application/json",
            b"{\"grant_type\":".to_vec(),
        ),
        (
            "JSON with a non-string parameter",
            "application/json",
            json!({ "grant_type": "client_credentials", "audience": [API] })
                .to_string()
                .into_bytes(),
        ),
    ];
    for (label, content_type, body) in cases {
        let reply = post_raw(&issuer, auth, content_type, body).await;
        assert_eq!(reply.body["error"], "invalid_request", "{label}: {reply:?}");
        reply.assert_oauth_error(400, "invalid_request");
    }
    // No content type at all.
    let response = reqwest::Client::new()
        .post(issuer.token_endpoint())
        .basic_auth(CLIENT, Some(SECRET))
        .body(format!("grant_type=client_credentials&audience={API}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    // GET is not the token endpoint's method.
    let response = reqwest::get(issuer.token_endpoint()).await.unwrap();
    assert_eq!(response.status().as_u16(), 405);
}

#[tokio::test]
async fn refusals_never_echo_the_secret() {
    let issuer = seeded().await;
    for auth in [
        Auth::Basic(CLIENT, "a-wrong-secret-123"),
        Auth::Post(CLIENT, "a-wrong-secret-123"),
        Auth::Both(CLIENT, "a-wrong-secret-123"),
    ] {
        let reply = request(&issuer, auth, API, Some(WRITE)).await;
        assert!(reply.status.as_u16() >= 400, "{reply:?}");
        assert!(
            !reply.body.to_string().contains("a-wrong-secret-123"),
            "{reply:?}"
        );
    }
}

#[tokio::test]
async fn faults_apply_to_the_token_endpoint() {
    let issuer = seeded().await;
    issuer.set_fault(Some(Fault::Status(503)));
    let reply = request(&issuer, Auth::Basic(CLIENT, SECRET), API, None).await;
    assert_eq!(reply.status, 503);
    issuer.set_fault(None);
    request(&issuer, Auth::Basic(CLIENT, SECRET), API, None)
        .await
        .assert_token(READ);
    assert_eq!(issuer.token_requests(), 2);
}

#[tokio::test]
#[should_panic(expected = "not defined by API")]
async fn granting_an_undefined_scope_is_a_test_bug() {
    let issuer = seeded().await;
    issuer.grant(CLIENT, API, ["admin"]);
}

#[tokio::test]
#[should_panic(expected = "is not registered")]
async fn granting_to_an_unknown_client_is_a_test_bug() {
    let issuer = seeded().await;
    issuer.grant("nobody", API, [READ]);
}
