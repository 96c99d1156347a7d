//! Every command the README shows, checked offline: the doc tests compile its Rust blocks,
//! this checks its shell lines (the ```sh blocks and the inline `cargo run ...` and `curl ...`
//! spans). Each `cargo run --example X` names an example that exists and passes only flags it
//! reads; every environment variable set before it is one the example reads; every
//! `HS256_SECRET` is one the builder accepts; `bash FILE` and `cd DIR` name what exists; a
//! `curl` URL parses. A command of any other kind fails the test, so that a new one is looked
//! at. The README's links into `examples/` resolve too.

use std::path::{Path, PathBuf};

use bearer_guard::Validator;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn readme() -> String {
    std::fs::read_to_string(Path::new(ROOT).join("README.md")).expect("README.md")
}

/// The shell commands of the README: the lines of its ```sh blocks (continuations joined,
/// comments left out) and its inline code spans that run `cargo run` or `curl`.
fn commands(readme: &str) -> Vec<String> {
    let mut commands = Vec::new();
    let mut in_sh = false;
    let mut pending = String::new();
    for line in readme.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            in_sh = trimmed == "```sh";
            continue;
        }
        if in_sh {
            if pending.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
                continue;
            }
            match trimmed.strip_suffix('\\') {
                Some(start) => pending.push_str(start),
                None => {
                    pending.push_str(trimmed);
                    commands.push(std::mem::take(&mut pending));
                }
            }
            continue;
        }
        for (index, span) in line.split('`').enumerate() {
            let code = index % 2 == 1;
            if code && (span.contains("cargo run") || span.starts_with("curl ")) {
                commands.push(span.to_owned());
            }
        }
    }
    commands
        .iter()
        .flat_map(|command| command.split("&&"))
        .map(|command| command.trim().to_owned())
        .collect()
}

/// A command line split into words as a POSIX shell would (quotes, no expansion).
fn words(command: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quote: Option<char> = None;
    for c in command.chars() {
        match (quote, c) {
            (Some(open), c) if c == open => quote = None,
            (Some(_), c) => word.get_or_insert_with(String::new).push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                word.get_or_insert_with(String::new);
            }
            (None, c) if c.is_whitespace() => words.extend(word.take()),
            (None, c) => word.get_or_insert_with(String::new).push(c),
        }
    }
    words.extend(word);
    words
}

/// The source files of example `name` (`examples/NAME.rs` or the files of `examples/NAME/`).
fn example_sources(name: &str) -> Option<Vec<PathBuf>> {
    let examples = Path::new(ROOT).join("examples");
    let single = examples.join(format!("{name}.rs"));
    if single.is_file() {
        return Some(vec![single]);
    }
    let dir = examples.join(name);
    if !dir.join("main.rs").is_file() {
        return None;
    }
    let files = std::fs::read_dir(dir).ok()?;
    Some(files.filter_map(|file| Some(file.ok()?.path())).collect())
}

