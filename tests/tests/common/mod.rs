//! Driving the real `seatsync` binary against the loopback simulator.

#![allow(dead_code)] // Each test file uses part of this module.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use seatsync_fixtures::{
    DEMO_CLIENT_ID, DEMO_COMPANY_ID, DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY, SimConfig, SimHandle,
    Simulator,
};

/// The `seatsync` binary, built once per test process (a no-op when
/// `cargo test --workspace` already built it).
pub fn seatsync_bin() -> &'static Path {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        escargot::CargoBuild::new()
            .package("seatsync-host")
            .bin("seatsync")
            .current_release()
            .run()
            .expect("cargo builds the seatsync binary")
            .path()
            .to_path_buf()
    })
}

/// Where compiled components are cached across tests, so each test does not
/// compile the component again.
pub fn shared_cache_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("seatsync-component-cache")
}

/// A simulator, a temporary database, and the command to drive them.
pub struct Env {
    /// The simulated ConnectWise.
    pub sim: SimHandle,
    /// Holds the database and files; removed on drop.
    pub dir: tempfile::TempDir,
    /// `SEATSYNC_CONCURRENCY` for the commands: 1 (the default here) makes
    /// the order of writes, and so the ids ConnectWise assigns, repeatable.
    pub concurrency: usize,
}

/// What one command did.
#[derive(Debug)]
pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Env {
    /// A fresh simulator with the demo tenant and an empty database.
    pub fn new() -> Env {
        Env {
            sim: Simulator::start_blocking(SimConfig::default())
                .expect("the simulator starts on 127.0.0.1"),
            dir: tempfile::tempdir().expect("a temporary directory"),
            concurrency: 1,
        }
    }

    /// The database file.
    pub fn db(&self) -> PathBuf {
        self.dir.path().join("seatsync.db")
    }

    /// `http://127.0.0.1:PORT`.
    pub fn site(&self) -> String {
        format!("http://{}", self.sim.addr())
    }

    /// Runs `seatsync --db DB ARGS…` with `stdin`.
    pub fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Run {
        let mut child = Command::new(seatsync_bin())
            .arg("--db")
            .arg(self.db())
            .args(args)
            .env("SEATSYNC_CACHE_DIR", shared_cache_dir())
            .env("SEATSYNC_CONCURRENCY", self.concurrency.to_string())
            .env_remove("SEATSYNC_LOG")
            .env_remove("SEATSYNC_DB")
            .env_remove("SEATSYNC_TENANT")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("seatsync starts");
        if let Some(mut input) = child.stdin.take() {
            let _ = input.write_all(stdin.as_bytes());
        }
        let out: Output = child.wait_with_output().expect("seatsync finishes");
        let run = Run {
            status: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        assert_no_secret(&run.stdout);
        assert_no_secret(&run.stderr);
        run
    }

    /// Runs `seatsync --db DB ARGS…`.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, "")
    }

    /// Runs and expects exit status 0.
    pub fn ok(&self, args: &[&str]) -> Run {
        let run = self.run(args);
        assert_eq!(
            run.status, 0,
            "seatsync {args:?} failed:\n{}\n{}",
            run.stdout, run.stderr
        );
        run
    }

    /// `connect` with the demo credentials (private key on stdin).
    pub fn connect(&self) -> Run {
        let site = self.site();
        self.run_with_stdin(
            &[
                "connect",
                "--site",
                &site,
                "--company-id",
                DEMO_COMPANY_ID,
                "--public-key",
                DEMO_PUBLIC_KEY,
                "--client-id",
                DEMO_CLIENT_ID,
                "--private-key-stdin",
                "--allow-http",
            ],
            DEMO_PRIVATE_KEY,
        )
    }

    /// Writes `text` to a file in the temporary directory.
    pub fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).expect("writes a test file");
        path
    }

    /// The simulator's request log since the last clear, one sorted line per
    /// request (organizations sync in parallel, so arrival order varies).
    pub fn requests(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .sim
            .request_log()
            .iter()
            .map(|r| {
                let query = r
                    .query
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("&");
                let body = if r.body.is_empty() {
                    String::new()
                } else {
                    format!(" {}", r.body)
                };
                self.redact(&format!(
                    "{} {}?{query} -> {}{body}",
                    r.method, r.path, r.status
                ))
            })
            .collect();
        lines.sort();
        lines
    }

    /// The text with the simulator's port and today's date replaced, for
    /// snapshots that must not change from day to day.
    pub fn redact(&self, text: &str) -> String {
        text.replace(&self.sim.addr().port().to_string(), "PORT")
            .replace(&today(), "TODAY")
    }

    /// The simulator's additions on `agreements`, pretty JSON, redacted.
    pub fn state(&self, agreements: &[u32]) -> String {
        let dump =
            serde_json::to_string_pretty(&self.sim.state_dump_for(agreements)).expect("JSON");
        self.redact(&dump)
    }
}

/// Today (UTC), as the host passes it to the connector.
pub fn today() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
}

/// Fails if `text` holds the private key or an Authorization header value.
pub fn assert_no_secret(text: &str) {
    assert!(
        !text.contains(DEMO_PRIVATE_KEY),
        "the private key leaked:\n{text}"
    );
    assert!(
        !text.contains("Basic YWNt"),
        "an Authorization header leaked:\n{text}"
    );
}
