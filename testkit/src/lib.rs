//! Snapshot-tested plugin development for seatsync connectors.
//!
//! A [`Kit`] loads any connector component (`.wasm`) into the real
//! seatsync host runtime ([`seatsync_host::runtime::Runtime`]: the same
//! sandbox, network policy, limits and contract-version dispatch as the
//! `seatsync` command), answers the component's outgoing HTTP from a
//! scripted server on `127.0.0.1`, calls any contract function, and returns
//! a [`Transcript`]: the requests the server received and its answers, the
//! call's log lines and the result, deterministic and free of secrets, ready
//! for `insta::assert_yaml_snapshot!`.
//!
//! ```no_run
//! use seatsync_testkit::{Kit, RequestMatcher, Script, ScriptedResponse, Settings};
//!
//! # fn main() -> Result<(), seatsync_testkit::KitError> {
//! let kit = Kit::from_file("target/wasm32-wasip2/debug/my_connector.wasm")?;
//! kit.script(Script::new().exchange(
//!     RequestMatcher::get("/v1/whoami"),
//!     ScriptedResponse::json(200, serde_json::json!({"version": "3.1"})),
//! ));
//! let settings: Settings = [
//!     ("api-url", kit.base_url()),
//!     ("api-token", "test-token-not-secret".to_string()),
//! ]
//! .into_iter()
//! .collect();
//! let transcript = kit.test_connection(&settings);
//! // insta::assert_yaml_snapshot!(transcript);
//! # Ok(())
//! # }
//! ```
//!
//! How a call runs, as the host runs it: the kit asks the connector for its
//! description (which settings are secret) and for the network plan of the
//! settings (`plan-network`), builds the host's [`NetworkPolicy`] from the
//! plan with plain http allowed (the server is plain http on loopback),
//! then makes the call. The settings must therefore point the connector at
//! [`Kit::base_url`] (`http://127.0.0.1:PORT`), or at another server of the
//! kit ([`Kit::server_url`]) for a second endpoint. A test never reaches the
//! network: endpoints of the plan that are not the kit's servers are left
//! out of the policy, so the sandbox refuses their requests and the
//! transcript lists them under `not_answered`.
//!
//! - [`script`]: exchanges (request matcher → response), in Rust or JSON
//!   files; or a handler closure ([`Kit::handler`]);
//! - [`Transcript`]: what a call did, sanitized ([`transcript`] says how);
//! - [`RecordedRequest`]: a request as the server received it.
//!
//! The kit's methods are synchronous: call them from a plain `#[test]`
//! (from inside an async runtime they work too, blocking the caller's
//! thread). Each component is compiled once per process and shared by
//! every kit; calls of one kit run one at a time.

#![warn(missing_docs)]

mod error;
mod request;
pub mod script;
mod server;
mod shared;
pub mod transcript;

use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};

use seatsync_host::runtime::{Call, CallFailed, NetworkPolicy, Runtime, secret_values};
use serde::Serialize;

pub use error::KitError;
pub use request::RecordedRequest;
pub use script::{
    BASE_URL_PLACEHOLDER, RequestMatcher, Script, ScriptedExchange, ScriptedResponse,
    UNMATCHED_STATUS,
};
pub use transcript::{
    NotAnswered, Outcome, Transcript, TranscriptExchange, TranscriptRequest, TranscriptResponse,
};

/// The contract's types (`seatsync-contract`), for settings and requests.
pub use seatsync_contract as contract;
pub use seatsync_contract::{
    Company, ConnectionInfo, ConnectorDescription, ConnectorError, Contract, Endpoint, Product,
    RecordId, Settings, SyncLine, SyncReport, SyncRequest,
};
/// The host's sandbox limits, for [`KitOptions::limits`].
pub use seatsync_host::runtime::Limits;

use server::{Responder, Server};
use transcript::{Raw, Sanitizer};

/// How to build a [`Kit`].
#[derive(Debug, Clone, Default)]
pub struct KitOptions {
    /// The sandbox's limits (the host's defaults unless changed).
    pub limits: Limits,
    /// Where the host may cache the compiled component on disk (a directory
    /// only this user can write to); `None` compiles it once per process.
    pub cache_dir: Option<std::path::PathBuf>,
}

/// What `plan-network` said, as a transcript shows it: the endpoints, and
/// how many derived secrets the connector named (never the secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanSummary {
    /// Every endpoint the operations will contact.
    pub endpoints: Vec<Endpoint>,
    /// How many strings derived from the secrets the host will redact.
    pub derived_secrets: usize,
}

