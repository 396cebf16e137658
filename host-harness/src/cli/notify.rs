//! `notify …`, and sending the notifications the other commands call for.
//! What is sent and how is in [`crate::notify`]; this module only parses,
//! checks and prints.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::anyhow;
use serde_json::json;

use super::Context;
use super::args::{NotifyCommand, NotifyTarget, SmtpArgs, WebhookFormatArg};
use super::table;
use crate::notify::{self, DeliveryOptions, Event, Notice};
use crate::store::{Delivery, DeliveryState, NotifierKind, SmtpSecurity, Store, WebhookFormat};

/// `notify …`.
pub async fn run(ctx: &Context, command: &NotifyCommand) -> anyhow::Result<ExitCode> {
    let store = ctx.store()?;
    match command {
        NotifyCommand::Add { target } => add(ctx, &store, target)?,
        NotifyCommand::Smtp(args) => smtp(ctx, &store, args)?,
        NotifyCommand::List(json) => list(ctx, &store, json.json)?,
        NotifyCommand::Remove { id } => {
            store.remove_notifier(&ctx.tenant, *id)?;
            println!("Notifier {id} removed.");
        }
        NotifyCommand::Test { id } => return test(ctx, &store, *id).await,
    }
    Ok(ExitCode::SUCCESS)
}

