//! The web console over real HTTP: `seatsync serve` as a process, on a
//! free loopback port, driven by a small cookie-keeping client. What a
//! browser shows is tested in `console_browser.rs`; here, the wizard's
//! requests and every refusal the security model promises.

mod common;

use std::time::Duration;

use common::console::{OWNER, OWNER_PASSWORD, Server, demo_connection, hidden, set_up_owner};
use common::{Env, assert_no_secret, wait_until};
use seatsync_fixtures::{DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY};

#[test]
fn the_setup_link_creates_the_owner_who_connects_a_tenant_and_schedules_it() {
    let env = Env::new();
    let server = Server::start(&env, &["--allow-http"], None);
    let mut anonymous = server.client();
    assert_eq!(anonymous.get("/healthz").body, "ok\n");

    // The setup form checks the password before anything is stored.
    let link = server.setup_link.clone().expect("a setup link");
    let mut owner = server.client();
    let form = owner.get(&link);
    assert!(
        form.body.contains("Create the owner account"),
        "{}",
        form.body
    );
    let (token, form_token) = (
        hidden(&form.body, "token").unwrap(),
        hidden(&form.body, "form").unwrap(),
    );
    let differ = owner.post(
        "/setup",
        &[
            ("token", &token),
            ("form", &form_token),
            ("username", OWNER),
            ("password", OWNER_PASSWORD),
            ("confirm", "something else"),
        ],
    );
    assert_eq!(differ.status, 400);
    assert!(
        differ.body.contains("the two passwords differ"),
        "{}",
        differ.body
    );
    let short = owner.post(
        "/setup",
        &[
            ("token", &token),
            ("form", &form_token),
            ("username", OWNER),
            ("password", "short"),
            ("confirm", "short"),
        ],
    );
    assert!(
        short.body.contains("at least 10 characters"),
        "{}",
        short.body
    );
    assert!(!env.store().console_has_owner().unwrap());

    let mut owner = set_up_owner(&server);
    // The session cookie is HttpOnly and SameSite=Strict (not Secure on
    // plain loopback HTTP).
    let home = owner.get("/?done=welcome");
    assert_eq!(home.status, 200);
    assert!(
        home.body.contains("your owner account is ready"),
        "{}",
        home.body
    );
    // The link works once.
    let again = server.client().get(&link);
    assert_eq!(again.status, 403);
    assert!(again.body.contains("not valid"), "{}", again.body);

    // A tenant, then its connection: a wrong key is refused with the
    // PSA's reason and nothing is saved.
    let csrf = owner.csrf();
    let added = owner.post("/tenants", &[("csrf", &csrf), ("name", "acme")]);
    assert_eq!(added.location.as_deref(), Some("/t/acme/connection"));
    let form = owner.get("/t/acme/connection");
    for label in [
        "Site",
        "Company ID",
        "Public key",
        "Private key",
        "Client ID",
        "Codebase",
        "Test and save",
    ] {
        assert!(
            form.body.contains(label),
            "the form lacks {label}:\n{}",
            form.body
        );
    }
    let site = env.site();
    let wrong = owner.post(
        "/t/acme/connection",
        &demo_connection(&csrf, &site, "not-the-key"),
    );
    assert_eq!(wrong.status, 400, "{}", wrong.body);
    assert!(wrong.body.contains("401"), "{}", wrong.body);
    assert!(
        !wrong.body.contains("not-the-key"),
        "a typed secret is rendered back"
    );
    assert!(
        wrong.body.contains(DEMO_PUBLIC_KEY),
        "typed plain settings are kept"
    );
    assert!(env.store().connection("acme").unwrap().is_none());

    let missing = owner.post("/t/acme/connection", &demo_connection(&csrf, &site, ""));
    assert!(
        missing.body.contains("Private key is required"),
        "{}",
        missing.body
    );

    let saved = owner.post(
        "/t/acme/connection",
        &demo_connection(&csrf, &site, DEMO_PRIVATE_KEY),
    );
    assert_eq!(
        saved.location.as_deref(),
        Some("/t/acme/connection?done=connected"),
        "{}",
        saved.body
    );
    let stored = env.store().connection("acme").unwrap().expect("saved");
    assert_eq!(stored.settings.get("private-key"), Some(DEMO_PRIVATE_KEY));
    assert!(stored.allow_http);
    let page = owner.get("/t/acme/connection?done=connected");
    assert!(
        page.body.contains("the connection test passed"),
        "{}",
        page.body
    );
    // Saved again with the secret left empty: the stored key is kept.
    let kept = owner.post("/t/acme/connection", &demo_connection(&csrf, &site, ""));
    assert_eq!(kept.status, 303, "{}", kept.body);
    let tested = owner.post("/t/acme/connection/test", &[("csrf", &csrf)]);
    assert_eq!(tested.status, 200, "{}", tested.body);
    assert!(
        tested.body.contains("The connection test passed"),
        "{}",
        tested.body
    );
    assert!(
        tested.body.contains("ConnectWise Manage"),
        "{}",
        tested.body
    );

    // Data types: only the checked box stays on.
    let data = owner.post("/t/acme/data", &[("csrf", &csrf), ("user-counts", "on")]);
    assert_eq!(data.location.as_deref(), Some("/t/acme/data?done=saved"));
    let types = env.store().data_types("acme").unwrap();
    assert!(types.user_counts && !types.packages);

    // Notifications: checked as `notify add` checks them; a webhook's
    // secret path is never shown back.
    let hook = "https://hooks.example.com/services/T000/B000/XYZSECRET";
    let added = owner.post(
        "/t/acme/notifiers",
        &[
            ("csrf", &csrf),
            ("kind", "webhook"),
            ("target", hook),
            ("format", "slack"),
            ("events", "run-problems"),
            ("events", "change-held"),
        ],
    );
    assert_eq!(
        added.location.as_deref(),
        Some("/t/acme/history?done=added"),
        "{}",
        added.body
    );
    let notifiers = env.store().notifiers("acme").unwrap();
    assert_eq!(notifiers.len(), 1);
    assert_eq!(notifiers[0].events, ["run-problems", "change-held"]);
    let history = owner.get("/t/acme/history");
    assert!(
        history.body.contains("hooks.example.com") && !history.body.contains("XYZSECRET"),
        "{}",
        history.body
    );
    for (kind, target, why) in [
        (
            "webhook",
            "http://hooks.example.com/services/SECRETPATH",
            "cannot be used",
        ),
        ("email", "not an address", "is not an email address"),
    ] {
        let refused = owner.post(
            "/t/acme/notifiers",
            &[("csrf", &csrf), ("kind", kind), ("target", target)],
        );
        assert_eq!(refused.status, 400, "{}", refused.body);
        assert!(refused.body.contains(why), "{}", refused.body);
        assert!(!refused.body.contains("SECRETPATH"), "{}", refused.body);
    }
    let removed = owner.post(
        &format!("/t/acme/notifiers/{}/remove", notifiers[0].id),
        &[("csrf", &csrf)],
    );
    assert_eq!(removed.status, 303);
    assert!(env.store().notifiers("acme").unwrap().is_empty());

    // The email server: checked as `notify smtp` checks it; its password
    // is write-only.
    let plain = owner.post(
        "/t/acme/smtp",
        &[
            ("csrf", &csrf),
            ("host", "smtp.example.com"),
            ("port", "25"),
            ("security", "plain"),
            ("from", "billing@msp.example"),
        ],
    );
    assert_eq!(plain.status, 400, "{}", plain.body);
    assert!(
        plain.body.contains("only allowed to a loopback relay"),
        "{}",
        plain.body
    );
    assert!(env.store().smtp("acme").unwrap().is_none());
    let smtp = [
        ("csrf", csrf.as_str()),
        ("host", "smtp.example.com"),
        ("port", "587"),
        ("security", "starttls"),
        ("from", "billing@msp.example"),
        ("username", "billing"),
        ("password", "smtp-secret-pw"),
    ];
    assert_eq!(owner.post("/t/acme/smtp", &smtp).status, 303);
    let mut again = smtp;
    again[6] = ("password", "");
    again[2] = ("port", "2525");
    assert_eq!(owner.post("/t/acme/smtp", &again).status, 303);
    let saved = env.store().smtp("acme").unwrap().expect("saved");
    assert_eq!(
        (saved.port, saved.password.as_deref()),
        (2525, Some("smtp-secret-pw")),
        "an empty password keeps the saved one"
    );
    let history = owner.get("/t/acme/history");
    assert!(
        history.body.contains("a password is saved") && !history.body.contains("smtp-secret-pw"),
        "{}",
        history.body
    );

    // The new connection gets its daily schedule, which /metrics shows.
    wait_until("the tenant's schedule", Duration::from_secs(30), || {
        server.output().contains("Scheduled tenant 'acme'")
    });
    let metrics = anonymous.get("/metrics");
    assert!(
        metrics
            .body
            .contains("seatsync_next_run_timestamp_seconds{tenant=\"acme\"}"),
        "{}",
        metrics.body
    );
    assert!(
        metrics.body.contains("seatsync_http_answers_total"),
        "{}",
        metrics.body
    );

    // Nothing the console sent, nor printed, holds the private key.
    for body in owner.seen.iter().chain(anonymous.seen.iter()) {
        assert_no_secret(body);
    }
    let (status, output) = server.stop();
    assert_eq!(status, 0, "{output}");
    assert_no_secret(&output);
}

