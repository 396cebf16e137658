//! `connect` and `test-connection` as a person runs them: every read right
//! a sync needs is checked, and a site that cannot be reached fails at once
//! with what to do, instead of after the connector's retries.

mod common;

use common::Env;
use seatsync_fixtures::{
    DEMO_CLIENT_ID, DEMO_COMPANY_ID, DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY, Faults, Forbid,
};

/// `seatsync connect` to `site` with the demo credentials, logging the
/// host's and the connector's warnings.
fn connect_to(env: &Env, site: &str, allow_http: bool) -> common::Run {
    let mut args = vec![
        "connect",
        "--site",
        site,
        "--company-id",
        DEMO_COMPANY_ID,
        "--public-key",
        DEMO_PUBLIC_KEY,
        "--client-id",
        DEMO_CLIENT_ID,
        "--private-key-stdin",
    ];
    if allow_http {
        args.push("--allow-http");
    }
    let mut command = env.command(&args);
    command.env("SEATSYNC_LOG", "warn,seatsync::connector=warn");
    let mut child = command
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("seatsync starts");
    if let Some(mut input) = child.stdin.take() {
        use std::io::Write;
        let _ = input.write_all(DEMO_PRIVATE_KEY.as_bytes());
    }
    let out = child.wait_with_output().expect("seatsync finishes");
    let run = common::Run {
        status: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    common::assert_no_secret(&run.stdout);
    common::assert_no_secret(&run.stderr);
    run
}

#[test]
fn each_missing_read_right_is_named_with_where_to_grant_it() {
    for (path, grant) in [
        (
            "/procurement/catalog",
            "Procurement > Product Catalog: Inquire Level All",
        ),
        (
            "/company/companies",
            "Companies > Company Maintenance: Inquire Level All",
        ),
        (
            "/finance/agreements",
            "Finance > Agreements: Inquire Level All",
        ),
        (
            "/finance/agreements/*/additions",
            "Finance > Agreements: Inquire, Add and Edit Level All",
        ),
    ] {
        let env = Env::new();
        env.sim.set_faults(Faults {
            forbidden: vec![Forbid {
                method: Some("GET".into()),
                path: path.into(),
                permission: "a right".into(),
            }],
            ..Faults::default()
        });
        let run = env.connect();
        assert_eq!(run.status, 1, "{path}: {}", run.stderr);
        assert!(
            run.stderr.contains(grant) && run.stderr.contains("System > Security Roles"),
            "{path}: {}",
            run.stderr
        );
        // Nothing was saved: the connection must be tested first.
        let test = env.run(&["test-connection"]);
        assert_eq!(test.status, 1);
        assert!(
            test.stderr.contains("run `seatsync connect` first"),
            "{}",
            test.stderr
        );
    }
}

#[test]
fn a_refused_connection_fails_at_once_with_a_hint_and_one_log_line() {
    let env = Env::new();
    // A port nothing listens on.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("an address").port()
    };
    let run = connect_to(&env, &format!("http://127.0.0.1:{port}"), true);
    assert_eq!(run.status, 1);
    assert!(
        run.stderr.contains("the connection was refused"),
        "{}",
        run.stderr
    );
    // One attempt: the host ended the call before the connector's retry.
    let failures = run
        .stderr
        .lines()
        .filter(|l| l.contains("exchange failed"))
        .count();
    assert_eq!(failures, 1, "{}", run.stderr);
    assert!(
        !run.stderr.contains("wasmtime_wasi_http"),
        "one log line per failed exchange:\n{}",
        run.stderr
    );
}

#[test]
fn a_plain_http_server_reached_over_https_is_named() {
    let env = Env::new();
    // The simulator speaks plain HTTP; a bare host means https.
    let run = connect_to(&env, &env.sim.addr().to_string(), false);
    assert_eq!(run.status, 1);
    assert!(
        run.stderr
            .contains("the server does not speak TLS: is it an http:// site?"),
        "{}",
        run.stderr
    );
    let attempts = run
        .stderr
        .lines()
        .filter(|l| l.contains("exchange failed"))
        .count();
    assert_eq!(attempts, 1, "no retry: {}", run.stderr);
}
