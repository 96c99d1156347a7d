//! Encrypted access tokens (JWE, RFC 7516, around a signed token, RFC 7519 §11.2), through a
//! router: decrypted only where keys are configured, the header checked before anything is
//! decrypted, every decryption failure one indistinguishable refusal, and the token inside
//! put through the whole pipeline (signature, claims, scopes, binding). The cache, the
//! introspection beside it and what never leaves the process: `jwe_pipeline.rs`.

use crate::common;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bearer_guard::ValidatorBuilder;
use bearer_guard::error::TokenProblem;
use bearer_guard::jwe::{ContentEncryption, KeyEncryption};
use bearer_guard::testing::{Api, DEFAULT_AUDIENCE, DecryptionKeyPair, SigningKey};
use common::{Fixture, PRIVATE, SCOPE, SCOPED};
use serde_json::{Value, json};

/// One way to give the validator its decryption key.
type Configure = Box<dyn Fn(ValidatorBuilder) -> ValidatorBuilder>;

const OAEP256: KeyEncryption = KeyEncryption::RsaOaep256;
const A256: ContentEncryption = ContentEncryption::A256Gcm;

/// A fixture whose validator decrypts with `pair` (PEM, by its `kid`).
async fn decrypting(pair: &DecryptionKeyPair) -> Fixture {
    let (kid, pem) = (pair.kid().to_owned(), pair.private_key_pem());
    Fixture::start_with(|builder| builder.decryption_key_pem_with_kid(kid, pem)).await
}

/// `token` with segment `index` replaced by `replace(decoded)`, re-encoded.
fn tamper(token: &str, index: usize, replace: impl FnOnce(&mut Vec<u8>)) -> String {
    let mut segments: Vec<String> = token.split('.').map(str::to_owned).collect();
    let mut bytes = URL_SAFE_NO_PAD.decode(&segments[index]).unwrap();
    replace(&mut bytes);
    segments[index] = URL_SAFE_NO_PAD.encode(bytes);
    segments.join(".")
}

#[tokio::test]
async fn an_encrypted_token_from_the_token_endpoint_is_decrypted_and_verified() {
    let pair = DecryptionKeyPair::generate("enc-1");
    let fixture = decrypting(&pair).await;
    fixture.issuer.register_api(
        Api::new(DEFAULT_AUDIENCE)
            .scopes([SCOPE])
            .encrypted_to(pair.encryption_key()),
    );
    fixture.issuer.register_client("m2m", "m2m-secret");
    fixture.issuer.grant("m2m", DEFAULT_AUDIENCE, [SCOPE]);
    let token = fixture
        .issuer
        .client_credentials("m2m", "m2m-secret", DEFAULT_AUDIENCE, None)
        .await
        .unwrap()
        .access_token;
    assert_eq!(token.split('.').count(), 5, "a compact JWE");
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        header,
        json!({"alg": "RSA-OAEP-256", "enc": "A256GCM", "cty": "JWT", "kid": "enc-1"})
    );
    let claims = fixture.send(SCOPED, &token).await.assert_ok().clone();
    assert_eq!(claims["sub"], "m2m@clients");
    assert_eq!(claims["scopes"], json!([SCOPE]));
    // Plain signed tokens are still accepted.
    fixture
        .send(SCOPED, &fixture.token().sign())
        .await
        .assert_ok();
}

#[tokio::test]
async fn every_allowed_pair_and_every_key_format_decrypts() {
    let pair = DecryptionKeyPair::generate("enc-1");
    let thumbprint = pair.thumbprint();
    let formats: [(&str, Configure); 3] = [
        ("PKCS#8 PEM, thumbprint kid", {
            let pem = pair.private_key_pem();
            Box::new(move |b| b.decryption_key_pem(pem.clone()))
        }),
        ("PKCS#1 PEM, thumbprint kid", {
            let pem = pair.private_key_pkcs1_pem();
            Box::new(move |b| b.decryption_key_pem(pem.clone()))
        }),
        ("private JWK set, its kid", {
            let set = json!({"keys": [pair.private_jwk()]}).to_string();
            Box::new(move |b| b.decryption_keys_jwk_set(set.clone()))
        }),
    ];
    for (name, configure) in formats {
        let fixture = Fixture::start_with(configure).await;
        let kid = if name.contains("thumbprint") {
            thumbprint.as_str()
        } else {
            "enc-1"
        };
        let key = pair.encryption_key().with_kid(kid);
        for alg in KeyEncryption::ALL {
            for enc in ContentEncryption::ALL {
                let token = fixture.token().encrypt_to(&key, alg, enc).sign();
                let reply = fixture.send(SCOPED, &token).await;
                assert_eq!(reply.status, 200, "{name}, {alg:?}/{enc:?}: {reply:#?}");
            }
        }
    }
}

