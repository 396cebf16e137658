//! Outbound HTTP for the guest: the host's sender hook, the TLS
//! configuration and the response size cap.
//!
//! Every request the component makes through `wasi:http/outgoing-handler`
//! reaches [`HttpHooks::send_request`]. The hook checks it against the
//! call's [`NetworkPolicy`] (refusing anything else with `HttpRequestDenied`,
//! which the guest sees as a transport error), clamps the guest's timeouts to
//! the host's maxima, records the exchange (method, URL, status, duration;
//! never a header) and counts requests and writes.
//!
//! Before it is sent, a request waits for its site's turn under the
//! runtime's pacing ([`super::pacing`]). The [`Sender`] then sends it over
//! one of the runtime's pooled connections ([`super::pool`]), opening one
//! when none is idle.

use std::future::Future;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::num::NonZeroU32;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::SendRequest;
use hyper::http::uri::Scheme;
use hyper::{Request, Response};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use seatsync_contract::EndpointRole;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use super::RuntimeError;
use super::journal::{JournalWrite, WriteJournal, is_write};
use super::pacing::{Pacer, Turn, retry_after};
use super::policy::{NetworkPolicy, normalize_authority};
use super::pool::{Pool, SiteKey};
use super::sandbox::Redactor;

/// One HTTP exchange of a call, as the host saw it. Headers (and so the
/// `Authorization` header) are never recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exchange {
    /// The request method, e.g. `GET`.
    pub method: String,
    /// The request URL, without user information; secrets of the call's
    /// connection are replaced with `[redacted]`.
    pub url: String,
    /// The response status, when a response arrived.
    pub status: Option<u16>,
    /// From the start of the request to the response head (or the failure).
    pub duration: Duration,
    /// Why no response arrived (refused by the sandbox, connect or TLS
    /// failure, timeout, response too large).
    pub error: Option<String>,
    /// Whether the sandbox refused the request (it was never sent).
    pub denied: bool,
    /// The write journal's entry for this request, when it was a write
    /// recorded before it went out ([`super::journal`]).
    pub journal_entry: Option<i64>,
}

/// Exchanges and counters of one call, shared between the store and the
/// request tasks.
#[derive(Debug, Default)]
pub(crate) struct HttpRecord {
    pub(crate) exchanges: Vec<Exchange>,
    pub(crate) dropped: usize,
    /// Requests sent (counted as they go out, so a call stopped while one
    /// was on the wire still counts it).
    pub(crate) requests: u32,
    pub(crate) writes: u32,
    /// Requests handed to the host and not yet answered (or given up): a
    /// call that returns with one still pending leaves its instance
    /// unusable for another call (`warm`).
    pub(crate) in_flight: usize,
}

/// Counts a request as in flight until dropped (answered, failed, or
/// aborted with its call).
struct InFlight(Arc<Mutex<HttpRecord>>);

impl InFlight {
    fn start(record: &Arc<Mutex<HttpRecord>>) -> InFlight {
        lock(record).in_flight += 1;
        InFlight(record.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let mut r = lock(&self.0);
        r.in_flight = r.in_flight.saturating_sub(1);
    }
}

/// The record, whatever a panicking holder left (counters only).
pub(crate) fn lock(record: &Mutex<HttpRecord>) -> std::sync::MutexGuard<'_, HttpRecord> {
    record.lock().unwrap_or_else(|p| p.into_inner())
}

/// What the record holds at the end of a call, leaving it empty.
pub(crate) fn take(record: &Mutex<HttpRecord>) -> HttpRecord {
    std::mem::take(&mut *lock(record))
}

/// Ends a call at once from inside its HTTP hooks, when a request failed in
/// a way no retry can change (see [`unreachable`]).
#[derive(Debug, Default)]
pub(crate) struct CallAbort {
    notify: tokio::sync::Notify,
    reason: Mutex<Option<RuntimeError>>,
}

impl CallAbort {
    /// Ends the call with `reason` (the first reason wins).
    fn abort(&self, reason: RuntimeError) {
        let mut slot = self.reason.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(reason);
        }
        self.notify.notify_one();
    }

    /// Resolves with the reason once the call is to end.
    pub(crate) async fn aborted(&self) -> RuntimeError {
        loop {
            if let Some(reason) = self
                .reason
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
            {
                return reason;
            }
            self.notify.notified().await;
        }
    }
}

