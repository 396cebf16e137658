//! A hostile component of the `seatsync:psa@0.2.0` `plugin` world, for the
//! host's containment tests (`tests/tests/hostile_plugins.rs`).
//!
//! It is the real connector (the `seatsync-plugin` crate without its own
//! exports, over its `wasi:http` transport; `describe`, `plan-network` and
//! `end-line` included), except for one organization: a `sync-organization` call for
//! contract [`TRIGGER_CONTRACT`] misbehaves instead. Which misbehaviour is
//! chosen by the quantity of the request's first line (there is no other
//! input a test can vary without environment variables, which the host does
//! not give): `code * 100_000 + argument`, where the argument is a loopback
//! port for the cases that need one.
//!
//! | code | behaviour |
//! |------|-----------|
//! | 1 | a loop that never ends |
//! | 2 | allocates until it is stopped |
//! | 3 | GET `http://other.invalid/` (another host) |
//! | 4 | GET `http://127.0.0.1:<argument>/` (another loopback port) |
//! | 5 | GET `http://10.0.0.1/` (a private address) |
//! | 6 | probes files, environment, sockets and name lookup; `<argument>` is a loopback port |
//! | 7 | panics |
//! | 8 | logs (and prints) forever |
//! | 9 | logs 20,000 lines of 8 KiB and 1 MiB of stdout and stderr, then fails |
//! | 10 | returns a report of 300,000 lines for its one request line |
//! | 11 | fails with a 32 MiB error message |
//! | 12 | sleeps for an hour |
//! | 13 | syncs for real even when asked for a dry run (writes) |
//! | 14 | fails with `served <count>: <keys>`, the `public-key` settings of every call this instance has served, this one included (state kept between calls) |
//! | 15 | syncs for real (it writes), then panics |
//! | 16 | starts a POST to its `site` setting (path `/hostile-pending`, not the API) whose body it never finishes, and returns while it is pending |
//!
//! The crate compiles to nothing except for `wasm32`.

#![cfg(target_arch = "wasm32")]

use seatsync_plugin::bindings::seatsync::psa::log;
use seatsync_plugin::bindings::{Connector, Guest, setting, transport, wit};
use seatsync_plugin::connection::keys;
use seatsync_plugin::http::{Method, Request, Transport};

/// The contract (agreement) whose sync misbehaves: "Margie's Travel" in the
/// demo tenant, whose agreement has no additions.
pub const TRIGGER_CONTRACT: wit::RecordId = 129;

/// The quantity's unit for the behaviour's code.
const CODE_UNIT: u32 = 100_000;

struct Hostile;

seatsync_plugin::bindings::export!(Hostile);

/// The real connector, except for the trigger contract's sync.
impl Guest for Hostile {
    fn describe() -> wit::ConnectorDescription {
        Connector::describe()
    }

    fn plan_network(settings: wit::Settings) -> Result<wit::NetworkPlan, wit::ConnectorError> {
        Connector::plan_network(settings)
    }

    fn test_connection(
        settings: wit::Settings,
    ) -> Result<wit::ConnectionInfo, wit::ConnectorError> {
        Connector::test_connection(settings)
    }

    fn list_products(settings: wit::Settings) -> Result<Vec<wit::Product>, wit::ConnectorError> {
        Connector::list_products(settings)
    }

    fn list_companies(settings: wit::Settings) -> Result<Vec<wit::Company>, wit::ConnectorError> {
        Connector::list_companies(settings)
    }

    fn list_contracts(
        settings: wit::Settings,
        company_id: Option<wit::RecordId>,
    ) -> Result<Vec<wit::Contract>, wit::ConnectorError> {
        Connector::list_contracts(settings, company_id)
    }

    fn sync_organization(
        settings: wit::Settings,
        request: wit::SyncRequest,
    ) -> Result<wit::SyncReport, wit::ConnectorError> {
        let code = request.lines.first().map(|l| l.quantity).unwrap_or(0);
        if request.contract_id == TRIGGER_CONTRACT && code / CODE_UNIT == 13 {
            // Ignore the dry run: the host must refuse the writes.
            let mut real = request;
            real.dry_run = false;
            return Connector::sync_organization(settings, real);
        }
        if request.contract_id == TRIGGER_CONTRACT && code / CODE_UNIT == 15 {
            let report = Connector::sync_organization(settings, request);
            panic!(
                "the hostile guest panics after writing: {:?}",
                report.map(|r| r.writes)
            );
        }
        if request.contract_id == TRIGGER_CONTRACT && code / CODE_UNIT == 16 {
            return Err(leave_pending(
                setting(&settings, keys::SITE).unwrap_or_default(),
            ));
        }
        if request.contract_id == TRIGGER_CONTRACT && code / CODE_UNIT == 14 {
            return Err(remember(&settings));
        }
        if request.contract_id == TRIGGER_CONTRACT && code >= CODE_UNIT {
            return misbehave(code / CODE_UNIT, code % CODE_UNIT, &request);
        }
        Connector::sync_organization(settings, request)
    }

    fn end_line(
        settings: wit::Settings,
        contract_id: wit::RecordId,
        line_id: wit::RecordId,
        day: wit::Day,
    ) -> Result<(), wit::ConnectorError> {
        Connector::end_line(settings, contract_id, line_id, day)
    }
}

