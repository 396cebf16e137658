//! The component glue: the WIT bindings of `seatsync:psa@0.2.0`, world
//! `plugin` (the connector's exports, the host's log, and the
//! `wasi:http/outgoing-handler@0.2.2` import that [`crate::wasi_http`]
//! sends through), conversions between the generated types and the
//! contract's types (`seatsync-contract`), and [`Connector`], the connector
//! as a WIT `Guest`.
//!
//! Nothing here decides anything; it only translates, so that all behaviour
//! stays in the natively tested functions ([`crate::describe`],
//! [`crate::plan_network`], [`crate::psa`]).
//!
//! With the `component` feature (the default) this crate exports
//! [`Connector`] and is the component. With only the `bindings` feature,
//! another component can reuse all of it: implement [`Guest`] (delegating
//! to [`Connector`] where it wants the real connector) and export it with
//! `seatsync_plugin::bindings::export!(MyGuest);`. The test guests do that.

// The generated items carry the WIT file's comments where the WIT has
// them; wit-bindgen's own plumbing has none.
#![allow(missing_docs)]

use seatsync_contract as contract;

use crate::error::ConnectorError;
use crate::http::Level;
use crate::wasi_http::WasiHttp;

wit_bindgen::generate!({
    path: "../wit",
    world: "plugin",
    // The WASI interfaces the world reaches (wasi:http and what its types
    // use) are generated here too: no WASI crate pins another version.
    generate_all,
    // Other crates can export their own guest with these bindings.
    pub_export_macro: true,
    default_bindings_module: "seatsync_plugin::bindings",
});

pub use exports::seatsync::psa::connector::Guest;
use seatsync::psa::log;
/// The generated types of `seatsync:psa/types`.
pub use seatsync::psa::types as wit;

/// The real connector as a WIT guest.
pub struct Connector;

// The macro must be used where it is generated: a macro-expanded
// `macro_export` cannot be named by path inside its own crate.
#[cfg(feature = "component")]
export!(Connector with_types_in crate::bindings);

/// The component's allocator: talc instead of the standard library's
/// default (wasi-libc's dlmalloc). A re-sync allocates a few hundred times
/// an organization (strings lowered into the component, JSON, the
/// response), and dlmalloc's `malloc` and `free` were a quarter of the
/// component's instructions (docs/performance.md).
#[cfg(all(feature = "component", not(target_feature = "atomics")))]
#[global_allocator]
static ALLOCATOR: talc::wasm::WasmDynamicTalc = talc::wasm::new_wasm_dynamic_allocator();

/// HTTP through wasi:http, logging through the host's `log` import.
pub fn transport() -> WasiHttp<fn(Level, &str)> {
    WasiHttp::new(emit)
}

/// Sends one log line to the host's `log` import.
pub fn emit(level: Level, message: &str) {
    let level = match level {
        Level::Trace => log::Level::Trace,
        Level::Debug => log::Level::Debug,
        Level::Info => log::Level::Info,
        Level::Warn => log::Level::Warn,
        Level::Error => log::Level::Error,
    };
    log::emit(level, message);
}

/// The settings as the contract's type (a later duplicate key wins).
pub fn settings(settings: wit::Settings) -> contract::Settings {
    settings.into_iter().collect()
}

/// The value of setting `key`, if set (a later duplicate key wins).
pub fn setting<'a>(settings: &'a wit::Settings, key: &str) -> Option<&'a str> {
    settings
        .iter()
        .rev()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn list<T, W: From<T>>(items: Vec<T>) -> Vec<W> {
    items.into_iter().map(Into::into).collect()
}

impl Guest for Connector {
    fn describe() -> wit::ConnectorDescription {
        crate::describe().into()
    }

    fn plan_network(settings: wit::Settings) -> Result<wit::NetworkPlan, wit::ConnectorError> {
        crate::plan_network(&self::settings(settings))
            .map(Into::into)
            .map_err(Into::into)
    }

