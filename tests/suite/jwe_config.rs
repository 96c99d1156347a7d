//! The configuration of encrypted tokens: decryption keys checked up front (format, type,
//! size, private part, use, kid), and the `alg`/`enc` allow-list.

use bearer_guard::ValidatorBuilder;
use bearer_guard::config::ConfigProblem;
use bearer_guard::jwe::{ContentEncryption, KeyEncryption};
use bearer_guard::testing::{DecryptionKeyPair, SigningKey};
use serde_json::json;

fn base() -> ValidatorBuilder {
    ValidatorBuilder::default()
        .issuer("https://issuer.example/")
        .audience("api")
}

fn problems(builder: ValidatorBuilder) -> Vec<ConfigProblem> {
    builder.build().unwrap_err().problems().to_vec()
}

/// The one problem of `builder`, a `DecryptionKey` whose text contains `saying`.
#[track_caller]
fn assert_key_problem(builder: ValidatorBuilder, saying: &str) {
    match problems(builder).as_slice() {
        [ConfigProblem::DecryptionKey(text)] => assert!(text.contains(saying), "{text}"),
        other => panic!("expected one DecryptionKey problem, got {other:?}"),
    }
}

#[test]
fn keys_that_cannot_decrypt_are_configuration_problems() {
    let pair = DecryptionKeyPair::generate("enc-1");
    let signing = SigningKey::generate("sig");
    let public_pem = {
        use base64::Engine;
        let body = base64::engine::general_purpose::STANDARD.encode(signing.public_key_spki_der());
        format!("-----BEGIN PUBLIC KEY-----\n{body}\n-----END PUBLIC KEY-----\n")
    };
    assert_key_problem(base().decryption_key_pem("not a pem"), "the PEM key #1");
    assert_key_problem(
        base().decryption_key_pem(public_pem),
        "not a PEM `PRIVATE KEY`",
    );
    assert_key_problem(
        base().decryption_key_pem_with_kid("k", pair.private_key_pem().replace("MII", "MIJ")),
        "the PEM key k",
    );
    let jwk = pair.private_jwk();
    let mut without_d = jwk.clone();
    without_d.as_object_mut().unwrap().remove("d");
    let mut for_signing = jwk.clone();
    for_signing["use"] = json!("sig");
    let mut rsa1_5 = jwk.clone();
    rsa1_5["alg"] = json!("RSA1_5");
    let mut wrong_q = jwk.clone();
    wrong_q["q"] = jwk["p"].clone();
    let public_only = pair.public_jwk();
    for (jwk, saying) in [
        (without_d, "`d` is missing"),
        (for_signing, "`use` is not `enc`"),
        (rsa1_5, "`alg` is not RSA-OAEP"),
        (wrong_q, "not an RSA private key"),
        (public_only, "`d` is missing"),
        (json!({"kty": "EC", "kid": "ec"}), "not an RSA key"),
    ] {
        let set = json!({ "keys": [jwk] }).to_string();
        assert_key_problem(base().decryption_keys_jwk_set(set), saying);
    }
    assert_key_problem(base().decryption_keys_jwk_set("{}"), "not a JWK set");
    assert_key_problem(base().decryption_keys_jwk_set(r#"{"keys":[]}"#), "no key");
}

#[test]
fn a_key_smaller_than_2048_bits_is_refused() {
    let small = RSA_1024;
    assert_key_problem(base().decryption_key_pem(small), "of 2048 to 8192 bits");
}

#[test]
fn kids_are_unique_and_the_allow_list_is_sound() {
    let pair = DecryptionKeyPair::generate("enc-1");
    let twice = base()
        .decryption_key_pem_with_kid("same", pair.private_key_pem())
        .decryption_key_pem_with_kid("same", pair.private_key_pkcs1_pem());
    assert_eq!(
        problems(twice),
        [ConfigProblem::DuplicateDecryptionKeyId("same".into())]
    );
    // The default kid is the thumbprint: the same key twice has it twice.
    let mut without_kid = pair.private_jwk();
    without_kid.as_object_mut().unwrap().remove("kid");
    let thumbprints = base()
        .decryption_key_pem(pair.private_key_pem())
        .decryption_keys_jwk_set(json!({ "keys": [without_kid] }).to_string());
    assert_eq!(
        problems(thumbprints),
        [ConfigProblem::DuplicateDecryptionKeyId(pair.thumbprint())]
    );
    let empty = base()
        .decryption_key_pem(pair.private_key_pem())
        .encryption_algorithms([]);
    assert_eq!(problems(empty), [ConfigProblem::EncryptionAlgorithms]);
    let without_keys =
        base().encryption_algorithms([(KeyEncryption::RsaOaep256, ContentEncryption::A256Gcm)]);
    assert_eq!(
        problems(without_keys),
        [ConfigProblem::EncryptionAlgorithms]
    );
    let debug = format!("{:?}", base().decryption_key_pem(pair.private_key_pem()));
    assert!(
        !debug.contains("PRIVATE KEY") && !debug.contains("MII"),
        "{debug}"
    );
}

/// An RSA-1024 PKCS#8 key, made for this test (`openssl genrsa 1024`); it protects nothing.
const RSA_1024: &str = "\
-----BEGIN PRIVATE KEY-----\n\
MIICdgIBADANBgkqhkiG9w0BAQEFAASCAmAwggJcAgEAAoGBAKsbJymKd7iTbutQ\n\
MSJWFCbMGpY7qy8dv5g8gY4t5FLG/LPp2U9s6RUqNbUZGuZBLfgnyxlHPnH3iRCc\n\
4qh7kiv0Ou4WWfyqkA9L6HTKk0o/ovg2TMKeobbzsXXu8btuT9X0F/+iXUxfaWj7\n\
iIzaGLshAtGTOeh8cD6mfaS3ukFxAgMBAAECgYEApOBqUUYjbRFsTYWdgvetPWFp\n\
sSBYKPOifqC3OnkQTY9/TCJni3hn9UQSMqq5V+ywzjISLA6RpqIfSonSgwVn6CxY\n\
28zOntQXguxYJOFIKiB6KtWjizObkVYrEapWqaC7VVGTwms/VEjNQdexJ+C/Ktw5\n\
3luI6jf75HmYd6e5px0CQQDhkZnJciI8h4GtVv3vJuF2cL8MkRcDDX1wid5AlfBE\n\
2BheAMmx8vhGjbkneyuBRed9rZEbO8Qn6CmvvNJbr+lXAkEAwjCXTn9CWoRkVhpH\n\
P3NBJkkw0z+QjFRi0kVDRIVxNg4L2ESrdUM9ZkRQ9DcFu2Ymj3qNZDvI3YIZyCa3\n\
ZrFGdwJAK4oZLyMSrLBTPYwvE7xjhKManWhcEsDF17Uk6z6F1CQKAAsS44BMoAG3\n\
HYHO0fMWTdH00lbk8/cCJOPDjuMTnQJASspeLBx1WNlur37VfAmOyQkdZe8wY+vI\n\
V8XXX5epf7EvPK9N/g7UogOjzjs22PNB3LbNqBIijbWi6mSG9GVIhwJAErBc0HXs\n\
ftTICd3FZz03IK6uU+pYVqw79qielFlWTS25funPuGAx6M2hLn6TJzW95O7d7TTd\n\
yPgu+WpU4blDQA==\n\
-----END PRIVATE KEY-----\n\
";

/// An encrypted token's `iss` is encrypted: it cannot choose among several issuers, so
/// decryption keys on a validator of several issuers are refused when it is built.
#[test]
fn decryption_keys_need_a_validator_of_one_issuer() {
    let pair = DecryptionKeyPair::generate("enc-1");
    let decrypting = base()
        .decryption_key_pem(pair.private_key_pem())
        .build()
        .expect("one issuer decrypts");
    let other = ValidatorBuilder::default()
        .issuer("https://other.example/")
        .audience("api")
        .build()
        .expect("valid");
    let combined = bearer_guard::Validator::for_issuers([decrypting.clone(), other]);
    assert!(matches!(
        combined.unwrap_err().problems(),
        [ConfigProblem::DecryptionWithSeveralIssuers]
    ));
    bearer_guard::Validator::for_issuers([decrypting]).expect("alone it still decrypts");

    let template = ValidatorBuilder::default()
        .audience("api")
        .decryption_key_pem(pair.private_key_pem());
    let resolver = bearer_guard::IssuerResolver::issuers(["https://tenant.example/"]);
    let resolved = bearer_guard::Validator::resolved_issuers(template, resolver);
    assert!(matches!(
        resolved.unwrap_err().problems(),
        [ConfigProblem::DecryptionWithSeveralIssuers]
    ));
}