/// The environment variables example sources read: `var("NAME")`, and `RUST_LOG` where a
/// tracing filter reads it.
fn variables_read(source: &str) -> Vec<String> {
    let mut names: Vec<String> = source
        .split("var(\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect();
    if source.contains("EnvFilter::try_from_default_env") {
        names.push("RUST_LOG".to_owned());
    }
    names
}

/// Checks one command; `Err` says what is wrong with it.
fn check(command: &str) -> Result<(), String> {
    let words = words(command);
    let assignments: Vec<(&str, &str)> = words
        .iter()
        .map_while(|word| word.split_once('=').filter(|(name, _)| is_variable(name)))
        .collect();
    let program: Vec<&str> = words[assignments.len()..]
        .iter()
        .map(String::as_str)
        .collect();
    for (name, value) in &assignments {
        if *name == "HS256_SECRET" {
            Validator::builder()
                .issuer("https://my-tenant.us.auth0.com/")
                .audience("https://api.example.com")
                .hs256_secret(value.as_bytes())
                .build()
                .map_err(|error| format!("the builder refuses HS256_SECRET: {error}"))?;
        }
    }
    match program.as_slice() {
        ["cargo", "run", rest @ ..] => check_cargo_run(rest, &assignments),
        ["bash", file, ..] if Path::new(ROOT).join(file).is_file() => Ok(()),
        ["cd", dir] if Path::new(ROOT).join(dir).is_dir() => Ok(()),
        ["curl", args @ ..] => args
            .iter()
            .filter(|arg| arg.starts_with("http"))
            .try_for_each(|url| {
                url::Url::parse(url)
                    .map(drop)
                    .map_err(|error| format!("{url}: {error}"))
            }),
        _ => Err("not a command this test can check".to_owned()),
    }
}

fn is_variable(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
}

/// `cargo run [--release] [--example NAME] [-- FLAGS]`.
fn check_cargo_run(args: &[&str], assignments: &[(&str, &str)]) -> Result<(), String> {
    let (cargo_args, program_args) = match args.iter().position(|arg| *arg == "--") {
        Some(split) => (&args[..split], &args[split + 1..]),
        None => (args, &[][..]),
    };
    let Some(at) = cargo_args.iter().position(|arg| *arg == "--example") else {
        // A package's own binary: the README runs one only in a workspace of its own, entered
        // by the `cd` before it; its variables and flags are that workspace's business.
        return Ok(());
    };
    let name = cargo_args.get(at + 1).ok_or("--example without a name")?;
    if *name == "NAME" {
        // The README's placeholder for "any of the table above", whose links are checked.
        return Ok(());
    }
    let sources = example_sources(name).ok_or(format!("no example {name}"))?;
    let source: String = sources
        .iter()
        .map(|path| std::fs::read_to_string(path).unwrap_or_default())
        .collect();
    let read = variables_read(&source);
    for (variable, _) in assignments {
        if !read.iter().any(|name| name == variable) {
            return Err(format!("the example {name} does not read {variable}"));
        }
    }
    // Flags only: the values after them (an issuer URL, a token file) are the user's.
    for flag in program_args.iter().filter(|arg| arg.starts_with("--")) {
        if !source.contains(&format!("\"{flag}\"")) {
            return Err(format!("the example {name} does not read {flag}"));
        }
    }
    Ok(())
}

#[test]
fn every_shell_command_of_the_readme_checks_out() {
    let commands = commands(&readme());
    assert!(
        commands.len() >= 10,
        "the README's commands were found: {commands:#?}"
    );
    assert!(
        commands
            .iter()
            .any(|command| command.starts_with("RUST_LOG=bearer_guard=debug cargo run")),
        "the README shows the line that turns the logs on: {commands:#?}"
    );
    let wrong: Vec<String> = commands
        .iter()
        .filter_map(|command| check(command).err().map(|why| format!("{command}: {why}")))
        .collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn the_checks_refuse_what_the_readme_must_not_show() {
    // The 22-byte secret the README once showed.
    let short = "HS256_SECRET='the-api-signing-secret' cargo run --example quickstart";
    assert!(check(short).unwrap_err().contains("HS256_SECRET"));
    assert!(check("cargo run --example quickstart_v2").is_err());
    assert!(check("AUDIENCES=x cargo run --example quickstart").is_err());
    assert!(check("cargo run --example quickstart -- --chek").is_err());
    assert!(check("bash scripts/none").is_err());
    assert!(check("rm -rf target").is_err());
    assert!(check("curl -i 'http://[::1'").is_err());
    assert!(check("RUST_LOG=debug cargo run --example quickstart -- --check").is_ok());
}

#[test]
fn the_readme_links_to_examples_that_exist() {
    let readme = readme();
    let links: Vec<&str> = readme
        .split("](examples/")
        .skip(1)
        .filter_map(|rest| rest.split(')').next())
        .collect();
    assert!(links.len() >= 9, "{links:?}");
    for link in links {
        let path = Path::new(ROOT).join("examples").join(link);
        assert!(
            path.exists(),
            "the README links to a missing examples/{link}"
        );
    }
}
