//! How the benchmarks' tokens are signed (RS256, ES256, HS256 over the same claims) and the
//! keys their key sets publish.

use super::*;

/// How tokens are signed: the same claims, three algorithms.
pub(super) enum Signer {
    Rs256(SigningKey),
    Es256 { pair: EcdsaKeyPair, kid: String },
    Hs256(Vec<u8>),
}

impl Signer {
    pub(super) fn sign(&self, claims: &Map<String, Value>) -> Token {
        let with_claims = |builder: TokenBuilder| {
            claims
                .iter()
                .fold(builder, |b, (name, value)| b.claim(name, value.clone()))
                .sign()
        };
        Token::new(match self {
            Signer::Rs256(key) => with_claims(TokenBuilder::rs256(key)),
            Signer::Hs256(secret) => with_claims(TokenBuilder::hs256(secret.clone())),
            Signer::Es256 { pair, kid } => {
                let header = json!({"alg": "ES256", "typ": "JWT", "kid": kid});
                let input = format!(
                    "{}.{}",
                    URL_SAFE_NO_PAD.encode(header.to_string()),
                    URL_SAFE_NO_PAD.encode(Value::Object(claims.clone()).to_string())
                );
                let signature = pair.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
                format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
            }
        })
    }

    /// `count` tokens with distinct `jti`s, minted on every core.
    pub(super) fn pool(&self, issuer: &str, count: usize, cores: usize) -> Vec<Token> {
        let chunk = count.div_ceil(cores.max(1)).max(1);
        std::thread::scope(|scope| {
            let minters: Vec<_> = (0..count)
                .step_by(chunk)
                .map(|first| {
                    scope.spawn(move || {
                        (first..(first + chunk).min(count))
                            .map(|jti| self.sign(&claims(issuer, jti, 0)))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            minters
                .into_iter()
                .flat_map(|minter| minter.join().unwrap())
                .collect()
        })
    }
}

/// An access token's claims, as Auth0 issues them for a client credentials grant (about 300
/// bytes), padded with a `groups` array to about `payload_bytes` when that is larger.
pub(super) fn claims(issuer: &str, jti: usize, payload_bytes: usize) -> Map<String, Value> {
    let now = unix_now();
    let mut claims = json!({
        "iss": issuer,
        "sub": "bench-client@clients",
        "aud": DEFAULT_AUDIENCE,
        "iat": now,
        "exp": now + 3600,
        "scope": "read:messages write:messages",
        "gty": "client-credentials",
        "azp": "0oa1b2c3d4e5f6g7h8i9j0kLmNoPqRsTu",
        "jti": format!("{jti:032x}"),
    });
    let base = claims.to_string().len();
    // `"groups":[...]` plus `,"group-00000"` per entry.
    let entries = payload_bytes.saturating_sub(base + 12) / 14;
    if entries > 0 {
        let groups: Vec<String> = (0..entries).map(|i| format!("group-{i:05}")).collect();
        claims["groups"] = json!(groups);
    }
    match claims {
        Value::Object(map) => map,
        _ => unreachable!(),
    }
}

pub(super) fn unix_now() -> u64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.map_or(0, |elapsed| elapsed.as_secs())
}

/// A random odd 2048-bit modulus: a key that parses and is never used.
pub(super) fn fake_rsa_jwk(index: usize) -> Value {
    let mut modulus = [0u8; 256];
    aws_lc_rs::rand::fill(&mut modulus).unwrap();
    modulus[0] |= 0xc0;
    modulus[255] |= 1;
    json!({
        "kty": "RSA", "use": "sig", "alg": "RS256", "kid": format!("fake-{index}"),
        "n": URL_SAFE_NO_PAD.encode(modulus), "e": "AQAB",
    })
}

pub(super) fn ec_jwk(pair: &EcdsaKeyPair, kid: &str) -> Value {
    // The uncompressed point: 0x04, x, y.
    let point = pair.public_key().as_ref();
    json!({
        "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
    })
}
