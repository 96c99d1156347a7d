//! A real, independent authorization server for the interop tests (tests/suite/interop.rs,
//! tests/suite/interop_dpop.rs): `oidc-provider` (tests/interop/provider.mjs) as a child process,
//! its npm packages installed on first use, and its token endpoint as a client calls it.
//! The tests need Node.js >= 20 and npm on `PATH`, and fail (never skip) without them.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::{StatusCode, header};
use serde_json::Value;

/// The API identifier: the audience the provider puts in tokens for the default resource.
pub const API: &str = "https://api.example.com";
/// A second resource server of the provider, for wrong-audience tokens.
pub const OTHER_API: &str = "https://other.example.com";
/// The resource server whose tokens are encrypted (with `ProviderOptions::encryption_jwk`).
pub const ENCRYPTED_API: &str = "https://encrypted.example.com";
pub const READ: &str = "read:messages";
pub const WRITE: &str = "write:messages";

/// The provider's clients (see provider.mjs): tokens live `ACCESS_TOKEN_TTL` seconds, those
/// of the short-lived client `SHORT_ACCESS_TOKEN_TTL`.
pub const CLIENT: (&str, &str) = ("interop-client", "interop-client-secret-0123456789abcdef");
pub const SHORT_CLIENT: (&str, &str) = (
    "interop-short-client",
    "interop-short-client-secret-0123456789abcdef",
);
pub const ACCESS_TOKEN_TTL: u64 = 300;
pub const SHORT_ACCESS_TOKEN_TTL: u64 = 2;

/// How long the provider may take to start (Node start-up plus RSA key generation).
pub const START_TIMEOUT: Duration = Duration::from_secs(30);

pub fn interop_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop")
}

/// How to start provider.mjs (see its header comment for the options).
#[derive(Clone, Debug, Default)]
pub struct ProviderOptions {
    /// 0: any free port.
    pub port: u16,
    pub keys_file: Option<PathBuf>,
    pub fresh_keys: bool,
    pub key_set: Option<String>,
    /// A kid, or a 1-based index.
    pub signing_key: Option<String>,
    /// One more resource server (its URI is its audience): an MCP server's canonical URI.
    pub resource: Option<String>,
    /// An RSA public JWK (with `kid`): the resource server `ENCRYPTED_API` then gets JWT
    /// access tokens encrypted to it.
    pub encryption_jwk: Option<serde_json::Value>,
}

/// What provider.mjs prints once it listens.
#[derive(serde::Deserialize)]
struct Started {
    issuer: String,
    port: u16,
    kids: Vec<String>,
    signing_kid: String,
}

/// A running provider.mjs. Dropping it kills the process and waits for it, whatever path
/// the test takes (the process also exits by itself when its stdin closes, should this
/// test process die without unwinding).
pub struct Provider {
    child: Child,
    /// Held open: provider.mjs runs with `--exit-with-stdin`.
    stdin: Option<ChildStdin>,
    stderr: Arc<Mutex<String>>,
    pub issuer: String,
    pub port: u16,
    pub kids: Vec<String>,
    pub signing_kid: String,
    http: reqwest::Client,
}

