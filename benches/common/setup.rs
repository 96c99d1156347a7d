//! Every group of the benchmarks, built on warmed-up validators: the three algorithms, the
//! concurrent cases, key set and token sizes, and the paths of `paths.rs`.

use super::*;

/// Every group, on warmed-up validators. The pools of new tokens (for the cases that use each
/// token once) are minted only when `new_token_pools`.
pub async fn setup(cores: usize, new_token_pools: bool) -> (Vec<TestIssuer>, Vec<Group>) {
    let pool_size = if new_token_pools {
        ROUNDS * NEW_TOKEN_CALLS + FILL_TOKENS
    } else {
        0
    };
    let issuer = TestIssuer::start().await;
    let iss = issuer.issuer().to_owned();
    let es_pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    issuer.set_extra_jwks(vec![ec_jwk(&es_pair, "ec-1")]);
    let rsa_jwk = issuer.signing_key().jwk();
    let rsa_key = DecodingKey::from_rsa_components(
        rsa_jwk["n"].as_str().unwrap(),
        rsa_jwk["e"].as_str().unwrap(),
    )
    .unwrap();
    let ec_jwk = ec_jwk(&es_pair, "ec-1");
    let ec_key = DecodingKey::from_ec_components(
        ec_jwk["x"].as_str().unwrap(),
        ec_jwk["y"].as_str().unwrap(),
    )
    .unwrap();

    let ec_public =
        ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, es_pair.public_key().as_ref()).unwrap();
    let rs256 = Signer::Rs256(issuer.signing_key());
    let es256 = Signer::Es256 {
        pair: es_pair,
        kid: "ec-1".into(),
    };
    let hs256 = Signer::Hs256(HS256_SECRET.to_vec());
    let rs_builder = issuer.validator();
    let es_builder = issuer
        .validator()
        .algorithms([Algorithm::RS256, Algorithm::ES256]);
    let hs_builder = issuer.validator().hs256_secret(HS256_SECRET);
    let rs_raw = Target::raw(Algorithm::RS256, &iss, rsa_key);

    let rsa_public = ParsedPublicKey::new(
        &RSA_PKCS1_2048_8192_SHA256,
        issuer.signing_key().public_key_spki_der(),
    )
    .unwrap();
    let hmac_key = hmac::Key::new(hmac::HMAC_SHA256, HS256_SECRET);
    type Verify = Box<dyn Fn(&[u8], &[u8]) -> bool + Send + Sync>;
    let mut groups = Vec::new();
    for (name, signer, builder, raw, verify) in [
        (
            "RS256",
            &rs256,
            &rs_builder,
            rs_raw.clone(),
            Box::new(paths::public_key_check(rsa_public)) as Verify,
        ),
        (
            "ES256",
            &es256,
            &es_builder,
            Target::raw(Algorithm::ES256, &iss, ec_key),
            Box::new(paths::public_key_check(ec_public)),
        ),
        (
            "HS256",
            &hs256,
            &hs_builder,
            Target::raw(
                Algorithm::HS256,
                &iss,
                DecodingKey::from_secret(HS256_SECRET),
            ),
            Box::new(move |input: &[u8], tag: &[u8]| hmac::verify(&hmac_key, input, tag).is_ok()),
        ),
    ] {
        let token = signer.sign(&claims(&iss, usize::MAX, 0));
        let started = Instant::now();
        let pool = signer.pool(&iss, pool_size, cores);
        if new_token_pools {
            let took = started.elapsed().as_secs_f64();
            println!("{name}: minted {pool_size} new tokens in {took:.1} s");
        }
        let floors = (raw, paths::signature_floor(&token, verify));
        groups.push(algorithm_group(name, builder, floors, &token, &pool).await);
    }
    let rs_token = groups[0].cases[0].tokens[0].clone();
    let router = Case {
        vs_floor: false,
        ..Case::new(
            "router_only",
            "router without the layer",
            &Target::layer(None),
            &rs_token,
        )
    };
    groups[0].cases.push(router);

    // All cores: the RS256 cases of the first group (but the signature alone), one thread
    // per core.
    let concurrent: Vec<Case> = groups[0].cases[..6]
        .iter()
        .filter(|case| case.id != "signature")
        .map(|case| Case::new(case.id, case.label.clone(), &case.target, &rs_token))
        .collect();
    groups.push(Group {
        name: "concurrent".into(),
        note: format!("RS256, {cores} threads at once"),
        mode: Mode::Concurrent,
        cases: concurrent,
    });

    // Key set size: a second issuer whose set grows between validators.
    let keys_issuer = TestIssuer::start().await;
    let keys_token =
        Signer::Rs256(keys_issuer.signing_key()).sign(&claims(keys_issuer.issuer(), usize::MAX, 0));
    let keys_jwk = keys_issuer.signing_key().jwk();
    let keys_raw = Target::raw(
        Algorithm::RS256,
        keys_issuer.issuer(),
        DecodingKey::from_rsa_components(
            keys_jwk["n"].as_str().unwrap(),
            keys_jwk["e"].as_str().unwrap(),
        )
        .unwrap(),
    );
    let fakes: Vec<Value> = (1..100).map(fake_rsa_jwk).collect();
    let mut cases = vec![Case::new(
        "jsonwebtoken_decode",
        "jsonwebtoken::decode",
        &keys_raw,
        &keys_token,
    )];
    let keys_builder = keys_issuer.validator().jwks_ttl(Duration::from_secs(3600));
    for (count, keys, off_id, cached_id) in [
        (1, "1 key", "validator_1_key", "validator_cached_1_key"),
        (
            10,
            "10 keys",
            "validator_10_keys",
            "validator_cached_10_keys",
        ),
        (
            100,
            "100 keys",
            "validator_100_keys",
            "validator_cached_100_keys",
        ),
    ] {
        keys_issuer.set_extra_jwks(fakes[..count - 1].to_vec());
        let off = warm(&keys_builder, Some(0), &keys_token).await;
        let cached = warm(&keys_builder, None, &keys_token).await;
        for validator in [&off, &cached] {
            let held = validator.key_set_status().map(|status| status.keys);
            assert_eq!(held, Some(count), "keys in the set");
        }
        let label = format!("Validator, {keys}, token cache off");
        cases.push(Case::new(
            off_id,
            label,
            &Target::Validator(off),
            &keys_token,
        ));
        let label = format!("Validator, {keys}, repeated token (cache hit)");
        cases.push(Case::new(
            cached_id,
            label,
            &Target::Validator(cached),
            &keys_token,
        ));
    }
    groups.push(Group {
        name: "keys".into(),
        note: "RS256, 1, 10 or 100 keys in the set".into(),
        mode: Mode::Sequential,
        cases,
    });

    // Token size, on the RS256 group's validators.
    let validator_of = |id: &str| match groups[0].cases.iter().find(|case| case.id == id) {
        Some(Case {
            target: Target::Validator(validator),
            ..
        }) => validator.clone(),
        _ => unreachable!("the RS256 group has {id}"),
    };
    let (off, cached) = (validator_of("validator"), validator_of("validator_cached"));
    for (name, payload_bytes) in [
        ("size_small", 300),
        ("size_medium", 1024),
        ("size_large", 8192),
    ] {
        let token = rs256.sign(&claims(&iss, usize::MAX - 1, payload_bytes));
        cached.validate(&token.text).await.expect("warm-up");
        groups.push(Group {
            name: name.into(),
            note: format!(
                "RS256, {} B token, {} B payload",
                token.text.len(),
                token.payload_bytes()
            ),
            mode: Mode::Sequential,
            cases: vec![
                Case::new(
                    "jsonwebtoken_decode",
                    "jsonwebtoken::decode",
                    &rs_raw,
                    &token,
                ),
                Case::new(
                    "validator",
                    "Validator, token cache off",
                    &Target::Validator(off.clone()),
                    &token,
                ),
                Case::new(
                    "validator_cached",
                    "Validator, repeated token (cache hit)",
                    &Target::Validator(cached.clone()),
                    &token,
                ),
            ],
        });
    }
    let proofs = if new_token_pools {
        ROUNDS * NEW_TOKEN_CALLS
    } else {
        0
    };
    groups.push(paths::dpop_group(&issuer, proofs).await);
    groups.push(paths::introspection_group(&issuer).await);
    groups.push(paths::tasks_group(&cached, &rs_token));
    groups.push(paths::structures_group(&rs_token));
    (vec![issuer, keys_issuer], groups)
}

