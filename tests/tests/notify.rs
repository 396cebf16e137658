//! Notifications end to end: the `seatsync` binary sends webhooks to an
//! in-process HTTP receiver and email to an in-process SMTP sink, both on
//! loopback. The exact payloads are snapshots; none holds a secret.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use common::*;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// The SMTP password the tests configure; it must reach no notification.
const SMTP_PASSWORD: &str = "smtp-Pa55-never-shown";

/// What the webhook receiver got: path and body, in order.
type Received = Arc<Mutex<Vec<(String, String)>>>;

/// An HTTP server on loopback that records every POST; the first
/// `fail_first` requests are answered 500.
struct Receiver {
    addr: std::net::SocketAddr,
    received: Received,
    _runtime: tokio::runtime::Runtime,
}

#[derive(Clone)]
struct ReceiverState {
    received: Received,
    fail_first: Arc<AtomicUsize>,
}

async fn record(State(state): State<ReceiverState>, request: Request<Body>) -> StatusCode {
    let path = request.uri().path().to_string();
    let body = to_bytes(request.into_body(), 1 << 20)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let failing = state
        .fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    state.received.lock().unwrap().push((path, body));
    if failing {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::NO_CONTENT
    }
}

impl Receiver {
    fn start(fail_first: usize) -> Receiver {
        let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
        let received: Received = Arc::default();
        let state = ReceiverState {
            received: received.clone(),
            fail_first: Arc::new(AtomicUsize::new(fail_first)),
        };
        let addr = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("the receiver binds on loopback");
            let addr = listener.local_addr().expect("an address");
            let app = axum::Router::new().fallback(record).with_state(state);
            tokio::spawn(async move { axum::serve(listener, app).await });
            addr
        });
        Receiver {
            addr,
            received,
            _runtime: runtime,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn bodies(&self, path: &str) -> Vec<String> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, b)| b.clone())
            .collect()
    }
}

/// An SMTP server on loopback that accepts everything and keeps each
/// message's DATA.
struct SmtpSink {
    port: u16,
    messages: Arc<Mutex<Vec<String>>>,
    _runtime: tokio::runtime::Runtime,
}

impl SmtpSink {
    fn start() -> SmtpSink {
        let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
        let messages: Arc<Mutex<Vec<String>>> = Arc::default();
        let kept = messages.clone();
        let port = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("the SMTP sink binds on loopback");
            let port = listener.local_addr().expect("an address").port();
            tokio::spawn(async move {
                while let Ok((socket, _)) = listener.accept().await {
                    tokio::spawn(smtp_session(socket, kept.clone()));
                }
            });
            port
        });
        SmtpSink {
            port,
            messages,
            _runtime: runtime,
        }
    }

    fn messages(&self) -> Vec<String> {
        self.messages.lock().unwrap().clone()
    }
}

/// One SMTP session, answering as a permissive server would.
async fn smtp_session(socket: tokio::net::TcpStream, messages: Arc<Mutex<Vec<String>>>) {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read).lines();
    let _ = write.write_all(b"220 sink ESMTP\r\n").await;
    while let Ok(Some(line)) = lines.next_line().await {
        let verb = line.split(' ').next().unwrap_or("").to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "EHLO" => b"250-sink\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n",
            "AUTH" => b"235 2.7.0 accepted\r\n",
            "DATA" => {
                let _ = write.write_all(b"354 end with .\r\n").await;
                let mut data = String::new();
                while let Ok(Some(l)) = lines.next_line().await {
                    if l == "." {
                        break;
                    }
                    data.push_str(&l);
                    data.push('\n');
                }
                messages.lock().unwrap().push(data);
                b"250 queued\r\n"
            }
            "QUIT" => {
                let _ = write.write_all(b"221 bye\r\n").await;
                return;
            }
            _ => b"250 ok\r\n",
        };
        let _ = write.write_all(reply).await;
    }
}