#[test]
fn every_page_and_action_refuses_anonymous_and_cross_site_requests() {
    let env = Env::new();
    let server = Server::start(&env, &["--allow-http"], None);
    let mut owner = set_up_owner(&server);
    let csrf = owner.csrf();
    owner.post("/tenants", &[("csrf", &csrf), ("name", "acme")]);
    let before = env.store().tenants().unwrap();

    let mut anonymous = server.client();
    // Every page (the router's GET routes)…
    for path in [
        "/",
        "/accounts",
        "/t/acme",
        "/t/acme/connection",
        "/t/acme/data",
        "/t/acme/usage",
        "/t/acme/products",
        "/t/acme/products/business",
        "/t/acme/customers",
        "/t/acme/customers/pe-100482",
        "/t/acme/suggestions",
        "/t/acme/review",
        "/t/acme/history",
        "/t/acme/history/1",
    ] {
        let page = anonymous.get(path);
        assert_eq!(
            (page.status, page.location.as_deref()),
            (303, Some("/login")),
            "GET {path}"
        );
        assert!(
            !page.body.contains("acme"),
            "GET {path} shows data: {}",
            page.body
        );
    }
    // …and every action (its POST routes).
    for path in [
        "/tenants",
        "/accounts",
        "/logout",
        "/t/acme/partner",
        "/t/acme/connection",
        "/t/acme/connection/test",
        "/t/acme/data",
        "/t/acme/usage",
        "/t/acme/products/business",
        "/t/acme/products/business/switch",
        "/t/acme/catalog/refresh",
        "/t/acme/customers/pe-100482",
        "/t/acme/customers/pe-100482/switch",
        "/t/acme/suggestions/accept",
        "/t/acme/review",
        "/t/acme/plans/1/decide",
        "/t/acme/plans/1/apply",
        "/t/acme/notifiers",
        "/t/acme/notifiers/1/remove",
        "/t/acme/smtp",
    ] {
        let page = anonymous.post(path, &[("csrf", &csrf), ("name", "intruder")]);
        assert_eq!(page.status, 401, "POST {path}: {}", page.body);
    }
    // Logged in, but the form lacks this session's CSRF token.
    for form in [
        vec![("name", "intruder")],
        vec![("csrf", "forged"), ("name", "intruder")],
    ] {
        let page = owner.post("/tenants", &form);
        assert_eq!(page.status, 403, "{}", page.body);
        assert!(page.body.contains("CSRF"), "{}", page.body);
    }
    assert_eq!(
        env.store().tenants().unwrap(),
        before,
        "a refused form changed nothing"
    );

    // The login and setup forms need their double-submit cookie.
    let mut fresh = server.client();
    let refused = fresh.post(
        "/login",
        &[
            ("form", "x"),
            ("username", OWNER),
            ("password", OWNER_PASSWORD),
        ],
    );
    assert_eq!(refused.status, 403);
    assert!(!fresh.cookies.contains_key("seatsync_session"));

    // Logging out ends the session on the server, not just the cookie.
    let session = owner.cookies.get("seatsync_session").cloned().unwrap();
    let out = owner.post("/logout", &[("csrf", &csrf)]);
    assert_eq!(out.location.as_deref(), Some("/login"));
    let mut replay = server.client();
    replay.cookies.insert("seatsync_session".into(), session);
    assert_eq!(replay.get("/").location.as_deref(), Some("/login"));
}

