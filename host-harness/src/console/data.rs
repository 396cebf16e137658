//! The wizard's second step: which data types to sync.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::html;
use serde::Deserialize;

use super::auth::{self, Posted, User};
use super::tenants::Done;
use super::{Console, ConsoleError, layout};
use crate::store::DataType;

/// What each data type does, for people.
fn explain(data_type: DataType) -> &'static str {
    match data_type {
        DataType::UserCounts => {
            "Set the quantity of each existing line to the organization's active users."
        }
        DataType::Packages => "Create the line when the contract has none for a mapped package.",
    }
}

/// `GET /t/{tenant}/data`.
pub async fn page(
    State(console): State<Console>,
    user: User,
    Path(tenant): Path<String>,
    Query(done): Query<Done>,
) -> Result<Response, ConsoleError> {
    let (types, may_manage) = console
        .read_tenant(&user, &tenant, |s, t| Ok(s.data_types(t)?))
        .await?;
    let on = |d: DataType| match d {
        DataType::UserCounts => types.user_counts,
        DataType::Packages => types.packages,
    };
    let body = html! {
        h1 { "Data to sync" }
        (layout::notice(done.done.as_deref()))
        form.stack method="post" action=(format!("/t/{tenant}/data")) {
            input type="hidden" name="csrf" value=(user.csrf);
            @for d in DataType::ALL {
                label.check {
                    input type="checkbox" name=(d.as_str()) value="on" checked[on(d)] disabled[!may_manage];
                    span { strong { (d.as_str()) } ": " (explain(d)) }
                }
            }
            @if may_manage { button type="submit" { "Save" } }
        }
    };
    Ok(layout::page(&user, "Data to sync", Some((&tenant, "data")), body).into_response())
}

/// The switches: a box is sent only when checked.
#[derive(Deserialize)]
pub struct DataForm {
    #[serde(default)]
    csrf: String,
    #[serde(default, rename = "user-counts")]
    user_counts: Option<String>,
    #[serde(default)]
    packages: Option<String>,
}

/// `POST /t/{tenant}/data`.
pub async fn save(
    State(console): State<Console>,
    Path(tenant): Path<String>,
    Posted { user, form }: Posted<DataForm>,
) -> Result<Response, ConsoleError> {
    console
        .change_tenant(&user, &tenant, move |s, t| {
            s.set_data_type(t, DataType::UserCounts, form.user_counts.is_some())?;
            s.set_data_type(t, DataType::Packages, form.packages.is_some())?;
            Ok(())
        })
        .await?;
    Ok(Redirect::to(&format!("/t/{tenant}/data?done=saved")).into_response())
}

auth::csrf_forms!(DataForm);
