//! The host knows no ConnectWise: a second connector, for "Tally", a toy PSA
//! unlike ConnectWise (`tests/guests/toy`: OAuth2 client credentials on a
//! separate login host, 64-bit and negative ids, its own settings and line
//! option), runs through the same `seatsync` binary with `--plugin`:
//! connect, test-connection, products, companies, agreements, map, sync,
//! history. Tally is served here by a tiny server on two loopback ports, one
//! per authority.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use common::Env;
use serde_json::{Value, json};

/// The toy connector component, built by `tests/build.rs`.
const TOY: &str = env!("GUEST_TOY");

/// The API client's credentials, and the token Tally issues for them.
const CLIENT_ID: &str = "msp-7";
const CLIENT_SECRET: &str = "tally-secret-9f8e7d6c";
const TOKEN: &str = "tally-token-0123456789abcdef";

/// Ids beyond `u32`, and a negative one (HaloPSA has those).
const BUSINESS: i64 = 7_000_000_001;
const ADVANCED: i64 = 7_000_000_002;
const INTERNAL: i64 = -4;
const BLUE_YONDER: i64 = 5_000_000_002;
const INTERNAL_SEATS: i64 = 9_000_000_123;
const BLUE_YONDER_MSA: i64 = 9_000_000_200;
const BLUE_YONDER_OLD: i64 = 9_000_000_300;

/// One request Tally received.
#[derive(Debug, Clone)]
struct Seen {
    /// `auth` or `api`: which authority it reached.
    authority: &'static str,
    method: String,
    path: String,
    authorization: Option<String>,
    body: String,
}

/// Tally's data and what it saw.
struct Data {
    /// Contract lines: (contract, line).
    lines: Vec<(i64, Value)>,
    next_line: i64,
    seen: Vec<Seen>,
}

/// Tally on two loopback ports; stops when dropped.
struct Tally {
    data: Arc<Mutex<Data>>,
    api: SocketAddr,
    auth: SocketAddr,
    _runtime: tokio::runtime::Runtime,
}

impl Tally {
    fn start() -> Tally {
        let data = Arc::new(Mutex::new(Data {
            lines: vec![
                (
                    INTERNAL_SEATS,
                    json!({"id": 8_000_000_001_i64, "item": BUSINESS, "quantity": 3, "cycle": "annual", "ended": false}),
                ),
                // Ended: never counted nor touched.
                (
                    INTERNAL_SEATS,
                    json!({"id": 8_000_000_002_i64, "item": BUSINESS, "quantity": 10, "cycle": "annual", "ended": true}),
                ),
            ],
            next_line: 8_000_000_100,
            seen: Vec::new(),
        }));
        let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
        let (api, auth) = runtime.block_on(async {
            let api = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let auth = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let addrs = (
                api.local_addr().expect("addr"),
                auth.local_addr().expect("addr"),
            );
            let api_app = axum::Router::new()
                .fallback(api_route)
                .with_state(data.clone());
            let auth_app = axum::Router::new()
                .fallback(auth_route)
                .with_state(data.clone());
            tokio::spawn(async move { axum::serve(api, api_app).await });
            tokio::spawn(async move { axum::serve(auth, auth_app).await });
            addrs
        });
        Tally {
            data,
            api,
            auth,
            _runtime: runtime,
        }
    }

    fn seen(&self) -> Vec<Seen> {
        self.data.lock().expect("tally's data").seen.clone()
    }

    /// A contract's lines, by id.
    fn lines(&self, contract: i64) -> Vec<Value> {
        let data = self.data.lock().expect("tally's data");
        let mut lines: Vec<Value> = data
            .lines
            .iter()
            .filter(|(c, _)| *c == contract)
            .map(|(_, l)| l.clone())
            .collect();
        lines.sort_by_key(|l| l["id"].as_i64());
        lines
    }

    fn writes(&self) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.method != "GET" && s.authority == "api")
            .count()
    }
}

/// Records a request and returns its parts.
async fn record(data: &Mutex<Data>, authority: &'static str, request: Request) -> Seen {
    let (parts, body) = request.into_parts();
    let body = to_bytes(body, 1 << 20).await.unwrap_or_default();
    let seen = Seen {
        authority,
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        authorization: parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    data.lock().expect("tally's data").seen.push(seen.clone());
    seen
}

fn answer(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        Body::from(body.to_string()),
    )
        .into_response()
}

