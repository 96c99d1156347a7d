//! A plain-binary driver for the fuzz targets, for machines without libFuzzer (stable Rust,
//! no nightly sanitizers): replays files and directories, or generates random and
//! structure-aware inputs for a number of executions or seconds.
//!
//! ```text
//! <target> FILE_OR_DIR...                       replay inputs (e.g. a libFuzzer corpus)
//! <target> --random N [--seconds S] [--seed X]  generate N inputs (or stop after S seconds)
//! <target> --write-seeds DIR                    write the seed corpus for libFuzzer
//! ```
//!
//! A panicking input is saved under `artifacts/<target>/crash-<n>` and counted; the process
//! exits with status 1 if there was any.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::random::{DICTIONARY, Rng, pick, random_json};

/// One generated input: random bytes, a mutated seed, or a structure-aware input.
fn generate(rng: &mut Rng, target: &str, seeds: &[Vec<u8>], max_len: usize) -> Vec<u8> {
    match rng.below(10) {
        0 | 1 => (0..rng.below(max_len)).map(|_| rng.byte()).collect(),
        2..=5 => {
            let mut input = seeds[rng.below(seeds.len())].clone();
            for _ in 0..1 + rng.below(8) {
                mutate_bytes(rng, &mut input);
            }
            input.truncate(max_len * 4);
            input
        }
        _ => structured(rng, target),
    }
}

fn mutate_bytes(rng: &mut Rng, input: &mut Vec<u8>) {
    let len = input.len();
    match rng.below(7) {
        0 if len > 0 => {
            let i = rng.below(len);
            input[i] ^= 1 << rng.below(8);
        }
        1 => {
            let i = rng.below(len + 1);
            input.insert(i, rng.byte());
        }
        2 if len > 0 => {
            let i = rng.below(len);
            input.remove(i);
        }
        3 => {
            let i = rng.below(len + 1);
            let word = DICTIONARY[rng.below(DICTIONARY.len())].as_bytes();
            input.splice(i..i, word.iter().copied());
        }
        4 if len > 1 => {
            let a = rng.below(len);
            let b = a + rng.below(len - a);
            let chunk = input[a..b].to_vec();
            let i = rng.below(len + 1);
            input.splice(i..i, chunk);
        }
        5 => input.truncate(rng.below(len + 1)),
        _ if len > 0 => {
            let i = rng.below(len);
            input[i] = pick(rng, b"ABCxyz019-_.=+/ \t");
        }
        _ => input.push(rng.byte()),
    }
}

