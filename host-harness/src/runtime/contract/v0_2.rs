//! Contract 0.2 (`wit/psa.wit`, the current one): its bindings and the
//! conversions to [`seatsync_contract`]'s types, which mirror it one for one.
//! A 0.2 component describes itself and plans its network; the host only
//! converts.

use seatsync_contract::{
    Company, ConnectionInfo, ConnectorDescription, ConnectorError, Contract, Decimal, Endpoint,
    EndpointRole, LineOutcome, LineResult, NetworkPlan, OptionDescription, OptionKind, Product,
    SettingDescription, Settings, SyncReport, SyncRequest,
};
use wasmtime::Store;

use super::{Op, Output};
use crate::runtime::sandbox::{CallState, LogLevel};

wasmtime::component::bindgen!({
    path: "../wit",
    // The world without `wasi:http`: the host provides that from
    // wasmtime-wasi-http, and links only `log` from these bindings.
    world: "guest",
    exports: { default: async },
});

use exports::seatsync::psa::connector::Guest as Exports;
use seatsync::psa::types as wit;

/// Calls the 0.2 export for `op` and converts the answer.
pub(super) async fn invoke(
    guest: &Exports,
    store: &mut Store<CallState>,
    settings: &Settings,
    op: &Op<'_>,
) -> wasmtime::Result<Output> {
    // The contract's settings are the WIT list already: lowered as they are.
    let s = settings.as_pairs();
    Ok(match op {
        Op::Describe => Output::Description(description(guest.call_describe(store).await?)),
        Op::PlanNetwork => Output::Plan(
            guest
                .call_plan_network(store, s)
                .await?
                .map(|p| NetworkPlan {
                    endpoints: p
                        .endpoints
                        .into_iter()
                        .map(|e| Endpoint {
                            scheme: e.scheme,
                            authority: e.authority,
                            role: match e.role {
                                wit::EndpointRole::Api => EndpointRole::Api,
                                wit::EndpointRole::Auth => EndpointRole::Auth,
                            },
                        })
                        .collect(),
                    secrets: p.secrets,
                })
                .map_err(error),
        ),
        Op::TestConnection => Output::Info(
            guest
                .call_test_connection(store, s)
                .await?
                .map(|i| ConnectionInfo {
                    endpoint: i.endpoint,
                    psa_version: i.psa_version,
                    facts: i.facts,
                    learned_settings: i.learned_settings.into_iter().collect(),
                })
                .map_err(error),
        ),
        Op::ListProducts => Output::Products(
            guest
                .call_list_products(store, s)
                .await?
                .map(|v| v.into_iter().map(product).collect())
                .map_err(error),
        ),
        Op::ListCompanies => Output::Companies(
            guest
                .call_list_companies(store, s)
                .await?
                .map(|v| v.into_iter().map(company).collect())
                .map_err(error),
        ),
        Op::ListContracts(company) => Output::Contracts(
            guest
                .call_list_contracts(store, s, *company)
                .await?
                .map(|v| v.into_iter().map(contract).collect())
                .map_err(error),
        ),
        Op::Sync(request) => Output::Report(
            guest
                .call_sync_organization(store, s, &sync_request(request))
                .await?
                .map(report)
                .map_err(error),
        ),
        Op::EndLine {
            contract_id,
            line_id,
            day,
        } => Output::Ended(
            guest
                .call_end_line(store, s, *contract_id, *line_id, &day.to_string())
                .await?
                .map_err(error),
        ),
    })
}

