//! The paths of the README's goal table against their floors, for `ratios.rs`: the signature
//! alone (the floor of a fresh token), a DPoP request against its proof's signature, an
//! introspection cache hit against a JWT cache hit, and a cache hit with 1, 2 and 8 tasks on
//! a multi-threaded runtime, with the cache structures weighed for it.

use std::collections::HashMap;
use std::sync::RwLock;

use arc_swap::ArcSwap;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED, ParsedPublicKey};
use bearer_guard::dpop::{Dpop, MemoryReplayStore};
use bearer_guard::testing::DpopProof;

use super::*;

/// The signature check of `token` alone, `verify(signing input, signature)` with a key
/// prepared once: no base64, no JSON, no claims.
pub fn signature_floor(
    token: &Token,
    verify: impl Fn(&[u8], &[u8]) -> bool + Send + Sync + 'static,
) -> Target {
    let (input, signature) = token.text.rsplit_once('.').unwrap();
    let (input, signature) = (
        input.as_bytes().to_vec(),
        URL_SAFE_NO_PAD.decode(signature).unwrap(),
    );
    assert!(verify(&input, &signature), "the floor verifies the token");
    Target::Check(Arc::new(move |_| {
        assert!(verify(black_box(&input), black_box(&signature)));
    }))
}

/// A prepared public key's check, for [`signature_floor`].
pub fn public_key_check(key: ParsedPublicKey) -> impl Fn(&[u8], &[u8]) -> bool + Send + Sync {
    move |input, signature| key.verify_sig(input, signature).is_ok()
}

const DPOP_BASE: &str = "https://api.example.com";

/// A DPoP request with a cached token and a fresh ES256 proof each call, against the
/// proof's signature alone and a bearer request of the same claims. The proofs are minted up
/// front, one per call (`proofs` of them; none without: the case is then left out).
pub async fn dpop_group(issuer: &TestIssuer, proofs: usize) -> Group {
    let validator = issuer
        .validator()
        // One key sends every proof of the run: its share is the whole store.
        .dpop(Dpop::allowed().public_url(DPOP_BASE).replay_store(Arc::new(
            MemoryReplayStore::with_capacity(4_000_000).with_share(4_000_000),
        )))
        .build()
        .unwrap();
    validator.warm_up().await.unwrap();
    let app = match Target::layer(Some(&validator)) {
        Target::Layer(app) => app,
        _ => unreachable!(),
    };
    let key = DpopProof::generate();
    let bearer = Token::new(issuer.token().scope("read:messages").sign());
    let bound = issuer
        .token()
        .scope("read:messages")
        .dpop_bound(&key.jkt())
        .sign();
    let dpop_authorization = HeaderValue::from_str(&format!("DPoP {bound}")).unwrap();
    let url = format!("{DPOP_BASE}/api/private");
    let dpop = Target::Dpop(app.clone(), dpop_authorization);
    let layer = Target::Layer(app);
    // The token enters the cache the second time it verifies.
    for _ in 0..3 {
        layer.once(&bearer).await;
        dpop.once(&Token::proof(key.proof("GET", &url, &bound)))
            .await;
    }
    let jwk = key.jwk();
    let coordinate = |name: &str| URL_SAFE_NO_PAD.decode(jwk[name].as_str().unwrap()).unwrap();
    let point = [vec![4], coordinate("x"), coordinate("y")].concat();
    let proof_key = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).unwrap();
    let floor = signature_floor(
        &Token::proof(key.proof("GET", &url, &bound)),
        public_key_check(proof_key),
    );
    let mut cases = vec![
        Case::new(
            "proof_signature",
            "the proof's ES256 signature alone (aws-lc-rs, key parsed once)",
            &floor,
            &bearer,
        ),
        Case::new(
            "bearer_cached",
            "bearer request, cached token",
            &layer,
            &bearer,
        ),
    ];
    if proofs > 0 {
        let pool: Vec<Token> = (0..proofs)
            .map(|_| Token::proof(key.proof("GET", &url, &bound)))
            .collect();
        cases.push(Case::new_tokens(
            "dpop_cached",
            "DPoP request, cached token, fresh proof",
            &dpop,
            &pool,
        ));
    }
    Group {
        name: "DPoP".into(),
        note: "RS256 token bound to an ES256 key, through the layer".into(),
        mode: Mode::Sequential,
        cases,
    }
}

const API_CLIENT: (&str, &str) = ("bench-api", "bench-api-secret-0123456789abcdef");