/// The login host: client credentials for a token.
async fn auth_route(State(data): State<Arc<Mutex<Data>>>, request: Request) -> Response {
    let seen = record(&data, "auth", request).await;
    let form: BTreeMap<String, String> = form_urlencoded::parse(seen.body.as_bytes())
        .into_owned()
        .collect();
    let field = |key: &str| form.get(key).map(String::as_str);
    let valid = seen.method == "POST"
        && seen.path == "/oauth/token"
        && field("grant_type") == Some("client_credentials")
        && field("client_id") == Some(CLIENT_ID)
        && field("client_secret") == Some(CLIENT_SECRET);
    if valid {
        answer(
            StatusCode::OK,
            json!({"access_token": TOKEN, "token_type": "Bearer", "expires_in": 3600}),
        )
    } else {
        answer(StatusCode::UNAUTHORIZED, json!({"error": "invalid_client"}))
    }
}

/// The API host.
async fn api_route(State(data): State<Arc<Mutex<Data>>>, request: Request) -> Response {
    let method = request.method().clone();
    let seen = record(&data, "api", request).await;
    if seen.authorization.as_deref() != Some(&format!("Bearer {TOKEN}")) {
        return answer(StatusCode::UNAUTHORIZED, json!({"message": "no token"}));
    }
    let (path, query) = seen.path.split_once('?').unwrap_or((&seen.path, ""));
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let mut data = data.lock().expect("tally's data");
    match (method, segments.as_slice()) {
        (Method::GET, ["v1", "whoami"]) => answer(
            StatusCode::OK,
            json!({"version": "3.1", "tenant": "Toy MSP"}),
        ),
        (Method::GET, ["v1", "items"]) => answer(
            StatusCode::OK,
            json!([
                {"id": ADVANCED, "sku": "SEC-ADV", "name": "Email security Advanced", "active": true, "price": "7.50"},
                {"id": BUSINESS, "sku": "SEC-BUS", "name": "Email security Business", "active": true, "price": "4.75"},
                {"id": 7_000_000_003_i64, "sku": "SEC-OLD", "name": "Email security (old)", "active": false, "price": null},
            ]),
        ),
        (Method::GET, ["v1", "clients"]) => answer(
            StatusCode::OK,
            json!([
                {"id": BLUE_YONDER, "name": "Blue Yonder Ltd", "deleted": false},
                {"id": INTERNAL, "name": "Internal IT", "deleted": false},
                {"id": 5_000_000_003_i64, "name": "Gone Corp", "deleted": true},
            ]),
        ),
        (Method::GET, ["v1", "contracts"]) => {
            let all = [
                json!({"id": INTERNAL_SEATS, "name": "Internal seats", "client": INTERNAL, "status": "live"}),
                json!({"id": BLUE_YONDER_MSA, "name": "Blue Yonder MSA", "client": BLUE_YONDER, "status": "live"}),
                json!({"id": BLUE_YONDER_OLD, "name": "Blue Yonder 2023", "client": BLUE_YONDER, "status": "ended"}),
            ];
            let client: Option<i64> = query.strip_prefix("client=").and_then(|id| id.parse().ok());
            let listed: Vec<Value> = all
                .into_iter()
                .filter(|c| {
                    client
                        .as_ref()
                        .is_none_or(|id| c["client"].as_i64() == Some(*id))
                })
                .collect();
            answer(StatusCode::OK, Value::Array(listed))
        }
        (Method::GET, ["v1", "contracts", id, "lines"]) => {
            let id: i64 = id.parse().unwrap_or_default();
            let lines: Vec<Value> = data
                .lines
                .iter()
                .filter(|(c, _)| *c == id)
                .map(|(_, l)| l.clone())
                .collect();
            answer(StatusCode::OK, Value::Array(lines))
        }
        (Method::POST, ["v1", "contracts", id, "lines"]) => {
            let contract: i64 = id.parse().unwrap_or_default();
            let body: Value = serde_json::from_str(&seen.body).unwrap_or(Value::Null);
            let id = data.next_line;
            data.next_line += 1;
            let line = json!({
                "id": id,
                "item": body["item"],
                "quantity": body["quantity"],
                "cycle": body["cycle"],
                "start": body["start"],
                "ended": false,
            });
            data.lines.push((contract, line.clone()));
            answer(StatusCode::CREATED, line)
        }
        (Method::PATCH, ["v1", "lines", id]) => {
            let id: i64 = id.parse().unwrap_or_default();
            let body: Value = serde_json::from_str(&seen.body).unwrap_or(Value::Null);
            match data.lines.iter_mut().find(|(_, l)| l["id"] == id) {
                Some((_, line)) => {
                    // Only the fields sent change: a quantity, or the end.
                    for field in ["quantity", "ended"] {
                        if let Some(value) = body.get(field) {
                            line[field] = value.clone();
                        }
                    }
                    answer(StatusCode::OK, line.clone())
                }
                None => answer(StatusCode::NOT_FOUND, json!({"message": "no such line"})),
            }
        }
        _ => answer(StatusCode::NOT_FOUND, json!({"message": "no such route"})),
    }
}

