//! How fast the console's pages answer at scale: 1,000 vendor
//! organizations, 5,000 catalog items and about 1,300 ConnectWise companies
//! (the generated tenant of `seatsync_fixtures::matching`, its catalog grown
//! to 5,000), against the release `seatsync serve` on loopback.
//!
//! `cargo bench -p seatsync-tests --bench console` prints, per page, the
//! first load (which may read the PSA) and the median and slowest of 20
//! loads after it. Measured, never asserted: see docs/performance.md.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use seatsync_fixtures::{SimConfig, Simulator};
use seatsync_host::console::auth;
use seatsync_host::store::{Store, StoredConnection};

const ORGS: usize = 1_000;
const CATALOG: usize = 5_000;
const LOADS: usize = 20;

fn main() {
    // The tenant: generated organizations and companies; the catalog grown
    // with copies of its items under new ids.
    let generated = seatsync_fixtures::matching::generate(ORGS, 7);
    let mut tenant = generated.tenant;
    let originals = tenant.catalog.clone();
    let mut next_id = originals
        .iter()
        .filter_map(|p| p["id"].as_u64())
        .max()
        .unwrap_or(0)
        + 1;
    while tenant.catalog.len() < CATALOG {
        for p in &originals {
            if tenant.catalog.len() >= CATALOG {
                break;
            }
            let mut copy = p.clone();
            copy["id"] = next_id.into();
            copy["identifier"] =
                format!("{}-{next_id}", p["identifier"].as_str().unwrap_or("ITEM")).into();
            tenant.catalog.push(copy);
            next_id += 1;
        }
    }
    let companies = tenant.companies.len();
    let sim = Simulator::start_blocking(SimConfig {
        tenant,
        ..SimConfig::default()
    })
    .expect("the simulator starts");

    // The database: the usage, the connection, an owner and a session.
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = dir.path().join("bench.db");
    let store = Store::open(&db).expect("the database opens");
    store.add_tenant("bench").unwrap();
    let usage = seatsync_host::usage::parse_usage(generated.usage_csv.as_bytes(), None)
        .expect("the generated usage parses");
    store.replace_usage("bench", &usage).unwrap();
    let settings = seatsync_tests::demo_settings(&format!("http://{}", sim.addr()));
    store
        .save_connection(
            "bench",
            &StoredConnection::new(settings, ["private-key".to_string()], true, None),
        )
        .unwrap();
    store.set_console_setup_token("setup").unwrap();
    let owner = store
        .create_console_owner("setup", "owner", "$argon2id$unused")
        .unwrap()
        .expect("the owner");
    let session = "bench-session-token";
    store
        .create_console_session(
            &auth::token_hash(session),
            owner,
            "csrf",
            chrono::Utc::now() + chrono::TimeDelta::hours(1),
        )
        .unwrap();
    drop(store);

    let mut server = Command::new(env!("CARGO_BIN_EXE_seatsync-under-test"))
        .args([
            "--db",
            db.to_str().unwrap(),
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--allow-http",
        ])
        .env("SEATSYNC_CACHE_DIR", dir.path().join("cache"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("seatsync serve starts");
    let mut lines = BufReader::new(server.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines.next().expect("serve prints its address").unwrap();
        if let Some(rest) = line.strip_prefix("seatsync console: ") {
            break rest
                .split_whitespace()
                .next()
                .unwrap()
                .trim_end_matches('/')
                .to_owned();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    let get = |path: &str| {
        let started = Instant::now();
        let mut response = agent
            .get(&format!("{base}{path}"))
            .header("cookie", format!("{}={session}", auth::SESSION_COOKIE))
            .call()
            .expect("the console answers");
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string().unwrap_or_default();
        (started.elapsed(), status, body.len())
    };
    let org = generated
        .truth
        .keys()
        .next()
        .expect("an organization")
        .clone();
    println!(
        "console at scale: {ORGS} organizations, {CATALOG} catalog items, {companies} companies; {LOADS} loads after the first\n"
    );
    println!(
        "{:<44} {:>6} {:>10} {:>10} {:>10} {:>9}",
        "page", "status", "first ms", "median ms", "max ms", "KB"
    );
    let pages = [
        "/".to_string(),
        "/t/bench".into(),
        "/t/bench/customers".into(),
        "/t/bench/customers?page=19".into(),
        "/t/bench/customers?q=cedar&unmapped=1".into(),
        "/t/bench/products".into(),
        "/t/bench/products/business".into(),
        "/t/bench/products/business?q=email%20security".into(),
        format!("/t/bench/customers/{org}"),
        format!("/t/bench/customers/{org}?q=dental"),
        "/t/bench/suggestions".into(),
        "/t/bench/history".into(),
    ];
    for page in &pages {
        let (first, status, bytes) = get(page);
        let mut times: Vec<Duration> = (0..LOADS).map(|_| get(page).0).collect();
        times.sort();
        println!(
            "{:<44} {:>6} {:>10.1} {:>10.1} {:>10.1} {:>9.0}",
            page,
            status,
            first.as_secs_f64() * 1e3,
            times[LOADS / 2].as_secs_f64() * 1e3,
            times[LOADS - 1].as_secs_f64() * 1e3,
            bytes as f64 / 1024.0
        );
    }
    let _ = server.kill();
    let _ = server.wait();
}