/// An opaque token's introspection cache hit against a JWT's verified-token cache hit.
pub async fn introspection_group(issuer: &TestIssuer) -> Group {
    issuer.register_client(API_CLIENT.0, API_CLIENT.1);
    let jwt = Token::new(issuer.token().scope("read:messages").sign());
    let opaque = Token::new(issuer.opaque_token().scope("read:messages").issue());
    let jwt_validator = warm(&issuer.validator(), None, &jwt).await;
    let introspecting = issuer.validator().introspection(API_CLIENT.0, API_CLIENT.1);
    let introspecting = warm(&introspecting, None, &opaque).await;
    for (validator, token) in [(&jwt_validator, &jwt), (&introspecting, &opaque)] {
        validator.validate(&token.text).await.expect("cached");
    }
    Group {
        name: "introspection".into(),
        note: "Validator, same claims".into(),
        mode: Mode::Sequential,
        cases: vec![
            Case::new(
                "jwt_cached",
                "JWT, verified-token cache hit",
                &Target::Validator(jwt_validator),
                &jwt,
            ),
            Case::new(
                "opaque_cached",
                "opaque token, introspection cache hit",
                &Target::Validator(introspecting),
                &opaque,
            ),
        ],
    }
}

/// Task counts of the `tasks` groups.
pub const TASKS: [usize; 3] = [1, 2, 8];

/// A verified-token cache hit (`Validator::validate`) with 1, 2 and 8 tasks at once on the
/// multi-threaded runtime.
pub fn tasks_group(cached: &Validator, token: &Token) -> Group {
    let target = Target::Validator(cached.clone());
    Group {
        name: "tasks".into(),
        note: "RS256 cache hit, tasks at once on a multi-threaded runtime; per call = wall / calls"
            .into(),
        mode: Mode::Tasks,
        cases: TASKS
            .iter()
            .map(|&tasks| Case {
                tasks,
                ..Case::new(
                    "validator_cached",
                    format!("Validator, repeated token, {tasks} task(s)"),
                    &target,
                    token,
                )
            })
            .collect(),
    }
}

/// The lookup of one token in each candidate structure for the verified-token cache, 1, 2
/// and 8 tasks at once: moka (what the crate uses: every hit is recorded in a buffer for its
/// eviction policy), a `RwLock`ed `HashMap` (a hit writes the lock's counter) and an
/// `ArcSwap`ed `HashMap` (a read-mostly copy-on-write map: a hit writes nothing shared).
/// All hash with foldhash over the whole token, 1,000 other tokens held.
pub fn structures_group(token: &Token) -> Group {
    let hasher = foldhash::quality::RandomState::default();
    let others = (0..1000).map(|index| format!("{index:0>770}"));
    let moka = moka::sync::Cache::builder()
        .max_capacity(10_000)
        .build_with_hasher(hasher.clone());
    let mut map: HashMap<Box<str>, Arc<u64>, _> = HashMap::with_hasher(hasher);
    for (index, key) in others.chain([token.text.to_string()]).enumerate() {
        moka.insert(Box::<str>::from(key.as_str()), Arc::new(index as u64));
        map.insert(key.into(), Arc::new(index as u64));
    }
    let rwlock = Arc::new(RwLock::new(map.clone()));
    let arc_swap = Arc::new(ArcSwap::from_pointee(map));
    let lookups: [(&str, &str, Target); 3] = [
        (
            "moka",
            "moka::sync::Cache::get",
            Target::Check(Arc::new(move |token: &Token| {
                assert!(black_box(moka.get(&*token.text)).is_some());
            })),
        ),
        (
            "rwlock",
            "RwLock<HashMap>: read lock, get, clone",
            Target::Check(Arc::new(move |token: &Token| {
                let found = rwlock.read().unwrap().get(&*token.text).cloned();
                assert!(black_box(found).is_some());
            })),
        ),
        (
            "arc_swap",
            "ArcSwap<HashMap>: load, get, clone",
            Target::Check(Arc::new(move |token: &Token| {
                let found = arc_swap.load().get(&*token.text).cloned();
                assert!(black_box(found).is_some());
            })),
        ),
    ];
    let mut cases = Vec::new();
    for (id, label, target) in lookups {
        for tasks in TASKS {
            cases.push(Case {
                tasks,
                ..Case::new(id, format!("{label}, {tasks} task(s)"), &target, token)
            });
        }
    }
    Group {
        name: "structures".into(),
        note: "a cache hit's lookup alone, per call = wall / calls".into(),
        mode: Mode::Tasks,
        cases,
    }
}