    fn test_connection(
        settings: wit::Settings,
    ) -> Result<wit::ConnectionInfo, wit::ConnectorError> {
        crate::psa::test_connection(&mut transport(), &self::settings(settings))
            .map(Into::into)
            .map_err(Into::into)
    }

    fn list_products(settings: wit::Settings) -> Result<Vec<wit::Product>, wit::ConnectorError> {
        crate::psa::list_products(&mut transport(), &self::settings(settings))
            .map(list)
            .map_err(Into::into)
    }

    fn list_companies(settings: wit::Settings) -> Result<Vec<wit::Company>, wit::ConnectorError> {
        crate::psa::list_companies(&mut transport(), &self::settings(settings))
            .map(list)
            .map_err(Into::into)
    }

    fn list_contracts(
        settings: wit::Settings,
        company_id: Option<wit::RecordId>,
    ) -> Result<Vec<wit::Contract>, wit::ConnectorError> {
        crate::psa::list_contracts(&mut transport(), &self::settings(settings), company_id)
            .map(list)
            .map_err(Into::into)
    }

    fn sync_organization(
        settings: wit::Settings,
        request: wit::SyncRequest,
    ) -> Result<wit::SyncReport, wit::ConnectorError> {
        crate::psa::sync_organization(&mut transport(), &self::settings(settings), &request.into())
            .map(Into::into)
            .map_err(Into::into)
    }

    fn end_line(
        settings: wit::Settings,
        contract_id: wit::RecordId,
        line_id: wit::RecordId,
        day: wit::Day,
    ) -> Result<(), wit::ConnectorError> {
        crate::psa::end_line(
            &mut transport(),
            &self::settings(settings),
            contract_id,
            line_id,
            &day,
        )
        .map_err(Into::into)
    }
}

