//! The opaque (reference) tokens the test issuer has issued: what its introspection endpoint
//! answers about them, and what its introspection and revocation endpoints counted.

use std::collections::HashMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use serde_json::{Map, Value};

use super::registry::random_id;

/// The opaque tokens the issuer has issued, and what its two endpoints counted.
#[derive(Default)]
pub(in crate::testing) struct OpaqueTokens {
    /// Token to claims; a revoked token is removed.
    pub(in crate::testing) tokens: RwLock<HashMap<String, Map<String, Value>>>,
    pub(in crate::testing) introspections: AtomicUsize,
    pub(in crate::testing) revocations: AtomicUsize,
    /// Introspection requests being answered now, and the most there ever were at once.
    pub(in crate::testing) concurrent: AtomicUsize,
    pub(in crate::testing) max_concurrent: AtomicUsize,
    pub(in crate::testing) signed_responses: AtomicBool,
    /// Members set in (or, when `null`, removed from) the envelope of every signed answer.
    pub(in crate::testing) envelope: RwLock<Map<String, Value>>,
    /// Answers plain JSON even to a caller that asked for a signed answer.
    pub(in crate::testing) downgrade: AtomicBool,
}

impl OpaqueTokens {
    /// Keeps `claims` under a new random token, and returns the token.
    pub(in crate::testing) fn issue(&self, claims: Map<String, Value>) -> String {
        let token = format!("{}{}", random_id(), random_id());
        self.tokens
            .write()
            .expect("lock")
            .insert(token.clone(), claims);
        token
    }

    /// Counts one introspection request as being answered until the guard is dropped (the
    /// request answered, or its connection gone), raising the high-water mark.
    pub(in crate::testing) fn answering(&self) -> Answering<'_> {
        let now = self.concurrent.fetch_add(1, Ordering::SeqCst) + 1;
        self.max_concurrent.fetch_max(now, Ordering::SeqCst);
        Answering(self)
    }

    pub(in crate::testing) fn signed_responses(&self) -> bool {
        self.signed_responses.load(Ordering::SeqCst)
    }
}

/// One introspection request being answered; see [`OpaqueTokens::answering`].
pub(in crate::testing) struct Answering<'a>(&'a OpaqueTokens);

impl Drop for Answering<'_> {
    fn drop(&mut self) {
        self.0.concurrent.fetch_sub(1, Ordering::SeqCst);
    }
}