/// A connector component in the host's sandbox, with a scripted server for
/// its HTTP.
///
/// The server starts with an empty script: every request is unmatched
/// until [`Kit::script`] or [`Kit::handler`] says what to answer.
pub struct Kit {
    runtime: Arc<Runtime>,
    tokio: &'static tokio::runtime::Runtime,
    server: Server,
    /// Calls of one kit run one at a time (the server's record is per call).
    calls: Mutex<()>,
}

impl std::fmt::Debug for Kit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kit")
            .field("base_url", &self.base_url())
            .field("contract_version", &self.runtime.contract_version())
            .finish_non_exhaustive()
    }
}

impl Kit {
    /// A kit for the component `component` (the bytes of a `.wasm`), with
    /// the host's default limits.
    ///
    /// Fails when the host cannot load the component (not a component, not
    /// a seatsync connector, an unsupported contract version), or the
    /// server cannot start.
    pub fn new(component: &[u8]) -> Result<Kit, KitError> {
        Kit::with_options(component, KitOptions::default())
    }

    /// A kit for the component in the file `path`.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Kit, KitError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| {
            KitError::io(
                format!(
                    "cannot read the component {} (build it first: cargo build --target wasm32-wasip2)",
                    path.display()
                ),
                e,
            )
        })?;
        Kit::new(&bytes)
    }

    /// A kit for `component` with other limits or a compile cache.
    pub fn with_options(component: &[u8], options: KitOptions) -> Result<Kit, KitError> {
        let tokio = shared::tokio()?;
        let runtime = shared::runtime(
            component,
            &seatsync_host::runtime::RuntimeOptions {
                limits: options.limits,
                cache_dir: options.cache_dir,
            },
        )?;
        let server = Server::start(tokio)?;
        Ok(Kit {
            runtime,
            tokio,
            server,
            calls: Mutex::new(()),
        })
    }

    /// A kit whose server answers every request with `handler`
    /// ([`Kit::handler`]).
    pub fn with_handler(
        component: &[u8],
        handler: impl Fn(&RecordedRequest) -> Option<ScriptedResponse> + Send + Sync + 'static,
    ) -> Result<Kit, KitError> {
        let kit = Kit::new(component)?;
        kit.handler(handler);
        Ok(kit)
    }

    /// The server's base URL, `http://127.0.0.1:PORT`: give it (or its
    /// authority) to the connector in its settings. Transcripts show it as
    /// `{base_url}`.
    pub fn base_url(&self) -> String {
        self.server.main().base_url()
    }

    /// The server's authority, `127.0.0.1:PORT` (shown as `{authority}`).
    pub fn authority(&self) -> String {
        self.server.main().addr.to_string()
    }

    /// The base URL of another server of this kit, named `name`, started on
    /// first use: for a connector that contacts two endpoints (an OAuth2
    /// sign-in host besides the API, with its own `role` in the plan), each
    /// of which must be its own authority.
    ///
    /// Every server answers from the same script or handler (a matcher can
    /// ask for one with [`RequestMatcher::on_server`]) into the same
    /// transcript, where requests to this one carry `server: NAME` and its
    /// URL is `{base_url:NAME}` (`{authority:NAME}`). Names are letters,
    /// digits, `-` and `_`.
    pub fn server_url(&self, name: &str) -> Result<String, KitError> {
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid {
            return Err(KitError::InvalidServerName(name.to_string()));
        }
        Ok(self.server.named(self.tokio, name)?.base_url())
    }

    /// The contract version the component was built against, e.g. `0.2.0`.
    pub fn contract_version(&self) -> &str {
        self.runtime.contract_version()
    }

    /// Answers the following calls' requests from `script` (replacing any
    /// earlier script or handler).
    pub fn script(&self, script: Script) -> &Kit {
        self.server.set_responder(Responder::Script(script));
        self
    }

    /// Answers the following calls' requests with `handler` (replacing any
    /// earlier script or handler). `None` leaves a request unmatched; a
    /// handler that panics leaves it unmatched too, with the panic's
    /// message in the transcript.
    pub fn handler(
        &self,
        handler: impl Fn(&RecordedRequest) -> Option<ScriptedResponse> + Send + Sync + 'static,
    ) -> &Kit {
        self.server
            .set_responder(Responder::Handler(Arc::new(handler)));
        self
    }

    /// `describe`: what the connector is and needs.
    pub fn describe(&self) -> Transcript<ConnectorDescription> {
        let _one_at_a_time = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        let outcome = shared::block_on(self.tokio, async {
            match self.runtime.describe().await {
                Ok(d) => Outcome::Ok(d),
                Err(e) => Outcome::HostError(e),
            }
        });
        let sanitizer = Arc::new(Sanitizer::new(Vec::new(), &self.server.servers()));
        Transcript::new(
            Raw {
                call: "describe".into(),
                served: Vec::new(),
                host_exchanges: Vec::new(),
                log: Vec::new(),
                notes: Vec::new(),
                requests: 0,
                writes: 0,
                outcome,
            },
            sanitizer,
        )
    }

    /// `plan-network`: the endpoints `settings` lead to, and how many
    /// derived secrets the connector named. Sends nothing.
    pub fn plan_network(&self, settings: &Settings) -> Transcript<PlanSummary> {
        let _one_at_a_time = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        shared::block_on(self.tokio, async {
            self.server.begin_call();
            let secrets = match self.runtime.describe().await {
                Ok(description) => secret_values(settings, &description, &NetworkPolicy::nowhere()),
                Err(e) => return self.failed("plan-network", Vec::new(), e.into()),
            };
            let call = match self.runtime.plan_network(settings).await {
                Ok(call) => call,
                Err(e) => return self.failed("plan-network", secrets, e.into()),
            };
            let mut secrets = secrets;
            if let Ok(plan) = &call.value {
                secrets.extend(plan.secrets.iter().cloned());
            }
            let call = call.map(|value| {
                value.map(|plan| PlanSummary {
                    endpoints: plan.endpoints,
                    derived_secrets: plan.secrets.len(),
                })
            });
            self.finish("plan-network", secrets, Ok(call), Vec::new())
        })
    }

    /// `test-connection`: checks the settings, the credentials and the
    /// rights the connector needs.
    pub fn test_connection(&self, settings: &Settings) -> Transcript<ConnectionInfo> {
        self.call(
            "test-connection",
            settings,
            true,
            |runtime, policy| async move {
                runtime
                    .test_connection(&policy, settings)
                    .await
                    .map_err(CallFailed::from)
            },
        )
    }

    /// `list-products`: every catalog item.
    pub fn list_products(&self, settings: &Settings) -> Transcript<Vec<Product>> {
        self.call(
            "list-products",
            settings,
            true,
            |runtime, policy| async move {
                runtime
                    .list_products(&policy, settings)
                    .await
                    .map_err(CallFailed::from)
            },
        )
    }

    /// `list-companies`: every company that is not deleted.
    pub fn list_companies(&self, settings: &Settings) -> Transcript<Vec<Company>> {
        self.call(
            "list-companies",
            settings,
            true,
            |runtime, policy| async move {
                runtime
                    .list_companies(&policy, settings)
                    .await
                    .map_err(CallFailed::from)
            },
        )
    }

    /// `list-contracts`: every contract, or those of `company`.
    pub fn list_contracts(
        &self,
        settings: &Settings,
        company: Option<RecordId>,
    ) -> Transcript<Vec<Contract>> {
        self.call(
            "list-contracts",
            settings,
            true,
            |runtime, policy| async move {
                runtime
                    .list_contracts(&policy, settings, company)
                    .await
                    .map_err(CallFailed::from)
            },
        )
    }

    /// `sync-organization`: makes one contract's billing lines match
    /// `request`'s counts. `request.today` is the sync's day: give a fixed
    /// one, so that the test does not depend on the date. A dry run is
    /// refused every write by the host, as in `seatsync sync --dry-run`.
    pub fn sync_organization(
        &self,
        settings: &Settings,
        request: &SyncRequest,
    ) -> Transcript<SyncReport> {
        // Not interactive: as the host's sync runs it.
        self.call("sync-organization", settings, false, |runtime, policy| {
            async move {
                runtime
                    .sync_organization(&policy, settings, request)
                    .await
            }
        })
    }

    /// `end-line`: ends line `line_id` of contract `contract_id` on `day`
    /// (`YYYY-MM-DD`; give a fixed one). Interactive, as `seatsync resolve`
    /// runs it once a person confirmed; the transcript's result is `null`
    /// when the line was ended.
    pub fn end_line(
        &self,
        settings: &Settings,
        contract_id: RecordId,
        line_id: RecordId,
        day: &str,
    ) -> Transcript<()> {
        self.call("end-line", settings, true, |runtime, policy| async move {
            runtime
                .end_line(&policy, settings, contract_id, line_id, day, None)
                .await
        })
    }

    /// Runs one operation as the host does: the description (for the
    /// secrets), the network plan, the policy, then `operation`.
    fn call<'a, T, F, Fut>(
        &'a self,
        name: &str,
        settings: &'a Settings,
        interactive: bool,
        operation: F,
    ) -> Transcript<T>
    where
        T: Serialize + Send,
        F: FnOnce(&'a Runtime, NetworkPolicy) -> Fut + Send,
        Fut: Future<Output = Result<Call<Result<T, ConnectorError>>, CallFailed>> + Send + 'a,
    {
        let _one_at_a_time = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        shared::block_on(self.tokio, async move {
            self.server.begin_call();
            let description = match self.runtime.describe().await {
                Ok(d) => d,
                Err(e) => return self.failed(name, Vec::new(), e.into()),
            };
            let plain_secrets = secret_values(settings, &description, &NetworkPolicy::nowhere());
            let plan_call = match self.runtime.plan_network(settings).await {
                Ok(call) => call,
                Err(e) => return self.failed(name, plain_secrets, e.into()),
            };
            let plan = match plan_call.value {
                Ok(plan) => plan,
                Err(refused) => {
                    // What the host does: no policy, no call.
                    let call = Call {
                        value: Err(refused),
                        log: plan_call.log,
                        exchanges: plan_call.exchanges,
                        requests: plan_call.requests,
                        writes: plan_call.writes,
                        elapsed: plan_call.elapsed,
                    };
                    let note =
                        format!("plan-network refused these settings, so {name} was not called");
                    return self.finish(name, plain_secrets, Ok(call), vec![note]);
                }
            };
            // Plain http: the kit's server is http on loopback.
            let mut policy = match NetworkPolicy::from_plan(&plan, true) {
                Ok(p) if interactive => p.interactive(),
                Ok(p) => p,
                Err(e) => {
                    let mut secrets = plain_secrets;
                    secrets.extend(plan.secrets.iter().cloned());
                    return self.failed(name, secrets, e.into());
                }
            };
            // A test never reaches the network: endpoints other than the
            // kit's servers stay out of the policy, so the sandbox refuses
            // their requests (listed under `not_answered`).
            let servers = self.server.servers();
            let ours = |e: &Endpoint| {
                e.scheme == "http" && servers.iter().any(|l| l.addr.to_string() == e.authority)
            };
            let notes: Vec<String> = policy
                .endpoints
                .iter()
                .filter(|e| !ours(e))
                .map(|e| {
                    format!(
                        "the plan names {}://{}, which is not a server of the kit: its requests \
                         are refused (point the settings at the kit's base_url)",
                        e.scheme, e.authority
                    )
                })
                .collect();
            policy.endpoints.retain(|e| ours(e));
            let secrets = secret_values(settings, &description, &policy);
            let result = operation(&self.runtime, policy).await;
            self.finish(name, secrets, result, notes)
        })
    }

    /// The transcript of a call that could not start.
    fn failed<T: Serialize>(
        &self,
        name: &str,
        secrets: Vec<String>,
        error: CallFailed,
    ) -> Transcript<T> {
        self.finish(name, secrets, Err(error), Vec::new())
    }

    /// The transcript of a call: what the server served since the call
    /// began, and what the host reported.
    fn finish<T: Serialize>(
        &self,
        name: &str,
        secrets: Vec<String>,
        result: Result<Call<Result<T, ConnectorError>>, CallFailed>,
        notes: Vec<String>,
    ) -> Transcript<T> {
        let served = self.server.take_served();
        let sanitizer = Arc::new(Sanitizer::new(secrets, &self.server.servers()));
        let raw = match result {
            Ok(call) => Raw {
                call: name.to_string(),
                served,
                host_exchanges: call.exchanges.into_iter().map(Into::into).collect(),
                log: call.log,
                notes,
                requests: call.requests,
                writes: call.writes,
                outcome: match call.value {
                    Ok(v) => Outcome::Ok(v),
                    Err(e) => Outcome::Err(e),
                },
            },
            Err(failed) => Raw {
                call: name.to_string(),
                served,
                host_exchanges: failed.exchanges.into_iter().map(Into::into).collect(),
                log: Vec::new(),
                notes,
                requests: failed.requests,
                writes: failed.writes,
                outcome: Outcome::HostError(failed.error),
            },
        };
        Transcript::new(raw, sanitizer)
    }
}
