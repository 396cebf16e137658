//! The web console (`seatsync serve`): the vendor's setup wizard, the
//! partner's tenants and each tenant's history, in a browser.
//!
//! Server-rendered HTML (maud) over axum, no JavaScript needed. Every page
//! calls the same library functions as the CLI ([`crate::connection`],
//! [`crate::store`], …): the console holds no business rule of its own.
//!
//! - [`auth`]: passwords, sessions, CSRF and the login rate limit;
//! - [`error`]: what a refused or failed request shows;
//! - [`layout`]: the page shell;
//! - [`setup`]: the one-time setup link, login and logout;
//! - [`tenants`]: the partner's tenants, each tenant's overview, accounts;
//! - [`connection`]: the connection form and its test;
//! - [`data`]: the data types to sync;
//! - [`history`]: runs and their lines;
//! - [`ops`]: `/healthz` and `/metrics`;
//! - [`daemons`]: the daily schedule of every connected tenant.
//!
//! The store is SQLite and its handle is not `Sync`, so each request opens
//! its own on a blocking thread ([`Console::with_store`]); a request that
//! also calls the connector runs there too ([`Console::with_store_async`]).

pub mod auth;
pub mod connection;
pub mod daemons;
pub mod data;
pub mod error;
pub mod history;
pub mod layout;
pub mod ops;
pub mod setup;
pub mod tenants;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use chrono::NaiveTime;
use seatsync_contract::ConnectorDescription;

use crate::clock::{Clock as _, SystemClock};
use crate::runtime::Runtime;
use crate::store::Store;
pub use error::ConsoleError;

/// How the console runs: what a `seatsync serve` command line gave.
pub struct ConsoleOptions {
    /// The database.
    pub db: PathBuf,
    /// The time: the system's, or the one `SEATSYNC_NOW` starts.
    pub clock: SystemClock,
    /// The connector.
    pub runtime: Arc<Runtime>,
    /// Whether cookies get `Secure` (served over TLS, or behind a proxy that
    /// terminates it).
    pub secure_cookies: bool,
    /// Whether the connection form offers plain `http` (testing against a
    /// local simulator, `serve --demo`).
    pub allow_http: bool,
    /// The daily sync time (UTC) of every tenant.
    pub at: NaiveTime,
}

/// The console's shared state: cheap to clone, one per server.
#[derive(Clone)]
pub struct Console {
    inner: Arc<Inner>,
}

struct Inner {
    options: ConsoleOptions,
    description: ConnectorDescription,
    limiter: auth::LoginLimiter,
    daemons: Option<daemons::Wake>,
}

impl Console {
    /// The console over `options`; asks the connector for its description
    /// once (the connection form is built from it). `daemons`, if given, is
    /// told when a tenant gets a connection, to start its schedule.
    pub async fn new(
        options: ConsoleOptions,
        daemons: Option<daemons::Wake>,
    ) -> Result<Console, crate::runtime::RuntimeError> {
        let description = options.runtime.describe().await?;
        Ok(Console {
            inner: Arc::new(Inner {
                options,
                description,
                limiter: auth::LoginLimiter::default(),
                daemons,
            }),
        })
    }

    /// How the console runs.
    pub fn options(&self) -> &ConsoleOptions {
        &self.inner.options
    }

    /// The connector's description.
    pub fn description(&self) -> &ConnectorDescription {
        &self.inner.description
    }

    /// The login rate limit.
    pub(crate) fn limiter(&self) -> &auth::LoginLimiter {
        &self.inner.limiter
    }

    /// Now, on the console's clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.inner.options.clock.now()
    }

    /// Opens the store on the console's clock.
    pub fn open_store(&self) -> Result<Store, ConsoleError> {
        let mut store = Store::open(&self.inner.options.db)?;
        store.set_clock(self.inner.options.clock.as_fn());
        Ok(store)
    }

    /// Runs `f` with a store, on a blocking thread (SQLite waits there, not
    /// on the server's threads).
    pub async fn with_store<T, F>(&self, f: F) -> Result<T, ConsoleError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> Result<T, ConsoleError> + Send + 'static,
    {
        let console = self.clone();
        tokio::task::spawn_blocking(move || f(&console.open_store()?))
            .await
            .map_err(|e| ConsoleError::Internal(format!("a request's task failed: {e}")))?
    }

    /// Runs `f`, a future that holds a store across calls to the connector,
    /// on a blocking thread of its own (the store cannot move between
    /// threads mid-call, so the future is not `Send`).
    pub async fn with_store_async<T, F, Fut>(&self, f: F) -> Result<T, ConsoleError>
    where
        T: Send + 'static,
        F: FnOnce(Store, Console) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, ConsoleError>>,
    {
        let console = self.clone();
        let handle = tokio::runtime::Handle::current();
        tokio::task::spawn_blocking(move || {
            handle.block_on(async move {
                let store = console.open_store()?;
                f(store, console).await
            })
        })
        .await
        .map_err(|e| ConsoleError::Internal(format!("a request's task failed: {e}")))?
    }

    /// Tells the schedule a tenant may have a new connection.
    pub(crate) fn wake_daemons(&self) {
        if let Some(wake) = &self.inner.daemons {
            wake.wake();
        }
    }

    /// Every route of the console.
    pub fn router(&self) -> Router {
        Router::new()
            .route("/healthz", get(ops::healthz))
            .route("/console.css", get(layout::style))
            .route("/metrics", get(ops::metrics))
            .route("/setup", get(setup::setup_page).post(setup::setup_post))
            .route("/login", get(setup::login_page).post(setup::login_post))
            .route("/logout", post(setup::logout))
            .route("/", get(tenants::home))
            .route("/tenants", post(tenants::add))
            .route(
                "/accounts",
                get(tenants::accounts).post(tenants::add_account),
            )
            .route("/t/{tenant}", get(tenants::overview))
            .route("/t/{tenant}/partner", post(tenants::partner))
            .route(
                "/t/{tenant}/connection",
                get(connection::page).post(connection::save),
            )
            .route("/t/{tenant}/connection/test", post(connection::test))
            .route("/t/{tenant}/data", get(data::page).post(data::save))
            .route("/t/{tenant}/history", get(history::runs))
            .route("/t/{tenant}/history/{run}", get(history::run))
            .fallback(error::not_found)
            .layer(axum::middleware::map_response(layout::security_headers))
            .with_state(self.clone())
    }
}
