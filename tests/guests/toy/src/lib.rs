//! A connector for "Tally", a toy PSA that is unlike ConnectWise in every
//! way the contract must absorb, for the tests that prove the host knows no
//! ConnectWise (`tests/tests/toy_psa.rs`, whose server speaks Tally):
//!
//! - **Another auth scheme on another authority.** OAuth2 client
//!   credentials: `POST {auth-url}/oauth/token` with the client id and
//!   secret gives a bearer token for `{api-url}` (HaloPSA works so). The
//!   token is issued by the server, so no host could derive it: the
//!   connector never logs it nor returns it.
//! - **Other ids.** 64-bit ids above `u32::MAX`, and negative ones.
//! - **Other settings and options.** `api-url`, `auth-url`, `client-id`, the
//!   secret `client-secret`; a line's billing `cycle`.
//!
//! Tally's API (JSON, `Authorization: Bearer <token>`):
//!
//! | request | answer |
//! |---|---|
//! | `GET /v1/whoami` | `{"version": "3.1", "tenant": "…"}` |
//! | `GET /v1/items` | `[{"id", "sku", "name", "active", "price"}]` |
//! | `GET /v1/clients` | `[{"id", "name", "deleted"}]` |
//! | `GET /v1/contracts[?client=ID]` | `[{"id", "name", "client", "status"}]` |
//! | `GET /v1/contracts/{id}/lines` | `[{"id", "item", "quantity", "cycle", "ended"}]` |
//! | `POST /v1/contracts/{id}/lines` | `{"item", "quantity", "cycle", "start"}` → the line |
//! | `PATCH /v1/lines/{id}` | `{"quantity"}` or `{"ended": true}` → the line |
//!
//! Tally has no end dates: `end-line` ends a line at once, whatever the
//! day, after checking it is one of the contract's and not ended yet.
//!
//! It is deliberately small: one page per list, no retries (a failed write
//! is reported, never repeated).
//!
//! The crate compiles to nothing except for `wasm32`.

#![cfg(target_arch = "wasm32")]

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Value, json};

wit_bindgen::generate!({
    path: "../../../wit",
    world: "guest",
});

use exports::seatsync::psa::connector::Guest;
use seatsync::psa::log::{self, Level};
use seatsync::psa::types as wit;

/// The setting keys.
mod keys {
    pub const API_URL: &str = "api-url";
    pub const AUTH_URL: &str = "auth-url";
    pub const CLIENT_ID: &str = "client-id";
    pub const CLIENT_SECRET: &str = "client-secret";
}

/// The line option: how often a created line bills.
const CYCLE: &str = "cycle";

struct Tally;

export!(Tally);

impl Guest for Tally {
    fn describe() -> wit::ConnectorDescription {
        let setting = |key: &str, label: &str, help: &str, secret: bool| wit::SettingDescription {
            key: key.into(),
            label: label.into(),
            help: help.into(),
            secret,
            required: true,
            default_value: None,
        };
        wit::ConnectorDescription {
            name: "Tally toy connector".into(),
            version: "0.1.0".into(),
            psa: "Tally".into(),
            line_noun: "contract line".into(),
            contract_noun: "contract".into(),
            settings: vec![
                setting(
                    keys::API_URL,
                    "API URL",
                    "Tally's API, e.g. https://api.tally.example",
                    false,
                ),
                setting(
                    keys::AUTH_URL,
                    "Login URL",
                    "Tally's login host, e.g. https://login.tally.example",
                    false,
                ),
                setting(
                    keys::CLIENT_ID,
                    "Client id",
                    "Settings > API clients in Tally",
                    false,
                ),
                setting(
                    keys::CLIENT_SECRET,
                    "Client secret",
                    "Shown once when the API client is made",
                    true,
                ),
            ],
            line_options: vec![wit::OptionDescription {
                key: CYCLE.into(),
                label: "Billing cycle".into(),
                help: "How often a created line is invoiced".into(),
                kind: wit::OptionKind::Choice(vec!["monthly".into(), "annual".into()]),
                default_value: "monthly".into(),
            }],
        }
    }

    fn plan_network(settings: wit::Settings) -> Result<wit::NetworkPlan, wit::ConnectorError> {
        let config = Config::from(&settings)?;
        Ok(wit::NetworkPlan {
            endpoints: vec![
                endpoint(&config.api, wit::EndpointRole::Api)?,
                // Its POSTs sign in; they change no billing data.
                endpoint(&config.auth, wit::EndpointRole::Auth)?,
            ],
            // The token is the server's: nothing to derive.
            secrets: Vec::new(),
        })
    }

