//! The wizard's sixth step: review before billing. A review is a dry run
//! saved as a plan; a person approves or rejects its lines and applies it,
//! and each approved line is written only if the PSA still shows what the
//! review saw ([`crate::plans`]). Lines the daily run held under the
//! approval rules wait here too.

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::auth::{self, Posted, User};
use super::{Console, ConsoleError, layout};
use crate::plans::{self, quantity_text};
use crate::store::{LineDecision, PlanId, PlanLine, PlanRecord, PlanStatus};

/// `?plan=&done=`.
#[derive(Deserialize, Default)]
pub struct ReviewQuery {
    #[serde(default)]
    plan: Option<i64>,
    #[serde(default)]
    done: Option<String>,
}

fn signed(x: f64) -> String {
    if x > 0.0 {
        format!("+{}", quantity_text(x))
    } else {
        quantity_text(x)
    }
}

fn money(x: f64) -> String {
    if x > 0.0 {
        format!("+{x:.2}")
    } else {
        format!("{x:.2}")
    }
}

/// `GET /t/{tenant}/review`: the pending plans, one of them in full.
pub async fn page(
    State(console): State<Console>,
    user: User,
    Path(tenant): Path<String>,
    Query(query): Query<ReviewQuery>,
) -> Result<Response, ConsoleError> {
    let ((pending, shown), may_manage) = console
        .read_tenant(&user, &tenant, move |s, t| {
            let pending: Vec<PlanRecord> = s
                .plans(t, 50)?
                .into_iter()
                .filter(|p| p.status == PlanStatus::Pending)
                .collect();
            let id = query.plan.or(pending.first().map(|p| p.id.0));
            let shown = match id {
                Some(id) => {
                    let plan = s.plan(t, PlanId(id))?;
                    let lines = s.plan_lines(t, plan.id)?;
                    Some((plan, lines))
                }
                None => None,
            };
            Ok((pending, shown))
        })
        .await?;
    let body = html! {
        h1 { "Review" }
        (layout::notice(query.done.as_deref()))
        p { "A review reads every mapped organization's lines and saves what a sync would change as a plan. Nothing is written until you approve lines and apply the plan." }
        @if may_manage {
            form.inline method="post" action=(format!("/t/{tenant}/review")) {
                input type="hidden" name="csrf" value=(user.csrf);
                button type="submit" { "Start a review" }
            }
        }
        @if pending.is_empty() {
            p.muted { "No plan waits for a decision." }
        } @else {
            h2 { "Waiting for a decision" }
            table {
                thead { tr { th { "Plan" } th { "Made" } th { "By" } th { "From" } th.num { "Lines" } th.num { "Approved" } th.num { "Pending" } } }
                tbody { @for p in &pending {
                    tr {
                        td { a href=(format!("/t/{tenant}/review?plan={}", p.id.0)) { "#" (p.id.0) } }
                        td { (p.created_at.format("%Y-%m-%d %H:%M UTC")) }
                        td { (p.created_by) }
                        td { @if p.source == crate::store::PlanSource::Sync { "held by the daily run" } @else { "review" } }
                        td.num { (p.counts.lines) }
                        td.num { (p.counts.approved) }
                        td.num { (p.counts.pending) }
                    }
                } }
            }
        }
        @if let Some((plan, lines)) = &shown {
            (plan_view(&user, &tenant, plan, lines, may_manage))
        }
    };
    Ok(layout::page(&user, "Review", Some((&tenant, "review")), body).into_response())
}

fn plan_view(
    user: &User,
    tenant: &str,
    plan: &PlanRecord,
    lines: &[PlanLine],
    may_manage: bool,
) -> Markup {
    let t = plans::totals(lines.iter().map(|l| &l.line));
    let pending = plan.status == PlanStatus::Pending && may_manage;
    let decide = format!("/t/{tenant}/plans/{}/decide", plan.id.0);
    let button = |decision: &str, line: Option<String>, label: &str| {
        html! {
            form.inline method="post" action=(decide) {
                input type="hidden" name="csrf" value=(user.csrf);
                input type="hidden" name="decision" value=(decision);
                @match &line {
                    Some(l) => input type="hidden" name="line" value=(l);,
                    None => input type="hidden" name="all" value="true";,
                }
                button.secondary type="submit" { (label) }
            }
        }
    };
    html! {
        h2 { "Plan #" (plan.id.0) " " span.muted { "(" (plan.status.as_str()) ")" } }
        @if let Some(why) = &plan.expired_because { p.error { "Expired: " (why) } }
        p { (t.to_update) " lines to update, " (t.to_create) " to create, " (t.conflicts) " conflicts. Units: "
            (signed(t.units_up)) " / " (signed(-t.units_down)) "; money: " (money(t.money_up)) " / " (money(-t.money_down)) "." }
        @if pending {
            p { (button("approve", None, "Approve every line")) " " (button("reject", None, "Reject every line")) " "
                form.inline method="post" action=(format!("/t/{tenant}/plans/{}/apply", plan.id.0)) {
                    input type="hidden" name="csrf" value=(user.csrf);
                    button type="submit" { "Apply the approved lines" }
                }
            }
        }
        table {
            thead { tr {
                th { "Organization" } th { "Package" } th.num { "Now" } th.num { "New" } th.num { "Change" } th.num { "%" } th.num { "Money" }
                th { "Action" } th { "Decision" } th { "Note" } th {}
            } }
            tbody { @for l in lines {
                @let x = &l.line;
                @let writes = x.action.writes();
                tr {
                    td { (x.org_name) br; span.muted { (x.org_id) } }
                    td { (x.package_key) }
                    td.num { (x.current_quantity.map(quantity_text).unwrap_or_else(|| "–".into())) }
                    td.num { (x.new_quantity) }
                    td.num { @if writes { (signed(plans::change_units(x))) } }
                    td.num { @if writes { @if let Some(p) = plans::change_percent(x) { (format!("{p:+.0}%")) } } }
                    td.num { @if writes { @if let Some(m) = plans::money_effect(x) { (money(m)) } } }
                    td { (x.action.as_str()) }
                    td { (l.decision.as_str()) @if let Some(r) = l.result { " → " (r.as_str()) } }
                    td.help { (x.message.as_deref().unwrap_or("")) (l.result_message.as_deref().map(|m| format!(" {m}")).unwrap_or_default()) }
                    td { @if pending && writes {
                        @let sel = format!("{}:{}", x.org_id, x.package_key);
                        @if l.decision != LineDecision::Approved { (button("approve", Some(sel.clone()), "Approve")) " " }
                        @if l.decision != LineDecision::Rejected { (button("reject", Some(sel), "Reject")) }
                    } }
                }
            } }
        }
    }
}

