//! Fuzz target `introspection_answer`: see `bearer_guard_fuzz::introspection_answer`.
//!
//! With `cargo +nightly fuzz run introspection_answer` this is a libFuzzer target (`--cfg
//! fuzzing`); built plainly (`cargo run --release --bin introspection_answer -- ...`) it is
//! the stable-Rust runner of `bearer_guard_fuzz::runner`, which replays corpus files or
//! generates inputs.
#![cfg_attr(fuzzing, no_main)]

use bearer_guard_fuzz::introspection_answer::introspection_answer;

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| introspection_answer(data));

#[cfg(not(fuzzing))]
fn main() {
    bearer_guard_fuzz::runner::main("introspection_answer", introspection_answer);
}
