//! The doctor example (`examples/doctor/`): its steps compiled in, run against the crate's
//! test issuer and against oidc-provider; the data, the text and JSON it prints, and the
//! exit code the command would return.

#[path = "../../examples/doctor/checks.rs"]
mod doctor_checks;

use crate::common;

use bearer_guard::Algorithm;
use bearer_guard::testing::{DEFAULT_AUDIENCE, TestIssuer, TokenBuilder};
use common::oidc_provider::{API, CLIENT, Provider, ProviderOptions, READ};
use doctor_checks::{Config, Report, Status, args, render, run};
use serde_json::{Value, json};

fn config(issuer: &str, audience: &str) -> Config {
    Config {
        issuer: Some(issuer.to_owned()),
        audience: Some(audience.to_owned()),
        ..Config::default()
    }
}

/// The text (without colours) and the JSON the command prints; neither holds the token.
fn printed(report: &Report, token: &str) -> (String, Value) {
    let text = render::text(report, false);
    let json = serde_json::to_string(report).unwrap();
    let signature = token.rsplit('.').next().unwrap();
    for output in [&text, &json] {
        assert!(!output.contains(token), "the token is printed: {output}");
        assert!(
            !output.contains(signature),
            "the signature is printed: {output}"
        );
    }
    assert!(!text.contains('\x1b'), "colours only on a terminal: {text}");
    (text, serde_json::from_str(&json).unwrap())
}

/// A good token: every step ok, the token passes, exit status 0.
#[tokio::test]
async fn a_good_token_passes_every_step_with_exit_status_0() {
    let issuer = TestIssuer::start().await;
    issuer.set_cache_control(Some("public, max-age=600"));
    let token = issuer.token().sign();
    let report = run(&config(issuer.issuer(), DEFAULT_AUDIENCE), Some(&token)).await;

    assert_eq!(report.exit_code(), 0, "{}", render::text(&report, false));
    assert!(report.configuration.problems.is_empty());
    assert_eq!(report.metadata.status, Status::Ok);
    assert_eq!(report.metadata.requests[0].status, Some(200));
    assert_eq!(report.metadata.issuer.as_deref(), Some(issuer.issuer()));
    assert_eq!(report.metadata.jwks_uri, Some(issuer.jwks_uri()));
    assert_eq!(report.key_set.status, Status::Ok);
    assert_eq!(
        report.key_set.cache_control.as_deref(),
        Some("public, max-age=600")
    );
    let kid = issuer.signing_key().kid().unwrap().to_owned();
    assert_eq!(report.key_set.keys.len(), 1);
    assert_eq!(report.key_set.keys[0].kid.as_deref(), Some(kid.as_str()));
    assert_eq!(report.key_set.keys[0].refused, None);
    let step = report.token.as_ref().unwrap();
    assert_eq!(step.length, token.len());
    assert_eq!(step.header["kid"], kid.as_str());
    assert!(step.explanation.as_ref().unwrap().passed());

    let (text, json) = printed(&report, &token);
    assert!(text.contains("result: the token passes"), "{text}");
    assert!(text.contains(&kid) && text.contains("usable"), "{text}");
    assert_eq!(json["metadata"]["status"], "ok");
    assert_eq!(json["key_set"]["status"], "ok");
    assert_eq!(json["key_set"]["keys"][0]["use"], "sig");
    assert!(render::text(&report, true).contains("\x1b[32mok\x1b[0m"));
}

