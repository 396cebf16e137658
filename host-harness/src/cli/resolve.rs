//! `resolve`: the duplicates seatsync created, and ending the newer line of
//! one once a person confirmed it. The rules are in [`crate::resolve`]; this
//! is only their front end: the listing, the prompt, the output.

use std::io::{BufRead as _, Read as _};

use anyhow::bail;
use seatsync_contract::ConnectorDescription;
use serde_json::{Value, json};

use super::Context;
use super::args::ResolveArgs;
use super::report::settle_window_setting;
use super::table;
use crate::clock::Clock as _;
use crate::resolve::{self, EndOptions, KnownDuplicate, PlannedEnd};
use crate::store::{Confirmation, LineEnd, Store};

/// `resolve [--end LINE_ID [--yes]] [--json]`.
pub async fn resolve(ctx: &mut Context, args: &ResolveArgs) -> anyhow::Result<()> {
    let store = ctx.store()?;
    let runtime = ctx.runtime()?;
    let connector = runtime.describe().await?;
    match args.end {
        None => list(ctx, &store, &connector, args.json),
        Some(line_id) => end(ctx, &store, &connector, line_id, args).await,
    }
}

/// Lists the known duplicates seatsync created.
fn list(
    ctx: &Context,
    store: &Store,
    connector: &ConnectorDescription,
    as_json: bool,
) -> anyhow::Result<()> {
    let known = resolve::known_duplicates(store, &ctx.tenant)?;
    if as_json {
        let value: Vec<Value> = known.iter().map(|k| known_json(k, &ctx.tenant)).collect();
        println!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    if known.is_empty() {
        println!(
            "No duplicate seatsync created is known: the latest syncs found no conflict between {noun}s that \
             seatsync's journal created. Conflicts between other {noun}s are for you to resolve in {psa} \
             (`seatsync history --run ID` shows them).",
            noun = connector.line_noun,
            psa = connector.psa
        );
        return Ok(());
    }
    let mut t = table::new(&[
        "org",
        connector.contract_noun.as_str(),
        "package",
        "product",
        "created by seatsync",
        "keep",
        "end",
        "found by",
    ]);
    for k in &known {
        let c = &k.conflict;
        let created = k
            .duplicate
            .created
            .iter()
            .map(|l| {
                format!(
                    "{} at {}",
                    l.line_id,
                    l.created_at.format("%Y-%m-%d %H:%M:%S UTC")
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        let end = k
            .duplicate
            .to_end()
            .iter()
            .map(|l| match k.ended.iter().find(|e| e.line_id == l.line_id) {
                Some(e) => format!("{}: ended, stops billing on {}", l.line_id, e.end_day),
                None => format!(
                    "{}: `{}`",
                    l.line_id,
                    resolve::end_command(&ctx.tenant, l.line_id)
                ),
            })
            .collect::<Vec<_>>()
            .join("; ");
        let mut keep = k.duplicate.kept().line_id.to_string();
        if !k.duplicate.others.is_empty() {
            let others = k
                .duplicate
                .others
                .iter()
                .map(i64::to_string)
                .collect::<Vec<_>>()
                .join(", ");
            keep.push_str(&format!(" (not seatsync's: {others})"));
        }
        t.add_row(vec![
            c.org_id.clone(),
            c.contract_id.to_string(),
            c.package_key.clone(),
            c.product_id.to_string(),
            created,
            keep,
            end,
            format!("run {}{}", c.run, if c.dry_run { " (dry run)" } else { "" }),
        ]);
    }
    println!("{t}");
    let pending: usize = known.iter().map(|k| k.still_to_end().len()).sum();
    println!(
        "{} duplicate(s) seatsync created; {pending} {} to end. seatsync keeps the oldest {noun} (billed since) \
         and never ends one by itself: check the newer one in {psa}, then end it with `seatsync resolve --end \
         ID` (you type yes to confirm; --yes in a script). A sync afterwards should find one {noun}.",
        known.len(),
        if pending == 1 { "line" } else { "lines" },
        noun = connector.line_noun,
        psa = connector.psa,
    );
    Ok(())
}

/// Ends `line_id` once a person confirmed it.
async fn end(
    ctx: &mut Context,
    store: &Store,
    connector: &ConnectorDescription,
    line_id: i64,
    args: &ResolveArgs,
) -> anyhow::Result<()> {
    // Every check first: a refusal writes nothing and asks nothing.
    let plan = resolve::plan_end(store, &ctx.tenant, connector, line_id)?;
    let connected = ctx.connected(store).await?;
    let day = ctx.clock.now().date_naive();
    let what = plan.describe(connector, day);
    // With --json, stdout carries only the result.
    if args.json {
        eprintln!("{what}");
    } else {
        println!("{what}");
    }
    let confirmed = if args.yes {
        Confirmation::Flag
    } else {
        confirm(connector, &plan)?
    };
    let settle_window = settle_window_setting(connected.runtime.limits());
    let ended = resolve::end_line(
        store,
        &connected,
        connector,
        &plan,
        &EndOptions {
            day,
            confirmed,
            settle_window,
        },
    )
    .await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&end_json(&ended))?);
    } else {
        println!(
            "Ended {noun} {} on {} {}: it stops billing on {}, and {noun} {} stays. Run `seatsync sync` to see \
             one {noun} left for the product.",
            ended.line_id,
            connector.contract_noun,
            ended.contract_id,
            ended.end_day,
            ended.kept_line_id,
            noun = connector.line_noun,
        );
    }
    Ok(())
}

/// Asks on stderr, reads one line of stdin: `yes` confirms, anything else
/// (or nothing) does not.
fn confirm(connector: &ConnectorDescription, plan: &PlannedEnd) -> anyhow::Result<Confirmation> {
    eprint!(
        "Type yes to end {} {}, anything else to leave it: ",
        connector.line_noun, plan.line.line_id
    );
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .take(1024)
        .read_line(&mut answer)
        .map_err(|e| anyhow::anyhow!("cannot read the answer from standard input: {e}"))?;
    let answer = answer.trim();
    if answer.eq_ignore_ascii_case("yes") {
        return Ok(Confirmation::Typed);
    }
    let heard = if answer.is_empty() {
        "no answer".to_string()
    } else {
        // What was typed, cut short and on one line.
        format!("'{}'", answer.chars().take(20).collect::<String>())
    };
    bail!(
        "not confirmed ({heard}): nothing was ended. Type yes to end {} {}, or pass --yes in a script",
        connector.line_noun,
        plan.line.line_id
    )
}

fn end_json(end: &LineEnd) -> Value {
    json!({
        "ended": end.line_id,
        "kept": end.kept_line_id,
        "org_id": end.org_id,
        "agreement_id": end.contract_id,
        "product_id": end.product_id,
        "end_day": end.end_day,
        "confirmed": end.confirmed.as_str(),
        "requested_at": end.requested_at.to_rfc3339(),
        "state": end.state.as_str(),
    })
}

fn known_json(known: &KnownDuplicate, tenant: &str) -> Value {
    let c = &known.conflict;
    json!({
        "org_id": c.org_id,
        "company_id": c.company_id,
        "agreement_id": c.contract_id,
        "package": c.package_key,
        "product_id": c.product_id,
        "run": c.run.0,
        "run_started_at": c.run_started_at.to_rfc3339(),
        "dry_run": c.dry_run,
        "line_ids": c.line_ids,
        "duplicate": known.duplicate.to_json(tenant),
        "ended": known.ended.iter().map(|e| json!({
            "line_id": e.line_id,
            "end_day": e.end_day,
            "confirmed": e.confirmed.as_str(),
            "at": e.finished_at.map(|t| t.to_rfc3339()),
        })).collect::<Vec<_>>(),
        "still_to_end": known.still_to_end().iter().map(|l| l.line_id).collect::<Vec<_>>(),
    })
}
