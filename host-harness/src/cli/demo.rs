//! `seatsync demo`: the whole flow on a fresh machine, against the
//! ConnectWise simulator started in-process on a free loopback port, with a
//! temporary database. The steps call the same functions as the commands, so
//! the demo shows the real thing. It leaves nothing running.

use std::process::ExitCode;

use anyhow::Context as _;
use seatsync_fixtures::{
    DEMO_CLIENT_ID, DEMO_COMPANY_ID, DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY, SimConfig, Simulator, demo,
};

use seatsync_contract::Settings;

use super::args::{
    AutoApproveArg, DecideArgs, MapTarget, PolicyCommand, PolicySetArgs, SyncArgs, Threshold,
};
use super::{Context, connect_with, lists, mapping, plans, report, test_connection};
use crate::store::LineDecision;

const STEPS: usize = 10;

fn step(n: usize, title: &str, explain: &str) {
    println!("\n[{n}/{STEPS}] {title}");
    println!("      {explain}\n");
}

/// Runs the demo.
pub async fn run() -> anyhow::Result<ExitCode> {
    let sim = Simulator::start(SimConfig::default())
        .await
        .context("cannot start the ConnectWise simulator on 127.0.0.1")?;
    let dir =
        tempfile::tempdir().context("cannot create a temporary directory for the demo database")?;
    let mut ctx = Context::new(dir.path().join("seatsync-demo.db"), "demo".into(), None);
    ctx.clock = crate::clock::SystemClock::from_env()?;
    println!(
        "seatsync demo: a simulated ConnectWise Manage (the MSP \"Acme Managed IT\", {} catalog items) is listening on \
         http://{}; the database is temporary.",
        sim.tenant().catalog.len(),
        sim.addr()
    );
    let result = steps(&mut ctx, &format!("http://{}", sim.addr())).await;
    sim.shutdown();
    result?;
    println!("\nThe demo is over: the simulator is stopped and the temporary database is removed.");
    Ok(ExitCode::SUCCESS)
}