/// A token for another API: exit status 1, the report names `aud`; garbage never panics.
#[tokio::test]
async fn a_wrong_audience_fails_and_the_report_names_aud() {
    let issuer = TestIssuer::start().await;
    let token = issuer.token().audience("https://other.example.com").sign();
    let report = run(&config(issuer.issuer(), DEFAULT_AUDIENCE), Some(&token)).await;

    assert_eq!(report.exit_code(), 1);
    assert_eq!(report.metadata.status, Status::Ok);
    assert_eq!(report.key_set.status, Status::Ok);
    let explanation = report.token.as_ref().unwrap().explanation.as_ref().unwrap();
    assert_eq!(
        explanation.first_failure().map(|check| check.name),
        Some("aud")
    );
    let (text, json) = printed(&report, &token);
    assert!(text.contains("aud"), "{text}");
    assert!(
        text.contains("result: refused: the token is refused at `aud`"),
        "{text}"
    );
    let checks = json["token"]["explanation"]["checks"].as_array().unwrap();
    assert!(
        checks
            .iter()
            .any(|check| check["name"] == "aud" && check["outcome"] == "fail")
    );

    for garbage in ["", "not-a-jwt", "a.b.c", "\u{0}.\u{ff}"] {
        let report = run(&config(issuer.issuer(), DEFAULT_AUDIENCE), Some(garbage)).await;
        assert_eq!(report.exit_code(), 1, "{garbage:?}");
        assert_eq!(report.token.as_ref().unwrap().header, json!({}));
    }
}

/// The issuer configured without the trailing slash its metadata has: the metadata step
/// fails and its hint names the setting and the exact value.
#[tokio::test]
async fn an_issuer_without_its_trailing_slash_is_flagged_by_the_metadata_step() {
    let issuer = TestIssuer::start().await;
    let configured = issuer.issuer().trim_end_matches('/');
    assert_ne!(configured, issuer.issuer());
    let token = issuer.token().sign();
    let report = run(&config(configured, DEFAULT_AUDIENCE), Some(&token)).await;

    assert_eq!(report.exit_code(), 1);
    assert_eq!(report.metadata.status, Status::Failed);
    assert_eq!(report.metadata.issuer.as_deref(), Some(issuer.issuer()));
    let hint = report.metadata.hint.as_deref().unwrap();
    assert!(hint.contains("trailing slash"), "{hint}");
    assert!(
        hint.contains("ISSUER") && hint.contains(issuer.issuer()),
        "{hint}"
    );
    let (text, json) = printed(&report, &token);
    assert!(
        text.contains("FAILED") && text.contains("trailing slash"),
        "{text}"
    );
    assert!(text.contains("see FAILED above"), "{text}");
    assert_eq!(json["metadata"]["status"], "failed");
}

/// An RSA-1024 key in the set: listed as refused with the policy's reason; the set still
/// works with the good key (a warning, exit status 0 for a good token).
#[tokio::test]
async fn a_key_the_policy_refuses_is_listed_with_the_reason() {
    use base64::Engine;
    let issuer = TestIssuer::start().await;
    let mut modulus = vec![0xffu8; 128];
    modulus[0] = 0xc1;
    let n = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(modulus);
    issuer.set_extra_jwks(vec![
        json!({"kty": "RSA", "kid": "weak", "alg": "RS256", "use": "sig", "n": n, "e": "AQAB"}),
    ]);
    let token = issuer.token().sign();
    let report = run(&config(issuer.issuer(), DEFAULT_AUDIENCE), Some(&token)).await;

    assert_eq!(report.key_set.status, Status::Warning);
    let weak = report
        .key_set
        .keys
        .iter()
        .find(|key| key.kid.as_deref() == Some("weak"));
    let weak = weak.expect("the weak key is listed");
    assert_eq!(
        weak.refused.as_deref(),
        Some("RSA modulus shorter than 2048 bits")
    );
    assert_eq!(
        (weak.kty.as_deref(), weak.alg.as_deref()),
        (Some("RSA"), Some("RS256"))
    );
    assert_eq!(report.exit_code(), 0);
    let (text, json) = printed(&report, &token);
    assert!(
        text.contains("refused: RSA modulus shorter than 2048 bits"),
        "{text}"
    );
    assert!(text.contains("warning"), "{text}");
    assert_eq!(
        json["key_set"]["keys"][1]["refused"],
        "RSA modulus shorter than 2048 bits"
    );
}

