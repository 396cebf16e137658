//! Webhooks: one HTTP/1.1 POST of a JSON body, over TLS unless the URL is
//! `http://` to a loopback address ([`super::check_webhook_url`]).

use std::time::Duration;

use http_body_util::Full;
use hyper::Request;
use hyper::body::Bytes;
use tokio::net::TcpStream;
use wasmtime_wasi_http::io::TokioIo;

/// POSTs `body` to `url`; `Ok` on a 2xx answer within `timeout`, else what
/// went wrong (never the URL's path, which may hold a token).
pub(super) async fn post(url: &str, body: &str, timeout: Duration) -> Result<(), String> {
    let uri = super::check_webhook_url(url).map_err(|e| e.to_string())?;
    let host = uri.host().unwrap_or_default().to_string();
    let tls = uri.scheme_str() == Some("https");
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let authority = uri
        .authority()
        .map(|a| a.as_str().to_string())
        .unwrap_or_else(|| host.clone());
    let send = async {
        let address = (host.trim_start_matches('[').trim_end_matches(']'), port);
        let tcp = TcpStream::connect(address)
            .await
            .map_err(|e| format!("cannot connect to {authority}: {e}"))?;
        let request = Request::post(&uri)
            .header(hyper::header::HOST, &authority)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .header(
                hyper::header::USER_AGENT,
                concat!("seatsync/", env!("CARGO_PKG_VERSION")),
            )
            .body(Full::new(Bytes::from(body.to_string())))
            .map_err(|e| format!("cannot build the request: {e}"))?;
        let status = if tls {
            let config = crate::runtime::tls_client_config().map_err(|e| e.to_string())?;
            let name = rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|_| format!("'{host}' is not a host name TLS can check"))?;
            let stream = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await
                .map_err(|e| format!("TLS with {authority} failed: {e}"))?;
            exchange(TokioIo::new(stream), request).await?
        } else {
            exchange(TokioIo::new(tcp), request).await?
        };
        if (200..300).contains(&status) {
            Ok(())
        } else {
            Err(format!("{authority} answered {status}"))
        }
    };
    tokio::time::timeout(timeout, send).await.map_err(|_| {
        format!(
            "no answer from {authority} within {} s",
            timeout.as_secs_f64()
        )
    })?
}

async fn exchange<T>(io: T, request: Request<Full<Bytes>>) -> Result<u16, String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| format!("HTTP handshake failed: {e}"))?;
    let driver = tokio::spawn(async move {
        let _ = conn.await;
    });
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| format!("the request failed: {e}"));
    driver.abort();
    Ok(response?.status().as_u16())
}
