//! Telling the MSP when a person is needed: a run that failed, conflicted
//! or held lines; a usage import that brought unmapped organizations or
//! packages; a connection that no longer works.
//!
//! - [`Notice`]: what happened, built from a run or an import by pure
//!   functions ([`notice_for_run`], [`notice_for_usage`],
//!   [`notice_for_connection`]);
//! - [`message`]: a notice as each channel wants it (seatsync's JSON,
//!   Slack, Teams, email), also pure;
//! - [`deliver`]: sends a notice to every notifier of the tenant that wants
//!   one of its events, each with retries and back-off, and records what
//!   became of it. It is called after the run is recorded and never
//!   returns an error: a failing notifier never fails a sync, it is logged
//!   and shown in `history`.
//!
//! A notice carries only what the history already shows (redacted of the
//! connection's secrets): no setting, key or password.

mod email;
pub mod message;
mod webhook;

use std::time::Duration;

use serde_json::{Value, json};

use crate::store::{
    Delivery, DeliveryState, NotifierKind, RunId, RunStatus, SmtpSecurity, SmtpSettings, Store,
    UsageImportSummary, WebhookFormat, Withheld,
};
use crate::sync::SyncSummary;

/// What a notifier can ask to be told of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Event {
    /// A run finished with failures, conflicts or held lines.
    RunProblems,
    /// A usage import brought organizations or packages nobody mapped.
    Unmapped,
    /// The connection test failed (daemon start), or a run was refused
    /// with 401/403.
    ConnectionFailed,
    /// A sync held a change for review (the approval rules).
    ChangeHeld,
}

impl Event {
    /// Every event, in the order names are listed.
    pub const ALL: [Event; 4] = [
        Event::RunProblems,
        Event::Unmapped,
        Event::ConnectionFailed,
        Event::ChangeHeld,
    ];

    /// The event's name, as `--events` takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Event::RunProblems => "run-problems",
            Event::Unmapped => "unmapped",
            Event::ConnectionFailed => "connection-failed",
            Event::ChangeHeld => "change-held",
        }
    }

    /// The event named `name`.
    pub fn parse(name: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.as_str() == name)
    }
}

/// Why a notifier cannot be added or a notice sent. Nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// An event name that is not one.
    #[error("'{name}' is not an event: use {}", Event::ALL.map(Event::as_str).join(", "))]
    UnknownEvent {
        /// The name given.
        name: String,
    },
    /// A webhook URL that cannot be used.
    #[error("the webhook URL '{url}' cannot be used: {reason}")]
    BadUrl {
        /// The URL, as given.
        url: String,
        /// Why.
        reason: String,
    },
    /// An email address that is not one.
    #[error("'{0}' is not an email address: give one such as billing@example.com")]
    BadAddress(String),
    /// SMTP settings that cannot be used.
    #[error("{0}")]
    BadSmtp(String),
}

/// Adds a notifier to `tenant` after checking it: a webhook URL the host
/// can post to, or an email address; known event names (all when none).
/// The CLI's `notify add` and the console's form both come here. Returns
/// its id and the events it gets.
pub fn add_notifier(
    store: &Store,
    tenant: &str,
    kind: NotifierKind,
    target: &str,
    format: WebhookFormat,
    events: &[String],
) -> Result<(i64, Vec<Event>), AddNotifierError> {
    let target = target.trim();
    let format = match kind {
        NotifierKind::Webhook => {
            check_webhook_url(target)?;
            format
        }
        NotifierKind::Email => {
            check_address(target)?;
            WebhookFormat::Email
        }
    };
    let events = parse_events(events)?;
    let names: Vec<String> = events.iter().map(|e| e.as_str().to_string()).collect();
    let id = store.add_notifier(tenant, kind, target, format, &names)?;
    Ok((id, events))
}

