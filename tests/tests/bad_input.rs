//! Bad input, table-driven: every user-facing input given wrong through the
//! real binary. Each row must fail (exit status 1) with an error naming the
//! problem and what to do, and leave the stored data exactly as it was.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{Env, assert_no_secret, seatsync_bin, shared_cache_dir};
use seatsync_fixtures::{DEMO_CLIENT_ID, DEMO_COMPANY_ID, DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY};

/// What the database holds, as the commands show it, plus the connection.
#[derive(Debug, PartialEq)]
struct Stored {
    packages: String,
    orgs: String,
    history: String,
    connection: Option<seatsync_host::store::StoredConnection>,
}

fn stored(env: &Env) -> Stored {
    Stored {
        packages: env.ok(&["packages", "--json"]).stdout,
        orgs: env.ok(&["orgs", "--json"]).stdout,
        history: env.ok(&["history", "--json"]).stdout,
        connection: env.store().connection("default").expect("readable"),
    }
}

/// `seatsync --db DB ARGS…` with `stdin`: (status, stderr).
fn run_on(db: &Path, args: &[String], stdin: &str) -> (i32, String, String) {
    use std::io::Write;
    let mut child = Command::new(seatsync_bin())
        .arg("--db")
        .arg(db)
        .args(args)
        .env("SEATSYNC_CACHE_DIR", shared_cache_dir())
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
    let out = child.wait_with_output().expect("seatsync finishes");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_no_secret(&stdout);
    assert_no_secret(&stderr);
    (out.status.code().unwrap_or(-1), stdout, stderr)
}

/// One bad input.
struct Row {
    what: &'static str,
    /// The database to use instead of the configured one.
    db: Option<PathBuf>,
    args: Vec<String>,
    stdin: String,
    /// Substrings the error must contain (the problem, and what to do).
    want: Vec<&'static str>,
}

fn row(what: &'static str, args: &[&str], want: &[&'static str]) -> Row {
    Row {
        what,
        db: None,
        args: args.iter().map(|s| s.to_string()).collect(),
        stdin: String::new(),
        want: want.to_vec(),
    }
}

impl Row {
    fn stdin(mut self, s: &str) -> Row {
        self.stdin = s.to_string();
        self
    }
    fn db(mut self, db: PathBuf) -> Row {
        self.db = Some(db);
        self
    }
}

/// `connect` with `site`, `public key` and the private key on stdin.
fn connect(
    what: &'static str,
    site: &str,
    public: &str,
    private: &str,
    want: &[&'static str],
) -> Row {
    row(
        what,
        &[
            "connect",
            "--site",
            site,
            "--company-id",
            DEMO_COMPANY_ID,
            "--public-key",
            public,
            "--client-id",
            DEMO_CLIENT_ID,
            "--private-key-stdin",
            "--allow-http",
        ],
        want,
    )
    .stdin(private)
}

/// A usage file in the test directory, imported.
fn import(env: &Env, what: &'static str, name: &str, bytes: &[u8], want: &[&'static str]) -> Row {
    let path = env.dir.path().join(name);
    std::fs::write(&path, bytes).expect("writes the file");
    row(what, &["usage", "import", path.to_str().unwrap()], want)
}

