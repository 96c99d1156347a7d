//! The doctor: checks a bearer-guard configuration against the live issuer, step by step,
//! and explains why a token would be refused.
//!
//! ```text
//! cargo run --example doctor -- --issuer https://tenant.auth0.com/ \
//!     --audience https://api.example.com [--jwks-uri URL] [--hs256-secret SECRET] \
//!     [--jwe-private-key-file PEM [--jwe-key-id KID]] \
//!     [--introspection-client-id ID --introspection-client-secret SECRET \
//!     [--introspection-url URL]] [--dpop MODE] [--public-url URL] \
//!     [--dpop-proof PROOF [--url URL] [--method METHOD]] [--json] [TOKEN | -]
//! ```
//!
//! Without flags it reads the quickstart's variables (`ISSUER`, `AUDIENCE`, `JWKS_URI`,
//! `HS256_SECRET`, `AUTH0_DOMAIN`, `JWE_PRIVATE_KEY_FILE`, `JWE_KEY_ID`,
//! `INTROSPECTION_CLIENT_ID`, `INTROSPECTION_CLIENT_SECRET`, `INTROSPECTION_URL`, `DPOP`,
//! `PUBLIC_URL`): with a decryption key, an encrypted token is decrypted and its inner token
//! explained (never printed); with the API's client credentials, an opaque token is
//! explained through the issuer's introspection endpoint; with a DPoP proof, the request the
//! client made (`--url` and `--method`, by default what the proof names) is explained, proof
//! included, against the public URL. It fetches the issuer's metadata document and its key
//! set as the validator would (showing the URLs, statuses, cache headers, and each key with
//! the key policy's verdict) and, given a token (`-`: read from stdin), the validator's
//! report on it. It never prints the token or the secret: the token's length and header only.
//!
//! Exit status: 0 when the configuration works and the token (if given) passes, 1 when not,
//! 2 for a usage error. `--json` prints the same report for scripts; colours only on a
//! terminal.

mod checks;

use std::io::{IsTerminal, Read};
use std::process::ExitCode;

use checks::args;

#[tokio::main]
async fn main() -> ExitCode {
    let env = |name: &str| std::env::var(name).ok();
    let mut invocation = match args::parse(std::env::args().skip(1), env) {
        Ok(invocation) => invocation,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    if invocation.token.as_deref() == Some("-") {
        let mut read = String::new();
        if let Err(error) = std::io::stdin().read_to_string(&mut read) {
            eprintln!("reading the token from stdin: {error}");
            return ExitCode::from(2);
        }
        invocation.token = Some(read.trim().to_owned());
    }
    let report = checks::run(&invocation.config, invocation.token.as_deref()).await;
    if invocation.json {
        match serde_json::to_string_pretty(&report) {
            Ok(json) => println!("{json}"),
            Err(error) => eprintln!("the report as JSON: {error}"),
        }
    } else {
        let colour = std::io::stdout().is_terminal();
        print!("{}", checks::render::text(&report, colour));
    }
    ExitCode::from(report.exit_code())
}
