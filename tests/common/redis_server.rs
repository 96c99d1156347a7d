//! A real Redis (or Valkey) server for the tests of the `redis` replay store: started on a
//! free loopback port, with no persistence, killed on drop. Never a mock.
//!
//! The binary is `$REDIS_SERVER` when set, else `redis-server`, else `valkey-server`, from
//! `PATH`. `.ci/run` installs `redis-server` when neither is there.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a started server has to answer `PING`.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A `redis-server` process of this test, on `127.0.0.1:{port}`.
pub struct RedisServer {
    binary: String,
    port: u16,
    process: Option<Child>,
}

impl RedisServer {
    /// Starts a server on a free loopback port and waits until it answers `PING`. Panics
    /// with what to install when no server binary is found.
    pub fn start() -> Self {
        let binary = server_binary();
        // A free port is found by binding port 0; another process may take it before the
        // server binds it, so a server that does not come up is tried on another port.
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port();
            let mut server = RedisServer {
                binary: binary.clone(),
                port,
                process: None,
            };
            match server.spawn() {
                Ok(()) => return server,
                Err(error) => last_error = error,
            }
        }
        panic!("could not start {binary}: {last_error}");
    }

    /// `redis://127.0.0.1:{port}/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The port the server listens on (and listens on again after [`restart`](Self::restart)).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server and waits until it is gone: its port refuses connections.
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }

    /// Starts the server again on the same port (empty: nothing is persisted). The clients
    /// under test know that port, so it cannot move: while another socket of the machine
    /// holds it for a moment, starting is tried again, for up to five attempts.
    pub fn restart(&mut self) {
        self.stop();
        let mut last_error = String::new();
        for _ in 0..5 {
            match self.spawn() {
                Ok(()) => return,
                Err(error) => last_error = error,
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!("could not restart {}: {last_error}", self.binary);
    }

    /// Sends one command (`["PTTL", key]`) and returns the first line of the reply as sent
    /// (`:1234`, `+OK`, `$-1`, ...).
    pub fn command(&self, args: &[&str]) -> String {
        command(self.port, args).unwrap_or_else(|error| panic!("Redis command {args:?}: {error}"))
    }

    /// The remaining time to live of `key` in milliseconds; -2 when the key does not exist,
    /// -1 when it has no expiry.
    pub fn pttl(&self, key: &str) -> i64 {
        let reply = self.command(&["PTTL", key]);
        reply
            .strip_prefix(':')
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("PTTL {key}: unexpected reply {reply:?}"))
    }

    /// The keys that match `pattern` (`KEYS pattern`).
    pub fn keys(&self, pattern: &str) -> Vec<String> {
        let lines = request(self.port, &["KEYS", pattern], |reader, first| {
            let count: usize = first
                .strip_prefix('*')
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| std::io::Error::other(format!("not an array: {first:?}")))?;
            // Each key is two lines: `$length`, then the key.
            let mut lines = Vec::with_capacity(count);
            for _ in 0..count * 2 {
                let mut line = String::new();
                reader.read_line(&mut line)?;
                lines.push(line.trim_end().to_owned());
            }
            Ok(lines)
        });
        let lines = lines.unwrap_or_else(|error| panic!("KEYS {pattern}: {error}"));
        lines.into_iter().skip(1).step_by(2).collect()
    }

    /// How many keys the server holds.
    pub fn key_count(&self) -> i64 {
        let reply = self.command(&["DBSIZE"]);
        reply
            .strip_prefix(':')
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("DBSIZE: unexpected reply {reply:?}"))
    }

    fn spawn(&mut self) -> Result<(), String> {
        let port = self.port.to_string();
        let dir = std::env::temp_dir();
        let mut process = Command::new(&self.binary)
            .args(["--port", &port, "--bind", "127.0.0.1", "--save", ""])
            .args([
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
            ])
            .arg("--dir")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|error| format!("cannot run {}: {error}", self.binary))?;
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(reply) = command(self.port, &["PING"])
                && reply == "+PONG"
            {
                self.process = Some(process);
                return Ok(());
            }
            if let Ok(Some(status)) = process.try_wait() {
                return Err(format!("it exited ({status}) on port {port}"));
            }
            if Instant::now() > deadline {
                let _ = process.kill();
                let _ = process.wait();
                return Err(format!("no PONG on port {port} within {START_TIMEOUT:?}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The server binary to run, or a panic that says what to install.
fn server_binary() -> String {
    if let Ok(binary) = std::env::var("REDIS_SERVER") {
        return binary;
    }
    for binary in ["redis-server", "valkey-server"] {
        if Command::new(binary)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
        {
            return binary.to_owned();
        }
    }
    panic!(
        "the redis tests need a real Redis server: neither redis-server nor valkey-server is \
         on PATH (install one: `apt-get install redis-server`, which `.ci/run` does; or set \
         REDIS_SERVER to the binary)"
    );
}

fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free loopback port")
}

/// One command in RESP, the first line of its reply without the CRLF.
fn command(port: u16, args: &[&str]) -> std::io::Result<String> {
    request(port, args, |_, first| Ok(first))
}

/// One command in RESP; `read` gets the first line of the reply (without the CRLF) and the
/// reader for the rest.
fn request<T>(
    port: u16,
    args: &[&str],
    read: impl FnOnce(&mut BufReader<TcpStream>, String) -> std::io::Result<T>,
) -> std::io::Result<T> {
    let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&address, Duration::from_secs(1))?;
    stream.set_read_timeout(Some(Duration::from_secs(2)))?;
    let mut encoded = format!("*{}\r\n", args.len());
    for arg in args {
        encoded.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
    }
    stream.write_all(encoded.as_bytes())?;
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    read(&mut reader, line.trim_end().to_owned())
}
