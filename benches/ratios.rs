//! The one-run ratio report of the README: every case of the benchmark groups (see
//! `layer.rs` and `common/mod.rs`) timed again with `Instant` in this process (nine
//! interleaved rounds; the ratios use each case's best round, since other processes on the
//! machine only ever add time; the median is shown too), plus what criterion cannot time: a
//! *new* token on every call with the default cache on (`validator_new_token`,
//! `layer_new_token`: the signature check plus the cache miss and insert), also once the cache
//! is full (`layer_new_token_full_cache`: every insert then evicts). A markdown table with the
//! ratios to the floor follows, then the performance targets.
//!
//! ```text
//! cargo bench --bench ratios
//! RATIO_GROUPS=concurrent,keys cargo bench --bench ratios   # only the groups named
//! ```
//!
//! It takes about a minute on two cores. Without `--bench` (`cargo test --benches`) it only
//! builds the groups, once, as a smoke test.

mod common;

use std::time::Duration;

use common::{Case, Group, Mode, ROUNDS, Runtimes, paths, setup};

/// One timed case: its group, its best and median time per call in microseconds over the
/// rounds, how many cores it kept busy on average and its CPU time per call.
struct Timing<'a> {
    group: &'a Group,
    case: &'a Case,
    best: f64,
    median: f64,
    cores_busy: f64,
    cpu: f64,
}

/// Every case timed again by hand, rounds interleaved within each group (median kept), as a
/// markdown table with the ratios to each group's floor; then the performance targets.
fn ratios(rt: &Runtimes, groups: &[Group]) {
    // RATIO_GROUPS=concurrent,keys times only the groups whose names contain one of these.
    let only = std::env::var("RATIO_GROUPS").unwrap_or_default();
    let wanted = |group: &Group| {
        only.is_empty() || only.split(',').any(|part| group.name.contains(part.trim()))
    };
    let mut timings = Vec::new();
    for group in groups.iter().filter(|group| wanted(group)) {
        let calls: Vec<u64> = group
            .cases
            .iter()
            .map(|case| group.calls_per_round(rt, case))
            .collect();
        let mut samples = vec![Vec::with_capacity(ROUNDS); group.cases.len()];
        let mut totals = vec![(Duration::ZERO, Duration::ZERO, 0); group.cases.len()];
        for round in 0..ROUNDS {
            for (index, (case, &calls)) in group.cases.iter().zip(&calls).enumerate() {
                let (wall, cpu) = group.time(rt, case, calls, round);
                samples[index].push(wall.as_secs_f64() * 1e6 / calls as f64);
                totals[index].0 += wall;
                totals[index].1 += cpu;
                totals[index].2 += calls;
            }
        }
        for ((case, mut samples), (wall, cpu, calls)) in group.cases.iter().zip(samples).zip(totals)
        {
            samples.sort_by(f64::total_cmp);
            timings.push(Timing {
                group,
                case,
                best: samples[0],
                median: samples[ROUNDS / 2],
                cores_busy: cpu.as_secs_f64() / wall.as_secs_f64(),
                cpu: cpu.as_secs_f64() * 1e6 / calls as f64,
            });
        }
    }

    println!("\n{}\n", machine());
    println!(
        "Same process, {ROUNDS} interleaved rounds per case: the best round's time per call \
         (other processes on the machine only ever add time) and the median round's; calls/s \
         from the best (in `concurrent`, all threads together); x floor = best / the group's \
         first row's best."
    );
    println!("\n| group | case | per call (best) | per call (median) | calls/s | x floor |");
    println!("|---|---|---:|---:|---:|---:|");
    for timing in &timings {
        let floor = timings
            .iter()
            .find(|t| std::ptr::eq(t.group, timing.group))
            .map_or(f64::NAN, |t| t.best);
        let group = &timing.group;
        let first = std::ptr::eq(&group.cases[0], timing.case);
        let name = if first {
            format!("{} ({})", group.name, group.note)
        } else {
            String::new()
        };
        let ratio = if !timing.case.vs_floor {
            "-".to_owned()
        } else if first {
            "floor".to_owned()
        } else {
            format!("{:.2}", timing.best / floor)
        };
        println!(
            "| {name} | {} | {:.2} µs | {:.2} µs | {:.0} | {ratio} |",
            timing.case.label,
            timing.best,
            timing.median,
            1e6 / timing.best
        );
    }

    let find = |group: &str, id: &str| {
        timings
            .iter()
            .find(|t| t.group.name == group && t.case.id == id)
    };
    let time = |group: &str, id: &str| find(group, id).map_or(f64::NAN, |t| t.best);
    println!("\nTargets:");
    let check = |what: String, value: f64, limit: f64, at_most: bool| {
        let met = if at_most {
            value <= limit
        } else {
            value >= limit
        };
        let (sign, verdict) = match (at_most, met) {
            (true, true) => ("<=", "met"),
            (true, false) => ("<=", "MISSED"),
            (false, true) => (">=", "met"),
            (false, false) => (">=", "MISSED"),
        };
        println!("- {what} = {value:.2} (target {sign} {limit}): {verdict}");
    };
    for (alg, limit) in [("RS256", 1.15), ("HS256", 1.3), ("ES256", f64::INFINITY)] {
        let raw = time(alg, "jsonwebtoken_decode");
        for (id, what) in [
            ("layer", "layer, token cache off"),
            ("layer_new_token", "layer, new token (default cache)"),
            (
                "layer_new_token_full_cache",
                "layer, new token (cache full)",
            ),
        ] {
            let ratio = time(alg, id) / raw;
            if limit.is_finite() {
                check(format!("{alg} {what} / raw decode"), ratio, limit, true);
            } else {
                println!("- {alg} {what} / raw decode = {ratio:.2}");
            }
        }
    }
    let raw = time("RS256", "jsonwebtoken_decode");
    for (id, what) in [("validator_cached", "Validator"), ("layer_cached", "layer")] {
        let speedup = raw / time("RS256", id);
        check(
            format!("RS256 raw decode / {what} repeated token (x faster)"),
            speedup,
            10.0,
            false,
        );
    }
    goals(&timings);
    for (id, what) in [
        ("validator", "Validator, cache off"),
        ("layer_cached", "layer, cache hit"),
    ] {
        let (Some(one), Some(all)) = (find("RS256", id), find("concurrent", id)) else {
            continue;
        };
        println!(
            "- RS256 {what}: {:.0}/s on one thread, {:.0}/s on {} threads ({:.2}x; the process \
             kept {:.2} cores busy; CPU per call {:.2} µs alone, {:.2} µs concurrently)",
            1e6 / one.best,
            1e6 / all.best,
            rt.cores,
            one.best / all.best,
            all.cores_busy,
            one.cpu,
            all.cpu
        );
    }
}

