//! The pure check of one DPoP proof (RFC 9449 §4.3): a compact JWS whose header carries
//! `typ: dpop+jwt`, an allowed asymmetric `alg` and the public `jwk` that signed it, and whose
//! claims bind it to one request (`htm`, `htu`), one moment (`iat`), one access token
//! (`ath`) and one use (`jti`). No I/O: replay and nonces are decided by the caller.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use super::htu::normalize;
use super::proof_keys::{self, KnownHeader, ProofKeys};
use super::thumbprint::jwk_thumbprint;
use crate::error::DpopProblem;
use crate::json_members::UniqueKeyObject;

/// The largest proof accepted, checked before decoding.
pub(crate) const MAX_PROOF_BYTES: usize = 8 * 1024;
/// The longest `jti` accepted.
const MAX_JTI_CHARS: usize = 256;
/// JWK members that only a private or symmetric key has.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// What the proof must match: the request, the token and the time.
pub(crate) struct Expected<'a> {
    /// The request's method.
    pub(crate) method: &'a str,
    /// The request's normalised public URI.
    pub(crate) htu: &'a str,
    /// base64url(SHA-256(access token)); `None` for a token request (no `ath` checked).
    pub(crate) ath: Option<&'a str>,
    /// Unix seconds.
    pub(crate) now: i64,
    /// The thumbprint the proof's key must have (the token's `cnf.jkt`); `None` for a
    /// token request (any key: the token will be bound to it).
    pub(crate) jkt: Option<&'a str>,
}

/// The accepted algorithms and the `iat` window.
#[derive(Debug, Clone)]
pub(crate) struct ProofRules {
    pub(crate) algorithms: Vec<Algorithm>,
    /// How old `iat` may be, in seconds.
    pub(crate) max_age_secs: i64,
    /// How far in the future `iat` may be, in seconds.
    pub(crate) max_future_secs: i64,
}

/// A proof that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VerifiedProof {
    /// The RFC 7638 thumbprint of its key.
    pub(crate) jkt: String,
    pub(crate) jti: String,
    pub(crate) iat: i64,
    pub(crate) nonce: Option<String>,
}

