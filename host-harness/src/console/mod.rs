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
//! - [`usage`]: the vendor's usage file, uploaded;
//! - [`products`]: packages mapped to catalog products;
//! - [`customers`]: organizations mapped to companies and contracts, and
//!   suggested matches;
//! - [`catalog`]: the PSA's lists the pickers search;
//! - [`review`]: plans, decisions and applying them;
//! - [`history`]: runs and their lines;
//! - [`ops`]: `/healthz` and `/metrics`;
//! - [`daemons`]: the daily schedule of every connected tenant.
//!
//! The store is SQLite and its handle is not `Sync`, so each request opens
//! its own on a blocking thread ([`Console::with_store`]); a request that
//! also calls the connector runs there too ([`Console::with_store_async`]).

pub mod auth;
pub mod catalog;
pub mod connection;
pub mod customers;
pub mod daemons;
pub mod data;
pub mod error;
pub mod history;
pub mod layout;
pub mod ops;
pub mod products;
pub mod review;
pub mod setup;
pub mod tenants;
pub mod tls;
pub mod usage;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use axum::routing::{get, post};
use chrono::NaiveTime;
use seatsync_contract::ConnectorDescription;

use crate::clock::{Clock as _, SystemClock};
use crate::runtime::Runtime;
use crate::store::{KeySource, Store};
pub use error::ConsoleError;

/// How the console runs: what a `seatsync serve` command line gave.
pub struct ConsoleOptions {
    /// The database.
    pub db: PathBuf,
    /// Where the key sealing the database's secrets comes from.
    pub keys: KeySource,
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
    /// How the console's own runs (review, apply) go: concurrency, retry
    /// pause, settle window. Trigger, date and actor are set per run.
    pub sync: crate::sync::SyncOptions,
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
    catalogs: catalog::Catalogs,
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
                catalogs: catalog::Catalogs::default(),
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

    /// The PSA's lists the pickers search.
    pub(crate) fn catalogs(&self) -> &catalog::Catalogs {
        &self.inner.catalogs
    }

    /// Now, on the console's clock.
    pub fn now(&self) -> chrono::DateTime<chrono::Utc> {
        self.inner.options.clock.now()
    }

    /// Opens the store on the console's clock.
    pub fn open_store(&self) -> Result<Store, ConsoleError> {
        let options = &self.inner.options;
        let mut store = Store::open_with_key(&options.db, options.keys.clone())?;
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

    /// What a tenant's page reads: `read`'s answer, once the account is
    /// known to see `tenant`, and whether it may change it.
    pub async fn read_tenant<T, F>(
        &self,
        user: &auth::User,
        tenant: &str,
        read: F,
    ) -> Result<(T, bool), ConsoleError>
    where
        T: Send + 'static,
        F: FnOnce(&Store, &str) -> Result<T, ConsoleError> + Send + 'static,
    {
        let (user, tenant) = (user.clone(), tenant.to_owned());
        self.with_store(move |s| {
            user.require_tenant(s, &tenant)?;
            let may_manage = user.may_manage(s, &tenant)?;
            Ok((read(s, &tenant)?, may_manage))
        })
        .await
    }

    /// Runs `change` once the account is known to be allowed to change
    /// `tenant` ([`auth::User::require_manage`]).
    pub async fn change_tenant<T, F>(
        &self,
        user: &auth::User,
        tenant: &str,
        change: F,
    ) -> Result<T, ConsoleError>
    where
        T: Send + 'static,
        F: FnOnce(&Store, &str) -> Result<T, ConsoleError> + Send + 'static,
    {
        let (user, tenant) = (user.clone(), tenant.to_owned());
        self.with_store(move |s| {
            user.require_manage(s, &tenant)?;
            change(s, &tenant)
        })
        .await
    }

    /// The tenant's stored connection, opened for calls a person waits for.
    pub async fn connected(
        &self,
        store: &Store,
        tenant: &str,
    ) -> Result<crate::connection::Connected, ConsoleError> {
        let stored = store.connection(tenant)?.ok_or_else(|| {
            ConsoleError::BadRequest(
                "this tenant has no connection yet: connect it first (step 1)".into(),
            )
        })?;
        let runtime = self.options().runtime.clone();
        Ok(crate::connection::Connected::open(runtime, stored, true).await?)
    }

    /// The options of a run `user` starts now from the console.
    pub fn sync_options(&self, user: &auth::User) -> crate::sync::SyncOptions {
        crate::sync::SyncOptions {
            trigger: crate::store::Trigger::Manual,
            effective_date: self.now().date_naive(),
            actor: user.account.username.clone(),
            ..self.inner.options.sync.clone()
        }
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
            .route("/static/console.css", get(layout::style))
            .route("/static/htmx.min.js", get(layout::htmx))
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
            .route(
                "/t/{tenant}/usage",
                get(usage::page)
                    .post(usage::upload)
                    .layer(axum::extract::DefaultBodyLimit::max(usage::MAX_UPLOAD)),
            )
            .route("/t/{tenant}/products", get(products::page))
            .route(
                "/t/{tenant}/products/{key}",
                get(products::picker).post(products::map),
            )
            .route(
                "/t/{tenant}/products/{key}/switch",
                post(products::switch_package),
            )
            .route("/t/{tenant}/catalog/refresh", post(products::refresh))
            .route("/t/{tenant}/customers", get(customers::page))
            .route(
                "/t/{tenant}/customers/{org}",
                get(customers::picker).post(customers::map),
            )
            .route(
                "/t/{tenant}/customers/{org}/switch",
                post(customers::switch_org),
            )
            .route("/t/{tenant}/suggestions", get(customers::suggestions))
            .route(
                "/t/{tenant}/suggestions/accept",
                post(customers::accept_confident),
            )
            .route("/t/{tenant}/review", get(review::page).post(review::start))
            .route("/t/{tenant}/plans/{plan}/decide", post(review::decide))
            .route("/t/{tenant}/plans/{plan}/apply", post(review::apply))
            .route("/t/{tenant}/history", get(history::runs))
            .route("/t/{tenant}/history/{run}", get(history::run))
            .route("/t/{tenant}/notifiers", post(history::add_notifier))
            .route("/t/{tenant}/smtp", post(history::save_smtp))
            .route(
                "/t/{tenant}/notifiers/{id}/remove",
                post(history::remove_notifier),
            )
            .fallback(error::not_found)
            .layer(axum::middleware::map_response(layout::security_headers))
            .with_state(self.clone())
    }
}