/// Runs `seatsync --plugin TOY ARGS…`, and checks that neither the secret
/// nor the token Tally issued appears in what it printed.
fn toy(env: &Env, args: &[&str], stdin: &str) -> common::Run {
    let args: Vec<&str> = ["--plugin", TOY]
        .into_iter()
        .chain(args.iter().copied())
        .collect();
    let run = env.run_with_stdin(&args, stdin);
    for text in [&run.stdout, &run.stderr] {
        assert!(
            !text.contains(CLIENT_SECRET),
            "the client secret leaked:\n{text}"
        );
        assert!(!text.contains(TOKEN), "Tally's token leaked:\n{text}");
    }
    run
}

fn ok(env: &Env, args: &[&str]) -> common::Run {
    let run = toy(env, args, "");
    assert_eq!(
        run.status, 0,
        "seatsync {args:?}:\n{}\n{}",
        run.stdout, run.stderr
    );
    run
}

/// Runs `seatsync --plugin TOY ARGS…` and expects it refused (exit 1)
/// with `reason` in its error.
fn refused(env: &Env, args: &[&str], stdin: &str, reason: &str) {
    let run = toy(env, args, stdin);
    assert_eq!(
        run.status, 1,
        "seatsync {args:?}:\n{}\n{}",
        run.stdout, run.stderr
    );
    assert!(run.stderr.contains(reason), "{}", run.stderr);
}

fn json_of(run: &common::Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", run.stdout))
}

fn ids(list: &Value) -> Vec<i64> {
    list.as_array()
        .expect("a list")
        .iter()
        .map(|item| item["id"].as_i64().expect("an id"))
        .collect()
}

