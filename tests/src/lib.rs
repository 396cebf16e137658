//! Shared helpers for seatsync's end-to-end tests.
//!
//! [`NativeHttp`] runs the connector's logic natively over plain blocking
//! HTTP, so a test can check the connector against the simulator without the
//! sandbox in between (and compare the two).

use std::time::Duration;

use seatsync_plugin::http::{Level, Request, Response, Transport, TransportError};
use seatsync_plugin::model::Connection;

/// A [`Transport`] over blocking HTTP/1.1 (ureq). Waits really sleep; log
/// lines are kept for assertions.
pub struct NativeHttp {
    agent: ureq::Agent,
    /// Log lines the connector emitted.
    pub log: Vec<(Level, String)>,
    /// Every wait the connector asked for.
    pub sleeps: Vec<Duration>,
}

impl Default for NativeHttp {
    fn default() -> Self {
        Self::new()
    }
}

impl NativeHttp {
    /// A client with a 20 s overall timeout per request.
    pub fn new() -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(20)))
            .build()
            .into();
        NativeHttp {
            agent,
            log: Vec::new(),
            sleeps: Vec::new(),
        }
    }
}

impl Transport for NativeHttp {
    fn send(&mut self, request: &Request) -> Result<Response, TransportError> {
        let mut builder = ureq::http::Request::builder()
            .method(request.method.as_str())
            .uri(&request.url);
        for header in &request.headers {
            builder = builder.header(header.name.as_str(), header.wire_value());
        }
        let failed = |e: &dyn std::fmt::Display| TransportError::retryable(e.to_string());
        let result = match &request.body {
            Some(body) => builder
                .body(body.clone())
                .map_err(|e| failed(&e))
                .and_then(|r| self.agent.run(r).map_err(|e| failed(&e))),
            None => builder
                .body(())
                .map_err(|e| failed(&e))
                .and_then(|r| self.agent.run(r).map_err(|e| failed(&e))),
        };
        let mut response = result?;
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_vec().map_err(|e| failed(&e))?;
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    fn sleep(&mut self, duration: Duration) {
        self.sleeps.push(duration);
        std::thread::sleep(duration);
    }

    fn log(&mut self, level: Level, message: &str) {
        self.log.push((level, message.to_string()));
    }
}

/// The connection the simulator's demo tenant accepts, for `site`
/// (`http://127.0.0.1:PORT`).
pub fn demo_connection(site: &str) -> Connection {
    Connection {
        site: site.to_string(),
        company_id: seatsync_fixtures::DEMO_COMPANY_ID.into(),
        public_key: seatsync_fixtures::DEMO_PUBLIC_KEY.into(),
        private_key: seatsync_fixtures::DEMO_PRIVATE_KEY.into(),
        client_id: seatsync_fixtures::DEMO_CLIENT_ID.into(),
        codebase: None,
    }
}

/// The demo credentials for `site` as connection settings (the connector's
/// setting keys), `private-key` among them.
pub fn demo_settings(site: &str) -> seatsync_contract::Settings {
    [
        ("site", site),
        ("company-id", seatsync_fixtures::DEMO_COMPANY_ID),
        ("public-key", seatsync_fixtures::DEMO_PUBLIC_KEY),
        ("private-key", seatsync_fixtures::DEMO_PRIVATE_KEY),
        ("client-id", seatsync_fixtures::DEMO_CLIENT_ID),
    ]
    .into_iter()
    .collect()
}