    fn test_connection(
        settings: wit::Settings,
    ) -> Result<wit::ConnectionInfo, wit::ConnectorError> {
        let mut session = Session::open(&settings)?;
        let who: Value = session.get("/v1/whoami")?;
        Ok(wit::ConnectionInfo {
            endpoint: session.config.api.clone(),
            psa_version: text(&who, "version"),
            facts: vec![("tenant".into(), text(&who, "tenant"))],
            learned_settings: Vec::new(),
        })
    }

    fn list_products(settings: wit::Settings) -> Result<Vec<wit::Product>, wit::ConnectorError> {
        let mut session = Session::open(&settings)?;
        let items: Vec<Item> = session.get("/v1/items")?;
        let mut products: Vec<wit::Product> = items
            .into_iter()
            .map(|i| wit::Product {
                id: i.id,
                identifier: i.sku,
                description: i.name,
                inactive: !i.active,
                billable_as_line: true,
                price: i.price,
                cost: None,
                taxable: None,
                kind: None,
            })
            .collect();
        products.sort_by_key(|p| p.id);
        Ok(products)
    }

    fn list_companies(settings: wit::Settings) -> Result<Vec<wit::Company>, wit::ConnectorError> {
        let mut session = Session::open(&settings)?;
        let clients: Vec<Client> = session.get("/v1/clients")?;
        let mut companies: Vec<wit::Company> = clients
            .into_iter()
            .filter(|c| !c.deleted)
            .map(|c| wit::Company {
                id: c.id,
                identifier: String::new(),
                name: c.name,
                status: None,
                domain: None,
            })
            .collect();
        companies.sort_by_key(|c| c.id);
        Ok(companies)
    }

    fn list_contracts(
        settings: wit::Settings,
        company_id: Option<wit::RecordId>,
    ) -> Result<Vec<wit::Contract>, wit::ConnectorError> {
        let mut session = Session::open(&settings)?;
        let path = match company_id {
            Some(id) => format!("/v1/contracts?client={id}"),
            None => "/v1/contracts".to_string(),
        };
        let contracts: Vec<TallyContract> = session.get(&path)?;
        let mut contracts: Vec<wit::Contract> = contracts
            .into_iter()
            .map(|c| wit::Contract {
                id: c.id,
                name: c.name,
                company_id: c.client,
                contract_type: None,
                cancelled: c.status != "live",
                status: Some(c.status),
                start: None,
                end: None,
            })
            .collect();
        contracts.sort_by_key(|c| c.id);
        Ok(contracts)
    }

    fn sync_organization(
        settings: wit::Settings,
        request: wit::SyncRequest,
    ) -> Result<wit::SyncReport, wit::ConnectorError> {
        let mut session = Session::open(&settings)?;
        let contract = request.contract_id;
        let lines: Vec<Line> = session.get(&format!("/v1/contracts/{contract}/lines"))?;
        let mut asked: BTreeMap<wit::RecordId, usize> = BTreeMap::new();
        for line in &request.lines {
            *asked.entry(line.product_id).or_default() += 1;
        }
        let mut results = Vec::new();
        for line in &request.lines {
            let active: Vec<&Line> = lines
                .iter()
                .filter(|l| l.item == line.product_id && !l.ended)
                .collect();
            let (outcome, line_id) = if asked[&line.product_id] > 1 {
                (wit::LineOutcome::Conflict(Vec::new()), None)
            } else {
                match active.as_slice() {
                    [] if !request.create_missing => (
                        wit::LineOutcome::Skipped("creating lines is switched off".into()),
                        None,
                    ),
                    [] if request.dry_run => (wit::LineOutcome::Created, None),
                    [] => {
                        let cycle = option(&line.options, CYCLE).unwrap_or("monthly");
                        let body = json!({
                            "item": line.product_id,
                            "quantity": line.quantity,
                            "cycle": cycle,
                            "start": request.start_date,
                        });
                        match session.write::<Line>(
                            "POST",
                            &format!("/v1/contracts/{contract}/lines"),
                            &body,
                        ) {
                            Ok(created) => (wit::LineOutcome::Created, Some(created.id)),
                            Err(e) => (wit::LineOutcome::Failed(e), None),
                        }
                    }
                    [one] if one.quantity == i64::from(line.quantity) => {
                        (wit::LineOutcome::Unchanged, Some(one.id))
                    }
                    [_] if !request.update_quantities => (
                        wit::LineOutcome::Skipped("updating quantities is switched off".into()),
                        Some(active[0].id),
                    ),
                    [one] => {
                        let updated = wit::LineOutcome::Updated(wit::Updated {
                            previous_quantity: one.quantity.to_string(),
                        });
                        if request.dry_run {
                            (updated, Some(one.id))
                        } else {
                            let body = json!({ "quantity": line.quantity });
                            match session.write::<Line>(
                                "PATCH",
                                &format!("/v1/lines/{}", one.id),
                                &body,
                            ) {
                                Ok(_) => (updated, Some(one.id)),
                                Err(e) => (wit::LineOutcome::Failed(e), Some(one.id)),
                            }
                        }
                    }
                    many => (
                        wit::LineOutcome::Conflict(many.iter().map(|l| l.id).collect()),
                        None,
                    ),
                }
            };
            log::emit(
                Level::Info,
                &format!(
                    "contract {contract}: item {} → {outcome:?}",
                    line.product_id
                ),
            );
            results.push(wit::LineResult {
                package_key: line.package_key.clone(),
                product_id: line.product_id,
                quantity: line.quantity,
                outcome,
                line_id,
                unit_price: None,
            });
        }
        Ok(wit::SyncReport {
            company_id: request.company_id,
            contract_id: contract,
            dry_run: request.dry_run,
            lines: results,
            requests: session.requests,
            writes: session.writes,
        })
    }