fn add(ctx: &Context, store: &Store, target: &NotifyTarget) -> anyhow::Result<()> {
    let (kind, address, format, events) = match target {
        NotifyTarget::Webhook {
            url,
            format,
            events,
        } => {
            let format = match format {
                WebhookFormatArg::Json => WebhookFormat::Json,
                WebhookFormatArg::Slack => WebhookFormat::Slack,
                WebhookFormatArg::Teams => WebhookFormat::Teams,
            };
            (NotifierKind::Webhook, url, format, events)
        }
        NotifyTarget::Email { address, events } => {
            (NotifierKind::Email, address, WebhookFormat::Email, events)
        }
    };
    let (id, events) = notify::add_notifier(store, &ctx.tenant, kind, address, format, events)?;
    println!(
        "Notifier {id} added: {} {} for {}.",
        kind,
        shown(kind, address.trim()),
        events
            .iter()
            .map(|e| e.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    );
    if kind == NotifierKind::Email && store.smtp(&ctx.tenant)?.is_none() {
        println!(
            "Set the SMTP server it is sent through with `seatsync notify smtp --host ... --port ... --starttls --from ...`."
        );
    }
    Ok(())
}

fn smtp(ctx: &Context, store: &Store, args: &SmtpArgs) -> anyhow::Result<()> {
    let security = if args.starttls {
        SmtpSecurity::StartTls
    } else if args.tls {
        SmtpSecurity::Tls
    } else {
        SmtpSecurity::Plain
    };
    let password = if args.password_stdin {
        Some(super::read_stdin_secret("SMTP password")?)
    } else if let Some(var) = &args.password_env {
        Some(super::read_env_secret(var, "SMTP password")?)
    } else {
        None
    };
    let settings = notify::smtp_settings(
        &args.host,
        args.port,
        security,
        &args.from,
        args.user.clone(),
        password,
    )?;
    store.set_smtp(&ctx.tenant, &settings)?;
    let host = &settings.host;
    println!(
        "SMTP server saved: {host}:{} ({security}){}, from {}.",
        args.port,
        args.user
            .as_ref()
            .map(|u| format!(", as {u}"))
            .unwrap_or_default(),
        args.from.trim()
    );
    Ok(())
}

fn shown(kind: NotifierKind, target: &str) -> String {
    match kind {
        NotifierKind::Webhook => notify::shown_url(target),
        NotifierKind::Email => target.to_string(),
    }
}

fn list(ctx: &Context, store: &Store, as_json: bool) -> anyhow::Result<()> {
    let notifiers = store.notifiers(&ctx.tenant)?;
    let smtp = store.smtp(&ctx.tenant)?;
    if as_json {
        let value = json!({
            "notifiers": notifiers.iter().map(|n| json!({
                "id": n.id,
                "kind": n.kind.as_str(),
                "target": shown(n.kind, &n.target),
                "format": n.format.as_str(),
                "events": n.events,
            })).collect::<Vec<_>>(),
            "smtp": smtp.as_ref().map(|s| json!({
                "host": s.host, "port": s.port, "user": s.username,
                "security": s.security.as_str(), "from": s.from,
                "password_set": s.password.is_some(),
            })),
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    if notifiers.is_empty() {
        println!(
            "No notifiers for tenant '{}': `seatsync notify add webhook URL` or `seatsync notify add email ADDRESS`.",
            ctx.tenant
        );
    } else {
        let mut t = table::new(&["id", "kind", "target", "format", "events"]);
        for n in &notifiers {
            t.add_row(vec![
                n.id.to_string(),
                n.kind.to_string(),
                shown(n.kind, &n.target),
                n.format.to_string(),
                n.events.join(", "),
            ]);
        }
        table::align_right(&mut t, &[0]);
        println!("{t}");
    }
    match smtp {
        Some(s) => println!(
            "SMTP: {}:{} ({}){}, from {}.",
            s.host,
            s.port,
            s.security,
            s.username
                .as_ref()
                .map(|u| format!(", as {u}"))
                .unwrap_or_default(),
            s.from
        ),
        None => println!("SMTP: not set (`seatsync notify smtp`)."),
    }
    Ok(())
}

async fn test(ctx: &Context, store: &Store, id: Option<i64>) -> anyhow::Result<ExitCode> {
    let notifiers = store.notifiers(&ctx.tenant)?;
    if let Some(id) = id
        && !notifiers.iter().any(|n| n.id == id)
    {
        return Err(anyhow!(
            "no notifier with id {id}: run `seatsync notify list` to see them"
        ));
    }
    if notifiers.is_empty() {
        return Err(anyhow!(
            "tenant '{}' has no notifiers: add one with `seatsync notify add webhook URL` or `seatsync notify add email ADDRESS`",
            ctx.tenant
        ));
    }
    let notice = Notice {
        tenant: ctx.tenant.clone(),
        events: Event::ALL.to_vec(),
        title: format!(
            "seatsync test notification for tenant '{}': notifications reach you",
            ctx.tenant
        ),
        lines: vec!["Nothing happened: `seatsync notify test` sent this.".into()],
        details: json!({ "test": true }),
        run: None,
    };
    let deliveries = notify::deliver_to(store, &notice, &delivery_options(), id).await;
    let mut failed = false;
    for d in &deliveries {
        match d.state {
            DeliveryState::Sent => println!("Sent to {} ({} attempt(s)).", d.target, d.attempts),
            DeliveryState::Failed => {
                failed = true;
                println!(
                    "FAILED to reach {} after {} attempt(s): {}",
                    d.target,
                    d.attempts,
                    d.error.as_deref().unwrap_or("no reason given")
                );
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// How deliveries are retried: `SEATSYNC_NOTIFY_BACKOFF` lists the pauses
/// between attempts (`2s,10s`, `50ms,50ms`; `off` for one attempt); the
/// default otherwise.
pub fn delivery_options() -> DeliveryOptions {
    let mut options = DeliveryOptions::default();
    if let Ok(text) = std::env::var("SEATSYNC_NOTIFY_BACKOFF") {
        match parse_backoff(&text) {
            Some(backoff) => options.backoff = backoff,
            None => {
                tracing::warn!(value = %text, "SEATSYNC_NOTIFY_BACKOFF is not a list of pauses ('2s,10s', '50ms') or 'off'; using the default")
            }
        }
    }
    options
}

fn parse_backoff(text: &str) -> Option<Vec<Duration>> {
    if text.trim().eq_ignore_ascii_case("off") {
        return Some(Vec::new());
    }
    text.split(',')
        .map(|part| {
            let part = part.trim();
            if let Some(ms) = part.strip_suffix("ms") {
                ms.trim().parse().ok().map(Duration::from_millis)
            } else {
                part.strip_suffix('s')
                    .unwrap_or(part)
                    .trim()
                    .parse()
                    .ok()
                    .map(Duration::from_secs)
            }
        })
        .collect()
}

/// Sends `notice` (if any) and tells stderr of each notification that
/// could not be delivered; the command's outcome does not change.
pub async fn send(store: &Store, notice: Option<Notice>) {
    let Some(notice) = notice else { return };
    let deliveries: Vec<Delivery> = notify::deliver(store, &notice, &delivery_options()).await;
    for d in deliveries
        .iter()
        .filter(|d| d.state == DeliveryState::Failed)
    {
        eprintln!(
            "warning: the notification to {} could not be delivered after {} attempt(s): {} (`seatsync history` lists it)",
            d.target,
            d.attempts,
            d.error.as_deref().unwrap_or("no reason given")
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_lists_parse() {
        assert_eq!(
            parse_backoff("2s, 10"),
            Some(vec![Duration::from_secs(2), Duration::from_secs(10)])
        );
        assert_eq!(parse_backoff("50ms"), Some(vec![Duration::from_millis(50)]));
        assert_eq!(parse_backoff("off"), Some(Vec::new()));
        assert_eq!(parse_backoff("soon"), None);
    }
}
