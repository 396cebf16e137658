//! The wizard's third step: the vendor's usage file, uploaded. The same
//! all-or-nothing checks as `seatsync usage import` ([`crate::usage`]): a
//! file with one bad row changes nothing, and the error names the line.

use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};

use super::auth::User;
use super::{Console, ConsoleError, layout};
use crate::store::{PackageView, UsageImportSummary};
use crate::usage::{UsageFormat, parse_usage};

/// The largest file accepted.
pub const MAX_UPLOAD: usize = 32 * 1024 * 1024;

/// Names shown in full after an import; past that, a count.
const NAMES_SHOWN: usize = 20;

struct View {
    orgs: usize,
    packages: Vec<PackageView>,
    may_manage: bool,
}

async fn view(console: &Console, user: &User, tenant: &str) -> Result<View, ConsoleError> {
    let ((orgs, packages), may_manage) = console
        .read_tenant(user, tenant, |s, t| {
            Ok((s.list_orgs(t)?.len(), s.list_packages(t)?))
        })
        .await?;
    Ok(View {
        orgs,
        packages,
        may_manage,
    })
}

fn render(user: &User, tenant: &str, view: &View, message: Markup) -> Markup {
    let body = html! {
        h1 { "Usage" }
        (message)
        p { "The vendor's active users per organization and package. The current usage has "
            (view.orgs) " organizations and " (view.packages.len()) " packages." }
        @if !view.packages.is_empty() {
            table {
                thead { tr { th { "Package" } th.num { "Organizations" } th.num { "Active users" } } }
                tbody { @for p in &view.packages {
                    tr { td { (p.key) } td.num { (p.orgs) } td.num { (p.active_users) } }
                } }
            }
        }
        @if view.may_manage {
            h2 { "Upload a usage file" }
            p.help { "CSV with the columns org_id, org_name, package, active_users (and optionally domain), or the same as a JSON array. The whole file is checked first: if any row is wrong, nothing changes." }
            form.stack method="post" action=(format!("/t/{tenant}/usage")) enctype="multipart/form-data" {
                input type="hidden" name="csrf" value=(user.csrf);
                label { "File" input type="file" name="file" accept=".csv,.json,text/csv,application/json" required; }
                button type="submit" { "Upload" }
            }
        }
    };
    layout::page(user, "Usage", Some((tenant, "usage")), body)
}

/// `GET /t/{tenant}/usage`.
pub async fn page(
    State(console): State<Console>,
    user: User,
    Path(tenant): Path<String>,
) -> Result<Response, ConsoleError> {
    let view = view(&console, &user, &tenant).await?;
    Ok(render(&user, &tenant, &view, html! {}).into_response())
}

/// Up to [`NAMES_SHOWN`] names, then how many more.
fn names(list: &[String]) -> String {
    let mut text = list
        .iter()
        .take(NAMES_SHOWN)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if list.len() > NAMES_SHOWN {
        text.push_str(&format!(" and {} more", list.len() - NAMES_SHOWN));
    }
    text
}

fn imported(tenant: &str, file: &str, s: &UsageImportSummary) -> Markup {
    html! {
        div.notice role="status" {
            p { "Imported " (s.rows) " rows for " (s.orgs) " organizations from " (file) "." }
            @if !s.new_packages.is_empty() {
                p { "New packages: " (names(&s.new_packages)) ". "
                    a href=(format!("/t/{tenant}/products")) { "Map them to products" } "." }
            }
            @if !s.new_orgs.is_empty() {
                p { "New organizations: " (names(&s.new_orgs)) ". "
                    a href=(format!("/t/{tenant}/customers")) { "Map them to companies" } "." }
            }
            @if !s.missing_mapped_orgs.is_empty() {
                p { "Not in this file, so not synced until a file lists them again (their mappings are kept): "
                    (names(&s.missing_mapped_orgs)) "." }
            }
        }
    }
}

/// `POST /t/{tenant}/usage` (multipart: `csrf`, `file`).
pub async fn upload(
    State(console): State<Console>,
    user: User,
    Path(tenant): Path<String>,
    mut multipart: Multipart,
) -> Result<Response, ConsoleError> {
    let bad = |e: axum::extract::multipart::MultipartError| {
        ConsoleError::BadRequest(format!(
            "the upload did not arrive whole: {}",
            e.body_text()
        ))
    };
    let (mut csrf, mut file) = (String::new(), None);
    while let Some(field) = multipart.next_field().await.map_err(bad)? {
        match field.name() {
            Some("csrf") => csrf = field.text().await.map_err(bad)?,
            Some("file") => {
                let name = field.file_name().unwrap_or("usage").to_owned();
                file = Some((name, field.bytes().await.map_err(bad)?));
            }
            _ => {}
        }
    }
    user.check_csrf(&csrf)?;
    let Some((name, bytes)) = file.filter(|(_, b)| !b.is_empty()) else {
        return Err(ConsoleError::BadRequest(
            "no file was chosen, or it is empty: choose the vendor's usage file".into(),
        ));
    };
    let (u, t, file_name) = (user.clone(), tenant.clone(), name.clone());
    let result = console
        .with_store_async(move |store, _| async move {
            u.require_manage(&store, &t)?;
            let format = UsageFormat::from_file_name(&file_name);
            let usage = match parse_usage(&bytes, format) {
                Ok(usage) => usage,
                Err(e) => {
                    return Ok(Err(format!(
                        "{file_name} was not imported; the previous usage stays in effect: {e}"
                    )));
                }
            };
            let summary = store.replace_usage(&t, &usage)?;
            if let Some(notice) = crate::notify::notice_for_usage(&t, &summary) {
                crate::notify::deliver(&store, &notice, &Default::default()).await;
            }
            Ok(Ok(summary))
        })
        .await?;
    let view = view(&console, &user, &tenant).await?;
    Ok(match result {
        Ok(summary) => {
            render(&user, &tenant, &view, imported(&tenant, &name, &summary)).into_response()
        }
        Err(message) => (
            StatusCode::BAD_REQUEST,
            render(
                &user,
                &tenant,
                &view,
                html! { p.error role="alert" { (message) } },
            ),
        )
            .into_response(),
    })
}