impl Provider {
    /// Starts provider.mjs and waits until it listens (installing the npm packages first
    /// if needed). Panics with the provider's stderr if it does not start.
    pub fn start(options: &ProviderOptions) -> Provider {
        ensure_node_modules();
        // A fixed port (a restart) may still be held by the previous process for a moment:
        // retried for a few seconds.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            match Self::try_start(options) {
                Ok(provider) => return provider,
                Err(error)
                    if options.port != 0
                        && error.contains("cannot listen")
                        && Instant::now() < deadline =>
                {
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(error) => panic!("the oidc-provider interop server did not start: {error}"),
            }
        }
    }

    fn try_start(options: &ProviderOptions) -> Result<Provider, String> {
        let mut command = Command::new("node");
        command
            .current_dir(interop_dir())
            .arg("provider.mjs")
            .args(["--port", &options.port.to_string(), "--exit-with-stdin"])
            .env("ACCESS_TOKEN_TTL", ACCESS_TOKEN_TTL.to_string())
            .env("SHORT_ACCESS_TOKEN_TTL", SHORT_ACCESS_TOKEN_TTL.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(file) = &options.keys_file {
            command.arg("--keys-file").arg(file);
        }
        if options.fresh_keys {
            command.arg("--fresh-keys");
        }
        if let Some(label) = &options.key_set {
            command.args(["--key-set", label]);
        }
        if let Some(key) = &options.signing_key {
            command.args(["--signing-key", key]);
        }
        if let Some(resource) = &options.resource {
            command.args(["--resource", resource]);
        }
        if let Some(jwk) = &options.encryption_jwk {
            command.args(["--encryption-jwk", &jwk.to_string()]);
        }
        let mut child = command.spawn().map_err(|error| {
            format!("cannot run `node` ({error}); the interop test needs Node.js >= 20 on PATH")
        })?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr_pipe = child.stderr.take().expect("piped stderr");
        // From here on the guard owns the process: every return path kills it.
        let mut guard = ChildGuard(Some(child));

        let stderr = Arc::new(Mutex::new(String::new()));
        let sink = Arc::clone(&stderr);
        let stderr_reader = std::thread::spawn(move || {
            let mut reader = BufReader::new(stderr_pipe);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                sink.lock().expect("stderr log").push_str(&line);
                line.clear();
            }
        });
        let (lines, first_line) = mpsc::channel();
        std::thread::spawn(move || {
            let mut reader = BufReader::new(stdout);
            let mut line = String::new();
            if reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                let _ = lines.send(line);
            }
            // Drain whatever else comes, so the child never blocks on a full pipe.
            let _ = std::io::copy(&mut reader, &mut std::io::sink());
        });

        let line = match first_line.recv_timeout(START_TIMEOUT) {
            Ok(line) => line,
            Err(error) => {
                let what = match error {
                    mpsc::RecvTimeoutError::Timeout => {
                        format!("printed no start-up line within {START_TIMEOUT:?}")
                    }
                    mpsc::RecvTimeoutError::Disconnected => {
                        "exited before printing its start-up line".to_owned()
                    }
                };
                let status = guard.stop();
                // The child is gone: its stderr is at its end.
                let _ = stderr_reader.join();
                return Err(format!(
                    "provider.mjs {what} (exit status: {status:?}); its stderr:\n{}",
                    stderr.lock().expect("stderr log")
                ));
            }
        };
        let started: Started = serde_json::from_str(&line)
            .map_err(|error| format!("unexpected start-up line {line:?}: {error}"))?;
        let http = reqwest::Client::builder()
            .no_proxy()
            .pool_max_idle_per_host(0)
            .timeout(Duration::from_secs(10))
            .build()
            .expect("an HTTP client");
        let child = guard.0.take().expect("the child");
        Ok(Provider {
            child,
            stdin,
            stderr,
            issuer: started.issuer,
            port: started.port,
            kids: started.kids,
            signing_kid: started.signing_kid,
            http,
        })
    }

    /// Stops this provider and starts another with `options` (same port for the same
    /// issuer URL: pass `port: self.port`).
    pub fn restart(self, options: &ProviderOptions) -> Provider {
        drop(self);
        Provider::start(options)
    }

    async fn get_json(&self, url: &str) -> Value {
        let response = self.http.get(url).send().await.expect("GET");
        assert!(response.status().is_success(), "GET {url}: {response:?}");
        let bytes = response.bytes().await.expect("body");
        serde_json::from_slice(&bytes).expect("a JSON document")
    }

    /// The provider's OIDC discovery document.
    pub async fn discovery(&self) -> Value {
        self.get_json(&format!("{}/.well-known/openid-configuration", self.issuer))
            .await
    }

    /// The kids of the published key set, in order.
    pub async fn jwks_kids(&self) -> Vec<String> {
        let metadata = self.discovery().await;
        let jwks = self
            .get_json(metadata["jwks_uri"].as_str().expect("jwks_uri"))
            .await;
        jwks["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .map(|key| key["kid"].as_str().expect("kid").to_owned())
            .collect()
    }

    /// Revokes `token` at the provider's revocation endpoint (RFC 7009) as `client` (HTTP
    /// Basic); the status of the answer.
    pub async fn revoke(&self, client: (&str, &str), token: &str) -> StatusCode {
        let metadata = self.discovery().await;
        let revocation = metadata["revocation_endpoint"]
            .as_str()
            .expect("revocation_endpoint");
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("token", token);
        form.append_pair("token_type_hint", "access_token");
        self.http
            .post(revocation)
            .basic_auth(client.0, Some(client.1))
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body(form.finish())
            .send()
            .await
            .expect("POST to the revocation endpoint")
            .status()
    }

    /// The provider's token endpoint (the `htu` of a DPoP proof for it).
    pub async fn token_endpoint(&self) -> String {
        let metadata = self.discovery().await;
        metadata["token_endpoint"]
            .as_str()
            .expect("token_endpoint")
            .to_owned()
    }

    /// The token endpoint's JSON answer to a client credentials grant, with HTTP Basic
    /// client authentication (`client_secret_basic`). Panics unless it is a 200.
    pub async fn token(&self, client: (&str, &str), scope: &str, resource: Option<&str>) -> Value {
        let (status, body) = self.token_request(client, scope, resource, None).await;
        assert_eq!(status, StatusCode::OK, "token endpoint: {body}");
        body
    }

    /// A client credentials grant as [`token`](Self::token), with a `DPoP` proof header if
    /// given (RFC 9449 §5: the token is then bound to the proof's key); the status and the
    /// JSON answer, whatever they are.
    pub async fn token_request(
        &self,
        client: (&str, &str),
        scope: &str,
        resource: Option<&str>,
        dpop: Option<&str>,
    ) -> (StatusCode, Value) {
        let endpoint = self.token_endpoint().await;
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "client_credentials");
        form.append_pair("scope", scope);
        if let Some(resource) = resource {
            form.append_pair("resource", resource);
        }
        let mut request = self
            .http
            .post(endpoint)
            .basic_auth(client.0, Some(client.1))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json");
        if let Some(proof) = dpop {
            request = request.header("dpop", proof);
        }
        let response = request
            .body(form.finish())
            .send()
            .await
            .expect("POST to the token endpoint");
        let status = StatusCode::from_u16(response.status().as_u16()).expect("a status");
        let bytes = response.bytes().await.expect("token response body");
        let body: Value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        (status, body)
    }

    /// An access token for the API.
    pub async fn access_token(&self, client: (&str, &str), scope: &str) -> String {
        let response = self.token(client, scope, Some(API)).await;
        response["access_token"]
            .as_str()
            .expect("access_token")
            .to_owned()
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "interop: oidc-provider stderr:\n{}",
                self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
            );
        }
    }
}