/// An SMTP server's settings as a person gives them, checked: a host, a
/// port that is not 0, TLS unless the server is on this machine, a valid
/// sender address. The CLI's `notify smtp` and the console's form both
/// come here; the caller stores the result (`Store::set_smtp`).
pub fn smtp_settings(
    host: &str,
    port: u16,
    security: SmtpSecurity,
    from: &str,
    username: Option<String>,
    password: Option<String>,
) -> Result<SmtpSettings, NotifyError> {
    let host = host.trim();
    if host.is_empty() {
        return Err(NotifyError::BadSmtp(
            "the SMTP host is empty: give the SMTP server's host name".into(),
        ));
    }
    if security == SmtpSecurity::Plain && !is_loopback(host) {
        return Err(NotifyError::BadSmtp(format!(
            "plain SMTP sends the password and the mail unencrypted, so it is only allowed to a loopback relay, not {host}: use STARTTLS or TLS"
        )));
    }
    if port == 0 {
        return Err(NotifyError::BadSmtp(
            "the SMTP port cannot be 0: usually 587 (STARTTLS) or 465 (TLS)".into(),
        ));
    }
    check_address(from)?;
    Ok(SmtpSettings {
        host: host.to_string(),
        port,
        username: username.filter(|u| !u.trim().is_empty()),
        password,
        security,
        from: from.trim().to_string(),
    })
}

/// Checks an email address.
pub fn check_address(address: &str) -> Result<(), NotifyError> {
    address
        .trim()
        .parse::<lettre::Address>()
        .map(drop)
        .map_err(|_| NotifyError::BadAddress(address.into()))
}

