//! Raw token material for the attack families and properties: base64url, the segments of a
//! compact JWS, secret-mode (HS256) validators and tokens, MACs and tokens from raw bytes, and
//! an RSA key that signs arbitrary bytes.

use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use axum::Router;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bearer_guard::testing::{DEFAULT_AUDIENCE, TokenBuilder};
use bearer_guard::{Validator, ValidatorBuilder};
use serde_json::{Map, Value, json};

use super::fixture::{SCOPE, app};

/// The issuer of the HS256 (secret mode) validator.
pub const HS_ISSUER: &str = "https://issuer.example/";
/// The HS256 shared secret (raw bytes of the string, 44 bytes).
pub const HS_SECRET: &[u8] = b"a-shared-hs256-secret-that-is-long-enough!!!";

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs() as i64
}

/// base64url without padding.
pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding (panics on anything else: for test inputs only).
pub fn unb64(text: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD.decode(text).expect("base64url")
}

/// The three segments of a compact JWS.
pub fn segments(token: &str) -> (String, String, String) {
    let mut parts = token.splitn(3, '.');
    let h = parts.next().expect("header").to_owned();
    let p = parts.next().expect("payload").to_owned();
    let s = parts.next().expect("signature").to_owned();
    (h, p, s)
}

/// The JSON of a compact JWS's header (0) or payload (1), without verifying anything.
#[track_caller]
pub fn segment_json(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).expect("a compact JWS");
    serde_json::from_slice(&unb64(part)).expect("a JSON segment")
}

/// The decoded header and payload of a compact JWS (unverified).
#[track_caller]
pub fn decode(token: &str) -> (Value, Value) {
    (segment_json(token, 0), segment_json(token, 1))
}

/// A secret-mode validator: issuer [`HS_ISSUER`], audience [`DEFAULT_AUDIENCE`], HS256 with
/// [`HS_SECRET`].
pub fn hs_builder() -> ValidatorBuilder {
    Validator::builder()
        .issuer(HS_ISSUER)
        .audience(DEFAULT_AUDIENCE)
        .hs256_secret(HS_SECRET)
}

/// The router of the fixtures around [`hs_builder`]'s validator.
pub fn hs_app() -> Router {
    app(hs_builder().build().expect("a valid HS256 configuration"))
}

/// The valid claims of an HS256 token (`scope` = [`SCOPE`]).
pub fn hs_claims() -> Map<String, Value> {
    let now = now();
    let claims = json!({
        "iss": HS_ISSUER,
        "sub": "attacker-tests@clients",
        "aud": DEFAULT_AUDIENCE,
        "iat": now,
        "exp": now + 3600,
        "scope": SCOPE,
    });
    match claims {
        Value::Object(map) => map,
        _ => unreachable!(),
    }
}

/// A valid HS256 token builder for [`hs_app`].
pub fn hs_token() -> TokenBuilder {
    let mut builder = TokenBuilder::hs256(HS_SECRET);
    for (name, value) in hs_claims() {
        builder = builder.claim(&name, value);
    }
    builder
}

/// `header.payload` MAC-ed with HMAC-SHA256 under `secret`, from raw bytes: for payloads that
/// are not UTF-8 or not JSON, headers with repeated members, and so on.
pub fn hs_raw_with(secret: &[u8], header: &[u8], payload: &[u8]) -> String {
    let signing_input = format!("{}.{}", b64(header), b64(payload));
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
    let mac = aws_lc_rs::hmac::sign(&key, signing_input.as_bytes());
    format!("{signing_input}.{}", b64(mac.as_ref()))
}

/// [`hs_raw_with`] under [`HS_SECRET`].
pub fn hs_raw(header: &[u8], payload: &[u8]) -> String {
    hs_raw_with(HS_SECRET, header, payload)
}

/// HMAC-SHA256 of `signing_input` under [`HS_SECRET`], base64url.
pub fn hs_mac(signing_input: &str) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, HS_SECRET);
    b64(aws_lc_rs::hmac::sign(&key, signing_input.as_bytes()).as_ref())
}

/// An RSA-2048 key that signs arbitrary bytes (RS256), unlike `SigningKey` which only signs
/// what `TokenBuilder` serializes. Publish its [`jwk`](RawRsaKey::jwk) with
/// `TestIssuer::set_extra_jwks` before the validator warms up.
pub struct RawRsaKey {
    pub kid: String,
    pair: KeyPair,
}

impl RawRsaKey {
    pub fn generate(kid: &str) -> Self {
        RawRsaKey {
            kid: kid.to_owned(),
            pair: KeyPair::generate(KeySize::Rsa2048).expect("RSA key generation"),
        }
    }

    /// The public JWK (`use: sig`, `alg: RS256`, this `kid`).
    pub fn jwk(&self) -> Value {
        let components = PublicKeyComponents::<Vec<u8>>::from(self.pair.public_key());
        json!({
            "kty": "RSA",
            "kid": self.kid,
            "use": "sig",
            "alg": "RS256",
            "n": b64(&components.n),
            "e": b64(&components.e),
        })
    }

    /// The RS256 signature of `message`, base64url.
    pub fn sign(&self, message: &[u8]) -> String {
        self.sign_with(&RSA_PKCS1_SHA256, message)
    }

    /// The signature of `message` with another RSA padding and hash (`RSA_PKCS1_SHA384`,
    /// `RSA_PSS_SHA256`, ...), base64url.
    pub fn sign_with(
        &self,
        padding: &'static dyn aws_lc_rs::signature::RsaEncoding,
        message: &[u8],
    ) -> String {
        let mut signature = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(padding, &SystemRandom::new(), message, &mut signature)
            .expect("RSA signing");
        b64(signature)
    }

    /// `header.payload.signature` from raw header and payload bytes.
    pub fn token(&self, header: &[u8], payload: &[u8]) -> String {
        let signing_input = format!("{}.{}", b64(header), b64(payload));
        let signature = self.sign(signing_input.as_bytes());
        format!("{signing_input}.{signature}")
    }
}