    fn end_line(
        settings: wit::Settings,
        contract_id: wit::RecordId,
        line_id: wit::RecordId,
        day: wit::Day,
    ) -> Result<(), wit::ConnectorError> {
        let mut session = Session::open(&settings)?;
        // Tally's lines are addressed without their contract: the
        // contract's own list is what says the line is its.
        let lines: Vec<Line> = session.get(&format!("/v1/contracts/{contract_id}/lines"))?;
        match lines.iter().find(|l| l.id == line_id) {
            None => {
                return Err(wit::ConnectorError::NotFound(format!(
                    "contract {contract_id} has no line {line_id}: nothing was changed"
                )));
            }
            Some(line) if line.ended => {
                return Err(wit::ConnectorError::NotFound(format!(
                    "line {line_id} of contract {contract_id} has already ended: nothing was changed"
                )));
            }
            Some(_) => {}
        }
        let ended: Line = session.write(
            "PATCH",
            &format!("/v1/lines/{line_id}"),
            &json!({ "ended": true }),
        )?;
        if !ended.ended {
            return Err(wit::ConnectorError::InvalidResponse(format!(
                "Tally accepted ending line {line_id} but reports it still running"
            )));
        }
        log::emit(
            Level::Info,
            &format!("contract {contract_id}: line {line_id} ended (asked for {day})"),
        );
        Ok(())
    }
}

/// The settings, checked.
struct Config {
    api: String,
    auth: String,
    client_id: String,
    client_secret: String,
}

impl Config {
    fn from(settings: &wit::Settings) -> Result<Config, wit::ConnectorError> {
        let get = |key: &str| {
            settings
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.trim().trim_end_matches('/').to_string())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    wit::ConnectorError::InvalidConfig(format!(
                        "the setting '{key}' is missing: connect again with it"
                    ))
                })
        };
        Ok(Config {
            api: get(keys::API_URL)?,
            auth: get(keys::AUTH_URL)?,
            client_id: get(keys::CLIENT_ID)?,
            client_secret: get(keys::CLIENT_SECRET)?,
        })
    }
}

/// `scheme://authority` of a URL setting.
fn endpoint(url: &str, role: wit::EndpointRole) -> Result<wit::Endpoint, wit::ConnectorError> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        wit::ConnectorError::InvalidConfig(format!("'{url}' is not a URL: give it as https://host"))
    })?;
    let authority = rest.split('/').next().unwrap_or_default();
    if !matches!(scheme, "http" | "https") || authority.is_empty() {
        return Err(wit::ConnectorError::InvalidConfig(format!(
            "'{url}' is not an http(s) URL: give it as https://host"
        )));
    }
    Ok(wit::Endpoint {
        scheme: scheme.into(),
        authority: authority.into(),
        role,
    })
}

/// A signed-in connection: the bearer token, and what was sent.
struct Session {
    config: Config,
    token: String,
    requests: u32,
    writes: u32,
}