#[tokio::test]
async fn wrong_keys_and_tampered_segments_are_one_and_the_same_refusal() {
    let pair = DecryptionKeyPair::generate("enc-1");
    let fixture = decrypting(&pair).await;
    let good = fixture
        .token()
        .encrypt_to(&pair.encryption_key(), OAEP256, A256)
        .sign();
    fixture.send(PRIVATE, &good).await.assert_ok();
    // Encrypted to another key under the same kid: the OAEP step fails.
    let stranger = DecryptionKeyPair::generate("enc-1");
    let mut refused = vec![(
        "another key",
        fixture
            .token()
            .encrypt_to(&stranger.encryption_key(), OAEP256, A256)
            .sign(),
    )];
    let flip = |bytes: &mut Vec<u8>| bytes[0] ^= 1;
    refused.push(("encrypted key", tamper(&good, 1, flip)));
    refused.push(("iv", tamper(&good, 2, flip)));
    refused.push(("ciphertext", tamper(&good, 3, flip)));
    refused.push(("tag", tamper(&good, 4, flip)));
    // The header is the AAD: any change to it, even a harmless member, breaks the tag.
    refused.push((
        "header",
        tamper(&good, 0, |bytes| {
            let mut header: Value = serde_json::from_slice(bytes).unwrap();
            header["x"] = json!(1);
            *bytes = header.to_string().into_bytes();
        }),
    ));
    refused.push(("short iv", tamper(&good, 2, |bytes| bytes.truncate(8))));
    refused.push((
        "unknown kid",
        fixture
            .token()
            .encrypt_to(&pair.encryption_key().with_kid("enc-9"), OAEP256, A256)
            .sign(),
    ));
    for (name, token) in refused {
        let reply = fixture.send(PRIVATE, &token).await;
        assert_eq!(reply.status, 401, "{name}");
        reply.assert_invalid_token_for(TokenProblem::Undecryptable);
    }
}

#[tokio::test]
async fn the_header_is_checked_before_anything_is_decrypted() {
    let pair = DecryptionKeyPair::generate("enc-1");
    let (kid, pem) = (pair.kid().to_owned(), pair.private_key_pem());
    let fixture = Fixture::start_with(|builder| {
        builder
            .decryption_key_pem_with_kid(kid, pem)
            .encryption_algorithms([(OAEP256, A256), (KeyEncryption::RsaOaep512, A256)])
    })
    .await;
    // Encrypted to a stranger's key: were it decrypted, it would be Undecryptable. Each
    // header fault is found first.
    let stranger = DecryptionKeyPair::generate("enc-1").encryption_key();
    let token = || fixture.token().encrypt_to(&stranger, OAEP256, A256);
    let cases = [
        (
            "RSA1_5",
            token().jwe_header("alg", "RSA1_5"),
            TokenProblem::AlgorithmNotAllowed,
        ),
        (
            "RSA-OAEP",
            token().jwe_header("alg", "RSA-OAEP"),
            TokenProblem::AlgorithmNotAllowed,
        ),
        (
            "dir",
            token().jwe_header("alg", "dir"),
            TokenProblem::AlgorithmNotAllowed,
        ),
        (
            "A128CBC-HS256",
            token().jwe_header("enc", "A128CBC-HS256"),
            TokenProblem::AlgorithmNotAllowed,
        ),
        (
            "unknown enc",
            token().jwe_header("enc", "A512GCM"),
            TokenProblem::AlgorithmNotAllowed,
        ),
        (
            "pair not configured",
            token().jwe_header("enc", "A128GCM"),
            TokenProblem::AlgorithmNotAllowed,
        ),
        (
            "zip",
            token().jwe_header("zip", "DEF"),
            TokenProblem::Compressed,
        ),
        (
            "crit",
            token()
                .jwe_header("crit", json!(["exp"]))
                .jwe_header("exp", 1),
            TokenProblem::UnsupportedCritical,
        ),
        (
            "cty json",
            token().jwe_header("cty", "application/json"),
            TokenProblem::Malformed,
        ),
        (
            "enc not a string",
            token().jwe_header("enc", 256),
            TokenProblem::MalformedHeader,
        ),
    ];
    for (name, builder, problem) in cases {
        let reply = fixture.send(PRIVATE, &builder.sign()).await;
        assert_eq!(reply.status, 401, "{name}");
        reply.assert_invalid_token_for(problem);
    }
    // The same pair, decryptable, is refused just the same when it is not configured.
    let own = fixture
        .token()
        .encrypt_to(&pair.encryption_key(), KeyEncryption::RsaOaep384, A256)
        .sign();
    fixture
        .send(PRIVATE, &own)
        .await
        .assert_invalid_token_for(TokenProblem::AlgorithmNotAllowed);
    // Every content type of a nested JWT, and none at all, is accepted.
    for cty in ["JWT", "jwt", "at+jwt", "application/AT+JWT"] {
        let token = fixture
            .token()
            .encrypt_to(&pair.encryption_key(), OAEP256, A256);
        let reply = fixture
            .send(PRIVATE, &token.jwe_header("cty", cty).sign())
            .await;
        assert_eq!(reply.status, 200, "{cty}: {reply:#?}");
    }
    let without = fixture
        .token()
        .encrypt_to(&pair.encryption_key(), OAEP256, A256);
    fixture
        .send(PRIVATE, &without.without_jwe_header("cty").sign())
        .await
        .assert_ok();
}

