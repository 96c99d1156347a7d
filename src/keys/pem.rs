//! PEM public keys, turned into the JWKs the key policy reads: a `PUBLIC KEY`
//! (SubjectPublicKeyInfo: RSA, EC P-256 or P-384, Ed25519) or an `RSA PUBLIC KEY` (PKCS #1).
//! Only the DER needed for that is read here; everything else (modulus length, ROCA, curve,
//! algorithm) is the key policy's business, exactly as for a fetched key.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

const OID_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
const OID_EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
const OID_P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

/// Why a PEM public key could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PemProblem {
    #[error("not a PEM `PUBLIC KEY` or `RSA PUBLIC KEY` block (private keys are refused)")]
    NotAPublicKey,
    #[error("the key's DER encoding is malformed")]
    Malformed,
    #[error("the key type or curve is not supported (RSA, P-256, P-384, Ed25519)")]
    Unsupported,
}

/// The JWK of a PEM public key, with `kid`.
pub(crate) fn pem_to_jwk(pem: &str, kid: &str) -> Result<Value, PemProblem> {
    let (label, der) = decode_pem(pem)?;
    let mut jwk = match label.as_str() {
        "PUBLIC KEY" => spki_to_jwk(&der)?,
        "RSA PUBLIC KEY" => rsa_to_jwk(&der)?,
        _ => return Err(PemProblem::NotAPublicKey),
    };
    jwk["kid"] = Value::from(kid);
    Ok(jwk)
}

/// The label and the bytes of the one PEM block in `pem`.
pub(crate) fn decode_pem(pem: &str) -> Result<(String, Vec<u8>), PemProblem> {
    let text = pem.trim();
    let label = text
        .strip_prefix("-----BEGIN ")
        .and_then(|rest| rest.split_once("-----"))
        .map(|(label, _)| label.to_owned())
        .ok_or(PemProblem::NotAPublicKey)?;
    let footer = format!("-----END {label}-----");
    let body = text
        .split_once('\n')
        .map(|(_, rest)| rest)
        .and_then(|rest| rest.trim_end().strip_suffix(footer.as_str()))
        .ok_or(PemProblem::NotAPublicKey)?;
    let base64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    let der = STANDARD.decode(base64).map_err(|_| PemProblem::Malformed)?;
    Ok((label, der))
}

/// SubjectPublicKeyInfo ::= SEQUENCE { SEQUENCE { OID, params }, BIT STRING }.
pub(crate) fn spki_to_jwk(der: &[u8]) -> Result<Value, PemProblem> {
    let (spki, rest) = take(der, 0x30)?;
    if !rest.is_empty() {
        return Err(PemProblem::Malformed);
    }
    let (algorithm, rest) = take(spki, 0x30)?;
    let (bits, rest) = take(rest, 0x03)?;
    let (&unused, key) = bits.split_first().ok_or(PemProblem::Malformed)?;
    if !rest.is_empty() || unused != 0 {
        return Err(PemProblem::Malformed);
    }
    let (oid, params) = take(algorithm, 0x06)?;
    match oid {
        OID_RSA => rsa_to_jwk(key),
        OID_EC => {
            let (curve, _) = take(params, 0x06)?;
            let (crv, size) = match curve {
                OID_P256 => ("P-256", 32),
                OID_P384 => ("P-384", 48),
                _ => return Err(PemProblem::Unsupported),
            };
            // An uncompressed point: 0x04 || x || y.
            match key.split_first() {
                Some((0x04, point)) if point.len() == 2 * size => Ok(json!({
                    "kty": "EC",
                    "crv": crv,
                    "x": URL_SAFE_NO_PAD.encode(&point[..size]),
                    "y": URL_SAFE_NO_PAD.encode(&point[size..]),
                })),
                _ => Err(PemProblem::Unsupported),
            }
        }
        OID_ED25519 if key.len() == 32 => Ok(json!({
            "kty": "OKP",
            "crv": "Ed25519",
            "x": URL_SAFE_NO_PAD.encode(key),
        })),
        _ => Err(PemProblem::Unsupported),
    }
}

/// RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }.
fn rsa_to_jwk(der: &[u8]) -> Result<Value, PemProblem> {
    let (key, rest) = take(der, 0x30)?;
    let (n, fields) = take(key, 0x02)?;
    let (e, end) = take(fields, 0x02)?;
    if !rest.is_empty() || !end.is_empty() {
        return Err(PemProblem::Malformed);
    }
    let unsigned = |int: &[u8]| -> Vec<u8> {
        let first = int.iter().position(|&b| b != 0).unwrap_or(int.len());
        int[first..].to_vec()
    };
    Ok(json!({
        "kty": "RSA",
        "n": URL_SAFE_NO_PAD.encode(unsigned(n)),
        "e": URL_SAFE_NO_PAD.encode(unsigned(e)),
    }))
}

/// One DER element with `tag`: its content and what follows it.
pub(crate) fn take(der: &[u8], tag: u8) -> Result<(&[u8], &[u8]), PemProblem> {
    let (&found, rest) = der.split_first().ok_or(PemProblem::Malformed)?;
    let (&first, rest) = rest.split_first().ok_or(PemProblem::Malformed)?;
    if found != tag {
        return Err(PemProblem::Malformed);
    }
    let (len, rest) = match first {
        0..=0x7f => (usize::from(first), rest),
        0x81..=0x84 => {
            let count = usize::from(first & 0x7f);
            if rest.len() < count {
                return Err(PemProblem::Malformed);
            }
            let len = rest[..count]
                .iter()
                .fold(0usize, |len, &byte| (len << 8) | usize::from(byte));
            (len, &rest[count..])
        }
        _ => return Err(PemProblem::Malformed),
    };
    if rest.len() < len {
        return Err(PemProblem::Malformed);
    }
    Ok(rest.split_at(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_and_private_keys_are_refused() {
        assert_eq!(
            pem_to_jwk("not a pem", "k").err(),
            Some(PemProblem::NotAPublicKey)
        );
        let private = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert_eq!(
            pem_to_jwk(private, "k").err(),
            Some(PemProblem::NotAPublicKey)
        );
        let truncated = "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----";
        assert_eq!(
            pem_to_jwk(truncated, "k").err(),
            Some(PemProblem::Malformed)
        );
        assert!(take(&[0x30, 0x85, 0, 0, 0, 0, 1], 0x30).is_err());
    }

    #[test]
    fn an_ed25519_key_becomes_an_okp_jwk() {
        // RFC 8410 §10.1's example public key.
        let pem = "-----BEGIN PUBLIC KEY-----\n\
                   MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n\
                   -----END PUBLIC KEY-----\n";
        let jwk = pem_to_jwk(pem, "ed").unwrap();
        assert_eq!(jwk["kty"], "OKP");
        assert_eq!(jwk["crv"], "Ed25519");
        assert_eq!(jwk["kid"], "ed");
        assert_eq!(jwk["x"], "Gb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE");
    }
}
