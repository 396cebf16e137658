//! The connector component in the sandbox, against a loopback ConnectWise:
//! results, errors, the site policy, TLS, counting and secrets.

mod runtime_support;

use runtime_support::*;
use seatsync_contract::ConnectorError;
use seatsync_host::runtime::NetworkPolicy;

fn http_policy(server: &TestServer) -> NetworkPolicy {
    policy_of("http", &server.authority(), true)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_connection_succeeds_and_is_logged() {
    let server = TestServer::start(connectwise).await;
    let site = format!("http://{}", server.authority());
    let call = runtime()
        .test_connection(&http_policy(&server), &connection(&site))
        .await
        .expect("the call completes");
    let info = call.value.expect("the connection works");
    assert_eq!(info.endpoint, format!("{site}{API}"));
    assert_eq!(info.psa_version, "v2025.1.10431");
    assert_eq!(info.fact("codebase"), Some("v4_6_release/"));
    assert_eq!(info.fact("deployment"), Some("on-premise"));
    assert!(
        info.learned_settings.is_empty(),
        "no codebase was asked for"
    );
    // The system info, then one probe per read right the sync needs.
    assert_eq!(call.requests, 5);
    assert_eq!(call.writes, 0);
    assert_eq!(call.exchanges.len(), 5);
    let exchange = &call.exchanges[0];
    assert_eq!(exchange.method, "GET");
    assert_eq!(exchange.url, format!("{site}{API}/system/info"));
    assert_eq!(exchange.status, Some(200));
    assert!(!exchange.denied && exchange.error.is_none());
    assert!(call.exchanges.iter().all(|e| e.status == Some(200)));
    let seen = server.seen();
    assert_eq!(seen.len(), 5);
    assert_eq!(seen[0].header("clientId"), Some(CLIENT_ID));
    assert!(
        call.log.iter().any(|l| l.message.contains("connected to")),
        "{:#?}",
        call.log
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_are_an_unauthorized_error() {
    let server = TestServer::start(connectwise).await;
    let site = format!("http://{}", server.authority());
    let mut conn = connection(&site);
    conn.set("private-key", "WRONG-PRIVATE-KEY-0000");
    let call = runtime()
        .test_connection(&http_policy(&server), &conn)
        .await
        .expect("the call completes");
    match &call.value {
        Err(ConnectorError::Unauthorized(message)) => {
            assert!(!message.contains("WRONG-PRIVATE-KEY"), "{message}")
        }
        other => panic!("expected unauthorized, got {other:?}"),
    }
    assert_eq!(call.requests, 1, "a 401 is not retried");
    assert_eq!(call.exchanges[0].status, Some(401));
    let everything = format!("{:?}{:?}{:?}", call.value, call.log, call.exchanges);
    assert!(!everything.contains("WRONG-PRIVATE-KEY"), "{everything}");
}

/// The connection names one site, the policy another: the sandbox refuses
/// every attempt, the plugin sees a transport error, nothing reaches the
/// server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_to_another_authority_are_refused() {
    let server = TestServer::start(connectwise).await;
    let policy = policy_of("http", &format!("localhost:{}", server.addr.port()), true);
    let conn = connection(&format!("http://{}", server.authority()));
    let call = runtime()
        .test_connection(&policy, &conn)
        .await
        .expect("the call completes");
    match &call.value {
        Err(ConnectorError::Transport(message)) => {
            assert!(message.to_lowercase().contains("denied"), "{message}")
        }
        other => panic!("expected a transport error, got {other:?}"),
    }
    assert!(server.seen().is_empty(), "nothing may reach the server");
    assert_eq!(call.requests, 0, "refused requests are not sent");
    assert!(!call.exchanges.is_empty());
    for exchange in &call.exchanges {
        assert!(exchange.denied, "{exchange:?}");
        assert_eq!(exchange.status, None);
        let error = exchange.error.as_deref().unwrap();
        assert!(
            error.contains(&format!("localhost:{}", server.addr.port())),
            "{error}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_is_refused_unless_allowed() {
    let server = TestServer::start(connectwise).await;
    let policy = policy_of("http", &server.authority(), false);
    let conn = connection(&format!("http://{}", server.authority()));
    let call = runtime()
        .test_connection(&policy, &conn)
        .await
        .expect("the call completes");
    assert!(
        matches!(&call.value, Err(ConnectorError::Transport(_))),
        "{:?}",
        call.value
    );
    assert!(server.seen().is_empty());
    assert!(call.exchanges.iter().all(|e| {
        e.denied
            && e.error
                .as_deref()
                .unwrap()
                .contains("plain http is not allowed")
    }));
    // The same site with http allowed works.
    let allowed = NetworkPolicy {
        allow_http: true,
        ..policy
    };
    let call = runtime().test_connection(&allowed, &conn).await.unwrap();
    assert!(call.value.is_ok(), "{:?}", call.value);
}

/// The policy comes from the connector's plan (for this 0.1 component, the
/// 0.1 contract's site rules), checked by the host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_network_policy_follows_the_connectors_plan() {
    let cloud = policy("na.myconnectwise.net", false).await.unwrap();
    assert_eq!(cloud.endpoints[0].authority, "api-na.myconnectwise.net");
    assert!(cloud.check("https", "api-na.myconnectwise.net").is_ok());
    assert!(cloud.check("https", "API-NA.myconnectwise.net:443").is_ok());
    assert!(cloud.check("http", "api-na.myconnectwise.net").is_err());
    assert!(cloud.check("https", "na.myconnectwise.net").is_err());
    assert!(
        cloud
            .check("https", "api-na.myconnectwise.net:8443")
            .is_err()
    );
    assert!(
        cloud
            .check("https", "evil@api-na.myconnectwise.net")
            .is_err()
    );
    assert!(cloud.check("ftp", "api-na.myconnectwise.net").is_err());
    assert!(
        cloud.secrets.contains(&expected_authorization()),
        "the Basic value is redacted"
    );

    let onprem = policy("https://cw.example.com:8443/", false).await.unwrap();
    assert_eq!(onprem.endpoints[0].authority, "cw.example.com:8443");
    assert!(onprem.check("https", "cw.example.com:8443").is_ok());
    assert!(onprem.check("https", "cw.example.com").is_err());

    assert!(policy("http://127.0.0.1:8080", false).await.is_err());
    let local = policy("http://127.0.0.1:8080", true).await.unwrap();
    assert!(local.check("http", "127.0.0.1:8080").is_ok());
    assert!(policy("not a host", true).await.is_err());
}

/// A sync that updates one addition and creates another: the host counts
/// three requests and two writes, as the connector does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_and_writes_are_counted() {
    use seatsync_contract::{Decimal, LineOutcome, SyncLine, SyncRequest};
    let server = TestServer::start(connectwise).await;
    let site = format!("http://{}", server.authority());
    let line = |key: &str, product_id, quantity| SyncLine {
        package_key: key.into(),
        product_id,
        quantity,
        options: Default::default(),
        description: None,
    };
    let mut request = SyncRequest {
        company_id: 250,
        contract_id: 812,
        lines: vec![line("business", 10, 7), line("enterprise", 11, 2)],
        dry_run: true,
        today: "2026-11-27".into(),
        start_date: "2026-11-27".into(),
        update_quantities: true,
        create_missing: true,
    };

    let dry = runtime()
        .sync_organization(&http_policy(&server), &connection(&site), &request)
        .await
        .unwrap();
    let report = dry.value.expect("the dry run works");
    assert_eq!((dry.requests, dry.writes), (1, 0));
    assert_eq!((report.requests, report.writes), (1, 0));

    request.dry_run = false;
    let call = runtime()
        .sync_organization(&http_policy(&server), &connection(&site), &request)
        .await
        .unwrap();
    let report = call.value.expect("the sync works");
    assert_eq!(
        report.lines.iter().map(|l| &l.outcome).collect::<Vec<_>>(),
        [
            &LineOutcome::Updated {
                previous_quantity: Decimal("3".into())
            },
            &LineOutcome::Created
        ],
        "{:#?}",
        call.exchanges
    );
    assert_eq!(
        (call.requests, call.writes),
        (3, 2),
        "{:#?}",
        call.exchanges
    );
    assert_eq!((report.requests, report.writes), (3, 2));
    let methods: Vec<(&str, Option<u16>)> = call
        .exchanges
        .iter()
        .map(|e| (e.method.as_str(), e.status))
        .collect();
    assert_eq!(
        methods,
        [
            ("GET", Some(200)),
            ("PATCH", Some(200)),
            ("POST", Some(201))
        ]
    );
    let seen = server.seen();
    assert_eq!(seen.len(), 4, "one dry-run GET, then GET, PATCH, POST");
    assert_eq!(seen[2].method, "PATCH");
    assert_eq!(
        seen[2].body,
        r#"[{"op":"replace","path":"quantity","value":7}]"#
    );
    assert_eq!(seen[3].method, "POST");
    assert!(seen[3].body.starts_with('{'), "{}", seen[3].body);
}

/// The private key and the Authorization value never appear in what the
/// host hands back or logs, on success or failure.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_appear_in_logs_or_exchanges() {
    let server = TestServer::start(|request: &Seen| {
        if request.path().ends_with("/company/companies") && !request.target.contains("pageSize=1")
        {
            // A server error, retried, then reported.
            return Reply::json(500, r#"{"code":"Boom","message":"internal"}"#);
        }
        connectwise(request)
    })
    .await;
    let site = format!("http://{}", server.authority());
    let policy = http_policy(&server);
    let conn = connection(&site);
    let ok = runtime().test_connection(&policy, &conn).await.unwrap();
    assert!(ok.value.is_ok());
    let products = runtime().list_products(&policy, &conn).await.unwrap();
    assert!(matches!(products.value, Err(ConnectorError::NotFound(_))));
    let denied = runtime()
        .list_contracts(&policy_of("http", "127.0.0.2:1", true), &conn, Some(250))
        .await
        .unwrap();
    assert!(denied.value.is_err());

    // The server did get the key: the search below can find it.
    assert!(
        server
            .seen()
            .iter()
            .any(|s| s.header("authorization") == Some(expected_authorization().as_str()))
    );
    for (name, text) in [
        (
            "ok",
            format!("{:?} {:?} {:?}", ok.value, ok.log, ok.exchanges),
        ),
        (
            "products",
            format!(
                "{:?} {:?} {:?}",
                products.value, products.log, products.exchanges
            ),
        ),
        (
            "denied",
            format!("{:?} {:?} {:?}", denied.value, denied.log, denied.exchanges),
        ),
    ] {
        assert!(!text.is_empty());
        assert!(!leaks(&text), "{name} leaks a secret: {text}");
    }
}

/// An on-premise server behind a private CA: refused with the public roots,
/// accepted with the CA file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_ca_file_is_trusted() {
    let server = TestServer::start_tls(connectwise).await;
    let site = format!("https://{}", server.authority());
    let conn = connection(&site);
    let policy = policy(&site, false).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, TEST_CA_PEM).unwrap();
    let call = runtime()
        .test_connection(&policy.clone().with_ca_file(&ca), &conn)
        .await
        .unwrap();
    let info = call.value.expect("the private CA is trusted");
    assert_eq!(info.endpoint, format!("{site}{API}"));
    assert_eq!(call.exchanges[0].url, format!("{site}{API}/system/info"));

    // Without it the certificate is not trusted, which no retry changes:
    // the host ends the call at once and says what to do.
    let error = runtime().test_connection(&policy, &conn).await.unwrap_err();
    assert_eq!(
        error,
        seatsync_host::runtime::RuntimeError::Unreachable {
            site: server.authority(),
            reason: seatsync_host::runtime::UnreachableReason::UntrustedCertificate(
                "it is signed by a certificate authority this host does not trust".into()
            ),
        }
    );
    assert!(error.to_string().contains("--ca-file"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_ca_files_are_reported_before_running() {
    use seatsync_host::runtime::RuntimeError;
    let dir = tempfile::tempdir().unwrap();
    let conn = connection("https://127.0.0.1:9");
    let policy = policy_of("https", "127.0.0.1:9", false);
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "just some text\n").unwrap();
    let broken = dir.path().join("broken.pem");
    std::fs::write(
        &broken,
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let garbled = dir.path().join("garbled.pem");
    std::fs::write(
        &garbled,
        "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    for (path, needle) in [
        (dir.path().join("missing.pem"), "cannot be read"),
        (empty, "holds no certificate"),
        (broken, "not a usable CA certificate"),
        (garbled, "not valid PEM"),
    ] {
        let err = runtime()
            .test_connection(&policy.clone().with_ca_file(&path), &conn)
            .await
            .unwrap_err();
        match &err {
            RuntimeError::CaFile { path: p, reason } => {
                assert_eq!(p, &path);
                assert!(reason.contains(needle), "{}: {reason}", path.display());
            }
            other => panic!("expected a CA file error, got {other:?}"),
        }
        assert!(err.to_string().contains(&path.display().to_string()));
    }
}