/// The goal table of the README (issue 22): each path against its floor, measured in this run.
fn goals(timings: &[Timing]) {
    let time = |group: &str, id: &str| {
        timings
            .iter()
            .find(|t| t.group.name == group && t.case.id == id && t.case.tasks == 1)
            .map_or(f64::NAN, |t| t.best)
    };
    let verdict = |value: f64, limit: f64| {
        if value <= limit {
            "met".to_owned()
        } else {
            format!("missed by {:.2}", value - limit)
        }
    };
    let router = time("RS256", "router_only");
    let layer_hit = time("RS256", "layer_cached");
    let validator_hit = time("RS256", "validator_cached");
    let signature = time("RS256", "signature");
    let proof_signature = time("DPoP", "proof_signature");
    println!(
        "
| path | floor | measured | goal | |\n|---|---|---:|---:|---|"
    );
    let layer_adds = layer_hit - router - validator_hit;
    let over_router = layer_hit - router;
    let rows = [
        (
            "repeated RS256 token, the layer's own work (extraction, extensions)",
            "the router without the layer, and the cache hit",
            layer_adds,
            "µs",
            0.4,
        ),
        (
            "repeated RS256 token, whole request (layer and cache hit)",
            "the router without the layer",
            over_router,
            "µs",
            1.0,
        ),
        (
            "fresh RS256 token, Validator",
            "the RS256 signature check alone",
            time("RS256", "validator_new_token") / signature,
            "x",
            1.05,
        ),
        (
            "fresh RS256 token, whole request through the layer",
            "the RS256 signature check alone",
            time("RS256", "layer_new_token") / signature,
            "x",
            1.05,
        ),
        (
            "fresh RS256 token, whole request through the layer",
            "the signature check and the router without the layer",
            time("RS256", "layer_new_token") / (signature + router),
            "x",
            1.05,
        ),
        (
            "DPoP request, cached token, fresh ES256 proof",
            "the proof's signature check alone",
            time("DPoP", "dpop_cached") / proof_signature,
            "x",
            1.05,
        ),
        (
            "opaque token, introspection cache hit",
            "a JWT cache hit",
            time("introspection", "opaque_cached") / time("introspection", "jwt_cached"),
            "x",
            1.0,
        ),
    ];
    for (path, floor, value, unit, limit) in rows {
        let met = verdict(value, limit);
        let (value, limit) = if unit == "µs" {
            (format!("+{value:.2} µs"), format!("<= +{limit} µs"))
        } else {
            (format!("{value:.2}x"), format!("<= {limit}x"))
        };
        println!("| {path} | {floor} | {value} | {limit} | {met} |");
    }
    tasks(timings);
}