fn description(d: wit::ConnectorDescription) -> ConnectorDescription {
    ConnectorDescription {
        name: d.name,
        version: d.version,
        psa: d.psa,
        line_noun: d.line_noun,
        contract_noun: d.contract_noun,
        settings: d
            .settings
            .into_iter()
            .map(|s| SettingDescription {
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
            .map(|o| OptionDescription {
                key: o.key,
                label: o.label,
                help: o.help,
                kind: match o.kind {
                    wit::OptionKind::Choice(c) => OptionKind::Choice(c),
                    wit::OptionKind::Flag => OptionKind::Flag,
                    wit::OptionKind::Text => OptionKind::Text,
                },
                default_value: o.default_value,
            })
            .collect(),
    }
}

fn product(p: wit::Product) -> Product {
    Product {
        id: p.id,
        identifier: p.identifier,
        description: p.description,
        inactive: p.inactive,
        billable_as_line: p.billable_as_line,
        price: p.price.map(Decimal),
        cost: p.cost.map(Decimal),
        taxable: p.taxable,
        kind: p.kind,
    }
}

fn company(c: wit::Company) -> Company {
    Company {
        id: c.id,
        identifier: c.identifier,
        name: c.name,
        status: c.status,
        domain: c.domain,
    }
}

fn contract(c: wit::Contract) -> Contract {
    Contract {
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

fn sync_request(r: &SyncRequest) -> wit::SyncRequest {
    wit::SyncRequest {
        company_id: r.company_id,
        contract_id: r.contract_id,
        lines: r
            .lines
            .iter()
            .map(|l| wit::SyncLine {
                package_key: l.package_key.clone(),
                product_id: l.product_id,
                quantity: l.quantity,
                options: l
                    .options
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                description: l.description.clone(),
            })
            .collect(),
        dry_run: r.dry_run,
        today: r.today.clone(),
        start_date: r.start_date.clone(),
        update_quantities: r.update_quantities,
        create_missing: r.create_missing,
    }
}

fn report(r: wit::SyncReport) -> SyncReport {
    SyncReport {
        company_id: r.company_id,
        contract_id: r.contract_id,
        dry_run: r.dry_run,
        lines: r
            .lines
            .into_iter()
            .map(|l| LineResult {
                package_key: l.package_key,
                product_id: l.product_id,
                quantity: l.quantity,
                outcome: match l.outcome {
                    wit::LineOutcome::Created => LineOutcome::Created,
                    wit::LineOutcome::Updated(u) => LineOutcome::Updated {
                        previous_quantity: Decimal(u.previous_quantity),
                    },
                    wit::LineOutcome::Unchanged => LineOutcome::Unchanged,
                    wit::LineOutcome::Conflict(ids) => LineOutcome::Conflict(ids),
                    wit::LineOutcome::Skipped(reason) => LineOutcome::Skipped(reason),
                    wit::LineOutcome::Failed(e) => LineOutcome::Failed(error(e)),
                },
                line_id: l.line_id,
                unit_price: l.unit_price.map(Decimal),
            })
            .collect(),
        requests: r.requests,
        writes: r.writes,
    }
}

fn error(e: wit::ConnectorError) -> ConnectorError {
    match e {
        wit::ConnectorError::InvalidConfig(m) => ConnectorError::InvalidConfig(m),
        wit::ConnectorError::Unauthorized(m) => ConnectorError::Unauthorized(m),
        wit::ConnectorError::Forbidden(f) => ConnectorError::Forbidden {
            message: f.message,
            permission: f.permission,
        },
        wit::ConnectorError::NotFound(m) => ConnectorError::NotFound(m),
        wit::ConnectorError::RateLimited(r) => ConnectorError::RateLimited {
            retry_after_seconds: r.retry_after_seconds,
            message: r.message,
        },
        wit::ConnectorError::Remote(r) => ConnectorError::Remote {
            status: r.status,
            code: r.code,
            message: r.message,
        },
        wit::ConnectorError::Transport(m) => ConnectorError::Transport(m),
        wit::ConnectorError::InvalidResponse(m) => ConnectorError::InvalidResponse(m),
    }
}

impl seatsync::psa::log::Host for CallState {
    fn emit(&mut self, level: seatsync::psa::log::Level, message: String) {
        use seatsync::psa::log::Level as L;
        let level = match level {
            L::Trace => LogLevel::Trace,
            L::Debug => LogLevel::Debug,
            L::Info => LogLevel::Info,
            L::Warn => LogLevel::Warn,
            L::Error => LogLevel::Error,
        };
        self.emit(level, &message);
    }
}

impl seatsync::psa::types::Host for CallState {}