/// Builds a validator and warms it up with `token` (key set fetched, token cached).
pub(super) async fn warm(
    builder: &ValidatorBuilder,
    cache: Option<u64>,
    token: &Token,
) -> Validator {
    let builder = match cache {
        Some(bytes) => builder.clone().token_cache_bytes(bytes),
        None => builder.clone(),
    };
    let validator = builder.build().unwrap();
    validator.validate(&token.text).await.expect("warm-up");
    validator
}

/// The per-algorithm group: floor, validators and layers on one token.
async fn algorithm_group(
    name: &str,
    builder: &ValidatorBuilder,
    (raw, signature): (Target, Target),
    token: &Token,
    new_tokens: &[Token],
) -> Group {
    let off = warm(builder, Some(0), token).await;
    let cached = warm(builder, None, token).await;
    let mut cases = vec![
        Case::new("jsonwebtoken_decode", "jsonwebtoken::decode", &raw, token),
        Case::new(
            "signature",
            "the signature check alone (aws-lc-rs, key parsed once)",
            &signature,
            token,
        ),
        Case::new(
            "validator",
            "Validator, token cache off",
            &Target::Validator(off.clone()),
            token,
        ),
        Case::new(
            "validator_cached",
            "Validator, repeated token (cache hit)",
            &Target::Validator(cached.clone()),
            token,
        ),
        Case::new(
            "layer",
            "layer, token cache off",
            &Target::layer(Some(&off)),
            token,
        ),
        Case::new(
            "layer_cached",
            "layer, repeated token (cache hit)",
            &Target::layer(Some(&cached)),
            token,
        ),
    ];
    if !new_tokens.is_empty() {
        // Their own validators, so each sees every pool token for the first time; the last
        // tokens of the pool fill the third one's cache.
        let (new_tokens, fill) = new_tokens.split_at(ROUNDS * NEW_TOKEN_CALLS);
        let validator = warm(builder, None, token).await;
        let for_layer = warm(builder, None, token).await;
        let full = warm(builder, Some(FULL_CACHE_BYTES), token).await;
        // Twice each: a token enters the cache the second time it verifies.
        for token in fill {
            for _ in 0..2 {
                full.validate(&token.text).await.expect("fill the cache");
            }
        }
        assert!(full.cached_token_bytes() >= FULL_CACHE_BYTES * 9 / 10);
        cases.push(Case::new_tokens(
            "validator_new_token",
            "Validator, new token each call (default cache)",
            &Target::Validator(validator),
            new_tokens,
        ));
        cases.push(Case::new_tokens(
            "layer_new_token",
            "layer, new token each call (default cache)",
            &Target::layer(Some(&for_layer)),
            new_tokens,
        ));
        cases.push(Case::new_tokens(
            "layer_new_token_full_cache",
            &format!("layer, new token each call, cache full ({FULL_CACHE_BYTES} bytes)"),
            &Target::layer(Some(&full)),
            new_tokens,
        ));
    }
    Group {
        name: name.to_owned(),
        note: format!(
            "{} B token, {} B payload",
            token.text.len(),
            token.payload_bytes()
        ),
        mode: Mode::Sequential,
        cases,
    }
}