/// Calls per second of each case of the `tasks` and `structures` groups by task count, and
/// the CPU time each call took (all threads): contention shows as CPU per call growing with
/// the tasks, while calls/s also depends on how much of the machine other processes leave.
fn tasks(timings: &[Timing]) {
    println!(
        "\n| lookup | calls/s: 1 task | 2 tasks | 8 tasks | CPU per call: 1 task | 2 tasks | 8 tasks |\n|---|---:|---:|---:|---:|---:|---:|"
    );
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for timing in timings.iter().filter(|t| t.group.mode == Mode::Tasks) {
        let key = (timing.group.name.as_str(), timing.case.id);
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        let of = |tasks: usize| {
            timings
                .iter()
                .find(|t| (t.group.name.as_str(), t.case.id) == key && t.case.tasks == tasks)
        };
        let label = timing
            .case
            .label
            .rsplit_once(", ")
            .map_or("", |(label, _)| label);
        let [one, two, eight] = paths::TASKS.map(of);
        let rate = |t: Option<&Timing>| t.map_or(f64::NAN, |t| 1e6 / t.best / 1e6);
        let cpu = |t: Option<&Timing>| t.map_or(f64::NAN, |t| t.cpu);
        println!(
            "| {label} ({}) | {:.2} M | {:.2} M | {:.2} M | {:.3} µs | {:.3} µs | {:.3} µs |",
            key.0,
            rate(one),
            rate(two),
            rate(eight),
            cpu(one),
            cpu(two),
            cpu(eight)
        );
    }
}

/// CPU, cores and date, for the README table.
fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split(':').nth(1))
                .map(|model| model.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let date = std::process::Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .ok()
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!(
        "Machine: {cpu}, {cores} cores, {} {}; {date}",
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// Where the peer comparison (`benches/peers`, a workspace of its own) leaves its numbers, and
/// where their chart goes.
const PEER_RESULTS: &str = "benches/peers/results.tsv";
const PEER_CHART: &str = "benches/peers.svg";

/// Draws the peer comparison's last results as the README's bar chart: one panel for a new
/// token, one for a repeated token. The file's first line is its caption (machine, date);
/// then one line per crate: name, new token µs, repeated token µs, tab-separated.
fn peer_chart() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let Ok(results) = std::fs::read_to_string(root.join(PEER_RESULTS)) else {
        println!("\nNo {PEER_RESULTS} (run `cd benches/peers && cargo run --release`): no chart.");
        return;
    };
    let mut lines = results.lines();
    let caption = lines.next().unwrap_or_default();
    let rows: Vec<(String, f64, f64)> = lines
        .filter_map(|line| {
            let mut fields = line.split('\t');
            let name = fields.next()?.to_owned();
            let new_token = fields.next()?.parse().ok()?;
            let repeated = fields.next()?.parse().ok()?;
            Some((name, new_token, repeated))
        })
        .collect();
    let panel = |title: &str, value: fn(&(String, f64, f64)) -> f64| common::chart::Panel {
        title: title.to_owned(),
        unit: "µs",
        bars: rows.iter().map(|row| (row.0.clone(), value(row))).collect(),
    };
    let svg = common::chart::bar_chart(
        "GET /api/private through an axum router, time per request (shorter is better)",
        &format!("in one process, the same tokens and key set (benches/peers); {caption}"),
        &[
            panel("a new RS256 token each request", |row| row.1),
            panel("the same RS256 token again", |row| row.2),
        ],
    );
    match std::fs::write(root.join(PEER_CHART), svg) {
        Ok(()) => println!("\nWrote {PEER_CHART} from {PEER_RESULTS} ({caption})."),
        Err(error) => println!("\nCould not write {PEER_CHART}: {error}"),
    }
}

fn main() {
    // Both jsonwebtoken backends may be compiled in (--all-features): pick one for `decode`.
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
    // `cargo bench` passes --bench; without it (cargo test --benches) the groups are only
    // built, and the new-token pools and the timing are skipped.
    let args: Vec<String> = std::env::args().collect();
    let benchmarking =
        args.iter().any(|a| a == "--bench") && !args.iter().any(|a| a == "--test" || a == "--list");
    let rt = Runtimes::new();
    let (_issuers, groups) = rt.current.block_on(setup(rt.cores, benchmarking));
    if benchmarking {
        ratios(&rt, &groups);
        peer_chart();
    }
}
