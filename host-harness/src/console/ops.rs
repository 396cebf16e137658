//! For operators: `/healthz` (liveness) and `/metrics` (Prometheus text
//! format). Neither needs a login, as monitoring systems expect; neither
//! shows more than tenant names and counts.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::{Console, ConsoleError};

/// `GET /healthz`: the process answers and its database opens.
pub async fn healthz(State(console): State<Console>) -> Result<&'static str, ConsoleError> {
    console.with_store(|_| Ok(())).await?;
    Ok("ok\n")
}

/// A label value, escaped as the text format wants.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// `GET /metrics`.
pub async fn metrics(State(console): State<Console>) -> Result<impl IntoResponse, ConsoleError> {
    let (stats, connected) = console
        .with_store(|s| {
            let connected = s
                .tenants()?
                .into_iter()
                .map(|t| Ok((s.connection(&t)?.is_some(), t)))
                .collect::<Result<Vec<_>, ConsoleError>>()?;
            Ok((s.run_stats()?, connected))
        })
        .await?;
    let mut out = String::new();
    let mut w = |line: String| {
        out.push_str(&line);
        out.push('\n');
    };
    w("# HELP seatsync_runs_total Sync runs (not dry runs) by tenant and status.".into());
    w("# TYPE seatsync_runs_total counter".into());
    for s in &stats {
        w(format!(
            "seatsync_runs_total{{tenant=\"{}\",status=\"{}\"}} {}",
            label(&s.tenant),
            s.status,
            s.runs
        ));
    }
    w("# HELP seatsync_lines_total Lines of sync runs by tenant and outcome.".into());
    w("# TYPE seatsync_lines_total counter".into());
    let mut lines: std::collections::BTreeMap<(&str, &str), u64> = Default::default();
    for s in &stats {
        for (outcome, n) in s.lines {
            *lines.entry((&s.tenant, outcome)).or_default() += n;
        }
    }
    for ((tenant, outcome), n) in &lines {
        w(format!(
            "seatsync_lines_total{{tenant=\"{}\",outcome=\"{outcome}\"}} {n}",
            label(tenant)
        ));
    }
    w("# HELP seatsync_psa_requests_total Requests sync runs sent to the PSA, by tenant.".into());
    w("# TYPE seatsync_psa_requests_total counter".into());
    let mut requests: std::collections::BTreeMap<&str, u64> = Default::default();
    for s in &stats {
        *requests.entry(&s.tenant).or_default() += s.requests;
    }
    for (tenant, n) in &requests {
        w(format!(
            "seatsync_psa_requests_total{{tenant=\"{}\"}} {n}",
            label(tenant)
        ));
    }
    let (answers, throttled) = console.options().runtime.http_answers();
    w("# HELP seatsync_http_answers_total Answers to this process's PSA requests.".into());
    w("# TYPE seatsync_http_answers_total counter".into());
    w(format!("seatsync_http_answers_total {answers}"));
    w("# HELP seatsync_http_throttled_total Of them, 429 Too Many Requests.".into());
    w("# TYPE seatsync_http_throttled_total counter".into());
    w(format!("seatsync_http_throttled_total {throttled}"));
    w("# HELP seatsync_last_success_timestamp_seconds Start of the tenant's latest successful run.".into());
    w("# TYPE seatsync_last_success_timestamp_seconds gauge".into());
    for s in stats.iter().filter(|s| s.status == "succeeded") {
        w(format!(
            "seatsync_last_success_timestamp_seconds{{tenant=\"{}\"}} {}",
            label(&s.tenant),
            s.last_started.timestamp()
        ));
    }
    w("# HELP seatsync_next_run_timestamp_seconds The next scheduled run of each connected tenant.".into());
    w("# TYPE seatsync_next_run_timestamp_seconds gauge".into());
    let next = crate::schedule::next_fire(console.now(), console.options().at);
    for (_, tenant) in connected.iter().filter(|(c, _)| *c) {
        w(format!(
            "seatsync_next_run_timestamp_seconds{{tenant=\"{}\"}} {}",
            label(tenant),
            next.timestamp()
        ));
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    ))
}