impl Session {
    /// Gets a token for the client credentials.
    fn open(settings: &wit::Settings) -> Result<Session, wit::ConnectorError> {
        let config = Config::from(settings)?;
        let encode = |s: &str| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        let form = format!(
            "grant_type=client_credentials&client_id={}&client_secret={}",
            encode(&config.client_id),
            encode(&config.client_secret)
        );
        let url = format!("{}/oauth/token", config.auth);
        let response = waki::Client::new()
            .post(&url)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form.into_bytes())
            .send()
            .map_err(|e| transport(&url, e))?;
        let status = response.status_code();
        log::emit(Level::Debug, &format!("POST {url} → {status}"));
        let body = response.body().map_err(|e| transport(&url, e))?;
        match status {
            200 => {}
            400 | 401 => {
                return Err(wit::ConnectorError::Unauthorized(
                    "Tally refused the client id and secret: check them under Settings > API clients"
                        .into(),
                ));
            }
            _ => return Err(remote(status, &body)),
        }
        let token: Token = serde_json::from_slice(&body).map_err(|e| {
            wit::ConnectorError::InvalidResponse(format!("the token answer is not Tally's: {e}"))
        })?;
        Ok(Session {
            config,
            token: token.access_token,
            requests: 1,
            writes: 0,
        })
    }

    fn get<T: for<'de> Deserialize<'de>>(&mut self, path: &str) -> Result<T, wit::ConnectorError> {
        self.send("GET", path, None)
    }

    fn write<T: for<'de> Deserialize<'de>>(
        &mut self,
        method: &str,
        path: &str,
        body: &Value,
    ) -> Result<T, wit::ConnectorError> {
        let answer = self.send(method, path, Some(body))?;
        self.writes += 1;
        Ok(answer)
    }

    fn send<T: for<'de> Deserialize<'de>>(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, wit::ConnectorError> {
        let url = format!("{}{path}", self.config.api);
        let method_ = match method {
            "POST" => waki::Method::Post,
            "PATCH" => waki::Method::Patch,
            _ => waki::Method::Get,
        };
        let mut request = waki::Client::new()
            .request(method_, &url)
            .header("Authorization", format!("Bearer {}", self.token))
            .header("Accept", "application/json");
        if let Some(body) = body {
            request = request
                .header("Content-Type", "application/json")
                .body(body.to_string().into_bytes());
        }
        self.requests += 1;
        let response = request.send().map_err(|e| transport(&url, e))?;
        let status = response.status_code();
        log::emit(Level::Debug, &format!("{method} {url} → {status}"));
        let bytes = response.body().map_err(|e| transport(&url, e))?;
        match status {
            200 | 201 => serde_json::from_slice(&bytes).map_err(|e| {
                wit::ConnectorError::InvalidResponse(format!(
                    "{method} {url}: not Tally's answer: {e}"
                ))
            }),
            401 => Err(wit::ConnectorError::Unauthorized(
                "Tally refused the token: check the API client".into(),
            )),
            404 => Err(wit::ConnectorError::NotFound(format!(
                "{method} {url}: not found"
            ))),
            _ => Err(remote(status, &bytes)),
        }
    }
}

fn transport(url: &str, e: impl std::fmt::Display) -> wit::ConnectorError {
    let message = e.to_string();
    if message.contains("HttpRequestDenied") {
        wit::ConnectorError::Transport(format!("{url}: the host denied the request"))
    } else {
        wit::ConnectorError::Transport(format!("{url}: {message}"))
    }
}

fn remote(status: u16, body: &[u8]) -> wit::ConnectorError {
    let message: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    wit::ConnectorError::Remote(wit::RemoteError {
        status,
        code: text(&message, "code"),
        message: text(&message, "message"),
    })
}

fn text(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn option<'a>(options: &'a wit::LineOptions, key: &str) -> Option<&'a str> {
    options
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

#[derive(Deserialize)]
struct Token {
    access_token: String,
}

#[derive(Deserialize)]
struct Item {
    id: i64,
    sku: String,
    name: String,
    active: bool,
    price: Option<String>,
}

#[derive(Deserialize)]
struct Client {
    id: i64,
    name: String,
    deleted: bool,
}

#[derive(Deserialize)]
struct TallyContract {
    id: i64,
    name: String,
    client: i64,
    status: String,
}

#[derive(Deserialize)]
struct Line {
    id: i64,
    item: i64,
    quantity: i64,
    ended: bool,
}
