//! The sandbox's limits: each failure names its limit, fails that call only,
//! and leaves the runtime usable for the next call.

mod runtime_support;

use std::time::{Duration, Instant};

use runtime_support::*;
use seatsync_contract::ConnectorError;
use seatsync_host::DEFAULT_COMPONENT;
use seatsync_host::runtime::{Limits, LogSource, Runtime, RuntimeError, RuntimeOptions};

fn runtime_with(limits: Limits) -> Runtime {
    Runtime::new(
        DEFAULT_COMPONENT,
        RuntimeOptions {
            limits,
            cache_dir: Some(shared_cache_dir()),
        },
    )
    .unwrap()
}

/// A `/system/info` whose JSON carries `megabytes` of values the connector
/// has to parse past (an unknown field): memory to hold, CPU to parse.
fn padded_system_info(megabytes: usize) -> String {
    let item = r#"[1.25e3,-2.5,true,null,"abcdef",{"k":[0,1,2]}],"#;
    let count = megabytes * 1024 * 1024 / item.len();
    let mut body = String::with_capacity(megabytes * 1024 * 1024 + 200);
    body.push_str(
        r#"{"version":"v2025.1.10431","isCloud":false,"serverTimeZone":"UTC","padding":["#,
    );
    for _ in 0..count {
        body.push_str(item);
    }
    body.push_str("0]}");
    body
}

/// Serves the padded answer on `/system/info` to the connection's first
/// request, the normal one afterwards.
async fn server_with_padding(megabytes: usize) -> TestServer {
    let padded = padded_system_info(megabytes);
    let served = std::sync::atomic::AtomicBool::new(false);
    TestServer::start(move |request: &Seen| {
        if request.path().ends_with("/system/info")
            && !served.swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            return Reply::json(200, padded.clone());
        }
        connectwise(request)
    })
    .await
}