fn pairs(settings: contract::Settings) -> wit::Settings {
    settings
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

impl From<contract::ConnectorDescription> for wit::ConnectorDescription {
    fn from(d: contract::ConnectorDescription) -> Self {
        wit::ConnectorDescription {
            name: d.name,
            version: d.version,
            psa: d.psa,
            line_noun: d.line_noun,
            contract_noun: d.contract_noun,
            settings: d
                .settings
                .into_iter()
                .map(|s| wit::SettingDescription {
                    key: s.key,
                    label: s.label,
                    help: s.help,
                    secret: s.secret,
                    required: s.required,
                    default_value: s.default_value,
                })
                .collect(),
            line_options: d
                .line_options
                .into_iter()
                .map(|o| wit::OptionDescription {
                    key: o.key,
                    label: o.label,
                    help: o.help,
                    kind: match o.kind {
                        contract::OptionKind::Choice(values) => wit::OptionKind::Choice(values),
                        contract::OptionKind::Flag => wit::OptionKind::Flag,
                        contract::OptionKind::Text => wit::OptionKind::Text,
                    },
                    default_value: o.default_value,
                })
                .collect(),
        }
    }
}

impl From<contract::NetworkPlan> for wit::NetworkPlan {
    fn from(p: contract::NetworkPlan) -> Self {
        wit::NetworkPlan {
            endpoints: p
                .endpoints
                .into_iter()
                .map(|e| wit::Endpoint {
                    scheme: e.scheme,
                    authority: e.authority,
                    role: match e.role {
                        contract::EndpointRole::Api => wit::EndpointRole::Api,
                        contract::EndpointRole::Auth => wit::EndpointRole::Auth,
                    },
                })
                .collect(),
            secrets: p.secrets,
        }
    }
}

impl From<contract::ConnectionInfo> for wit::ConnectionInfo {
    fn from(i: contract::ConnectionInfo) -> Self {
        wit::ConnectionInfo {
            endpoint: i.endpoint,
            psa_version: i.psa_version,
            facts: i.facts,
            learned_settings: pairs(i.learned_settings),
        }
    }
}

impl From<contract::Product> for wit::Product {
    fn from(p: contract::Product) -> Self {
        wit::Product {
            id: p.id,
            identifier: p.identifier,
            description: p.description,
            inactive: p.inactive,
            billable_as_line: p.billable_as_line,
            price: p.price.map(|d| d.0),
            cost: p.cost.map(|d| d.0),
            taxable: p.taxable,
            kind: p.kind,
        }
    }
}

impl From<contract::Company> for wit::Company {
    fn from(c: contract::Company) -> Self {
        wit::Company {
            id: c.id,
            identifier: c.identifier,
            name: c.name,
            status: c.status,
            domain: c.domain,
        }
    }
}

impl From<contract::Contract> for wit::Contract {
    fn from(c: contract::Contract) -> Self {
        wit::Contract {
            id: c.id,
            name: c.name,
            company_id: c.company_id,
            contract_type: c.contract_type,
            status: c.status,
            cancelled: c.cancelled,
            start: c.start,
            end: c.end,
        }
    }
}

impl From<wit::SyncRequest> for contract::SyncRequest {
    fn from(r: wit::SyncRequest) -> Self {
        contract::SyncRequest {
            company_id: r.company_id,
            contract_id: r.contract_id,
            lines: r
                .lines
                .into_iter()
                .map(|l| contract::SyncLine {
                    package_key: l.package_key,
                    product_id: l.product_id,
                    quantity: l.quantity,
                    options: l.options.into_iter().collect(),
                    description: l.description,
                })
                .collect(),
            dry_run: r.dry_run,
            today: r.today,
            start_date: r.start_date,
            update_quantities: r.update_quantities,
            create_missing: r.create_missing,
        }
    }
}

impl From<contract::LineOutcome> for wit::LineOutcome {
    fn from(o: contract::LineOutcome) -> Self {
        match o {
            contract::LineOutcome::Created => wit::LineOutcome::Created,
            contract::LineOutcome::Updated { previous_quantity } => {
                wit::LineOutcome::Updated(wit::Updated {
                    previous_quantity: previous_quantity.0,
                })
            }
            contract::LineOutcome::Unchanged => wit::LineOutcome::Unchanged,
            contract::LineOutcome::Conflict(ids) => wit::LineOutcome::Conflict(ids),
            contract::LineOutcome::Skipped(reason) => wit::LineOutcome::Skipped(reason),
            contract::LineOutcome::Failed(e) => wit::LineOutcome::Failed(e.into()),
        }
    }
}

impl From<contract::SyncReport> for wit::SyncReport {
    fn from(r: contract::SyncReport) -> Self {
        wit::SyncReport {
            company_id: r.company_id,
            contract_id: r.contract_id,
            dry_run: r.dry_run,
            lines: r
                .lines
                .into_iter()
                .map(|l| wit::LineResult {
                    package_key: l.package_key,
                    product_id: l.product_id,
                    quantity: l.quantity,
                    outcome: l.outcome.into(),
                    line_id: l.line_id,
                    unit_price: l.unit_price.map(|d| d.0),
                })
                .collect(),
            requests: r.requests,
            writes: r.writes,
        }
    }
}

impl From<ConnectorError> for wit::ConnectorError {
    fn from(e: ConnectorError) -> Self {
        match e {
            ConnectorError::InvalidConfig(m) => wit::ConnectorError::InvalidConfig(m),
            ConnectorError::Unauthorized(m) => wit::ConnectorError::Unauthorized(m),
            ConnectorError::Forbidden {
                message,
                permission,
            } => wit::ConnectorError::Forbidden(wit::Forbidden {
                message,
                permission,
            }),
            ConnectorError::NotFound(m) => wit::ConnectorError::NotFound(m),
            ConnectorError::RateLimited {
                retry_after_seconds,
                message,
            } => wit::ConnectorError::RateLimited(wit::RateLimited {
                retry_after_seconds,
                message,
            }),
            ConnectorError::Remote {
                status,
                code,
                message,
            } => wit::ConnectorError::Remote(wit::RemoteError {
                status,
                code,
                message,
            }),
            ConnectorError::Transport(m) => wit::ConnectorError::Transport(m),
            ConnectorError::InvalidResponse(m) => wit::ConnectorError::InvalidResponse(m),
        }
    }
}