/// An email as a snapshot shows it: the headers that hold the wall clock
/// or a random id left out, the quoted-printable soft breaks joined.
fn readable_email(data: &str) -> String {
    data.replace("=\n", "")
        .lines()
        .filter(|l| !l.starts_with("Date:") && !l.starts_with("Message-ID:"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A JSON body, pretty; a run's start time (the commands' clock starts at
/// the tests' instant but then runs) checked and left out.
fn pretty(body: &str) -> String {
    let mut value: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
    if let Some(started) = value.pointer_mut("/details/run/started_at") {
        assert!(
            started
                .as_str()
                .is_some_and(|s| s.starts_with("2026-11-27T06:0")),
            "{started}"
        );
        *started = Value::from("(the run's start)");
    }
    serde_json::to_string_pretty(&value).expect("JSON")
}

/// Every secret the tests know of, none of which may be in `text`.
fn assert_no_secrets(text: &str) {
    assert_no_secret(text);
    assert!(
        !text.contains(SMTP_PASSWORD),
        "the SMTP password leaked: {text}"
    );
}

/// Sets the sink as the tenant's SMTP server and adds `address` for
/// `events`.
fn email_to_sink(env: &Env, sink: &SmtpSink, address: &str, events: &str) {
    let port = sink.port.to_string();
    let smtp = env.run_with_stdin(
        &[
            "notify",
            "smtp",
            "--host",
            "127.0.0.1",
            "--port",
            &port,
            "--plain",
            "--user",
            "billing",
            "--password-stdin",
            "--from",
            "seatsync@msp.example",
        ],
        SMTP_PASSWORD,
    );
    assert_eq!(smtp.status, 0, "{smtp:?}");
    env.ok(&["notify", "add", "email", address, "--events", events]);
}

/// A tenant whose next sync holds Lamna's drop from 120 to 3 and has the
/// demo's conflict.
fn tenant_with_a_held_drop(env: &Env) {
    env.configure();
    assert_eq!(env.run(&["sync"]).status, 2);
    env.import_demo_usage_with(&[(
        "Lamna Healthcare Company,professional,120",
        "Lamna Healthcare Company,professional,3",
    )]);
    env.hold_drops_over_20_percent();
}

#[test]
fn a_run_with_held_lines_and_a_conflict_reaches_every_channel_without_a_secret() {
    let env = Env::new();
    let hooks = Receiver::start(0);
    let sink = SmtpSink::start();
    tenant_with_a_held_drop(&env);
    env.ok(&["notify", "add", "webhook", &hooks.url("/json")]);
    env.ok(&[
        "notify",
        "add",
        "webhook",
        &hooks.url("/slack/T000/B000/token"),
        "--format",
        "slack",
    ]);
    env.ok(&[
        "notify",
        "add",
        "webhook",
        &hooks.url("/teams"),
        "--format",
        "teams",
        "--events",
        "change-held",
    ]);
    // Told only of connection failures: this run is not one.
    env.ok(&[
        "notify",
        "add",
        "webhook",
        &hooks.url("/quiet"),
        "--events",
        "connection-failed",
    ]);
    let port = sink.port.to_string();
    email_to_sink(&env, &sink, "billing@msp.example", "run-problems");
    let listed = env.ok(&["notify", "list"]);
    insta::assert_snapshot!(
        "notifiers",
        env.redact(&listed.stdout)
            .replace(&hooks.addr.port().to_string(), "HOOKS")
            .replace(&port, "SMTP")
    );
    assert_no_secrets(&listed.stdout);

    let sync = env.run(&["sync"]);
    assert_eq!(sync.status, 2, "{sync:?}");
    let json = hooks.bodies("/json");
    assert_eq!(json.len(), 1, "one notification per run: {json:?}");
    insta::assert_snapshot!("webhook_json", pretty(&json[0]));
    let slack = hooks.bodies("/slack/T000/B000/token");
    insta::assert_snapshot!("webhook_slack", pretty(&slack[0]));
    let teams = hooks.bodies("/teams");
    insta::assert_snapshot!("webhook_teams", pretty(&teams[0]));
    assert!(hooks.bodies("/quiet").is_empty(), "it wants other events");
    let mail = sink.messages();
    assert_eq!(mail.len(), 1, "{mail:?}");
    insta::assert_snapshot!("email", readable_email(&mail[0]));
    for text in json.iter().chain(&slack).chain(&teams).chain(&mail) {
        assert_no_secrets(text);
    }
    let history = env.ok(&["history"]);
    assert!(
        history.stdout.contains("Notifications (newest first):"),
        "{}",
        history.stdout
    );
    assert!(
        !history.stdout.contains("/slack/T000/B000/token"),
        "a webhook's path (its token) is never shown: {}",
        history.stdout
    );
    assert_no_secrets(&history.stdout);
}

#[test]
fn a_usage_import_with_new_names_tells_of_them() {
    let env = Env::new();
    let hooks = Receiver::start(0);
    let sink = SmtpSink::start();
    env.configure();
    env.ok(&[
        "notify",
        "add",
        "webhook",
        &hooks.url("/hook"),
        "--events",
        "unmapped",
    ]);
    email_to_sink(&env, &sink, "mapping@msp.example", "unmapped");
    let usage = format!(
        "{}pe-900001,Cedar Accounting LLC,business,8\npe-900002,Cedar Accounting Group,gold,3\n",
        seatsync_fixtures::demo::USAGE_CSV
    );
    let file = env.file("usage.csv", &usage);
    env.ok(&["usage", "import", file.to_str().expect("a UTF-8 path")]);
    let bodies = hooks.bodies("/hook");
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    insta::assert_snapshot!("webhook_unmapped", pretty(&bodies[0]));
    let mail = sink.messages();
    assert_eq!(mail.len(), 1, "{mail:?}");
    let mail = readable_email(&mail[0]);
    assert!(
        mail.contains("To: mapping@msp.example")
            && mail.contains("2 new organization(s): pe-900001, pe-900002"),
        "{mail}"
    );
    assert_no_secrets(&mail);
    // The same file again brings nothing new, so nothing is sent.
    env.ok(&["usage", "import", file.to_str().expect("a UTF-8 path")]);
    assert_eq!(hooks.bodies("/hook").len(), 1);
    assert_eq!(sink.messages().len(), 1);
}

#[test]
fn a_failing_notifier_is_retried_recorded_and_never_fails_the_sync() {
    let env = Env::new();
    let hooks = Receiver::start(1);
    tenant_with_a_held_drop(&env);
    // A port nothing listens on.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("an address");
    env.ok(&["notify", "add", "webhook", &hooks.url("/flaky")]);
    env.ok(&["notify", "add", "webhook", &format!("http://{dead}/gone")]);
    let sync = env.run_with_env(&["sync"], &[("SEATSYNC_NOTIFY_BACKOFF", "20ms,20ms")]);
    assert_eq!(
        sync.status, 2,
        "the run's own status (attention), whatever became of the notifications: {sync:?}"
    );
    assert!(
        sync.stderr.contains(&format!(
            "the notification to http://{dead}/… could not be delivered after 3 attempt(s)"
        )),
        "{}",
        sync.stderr
    );
    assert_eq!(hooks.bodies("/flaky").len(), 2, "a 500, then delivered");
    assert!(
        env.history()[0]["totals"]["held"] == 1,
        "the run is recorded as it was"
    );
    let history = env.ok(&["history"]);
    let rows: Vec<&str> = history
        .stdout
        .lines()
        .filter(|l| l.contains("run-problems, change-held"))
        .collect();
    assert_eq!(rows.len(), 2, "{}", history.stdout);
    assert!(
        rows.iter()
            .any(|r| r.contains("FAILED") && r.contains("|        3 |")),
        "{rows:#?}"
    );
    assert!(
        rows.iter()
            .any(|r| r.contains("| sent ") && r.contains("|        2 |")),
        "{rows:#?}"
    );
}

#[test]
fn refused_credentials_tell_of_a_failed_connection() {
    let env = Env::new();
    let hooks = Receiver::start(0);
    let sink = SmtpSink::start();
    env.configure();
    email_to_sink(&env, &sink, "ops@msp.example", "connection-failed");
    // The API member's key was regenerated in ConnectWise.
    {
        use seatsync_host::store::StoredConnection;
        let mut settings = seatsync_tests::demo_settings(&env.site());
        settings.set("private-key", "an-old-private-key");
        env.store()
            .save_connection(
                "default",
                &StoredConnection::new(settings, ["private-key".to_string()], true, None),
            )
            .expect("saved");
    }
    env.ok(&[
        "notify",
        "add",
        "webhook",
        &hooks.url("/hook"),
        "--events",
        "connection-failed",
    ]);
    let sync = env.run(&["sync"]);
    assert_eq!(sync.status, 1, "{sync:?}");
    let bodies = hooks.bodies("/hook");
    assert_eq!(bodies.len(), 1, "{bodies:?}");
    let notice: Value = serde_json::from_str(&bodies[0]).expect("JSON");
    assert_eq!(
        notice["events"],
        serde_json::json!(["run-problems", "connection-failed"])
    );
    assert!(
        notice["title"]
            .as_str()
            .unwrap()
            .contains("ConnectWise Manage refused the credentials (401/403)"),
        "{notice:#}"
    );
    assert_no_secrets(&bodies[0]);
    assert!(!bodies[0].contains("an-old-private-key"));
    let mail = sink.messages();
    assert_eq!(mail.len(), 1, "{mail:?}");
    assert!(
        readable_email(&mail[0]).contains("Events: run-problems, connection-failed."),
        "{}",
        mail[0]
    );
    assert!(!mail[0].contains("an-old-private-key"));
    assert_no_secrets(&mail[0]);

    // The daemon tests the connection when it starts, and says so.
    let mut daemon = env.spawn(&["run", "--at", "23:59"]);
    wait_until("the daemon's notification", Duration::from_secs(60), || {
        hooks.bodies("/hook").len() == 2
    });
    let _ = daemon.kill();
    let _ = daemon.wait();
    let notice: Value = serde_json::from_str(&hooks.bodies("/hook")[1]).expect("JSON");
    assert_eq!(notice["events"], serde_json::json!(["connection-failed"]));
    assert_eq!(
        notice["title"],
        "seatsync: the connection of tenant 'default' failed its test when the daemon started"
    );
    assert!(!hooks.bodies("/hook")[1].contains("an-old-private-key"));
    wait_until("the daemon's email", Duration::from_secs(10), || {
        sink.messages().len() == 2
    });
    assert!(!sink.messages()[1].contains("an-old-private-key"));
}

#[test]
fn bad_notifier_input_gets_a_clear_error_and_changes_nothing() {
    let env = Env::new();
    env.ok(&["notify", "add", "email", "billing@msp.example"]);
    let before = env.ok(&["notify", "list", "--json"]).stdout;
    for (args, expected) in [
        (
            vec!["notify", "add", "webhook", "hooks.example.com/x"],
            "it is not a URL; give one such as https://hooks.example.com/...",
        ),
        (
            vec!["notify", "add", "webhook", "http://hooks.example.com/x"],
            "plain http is only allowed to a loopback address; use https",
        ),
        (
            vec!["notify", "add", "email", "billing-at-msp"],
            "'billing-at-msp' is not an email address",
        ),
        (
            vec![
                "notify",
                "add",
                "email",
                "a@msp.example",
                "--events",
                "everything",
            ],
            "'everything' is not an event: use run-problems, unmapped, connection-failed, change-held",
        ),
        (
            vec![
                "notify",
                "smtp",
                "--host",
                "smtp.example.com",
                "--port",
                "25",
                "--plain",
                "--from",
                "a@msp.example",
            ],
            "only allowed to a loopback relay",
        ),
        (
            vec![
                "notify",
                "smtp",
                "--host",
                "smtp.example.com",
                "--port",
                "587",
                "--from",
                "a@msp.example",
            ],
            "--starttls",
        ),
        (vec!["notify", "remove", "99"], "no notifier with id 99"),
        (vec!["notify", "test", "99"], "no notifier with id 99"),
    ] {
        let run = env.run(&args);
        assert_ne!(run.status, 0, "{args:?}: {run:?}");
        assert!(run.stderr.contains(expected), "{args:?}: {}", run.stderr);
    }
    assert_eq!(env.ok(&["notify", "list", "--json"]).stdout, before);
}
