//! Fuzz target `mcp_body`: see `bearer_guard_fuzz::mcp_body`.
//!
//! With `cargo +nightly fuzz run mcp_body` this is a libFuzzer target (`--cfg fuzzing`); built
//! plainly (`cargo run --release --bin mcp_body -- ...`) it is the stable-Rust runner of
//! `bearer_guard_fuzz::runner`, which replays corpus files or generates inputs.
#![cfg_attr(fuzzing, no_main)]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|data: &[u8]| bearer_guard_fuzz::mcp_body(data));

#[cfg(not(fuzzing))]
fn main() {
    bearer_guard_fuzz::runner::main("mcp_body", bearer_guard_fuzz::mcp_body);
}
