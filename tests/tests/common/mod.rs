//! Driving the real `seatsync` binary against the loopback simulator.

#![allow(dead_code)] // Each test file uses part of this module.

pub mod console;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use seatsync_fixtures::{
    DEMO_CLIENT_ID, DEMO_COMPANY_ID, DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY, SimConfig, SimHandle,
    Simulator,
};

/// The `seatsync` binary under test (this crate's copy of it, so it is
/// always built from the current sources).
pub fn seatsync_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_seatsync-under-test"))
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
    /// The PostgreSQL schema used instead of the SQLite file, when
    /// `SEATSYNC_TEST_STORE=postgres` (`.ci/run` runs part of the suite so).
    pub postgres: Option<seatsync_host::store::testing::PostgresSchema>,
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
        Env::with_sim(SimConfig::default())
    }

    /// A fresh simulator started with `config`, and an empty database.
    pub fn with_sim(config: SimConfig) -> Env {
        let postgres = match std::env::var("SEATSYNC_TEST_STORE").as_deref() {
            Ok("postgres") => Some(
                seatsync_host::store::testing::PostgresSchema::new()
                    .expect("SEATSYNC_TEST_STORE=postgres needs SEATSYNC_TEST_POSTGRES"),
            ),
            _ => None,
        };
        Env::with_parts(config, postgres)
    }

    /// A fresh simulator started with `config`, and an empty database in
    /// `postgres` (a schema of its own) or else in an SQLite file.
    pub fn with_parts(
        config: SimConfig,
        postgres: Option<seatsync_host::store::testing::PostgresSchema>,
    ) -> Env {
        let env = Env {
            sim: Simulator::start_blocking(config).expect("the simulator starts on 127.0.0.1"),
            dir: tempfile::tempdir().expect("a temporary directory"),
            concurrency: 1,
            postgres,
        };
        if env.postgres.is_some() {
            // A shared database keeps no key beside itself: one is given.
            seatsync_host::store::new_key_file(&env.key_file()).expect("a key file");
        }
        env
    }

    /// The database: the SQLite file, or the PostgreSQL URL.
    pub fn db(&self) -> PathBuf {
        match &self.postgres {
            Some(schema) => PathBuf::from(schema.url()),
            None => self.dir.path().join("seatsync.db"),
        }
    }

    /// The key file given with a PostgreSQL database.
    pub fn key_file(&self) -> PathBuf {
        self.dir.path().join("secret.key")
    }

    /// Where the commands' key comes from.
    pub fn keys(&self) -> seatsync_host::store::KeySource {
        match &self.postgres {
            Some(_) => seatsync_host::store::KeySource::File(self.key_file()),
            None => seatsync_host::store::KeySource::BesideDatabase,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn site(&self) -> String {
        format!("http://{}", self.sim.addr())
    }

    /// `seatsync --db DB ARGS…` with the test environment: the shared
    /// compile cache, this env's concurrency, the clock started at
    /// [`TEST_NOW`], no end-of-run retry, and none of the caller's
    /// `SEATSYNC_*` settings; output piped.
    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(seatsync_bin());
        command.arg("--db").arg(self.db());
        if self.postgres.is_some() {
            command.arg("--secret-key-file").arg(self.key_file());
        }
        command
            .args(args)
            .env("SEATSYNC_CACHE_DIR", shared_cache_dir())
            .env("SEATSYNC_CONCURRENCY", self.concurrency.to_string())
            .env(seatsync_host::clock::NOW_VAR, test_now().to_rfc3339())
            // One pass per sync unless a test asks for the end-of-run
            // retry (with a short pause): most tests count requests.
            .env("SEATSYNC_RETRY_PAUSE", "off")
            // Plans and decisions record who made them.
            .env("SEATSYNC_USER", "tester")
            .env_remove("SEATSYNC_LOG")
            .env_remove("SEATSYNC_DB")
            .env_remove("SEATSYNC_TENANT")
            // The key sealing secrets: the file beside the database unless
            // a test gives one.
            .env_remove("SEATSYNC_SECRET_KEY")
            .env_remove("SEATSYNC_SECRET_KEY_FILE")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }

    /// Runs `seatsync --db DB ARGS…` with `stdin`.
    pub fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Run {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .spawn()
            .expect("seatsync starts");
        if let Some(mut input) = child.stdin.take() {
            let _ = input.write_all(stdin.as_bytes());
        }
        finished(child.wait_with_output().expect("seatsync finishes"))
    }

    /// Runs `seatsync --db DB ARGS…`.
    pub fn run(&self, args: &[&str]) -> Run {
        self.run_with_stdin(args, "")
    }

    /// Runs `seatsync --db DB ARGS…` with its clock `later` ahead of the
    /// tests' clock: as an operator would run it once that much time has
    /// passed (a write journal's settle window, say).
    pub fn run_later(&self, args: &[&str], later: std::time::Duration) -> Run {
        let now = test_now() + chrono::TimeDelta::from_std(later).expect("a short delay");
        let out = self
            .command(args)
            .env(seatsync_host::clock::NOW_VAR, now.to_rfc3339())
            .output()
            .expect("seatsync runs");
        finished(out)
    }

    /// [`Env::run_later`] with `stdin` (a person's answer to a prompt).
    pub fn run_later_with_stdin(
        &self,
        args: &[&str],
        stdin: &str,
        later: std::time::Duration,
    ) -> Run {
        let now = test_now() + chrono::TimeDelta::from_std(later).expect("a short delay");
        let mut child = self
            .command(args)
            .env(seatsync_host::clock::NOW_VAR, now.to_rfc3339())
            .stdin(Stdio::piped())
            .spawn()
            .expect("seatsync starts");
        if let Some(mut input) = child.stdin.take() {
            let _ = input.write_all(stdin.as_bytes());
        }
        finished(child.wait_with_output().expect("seatsync finishes"))
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

    /// The text with the simulator's port replaced, for snapshots. Dates
    /// stay as they are: the commands' clock starts at [`TEST_NOW`].
    pub fn redact(&self, text: &str) -> String {
        text.replace(&self.sim.addr().port().to_string(), "PORT")
    }

    /// The simulator's additions on `agreements`, pretty JSON, redacted.
    pub fn state(&self, agreements: &[u32]) -> String {
        let dump =
            serde_json::to_string_pretty(&self.sim.state_dump_for(agreements)).expect("JSON");
        self.redact(&dump)
    }
}

/// The instant the tests' clock starts at: the suite's expectations hold on
/// any real date.
pub const TEST_NOW: &str = "2026-11-27T06:00:00Z";

/// The tests' clock: [`TEST_NOW`] when this test binary first asked, then
/// running with the real clock. Every command a test runs starts its clock
/// here (`SEATSYNC_NOW`), and [`Env::store`] uses it, so the processes of a
/// test agree on the order of what they record.
pub fn test_now() -> chrono::DateTime<chrono::Utc> {
    static ORIGIN: OnceLock<std::time::Instant> = OnceLock::new();
    let elapsed = ORIGIN.get_or_init(std::time::Instant::now).elapsed();
    TEST_NOW
        .parse::<chrono::DateTime<chrono::Utc>>()
        .expect("TEST_NOW is RFC 3339")
        + chrono::TimeDelta::from_std(elapsed).expect("a test binary runs for less than a year")
}

/// The day of [`TEST_NOW`], as the host passes it to the connector.
pub fn today() -> String {
    TEST_NOW[..10].to_string()
}

/// How long after the tests' clock a command must run for every write an
/// earlier command left without an answer to have settled: the default
/// settle window, and a second.
pub fn after_the_settle_window() -> std::time::Duration {
    seatsync_host::sync::settle_window(&seatsync_host::runtime::Limits::default())
        + std::time::Duration::from_secs(1)
}

/// [`TEST_NOW`]'s day, for calls made in the test's own process.
pub fn test_day() -> chrono::NaiveDate {
    today().parse().expect("TEST_NOW starts with a date")
}

/// A finished command's status and output, checked for secrets.
fn finished(out: Output) -> Run {
    let run = Run {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert_no_secret(&run.stdout);
    assert_no_secret(&run.stderr);
    run
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

// ---------------------------------------------------------------------------
// Reliability helpers (faults, crashes, bad input, secrets).
// ---------------------------------------------------------------------------

/// The agreements the demo organizations are mapped to, sorted.
pub fn demo_agreements() -> Vec<u32> {
    let mut ids: Vec<u32> = seatsync_fixtures::demo::mappings()
        .organizations
        .values()
        .map(|m| m.agreement_id)
        .collect();
    ids.sort_unstable();
    ids
}

/// The demo's mapping of package `key`, as `map package` stores it.
pub fn demo_package_mapping(key: &str) -> seatsync_host::store::PackageMapping {
    let mappings = seatsync_fixtures::demo::mappings();
    let m = &mappings.packages[key];
    seatsync_host::store::PackageMapping {
        product_id: i64::from(m.product_id),
        product_identifier: None,
        product_description: None,
        options: [
            ("bill-method".to_string(), m.bill_customer.clone()),
            ("taxable".to_string(), m.taxable.to_string()),
        ]
        .into_iter()
        .collect(),
    }
}

/// The demo's mapping of organization `org`, as `map org` stores it.
pub fn demo_org_mapping(org: &str) -> seatsync_host::store::OrgMapping {
    let mappings = seatsync_fixtures::demo::mappings();
    let m = &mappings.organizations[org];
    seatsync_host::store::OrgMapping {
        company_id: i64::from(m.company_id),
        agreement_id: i64::from(m.agreement_id),
        company_name: None,
        agreement_name: None,
    }
}

impl Env {
    /// The database, opened in this process (the binary's own library), on
    /// the tests' clock ([`test_now`]).
    pub fn store(&self) -> seatsync_host::store::Store {
        let mut store = seatsync_host::store::Store::open_with_key(self.db(), self.keys())
            .expect("the test database opens");
        store.set_clock(std::sync::Arc::new(test_now));
        store
    }

    /// Stores the demo connection, usage and mappings straight into the
    /// database: what `connect`, `usage import` and `map` store, without the
    /// ~20 commands (and catalog reads) that take. For tests whose subject
    /// is the sync, not the setup.
    pub fn configure(&self) {
        self.configure_tenant("default");
    }

    /// [`Env::configure`] for `tenant` (several tenants on one site).
    pub fn configure_tenant(&self, tenant: &str) {
        use seatsync_host::store::StoredConnection;
        let store = self.store();
        let settings = seatsync_tests::demo_settings(&self.site());
        store
            .save_connection(
                tenant,
                &StoredConnection::new(settings, ["private-key".to_string()], true, None),
            )
            .expect("the connection is saved");
        let usage = seatsync_host::usage::parse_usage(
            seatsync_fixtures::demo::USAGE_CSV.as_bytes(),
            Some(seatsync_host::usage::UsageFormat::Csv),
        )
        .expect("the demo usage parses");
        store
            .replace_usage(tenant, &usage)
            .expect("the usage is stored");
        let mappings = seatsync_fixtures::demo::mappings();
        for key in mappings.packages.keys() {
            store
                .upsert_package_mapping(tenant, key, &demo_package_mapping(key))
                .expect("the package is mapped");
        }
        for org in mappings.organizations.keys() {
            store
                .upsert_org_mapping(tenant, org, &demo_org_mapping(org))
                .expect("the organization is mapped");
        }
    }

    /// Starts `seatsync --db DB ARGS…` without waiting (for killing it).
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        self.command(args).spawn().expect("seatsync starts")
    }

    /// Runs with extra environment variables (e.g. `SEATSYNC_LOG`).
    pub fn run_with_env(&self, args: &[&str], vars: &[(&str, &str)]) -> Run {
        let out = self
            .command(args)
            .envs(vars.iter().copied())
            .output()
            .expect("seatsync runs");
        finished(out)
    }

    /// `history --json`, parsed.
    pub fn history(&self) -> serde_json::Value {
        let run = self.ok(&["history", "--json"]);
        serde_json::from_str(&run.stdout).expect("history --json is JSON")
    }
}

/// The additions ConnectWise holds for the demo agreements with every id
/// removed and each agreement's list sorted: two tenants that received the
/// same writes compare equal whatever ids they assigned.
pub fn normalized_state(sim: &SimHandle) -> serde_json::Value {
    let dump = sim.state_dump_for(&demo_agreements());
    let mut out = serde_json::Map::new();
    for (agreement, list) in dump.as_object().expect("a dump is an object") {
        let mut items: Vec<serde_json::Value> = list
            .as_array()
            .expect("a list of additions")
            .iter()
            .map(|a| {
                let mut a = a.clone();
                a.as_object_mut().expect("an addition").remove("id");
                a
            })
            .collect();
        items.sort_by_key(|a| a.to_string());
        out.insert(agreement.clone(), serde_json::Value::Array(items));
    }
    serde_json::Value::Object(out)
}

/// The state after one uninterrupted, fault-free `seatsync sync` of the demo
/// tenant, normalized ([`normalized_state`]). Computed once per test binary.
pub fn reference_state() -> serde_json::Value {
    static REFERENCE: OnceLock<serde_json::Value> = OnceLock::new();
    REFERENCE
        .get_or_init(|| {
            let env = Env::new();
            env.configure();
            let run = env.run(&["sync"]);
            assert_eq!(
                run.status, 2,
                "only 115's conflict needs attention:\n{}",
                run.stdout
            );
            assert_eq!(env.sim.counts().writes, 8, "4 created, 4 updated");
            normalized_state(&env.sim)
        })
        .clone()
}

/// Fails unless ConnectWise has at most one active addition per (agreement,
/// product) among those the sync manages: the demo organizations' agreements
/// and the mapped products. Agreement 115 starts with two active additions
/// (86 and 87) for product 21, the demo's conflict: those two, and no third.
pub fn assert_no_duplicate_additions(sim: &SimHandle) {
    let mappings = seatsync_fixtures::demo::mappings();
    let products: Vec<u64> = mappings
        .packages
        .values()
        .map(|p| u64::from(p.product_id))
        .collect();
    let today = today();
    for agreement in demo_agreements() {
        let mut active: std::collections::BTreeMap<u64, Vec<u64>> = Default::default();
        for a in sim.additions(agreement) {
            let Some(product) = a.pointer("/product/id").and_then(serde_json::Value::as_u64) else {
                continue;
            };
            if !products.contains(&product) {
                continue;
            }
            let cancelled = a
                .get("cancelledDate")
                .and_then(serde_json::Value::as_str)
                .and_then(|d| d.get(..10))
                .is_some_and(|day| day <= today.as_str());
            if cancelled {
                continue;
            }
            let id = a.get("id").and_then(serde_json::Value::as_u64).unwrap_or(0);
            active.entry(product).or_default().push(id);
        }
        for (product, mut ids) in active {
            ids.sort_unstable();
            if (agreement, product) == (115, 21) {
                assert_eq!(
                    ids,
                    [86, 87],
                    "agreement 115 must keep exactly its two pre-existing additions for product 21"
                );
            } else {
                assert!(
                    ids.len() <= 1,
                    "DUPLICATE: agreement {agreement} has {} active additions for product {product}: {ids:?}",
                    ids.len()
                );
            }
        }
    }
}

/// Polls `cond` every 20 ms until it holds; panics after `timeout`.
pub fn wait_until(what: &str, timeout: std::time::Duration, mut cond: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

// ---------------------------------------------------------------------------
// Set-up through the binary, and a fake clock for the daemon.
// ---------------------------------------------------------------------------

impl Env {
    /// Maps the demo packages and organizations with `seatsync map`, as an
    /// MSP would (each checked against the simulated ConnectWise).
    pub fn map_demo(&self) {
        let mappings = seatsync_fixtures::demo::mappings();
        for (key, m) in &mappings.packages {
            let product = m.product_id.to_string();
            self.ok(&[
                "map",
                "package",
                key,
                "--product",
                &product,
                "--bill",
                &m.bill_customer,
            ]);
        }
        for (org, m) in &mappings.organizations {
            let (company, agreement) = (m.company_id.to_string(), m.agreement_id.to_string());
            self.ok(&[
                "map",
                "org",
                org,
                "--company",
                &company,
                "--agreement",
                &agreement,
            ]);
        }
    }

    /// `usage import` of the demo usage with `changes` (`(from, to)` text
    /// replacements of its rows), through the binary.
    pub fn import_demo_usage_with(&self, changes: &[(&str, &str)]) {
        let mut usage = seatsync_fixtures::demo::USAGE_CSV.to_string();
        for (from, to) in changes {
            assert!(usage.contains(from), "the demo usage has {from:?}");
            usage = usage.replace(from, to);
        }
        let file = self.file("usage.csv", &usage);
        self.ok(&["usage", "import", file.to_str().expect("a UTF-8 temp path")]);
    }

    /// The approval rules the review and notification tests use: increases
    /// go through, a drop of more than 20% is held.
    pub fn hold_drops_over_20_percent(&self) {
        self.ok(&[
            "policy",
            "set",
            "--auto-approve",
            "increases",
            "--hold-decrease-over",
            "20",
        ]);
    }

    /// `connect`, `usage import` of `usage_csv`, and [`Env::map_demo`], all
    /// through the binary.
    pub fn set_up_through_cli(&self, usage_csv: &str) {
        let connected = self.connect();
        assert_eq!(connected.status, 0, "{}", connected.stderr);
        let usage = self.file("usage.csv", usage_csv);
        self.ok(&[
            "usage",
            "import",
            usage.to_str().expect("a UTF-8 temp path"),
        ]);
        self.map_demo();
    }
}

/// A clock for `seatsync_host::daemon` that jumps to wherever the daemon
/// sleeps until, so days of slots pass in milliseconds.
#[derive(Clone)]
pub struct FakeClock(std::sync::Arc<std::sync::Mutex<chrono::DateTime<chrono::Utc>>>);

impl FakeClock {
    /// A clock showing `rfc3339`.
    pub fn at(rfc3339: &str) -> FakeClock {
        FakeClock(std::sync::Arc::new(std::sync::Mutex::new(
            rfc3339.parse().expect("an RFC 3339 time"),
        )))
    }

    /// Moves the clock to `rfc3339`.
    pub fn set(&self, rfc3339: &str) {
        *self.0.lock().expect("the clock's lock") = rfc3339.parse().expect("an RFC 3339 time");
    }
}

impl seatsync_host::daemon::Clock for FakeClock {
    fn now(&self) -> chrono::DateTime<chrono::Utc> {
        *self.0.lock().expect("the clock's lock")
    }

    fn sleep_until(
        &self,
        when: chrono::DateTime<chrono::Utc>,
    ) -> impl std::future::Future<Output = ()> + Send {
        *self.0.lock().expect("the clock's lock") = when;
        std::future::ready(())
    }
}
