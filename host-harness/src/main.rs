//! The `seatsync` command: a thin binary over `seatsync_host::cli`.

fn main() -> std::process::ExitCode {
    seatsync_host::cli::main()
}