#[tokio::test]
async fn what_is_inside_must_be_a_token_that_passes_every_check() {
    let pair = DecryptionKeyPair::generate("enc-1");
    let fixture = decrypting(&pair).await;
    let key = pair.encryption_key();
    let encrypt = |builder: bearer_guard::testing::TokenBuilder| {
        builder.encrypt_to(&key, OAEP256, A256).sign()
    };
    let forger = SigningKey::generate("key-1");
    let cases = [
        // Plain JSON claims inside a JWE are never trusted.
        (
            "unsigned claims",
            encrypt(fixture.token().unsigned_inside()),
            TokenProblem::Malformed,
        ),
        (
            "bad signature",
            encrypt(fixture.token().signed_by(&forger)),
            TokenProblem::InvalidSignature,
        ),
        (
            "wrong aud",
            encrypt(fixture.token().audience("https://other.example")),
            TokenProblem::WrongAudience,
        ),
        (
            "expired",
            encrypt(fixture.token().expires_in_secs(-600)),
            TokenProblem::Expired,
        ),
        (
            "JWE in JWE",
            encrypt(
                fixture
                    .token()
                    .raw_payload(encrypt(fixture.token()))
                    .unsigned_inside(),
            ),
            TokenProblem::Encrypted,
        ),
        // A token bound to a DPoP key stays bound: no bearer use, encrypted or not.
        (
            "DPoP-bound",
            encrypt(fixture.token().dpop_bound("jkt")),
            TokenProblem::DpopBound,
        ),
    ];
    for (name, token, problem) in cases {
        let reply = fixture.send(PRIVATE, &token).await;
        assert_eq!(reply.status, 401, "{name}");
        reply.assert_invalid_token_for(problem);
    }
    // A valid token without the route's scope is a 403, as unencrypted.
    let unscoped = encrypt(fixture.issuer.token());
    fixture
        .send(SCOPED, &unscoped)
        .await
        .assert_insufficient_scope(SCOPE);
}

#[tokio::test]
async fn the_kid_chooses_the_key_and_two_keys_rotate() {
    let (old, new) = (
        DecryptionKeyPair::generate("enc-old"),
        DecryptionKeyPair::generate("enc-new"),
    );
    let set = json!({"keys": [old.private_jwk(), new.private_jwk()]}).to_string();
    let fixture = Fixture::start_with(|builder| builder.decryption_keys_jwk_set(set)).await;
    for pair in [&old, &new] {
        let token = fixture
            .token()
            .encrypt_to(&pair.encryption_key(), OAEP256, A256)
            .sign();
        fixture.send(PRIVATE, &token).await.assert_ok();
    }
    // The right key under the other key's kid, and no kid when two keys could be meant.
    let swapped = old.encryption_key().with_kid("enc-new");
    // (Encrypted to the first key: falling back to it, or trying each key, would pass.)
    let without_kid = old.encryption_key().without_kid();
    for key in [swapped, without_kid] {
        let token = fixture.token().encrypt_to(&key, OAEP256, A256).sign();
        fixture
            .send(PRIVATE, &token)
            .await
            .assert_invalid_token_for(TokenProblem::Undecryptable);
    }
    // With one key, a token without kid is decrypted with it.
    let single = decrypting(&new).await;
    let token = single
        .token()
        .encrypt_to(&new.encryption_key().without_kid(), OAEP256, A256);
    single.send(PRIVATE, &token.sign()).await.assert_ok();
}