#[test]
fn a_toy_psa_connector_runs_the_whole_cli_flow() {
    // The ConnectWise simulator `Env` starts is not used: Tally is the PSA.
    let env = Env::new();
    let tally = Tally::start();
    let api_url = format!("http://{}", tally.api);
    let auth_url = format!("http://{}", tally.auth);
    let api_setting = format!("api-url={api_url}");
    let auth_setting = format!("auth-url={auth_url}");
    let client_setting = format!("client-id={CLIENT_ID}");
    let connect = [
        "connect",
        "--setting",
        &api_setting,
        "--setting",
        &auth_setting,
        "--setting",
        &client_setting,
        "--secret-stdin",
        "client-secret",
        "--allow-http",
    ];

    // A wrong secret: refused by the login host, nothing stored.
    refused(
        &env,
        &connect,
        "not-the-secret\n",
        "Tally refused the client id and secret",
    );
    let untested = toy(&env, &["test-connection"], "");
    assert_ne!(untested.status, 0, "no connection was stored");

    // The ConnectWise flags mean nothing to this connector.
    refused(
        &env,
        &["connect", "--site", "example.com", "--allow-http"],
        "",
        "this connector has no setting 'site': its settings are api-url, auth-url",
    );

    let connected = toy(&env, &connect, &format!("{CLIENT_SECRET}\n"));
    assert_eq!(
        connected.status, 0,
        "{}\n{}",
        connected.stdout, connected.stderr
    );
    assert!(connected.stdout.contains("3.1"), "{}", connected.stdout);
    ok(&env, &["test-connection"]);

    // Lists, with 64-bit and negative ids, in id order.
    let products = json_of(&ok(&env, &["products", "--json"]));
    assert_eq!(ids(&products), [BUSINESS, ADVANCED, 7_000_000_003]);
    let companies = json_of(&ok(&env, &["companies", "--json"]));
    assert_eq!(
        ids(&companies),
        [INTERNAL, BLUE_YONDER],
        "Gone Corp is deleted"
    );
    let contracts = json_of(&ok(
        &env,
        &["agreements", "--company", "5000000002", "--json"],
    ));
    assert_eq!(ids(&contracts), [BLUE_YONDER_MSA, BLUE_YONDER_OLD]);

    let usage = env.file(
        "usage.csv",
        "org_id,org_name,package,active_users\n\
         org-1,Internal IT,business,42\n\
         org-1,Internal IT,advanced,5\n\
         org-2,Blue Yonder,business,17\n",
    );
    ok(
        &env,
        &["usage", "import", usage.to_str().expect("a UTF-8 path")],
    );

    // Map with the toy's own option; ConnectWise's are refused by name.
    let business = BUSINESS.to_string();
    let advanced = ADVANCED.to_string();
    refused(
        &env,
        &[
            "map",
            "package",
            "business",
            "--product",
            &business,
            "--bill",
            "billable",
        ],
        "",
        "no product option 'bill-method': its options are cycle",
    );
    refused(
        &env,
        &[
            "map",
            "package",
            "business",
            "--product",
            &business,
            "--option",
            "cycle=weekly",
        ],
        "",
        "use one of monthly, annual",
    );
    ok(
        &env,
        &[
            "map",
            "package",
            "business",
            "--product",
            &business,
            "--option",
            "cycle=annual",
        ],
    );
    ok(
        &env,
        &["map", "package", "advanced", "--product", &advanced],
    );
    let ended = toy(
        &env,
        &[
            "map",
            "org",
            "org-2",
            "--company",
            "5000000002",
            "--agreement",
            "9000000300",
        ],
        "",
    );
    assert_eq!(ended.status, 1, "an ended contract is refused");
    // A negative id is a value, not a flag.
    ok(
        &env,
        &[
            "map",
            "org",
            "org-1",
            "--company",
            "-4",
            "--agreement",
            "9000000123",
        ],
    );
    ok(
        &env,
        &[
            "map",
            "org",
            "org-2",
            "--company",
            "5000000002",
            "--agreement",
            "9000000200",
        ],
    );

    // A dry run writes nothing; the sync writes three lines.
    let dry = ok(&env, &["sync", "--dry-run", "--json"]);
    assert_eq!(tally.writes(), 0, "{}", dry.stdout);
    let synced = toy(&env, &["sync", "--json"], "");
    assert_eq!(synced.status, 0, "{}\n{}", synced.stdout, synced.stderr);
    assert_eq!(tally.writes(), 3, "one update, two creates");

    let day = common::today();
    let strip = |lines: Vec<Value>| -> Vec<Value> {
        lines
            .into_iter()
            .map(|mut l| {
                l.as_object_mut().expect("a line").remove("id");
                l
            })
            .collect()
    };
    assert_eq!(
        tally.lines(INTERNAL_SEATS),
        [
            json!({"id": 8_000_000_001_i64, "item": BUSINESS, "quantity": 42, "cycle": "annual", "ended": false}),
            json!({"id": 8_000_000_002_i64, "item": BUSINESS, "quantity": 10, "cycle": "annual", "ended": true}),
            json!({"id": 8_000_000_100_i64, "item": ADVANCED, "quantity": 5, "cycle": "monthly", "start": day, "ended": false}),
        ]
    );
    assert_eq!(
        strip(tally.lines(BLUE_YONDER_MSA)),
        [
            json!({"item": BUSINESS, "quantity": 17, "cycle": "annual", "start": day, "ended": false})
        ]
    );

    // Again: nothing to write.
    ok(&env, &["sync", "--json"]);
    assert_eq!(tally.writes(), 3, "a re-sync writes nothing");

    let history = json_of(&ok(&env, &["history", "--json"]));
    let runs = history.as_array().expect("a list of runs");
    let statuses: Vec<&str> = runs.iter().filter_map(|r| r["status"].as_str()).collect();
    assert_eq!(statuses.len(), 3, "{history:#}");
    assert_eq!(statuses, ["succeeded"; 3], "{history:#}");
    let dry: Vec<bool> = runs.iter().filter_map(|r| r["dry_run"].as_bool()).collect();
    assert_eq!(dry, [false, false, true], "newest first: {history:#}");

    // Two authorities, each used for its own job: the secret only ever
    // went to the login host, the token only to the API host.
    let seen = tally.seen();
    for s in &seen {
        match s.authority {
            "auth" => {
                assert_eq!(
                    (s.method.as_str(), s.path.as_str()),
                    ("POST", "/oauth/token")
                );
                assert_eq!(s.authorization, None);
            }
            _ => {
                assert!(!s.body.contains(CLIENT_SECRET), "{s:?}");
                assert!(!s.path.contains(CLIENT_SECRET), "{s:?}");
            }
        }
    }
    assert!(seen.iter().any(|s| s.authority == "auth"));
    assert!(seen.iter().any(|s| s.authority == "api"));
}

