//! The quickstart's demo: with no issuer configured, an embedded issuer set up as an Auth0
//! tenant, the printed `curl` commands, and `--check`.
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
//! With DPoP on, a third client key gets a DPoP-bound token (`cnf.jkt`, `token_type: DPoP`)
//! from the issuer's token endpoint with a proof, and the printed calls include one with that
//! token and a single-use proof; `--check` also replays a proof (401) and presents the bound
//! token as a bearer token (401).
//!
//! Nothing here is needed by an API: it stands in for the authorization server and the
//! client.

use std::process::ExitCode;

use bearer_guard::dpop::DpopMode;
use bearer_guard::testing::{
    Api, DEFAULT_AUDIENCE, DecryptionKeyPair, DpopProof, TestIssuer, generate_secret,
};

use crate::config::DecryptionKey;
use serde_json::Value;

/// A machine-to-machine client: what Auth0 shows on an application's Settings tab.
struct Client {
    id: &'static str,
    secret: String,
}

/// The embedded issuer, set up as the seed's dashboard steps would set up a tenant.
pub struct Demo {
    pub issuer: TestIssuer,
    /// Authorized for `read:messages` only.
    reader: Client,
    /// Authorized for `write:messages` only: its token shows the 403.
    writer: Client,
    /// The API's own credentials at the issuer, for introspecting opaque tokens.
    api: Client,
    /// `HS256` with `HS256_SECRET` (the API's signing secret), `RS256` otherwise.
    alg: &'static str,
    /// The API's tokens are encrypted (`JWE_PRIVATE_KEY_FILE`).
    encrypted: bool,
}

impl Demo {
    /// The issuer with the API and its clients registered; with `decryption_key`, the API's
    /// tokens are encrypted to it (Auth0's "JSON Web Encryption" setting).
    pub async fn start(
        signing_secret: Option<&str>,
        decryption_key: Option<&DecryptionKey>,
    ) -> Self {
        let issuer = TestIssuer::start().await;

        // 1. Create an API: its identifier (the audience) and signing algorithm, then its
        //    permissions (scopes).
        let api = Api::new(DEFAULT_AUDIENCE).scopes(["read:messages", "write:messages"]);
        let api = match signing_secret {
            Some(secret) => api.hs256(secret.as_bytes()),
            None => api,
        };
        // Its tokens encrypted to the API's public key, named as the validator names it.
        let encryption = decryption_key.and_then(|key| {
            let pair = DecryptionKeyPair::from_private_key_pem(&key.pem)?;
            let pair = match &key.kid {
                Some(kid) => pair.with_kid(kid),
                None => pair,
            };
            Some(pair.encryption_key())
        });
        let api = match &encryption {
            Some(key) => api.encrypted_to(key.clone()),
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
            alg: if signing_secret.is_some() {
                "HS256"
            } else {
                "RS256"
            },
            encrypted: encryption.is_some(),
        }
    }

    /// The API's client id and secret at the issuer, for introspection.
    pub fn api_credentials(&self) -> (String, String) {
        (self.api.id.to_owned(), self.api.secret.clone())
    }

    /// Prints the demo for the API served at `base`; with `check_only`, makes its calls and
    /// returns the exit status (`None`: keep serving).
    pub async fn run(
        &self,
        base: &str,
        public_url: &str,
        mode: DpopMode,
        check_only: bool,
    ) -> Option<ExitCode> {
        let calls = match print_demo(self, base, public_url, mode).await {
            Ok(calls) => calls,
            Err(error) => {
                eprintln!("{error}");
                return Some(ExitCode::FAILURE);
            }
        };
        if !check_only {
            return None;
        }
        Some(if check(base, public_url, &calls).await {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
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
        "  API {DEFAULT_AUDIENCE} ({}{}), scopes read:messages write:messages\n  \
         client {} authorized for read:messages\n  \
         client {} authorized for write:messages",
        demo.alg,
        if demo.encrypted {
            ", tokens encrypted: RSA-OAEP-256 + A256GCM"
        } else {
            ""
        },
        demo.reader.id,
        demo.writer.id
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
    if demo.encrypted {
        // The tokens above came encrypted (five segments); a plain signed one still passes.
        let plain = issuer.token().scope("read:messages").sign();
        calls.push(call(
            bearer(200),
            "a plain signed token: accepted beside the encrypted ones",
            "/api/private-scoped",
            Some(&plain),
        ));
    }
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