/// Kills and reaps a child process that has not been handed over yet.
struct ChildGuard(Option<Child>);

impl ChildGuard {
    fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.0.take()?;
        let _ = child.kill();
        child.wait().ok()
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A directory under the target's tmp dir, removed when dropped.
pub struct ScratchDir {
    pub path: PathBuf,
}

impl ScratchDir {
    pub fn new(name: &str) -> ScratchDir {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .subsec_nanos();
        let path = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("interop-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).expect("create a scratch directory");
        ScratchDir { path }
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

// ---------------------------------------------------------------------------------------
// Node and the npm packages
// ---------------------------------------------------------------------------------------

/// Checks Node.js and npm, and runs `npm ci` in tests/interop when an installed package
/// (oidc-provider, the MCP SDK) is missing or is not the locked version. Once per test process; every
/// test fails with the same message when this fails.
pub fn ensure_node_modules() {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    if let Err(message) = READY.get_or_init(install) {
        panic!("{message}");
    }
}

fn install() -> Result<(), String> {
    const HOW: &str = "the interop test (tests/suite/interop.rs) runs a real oidc-provider and \
                       needs Node.js >= 20 and npm on PATH";
    let version = run_tool("node", &["--version"], HOW)?;
    let major: u32 = version
        .trim()
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|major| major.parse().ok())
        .ok_or_else(|| format!("unexpected `node --version` output {version:?}"))?;
    if major < 20 {
        return Err(format!("{HOW}; found Node.js {}", version.trim()));
    }
    let dir = interop_dir();
    let read_json = |path: PathBuf| -> Option<Value> {
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    };
    let lock = read_json(dir.join("package-lock.json"))
        .ok_or("tests/interop/package-lock.json is missing or unreadable")?;
    let installed = |package: &str| {
        let locked = &lock["packages"][format!("node_modules/{package}")]["version"];
        read_json(dir.join("node_modules").join(package).join("package.json"))
            .is_some_and(|manifest| manifest["version"] == *locked)
    };
    if ["oidc-provider", "@modelcontextprotocol/sdk"]
        .into_iter()
        .all(installed)
    {
        return Ok(());
    }
    eprintln!("interop: running `npm ci` in {}", dir.display());
    let started = Instant::now();
    run_tool(
        "npm",
        &[
            "ci",
            "--no-audit",
            "--no-fund",
            "--ignore-scripts",
            "--loglevel=error",
        ],
        HOW,
    )?;
    eprintln!("interop: `npm ci` took {:?}", started.elapsed());
    Ok(())
}

/// Runs a tool in tests/interop; its stdout, or an error naming what is missing.
fn run_tool(program: &str, args: &[&str], how: &str) -> Result<String, String> {
    let output = Command::new(program)
        .args(args)
        .current_dir(interop_dir())
        .stdin(Stdio::null())
        .output()
        .map_err(|error| format!("{how}; cannot run `{program}`: {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "`{program} {}` failed ({}):\n{}{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
