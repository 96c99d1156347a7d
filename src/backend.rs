//! The crypto backend, chosen by crate feature and used explicitly.
//!
//! jsonwebtoken picks a process-wide provider from its own features and panics at the first
//! verification when both or neither are on (as `cargo test --all-features` would do). This
//! crate never relies on that global: it names the provider itself, preferring aws-lc-rs, and
//! [`self_test`] proves it works when a validator is built, so a feature mix-up is a
//! configuration error at start-up, never a panic inside a request.

use jsonwebtoken::{Algorithm, DecodingKey};

#[cfg(feature = "aws-lc-rs")]
fn provider() -> Option<&'static jsonwebtoken::crypto::CryptoProvider> {
    Some(&jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER)
}

#[cfg(all(feature = "rust-crypto", not(feature = "aws-lc-rs")))]
fn provider() -> Option<&'static jsonwebtoken::crypto::CryptoProvider> {
    Some(&jsonwebtoken::crypto::rust_crypto::DEFAULT_PROVIDER)
}

#[cfg(not(any(feature = "aws-lc-rs", feature = "rust-crypto")))]
fn provider() -> Option<&'static jsonwebtoken::crypto::CryptoProvider> {
    None
}

/// Why the backend could not be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BackendError {
    /// Neither `aws-lc-rs` nor `rust-crypto` is enabled.
    Missing,
    /// The backend refused the key or the signature.
    Rejected,
}

/// Verifies `signature` over `message`.
pub(crate) fn verify(
    alg: Algorithm,
    key: &DecodingKey,
    message: &[u8],
    signature: &[u8],
) -> Result<(), BackendError> {
    let provider = provider().ok_or(BackendError::Missing)?;
    let verifier = (provider.verifier_factory)(&alg, key).map_err(|_| BackendError::Rejected)?;
    verifier
        .verify(message, &signature.to_vec())
        .map_err(|_| BackendError::Rejected)
}

/// Proves the backend verifies a known HS256 MAC (RFC 7515 appendix A.1) and rejects a
/// tampered one.
pub(crate) fn self_test() -> Result<(), BackendError> {
    use base64::Engine;
    const KEY: &str =
        "AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow";
    const INPUT: &str = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ";
    const MAC: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let key = DecodingKey::from_secret(&b64.decode(KEY).map_err(|_| BackendError::Rejected)?);
    let mac = b64.decode(MAC).map_err(|_| BackendError::Rejected)?;
    verify(Algorithm::HS256, &key, INPUT.as_bytes(), &mac)?;
    let mut tampered = mac;
    tampered[0] ^= 1;
    match verify(Algorithm::HS256, &key, INPUT.as_bytes(), &tampered) {
        Err(BackendError::Rejected) => Ok(()),
        _ => Err(BackendError::Rejected),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_enabled_backend_passes_its_self_test() {
        assert_eq!(super::self_test(), Ok(()));
    }
}
