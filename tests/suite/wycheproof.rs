//! Wycheproof's JWS and JWK-set vectors (C2SP/wycheproof, Apache-2.0), read from
//! `../shared/testdata/wycheproof/` beside the repository, run through the crate's key policy
//! and verification path. The crate must agree with every expected result.

use std::path::PathBuf;

use bearer_guard::testing::verify_signature;
use serde_json::Value;

fn vectors(file: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/testdata/wycheproof")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|error| {
        panic!(
            "the Wycheproof vectors must be at {} (the shared folder beside the repository): {error}",
            path.display()
        )
    });
    serde_json::from_str(&text).expect("Wycheproof JSON")
}

/// Vectors of the upstream file that contradict themselves or the RFCs (other Wycheproof
/// consumers list the same six). Each is proven defective below, and the crate's answer to it
/// is pinned: these are not skipped.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Defect {
    /// Byte-identical to vector 357 of the same group, which is expected valid; the padding
    /// the comment speaks of was lost upstream. The crate answers as for 357: accept.
    IdenticalToAValidVector,
    /// Contains `?`, outside the base64url alphabet that RFC 7515 §2 requires; expected
    /// valid upstream. The crate decodes strictly: reject.
    NotBase64Url,
    /// Signed PS384 with a key whose JWK `alg` is PS256; RFC 7517 §4.4 pins the key to that
    /// algorithm. The crate refuses the key for PS384: reject.
    AlgorithmOtherThanTheKeys,
    /// The key's `alg` is "ES521", which is not a registered JWS algorithm, and the token is
    /// ES512, which the crate does not accept: reject.
    UnregisteredKeyAlgorithm,
}

fn defect(comment: &str) -> Option<Defect> {
    Some(match comment {
        "invalidBase64Padding" | "invalidBase64PaddingInPayload" => Defect::IdenticalToAValidVector,
        "InvalidCharacterInsertedInHeader" | "InvalidCharacterInsertedInPayload" => {
            Defect::NotBase64Url
        }
        "Figure20" => Defect::AlgorithmOtherThanTheKeys,
        "Figure27" => Defect::UnregisteredKeyAlgorithm,
        _ => return None,
    })
}

fn header_alg(jws: &str) -> String {
    use base64::Engine;
    let header = jws.split('.').next().unwrap_or_default();
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .expect("header base64url");
    let header: Value = serde_json::from_slice(&json).expect("header JSON");
    header["alg"].as_str().unwrap_or_default().to_owned()
}

/// Checks that a vector really has the defect it is listed with, and returns the answer the
/// crate must give.
fn prove(defect: Defect, group: &Value, key: &Value, jws: &str) -> bool {
    match defect {
        Defect::IdenticalToAValidVector => {
            let twin = group["tests"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["jws"] == jws && t["result"] == "valid");
            assert!(twin.is_some(), "no valid twin of {jws}");
            true
        }
        Defect::NotBase64Url => {
            assert!(jws.contains('?'), "{jws}");
            false
        }
        Defect::AlgorithmOtherThanTheKeys => {
            assert_eq!(key["alg"], "PS256");
            assert_eq!(header_alg(jws), "PS384");
            false
        }
        Defect::UnregisteredKeyAlgorithm => {
            assert_eq!(key["alg"], "ES521");
            assert_eq!(header_alg(jws), "ES512");
            false
        }
    }
}

/// Runs every vector of `file`; returns (agreements, defective vectors answered as pinned,
/// total) and prints each disagreement.
fn run(file: &str) -> (usize, usize, usize) {
    let document = vectors(file);
    let (mut total, mut defective) = (0, 0);
    let mut disagreements = Vec::new();
    for group in document["testGroups"].as_array().expect("test groups") {
        let key = group.get("public").unwrap_or(&group["private"]);
        for test in group["tests"].as_array().expect("tests") {
            total += 1;
            let jws = test["jws"].as_str().unwrap_or_default();
            let comment = test["comment"].as_str().unwrap_or_default();
            let outcome = verify_signature(key, jws);
            let expected_valid = match defect(comment) {
                Some(defect) => {
                    defective += 1;
                    prove(defect, group, key, jws)
                }
                None => test["result"] == "valid",
            };
            if outcome.is_ok() != expected_valid {
                disagreements.push(format!(
                    "tcId {} ({}, {comment}): expected {}, got {outcome:?}",
                    test["tcId"], group["comment"], test["result"]
                ));
            }
        }
    }
    for line in &disagreements {
        eprintln!("{file}: {line}");
    }
    (total - disagreements.len() - defective, defective, total)
}

#[test]
fn every_jws_vector_agrees() {
    let (agreed, defective, total) = run("json_web_signature_test.json");
    println!(
        "Wycheproof JWS: {agreed} of {} consistent vectors agree; {defective} defective vectors answered as pinned",
        total - defective
    );
    assert_eq!(total, 401, "the vector file changed");
    assert_eq!(defective, 8);
    assert_eq!(agreed + defective, total);
}

#[test]
fn every_jwk_set_vector_agrees() {
    let (agreed, defective, total) = run("json_web_key_test.json");
    println!("Wycheproof JWK sets: {agreed} of {total} agree");
    assert_eq!(total, 26, "the vector file changed");
    assert_eq!(defective, 0);
    assert_eq!(agreed, total);
}
