//! The wizard's first step: the connection form, built from the settings
//! the connector describes, and its test.
//!
//! Secrets are write-only: the form never renders them back, not even as
//! a masked length. An empty secret field keeps the stored value.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use seatsync_contract::Settings;
use serde::Deserialize;

use super::auth::{self, Posted, User};
use super::tenants::Done;
use super::{Console, ConsoleError, layout};
use crate::connection::{self, Connected, ConnectionError};
use crate::store::StoredConnection;

/// The form's fields are named `setting:KEY`.
const PREFIX: &str = "setting:";

/// What the page shows besides the form.
struct View {
    stored: Option<StoredConnection>,
    may_manage: bool,
}

/// The plain values to show in the form: what was typed (after an error)
/// or what is stored. Never a secret.
fn plain_values(
    console: &Console,
    typed: Option<&BTreeMap<String, String>>,
    stored: Option<&StoredConnection>,
) -> BTreeMap<String, String> {
    console
        .description()
        .settings
        .iter()
        .filter(|s| !s.secret)
        .filter_map(|s| {
            let value = match typed {
                Some(typed) => typed.get(&s.key).cloned(),
                None => stored.and_then(|c| c.settings.get(&s.key).map(str::to_owned)),
            };
            value.map(|v| (s.key.clone(), v))
        })
        .collect()
}

fn render(
    console: &Console,
    user: &User,
    tenant: &str,
    view: &View,
    values: &BTreeMap<String, String>,
    allow_http: bool,
    message: Markup,
) -> Markup {
    let description = console.description();
    let editable = view.may_manage;
    let body = html! {
        h1 { "Connection to " (description.psa) }
        (message)
        @if let Some(stored) = &view.stored {
            p { "Saved. Secrets are kept write-only: leave a secret field empty to keep the saved value." }
            @if editable {
                form.inline method="post" action=(format!("/t/{tenant}/connection/test")) {
                    input type="hidden" name="csrf" value=(user.csrf);
                    button.secondary type="submit" { "Test connection" }
                }
            }
            @if stored.allow_http { p.muted { "Plain HTTP is allowed for this connection (local testing)." } }
        } @else {
            p { "Enter the connection's settings. seatsync tests them before saving." }
        }
        form.stack method="post" action=(format!("/t/{tenant}/connection")) {
            input type="hidden" name="csrf" value=(user.csrf);
            @for s in &description.settings {
                label {
                    (s.label) @if s.required { " *" }
                    span.help { (s.help) }
                    @if s.secret {
                        input type="password" name=(format!("{PREFIX}{}", s.key)) value=""
                            autocomplete="new-password" disabled[!editable]
                            placeholder=[view.stored.as_ref().map(|_| "saved; leave empty to keep")]
                            required[s.required && view.stored.is_none()];
                    } @else {
                        input type="text" name=(format!("{PREFIX}{}", s.key))
                            value=(values.get(&s.key).map(String::as_str).unwrap_or_default())
                            placeholder=[s.default_value.as_deref()]
                            disabled[!editable] required[s.required && s.default_value.is_none()];
                    }
                }
            }
            @if console.options().allow_http {
                label.check {
                    input type="checkbox" name="allow_http" value="on" checked[allow_http] disabled[!editable];
                    "Allow plain HTTP (testing against a local server only)"
                }
            }
            @if editable { button type="submit" { "Test and save" } }
        }
    };
    layout::page(user, "Connection", Some((tenant, "connection")), body)
}

async fn view(console: &Console, user: &User, tenant: &str) -> Result<View, ConsoleError> {
    let (stored, may_manage) = console
        .read_tenant(user, tenant, |s, t| Ok(s.connection(t)?))
        .await?;
    Ok(View { stored, may_manage })
}

/// `GET /t/{tenant}/connection`.
pub async fn page(
    State(console): State<Console>,
    user: User,
    Path(tenant): Path<String>,
    Query(done): Query<Done>,
) -> Result<Response, ConsoleError> {
    let view = view(&console, &user, &tenant).await?;
    let values = plain_values(&console, None, view.stored.as_ref());
    let allow_http = view.stored.as_ref().is_some_and(|c| c.allow_http);
    let notice = layout::notice(done.done.as_deref());
    Ok(render(&console, &user, &tenant, &view, &values, allow_http, notice).into_response())
}

/// The connection form: `setting:KEY` fields, and the HTTP switch.
#[derive(Deserialize)]
pub struct ConnectionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    allow_http: Option<String>,
    #[serde(flatten)]
    fields: BTreeMap<String, String>,
}