/// Why a site cannot be reached in a way that retrying does not change, with
/// what to do about it: `None` for failures that may pass (a timeout, a
/// reset, a refused connection outside an interactive call).
pub(crate) fn unreachable(
    error: &HttpError,
    interactive: bool,
    authority: &str,
) -> Option<RuntimeError> {
    let site = authority.to_string();
    let hint = |reason: UnreachableReason| {
        Some(RuntimeError::Unreachable {
            site: site.clone(),
            reason,
        })
    };
    match error {
        HttpError::Connect(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => interactive
            .then(|| RuntimeError::Unreachable {
                site: site.clone(),
                reason: UnreachableReason::Refused,
            }),
        HttpError::Connect(io) if interactive && is_name_lookup_failure(io) => {
            hint(UnreachableReason::NameNotFound)
        }
        HttpError::Tls(io) => {
            let rustls_error = io
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>());
            match rustls_error {
                Some(rustls::Error::InvalidCertificate(cert)) => hint(
                    UnreachableReason::UntrustedCertificate(certificate_problem(cert)),
                ),
                Some(rustls::Error::InvalidMessage(_)) => hint(UnreachableReason::NotTls),
                _ => None,
            }
        }
        _ => None,
    }
}

/// What is wrong with a server's certificate, in words.
fn certificate_problem(error: &rustls::CertificateError) -> String {
    use rustls::CertificateError as C;
    match error {
        C::UnknownIssuer | C::BadSignature => {
            "it is signed by a certificate authority this host does not trust".into()
        }
        C::Expired | C::ExpiredContext { .. } => "it has expired".into(),
        C::NotValidYet | C::NotValidYetContext { .. } => "it is not valid yet".into(),
        C::NotValidForName | C::NotValidForNameContext { .. } => {
            "it was issued for another host name".into()
        }
        other => format!("it was rejected ({other:?})"),
    }
}

/// Whether a connect error is a failed name lookup (the host name does
/// not resolve), which std reports as an uncategorized error.
fn is_name_lookup_failure(io: &std::io::Error) -> bool {
    let text = io.to_string();
    text.contains("failed to lookup address") || text.contains("Name or service not known")
}

/// Why a site cannot be reached ([`RuntimeError::Unreachable`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnreachableReason {
    /// Nothing accepts connections on the host and port.
    Refused,
    /// The host name does not resolve.
    NameNotFound,
    /// The server answered the TLS handshake with something that is not
    /// TLS: it speaks plain HTTP.
    NotTls,
    /// The server's certificate is not trusted, and why.
    UntrustedCertificate(String),
}

impl std::fmt::Display for UnreachableReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UnreachableReason::Refused => f.write_str(
                "the connection was refused: nothing accepts connections on that host and port; check the site \
                 (and its port) and that the server is running",
            ),
            UnreachableReason::NameNotFound => f.write_str(
                "the host name does not resolve: check the spelling of the site",
            ),
            UnreachableReason::NotTls => f.write_str(
                "the server does not speak TLS: is it an http:// site? Plain http (--allow-http) is for \
                 loopback tests only; a real ConnectWise server answers https",
            ),
            UnreachableReason::UntrustedCertificate(problem) => write!(
                f,
                "the server's TLS certificate is not trusted: {problem}. If it is an on-premise server whose \
                 certificate is signed by your own certificate authority, give that CA's PEM file with --ca-file"
            ),
        }
    }
}

/// The host's HTTP limits for one call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct HttpLimits {
    pub(crate) connect_timeout: Duration,
    pub(crate) first_byte_timeout: Duration,
    pub(crate) between_bytes_timeout: Duration,
    pub(crate) max_response_bytes: u64,
    pub(crate) max_exchanges: usize,
}

/// The `wasi:http` hooks of one call's store.
pub(crate) struct HttpHooks {
    pub(crate) policy: NetworkPolicy,
    pub(crate) sender: Sender,
    pub(crate) limits: HttpLimits,
    pub(crate) record: Arc<Mutex<HttpRecord>>,
    pub(crate) redactor: Arc<Redactor>,
    /// A dry run: the host refuses writes itself rather than trusting the
    /// component not to send them.
    pub(crate) read_only: bool,
    /// Ends the call when a request fails in a way retrying cannot change.
    pub(crate) abort: Arc<CallAbort>,
    /// Where writes are recorded before they are sent, when the caller
    /// keeps a journal.
    pub(crate) journal: Option<Arc<dyn WriteJournal>>,
}