/// Starts a POST whose body is never finished and returns, leaving the
/// request (and its body) in the host's resource table.
fn leave_pending(site: &str) -> wit::ConnectorError {
    use waki::bindings::wasi::http::{outgoing_handler, types};
    let authority = site.trim_start_matches("http://").trim_end_matches('/');
    let request = types::OutgoingRequest::new(types::Fields::new());
    let _ = request.set_method(&types::Method::Post);
    let _ = request.set_scheme(Some(&types::Scheme::Http));
    let _ = request.set_authority(Some(authority));
    let _ = request.set_path_with_query(Some("/hostile-pending"));
    let Ok(body) = request.body() else {
        return wit::ConnectorError::Transport("no body".into());
    };
    match outgoing_handler::handle(request, None) {
        Ok(pending) => {
            // Neither finished nor dropped: still pending when this returns.
            std::mem::forget(body);
            std::mem::forget(pending);
            wit::ConnectorError::Transport("left a request pending".into())
        }
        Err(e) => wit::ConnectorError::Transport(format!("{e:?}")),
    }
}

/// Keeps the public key of every call in the instance's memory and reports
/// them all: shows the host which calls shared an instance.
fn remember(settings: &wit::Settings) -> wit::ConnectorError {
    static SERVED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut served = SERVED.lock().unwrap_or_else(|p| p.into_inner());
    served.push(
        setting(settings, keys::PUBLIC_KEY)
            .unwrap_or_default()
            .to_string(),
    );
    // The count first: the host caps long messages.
    wit::ConnectorError::InvalidConfig(format!("served {}: {}", served.len(), served.join(",")))
}

fn misbehave(
    code: u32,
    argument: u32,
    request: &wit::SyncRequest,
) -> Result<wit::SyncReport, wit::ConnectorError> {
    match code {
        1 => {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        2 => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                let mut chunk = vec![0u8; 1 << 20];
                if let Some(last) = chunk.last_mut() {
                    *last = 1;
                }
                hoard.push(std::hint::black_box(chunk));
            }
        }
        3 => fetch("http://other.invalid/"),
        4 => fetch(&format!("http://127.0.0.1:{argument}/")),
        5 => fetch("http://10.0.0.1/"),
        6 => Err(wit::ConnectorError::Transport(probe(argument as u16))),
        7 => panic!("the hostile guest panics on purpose"),
        8 => loop {
            log::emit(log::Level::Warn, "the hostile guest logs forever");
            println!("the hostile guest prints forever");
        },
        9 => {
            let line = "x".repeat(8 * 1024);
            for _ in 0..20_000 {
                log::emit(log::Level::Info, &line);
            }
            let block = "y".repeat(1023) + "\n";
            for _ in 0..1024 {
                print!("{block}");
                eprint!("{block}");
            }
            Err(wit::ConnectorError::Transport("flooded the log".into()))
        }
        10 => {
            let line = request.lines[0].clone();
            let lines = (0..300_000)
                .map(|i| wit::LineResult {
                    package_key: line.package_key.clone(),
                    product_id: line.product_id,
                    quantity: line.quantity,
                    outcome: wit::LineOutcome::Skipped(format!("hostile line {i}")),
                    line_id: None,
                    unit_price: None,
                })
                .collect();
            Ok(wit::SyncReport {
                company_id: request.company_id,
                contract_id: request.contract_id,
                dry_run: request.dry_run,
                lines,
                requests: 0,
                writes: 0,
            })
        }
        11 => Err(wit::ConnectorError::Transport("z".repeat(32 * 1024 * 1024))),
        12 => {
            std::thread::sleep(std::time::Duration::from_secs(3600));
            Err(wit::ConnectorError::Transport(
                "woke up after an hour".into(),
            ))
        }
        other => Err(wit::ConnectorError::InvalidConfig(format!(
            "the hostile guest has no behaviour {other}"
        ))),
    }
}

/// Sends a GET to `url` and reports what came of it as an error.
fn fetch(url: &str) -> Result<wit::SyncReport, wit::ConnectorError> {
    let request = Request {
        method: Method::Get,
        url: url.to_string(),
        headers: Vec::new(),
        body: None,
    };
    let outcome = match transport().send(&request) {
        Ok(response) => format!("got HTTP {}", response.status),
        Err(e) => format!("failed: {}", e.message),
    };
    Err(wit::ConnectorError::Transport(format!(
        "hostile GET {url}: {outcome}"
    )))
}

/// Tries what a sandboxed component must not have; one `name=result` item
/// per attempt, `;`-separated. A result starts with `err` when the attempt
/// failed.
fn probe(port: u16) -> String {
    use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
    fn show<T>(r: std::io::Result<T>, ok: impl FnOnce(T) -> String) -> String {
        match r {
            Ok(v) => format!("ok {}", ok(v)),
            Err(e) => format!("err {e}"),
        }
    }
    let items = [
        (
            "read_dir",
            show(std::fs::read_dir("/"), |d| format!("{} entries", d.count())),
        ),
        (
            "read_dot",
            show(std::fs::read_dir("."), |d| format!("{} entries", d.count())),
        ),
        (
            "read_passwd",
            show(std::fs::read_to_string("/etc/passwd"), |s| {
                format!("{} bytes", s.len())
            }),
        ),
        (
            "create_file",
            show(std::fs::write("hostile.txt", "x"), |_| "written".into()),
        ),
        ("env_vars", format!("{}", std::env::vars_os().count())),
        ("args", format!("{}", std::env::args_os().count())),
        (
            "tcp_connect",
            show(TcpStream::connect(("127.0.0.1", port)), |_| {
                "connected".into()
            }),
        ),
        (
            "udp_bind",
            show(UdpSocket::bind("127.0.0.1:0"), |_| "bound".into()),
        ),
        (
            "resolve",
            show(("localhost", port).to_socket_addrs(), |a| {
                format!("{} addresses", a.count())
            }),
        ),
    ];
    items
        .iter()
        .map(|(name, result)| format!("{name}={result}"))
        .collect::<Vec<_>>()
        .join("; ")
}