/// Why a notifier was not added; nothing was stored.
#[derive(Debug, thiserror::Error)]
pub enum AddNotifierError {
    /// Its target or events are wrong.
    #[error(transparent)]
    Invalid(#[from] NotifyError),
    /// The store refused it.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// The events `names` list (comma-separated or repeated); all of them when
/// none is given.
pub fn parse_events(names: &[String]) -> Result<Vec<Event>, NotifyError> {
    let mut events = Vec::new();
    for name in names.iter().flat_map(|n| n.split(',')) {
        let name = name.trim();
        if name.is_empty() {
            continue;
        }
        let event =
            Event::parse(name).ok_or_else(|| NotifyError::UnknownEvent { name: name.into() })?;
        if !events.contains(&event) {
            events.push(event);
        }
    }
    if events.is_empty() {
        events = Event::ALL.to_vec();
    }
    events.sort();
    Ok(events)
}

/// Checks a webhook URL: `https`, or `http` to a loopback address only (a
/// relay on this machine, tests); a host; no credentials in it.
pub fn check_webhook_url(url: &str) -> Result<hyper::Uri, NotifyError> {
    let bad = |reason: &str| NotifyError::BadUrl {
        url: url.into(),
        reason: reason.into(),
    };
    let uri: hyper::Uri = url
        .parse()
        .map_err(|_| bad("it is not a URL; give one such as https://hooks.example.com/..."))?;
    let authority = uri
        .authority()
        .ok_or_else(|| bad("it has no host; give one such as https://hooks.example.com/..."))?;
    if authority.as_str().contains('@') {
        return Err(bad(
            "it has a user name or password in it; webhooks take their token in the path",
        ));
    }
    match uri.scheme_str() {
        Some("https") => Ok(uri),
        Some("http") if is_loopback(authority.host()) => Ok(uri),
        Some("http") => Err(bad(
            "plain http is only allowed to a loopback address; use https",
        )),
        _ => Err(bad("it must start with https://")),
    }
}

/// Whether `host` is this machine.
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A webhook URL as shown in lists and history: the scheme and host only.
/// Slack's and Teams' URLs carry their secret token in the path.
pub fn shown_url(url: &str) -> String {
    match url.parse::<hyper::Uri>() {
        Ok(uri) => match (uri.scheme_str(), uri.authority()) {
            (Some(scheme), Some(authority)) if uri.path().len() > 1 => {
                format!("{scheme}://{authority}/…")
            }
            (Some(scheme), Some(authority)) => format!("{scheme}://{authority}"),
            _ => "(a webhook)".into(),
        },
        Err(_) => "(a webhook)".into(),
    }
}

/// What happened, ready to be sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    /// The tenant it happened to.
    pub tenant: String,
    /// The events it tells of.
    pub events: Vec<Event>,
    /// One line saying what happened.
    pub title: String,
    /// The details, one per line (at most [`MAX_LINES`] and a count).
    pub lines: Vec<String>,
    /// The same, structured, for seatsync's JSON.
    pub details: Value,
    /// The run it is about, if any.
    pub run: Option<RunId>,
}

/// Lines a notice lists before it says how many more there are.
pub const MAX_LINES: usize = 20;

fn capped(mut lines: Vec<String>) -> Vec<String> {
    if lines.len() > MAX_LINES {
        let more = lines.len() - MAX_LINES;
        lines.truncate(MAX_LINES);
        lines.push(format!("… and {more} more"));
    }
    lines
}

/// The notice a finished run calls for: when it failed, conflicted, held
/// lines or was refused by the PSA (401/403); `None` when it went well.
pub fn notice_for_run(summary: &SyncSummary) -> Option<Notice> {
    let run = summary.run.as_ref()?;
    let t = &run.totals;
    let auth_failed = summary.orgs.iter().any(|o| o.auth_failed);
    let mut events = Vec::new();
    if run.status == RunStatus::Failed || t.conflicts > 0 || t.held > 0 || t.changed > 0 {
        events.push(Event::RunProblems);
    }
    if t.held > 0 {
        events.push(Event::ChangeHeld);
    }
    if auth_failed {
        events.push(Event::ConnectionFailed);
    }
    if events.is_empty() {
        return None;
    }
    events.sort();
    let psa = &summary.connector.psa;
    let mut problems = Vec::new();
    let mut lines = Vec::new();
    let mut orgs: Vec<_> = summary.orgs.iter().collect();
    orgs.sort_by(|a, b| a.plan.org_id.cmp(&b.plan.org_id));
    for o in orgs {
        let org = &o.plan.org_id;
        for w in &o.withheld {
            let (kind, what) = match w.kind {
                Withheld::Held => ("held", "held for review"),
                Withheld::Changed => ("changed", "not written, changed since review"),
            };
            let was = w
                .line
                .current_quantity
                .map(crate::plans::quantity_text)
                .unwrap_or_else(|| "none".into());
            // Most reasons name the quantities already.
            let numbers = if w.message.contains('→') {
                String::new()
            } else {
                format!(" ({was} → {})", w.line.new_quantity)
            };
            lines.push(format!(
                "{org} {}: {what}{numbers}: {}",
                w.line.package_key, w.message
            ));
            problems.push(json!({
                "org_id": org, "package": w.line.package_key, "kind": kind,
                "current_quantity": w.line.current_quantity, "new_quantity": w.line.new_quantity,
                "message": w.message,
            }));
        }
        match &o.result {
            Err(message) if o.waiting.is_none() => {
                lines.push(format!("{org}: failed: {message}"));
                problems.push(json!({"org_id": org, "kind": "failed", "message": message}));
            }
            Ok(report) => {
                for l in &report.lines {
                    let kind = match &l.outcome {
                        seatsync_contract::LineOutcome::Conflict(_) => "conflict",
                        seatsync_contract::LineOutcome::Failed(_) => "failed",
                        _ => continue,
                    };
                    let message = match &l.outcome {
                        seatsync_contract::LineOutcome::Conflict(ids) if !ids.is_empty() => {
                            format!(
                                "{} active {}s for one product ({}): keep one in {psa}",
                                ids.len(),
                                summary.connector.line_noun,
                                ids.iter()
                                    .map(i64::to_string)
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            )
                        }
                        seatsync_contract::LineOutcome::Conflict(_) => {
                            "several packages map to this product".into()
                        }
                        seatsync_contract::LineOutcome::Failed(e) => e.to_string(),
                        _ => String::new(),
                    };
                    lines.push(format!("{org} {}: {kind}: {message}", l.package_key));
                    problems.push(json!({
                        "org_id": org, "package": l.package_key, "kind": kind, "message": message,
                    }));
                }
            }
            Err(_) => {}
        }
    }
    let mut parts = Vec::new();
    if t.orgs_failed + t.failed > 0 {
        parts.push(format!(
            "{} organization(s) and {} line(s) failed",
            t.orgs_failed, t.failed
        ));
    }
    if t.conflicts > 0 {
        parts.push(format!("{} conflict(s)", t.conflicts));
    }
    if t.held > 0 {
        parts.push(match summary.held_in {
            Some(plan) => format!("{} line(s) held for review in plan {plan}", t.held),
            None => format!("{} line(s) held for review", t.held),
        });
    }
    if t.changed > 0 {
        parts.push(format!("{} line(s) changed since review", t.changed));
    }
    if auth_failed {
        parts.push(format!("{psa} refused the credentials (401/403)"));
    }
    let title = format!(
        "seatsync run {} of tenant '{}' {}: {}",
        run.id,
        summary.tenant,
        match run.status {
            RunStatus::Failed => "failed",
            _ => "needs attention",
        },
        parts.join("; ")
    );
    Some(Notice {
        tenant: summary.tenant.clone(),
        events,
        title,
        lines: capped(lines),
        details: json!({
            "run": {
                "id": run.id.0,
                "status": run.status.as_str(),
                "trigger": run.trigger.as_str(),
                "started_at": run.started_at.to_rfc3339(),
                "totals": {
                    "orgs": t.orgs, "orgs_failed": t.orgs_failed, "created": t.created,
                    "updated": t.updated, "unchanged": t.unchanged, "conflicts": t.conflicts,
                    "failed": t.failed, "waiting": t.waiting, "held": t.held, "changed": t.changed,
                },
            },
            "held_in_plan": summary.held_in.map(|p| p.0),
            "problems": problems,
        }),
        run: Some(run.id),
    })
}

/// The notice a usage import calls for: when it brought organizations or
/// packages nobody mapped yet.
pub fn notice_for_usage(tenant: &str, summary: &UsageImportSummary) -> Option<Notice> {
    if summary.new_orgs.is_empty() && summary.new_packages.is_empty() {
        return None;
    }
    let mut lines = Vec::new();
    if !summary.new_packages.is_empty() {
        lines.push(format!(
            "{} new package(s): {} (map with `seatsync map package KEY --product ID`)",
            summary.new_packages.len(),
            list(&summary.new_packages)
        ));
    }
    if !summary.new_orgs.is_empty() {
        lines.push(format!(
            "{} new organization(s): {} (map with `seatsync map org ORG --company ID --agreement ID`)",
            summary.new_orgs.len(),
            list(&summary.new_orgs)
        ));
    }
    Some(Notice {
        tenant: tenant.into(),
        events: vec![Event::Unmapped],
        title: format!(
            "seatsync: the usage import of tenant '{tenant}' brought {} organization(s) and {} package(s) nobody mapped",
            summary.new_orgs.len(),
            summary.new_packages.len()
        ),
        lines,
        details: json!({
            "new_organizations": summary.new_orgs.iter().take(MAX_LINES * 10).collect::<Vec<_>>(),
            "new_packages": summary.new_packages,
            "new_organization_count": summary.new_orgs.len(),
        }),
        run: None,
    })
}

/// `a, b, c` or `a, b, … and 12 more`.
fn list(items: &[String]) -> String {
    let shown = items
        .iter()
        .take(MAX_LINES)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > MAX_LINES {
        format!("{shown} and {} more", items.len() - MAX_LINES)
    } else {
        shown
    }
}

/// The notice for a failed connection test (`error` already redacted).
pub fn notice_for_connection(tenant: &str, when: &str, error: &str) -> Notice {
    Notice {
        tenant: tenant.into(),
        events: vec![Event::ConnectionFailed],
        title: format!("seatsync: the connection of tenant '{tenant}' failed its test {when}"),
        lines: vec![error.to_string()],
        details: json!({ "when": when, "error": error }),
        run: None,
    }
}

/// A notice with only `events` of those it tells of (a notifier's filter).
fn wanted(notice: &Notice, events: &[String]) -> bool {
    notice
        .events
        .iter()
        .any(|e| events.iter().any(|w| w == e.as_str()))
}

/// How [`deliver`] tries.
#[derive(Debug, Clone)]
pub struct DeliveryOptions {
    /// The pauses between attempts: one more attempt than pauses.
    pub backoff: Vec<Duration>,
    /// How long one attempt may take.
    pub timeout: Duration,
}

impl Default for DeliveryOptions {
    /// Three attempts, 2 s then 10 s apart, 10 s each.
    fn default() -> Self {
        DeliveryOptions {
            backoff: vec![Duration::from_secs(2), Duration::from_secs(10)],
            timeout: Duration::from_secs(10),
        }
    }
}

/// Sends `notice` to each of the tenant's notifiers that wants one of its
/// events, trying each up to `1 + backoff.len()` times, and records what
/// became of each (also logged). Never fails: a notification is never
/// worth failing the work it tells of.
pub async fn deliver(store: &Store, notice: &Notice, options: &DeliveryOptions) -> Vec<Delivery> {
    deliver_to(store, notice, options, None).await
}

/// [`deliver`] to notifier `only`, when given, instead of all.
pub async fn deliver_to(
    store: &Store,
    notice: &Notice,
    options: &DeliveryOptions,
    only: Option<i64>,
) -> Vec<Delivery> {
    let notifiers = match store.notifiers(&notice.tenant) {
        Ok(n) => n,
        Err(error) => {
            tracing::warn!(%error, "cannot read the notifiers; no notification sent");
            return Vec::new();
        }
    };
    let mut deliveries = Vec::new();
    for notifier in notifiers
        .iter()
        .filter(|n| only.is_none_or(|id| n.id == id) && wanted(notice, &n.events))
    {
        let at = store.now();
        let mut attempts = 0;
        let mut error;
        loop {
            attempts += 1;
            let sent = match notifier.kind {
                NotifierKind::Webhook => {
                    let body = message::webhook_body(notice, notifier.format);
                    webhook::post(&notifier.target, &body, options.timeout).await
                }
                NotifierKind::Email => match store.smtp(&notice.tenant) {
                    Ok(Some(smtp)) => {
                        email::send(&smtp, &notifier.target, notice, options.timeout).await
                    }
                    Ok(None) => Err(
                        "no SMTP server is set: run `seatsync notify smtp --host ... --port ...`"
                            .into(),
                    ),
                    Err(e) => Err(e.to_string()),
                },
            };
            match sent {
                Ok(()) => {
                    error = None;
                    break;
                }
                Err(e) => error = Some(e),
            }
            match options.backoff.get(attempts as usize - 1) {
                Some(pause) => tokio::time::sleep(*pause).await,
                None => break,
            }
        }
        let target = match notifier.kind {
            NotifierKind::Webhook => shown_url(&notifier.target),
            NotifierKind::Email => notifier.target.clone(),
        };
        let delivery = Delivery {
            at,
            notifier: Some(notifier.id),
            target,
            events: notice
                .events
                .iter()
                .map(|e| e.as_str().to_string())
                .collect(),
            run: notice.run,
            state: if error.is_some() {
                DeliveryState::Failed
            } else {
                DeliveryState::Sent
            },
            attempts,
            error,
        };
        if let Some(error) = &delivery.error {
            tracing::warn!(notifier = notifier.id, target = %delivery.target, attempts, %error, "a notification could not be delivered");
        }
        if let Err(error) = store.record_delivery(&notice.tenant, &delivery) {
            tracing::warn!(%error, "cannot record a notification in the history");
        }
        deliveries.push(delivery);
    }
    deliveries
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_parse_by_name_and_default_to_all() {
        assert_eq!(parse_events(&[]).unwrap(), Event::ALL.to_vec());
        assert_eq!(
            parse_events(&["change-held,run-problems".into(), "change-held".into()]).unwrap(),
            vec![Event::RunProblems, Event::ChangeHeld]
        );
        let err = parse_events(&["everything".into()])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "'everything' is not an event: use run-problems, unmapped, connection-failed, change-held"
        );
    }

