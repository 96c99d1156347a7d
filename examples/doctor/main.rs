//! The doctor: checks a bearer-guard configuration against the live issuer, step by step,
//! and explains why a token would be refused.
//!
//! ```text
//! cargo run --example doctor -- --issuer https://tenant.auth0.com/ \
//!     --audience https://api.example.com [--jwks-uri URL] [--hs256-secret SECRET] [--json] [TOKEN | -]
//! ```
//!
//! Without flags it reads the quickstart's variables (`ISSUER`, `AUDIENCE`, `JWKS_URI`,
//! `HS256_SECRET`, `AUTH0_DOMAIN`). It fetches the issuer's metadata document and its key set
//! as the validator would (showing the URLs, statuses, cache headers, and each key with the
//! key policy's verdict) and, given a token (`-`: read from stdin), the validator's report
//! on it. It never prints the token or the secret: the token's length and header only.
//!
//! Exit status: 0 when the configuration works and the token (if given) passes, 1 when not,
//! 2 for a usage error. `--json` prints the same report for scripts; colours only on a
//! terminal.

mod checks;

use std::io::{IsTerminal, Read};
use std::process::ExitCode;

use checks::Config;

const USAGE: &str = "usage: doctor [--issuer URL] [--audience AUD] [--jwks-uri URL] \
                     [--hs256-secret SECRET] [--json] [TOKEN | -]";

/// The parsed command line.
struct Invocation {
    config: Config,
    json: bool,
    token: Option<String>,
}

/// A set, non-empty environment variable (as the quickstart reads them).
fn var(name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Invocation, String> {
    let mut config = Config::default();
    let mut json = false;
    let mut token = None;
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => {
                (flag.to_owned(), Some(value.to_owned()))
            }
            _ => (arg.clone(), None),
        };
        let slot = match flag.as_str() {
            "--json" => {
                json = true;
                continue;
            }
            "--help" | "-h" => return Err(USAGE.to_owned()),
            "--issuer" => &mut config.issuer,
            "--audience" => &mut config.audience,
            "--jwks-uri" => &mut config.jwks_uri,
            "--hs256-secret" => &mut config.hs256_secret,
            other if other.starts_with("--") => {
                return Err(format!("unknown flag {other}\n{USAGE}"));
            }
            _ if token.is_some() => return Err(format!("more than one token\n{USAGE}")),
            _ => {
                token = Some(arg);
                continue;
            }
        };
        let value = inline.or_else(|| args.next());
        *slot = Some(value.ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?);
    }
    // Flags win; the quickstart's variables fill in the rest.
    for (slot, name) in [
        (&mut config.issuer, "ISSUER"),
        (&mut config.audience, "AUDIENCE"),
        (&mut config.jwks_uri, "JWKS_URI"),
        (&mut config.hs256_secret, "HS256_SECRET"),
        (&mut config.auth0_domain, "AUTH0_DOMAIN"),
    ] {
        if slot.is_none() {
            *slot = var(name);
        }
    }
    if token.as_deref() == Some("-") {
        let mut read = String::new();
        std::io::stdin()
            .read_to_string(&mut read)
            .map_err(|error| format!("reading the token from stdin: {error}"))?;
        token = Some(read.trim().to_owned());
    }
    Ok(Invocation {
        config,
        json,
        token,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let invocation = match parse(std::env::args().skip(1)) {
        Ok(invocation) => invocation,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
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
    ExitCode::from(report.exit_code() as u8)
}
