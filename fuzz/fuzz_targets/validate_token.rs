//! Fuzz target `validate_token`: see `bearer_guard_fuzz::validate_token`.
//!
//! With `cargo +nightly fuzz run validate_token` this is a libFuzzer target (`--cfg fuzzing`); built
//! plainly (`cargo run --release --bin validate_token -- ...`) it is the stable-Rust runner of
//! `bearer_guard_fuzz::runner`, which replays corpus files or generates inputs.
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| bearer_guard_fuzz::validate_token(data));

#[cfg(not(fuzzing))]
fn main() {
    bearer_guard_fuzz::runner::main("validate_token", bearer_guard_fuzz::validate_token);
}