/// Checks `proof` against `rules` and `expected`, in the order of RFC 9449 §4.3 but for the
/// key: the thumbprint of the header's `jwk` is compared with the expected one before the
/// key is parsed or any signature verified, so a proof with a key that is not the bound one
/// costs a hash, whatever key it carries. Parsed keys come from `keys` when given.
pub(crate) fn verify(
    proof: &str,
    rules: &ProofRules,
    expected: &Expected<'_>,
    keys: Option<&ProofKeys>,
) -> Result<VerifiedProof, DpopProblem> {
    if proof.len() > MAX_PROOF_BYTES {
        return Err(DpopProblem::Malformed);
    }
    let mut segments = proof.split('.');
    let (Some(header), Some(payload), Some(signature), None) = (
        segments.next(),
        segments.next(),
        segments.next(),
        segments.next(),
    ) else {
        return Err(DpopProblem::Malformed);
    };
    if header.is_empty() || payload.is_empty() || signature.is_empty() {
        return Err(DpopProblem::Malformed);
    }
    let decode = |segment: &str| URL_SAFE_NO_PAD.decode(segment);
    let payload_json = decode(payload).map_err(|_| DpopProblem::Malformed)?;
    let signature = decode(signature).map_err(|_| DpopProblem::Malformed)?;
    // A client sends the same header (typ, alg, jwk) with every proof: what it yields is
    // remembered by its exact text, so a known header is neither decoded nor hashed again.
    // Either way the key's thumbprint is compared with the token's `cnf.jkt` before that key
    // is parsed or used.
    let (known, seen_before) = match keys.and_then(|keys| keys.known_header(header)) {
        Some(known) => {
            if expected.jkt.is_some_and(|expected| expected != known.jkt) {
                return Err(DpopProblem::KeyMismatch);
            }
            (known, true)
        }
        None => {
            let header_json = decode(header).map_err(|_| DpopProblem::Malformed)?;
            let UniqueKeyObject(header_members) =
                serde_json::from_slice(&header_json).map_err(|_| DpopProblem::MalformedHeader)?;
            let (alg, jwk) = check_header(&header_members, rules)?;
            let jkt = jwk_thumbprint(jwk).ok_or(DpopProblem::UnusableKey)?;
            if expected.jkt.is_some_and(|expected| expected != jkt) {
                return Err(DpopProblem::KeyMismatch);
            }
            let key = match keys {
                Some(keys) => keys.get(&jkt, alg, jwk)?,
                None => proof_keys::parse(jwk, alg)?,
            };
            (Arc::new(KnownHeader { alg, jkt, key }), false)
        }
    };
    let signing_input = &proof[..header.len() + 1 + payload.len()];
    known
        .key
        .verify(known.alg, signing_input.as_bytes(), &signature)
        .map_err(|_| DpopProblem::InvalidSignature)?;
    // Remembered once a proof with it verified: only the holder of the bound key adds one.
    if let Some(keys) = keys
        && !seen_before
    {
        keys.remember_header(header, Arc::clone(&known));
    }

    let UniqueKeyObject(claims) =
        serde_json::from_slice(&payload_json).map_err(|_| DpopProblem::MalformedClaims)?;
    let string = |name: &str, missing: DpopProblem| match claims.get(name) {
        Some(Value::String(text)) => Ok(text.as_str()),
        _ => Err(missing),
    };
    let jti = string("jti", DpopProblem::MissingJti)?;
    if jti.is_empty() || jti.chars().count() > MAX_JTI_CHARS {
        return Err(DpopProblem::MissingJti);
    }
    let htm = string("htm", DpopProblem::MissingHtm)?;
    let htu = string("htu", DpopProblem::MissingHtu)?;
    let iat = claims
        .get("iat")
        .and_then(Value::as_f64)
        .filter(|iat| iat.is_finite())
        .ok_or(DpopProblem::MissingIat)? as i64;
    if htm != expected.method {
        return Err(DpopProblem::WrongMethod);
    }
    // `expected.htu` is `normalize`'s output, which is its own normal form (tested in
    // `htu.rs`): a proof carrying it verbatim, as clients do, is not parsed again.
    if htu != expected.htu && normalize(htu).as_deref() != Some(expected.htu) {
        return Err(DpopProblem::WrongUri);
    }
    if iat < expected.now.saturating_sub(rules.max_age_secs) {
        return Err(DpopProblem::Stale);
    }
    if iat > expected.now.saturating_add(rules.max_future_secs) {
        return Err(DpopProblem::IssuedInFuture);
    }
    if let Some(expected_ath) = expected.ath {
        let ath = string("ath", DpopProblem::MissingAth)?;
        if ath != expected_ath {
            return Err(DpopProblem::WrongAth);
        }
    }
    let nonce = match claims.get("nonce") {
        None => None,
        Some(Value::String(nonce)) => Some(nonce.clone()),
        Some(_) => return Err(DpopProblem::MalformedClaims),
    };
    Ok(VerifiedProof {
        jkt: known.jkt.clone(),
        jti: jti.to_owned(),
        iat,
        nonce,
    })
}

