//! Fuzz target `extract_header`: see `bearer_guard_fuzz::extract_header`.
//!
//! With `cargo +nightly fuzz run extract_header` this is a libFuzzer target (`--cfg fuzzing`); built
//! plainly (`cargo run --release --bin extract_header -- ...`) it is the stable-Rust runner of
//! `bearer_guard_fuzz::runner`, which replays corpus files or generates inputs.
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| bearer_guard_fuzz::extract_header(data));

#[cfg(not(fuzzing))]
fn main() {
    bearer_guard_fuzz::runner::main("extract_header", bearer_guard_fuzz::extract_header);
}
