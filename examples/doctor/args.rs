//! The doctor's command line: the flags, else the quickstart's environment variables, then
//! the token. An error is a usage error (exit status 2).

use super::Config;

/// The usage line, printed with every usage error.
pub const USAGE: &str = "usage: doctor [--issuer URL] [--audience AUD] [--jwks-uri URL] \
                         [--hs256-secret SECRET] [--algorithms RS256,ES256] \
                         [--jwe-private-key-file PEM] [--jwe-key-id KID] \
                         [--introspection-client-id ID --introspection-client-secret SECRET \
                         [--introspection-url URL]] [--dpop off|allowed|required] [--public-url URL] \
                         [--dpop-proof PROOF [--url URL] [--method METHOD]] [--json] [TOKEN | -]";

/// The parsed command line.
#[derive(Debug)]
pub struct Invocation {
    pub config: Config,
    pub json: bool,
    /// The token; `-` means "read it from stdin" (kept out of the shell's history).
    pub token: Option<String>,
}

/// Parses `args` (without the program name); `env` reads a variable (`None`: unset or
/// blank), so that flags win and the quickstart's variables fill in the rest.
pub fn parse(
    args: impl IntoIterator<Item = String>,
    env: impl Fn(&str) -> Option<String>,
) -> Result<Invocation, String> {
    let mut args = args.into_iter();
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
            "--algorithms" => {
                let list = inline
                    .or_else(|| args.next())
                    .ok_or_else(|| format!("--algorithms needs a value\n{USAGE}"))?;
                let algorithms = list
                    .split(',')
                    .map(|name| name.trim().parse())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|error| format!("--algorithms: {error}\n{USAGE}"))?;
                config.algorithms = Some(algorithms);
                continue;
            }
            "--issuer" => &mut config.issuer,
            "--audience" => &mut config.audience,
            "--jwks-uri" => &mut config.jwks_uri,
            "--hs256-secret" => &mut config.hs256_secret,
            "--jwe-private-key-file" => &mut config.jwe_private_key_file,
            "--jwe-key-id" => &mut config.jwe_key_id,
            "--introspection-client-id" => &mut config.introspection_client_id,
            "--introspection-client-secret" => &mut config.introspection_client_secret,
            "--introspection-url" => &mut config.introspection_url,
            "--dpop" => &mut config.dpop,
            "--public-url" => &mut config.public_url,
            "--dpop-proof" => &mut config.dpop_proof,
            "--url" => &mut config.request_url,
            "--method" => &mut config.request_method,
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
    for (slot, name) in [
        (&mut config.issuer, "ISSUER"),
        (&mut config.audience, "AUDIENCE"),
        (&mut config.jwks_uri, "JWKS_URI"),
        (&mut config.hs256_secret, "HS256_SECRET"),
        (&mut config.auth0_domain, "AUTH0_DOMAIN"),
        (&mut config.jwe_private_key_file, "JWE_PRIVATE_KEY_FILE"),
        (&mut config.jwe_key_id, "JWE_KEY_ID"),
        (
            &mut config.introspection_client_id,
            "INTROSPECTION_CLIENT_ID",
        ),
        (
            &mut config.introspection_client_secret,
            "INTROSPECTION_CLIENT_SECRET",
        ),
        (&mut config.introspection_url, "INTROSPECTION_URL"),
        (&mut config.dpop, "DPOP"),
        (&mut config.public_url, "PUBLIC_URL"),
    ] {
        if slot.is_none() {
            *slot = env(name).filter(|value| !value.trim().is_empty());
        }
    }
    Ok(Invocation {
        config,
        json,
        token,
    })
}