#[test]
fn a_customer_sees_only_its_own_tenant_read_only_unless_allowed() {
    let env = Env::new();
    let server = Server::start(&env, &["--allow-http"], None);
    let mut owner = set_up_owner(&server);
    let csrf = owner.csrf();
    for name in ["acme", "other"] {
        owner.post("/tenants", &[("csrf", &csrf), ("name", name)]);
    }
    // An organization whose name is markup.
    let store = env.store();
    let usage = seatsync_host::usage::parse_usage(
        b"org_id,org_name,package,active_users\npe-1,<script>alert(1)</script>,business,3\n",
        None,
    )
    .unwrap();
    store.replace_usage("acme", &usage).unwrap();
    // Each tenant has a run in its history.
    store
        .set_data_type("other", seatsync_host::store::DataType::Packages, false)
        .unwrap();
    drop(store);
    env.configure(); // tenant "default", connected and mapped
    // (It needs attention: the demo has a conflict; a run all the same.)
    env.run(&["sync", "--dry-run"]);
    env.run(&["review"]);
    let other_run = env.store().list_runs("default", 1).unwrap()[0].id.0;
    let other_plan = env.store().plans("default", 1).unwrap()[0].id.0;

    let bob = "<script>alert(1)</script>";
    let added = owner.post(
        "/accounts",
        &[
            ("csrf", &csrf),
            ("tenant", "acme"),
            ("username", bob),
            ("password", "bobs password 1"),
        ],
    );
    assert_eq!(
        added.location.as_deref(),
        Some("/accounts?done=added"),
        "{}",
        added.body
    );
    // A name is text, never markup.
    let accounts = owner.get("/accounts");
    assert!(
        accounts
            .body
            .contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        accounts.body
    );
    assert!(!accounts.body.contains(bob));
    for page in ["/t/acme/customers", "/t/acme/usage"] {
        let body = owner.get(page).body;
        assert!(
            body.contains("&lt;script&gt;alert(1)&lt;/script&gt;") || page.ends_with("usage"),
            "{body}"
        );
        assert!(!body.contains("<script>alert(1)"), "{page}: {body}");
    }
    // Only the owner adds accounts for existing tenants.
    let nowhere = owner.post(
        "/accounts",
        &[
            ("csrf", &csrf),
            ("tenant", "nowhere"),
            ("username", "eve"),
            ("password", "eves password 1"),
        ],
    );
    assert_eq!(nowhere.status, 404);

    let mut customer = server.client();
    let logged_in = customer.log_in(bob, "bobs password 1");
    assert_eq!(logged_in.status, 303, "{}", logged_in.body);
    assert_eq!(customer.get("/").location.as_deref(), Some("/t/acme"));
    let own = customer.get("/t/acme");
    assert_eq!(own.status, 200);
    assert!(own.body.contains("Read-only"), "{}", own.body);
    assert!(!own.body.contains(bob) && own.body.contains("&lt;script&gt;"));
    let ccsrf = hidden(&own.body, "csrf").unwrap();

    // Another tenant's pages and runs do not exist for it, by any URL.
    for path in [
        "/t/other".to_string(),
        "/t/other/connection".into(),
        "/t/other/data".into(),
        "/t/default/history".into(),
        format!("/t/default/history/{other_run}"),
        format!("/t/acme/history/{other_run}"),
    ] {
        let page = customer.get(&path);
        assert_eq!(page.status, 404, "GET {path}: {}", page.body);
    }
    assert_eq!(customer.get("/accounts").status, 403);
    for (path, form) in [
        (
            "/t/other/data",
            vec![("csrf", ccsrf.as_str()), ("packages", "on")],
        ),
        ("/t/default/connection/test", vec![("csrf", ccsrf.as_str())]),
        ("/tenants", vec![("csrf", ccsrf.as_str()), ("name", "mine")]),
        (
            "/t/acme/partner",
            vec![("csrf", ccsrf.as_str()), ("manages", "true")],
        ),
    ] {
        let page = customer.post(path, &form);
        assert!(
            matches!(page.status, 403 | 404),
            "POST {path}: {} {}",
            page.status,
            page.body
        );
    }
    assert!(
        !env.store().data_types("other").unwrap().packages,
        "unchanged"
    );
    assert!(!env.store().customer_manages("acme").unwrap());

    // Read-only until the partner allows it.
    let refused = customer.post("/t/acme/data", &[("csrf", &ccsrf)]);
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(
        refused.body.contains("ask your partner"),
        "{}",
        refused.body
    );
    assert!(env.store().data_types("acme").unwrap().user_counts);
    let allowed = owner.post("/t/acme/partner", &[("csrf", &csrf), ("manages", "true")]);
    assert_eq!(allowed.status, 303);
    let saved = customer.post("/t/acme/data", &[("csrf", &ccsrf)]);
    assert_eq!(saved.status, 303, "{}", saved.body);
    assert!(!env.store().data_types("acme").unwrap().user_counts);
    // Still not another tenant's, nor its plans under this tenant's URL.
    let page = customer.post("/t/other/data", &[("csrf", &ccsrf), ("packages", "on")]);
    assert_eq!(page.status, 404);
    assert_eq!(
        customer
            .get(&format!("/t/acme/review?plan={other_plan}"))
            .status,
        404
    );
    assert_eq!(customer.get("/t/default/review").status, 404);
    for action in ["decide", "apply"] {
        let page = customer.post(
            &format!("/t/acme/plans/{other_plan}/{action}"),
            &[("csrf", &ccsrf), ("decision", "approve"), ("all", "true")],
        );
        assert_eq!(page.status, 404, "{action}: {}", page.body);
    }
    let plan = env
        .store()
        .plan("default", seatsync_host::store::PlanId(other_plan))
        .unwrap();
    assert_eq!(
        plan.counts.approved, 0,
        "the other tenant's plan is untouched"
    );
}

