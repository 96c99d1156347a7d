//! The generator's randomness: a small deterministic PRNG, the JOSE/JSON dictionary it splices
//! in, and random JSON texts, shared by the runner and the structure-aware generators.

/// Tokens the generator splices in: JOSE and JWT vocabulary, JSON punctuation, base64url.
pub(crate) const DICTIONARY: &[&str] = &[
    "\"alg\"",
    "\"HS256\"",
    "\"RS256\"",
    "\"none\"",
    "\"kid\"",
    "\"typ\"",
    "\"JWT\"",
    "\"at+jwt\"",
    "\"cty\"",
    "\"crit\"",
    "\"b64\"",
    "\"jku\"",
    "\"jwk\"",
    "\"x5c\"",
    "\"iss\"",
    "\"aud\"",
    "\"exp\"",
    "\"nbf\"",
    "\"iat\"",
    "\"scope\"",
    "\"scp\"",
    "\"keys\"",
    "\"kty\"",
    "\"RSA\"",
    "\"oct\"",
    "\"EC\"",
    "\"OKP\"",
    "\"n\"",
    "\"e\"",
    "\"k\"",
    "\"use\"",
    "\"sig\"",
    "\"enc\"",
    "\"key_ops\"",
    "\"verify\"",
    "\"crv\"",
    "\"P-256\"",
    "\"x\"",
    "\"y\"",
    "\"AQAB\"",
    "\"key-1\"",
    "\"active\"",
    "\"token_type\"",
    "\"token_use\"",
    "\"token_introspection\"",
    "\"DPoP\"",
    "\"Bearer\"",
    "\"refresh_token\"",
    "\"cnf\"",
    "\"jkt\"",
    "\"https://issuer.example/\"",
    "\"https://api.example.com\"",
    "4102444800",
    "1e400",
    "-0.0",
    "18446744073709551615",
    "-9223372036854775808",
    "null",
    "true",
    "false",
    "{",
    "}",
    "[",
    "]",
    ":",
    ",",
    "\"",
    "\\u0000",
    "\\ud800",
    "Bearer ",
    "\"dpop+jwt\"",
    "\"htm\"",
    "\"htu\"",
    "\"ath\"",
    "\"jti\"",
    "\"GET\"",
    "\"https://api.example.com/\"",
    "bearer",
    "Basic ",
    ".",
    "..",
    "=",
    "==",
    "+",
    "/",
    "-",
    "_",
    "~",
    " ",
    "\t",
    "eyJ",
    "eyJhbGciOiJIUzI1NiJ9",
    "eyJhbGciOiJub25lIn0",
    "\u{ff}",
    "\u{0}",
    "\"jsonrpc\"",
    "\"2.0\"",
    "\"method\"",
    "\"params\"",
    "\"name\"",
    "\"tools/call\"",
    "\"tools\\/call\"",
    "\"prompts/list\"",
    "\"result\"",
    "\"error\"",
];

/// xorshift64*: deterministic, dependency-free.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub(crate) fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    pub(crate) fn byte(&mut self) -> u8 {
        self.next() as u8
    }
    pub(crate) fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

pub(crate) fn pick(rng: &mut Rng, bytes: &[u8]) -> u8 {
    bytes[rng.below(bytes.len())]
}

/// A random JSON text built from the dictionary (often valid, sometimes not).
pub(crate) fn random_json(rng: &mut Rng, depth: usize) -> String {
    match rng.below(if depth > 3 { 6 } else { 9 }) {
        0 => "null".into(),
        1 => ["true", "false"][rng.below(2)].into(),
        2 => (rng.next() as i64 >> rng.below(64)).to_string(),
        3 => format!("{}", f64::from_bits(rng.next())),
        4 | 5 => {
            let word = DICTIONARY[rng.below(DICTIONARY.len())];
            if word.starts_with('"') {
                word.into()
            } else {
                format!("{:?}", word)
            }
        }
        6 => {
            let n = rng.below(4);
            let items: Vec<String> = (0..n).map(|_| random_json(rng, depth + 1)).collect();
            format!("[{}]", items.join(","))
        }
        _ => {
            let n = rng.below(5);
            let members: Vec<String> = (0..n)
                .map(|_| {
                    let mut name = DICTIONARY[rng.below(DICTIONARY.len())].to_owned();
                    if !name.starts_with('"') {
                        name = format!("{name:?}");
                    }
                    format!("{name}:{}", random_json(rng, depth + 1))
                })
                .collect();
            format!("{{{}}}", members.join(","))
        }
    }
}
