//! Email: one message through the tenant's SMTP server with `lettre`,
//! STARTTLS or TLS (plain only to a loopback relay).

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::Notice;
use crate::store::{SmtpSecurity, SmtpSettings};

/// Sends `notice` to `to`; `Ok` once the server accepted it. The error
/// never holds the password.
pub(super) async fn send(
    smtp: &SmtpSettings,
    to: &str,
    notice: &Notice,
    timeout: Duration,
) -> Result<(), String> {
    let (subject, body) = super::message::email(notice);
    let from: Mailbox = smtp
        .from
        .parse()
        .map_err(|_| format!("the sender address '{}' is not one", smtp.from))?;
    let to: Mailbox = to
        .parse()
        .map_err(|_| format!("'{to}' is not an email address"))?;
    let message = Message::builder()
        .from(from)
        .to(to)
        .subject(subject)
        // UTF-8 text (the arrows and names), declared so.
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| format!("cannot build the email: {e}"))?;
    let builder = match smtp.security {
        SmtpSecurity::StartTls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host),
        SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host),
        SmtpSecurity::Plain => Ok(AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(
            &smtp.host,
        )),
    }
    .map_err(|e| format!("cannot use the SMTP server {}: {e}", smtp.host))?;
    let mut builder = builder.port(smtp.port).timeout(Some(timeout));
    if let (Some(user), Some(password)) = (&smtp.username, &smtp.password) {
        builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
    }
    let mailer = builder.build();
    let sent = mailer.send(message).await;
    sent.map(drop).map_err(|e| {
        let text = format!(
            "the SMTP server {}:{} refused or failed: {e}",
            smtp.host, smtp.port
        );
        match &smtp.password {
            Some(password) if !password.is_empty() => text.replace(password.as_str(), "[redacted]"),
            _ => text,
        }
    })
}
