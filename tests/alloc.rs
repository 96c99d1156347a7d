//! A cached request allocates nothing it does not hand to the handler (issue 22).
//!
//! Its own test binary: a counting global allocator sees every allocation of the process,
//! so it counts per thread, and only inside [`allocations`]. Each test builds its request
//! before counting and drops the response after, so what is counted is the validator's or
//! the layer's own work on a token it has cached (an HS256 token: no key set, no server,
//! no background task). Both checks run in one test, one after the other: the cache's
//! epoch-based memory reclamation is shared by the threads of the process, and a test
//! inserting on another thread at the same time could make this one's count vary.
//!
//! The allocator is this file's only `unsafe`: `GlobalAlloc` cannot be implemented without
//! it. It forwards every call to the system allocator unchanged.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::convert::Infallible;
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use bearer_guard::testing::TokenBuilder;
use bearer_guard::{BearerLayer, Validator, VerifiedClaims};
use http::{Request, Response, header};
use tower::{Layer, Service, ServiceExt};

const SECRET: &[u8] = b"alloc-test-secret-alloc-test-secret!!";
const ISSUER: &str = "https://issuer.alloc.test/";
const AUDIENCE: &str = "https://api.example.com";

struct Counting;

thread_local! {
    /// Whether this thread is inside [`allocations`].
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    /// Allocations (and reallocations) this thread made while counting.
    static COUNT: Cell<u64> = const { Cell::new(0) };
}

fn count_one() {
    // `try_with`: thread-local storage is gone while a thread exits, and allocations still happen.
    let _ = COUNTING.try_with(|on| {
        if on.get() {
            COUNT.with(|count| count.set(count.get() + 1));
        }
    });
}

// SAFETY: every call is forwarded to `System` with the same arguments; counting touches only
// `const`-initialized thread-locals, which never allocate.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count_one();
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count_one();
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// What `work` returns, and how many allocations this thread made while it ran.
fn allocations<T>(work: impl FnOnce() -> T) -> (T, u64) {
    COUNT.with(|count| count.set(0));
    COUNTING.with(|on| on.set(true));
    let out = work();
    COUNTING.with(|on| on.set(false));
    (out, COUNT.with(Cell::get))
}

/// Polls `future` to its end on this thread, without a runtime (a cached token is decided
/// without waiting, so it never returns `Pending`).
fn run<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut context) {
        Poll::Ready(out) => out,
        Poll::Pending => panic!("a cached token waited"),
    }
}

fn validator() -> Validator {
    Validator::builder()
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .hs256_secret(SECRET)
        .build()
        .expect("valid configuration")
}

fn token() -> String {
    TokenBuilder::hs256(SECRET)
        .issuer(ISSUER)
        .audience(AUDIENCE)
        .claim("sub", "alloc-test-client")
        .expires_in_secs(3600)
        .scope("read:messages write:messages")
        .sign()
}

/// Validates `token` until it is served from the verified-token cache (it enters the second
/// time it verifies), then once more to settle the cache's own bookkeeping.
fn cache(validator: &Validator, token: &str) {
    for _ in 0..4 {
        run(validator.validate(token)).expect("valid token");
    }
    assert_eq!(validator.cached_tokens(), 1, "the token is cached");
}

/// Requests counted, one at a time, after the token is cached.
const REQUESTS: usize = 1000;

#[test]
fn cached_requests_allocate_nothing_they_do_not_hand_on() {
    a_cached_token_is_validated_without_allocating();
    a_cached_request_through_the_layer_allocates_only_what_it_hands_on();
}

fn a_cached_token_is_validated_without_allocating() {
    let validator = validator();
    let token = token();
    cache(&validator, &token);
    for _ in 0..REQUESTS {
        let (claims, allocated) = allocations(|| run(validator.validate(&token)));
        assert_eq!(
            claims.expect("valid token").subject(),
            Some("alloc-test-client")
        );
        assert_eq!(allocated, 0, "allocations of a cached validation");
    }
}

fn request(token: &str) -> Request<()> {
    Request::get("/api/private")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(())
        .expect("valid request")
}

fn a_cached_request_through_the_layer_allocates_only_what_it_hands_on() {
    let validator = validator();
    let token = token();
    cache(&validator, &token);
    // The handler keeps nothing and allocates nothing: its response has no headers yet.
    let handler = tower::service_fn(|request: Request<()>| async move {
        let claims = request.extensions().get::<VerifiedClaims>().cloned();
        assert_eq!(claims.expect("claims").subject(), Some("alloc-test-client"));
        Ok::<_, Infallible>(Response::new(()))
    });
    let mut service = BearerLayer::new(validator.clone()).layer(handler);
    run(service.ready()).expect("ready");
    // What the layer hands on: the claims in the request's extensions, which allocate their
    // map and the boxed value on a request that had none.
    let claims = run(validator.validate(&token)).expect("valid token");
    let (_, handed_on) = allocations(|| {
        let mut bare = Request::new(());
        bare.extensions_mut().insert(claims.clone());
        bare
    });
    assert!(
        handed_on > 0,
        "the extensions allocate: the count sees them"
    );
    for _ in 0..REQUESTS {
        let request = request(&token);
        let (response, allocated) = allocations(|| run(service.call(request)));
        assert_eq!(response.expect("served").status(), http::StatusCode::OK);
        assert_eq!(
            allocated, handed_on,
            "allocations of a cached request beyond the claims it hands on"
        );
    }
}