    #[test]
    fn webhook_urls_are_https_or_loopback_http_and_shown_without_their_path() {
        assert!(check_webhook_url("https://hooks.slack.com/services/T0/B0/xyz").is_ok());
        assert!(check_webhook_url("http://127.0.0.1:9000/hook").is_ok());
        assert!(check_webhook_url("http://[::1]:9000/hook").is_ok());
        for (url, why) in [
            (
                "http://hooks.example.com/x",
                "only allowed to a loopback address",
            ),
            ("ftp://hooks.example.com/x", "must start with https://"),
            ("not a url", "it is not a URL"),
            (
                "https://user:pw@hooks.example.com/x",
                "user name or password",
            ),
            ("/just/a/path", "it has no host"),
        ] {
            let err = check_webhook_url(url).unwrap_err().to_string();
            assert!(err.contains(why), "{url}: {err}");
        }
        assert_eq!(
            shown_url("https://hooks.slack.com/services/T0/B0/secret-token"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(shown_url("http://127.0.0.1:9000"), "http://127.0.0.1:9000");
    }

    #[test]
    fn a_usage_import_without_new_names_calls_for_no_notice() {
        let mut summary = UsageImportSummary {
            orgs: 2,
            rows: 3,
            new_orgs: Vec::new(),
            new_packages: Vec::new(),
            missing_mapped_orgs: Vec::new(),
        };
        assert_eq!(notice_for_usage("t", &summary), None);
        summary.new_orgs = (0..25).map(|i| format!("o{i}")).collect();
        let notice = notice_for_usage("t", &summary).unwrap();
        assert_eq!(notice.events, vec![Event::Unmapped]);
        assert!(
            notice.lines[0].contains("o19 and 5 more"),
            "{:?}",
            notice.lines
        );
    }
}
