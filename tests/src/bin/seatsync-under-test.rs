//! The `seatsync` command, built inside this test crate so that the
//! end-to-end tests always run a binary built from the current sources
//! (`CARGO_BIN_EXE_seatsync-under-test`), whichever package cargo was asked
//! to test. It is exactly `host-harness/src/main.rs`.

fn main() -> std::process::ExitCode {
    seatsync_host::cli::main()
}