/// Keys are judged for the API's algorithms: an ES256 key is refused for the default RS256
/// allow-list and usable once `--algorithms` names ES256.
#[tokio::test]
async fn keys_are_judged_for_the_algorithms_named_with_the_flag() {
    let issuer = TestIssuer::start().await;
    // The P-256 public key of RFC 7517 appendix A.1.
    issuer.set_extra_jwks(vec![json!({
        "kty": "EC", "crv": "P-256", "kid": "ec", "alg": "ES256", "use": "sig",
        "x": "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4",
        "y": "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM",
    })]);
    let ec_key = |report: &Report| {
        report
            .key_set
            .keys
            .iter()
            .find(|key| key.kid.as_deref() == Some("ec"))
            .expect("the EC key is listed")
            .refused
            .clone()
    };
    let default = run(&config(issuer.issuer(), DEFAULT_AUDIENCE), None).await;
    assert!(ec_key(&default).is_some(), "refused for RS256 alone");

    let mut both = config(issuer.issuer(), DEFAULT_AUDIENCE);
    both.algorithms = Some(vec![Algorithm::RS256, Algorithm::ES256]);
    let token = issuer.token().sign();
    let report = run(&both, Some(&token)).await;
    assert_eq!(ec_key(&report), None);
    assert_eq!(report.exit_code(), 0);

    let argv = |line: &str| {
        line.split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let parsed = args::parse(argv("--algorithms RS256,ES256"), |_| None).unwrap();
    assert_eq!(
        parsed.config.algorithms,
        Some(vec![Algorithm::RS256, Algorithm::ES256])
    );
    let unknown = args::parse(argv("--algorithms RS256,XX256"), |_| None).unwrap_err();
    assert!(unknown.starts_with("--algorithms: "), "{unknown}");
}

/// A real authorization server: the doctor finds its metadata and keys and passes its token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_doctor_passes_an_oidc_provider_token() {
    let provider = Provider::start(&ProviderOptions::default());
    let token = provider.access_token(CLIENT, READ).await;
    let report = run(&config(&provider.issuer, API), Some(&token)).await;

    assert_eq!(report.exit_code(), 0, "{}", render::text(&report, false));
    assert_eq!(report.metadata.status, Status::Ok);
    assert_eq!(
        report.metadata.issuer.as_deref(),
        Some(provider.issuer.as_str())
    );
    let usable: Vec<_> = report
        .key_set
        .keys
        .iter()
        .filter(|key| key.refused.is_none())
        .collect();
    assert!(
        usable
            .iter()
            .any(|key| key.kid.as_deref() == Some(provider.signing_kid.as_str()))
    );
    let (text, _) = printed(&report, &token);
    assert!(text.contains("result: the token passes"), "{text}");
}

/// HS256: nothing is fetched (both steps skipped), the secret shows as its length only, and
/// a token MAC-ed with it passes; one MAC-ed with another secret fails at `signature`.
#[tokio::test]
async fn hs256_fetches_nothing_and_never_prints_the_secret() {
    let secret = "doctor-test-secret-0123456789abcdef-0123";
    let issuer = "https://issuer.example/";
    let config = Config {
        hs256_secret: Some(secret.to_owned()),
        ..config(issuer, DEFAULT_AUDIENCE)
    };
    let mint = |secret: &str| {
        TokenBuilder::hs256(secret)
            .claim("iss", issuer)
            .claim("aud", DEFAULT_AUDIENCE)
            .claim("sub", "client@clients")
            .expires_in_secs(600)
            .sign()
    };
    let token = mint(secret);
    let report = run(&config, Some(&token)).await;
    assert_eq!(report.exit_code(), 0, "{}", render::text(&report, false));
    assert_eq!(report.metadata.status, Status::Skipped);
    assert_eq!(report.key_set.status, Status::Skipped);
    assert_eq!(
        report.configuration.keys,
        format!("HS256 secret ({} bytes)", secret.len())
    );
    let (text, json) = printed(&report, &token);
    assert!(
        !text.contains(secret) && !json.to_string().contains(secret),
        "{text}"
    );

    let forged = mint("another-secret-0123456789abcdef-0123456789");
    let report = run(&config, Some(&forged)).await;
    assert_eq!(report.exit_code(), 1);
    let explanation = report.token.as_ref().unwrap().explanation.as_ref().unwrap();
    assert_eq!(
        explanation.first_failure().map(|check| check.name),
        Some("signature")
    );
}