/// A normal call on the same runtime, after a failed one, works.
async fn still_works(runtime: &Runtime) {
    let server = TestServer::start(connectwise).await;
    let site = format!("http://{}", server.authority());
    let policy = runtime_support::policy_of("http", site.trim_start_matches("http://"), true);
    let call = runtime
        .test_connection(&policy, &connection(&site))
        .await
        .expect("the runtime is still usable");
    assert!(call.value.is_ok(), "{:?}", call.value);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_over_the_wall_clock_limit_is_stopped() {
    let runtime = runtime_with(Limits {
        wall_clock: Duration::from_millis(700),
        ..Limits::default()
    });
    let server = TestServer::start(|_: &Seen| Reply {
        delay: Duration::from_secs(30),
        ..Reply::json(200, SYSTEM_INFO)
    })
    .await;
    let site = format!("http://{}", server.authority());
    let policy = runtime_support::policy_of("http", site.trim_start_matches("http://"), true);
    let started = Instant::now();
    let err = runtime
        .test_connection(&policy, &connection(&site))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        RuntimeError::WallClock {
            limit: Duration::from_millis(700)
        }
    );
    assert!(err.to_string().contains("wall-clock"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    still_works(&runtime).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_over_the_memory_limit_is_stopped() {
    let runtime = runtime_with(Limits {
        memory_bytes: 8 * 1024 * 1024,
        max_response_bytes: 64 * 1024 * 1024,
        ..Limits::default()
    });
    let server = server_with_padding(12).await;
    let site = format!("http://{}", server.authority());
    let policy = runtime_support::policy_of("http", site.trim_start_matches("http://"), true);
    let err = runtime
        .test_connection(&policy, &connection(&site))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        RuntimeError::MemoryLimit {
            limit_bytes: 8 * 1024 * 1024
        }
    );
    assert!(err.to_string().contains("memory limit"), "{err}");
    still_works(&runtime).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_over_the_cpu_budget_is_stopped() {
    let limits = Limits {
        epoch_tick: Duration::from_millis(2),
        cpu_time: Duration::from_millis(40),
        memory_bytes: 512 * 1024 * 1024,
        max_response_bytes: 256 * 1024 * 1024,
        ..Limits::default()
    };
    let runtime = runtime_with(limits);
    let server = server_with_padding(48).await;
    let site = format!("http://{}", server.authority());
    let policy = runtime_support::policy_of("http", site.trim_start_matches("http://"), true);
    let started = Instant::now();
    let result = runtime.test_connection(&policy, &connection(&site)).await;
    eprintln!("cpu call took {:?}", started.elapsed());
    let err = result.unwrap_err();
    assert_eq!(
        err,
        RuntimeError::CpuLimit {
            budget: Duration::from_millis(40)
        }
    );
    assert!(err.to_string().contains("CPU limit"), "{err}");
    still_works(&runtime).await;
}

/// Waiting on a slow server is not computing: a call that waits longer
/// than the CPU budget, but computes little, succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_for_the_server_does_not_count_as_cpu() {
    let runtime = runtime_with(Limits {
        epoch_tick: Duration::from_millis(5),
        cpu_time: Duration::from_millis(200),
        ..Limits::default()
    });
    let server = TestServer::start(|request: &Seen| Reply {
        delay: Duration::from_millis(800),
        ..connectwise(request)
    })
    .await;
    let site = format!("http://{}", server.authority());
    let policy = runtime_support::policy_of("http", site.trim_start_matches("http://"), true);
    let call = runtime
        .test_connection(&policy, &connection(&site))
        .await
        .expect("waiting is not computing");
    assert!(call.value.is_ok(), "{:?}", call.value);
    assert!(call.elapsed >= Duration::from_millis(800));
}

/// A response over the size cap is cut off; the connector sees a transport
/// error, and the exchange says why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn responses_over_the_size_cap_are_refused() {
    let runtime = runtime_with(Limits {
        max_response_bytes: 64 * 1024,
        ..Limits::default()
    });
    let server = TestServer::start(|_: &Seen| Reply::json(200, padded_system_info(1))).await;
    let site = format!("http://{}", server.authority());
    let policy = runtime_support::policy_of("http", site.trim_start_matches("http://"), true);
    let call = runtime
        .test_connection(&policy, &connection(&site))
        .await
        .unwrap();
    assert!(
        matches!(&call.value, Err(ConnectorError::Transport(_))),
        "{:?}",
        call.value
    );
    let exchange = &call.exchanges[0];
    assert_eq!(exchange.status, None);
    assert!(
        exchange
            .error
            .as_deref()
            .unwrap()
            .contains("body size exceeds limit"),
        "{exchange:?}"
    );
    // A small answer under the same cap is fine.
    still_works(&runtime).await;
}

/// The host's first-byte timeout bounds the guest's (which sets none).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_timeouts_are_clamped_to_the_hosts() {
    let runtime = runtime_with(Limits {
        first_byte_timeout: Duration::from_millis(200),
        ..Limits::default()
    });
    let server = TestServer::start(|request: &Seen| Reply {
        delay: Duration::from_secs(5),
        ..connectwise(request)
    })
    .await;
    let site = format!("http://{}", server.authority());
    let policy = runtime_support::policy_of("http", site.trim_start_matches("http://"), true);
    let call = runtime
        .test_connection(&policy, &connection(&site))
        .await
        .unwrap();
    assert!(
        matches!(&call.value, Err(ConnectorError::Transport(_))),
        "{:?}",
        call.value
    );
    for exchange in &call.exchanges {
        assert_eq!(exchange.error.as_deref(), Some("connection read timeout"));
        assert!(exchange.duration < Duration::from_secs(2), "{exchange:?}");
    }
}

/// Log lines are capped in number and length; the cut is said.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_lines_are_capped() {
    let runtime = runtime_with(Limits {
        max_log_lines: 1,
        max_log_line_bytes: 12,
        ..Limits::default()
    });
    let server = TestServer::start(connectwise).await;
    let site = format!("http://{}", server.authority());
    let policy = runtime_support::policy_of("http", site.trim_start_matches("http://"), true);
    let call = runtime
        .test_connection(&policy, &connection(&site))
        .await
        .unwrap();
    assert!(call.value.is_ok());
    assert_eq!(call.log.len(), 2, "{:#?}", call.log);
    assert_eq!(call.log[0].source, LogSource::Connector);
    assert!(call.log[0].message.len() <= 12, "{:?}", call.log[0]);
    assert!(call.log[0].message.ends_with('…'), "{:?}", call.log[0]);
    assert_eq!(call.log[1].source, LogSource::Host);
    assert!(
        call.log[1].message.contains("more log lines were dropped"),
        "{:?}",
        call.log[1]
    );
}