/// `typ`, `alg` (on the allow-list, asymmetric) and `jwk` (a public key); no `crit`.
fn check_header<'h>(
    header: &'h Map<String, Value>,
    rules: &ProofRules,
) -> Result<(Algorithm, &'h Map<String, Value>), DpopProblem> {
    if header.contains_key("crit") {
        return Err(DpopProblem::MalformedHeader);
    }
    match header.get("typ") {
        Some(Value::String(typ)) if typ.eq_ignore_ascii_case("dpop+jwt") => {}
        Some(Value::String(_)) | None => return Err(DpopProblem::WrongType),
        Some(_) => return Err(DpopProblem::MalformedHeader),
    }
    let alg = match header.get("alg") {
        Some(Value::String(alg)) => alg
            .parse::<Algorithm>()
            .ok()
            .filter(|alg| rules.algorithms.contains(alg) && !is_hmac(*alg))
            .ok_or(DpopProblem::AlgorithmNotAllowed)?,
        _ => return Err(DpopProblem::MalformedHeader),
    };
    let Some(Value::Object(jwk)) = header.get("jwk") else {
        return Err(DpopProblem::MissingKey);
    };
    let symmetric = jwk.get("kty").and_then(Value::as_str) == Some("oct");
    if symmetric || PRIVATE_MEMBERS.iter().any(|name| jwk.contains_key(*name)) {
        return Err(DpopProblem::PrivateKey);
    }
    Ok((alg, jwk))
}

fn is_hmac(alg: Algorithm) -> bool {
    matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

/// Checks the proof of a token request to `token_endpoint` (no `ath`) with the default rules,
/// as an authorization server does (RFC 9449 §5); returns the key's thumbprint.
#[cfg(feature = "test-util")]
pub(crate) fn check_token_request(
    proof: &str,
    token_endpoint: &str,
) -> Result<String, DpopProblem> {
    let rules = ProofRules {
        algorithms: super::DEFAULT_ALGORITHMS
            .iter()
            .map(|alg| alg.to_jwt())
            .collect(),
        max_age_secs: 300,
        max_future_secs: 30,
    };
    let htu = normalize(token_endpoint).ok_or(DpopProblem::UnknownUri)?;
    let expected = Expected {
        method: "POST",
        htu: &htu,
        ath: None,
        now: crate::issuer::unix_now(),
        jkt: None,
    };
    verify(proof, &rules, &expected, None).map(|proof| proof.jkt)
}

#[cfg(all(test, feature = "test-util"))]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::testing::DpopProof;

    /// A known header is taken by its text, and its key's thumbprint is still compared with
    /// the token's `cnf.jkt`: a token bound to another key refuses it, before any signature.
    #[test]
    fn a_remembered_header_is_reused_and_still_matched_against_the_bound_key() {
        let keys = ProofKeys::default();
        let client = DpopProof::generate();
        let url = "https://api.example.com/a";
        let rules = ProofRules {
            algorithms: vec![Algorithm::ES256],
            max_age_secs: 300,
            max_future_secs: 30,
        };
        let jkt = client.jkt();
        let expected = |jkt| Expected {
            method: "GET",
            htu: url,
            ath: None,
            now: crate::issuer::unix_now(),
            jkt,
        };
        let first = client.proof("GET", url, "token");
        let header = first.split('.').next().unwrap();
        // A proof whose signature fails leaves nothing behind.
        let (signed, _) = first.rsplit_once('.').unwrap();
        let forged = format!("{signed}.{}", "A".repeat(86));
        assert_eq!(
            verify(&forged, &rules, &expected(Some(&jkt)), Some(&keys)).err(),
            Some(DpopProblem::InvalidSignature)
        );
        assert!(keys.known_header(header).is_none());
        verify(&first, &rules, &expected(Some(&jkt)), Some(&keys)).expect("valid proof");
        let known = keys.known_header(header).expect("remembered");
        let second = client.proof("GET", url, "token");
        assert_eq!(second.split('.').next(), Some(header), "the same header");
        verify(&second, &rules, &expected(Some(&jkt)), Some(&keys)).expect("valid proof");
        let again = keys.known_header(header).expect("still remembered");
        assert!(
            Arc::ptr_eq(&known, &again),
            "taken from the cache, not made again"
        );
        let other = DpopProof::generate().jkt();
        let third = client.proof("GET", url, "token");
        assert_eq!(
            verify(&third, &rules, &expected(Some(&other)), Some(&keys)).err(),
            Some(DpopProblem::KeyMismatch)
        );
    }
}
