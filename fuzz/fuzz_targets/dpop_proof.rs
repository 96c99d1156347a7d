//! Fuzz target `dpop_proof`: see `bearer_guard_fuzz::dpop_proof`.
//!
//! With `cargo +nightly fuzz run dpop_proof` this is a libFuzzer target (`--cfg fuzzing`); built
//! plainly (`cargo run --release --bin dpop_proof -- ...`) it is the stable-Rust runner of
//! `bearer_guard_fuzz::runner`, which replays corpus files or generates inputs.
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| bearer_guard_fuzz::dpop_proof::dpop_proof(data));

#[cfg(not(fuzzing))]
fn main() {
    bearer_guard_fuzz::runner::main("dpop_proof", bearer_guard_fuzz::dpop_proof::dpop_proof);
}