/// `end-line` through the toy connector, in the host's runtime: Tally
/// addresses lines without their contract, so the connector checks the
/// contract's list first; a line of another contract, or one that has
/// ended, is refused with nothing written.
#[test]
fn the_toy_connector_ends_only_an_active_line_of_the_contract() {
    use seatsync_contract::{ConnectorError, Settings};
    use seatsync_host::runtime::{NetworkPolicy, Runtime, RuntimeOptions};

    let tally = Tally::start();
    let settings: Settings = [
        ("api-url", format!("http://{}", tally.api)),
        ("auth-url", format!("http://{}", tally.auth)),
        ("client-id", CLIENT_ID.to_string()),
        ("client-secret", CLIENT_SECRET.to_string()),
    ]
    .into_iter()
    .collect();
    let bytes = std::fs::read(TOY).expect("the toy component is built");
    let runtime = Runtime::new(
        &bytes,
        RuntimeOptions {
            cache_dir: Some(common::shared_cache_dir()),
            ..RuntimeOptions::default()
        },
    )
    .expect("the toy component loads");
    let host = tokio::runtime::Runtime::new().expect("a tokio runtime");
    host.block_on(async {
        let plan = runtime
            .plan_network(&settings)
            .await
            .expect("plans")
            .value
            .expect("a plan");
        let policy = NetworkPolicy::from_plan(&plan, true).expect("loopback allowed");
        let end = |contract: i64, line: i64| {
            let (runtime, policy, settings) = (&runtime, &policy, &settings);
            async move {
                runtime
                    .end_line(policy, settings, contract, line, "2026-11-27", None)
                    .await
                    .expect("the call completes")
            }
        };

        let other = end(BLUE_YONDER_MSA, 8_000_000_001).await;
        assert_eq!(
            other.value,
            Err(ConnectorError::NotFound(
                "contract 9000000200 has no line 8000000001: nothing was changed".into()
            ))
        );
        let ended = end(INTERNAL_SEATS, 8_000_000_002).await;
        assert_eq!(
            ended.value,
            Err(ConnectorError::NotFound(
                "line 8000000002 of contract 9000000123 has already ended: nothing was changed".into()
            ))
        );
        assert_eq!(tally.writes(), 0, "nothing written");

        let done = end(INTERNAL_SEATS, 8_000_000_001).await;
        assert_eq!(done.value, Ok(()));
        assert_eq!(done.writes, 1);
        assert_eq!(
            tally.lines(INTERNAL_SEATS)[0],
            json!({"id": 8_000_000_001_i64, "item": BUSINESS, "quantity": 3, "cycle": "annual", "ended": true})
        );
        let last = tally.seen().pop().expect("a request");
        assert_eq!(
            (last.method.as_str(), last.path.as_str(), last.body.as_str()),
            ("PATCH", "/v1/lines/8000000001", r#"{"ended":true}"#)
        );
        let again = end(INTERNAL_SEATS, 8_000_000_001).await;
        assert!(
            matches!(&again.value, Err(ConnectorError::NotFound(m)) if m.contains("has already ended")),
            "{:?}",
            again.value
        );
        assert_eq!(tally.writes(), 1);
    });
}
