//! Notifications, as stored: where to send them (webhooks and email
//! addresses, each with the events it wants), the tenant's SMTP server, and
//! every notification sent or attempted, for `history`.
//!
//! The SMTP password is a secret: it is stored apart from what `notify
//! list` shows and never read back into output.

use std::fmt;

use super::db::{OptionalExtension, params};
use chrono::{DateTime, Utc};

use super::{RunId, Store, StoreError, Ts, check_tenant, secrets};

/// Where a notification goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotifierKind {
    /// An HTTP POST to a URL.
    Webhook,
    /// An email through the tenant's SMTP server.
    Email,
}
text_enum!(NotifierKind {
    Webhook => "webhook",
    Email => "email",
});

/// How a webhook's body is shaped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookFormat {
    /// seatsync's own JSON object.
    Json,
    /// A Slack incoming webhook message (`{"text": …}`).
    Slack,
    /// A Microsoft Teams incoming webhook message card.
    Teams,
    /// Not a webhook: an email.
    Email,
}
text_enum!(WebhookFormat {
    Json => "json",
    Slack => "slack",
    Teams => "teams",
    Email => "email",
});

/// A stored notifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notifier {
    /// Its id (`notify remove ID`).
    pub id: i64,
    /// Webhook or email.
    pub kind: NotifierKind,
    /// The URL or the address.
    pub target: String,
    /// The body's shape.
    pub format: WebhookFormat,
    /// The events it wants, by name.
    pub events: Vec<String>,
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS (port 587).
    StartTls,
    /// TLS from the first byte (port 465).
    Tls,
    /// No TLS: only to a loopback server (a local relay, tests).
    Plain,
}
text_enum!(SmtpSecurity {
    StartTls => "starttls",
    Tls => "tls",
    Plain => "plain",
});

/// The tenant's SMTP server.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    /// The server's host name.
    pub host: String,
    /// Its port.
    pub port: u16,
    /// The user to log in as, if it needs a login.
    pub username: Option<String>,
    /// The password (a secret: never shown).
    pub password: Option<String>,
    /// How the connection is secured.
    pub security: SmtpSecurity,
    /// The sender address.
    pub from: String,
}

impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<secret>"))
            .field("security", &self.security)
            .field("from", &self.from)
            .finish()
    }
}

/// What became of a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryState {
    /// Delivered (a 2xx answer, or the SMTP server accepted it).
    Sent,
    /// Every attempt failed.
    Failed,
}
text_enum!(DeliveryState {
    Sent => "sent",
    Failed => "failed",
});

/// A notification sent or attempted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// When it was first attempted.
    pub at: DateTime<Utc>,
    /// The notifier (`None` once removed).
    pub notifier: Option<i64>,
    /// Where it went, as shown (a webhook's path is not: it may hold a
    /// token).
    pub target: String,
    /// The events it told of.
    pub events: Vec<String>,
    /// The run it was about, if any.
    pub run: Option<RunId>,
    /// What became of it.
    pub state: DeliveryState,
    /// Attempts made.
    pub attempts: u32,
    /// The last attempt's error, for a failed one.
    pub error: Option<String>,
}

impl Store {
    /// Adds a notifier for `tenant`; returns its id.
    pub fn add_notifier(
        &self,
        tenant: &str,
        kind: NotifierKind,
        target: &str,
        format: WebhookFormat,
        events: &[String],
    ) -> Result<i64, StoreError> {
        check_tenant(tenant)?;
        let ctx = "saving a notifier";
        let e = |e| self.err(ctx, e);
        // A webhook's URL is its credential (Slack's and Teams' carry the
        // token in the path): sealed like a password.
        let target = match kind {
            NotifierKind::Webhook => self.seal_secret(&secrets::webhook_context(tenant), target)?,
            NotifierKind::Email => target.to_string(),
        };
        let tx = self.write_tx(ctx)?;
        self.touch_tenant(&tx, tenant)?;
        let id: i64 = tx
            .query_row(
                "INSERT INTO notifiers (tenant, kind, target, format, events, created_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id",
                params![
                    tenant,
                    kind,
                    target,
                    format,
                    events.join(","),
                    Ts(self.now())
                ],
                |r| r.get(0),
            )
            .map_err(e)?;
        tx.commit().map_err(e)?;
        Ok(id)
    }