#[test]
fn logins_are_rate_limited_and_failures_say_nothing_about_names() {
    let env = Env::new();
    let server = Server::start(&env, &[], None);
    set_up_owner(&server);
    let mut client = server.client();
    let unknown = client.log_in("nobody", OWNER_PASSWORD);
    let wrong = client.log_in(OWNER, "wrong password!");
    assert_eq!((unknown.status, wrong.status), (401, 401));
    assert!(wrong.body.contains("wrong user name or password"));
    assert_eq!(
        unknown.body.replace("nobody", OWNER),
        wrong.body.replace(
            &hidden(&wrong.body, "form").unwrap(),
            &hidden(&unknown.body, "form").unwrap()
        ),
        "an unknown name and a wrong password read the same"
    );
    for _ in 0..4 {
        assert_eq!(client.log_in(OWNER, "wrong password!").status, 401);
    }
    // Five failures: even the right password waits now.
    let limited = client.log_in(OWNER, OWNER_PASSWORD);
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert!(limited.body.contains("too many failed logins"));
    assert!(!client.cookies.contains_key("seatsync_session"));
}

#[test]
fn serve_runs_the_daily_sync_of_connected_tenants_and_stops_cleanly() {
    let env = Env::new();
    env.configure();
    // Two seconds before the slot.
    let server = Server::start(
        &env,
        &["--at", "06:00", "--behind-proxy"],
        Some("2026-11-27T05:59:58Z"),
    );
    // The schedule starts beside the server, so it may print after the link.
    wait_until("the tenant's schedule", Duration::from_secs(30), || {
        server.output().contains("Scheduled tenant 'default'")
    });
    wait_until("the 06:00 run", Duration::from_secs(60), || {
        server
            .output()
            .contains("[default] 2026-11-27 06:00 UTC: run #1")
    });
    let runs = env.store().list_runs("default", 5).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].trigger.as_str(), "daemon");
    assert!(
        env.sim
            .state_dump_for(&common::demo_agreements())
            .to_string()
            .contains("\"quantity\"")
    );

    // The run is in the metrics and the history page.
    let mut owner = set_up_owner(&server);
    let history = owner.get("/t/default/history");
    assert!(
        history.body.contains("#1") && history.body.contains("daemon"),
        "{}",
        history.body
    );
    assert!(
        history
            .body
            .contains("Next scheduled run: 2026-11-28 06:00 UTC"),
        "{}",
        history.body
    );
    let metrics = owner.get("/metrics").body;
    assert!(
        metrics.contains(&format!(
            "seatsync_runs_total{{tenant=\"default\",status=\"{}\"}} 1",
            runs[0].status.as_str()
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains("seatsync_psa_requests_total{tenant=\"default\"}"),
        "{metrics}"
    );

    let (status, output) = server.stop();
    assert_eq!(status, 0, "{output}");
    assert!(output.contains("Stopped."), "{output}");
}

#[test]
fn the_session_cookie_is_secure_behind_a_proxy_and_http_only_always() {
    let env = Env::new();
    for (args, secure) in [(&[][..], false), (&["--behind-proxy"][..], true)] {
        let server = Server::start(&env, args, None);
        if server.setup_link.is_some() {
            set_up_owner(&server);
        }
        let page = server.client().log_in(OWNER, OWNER_PASSWORD);
        let cookie = page
            .set_cookies
            .iter()
            .find(|c| c.starts_with("seatsync_session="))
            .expect("a session cookie")
            .clone();
        assert!(cookie.contains("HttpOnly"), "{cookie}");
        assert!(cookie.contains("SameSite=Strict"), "{cookie}");
        assert_eq!(cookie.contains("Secure"), secure, "{cookie}");
        drop(server);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_certificate_it_serves_https_only_and_its_cookies_are_secure() {
    use std::sync::Arc;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

    let env = Env::new();
    let cert = env.file("cert.pem", seatsync_fixtures::tls::SERVER_CERT_PEM);
    let key = env.file("key.pem", seatsync_fixtures::tls::SERVER_KEY_PEM);
    let args = [
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ];
    let server = tokio::task::block_in_place(|| Server::start(&env, &args, None));
    assert!(
        server.base.starts_with("https://127.0.0.1:"),
        "{}",
        server.base
    );
    let link = server.setup_link.clone().unwrap();
    assert!(link.starts_with("https://"), "{link}");
    let addr = server.base.trim_start_matches("https://").to_owned();

    // A client that trusts only the test CA.
    let mut roots = tokio_rustls::rustls::RootCertStore::empty();
    roots
        .add(
            CertificateDer::from_pem_slice(seatsync_fixtures::tls::TEST_CA_PEM.as_bytes()).unwrap(),
        )
        .unwrap();
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = connector
        .connect(name, tcp)
        .await
        .expect("a TLS handshake with the test CA");
    tls.write_all(
        format!("GET /login HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut answer = String::new();
    tls.read_to_string(&mut answer).await.unwrap_or_default();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let cookie = answer
        .lines()
        .find(|l| {
            l.to_ascii_lowercase()
                .starts_with("set-cookie: seatsync_form=")
        })
        .expect("the login form's cookie");
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );

    // Plain HTTP to the same port gets no page.
    let mut plain = tokio::net::TcpStream::connect(&addr).await.unwrap();
    plain
        .write_all(b"GET /login HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut bytes = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(15), plain.read_to_end(&mut bytes)).await;
    assert!(
        !String::from_utf8_lossy(&bytes).contains("seatsync"),
        "plain HTTP was served"
    );
    drop(server);
}

#[test]
fn a_certificate_that_cannot_be_used_is_refused_before_anything_starts() {
    let env = Env::new();
    let cert = env.file("cert.pem", "not a certificate");
    let key = env.file("key.pem", seatsync_fixtures::tls::SERVER_KEY_PEM);
    let run = env.run(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    assert_eq!(run.status, 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("cert.pem") && run.stderr.contains("certificate"),
        "{}",
        run.stderr
    );
    let only_cert = env.run(&["serve", "--tls-cert", cert.to_str().unwrap()]);
    assert_ne!(only_cert.status, 0);
    assert!(
        only_cert.stderr.contains("--tls-key"),
        "{}",
        only_cert.stderr
    );
    assert!(!env.db().exists(), "nothing was stored");
}

#[test]
fn serve_demo_is_a_whole_console_over_the_simulator_that_leaves_nothing_behind() {
    let env = Env::new();
    let server = Server::start(&env, &["--demo"], None);
    let output = server.output();
    let site = output
        .lines()
        .find_map(|l| l.trim().strip_prefix("Site: "))
        .expect("the demo prints the simulator's site")
        .to_owned();
    assert!(site.starts_with("http://127.0.0.1:"), "{output}");
    let mut owner = set_up_owner(&server);
    let csrf = owner.csrf();
    // The demo tenant is there with the demo's usage, waiting to connect.
    let overview = owner.get("/t/demo");
    assert!(
        overview.body.contains("13 organizations, 3 packages"),
        "{}",
        overview.body
    );
    let connected = owner.post(
        "/t/demo/connection",
        &demo_connection(&csrf, &site, DEMO_PRIVATE_KEY),
    );
    assert_eq!(connected.status, 303, "{}", connected.body);
    let products = owner.get("/t/demo/products/business");
    assert!(
        products.body.contains("active products match"),
        "{}",
        products.body
    );
    let (status, output) = server.stop();
    assert_eq!(status, 0, "{output}");
    assert!(
        output.contains("the temporary database is removed"),
        "{output}"
    );
    assert!(!env.db().exists(), "the demo never touches --db");
}