/// `POST /t/{tenant}/connection`: tests the settings and saves them only
/// if the test passes; otherwise the form again with the connector's
/// explanation (secrets redacted).
pub async fn save(
    State(console): State<Console>,
    Path(tenant): Path<String>,
    Posted { user, form }: Posted<ConnectionForm>,
) -> Result<Response, ConsoleError> {
    let typed: BTreeMap<String, String> = form
        .fields
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(PREFIX)?.to_owned(), v.trim().to_owned())))
        .collect();
    let allow_http = console.options().allow_http && form.allow_http.is_some();
    let (u, t, given) = (user.clone(), tenant.clone(), typed.clone());
    let outcome = console
        .with_store_async(move |store, console| async move {
            u.require_manage(&store, &t)?;
            let stored = store.connection(&t)?;
            let description = console.description().clone();
            // Empty fields are not given; an empty secret keeps the saved one.
            let mut settings = Settings::new();
            for s in &description.settings {
                match given.get(&s.key).filter(|v| !v.is_empty()) {
                    Some(value) => settings.set(s.key.clone(), value.clone()),
                    None if s.secret => {
                        if let Some(saved) = stored.as_ref().and_then(|c| c.settings.get(&s.key)) {
                            settings.set(s.key.clone(), saved);
                        }
                    }
                    None => {}
                }
            }
            let result = async {
                let settings = connection::checked_settings(&description, settings)?;
                let ca_file = stored.as_ref().and_then(|c| c.ca_file.clone());
                connection::connect(
                    &console.options().runtime,
                    &store,
                    &t,
                    &description,
                    settings,
                    allow_http,
                    ca_file,
                )
                .await
            }
            .await;
            Ok((result.map_err(|e| form_error(&e)), stored))
        })
        .await?;
    match outcome {
        (Ok(_), _) => {
            // Another site, or other keys, may list other things.
            console.catalogs().forget(&tenant);
            console.wake_daemons();
            Ok(Redirect::to(&format!("/t/{tenant}/connection?done=connected")).into_response())
        }
        (Err(message), stored) => {
            let view = View {
                stored,
                may_manage: true,
            };
            let values = plain_values(&console, Some(&typed), None);
            let message = html! { p.error role="alert" { (message) } };
            let page = render(
                &console, &user, &tenant, &view, &values, allow_http, message,
            );
            Ok((StatusCode::BAD_REQUEST, page).into_response())
        }
    }
}

/// A connection error in the form's words.
fn form_error(e: &ConnectionError) -> String {
    match e {
        ConnectionError::Missing { label, .. } => format!("{label} is required: fill it in"),
        other => other.to_string(),
    }
}

/// The Test-connection button's form.
#[derive(Deserialize)]
pub struct TestForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /t/{tenant}/connection/test`: tests the saved connection.
pub async fn test(
    State(console): State<Console>,
    Path(tenant): Path<String>,
    Posted { user, form: _ }: Posted<TestForm>,
) -> Result<Response, ConsoleError> {
    let (u, t) = (user.clone(), tenant.clone());
    let (result, view) = console
        .with_store_async(move |store, console| async move {
            u.require_manage(&store, &t)?;
            let stored = store.connection(&t)?.ok_or_else(|| {
                ConsoleError::BadRequest("this tenant has no connection yet: connect first".into())
            })?;
            let view = View {
                stored: Some(stored.clone()),
                may_manage: true,
            };
            let runtime = console.options().runtime.clone();
            let result = async {
                let connected = Connected::open(runtime, stored, true).await?;
                connected.test().await
            }
            .await;
            let psa = &console.description().psa;
            Ok((
                result
                    .map(|info| {
                        format!(
                            "{} answers ({}).",
                            info.endpoint,
                            connection::summary(psa, &info)
                        )
                    })
                    .map_err(|e| form_error(&e)),
                view,
            ))
        })
        .await?;
    let values = plain_values(&console, None, view.stored.as_ref());
    let allow_http = view.stored.as_ref().is_some_and(|c| c.allow_http);
    let (status, message) = match result {
        Ok(text) => (
            StatusCode::OK,
            html! { p.notice role="status" { "The connection test passed: " (text) } },
        ),
        Err(text) => (
            StatusCode::BAD_REQUEST,
            html! { p.error role="alert" { (text) } },
        ),
    };
    let page = render(
        &console, &user, &tenant, &view, &values, allow_http, message,
    );
    Ok((status, page).into_response())
}

auth::csrf_forms!(ConnectionForm, TestForm);