type SendFuture = Box<
    dyn Future<
            Output = wasmtime_wasi_http::Result<(
                Response<WasiBody>,
                Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
            )>,
        > + Send,
>;

impl WasiHttpHooks for HttpHooks {
    fn send_request(
        &mut self,
        request: Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> SendFuture {
        let started = Instant::now();
        let method = request.method().as_str().to_string();
        let uri = request.uri();
        let scheme = uri.scheme_str().unwrap_or("").to_string();
        let authority = uri
            .authority()
            .map(|a| a.as_str())
            .unwrap_or("")
            .to_string();
        let url = self.redactor.redact(&display_url(uri));

        // Only the API's data can change: a POST to a sign-in endpoint
        // (an OAuth2 token) is no write.
        let (is_write, refusal) = match self.policy.check(&scheme, &authority) {
            Err(reason) => (false, Some(reason)),
            Ok(role) => {
                let is_write = role == EndpointRole::Api && is_write(method.as_str());
                let refusal = (self.read_only && is_write)
                    .then(|| format!("a dry run may not write, and this is a {method}"));
                (is_write, refusal)
            }
        };
        if let Some(reason) = refusal {
            tracing::warn!(
                target: "seatsync::http",
                %method, %url, %reason,
                "request refused by the sandbox"
            );
            record(
                &self.record,
                self.limits.max_exchanges,
                Exchange {
                    method,
                    url,
                    status: None,
                    duration: started.elapsed(),
                    error: Some(format!("refused by the sandbox: {reason}")),
                    denied: true,
                    journal_entry: None,
                },
            );
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }

        let timeouts = clamp(options, &self.limits);
        let sender = self.sender.clone();
        let rec = self.record.clone();
        let limits = self.limits;
        let interactive = self.policy.interactive;
        let abort = self.abort.clone();
        let journal = self.journal.clone().filter(|_| is_write);
        // Before returning: the future may not be polled before the guest
        // returns from its call.
        let in_flight = InFlight::start(&rec);
        Box::new(async move {
            let _in_flight = in_flight;
            // A write is recorded durably before it goes out; if it cannot
            // be, it does not go out.
            let (request, journal_entry) = match journal {
                None => (request, None),
                Some(journal) => match journal_write(journal, request, &method, &url).await {
                    Ok((request, entry)) => (request, Some(entry)),
                    Err(reason) => {
                        tracing::error!(target: "seatsync::http", %method, %url, %reason, "write not sent");
                        record(
                            &rec,
                            limits.max_exchanges,
                            Exchange {
                                method,
                                url,
                                status: None,
                                duration: started.elapsed(),
                                error: Some(reason),
                                denied: true,
                                journal_entry: None,
                            },
                        );
                        return Err(HttpError::HttpRequestDenied);
                    }
                },
            };
            // Waiting for the site's turn is not part of the exchange.
            let (site, waited, turn) = sender.pace(&scheme, &authority).await;
            let started = started + waited;
            {
                let mut r = lock(&rec);
                r.requests = r.requests.saturating_add(1);
                if is_write {
                    r.writes = r.writes.saturating_add(1);
                }
            }
            let result = sender
                .send(request, timeouts, limits.max_response_bytes)
                .await;
            let duration = started.elapsed();
            let (status, error) = match &result {
                Ok((response, _)) => (Some(response.status().as_u16()), None),
                Err(e) => (None, Some(e.to_string())),
            };
            // Every call to the site hears of a 429 to any of them.
            if let Ok((response, _)) = &result {
                let throttled =
                    (response.status() == hyper::StatusCode::TOO_MANY_REQUESTS).then(|| {
                        let header = response.headers().get(hyper::header::RETRY_AFTER);
                        retry_after(header.and_then(|v| v.to_str().ok()))
                    });
                sender.answered(&site, &turn, throttled);
            }
            let fatal = result
                .as_ref()
                .err()
                .and_then(|e| unreachable(e, interactive, &authority));
            match (status, &error) {
                (Some(status), _) => tracing::info!(
                    target: "seatsync::http",
                    %method, %url, status, duration_ms = duration.as_millis() as u64,
                    "exchange"
                ),
                (None, Some(error)) => tracing::warn!(
                    target: "seatsync::http",
                    %method, %url, %error, duration_ms = duration.as_millis() as u64,
                    "exchange failed"
                ),
                (None, None) => {}
            }
            if let Some(reason) = fatal {
                abort.abort(reason);
            }
            record(
                &rec,
                limits.max_exchanges,
                Exchange {
                    method,
                    url,
                    status,
                    duration,
                    error,
                    denied: false,
                    journal_entry,
                },
            );
            result
        })
    }
}

/// Reads a write's body (small JSON), records the write in `journal`, and
/// gives back the request with the same body and the entry's id.
async fn journal_write(
    journal: Arc<dyn WriteJournal>,
    request: Request<WasiBody>,
    method: &str,
    url: &str,
) -> Result<(Request<WasiBody>, i64), String> {
    const MAX_JOURNALED_BODY: usize = 1024 * 1024;
    let (parts, body) = request.into_parts();
    let body = http_body_util::Limited::new(body, MAX_JOURNALED_BODY)
        .collect()
        .await
        .map_err(|e| format!("the write's body could not be read for the journal: {e}"))?
        .to_bytes();
    let write = JournalWrite::new(method, url, &body);
    let entry = tokio::task::spawn_blocking(move || journal.record(&write))
        .await
        .map_err(|e| format!("the write journal failed: {e}"))?
        .map_err(|e| format!("the write journal could not record the write: {e}"))?;
    let body = http_body_util::Full::new(body)
        .map_err(|never| match never {})
        .boxed_unsync();
    Ok((Request::from_parts(parts, body), entry))
}

/// Adds an exchange (up to the cap). A sent request was counted when it
/// went out; a refused one is not counted.
fn record(record: &Mutex<HttpRecord>, max: usize, exchange: Exchange) {
    let mut r = lock(record);
    if r.exchanges.len() < max {
        r.exchanges.push(exchange);
    } else {
        r.dropped += 1;
    }
}

/// `scheme://host[:port]/path?query`, leaving out any user information.
fn display_url(uri: &hyper::Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or("?");
    let authority = uri
        .authority()
        .map(|a| {
            let s = a.as_str();
            s.rsplit_once('@').map_or(s, |(_, host)| host).to_string()
        })
        .unwrap_or_default();
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    format!("{scheme}://{authority}{path}")
}

/// The timeouts a request gets: the guest's, each clamped to the host's.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timeouts {
    pub(crate) connect: Duration,
    pub(crate) first_byte: Duration,
    pub(crate) between_bytes: Duration,
}