    /// The tenant's notifiers, by id.
    pub fn notifiers(&self, tenant: &str) -> Result<Vec<Notifier>, StoreError> {
        check_tenant(tenant)?;
        let e = |e| self.err("listing notifiers", e);
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, kind, target, format, events FROM notifiers
                 WHERE tenant = ?1 ORDER BY id",
            )
            .map_err(e)?;
        let rows = stmt
            .query_map([tenant], |r| {
                Ok(Notifier {
                    id: r.get(0)?,
                    kind: r.get(1)?,
                    target: r.get(2)?,
                    format: r.get(3)?,
                    events: r
                        .get::<_, String>(4)?
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(String::from)
                        .collect(),
                })
            })
            .map_err(e)?;
        let mut notifiers: Vec<Notifier> = rows.collect::<Result<_, _>>().map_err(e)?;
        for notifier in &mut notifiers {
            if notifier.kind == NotifierKind::Webhook {
                notifier.target =
                    self.open_secret(&secrets::webhook_context(tenant), &notifier.target)?;
            }
        }
        Ok(notifiers)
    }

    /// Removes notifier `id` of `tenant`; an error if it has none such.
    pub fn remove_notifier(&self, tenant: &str, id: i64) -> Result<(), StoreError> {
        check_tenant(tenant)?;
        let ctx = "removing a notifier";
        let e = |e| self.err(ctx, e);
        let tx = self.write_tx(ctx)?;
        let removed = tx
            .execute(
                "DELETE FROM notifiers WHERE tenant = ?1 AND id = ?2",
                params![tenant, id],
            )
            .map_err(e)?;
        if removed == 0 {
            return Err(StoreError::InvalidInput(format!(
                "no notifier with id {id}: run `seatsync notify list` to see them"
            )));
        }
        tx.commit().map_err(e)
    }

    /// Replaces the tenant's SMTP server.
    pub fn set_smtp(&self, tenant: &str, smtp: &SmtpSettings) -> Result<(), StoreError> {
        check_tenant(tenant)?;
        let ctx = "saving the SMTP settings";
        let e = |e| self.err(ctx, e);
        let password = smtp
            .password
            .as_deref()
            .map(|p| self.seal_secret(&secrets::smtp_context(tenant), p))
            .transpose()?;
        let tx = self.write_tx(ctx)?;
        self.touch_tenant(&tx, tenant)?;
        tx.execute(
            "INSERT INTO smtp_settings (tenant, host, port, username, password, security,
                 from_address, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
             ON CONFLICT (tenant) DO UPDATE SET host = ?2, port = ?3, username = ?4,
                 password = ?5, security = ?6, from_address = ?7, updated_at = ?8",
            params![
                tenant,
                smtp.host,
                smtp.port,
                smtp.username,
                password,
                smtp.security,
                smtp.from,
                Ts(self.now())
            ],
        )
        .map_err(e)?;
        tx.commit().map_err(e)
    }

    /// The tenant's SMTP server, if set.
    pub fn smtp(&self, tenant: &str) -> Result<Option<SmtpSettings>, StoreError> {
        check_tenant(tenant)?;
        let smtp = self
            .conn
            .query_row(
                "SELECT host, port, username, password, security, from_address
                 FROM smtp_settings WHERE tenant = ?1",
                [tenant],
                |r| {
                    Ok(SmtpSettings {
                        host: r.get(0)?,
                        port: r.get(1)?,
                        username: r.get(2)?,
                        password: r.get(3)?,
                        security: r.get(4)?,
                        from: r.get(5)?,
                    })
                },
            )
            .optional()
            .map_err(|e| self.err("reading the SMTP settings", e))?;
        let Some(mut smtp) = smtp else {
            return Ok(None);
        };
        if let Some(stored) = &smtp.password {
            smtp.password = Some(self.open_secret(&secrets::smtp_context(tenant), stored)?);
        }
        Ok(Some(smtp))
    }

    /// Records a notification's outcome.
    pub fn record_delivery(&self, tenant: &str, delivery: &Delivery) -> Result<(), StoreError> {
        check_tenant(tenant)?;
        let ctx = "recording a notification";
        let e = |e| self.err(ctx, e);
        let tx = self.write_tx(ctx)?;
        tx.execute(
            "INSERT INTO notifications (tenant, notifier_id, target, events, run_id, created_at,
                 finished_at, state, attempts, error)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![
                tenant,
                delivery.notifier,
                delivery.target,
                delivery.events.join(","),
                delivery.run.map(|r| r.0),
                Ts(delivery.at),
                Ts(self.now()),
                delivery.state,
                delivery.attempts,
                delivery.error,
            ],
        )
        .map_err(e)?;
        tx.commit().map_err(e)
    }

    /// The tenant's notifications, newest first, at most `limit`.
    pub fn deliveries(&self, tenant: &str, limit: usize) -> Result<Vec<Delivery>, StoreError> {
        check_tenant(tenant)?;
        let e = |e| self.err("listing notifications", e);
        let mut stmt = self
            .conn
            .prepare(
                "SELECT created_at, notifier_id, target, events, run_id, state, attempts, error
                 FROM notifications WHERE tenant = ?1 ORDER BY id DESC LIMIT ?2",
            )
            .map_err(e)?;
        let rows = stmt
            .query_map(
                params![tenant, i64::try_from(limit).unwrap_or(i64::MAX)],
                |r| {
                    Ok(Delivery {
                        at: r.get::<_, Ts>(0)?.0,
                        notifier: r.get(1)?,
                        target: r.get(2)?,
                        events: r
                            .get::<_, String>(3)?
                            .split(',')
                            .filter(|s| !s.is_empty())
                            .map(String::from)
                            .collect(),
                        run: r.get::<_, Option<i64>>(4)?.map(RunId),
                        state: r.get(5)?,
                        attempts: r.get(6)?,
                        error: r.get(7)?,
                    })
                },
            )
            .map_err(e)?;
        rows.collect::<Result<_, _>>().map_err(e)
    }
}