fn structured(rng: &mut Rng, target: &str) -> Vec<u8> {
    if target == "mcp_body" {
        return crate::mcp_body::structured(rng);
    }
    if target == "dpop_proof" {
        return dpop_structured(rng);
    }
    if target == "extract_header" {
        let scheme = ["Bearer ", "bearer  ", "BEARER\t", "Basic ", "", "Bearer"][rng.below(6)];
        let body: String = (0..rng.below(300))
            .map(|_| {
                pick(
                    rng,
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~+/= ,\t",
                ) as char
            })
            .collect();
        let mut value = format!("{scheme}{body}").into_bytes();
        if rng.chance(10) {
            value.push(b'\n');
            value.extend_from_slice(b"Bearer x");
        }
        return value;
    }
    if target == "introspection_answer" {
        let extra = random_json(rng, 1);
        return crate::introspection_answer::structured(rng.next(), &extra);
    }
    match rng.below(5) {
        0 | 1 => {
            // Mode 1: header and payload JSON, MAC-ed by the harness.
            let header = if rng.chance(60) {
                let mut members = vec![format!(
                    "\"alg\":{}",
                    ["\"HS256\"", "\"none\"", "\"RS256\"", "null", "1"][rng.below(5)]
                )];
                for _ in 0..rng.below(3) {
                    let name = ["kid", "typ", "cty", "crit", "b64", "jku", "x"][rng.below(7)];
                    members.push(format!("\"{name}\":{}", random_json(rng, 1)));
                }
                format!("{{{}}}", members.join(","))
            } else {
                random_json(rng, 0)
            };
            let payload = if rng.chance(70) {
                let mut members = Vec::new();
                for (name, good) in [
                    ("iss", "\"https://issuer.example/\""),
                    ("aud", "\"https://api.example.com\""),
                    ("exp", "4102444800"),
                    ("iat", "1700000000"),
                ] {
                    match rng.below(6) {
                        0 => {}
                        1 => members.push(format!("\"{name}\":{}", random_json(rng, 1))),
                        _ => members.push(format!("\"{name}\":{good}")),
                    }
                }
                for _ in 0..rng.below(3) {
                    let name = ["nbf", "scope", "scp", "aud", "exp", "sub"][rng.below(6)];
                    members.push(format!("\"{name}\":{}", random_json(rng, 1)));
                }
                format!("{{{}}}", members.join(","))
            } else {
                random_json(rng, 0)
            };
            let split = header.len().min(255);
            [
                vec![1u8, split as u8],
                header.into_bytes(),
                payload.into_bytes(),
            ]
            .concat()
        }
        2 => {
            // Mode 2: key material.
            let keys: Vec<String> = (0..rng.below(4))
                .map(|_| {
                    let mut members = vec![format!(
                        "\"kty\":{}",
                        ["\"RSA\"", "\"oct\"", "\"EC\"", "\"OKP\"", "1"][rng.below(5)]
                    )];
                    for _ in 0..rng.below(6) {
                        let name = [
                            "kid", "n", "e", "k", "use", "alg", "key_ops", "crv", "x", "y",
                        ][rng.below(10)];
                        let value = if rng.chance(50) {
                            let bytes: Vec<u8> = (0..rng.below(300)).map(|_| rng.byte()).collect();
                            format!(
                                "\"{}\"",
                                base64::Engine::encode(
                                    &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                                    bytes
                                )
                            )
                        } else {
                            random_json(rng, 2)
                        };
                        members.push(format!("\"{name}\":{value}"));
                    }
                    format!("{{{}}}", members.join(","))
                })
                .collect();
            format!("\x02{{\"keys\":[{}]}}", keys.join(",")).into_bytes()
        }
        3 => {
            // Mode 0: a token string from base64url-ish segments.
            let segments: Vec<String> = (0..rng.below(7))
                .map(|_| (0..rng.below(80)).map(|_| pick(rng, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/") as char).collect())
                .collect();
            format!("\x00{}", segments.join(".")).into_bytes()
        }
        _ => {
            // Modes 3 and 4: mutation scripts.
            let mode = 3 + rng.below(2) as u8;
            let mut script = vec![mode];
            for _ in 0..4 * (1 + rng.below(4)) {
                script.push(rng.byte());
            }
            script
        }
    }
}

/// Random base64url text of up to `max` bytes decoded, as a JSON string.
fn b64_string(rng: &mut Rng, max: usize) -> String {
    let bytes: Vec<u8> = (0..rng.below(max)).map(|_| rng.byte()).collect();
    let text = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, bytes);
    format!("\"{text}\"")
}

/// The modes of `dpop_proof`: proof-like segments, mutation scripts of a valid proof, JWKs,
/// claim sets.
fn dpop_structured(rng: &mut Rng) -> Vec<u8> {
    match rng.below(4) {
        0 => {
            let segments: Vec<String> = (0..1 + rng.below(4))
                .map(|_| {
                    if rng.chance(50) {
                        let json = random_json(rng, 0);
                        base64::Engine::encode(
                            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                            json,
                        )
                    } else {
                        (0..rng.below(120))
                            .map(|_| pick(rng, b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=") as char)
                            .collect()
                    }
                })
                .collect();
            format!("\x00{}", segments.join(".")).into_bytes()
        }
        1 => {
            let mut script = vec![1];
            for _ in 0..4 * (1 + rng.below(4)) {
                script.push(rng.byte());
            }
            script
        }
        2 => {
            let kty = ["\"EC\"", "\"RSA\"", "\"OKP\"", "\"oct\"", "1"][rng.below(5)];
            let mut members = vec![format!("\"kty\":{kty}")];
            for _ in 0..rng.below(6) {
                let name = ["crv", "x", "y", "n", "e", "d", "alg", "use", "kid"][rng.below(9)];
                let value = match rng.below(4) {
                    0 => b64_string(rng, 1100),
                    1 => ["\"P-256\"", "\"P-384\"", "\"Ed25519\"", "\"AQAB\""][rng.below(4)]
                        .to_owned(),
                    _ => random_json(rng, 1),
                };
                members.push(format!("\"{name}\":{value}"));
            }
            format!("\x02{{{}}}", members.join(",")).into_bytes()
        }
        _ => {
            let mut members = Vec::new();
            for _ in 0..rng.below(4) {
                let name = ["htm", "htu", "iat", "ath", "jti", "nonce"][rng.below(6)];
                let value = match rng.below(3) {
                    0 => [
                        "\"GET\"",
                        "\"https://API.example.com:443/?x#y\"",
                        "1e400",
                        "-1",
                        "\"\"",
                    ][rng.below(5)]
                    .to_owned(),
                    _ => random_json(rng, 1),
                };
                members.push(format!("\"{name}\":{value}"));
            }
            let mut input = vec![3, rng.byte()];
            input.extend(format!("{{{}}}", members.join(",")).into_bytes());
            input
        }
    }
}

fn inputs_in(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .expect("a readable directory")
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        for entry in entries {
            inputs_in(&entry, out);
        }
    } else {
        out.push(path.to_owned());
    }
}

/// Runs one input, catching a panic; returns whether it panicked.
fn run_one(target: &str, run: fn(&[u8]), input: &[u8], crashes: &mut usize) {
    if catch_unwind(AssertUnwindSafe(|| run(input))).is_err() {
        *crashes += 1;
        let dir = PathBuf::from("artifacts").join(target);
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join(format!("crash-{}-{}", std::process::id(), crashes));
        let _ = std::fs::write(&path, input);
        eprintln!("crash saved to {}", path.display());
    }
}

/// The entry point of a target's plain binary.
pub fn main(target: &str, run: fn(&[u8])) {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .map(String::as_str)
    };
    let started = Instant::now();
    let mut crashes = 0usize;
    let mut executions = 0u64;
    if let Some(dir) = flag("--write-seeds") {
        std::fs::create_dir_all(dir).expect("create the seed directory");
        for (i, seed) in crate::seeds(target).iter().enumerate() {
            std::fs::write(Path::new(dir).join(format!("seed-{i:02}")), seed)
                .expect("write a seed");
        }
        println!(
            "{target}: wrote {} seeds to {dir}",
            crate::seeds(target).len()
        );
        return;
    }
    if let Some(count) = flag("--random") {
        let count: u64 = count.parse().expect("--random N");
        let seconds: u64 = flag("--seconds").map_or(u64::MAX, |s| s.parse().expect("--seconds S"));
        let seed: u64 =
            flag("--seed").map_or(0x5eed_1234_abcd_ef01, |s| s.parse().expect("--seed X"));
        let max_len: usize = flag("--max-len").map_or(512, |s| s.parse().expect("--max-len L"));
        let limit = Duration::from_secs(seconds);
        let seeds = crate::seeds(target);
        let mut rng = Rng(seed | 1);
        let mut last_report = Instant::now();
        while executions < count && started.elapsed() < limit {
            let input = generate(&mut rng, target, &seeds, max_len);
            run_one(target, run, &input, &mut crashes);
            executions += 1;
            if last_report.elapsed() >= Duration::from_secs(30) {
                last_report = Instant::now();
                eprintln!(
                    "{target}: {executions} executions, {crashes} crashes, {:.0?}",
                    started.elapsed()
                );
            }
        }
    } else {
        let mut files = Vec::new();
        for arg in &args {
            inputs_in(Path::new(arg), &mut files);
        }
        for file in files {
            let input = std::fs::read(&file).expect("a readable input");
            run_one(target, run, &input, &mut crashes);
            executions += 1;
        }
    }
    let elapsed = started.elapsed();
    println!(
        "{target}: {executions} executions in {:.1} s ({:.0} exec/s), {crashes} crashes",
        elapsed.as_secs_f64(),
        executions as f64 / elapsed.as_secs_f64().max(1e-9)
    );
    if crashes > 0 {
        std::process::exit(1);
    }
}