fn clamp(options: Option<RequestOptions>, limits: &HttpLimits) -> Timeouts {
    let options = options.unwrap_or_default();
    let pick = |asked: Option<Duration>, max: Duration| asked.map_or(max, |a| a.min(max));
    Timeouts {
        connect: pick(options.connect_timeout, limits.connect_timeout),
        first_byte: pick(options.first_byte_timeout, limits.first_byte_timeout),
        between_bytes: pick(options.between_bytes_timeout, limits.between_bytes_timeout)
            .max(Duration::from_millis(1)),
    }
}

/// Builds the TLS client configuration: the public web roots, plus the CA
/// certificates of `ca_file` when given.
pub(crate) fn tls_config(
    ca_file: Option<&Path>,
) -> Result<Arc<rustls::ClientConfig>, RuntimeError> {
    match ca_file {
        None => tls_config_from_pem(None),
        Some(path) => tls_config_from_pem(Some((path, &read_ca_file(path)?))),
    }
}

fn read_ca_file(path: &Path) -> Result<Vec<u8>, RuntimeError> {
    std::fs::read(path).map_err(|e| RuntimeError::CaFile {
        path: path.to_path_buf(),
        reason: format!("it cannot be read: {e}"),
    })
}

/// [`tls_config`] with the CA file already read.
fn tls_config_from_pem(
    ca: Option<(&Path, &[u8])>,
) -> Result<Arc<rustls::ClientConfig>, RuntimeError> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some((path, pem)) = ca {
        let ca_error = |reason: String| RuntimeError::CaFile {
            path: path.to_path_buf(),
            reason,
        };
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| ca_error(format!("it is not valid PEM: {e}")))?;
        if certs.is_empty() {
            return Err(ca_error(
                "it holds no certificate (a PEM block starting with -----BEGIN CERTIFICATE-----)"
                    .into(),
            ));
        }
        for (i, cert) in certs.into_iter().enumerate() {
            roots.add(cert).map_err(|e| {
                ca_error(format!(
                    "certificate {} is not a usable CA certificate: {e}",
                    i + 1
                ))
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| RuntimeError::Load(format!("TLS setup failed: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The runtime's network, shared by all its calls: the connection pool, the
/// pacing per site and the default TLS configuration.
pub(crate) struct Net {
    pub(crate) pool: Arc<Pool>,
    pub(crate) pacer: Pacer,
    default_tls: Arc<rustls::ClientConfig>,
}

impl Net {
    /// A network with no open connection, pacing each site to
    /// `per_minute` requests a minute (`None`: no pacing).
    pub(crate) fn new(
        default_tls: Arc<rustls::ClientConfig>,
        per_minute: Option<NonZeroU32>,
    ) -> Arc<Net> {
        Arc::new(Net {
            pool: Arc::new(Pool::default()),
            pacer: Pacer::new(per_minute),
            default_tls,
        })
    }

    /// The sender for one call to `site`: its CA file, if any, is read now.
    pub(crate) fn sender(self: &Arc<Self>, site: &NetworkPolicy) -> Result<Sender, RuntimeError> {
        let (tls, trust) = match &site.ca_file {
            None => (self.default_tls.clone(), 0),
            Some(path) => {
                let pem = read_ca_file(path)?;
                let mut h = DefaultHasher::new();
                path.hash(&mut h);
                pem.hash(&mut h);
                // 0 is the public roots' key.
                (tls_config_from_pem(Some((path, &pem)))?, h.finish() | 1)
            }
        };
        Ok(Sender {
            tls,
            trust,
            net: self.clone(),
        })
    }
}

/// Sends requests: TCP, TLS with the call's roots, HTTP/1.1, over the
/// runtime's pooled connections.
#[derive(Clone)]
pub(crate) struct Sender {
    tls: Arc<rustls::ClientConfig>,
    /// Identifies `tls` for the pool (0: the public roots).
    trust: u64,
    net: Arc<Net>,
}

trait Stream: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static {}
impl<T: AsyncRead + AsyncWrite + Send + Sync + Unpin + 'static> Stream for T {}

type IoFuture = Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>;

impl Sender {
    /// Waits for the site's turn under the runtime's pacing; returns the
    /// site's key, the wait, and the turn to report the answer with.
    pub(crate) async fn pace(&self, scheme: &str, authority: &str) -> (String, Duration, Turn) {
        let scheme = scheme.to_ascii_lowercase();
        let site = format!("{scheme}://{}", normalize_authority(&scheme, authority));
        let (waited, turn) = self.net.pacer.wait_turn(&site).await;
        (site, waited, turn)
    }

    /// Tells the site's pacing how a request sent on `turn` was answered
    /// (`Some(pause)` for a 429).
    pub(crate) fn answered(&self, site: &str, turn: &Turn, throttled: Option<Duration>) {
        self.net.pacer.answered(site, turn, throttled);
    }

    /// Sends `request` (absolute URI) and returns the response head with a
    /// body capped at `max_body` bytes. The connection is an idle one of the
    /// pool when there is one; it goes back to the pool once the body has
    /// been read. The returned future has nothing left to do: each
    /// connection is driven by its own task.
    pub(crate) async fn send(
        &self,
        mut request: Request<WasiBody>,
        timeouts: Timeouts,
        max_body: u64,
    ) -> wasmtime_wasi_http::Result<(Response<WasiBody>, IoFuture)> {
        let uri = request.uri().clone();
        let authority = uri.authority().ok_or(HttpError::HttpRequestUriInvalid)?;
        let use_tls = uri.scheme() == Some(&Scheme::HTTPS);
        let host = authority.host();
        let port = authority
            .port_u16()
            .unwrap_or(if use_tls { 443 } else { 80 });
        let key = SiteKey {
            https: use_tls,
            host: host.to_ascii_lowercase(),
            port,
            trust: if use_tls { self.trust } else { 0 },
        };

        // On a direct connection the request line carries only the path.
        *request.uri_mut() = hyper::Uri::builder()
            .path_and_query(uri.path_and_query().map_or("/", |p| p.as_str()))
            .build()
            .map_err(|_| HttpError::HttpRequestUriInvalid)?;

        let pool = &self.net.pool;
        let response = loop {
            let (mut conn, reused) = match pool.checkout(&key) {
                Some(conn) => (conn, true),
                None => (self.connect(host, port, use_tls, timeouts).await?, false),
            };
            // Dropping the request future at the timeout closes the
            // connection: it is not reused.
            match tokio::time::timeout(timeouts.first_byte, conn.try_send_request(request)).await {
                Err(_) => return Err(HttpError::ConnectionReadTimeout),
                Ok(Ok(response)) => {
                    pool.give_back(key, conn);
                    break response;
                }
                Ok(Err(mut e)) => match e.take_message() {
                    // An idle connection that closed before the request
                    // was written: nothing was sent, so try the next one.
                    Some(unsent) if reused => request = unsent,
                    _ => return Err(HttpError::from(e.into_error())),
                },
            }
        };

        if let Some(length) = content_length(&response)
            && length > max_body
        {
            return Err(HttpError::HttpResponseBodySize(Some(length)));
        }
        let response = response.map(|incoming| {
            CappedBody {
                incoming,
                between_bytes: timeouts.between_bytes,
                idle: Box::pin(tokio::time::sleep(timeouts.between_bytes)),
                received: 0,
                max: max_body,
                failed: false,
            }
            .boxed_unsync()
        });
        let io: IoFuture = Box::new(async { Ok(()) });
        Ok((response, io))
    }

    /// Opens a connection (TCP, TLS when asked, the HTTP/1.1 handshake, each
    /// within the connect timeout) and starts the task that drives it.
    async fn connect(
        &self,
        host: &str,
        port: u16,
        use_tls: bool,
        timeouts: Timeouts,
    ) -> wasmtime_wasi_http::Result<SendRequest<WasiBody>> {
        let address = format!("{host}:{port}");
        let tcp = tokio::time::timeout(timeouts.connect, TcpStream::connect(&address))
            .await
            .map_err(|_| HttpError::ConnectionTimeout)?
            .map_err(HttpError::Connect)?;
        // Requests are small and a response is awaited after each: never
        // hold a write back for the previous one's acknowledgement.
        let _ = tcp.set_nodelay(true);
        let stream: Box<dyn Stream> = if use_tls {
            let name = server_name(host)?;
            let connector = tokio_rustls::TlsConnector::from(self.tls.clone());
            let tls = tokio::time::timeout(timeouts.connect, connector.connect(name, tcp))
                .await
                .map_err(|_| HttpError::ConnectionTimeout)?
                .map_err(HttpError::Tls)?;
            Box::new(tls)
        } else {
            Box::new(tcp)
        };
        let (sender, conn) = tokio::time::timeout(
            timeouts.connect,
            hyper::client::conn::http1::handshake(TokioIo::new(stream)),
        )
        .await
        .map_err(|_| HttpError::ConnectionTimeout)??;
        tokio::spawn(async move {
            if let Err(error) = conn.await {
                tracing::debug!(target: "seatsync::http", %error, "connection ended");
            }
        });
        self.net.pool.opened();
        Ok(sender)
    }
}

fn content_length<B>(response: &Response<B>) -> Option<u64> {
    response
        .headers()
        .get(hyper::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The TLS server name for a URI host: an IP address (IPv6 in brackets) or a
/// DNS name.
fn server_name(host: &str) -> wasmtime_wasi_http::Result<ServerName<'static>> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<std::net::IpAddr>() {
        return Ok(ServerName::from(ip));
    }
    ServerName::try_from(bare.to_string()).map_err(HttpError::InvalidDnsNameError)
}

/// A response body that fails once more than `max` bytes arrived, or when
/// no frame arrives for `between_bytes`.
struct CappedBody {
    incoming: Incoming,
    between_bytes: Duration,
    idle: Pin<Box<tokio::time::Sleep>>,
    received: u64,
    max: u64,
    failed: bool,
}

impl Body for CappedBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        if self.failed {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.incoming).poll_frame(cx) {
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Ready(Some(Err(e))) => {
                self.failed = true;
                let e = if e.is_timeout() {
                    HttpError::HttpResponseTimeout
                } else {
                    HttpError::from(e)
                };
                Poll::Ready(Some(Err(e)))
            }
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    self.received = self.received.saturating_add(data.len() as u64);
                    if self.received > self.max {
                        self.failed = true;
                        tracing::warn!(
                            target: "seatsync::http",
                            max = self.max,
                            "response body over the host's size cap; cut off"
                        );
                        return Poll::Ready(Some(Err(HttpError::HttpResponseBodySize(Some(
                            self.received,
                        )))));
                    }
                }
                let deadline = tokio::time::Instant::now() + self.between_bytes;
                self.idle.as_mut().reset(deadline);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Pending => {
                ready!(self.idle.as_mut().poll(cx));
                self.failed = true;
                Poll::Ready(Some(Err(HttpError::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.failed || self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}