/// The command line: flags win over the quickstart's variables, which fill in the rest
/// (blank ones ignored); `-` asks for stdin; anything else is a usage error (exit 2).
#[test]
fn flags_win_over_the_quickstarts_variables() {
    let env = |name: &str| match name {
        "ISSUER" => Some("https://from-env.example/".to_owned()),
        "AUDIENCE" => Some("https://api.from-env.example".to_owned()),
        "JWKS_URI" => Some("  ".to_owned()),
        _ => None,
    };
    let argv = |line: &str| {
        line.split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let parsed = args::parse(argv("--issuer=https://flag.example/ --json -"), env).unwrap();
    assert_eq!(
        parsed.config.issuer.as_deref(),
        Some("https://flag.example/")
    );
    assert_eq!(
        parsed.config.audience.as_deref(),
        Some("https://api.from-env.example")
    );
    assert_eq!(parsed.config.jwks_uri, None);
    assert!(parsed.json);
    assert_eq!(parsed.token.as_deref(), Some("-"));
    let parsed = args::parse(argv("--audience aud TOKEN"), env).unwrap();
    assert_eq!(parsed.config.audience.as_deref(), Some("aud"));
    assert_eq!(parsed.token.as_deref(), Some("TOKEN"));
    assert!(!parsed.json);

    for bad in ["--bogus", "--issuer", "one two", "--help"] {
        let error = args::parse(argv(bad), env).unwrap_err();
        assert!(error.contains(args::USAGE), "{bad}: {error}");
    }
}

/// With the API's decryption key (`--jwe-private-key-file`, `JWE_PRIVATE_KEY_FILE`), an
/// encrypted token is decrypted and its inner token explained; neither the token nor the key
/// is printed. Without the key the same token fails; an unreadable file is a configuration
/// problem that names the file.
#[tokio::test]
async fn an_encrypted_token_is_explained_with_the_apis_decryption_key() {
    use bearer_guard::jwe::{ContentEncryption, KeyEncryption};
    use bearer_guard::testing::DecryptionKeyPair;

    let issuer = TestIssuer::start().await;
    let pair = DecryptionKeyPair::generate("enc-1");
    let path = std::env::temp_dir().join(format!("doctor-jwe-{}.pem", std::process::id()));
    std::fs::write(&path, pair.private_key_pem()).unwrap();
    let path_text = path.to_str().unwrap().to_owned();
    let token = issuer
        .token()
        .encrypt_to(
            &pair.encryption_key(),
            KeyEncryption::RsaOaep256,
            ContentEncryption::A256Gcm,
        )
        .sign();
    let plain = config(issuer.issuer(), DEFAULT_AUDIENCE);
    let decrypting = Config {
        jwe_private_key_file: Some(path_text.clone()),
        jwe_key_id: Some("enc-1".to_owned()),
        ..plain.clone()
    };

    let report = run(&decrypting, Some(&token)).await;
    assert_eq!(report.exit_code(), 0, "{}", render::text(&report, false));
    assert_eq!(
        report.configuration.decryption.as_deref(),
        Some(format!("decrypts encrypted tokens with the key in {path_text} (kid enc-1)").as_str())
    );
    let (text, json) = printed(&report, &token);
    assert!(text.contains("decryption"), "{text}");
    for output in [text.as_str(), &json.to_string()] {
        assert!(
            !output.contains("PRIVATE KEY"),
            "the key is printed: {output}"
        );
    }

    assert_eq!(run(&plain, Some(&token)).await.exit_code(), 1);
    std::fs::remove_file(&path).unwrap();
    let report = run(&decrypting, Some(&token)).await;
    assert_eq!(report.exit_code(), 1);
    assert!(
        report.configuration.problems[0].starts_with(&format!("JWE_PRIVATE_KEY_FILE {path_text}")),
        "{:?}",
        report.configuration.problems
    );

    let env = |name: &str| match name {
        "JWE_PRIVATE_KEY_FILE" => Some("/keys/api.pem".to_owned()),
        "JWE_KEY_ID" => Some("from-env".to_owned()),
        _ => None,
    };
    let argv = ["--jwe-key-id", "from-flag", "TOKEN"].map(str::to_owned);
    let parsed = args::parse(argv, env).unwrap();
    assert_eq!(
        parsed.config.jwe_private_key_file.as_deref(),
        Some("/keys/api.pem")
    );
    assert_eq!(parsed.config.jwe_key_id.as_deref(), Some("from-flag"));
}

/// With a DPoP proof (`--dpop-proof`) the doctor explains the request the client made, proof
/// included, against the API's `PUBLIC_URL`: a proof made for the URL the client saw (a
/// port-forward) fails at `binding`, and the hint names both URLs; a proof for the public URL
/// passes. Neither the token nor the proof's signature is printed.
#[tokio::test]
async fn a_dpop_request_is_explained_with_its_proof_against_the_public_url() {
    use bearer_guard::testing::DpopProof;

    let issuer = TestIssuer::start().await;
    let key = DpopProof::generate();
    let token = issuer.token().dpop_bound(&key.jkt()).sign();
    let settings = |proof: &str| Config {
        public_url: Some("https://api.example.com/".to_owned()),
        dpop_proof: Some(proof.to_owned()),
        ..config(issuer.issuer(), DEFAULT_AUDIENCE)
    };

    let forwarded = key.proof("GET", "http://localhost:3000/api/private", &token);
    let report = run(&settings(&forwarded), Some(&token)).await;
    assert_eq!(report.exit_code(), 1);
    let (text, json) = printed(&report, &token);
    let proof_signature = forwarded.rsplit('.').next().unwrap();
    assert!(!text.contains(proof_signature), "{text}");
    let explanation = report.token.as_ref().unwrap().explanation.as_ref().unwrap();
    let failed = explanation.first_failure().expect("a failure");
    assert_eq!(failed.name, "binding", "{text}");
    let hint = failed.hint.as_deref().unwrap_or_default();
    assert!(
        hint.contains("http://localhost:3000/api/private")
            && hint.contains("https://api.example.com/api/private"),
        "{hint}"
    );
    assert_eq!(json["configuration"]["problems"], json!([]));

    let good = key.proof("GET", "https://api.example.com/api/private", &token);
    let report = run(&settings(&good), Some(&token)).await;
    assert_eq!(report.exit_code(), 0, "{}", render::text(&report, false));

    // `--url` and `--method` say what the client called when the proof names something else.
    let report = run(
        &Config {
            request_url: Some("https://api.example.com/api/private".to_owned()),
            request_method: Some("POST".to_owned()),
            ..settings(&good)
        },
        Some(&token),
    )
    .await;
    let explanation = report.token.as_ref().unwrap().explanation.as_ref().unwrap();
    assert_eq!(explanation.first_failure().unwrap().name, "binding");
    let hint = explanation.first_failure().unwrap().hint.clone().unwrap();
    assert!(hint.contains("`htm`"), "{hint}");

    // A mode that is none is a configuration problem, named (`DPOP`, in any case, as the
    // quickstart reads it).
    for (mode, problem) in [("Sometimes", true), ("REQUIRED", false)] {
        let report = run(
            &Config {
                dpop: Some(mode.to_owned()),
                ..settings(&good)
            },
            Some(&token),
        )
        .await;
        let named = report
            .configuration
            .problems
            .iter()
            .any(|p| p.contains("DPOP") && p.contains("off, allowed or required"));
        assert_eq!(
            named, problem,
            "{mode}: {:?}",
            report.configuration.problems
        );
    }

    // A URL the request cannot be made of is reported, not a panic.
    let report = run(
        &Config {
            request_url: Some("/api/private".to_owned()),
            ..settings(&good)
        },
        Some(&token),
    )
    .await;
    assert_eq!(report.exit_code(), 1);
    assert!(
        report.configuration.problems[0].contains("not an absolute URL"),
        "{:?}",
        report.configuration.problems
    );
}

/// The DPoP and introspection settings come from the flags or the quickstart's variables.
#[test]
fn dpop_and_introspection_settings_come_from_flags_or_the_quickstarts_variables() {
    let env = |name: &str| match name {
        "DPOP" => Some("required".to_owned()),
        "PUBLIC_URL" => Some("https://api.example.com".to_owned()),
        "INTROSPECTION_CLIENT_ID" => Some("from-env".to_owned()),
        "INTROSPECTION_URL" => Some("https://issuer.example/introspect".to_owned()),
        _ => None,
    };
    let argv = |line: &str| {
        line.split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let parsed = args::parse(
        argv("--dpop-proof P --url https://x.example/a --method POST TOKEN"),
        env,
    )
    .unwrap();
    assert_eq!(parsed.config.dpop.as_deref(), Some("required"));
    assert_eq!(
        parsed.config.public_url.as_deref(),
        Some("https://api.example.com")
    );
    assert_eq!(parsed.config.dpop_proof.as_deref(), Some("P"));
    assert_eq!(
        parsed.config.request_url.as_deref(),
        Some("https://x.example/a")
    );
    assert_eq!(parsed.config.request_method.as_deref(), Some("POST"));
    assert_eq!(
        parsed.config.introspection_client_id.as_deref(),
        Some("from-env")
    );
    assert_eq!(
        parsed.config.introspection_url.as_deref(),
        Some("https://issuer.example/introspect")
    );
    let parsed = args::parse(
        argv("--dpop allowed --public-url https://b.example --introspection-client-id flag T"),
        env,
    )
    .unwrap();
    assert_eq!(
        parsed.config.introspection_client_id.as_deref(),
        Some("flag")
    );
    assert_eq!(parsed.config.dpop.as_deref(), Some("allowed"));
    assert_eq!(
        parsed.config.public_url.as_deref(),
        Some("https://b.example")
    );
}

/// With the API's client credentials (`--introspection-client-id`/`-secret`, or the
/// quickstart's `INTROSPECTION_CLIENT_ID`/`_SECRET`), an opaque token is explained through
/// the issuer's introspection endpoint: an active one passes, one the issuer never issued
/// fails. The secret is shown by its length only, the token never.
#[tokio::test]
async fn an_opaque_token_is_explained_through_introspection() {
    const SECRET: &str = "doctor-api-secret-0123456789abcdef";
    let issuer = TestIssuer::start().await;
    issuer.register_client("doctor-api", SECRET);
    let settings = Config {
        introspection_client_id: Some("doctor-api".to_owned()),
        introspection_client_secret: Some(SECRET.to_owned()),
        ..config(issuer.issuer(), DEFAULT_AUDIENCE)
    };
    let token = issuer.opaque_token().issue();

    let report = run(&settings, Some(&token)).await;
    assert_eq!(report.exit_code(), 0, "{}", render::text(&report, false));
    let (text, json) = printed(&report, &token);
    assert!(
        !text.contains(SECRET) && !json.to_string().contains(SECRET),
        "{text}"
    );
    assert!(
        text.contains(&format!("as doctor-api (secret: {} bytes)", SECRET.len())),
        "{text}"
    );
    assert_eq!(issuer.introspection_requests(), 1);

    let never_issued = "2YotnFZFEjr1zCsicMWpAA-never-issued";
    let report = run(&settings, Some(never_issued)).await;
    assert_eq!(report.exit_code(), 1);
    let explanation = report.token.as_ref().unwrap().explanation.as_ref().unwrap();
    assert!(explanation.first_failure().is_some(), "{explanation}");

    // Without introspection the same opaque token cannot be read at all.
    let report = run(&config(issuer.issuer(), DEFAULT_AUDIENCE), Some(&token)).await;
    assert_eq!(report.exit_code(), 1);

    // A client id without its secret is a configuration problem, named.
    let report = run(
        &Config {
            introspection_client_secret: None,
            ..settings.clone()
        },
        Some(&token),
    )
    .await;
    assert!(
        report.configuration.problems[0].contains("INTROSPECTION_CLIENT_SECRET"),
        "{:?}",
        report.configuration.problems
    );
}