async fn steps(ctx: &mut Context, site: &str) -> anyhow::Result<()> {
    step(
        1,
        "Connect to ConnectWise",
        "The site, company id, public key and client id as an MSP enters them; the private key comes from \
         stdin or an environment variable, never the command line. The connection is tested before it is saved.",
    );
    // What `connect --site … --private-key-stdin` gathers, the key given
    // directly rather than typed.
    let store = ctx.store()?;
    let description = ctx.runtime()?.describe().await?;
    let settings: Settings = [
        ("site", site),
        ("company-id", DEMO_COMPANY_ID),
        ("public-key", DEMO_PUBLIC_KEY),
        ("private-key", DEMO_PRIVATE_KEY),
        ("client-id", DEMO_CLIENT_ID),
    ]
    .into_iter()
    .collect();
    let settings = crate::connection::checked_settings(&description, settings)?;
    connect_with(ctx, &store, &description, settings, true, None).await?;
    test_connection(ctx).await?;

    step(
        2,
        "Choose the data to sync",
        "Both data types are on by default: `user-counts` updates the quantity of existing additions, \
         `packages` creates an addition when an agreement has none for a mapped package.",
    );
    let types = ctx.store()?.data_types(&ctx.tenant)?;
    println!(
        "user-counts: {}",
        if types.user_counts { "on" } else { "off" }
    );
    println!("packages:    {}", if types.packages { "on" } else { "off" });

    step(
        3,
        "Import the vendor's usage",
        "Active users per organization and package, as the vendor reports them (CSV: org_id,org_name,package,active_users).",
    );
    let usage_file = ctx
        .db
        .parent()
        .map(|d| d.join("usage.csv"))
        .context("the demo database has no directory")?;
    std::fs::write(&usage_file, demo::USAGE_CSV).context("cannot write the demo usage file")?;
    mapping::import_usage(ctx, &usage_file).await?;

    let mappings = demo::mappings();
    step(
        4,
        "Map the packages to ConnectWise products",
        "Each package is checked against the ConnectWise catalog (it must exist, be active and not be a bundle).",
    );
    for (key, m) in &mappings.packages {
        let target = MapTarget::Package {
            key: key.clone(),
            product: i64::from(m.product_id),
            bill: Some(m.bill_customer.clone()),
            tax_exempt: !m.taxable,
            options: Vec::new(),
        };
        mapping::map(ctx, target).await?;
    }

    step(
        5,
        "Map the organizations: suggested matches",
        "seatsync suggests a company and agreement for each organization (by name, identifier and domain, \
         ignoring case, accents, legal forms and noise like \"(trial)\") and maps the confident ones, here to \
         their Email Security agreements. What it is not sure of is left to a person: Adventure Works (the \
         company is \"Adventure Works Cycles\") is mapped by hand below; the trial organization's company has no \
         active agreement, so it stays unmapped.",
    );
    mapping::map(
        ctx,
        MapTarget::Suggest {
            orgs: Vec::new(),
            apply: true,
            min_score: 0.9,
            agreement_type: Some("Email Security".into()),
            json: false,
        },
    )
    .await?;
    println!();
    // The ones suggestions left: mapped by hand, as a person would.
    let unmapped: Vec<String> = ctx
        .store()?
        .list_orgs(&ctx.tenant)?
        .into_iter()
        .filter(|o| o.mapping.is_none())
        .map(|o| o.org_id)
        .collect();
    for (org, m) in mappings
        .organizations
        .iter()
        .filter(|(org, _)| unmapped.contains(org))
    {
        let target = MapTarget::Org {
            org: org.clone(),
            company: i64::from(m.company_id),
            agreement: i64::from(m.agreement_id),
        };
        mapping::map(ctx, target).await?;
    }
    println!();
    lists::packages(ctx, false, false)?;
    println!();
    lists::orgs(ctx, false, false, false)?;

    step(
        6,
        "Review before billing",
        "A dry run saved as a plan: per line, what ConnectWise has now, the new count, the change in units, \
         percent and money (where the addition has a unit price). Nothing is written yet.",
    );
    plans::review(ctx, &[], false).await?;

    step(
        7,
        "Approve and apply",
        "A person approves lines (here all of them; `ORG` or `ORG:PACKAGE` picks some) and applies the plan: \
         each approved line is written only if ConnectWise still shows what the review saw.",
    );
    let plan = ctx
        .store()?
        .plans(&ctx.tenant, 1)?
        .first()
        .map(|p| p.id.0)
        .context("the review saved no plan")?;
    plans::decide(
        ctx,
        &DecideArgs {
            plan,
            all: true,
            lines: Vec::new(),
        },
        LineDecision::Approved,
    )?;
    plans::apply(ctx, plan, false).await?;

    step(
        8,
        "Sync",
        "What the daily run does. Nothing changed since the plan was applied, so nothing is written: one request \
         per organization, zero writes. The CONFLICT (two active additions for one product) is left for a person.",
    );
    report::sync(
        ctx,
        &SyncArgs {
            dry_run: false,
            orgs: Vec::new(),
            json: false,
        },
    )
    .await?;

    step(
        9,
        "A surprise drop waits for a person",
        "Approval rules: increases go through, a drop of more than 20% is held. The next usage file says Lamna \
         Healthcare went from 120 users to 3 (an export gone wrong?): the sync writes everything else and holds \
         that line in a plan instead of putting it on the invoice.",
    );
    plans::policy(
        ctx,
        &PolicyCommand::Set(PolicySetArgs {
            auto_approve: Some(AutoApproveArg::Increases),
            hold_decrease_over: Some(Threshold(Some(20.0))),
            hold_increase_over: None,
            hold_new_lines: None,
            plan_expiry_days: None,
            effective_date: None,
        }),
    )?;
    println!();
    std::fs::write(
        &usage_file,
        demo::USAGE_CSV.replace(
            "Lamna Healthcare Company,professional,120",
            "Lamna Healthcare Company,professional,3",
        ),
    )
    .context("cannot write the demo usage file")?;
    mapping::import_usage(ctx, &usage_file).await?;
    println!();
    report::sync(
        ctx,
        &SyncArgs {
            dry_run: false,
            orgs: Vec::new(),
            json: false,
        },
    )
    .await?;

    step(
        10,
        "History",
        "Every run and every line is kept, with the plans and who decided what; `seatsync history --run ID` \
         shows one run's lines.",
    );
    report::history(ctx, None, false)?;
    Ok(())
}
