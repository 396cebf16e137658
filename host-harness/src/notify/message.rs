//! A [`Notice`] as each channel wants it: seatsync's own JSON, a Slack or a
//! Microsoft Teams incoming-webhook message, or an email's subject and
//! text. Pure functions, so the exact payloads are snapshot-tested.

use serde_json::{Value, json};

use super::Notice;
use crate::store::WebhookFormat;

/// The body of a webhook POST in `format` (`Email` gives seatsync's JSON).
pub fn webhook_body(notice: &Notice, format: WebhookFormat) -> String {
    let value = match format {
        WebhookFormat::Json | WebhookFormat::Email => json_payload(notice),
        WebhookFormat::Slack => json!({ "text": slack_text(notice) }),
        WebhookFormat::Teams => json!({
            "@type": "MessageCard",
            "@context": "https://schema.org/extensions",
            "summary": notice.title,
            "title": notice.title,
            "text": notice.lines.join("\n\n"),
        }),
    };
    value.to_string()
}

/// seatsync's own JSON: the events, the title, the lines and the details.
pub fn json_payload(notice: &Notice) -> Value {
    json!({
        "source": "seatsync",
        "tenant": notice.tenant,
        "events": notice.events.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
        "title": notice.title,
        "lines": notice.lines,
        "details": notice.details,
    })
}

fn slack_text(notice: &Notice) -> String {
    let mut text = format!("*{}*", notice.title);
    for line in &notice.lines {
        text.push_str("\n• ");
        text.push_str(line);
    }
    text
}

/// An email's subject and plain-text body.
pub fn email(notice: &Notice) -> (String, String) {
    let mut body = format!("{}\n\n", notice.title);
    for line in &notice.lines {
        body.push_str("- ");
        body.push_str(line);
        body.push('\n');
    }
    body.push_str(&format!(
        "\nEvents: {}. Tenant: {}.\n`seatsync history` shows the runs; `seatsync plans` the plans waiting for a decision.\n",
        notice
            .events
            .iter()
            .map(|e| e.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        notice.tenant
    ));
    (notice.title.clone(), body)
}