#[test]
fn every_bad_input_is_refused_clearly_and_changes_nothing() {
    let env = Env::new();
    env.configure();
    // Some history to keep, too.
    env.run(&["sync", "--dry-run"]);
    let site = env.site();
    let port = env.sim.addr().port().to_string();

    // A database file that is not one, and one that is damaged.
    let not_a_db = env.dir.path().join("notes.db");
    std::fs::write(
        &not_a_db,
        "these are my notes, not a database\n".repeat(200),
    )
    .unwrap();
    let damaged = env.dir.path().join("damaged.db");
    {
        let store = env.store();
        drop(store);
        let mut bytes = std::fs::read(env.db()).unwrap();
        if let Ok(wal) = std::fs::read(format!("{}-wal", env.db().display())) {
            assert!(wal.is_empty() || bytes.len() > 4096, "checkpointed");
        }
        // Keep the 100-byte header, scramble the schema page.
        for b in bytes.iter_mut().skip(100).take(3000) {
            *b = 0xA5;
        }
        std::fs::write(&damaged, bytes).unwrap();
    }
    let a_directory = env.dir.path().join("a-directory.db");
    std::fs::create_dir(&a_directory).unwrap();

    let rows = vec![
        // Site.
        connect("empty site", "", DEMO_PUBLIC_KEY, DEMO_PRIVATE_KEY, &["site"]),
        connect("site not a host", "not a host!", DEMO_PUBLIC_KEY, DEMO_PRIVATE_KEY, &["site"]),
        connect("site a path", "/var/lib/connectwise", DEMO_PUBLIC_KEY, DEMO_PRIVATE_KEY, &["site"]),
        connect("site ftp", &format!("ftp://127.0.0.1:{port}"), DEMO_PUBLIC_KEY, DEMO_PRIVATE_KEY, &["site"]),
        // Keys.
        connect("empty public key", &site, "", DEMO_PRIVATE_KEY, &["public key"]),
        connect("empty private key", &site, DEMO_PUBLIC_KEY, "  \n", &["private key is empty"]),
        connect("wrong private key", &site, DEMO_PUBLIC_KEY, "not-the-key", &["401"]),
        connect("wrong public key", &site, "SomeoneElse", DEMO_PRIVATE_KEY, &["401"]),
        row("private key variable not set", &["connect", "--site", &site, "--company-id", DEMO_COMPANY_ID, "--public-key", DEMO_PUBLIC_KEY, "--client-id", DEMO_CLIENT_ID, "--private-key-env", "SEATSYNC_TEST_NO_SUCH_VARIABLE", "--allow-http"], &["SEATSYNC_TEST_NO_SUCH_VARIABLE is not set", "export it"]),
        row("CA file missing", &["connect", "--site", &site, "--company-id", DEMO_COMPANY_ID, "--public-key", DEMO_PUBLIC_KEY, "--client-id", DEMO_CLIENT_ID, "--private-key-stdin", "--ca-file", "/nonexistent/ca.pem"], &["/nonexistent/ca.pem", "check the path"]).stdin(DEMO_PRIVATE_KEY),
        row("http without --allow-http", &["connect", "--site", &site, "--company-id", DEMO_COMPANY_ID, "--public-key", DEMO_PUBLIC_KEY, "--client-id", DEMO_CLIENT_ID, "--private-key-stdin"], &["uses http", "https"]).stdin(DEMO_PRIVATE_KEY),
        // Usage files.
        import(&env, "csv missing header", "u1.csv", b"pe-1,One,business,3\n", &["header"]),
        import(&env, "csv extra column", "u2.csv", b"org_id,org_name,package,active_users,notes\npe-1,One,business,3,x\n", &["notes"]),
        import(&env, "csv negative", "u3.csv", b"org_id,org_name,package,active_users\npe-1,One,business,-3\n", &["negative"]),
        import(&env, "csv fractional", "u4.csv", b"org_id,org_name,package,active_users\npe-1,One,business,2.5\n", &["whole number"]),
        import(&env, "csv non-numeric", "u5.csv", b"org_id,org_name,package,active_users\npe-1,One,business,many\n", &["whole number"]),
        import(&env, "csv huge", "u6.csv", b"org_id,org_name,package,active_users\npe-1,One,business,99999999999\n", &["10000000"]),
        import(&env, "csv duplicate", "u7.csv", b"org_id,org_name,package,active_users\npe-1,One,business,3\npe-1,One,business,4\n", &["already has a row"]),
        import(&env, "csv not utf-8", "u8.csv", b"org_id,org_name,package,active_users\npe-1,Caf\xe9,business,3\n", &["UTF-8"]),
        import(&env, "csv empty", "u9.csv", b"", &["empty"]),
        import(&env, "json negative", "u10.json", br#"[{"org_id":"pe-1","org_name":"One","package":"business","active_users":-1}]"#, &["negative"]),
        import(&env, "json fractional", "u11.json", br#"[{"org_id":"pe-1","org_name":"One","package":"business","active_users":1.5}]"#, &["whole number"]),
        import(&env, "json string count", "u12.json", br#"[{"org_id":"pe-1","org_name":"One","package":"business","active_users":"3"}]"#, &["active_users"]),
        import(&env, "json missing field", "u13.json", br#"[{"org_id":"pe-1","org_name":"One","package":"business"}]"#, &["missing"]),
        import(&env, "json extra field", "u14.json", br#"[{"org_id":"pe-1","org_name":"One","package":"business","active_users":1,"seats":2}]"#, &["unknown field"]),
        import(&env, "json empty array", "u15.json", b"[]", &["no rows", "empty JSON array"]),
        import(&env, "json duplicate", "u16.json", br#"[{"org_id":"pe-1","org_name":"One","package":"b","active_users":1},{"org_id":"pe-1","org_name":"One","package":"b","active_users":2}]"#, &["already has"]),
        import(&env, "json not json", "u17.json", b"[{\"org_id\": ", &["JSON"]),
        row("usage file missing", &["usage", "import", "/nonexistent/usage.csv"], &["cannot read", "check the path"]),
        // Mappings.
        row("map unknown package", &["map", "package", "enterprise", "--product", "19", "--bill", "billable"], &["no package named 'enterprise'", "seatsync packages"]),
        row("map to a missing product", &["map", "package", "business", "--product", "999999", "--bill", "billable"], &["no catalog product with id 999999", "seatsync products"]),
        row("map unknown org", &["map", "org", "pe-999", "--company", "254", "--agreement", "102"], &["no organization with id 'pe-999'", "seatsync orgs"]),
        row("map to a missing company", &["map", "org", "pe-100482", "--company", "999999", "--agreement", "102"], &["no (undeleted) company with id 999999", "seatsync companies"]),
        row("map to a missing agreement", &["map", "org", "pe-100482", "--company", "254", "--agreement", "999999"], &["has no agreement with id 999999", "seatsync agreements --company 254"]),
        row("map to another company's agreement", &["map", "org", "pe-100482", "--company", "254", "--agreement", "105"], &["has no agreement with id 105", "seatsync agreements --company 254"]),
        row("map to an inactive product", &["map", "package", "business", "--product", "49", "--bill", "billable"], &["product 49", "inactive", "pick an active product"]),
        row("map to a cancelled agreement", &["map", "org", "pe-100517", "--company", "256", "--agreement", "105"], &["agreement 105", "is cancelled", "pick an active agreement"]),
        row("map product id not a number", &["map", "package", "business", "--product", "nineteen", "--bill", "billable"], &["nineteen"]),
        row("map bad bill method", &["map", "package", "business", "--product", "19", "--bill", "sometimes"], &["sometimes", "billable"]),
        // Keys of switches, syncs, history.
        row("enable unknown package", &["enable", "package", "enterprise"], &["enterprise", "seatsync packages"]),
        row("disable unknown org", &["disable", "org", "pe-999"], &["pe-999", "seatsync orgs"]),
        row("sync unknown org", &["sync", "--org", "pe-999"], &["pe-999", "seatsync orgs"]),
        row("history of a missing run", &["history", "--run", "999"], &["999", "seatsync history"]),
        row("bad tenant name", &["--tenant", "a b", "orgs"], &["tenant", "letters"]),
        // Database files.
        row("database is a directory", &["orgs"], &["a-directory.db", "--db"]).db(a_directory.clone()),
        row("database is not a database", &["orgs"], &["not a seatsync database", "--db"]).db(not_a_db.clone()),
        row("database is damaged", &["orgs"], &["damaged.db", "backup"]).db(damaged.clone()),
        row("database in a missing directory", &["orgs"], &["/nonexistent/dir/seatsync.db", "directory exists"]).db(PathBuf::from("/nonexistent/dir/seatsync.db")),
    ];

    assert!(env.sim.set_product_inactive(49, true));
    assert!(env.sim.cancel_agreement(105, "2026-01-01T00:00:00Z"));
    let before = stored(&env);
    let files_before: Vec<Option<Vec<u8>>> = [&not_a_db, &damaged]
        .iter()
        .map(|p| std::fs::read(p).ok())
        .collect();
    let mut report = Vec::new();
    for r in &rows {
        let db = r.db.clone().unwrap_or_else(|| env.db());
        let (status, stdout, stderr) = run_on(&db, &r.args, &r.stdin);
        report.push(format!("{}: [{status}] {}", r.what, stderr.trim()));
        assert_eq!(
            status,
            if stderr.starts_with("error:") { 2 } else { 1 },
            "{}: exit status {status}\n{stdout}\n{stderr}",
            r.what
        );
        assert!(
            stdout.trim().is_empty() || r.args[0] == "sync",
            "{}: printed {stdout}",
            r.what
        );
        for want in &r.want {
            assert!(
                stderr.contains(want),
                "{}: the error lacks {want:?}:\n{stderr}",
                r.what
            );
        }
        if r.what == "database is a directory" {
            assert_eq!(
                stderr.matches("Is a directory").count(),
                1,
                "no stutter: {stderr}"
            );
        }
        assert_eq!(stored(&env), before, "{}: the stored data changed", r.what);
    }
    let files_after: Vec<Option<Vec<u8>>> = [&not_a_db, &damaged]
        .iter()
        .map(|p| std::fs::read(p).ok())
        .collect();
    assert!(
        files_before == files_after,
        "a bad database file was modified"
    );
    assert!(a_directory.is_dir());
    eprintln!("{}", report.join("\n"));
}
