//! The doctor's report as text for people: aligned columns, the outcome of each step in
//! colour only when asked (`main.rs` asks when stdout is a terminal and `--json` is off).

use std::fmt::Write;

use super::{KeySetStep, MetadataStep, Report, Request, Status};

/// ANSI colours, or nothing.
struct Paint(bool);

impl Paint {
    fn status(&self, status: Status) -> String {
        let (word, code) = match status {
            Status::Ok => ("ok", "32"),
            Status::Warning => ("warning", "33"),
            Status::Failed => ("FAILED", "31"),
            Status::Skipped => ("skipped", "2"),
        };
        self.paint(word, code)
    }

    fn paint(&self, word: &str, code: &str) -> String {
        match self.0 {
            true => format!("\x1b[{code}m{word}\x1b[0m"),
            false => word.to_owned(),
        }
    }
}

/// The report as aligned text, in colour when `colour`.
pub fn text(report: &Report, colour: bool) -> String {
    let paint = Paint(colour);
    let mut out = String::new();
    let config = &report.configuration;
    let none = || "(not set)".to_owned();
    out.push_str("configuration\n");
    let mut settings = vec![
        ("issuer", config.issuer.clone().unwrap_or_else(none)),
        ("audience", config.audience.clone().unwrap_or_else(none)),
        ("keys", config.keys.clone()),
    ];
    if let Some(decryption) = &config.decryption {
        settings.push(("decryption", decryption.clone()));
    }
    if let Some(introspection) = &config.introspection {
        settings.push(("introspection", introspection.clone()));
    }
    rows(&mut out, &settings);
    for problem in &config.problems {
        let _ = writeln!(out, "  {} {problem}", paint.paint("problem:", "31"));
    }
    metadata(&mut out, &paint, &report.metadata);
    key_set(&mut out, &paint, &report.key_set);
    if let Some(token) = &report.token {
        let _ = writeln!(
            out,
            "\ntoken: {} bytes, header {}",
            token.length, token.header
        );
        match &token.explanation {
            Some(explanation) => {
                for line in explanation.to_string().lines() {
                    let _ = writeln!(out, "  {line}");
                }
            }
            None => out.push_str("  not checked: the configuration does not build\n"),
        }
    }
    let verdict = match (report.passed(), &report.token) {
        (true, Some(_)) => paint.paint("the token passes", "32"),
        (true, None) => paint.paint("the configuration works (no token given)", "32"),
        (false, token) => {
            let check = token
                .as_ref()
                .and_then(|token| token.explanation.as_ref()?.first_failure());
            let check = check.map(|check| format!("the token is refused at `{}`", check.name));
            let steps_failed = !config.problems.is_empty()
                || report.metadata.status == Status::Failed
                || report.key_set.status == Status::Failed;
            let steps = steps_failed.then(|| "see FAILED above".to_owned());
            let reasons: Vec<_> = check.into_iter().chain(steps).collect();
            paint.paint(&format!("refused: {}", reasons.join("; ")), "31")
        }
    };
    let _ = writeln!(out, "\nresult: {verdict}");
    out
}

/// Label and value rows, the values in one column.
fn rows(out: &mut String, rows: &[(&str, String)]) {
    let width = rows.iter().map(|(label, _)| label.len()).max().unwrap_or(0);
    for (label, value) in rows {
        let _ = writeln!(out, "  {label:width$}  {value}");
    }
}

fn heading(out: &mut String, paint: &Paint, name: &str, status: Status) {
    let _ = writeln!(out, "\n{name:<12}{}", paint.status(status));
}

fn request(request: &Request) -> (&'static str, String) {
    let answer = match (request.status, &request.error) {
        (_, Some(error)) => format!("error: {error}"),
        (Some(status), None) => {
            let media = request.content_type.as_deref().unwrap_or("no content type");
            format!("{status} ({media})")
        }
        (None, None) => "no answer".to_owned(),
    };
    ("GET", format!("{} -> {answer}", request.url))
}

fn notes(out: &mut String, paint: &Paint, note: &Option<String>, hint: &Option<String>) {
    if let Some(note) = note {
        let _ = writeln!(out, "  {note}");
    }
    if let Some(hint) = hint {
        let _ = writeln!(out, "  {} {hint}", paint.paint("hint:", "33"));
    }
}

fn metadata(out: &mut String, paint: &Paint, step: &MetadataStep) {
    heading(out, paint, "metadata", step.status);
    let mut lines: Vec<_> = step.requests.iter().map(request).collect();
    if let Some(issuer) = &step.issuer {
        lines.push(("issuer", issuer.clone()));
    }
    if let Some(uri) = &step.jwks_uri {
        lines.push(("jwks_uri", uri.clone()));
    }
    rows(out, &lines);
    notes(out, paint, &step.note, &step.hint);
}

fn key_set(out: &mut String, paint: &Paint, step: &KeySetStep) {
    heading(out, paint, "key set", step.status);
    let mut lines: Vec<_> = step.request.iter().map(request).collect();
    let unset = || "(none)".to_owned();
    if step.request.is_some() {
        lines.push((
            "Cache-Control",
            step.cache_control.clone().unwrap_or_else(unset),
        ));
        lines.push(("ETag", step.etag.clone().unwrap_or_else(unset)));
    }
    rows(out, &lines);
    let dash = |value: &Option<String>| value.clone().unwrap_or_else(|| "-".to_owned());
    let table: Vec<[String; 5]> = step
        .keys
        .iter()
        .map(|key| {
            let verdict = match &key.refused {
                None => "usable".to_owned(),
                Some(reason) => format!("refused: {reason}"),
            };
            [
                dash(&key.kid),
                dash(&key.kty),
                dash(&key.alg),
                dash(&key.usage),
                verdict,
            ]
        })
        .collect();
    if !table.is_empty() {
        let header = ["kid", "kty", "alg", "use", "policy"].map(str::to_owned);
        let widths: Vec<usize> = (0..4)
            .map(|column| {
                let cells = table.iter().chain([&header]);
                cells
                    .map(|row| row[column].chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for row in [&header].into_iter().chain(&table) {
            for (cell, width) in row.iter().zip(&widths) {
                let _ = write!(out, "  {cell:width$}");
            }
            let _ = writeln!(out, "  {}", row[4]);
        }
    }
    notes(out, paint, &step.note, &step.hint);
}