/// The start-a-review and apply forms.
#[derive(Deserialize)]
pub struct PlanForm {
    #[serde(default)]
    csrf: String,
}

/// `POST /t/{tenant}/review`: a dry run saved as a plan.
pub async fn start(
    State(console): State<Console>,
    Path(tenant): Path<String>,
    Posted { user, form: _ }: Posted<PlanForm>,
) -> Result<Response, ConsoleError> {
    let t = tenant.clone();
    let id = console
        .with_store_async(move |store, console| async move {
            user.require_manage(&store, &t)?;
            let runtime = console.options().runtime.clone();
            let options = console.sync_options(&user);
            let review = plans::review(
                &store,
                runtime,
                &t,
                options,
                &user.account.username,
                &mut (),
            )
            .await?;
            Ok(review.plan.id.0)
        })
        .await?;
    Ok(Redirect::to(&format!("/t/{tenant}/review?plan={id}")).into_response())
}

/// The decision form: `decision` (`approve` or `reject`), and `line`
/// (`ORG:PACKAGE`) or `all`.
#[derive(Deserialize)]
pub struct DecideForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    decision: String,
    #[serde(default)]
    line: Option<String>,
    #[serde(default)]
    all: bool,
}

/// `POST /t/{tenant}/plans/{plan}/decide`.
pub async fn decide(
    State(console): State<Console>,
    Path((tenant, plan)): Path<(String, i64)>,
    Posted { user, form }: Posted<DecideForm>,
) -> Result<Response, ConsoleError> {
    let decision = match form.decision.as_str() {
        "approve" => LineDecision::Approved,
        "reject" => LineDecision::Rejected,
        other => {
            return Err(ConsoleError::BadRequest(format!(
                "'{other}' is not a decision: approve or reject"
            )));
        }
    };
    let actor = user.account.username.clone();
    console
        .change_tenant(&user, &tenant, move |s, t| {
            let selectors: Vec<String> = form.line.into_iter().collect();
            plans::decide(s, t, PlanId(plan), &selectors, form.all, decision, &actor)?;
            Ok(())
        })
        .await?;
    Ok(Redirect::to(&format!("/t/{tenant}/review?plan={plan}&done=decided")).into_response())
}

/// `POST /t/{tenant}/plans/{plan}/apply`: writes the approved lines; the
/// run's lines are then in the history.
pub async fn apply(
    State(console): State<Console>,
    Path((tenant, plan)): Path<(String, i64)>,
    Posted { user, form: _ }: Posted<PlanForm>,
) -> Result<Response, ConsoleError> {
    let t = tenant.clone();
    let run = console
        .with_store_async(move |store, console| async move {
            user.require_manage(&store, &t)?;
            let runtime = console.options().runtime.clone();
            let options = console.sync_options(&user);
            let applied = plans::apply(
                &store,
                runtime,
                &t,
                PlanId(plan),
                options,
                &user.account.username,
                &mut (),
            )
            .await?;
            if let Some(summary) = &applied.summary
                && let Some(notice) = crate::notify::notice_for_run(summary)
            {
                crate::notify::deliver(&store, &notice, &Default::default()).await;
            }
            Ok(applied.summary.and_then(|s| s.run).map(|r| r.id.0))
        })
        .await?;
    Ok(match run {
        Some(run) => Redirect::to(&format!("/t/{tenant}/history/{run}")),
        None => Redirect::to(&format!("/t/{tenant}/review?plan={plan}&done=decided")),
    }
    .into_response())
}

auth::csrf_forms!(PlanForm, DecideForm);
