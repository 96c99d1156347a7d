//! HS256 without a server: an API whose tokens are signed with a shared secret (Auth0 shows it
//! as the API's "Signing Secret" when the API uses HS256), checked with `Validator::validate`.
//!
//! ```text
//! cargo run --example hs256
//! HS256_SECRET='your-api-signing-secret-of-32-bytes+' cargo run --example hs256
//! ```
//!
//! It mints a few tokens with the test token builder and prints what the validator says of
//! each: the claims of a good one, the refusal of the others.

use bearer_guard::Validator;
use bearer_guard::testing::TokenBuilder;

const ISSUER: &str = "https://my-tenant.us.auth0.com/";
const AUDIENCE: &str = "https://api.example.com";

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let secret = std::env::var("HS256_SECRET")
        .unwrap_or_else(|_| "an-example-signing-secret-of-32+-bytes".to_owned());

    // The secret is used as the raw bytes of the string; `hs256_secret_base64` decodes one.
    let validator = match Validator::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .hs256_secret(secret.as_bytes())
        .build()
    {
        Ok(validator) => validator,
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(2);
        }
    };

    let token = |secret: &[u8]| {
        TokenBuilder::hs256(secret)
            .issuer(ISSUER)
            .audience(AUDIENCE)
            .claim("sub", "my-client@clients")
            .expires_in_secs(3600)
            .scope("read:messages")
    };
    let cases = [
        ("good token", token(secret.as_bytes()).sign()),
        (
            "other secret",
            token(b"not-the-api-secret-but-32-bytes-long").sign(),
        ),
        (
            "expired",
            token(secret.as_bytes()).expires_in_secs(-3600).sign(),
        ),
        (
            "other API",
            token(secret.as_bytes())
                .audience("https://other.example.com")
                .sign(),
        ),
    ];
    for (label, token) in cases {
        match validator.validate(&token).await {
            Ok(claims) => println!(
                "{label:>12}: valid; sub {:?}, scopes {:?}",
                claims.subject(),
                claims.scopes().iter().collect::<Vec<_>>()
            ),
            Err(error) => println!("{label:>12}: {} {error}", error.status().as_u16()),
        }
    }
}
