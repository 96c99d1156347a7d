//! Server nonces (RFC 9449 §9), stateless: a nonce is a time window's number and an HMAC of
//! it under the API's nonce secret, so any replica that shares the secret can check it. The
//! nonce of the current window and of the one before are accepted; a new one is issued each
//! window (the rotation period).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// How many bytes of the HMAC a nonce carries.
const TAG_BYTES: usize = 16;

/// Issues and checks nonces.
#[derive(Clone)]
pub(crate) struct Nonces {
    secret: Vec<u8>,
    period_secs: u64,
}

impl std::fmt::Debug for Nonces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Nonces")
            .field("period_secs", &self.period_secs)
            .finish_non_exhaustive()
    }
}

impl Nonces {
    /// `period_secs` is at least 1.
    pub(crate) fn new(secret: Vec<u8>, period_secs: u64) -> Self {
        Nonces {
            secret,
            period_secs: period_secs.max(1),
        }
    }

    fn window(&self, now: i64) -> u64 {
        u64::try_from(now).unwrap_or(0) / self.period_secs
    }

    fn mac(&self, window: u64) -> Hmac<Sha256> {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.secret).expect("HMAC takes keys of any length");
        mac.update(b"bearer-guard dpop nonce ");
        mac.update(&window.to_be_bytes());
        mac
    }

    /// The nonce of the window `now` falls in.
    pub(crate) fn current(&self, now: i64) -> String {
        let window = self.window(now);
        let tag = self.mac(window).finalize().into_bytes();
        let mut bytes = window.to_be_bytes().to_vec();
        bytes.extend_from_slice(&tag[..TAG_BYTES]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Whether `nonce` is the nonce of the current window or of the one before (its HMAC
    /// compared in constant time).
    pub(crate) fn accepts(&self, nonce: &str, now: i64) -> bool {
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(nonce) else {
            return false;
        };
        let Some((window, tag)) = bytes.split_first_chunk::<8>() else {
            return false;
        };
        let window = u64::from_be_bytes(*window);
        let current = self.window(now);
        (window == current || window.checked_add(1) == Some(current))
            && tag.len() == TAG_BYTES
            && self.mac(window).verify_truncated_left(tag).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_rotate_and_the_previous_one_stays_valid_one_period() {
        let nonces = Nonces::new(vec![7; 32], 60);
        let now = 1_000_000;
        let nonce = nonces.current(now);
        assert!(nonces.accepts(&nonce, now));
        assert!(nonces.accepts(&nonce, now + 60));
        assert!(!nonces.accepts(&nonce, now + 120));
        assert_ne!(nonces.current(now + 60), nonce);
        let other = Nonces::new(vec![8; 32], 60);
        assert!(!other.accepts(&nonce, now));
        assert!(!nonces.accepts("garbage", now));
        let future = nonces.current(now + 60);
        assert!(!nonces.accepts(&future, now), "a nonce of a later window");
    }
}
