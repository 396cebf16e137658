//! A tiny HTTP/1.1 server on 127.0.0.1 for the runtime tests, plain or TLS,
//! answering with a closure and recording what it was sent.
//!
//! (The ConnectWise simulator in `fixtures/` is not written yet; this server
//! is all these tests need: one request per connection, `Connection: close`.)

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

// Not every test binary that includes this module uses all three.
#[allow(unused_imports)]
pub use seatsync_fixtures::tls::{SERVER_CERT_PEM, SERVER_KEY_PEM, TEST_CA_PEM};

/// A request as the server read it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query, as on the request line.
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
}

/// What to answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    /// Wait this long before answering.
    pub delay: Duration,
}

impl Reply {
    pub fn json(status: u16, body: impl Into<String>) -> Reply {
        Reply {
            status,
            body: body.into().into_bytes(),
            delay: Duration::ZERO,
        }
    }
}

type Handler = Arc<dyn Fn(&Seen) -> Reply + Send + Sync>;

/// The server; stops when dropped (or when the test's Tokio runtime ends).
pub struct TestServer {
    pub addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    task: JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    /// A plain-http server.
    pub async fn start(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> TestServer {
        Self::start_inner(Arc::new(handler), None).await
    }

    /// An https server with [`SERVER_CERT_PEM`].
    pub async fn start_tls(handler: impl Fn(&Seen) -> Reply + Send + Sync + 'static) -> TestServer {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let certs = vec![CertificateDer::from_pem_slice(SERVER_CERT_PEM.as_bytes()).unwrap()];
        let key = PrivateKeyDer::from_pem_slice(SERVER_KEY_PEM.as_bytes()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        Self::start_inner(Arc::new(handler), Some(acceptor)).await
    }

    async fn start_inner(handler: Handler, tls: Option<tokio_rustls::TlsAcceptor>) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    return;
                };
                let handler = handler.clone();
                let seen = seen2.clone();
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(socket).await {
                                serve(stream, handler, seen).await;
                            }
                        }
                        None => serve(socket, handler, seen).await,
                    }
                });
            }
        });
        TestServer { addr, seen, task }
    }

    /// `127.0.0.1:<port>`.
    pub fn authority(&self) -> String {
        self.addr.to_string()
    }

    /// Every request read so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    handler: Handler,
    seen: Arc<Mutex<Vec<Seen>>>,
) {
    let mut buf = Vec::new();
    let head_end = loop {
        let mut chunk = [0u8; 4096];
        let Ok(n) = stream.read(&mut chunk).await else {
            return;
        };
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut request_line = lines.next().unwrap_or("").split(' ');
    let method = request_line.next().unwrap_or("").to_string();
    let target = request_line.next().unwrap_or("").to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    let mut body = buf[head_end + 4..].to_vec();
    // Read the whole body before answering, as a real server does.
    loop {
        let complete = if chunked {
            body.ends_with(b"0\r\n\r\n")
        } else {
            body.len() >= length
        };
        if complete {
            break;
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    if chunked {
        body = dechunk(&body);
    }
    let request = Seen {
        method,
        target,
        headers,
        body: String::from_utf8_lossy(&body).to_string(),
    };
    seen.lock().unwrap().push(request.clone());
    let reply = handler(&request);
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let head = format!(
        "HTTP/1.1 {} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reply.status,
        reply.body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(&reply.body).await;
    let _ = stream.flush().await;
    let _ = stream.shutdown().await;
}

/// Decodes a chunked body (sizes in hex, no extensions or trailers).
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(std::str::from_utf8(&raw[..i]).unwrap_or("0").trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = i + 2;
        out.extend_from_slice(&raw[start..(start + size).min(raw.len())]);
        raw = &raw[(start + size + 2).min(raw.len())..];
    }
    out
}

// ---------------------------------------------------------------------------
// ConnectWise-ish answers and the test connection.

use seatsync_contract::{Endpoint, Settings};
use seatsync_host::runtime::{NetworkPolicy, Runtime, RuntimeError, RuntimeOptions};
use seatsync_plugin::model::Connection;

pub const COMPANY: &str = "contoso";
pub const PUBLIC_KEY: &str = "PubKey123";
/// Searched for in every log line and exchange: it must never appear.
pub const PRIVATE_KEY: &str = "TEST-PRIVATE-KEY-7f3c9a1e";
pub const CLIENT_ID: &str = "0b7e4c1a-client";

/// The settings of a connection to `site` with the test credentials.
pub fn connection(site: &str) -> Settings {
    [
        ("site", site),
        ("company-id", COMPANY),
        ("public-key", PUBLIC_KEY),
        ("private-key", PRIVATE_KEY),
        ("client-id", CLIENT_ID),
    ]
    .into_iter()
    .collect()
}

/// The network policy the runtime's connector plans for `site`, checked by
/// the host as `seatsync` does.
pub async fn policy(site: &str, allow_http: bool) -> Result<NetworkPolicy, RuntimeError> {
    let plan = runtime()
        .plan_network(&connection(site))
        .await?
        .value
        .map_err(|e| RuntimeError::InvalidSite(e.to_string()))?;
    NetworkPolicy::from_plan(&plan, allow_http)
}

/// A policy allowing exactly `scheme://authority`, with the test
/// credentials' secrets, built by hand (no plan).
pub fn policy_of(scheme: &str, authority: &str, allow_http: bool) -> NetworkPolicy {
    let auth = expected_authorization();
    NetworkPolicy {
        endpoints: vec![Endpoint::api(scheme, authority)],
        allow_http,
        ca_file: None,
        interactive: false,
        secrets: vec![auth.trim_start_matches("Basic ").to_string(), auth],
    }
}

/// The `Authorization` value the connector must send.
pub fn expected_authorization() -> String {
    let conn = Connection {
        site: "127.0.0.1".into(),
        company_id: COMPANY.into(),
        public_key: PUBLIC_KEY.into(),
        private_key: PRIVATE_KEY.into(),
        client_id: CLIENT_ID.into(),
        codebase: None,
    };
    let endpoint = seatsync_plugin::connection::Endpoint::new(&conn).unwrap();
    let header = endpoint
        .headers()
        .into_iter()
        .find(|h| h.name == "Authorization")
        .unwrap();
    let value = header.wire_value().to_string();
    assert!(value.starts_with("Basic ") && value.len() > 20);
    value
}

pub const API: &str = "/v4_6_release/apis/3.0";

pub const SYSTEM_INFO: &str = r#"{"version":"v2025.1.10431","isCloud":false,"serverTimeZone":"Eastern Standard Time","cloudRegion":""}"#;

/// A ConnectWise that knows the test credentials: `/system/info`, the
/// additions of agreement 812 (product 10 at quantity 3, id 5001), PATCH
/// and POST of additions. Anything else is a 404.
pub fn connectwise(request: &Seen) -> Reply {
    if request.header("authorization") != Some(expected_authorization().as_str()) {
        return Reply::json(
            401,
            r#"{"code":"Unauthorized","message":"The credentials are not valid."}"#,
        );
    }
    let path = request.path();
    // test-connection's rights check reads one id of each list.
    let probe = request.target.ends_with("?fields=id&pageSize=1");
    match (request.method.as_str(), path.strip_prefix(API)) {
        ("GET", Some("/system/info")) => Reply::json(200, SYSTEM_INFO),
        ("GET", Some("/procurement/catalog")) if probe => Reply::json(200, r#"[{"id":10}]"#),
        ("GET", Some("/company/companies")) if probe => Reply::json(200, r#"[{"id":250}]"#),
        ("GET", Some("/finance/agreements")) if probe => Reply::json(200, r#"[{"id":812}]"#),
        ("GET", Some("/finance/agreements/812/additions")) => Reply::json(
            200,
            r#"[{"id":5001,"product":{"id":10,"identifier":"EMAIL-SEC"},"quantity":3,"effectiveDate":"2025-01-01T00:00:00Z","cancelledDate":null}]"#,
        ),
        ("PATCH", Some("/finance/agreements/812/additions/5001")) => {
            Reply::json(200, r#"{"id":5001,"product":{"id":10},"quantity":7}"#)
        }
        ("POST", Some("/finance/agreements/812/additions")) => {
            Reply::json(201, r#"{"id":5002,"product":{"id":11},"quantity":2}"#)
        }
        _ => Reply::json(404, r#"{"code":"NotFound","message":"Not found."}"#),
    }
}

/// Where the tests cache the compiled component, shared by all test
/// binaries (the file name is keyed by engine and component).
pub fn shared_cache_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("seatsync-runtime-cache")
}

/// One runtime with the default limits for a whole test binary.
pub fn runtime() -> &'static Runtime {
    static RUNTIME: std::sync::OnceLock<Runtime> = std::sync::OnceLock::new();
    RUNTIME.get_or_init(|| {
        Runtime::new(
            seatsync_host::DEFAULT_COMPONENT,
            RuntimeOptions {
                cache_dir: Some(shared_cache_dir()),
                ..RuntimeOptions::default()
            },
        )
        .expect("the embedded component loads")
    })
}

/// Every string in `haystack` that contains the private key or the
/// Authorization value.
pub fn leaks(haystack: &str) -> bool {
    let auth = expected_authorization();
    let encoded = auth.trim_start_matches("Basic ");
    haystack.contains(PRIVATE_KEY) || haystack.contains(encoded)
}
