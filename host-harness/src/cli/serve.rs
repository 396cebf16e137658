//! `seatsync serve`: the web console and the daily schedule of every
//! connected tenant, in one process, until Ctrl-C or SIGTERM.
//!
//! With `--demo`, over the built-in ConnectWise simulator and a temporary
//! database, both gone when it stops.

use std::future::IntoFuture as _;
use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context as _;
use seatsync_fixtures::{
    DEMO_CLIENT_ID, DEMO_COMPANY_ID, DEMO_PRIVATE_KEY, DEMO_PUBLIC_KEY, SimConfig, Simulator, demo,
};
use tokio::sync::watch;

use super::Context;
use super::args::ServeArgs;
use super::report;
use crate::console::daemons::{self, Schedule, Wake};
use crate::console::{Console, ConsoleOptions, auth, tls};
use crate::schedule::parse_at;

/// The tenant `serve --demo` prepares.
const DEMO_TENANT: &str = "demo";

/// Runs the console until a signal.
pub async fn run(mut ctx: Context, args: &ServeArgs) -> anyhow::Result<ExitCode> {
    let at = parse_at(&args.at)?;
    // The demo's simulator and database live as long as this function.
    let mut demo_parts = None;
    if args.demo {
        let sim = Simulator::start(SimConfig::default())
            .await
            .context("cannot start the ConnectWise simulator on 127.0.0.1")?;
        let dir = tempfile::tempdir()
            .context("cannot create a temporary directory for the demo database")?;
        ctx.db = dir.path().join("seatsync-demo.db");
        demo_parts = Some((sim, dir));
    }
    // A certificate that cannot be used fails now, before anything starts.
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(tls::server_config(cert, key)?),
        _ => None,
    };
    let store = ctx.store()?;
    let runtime = ctx.runtime()?;
    if let Some((sim, _)) = &demo_parts {
        prepare_demo(&store)?;
        println!(
            "Demo: a simulated ConnectWise Manage is listening on http://{}. Connect tenant '{DEMO_TENANT}' \
             to it with these demo credentials:\n  Site: http://{}\n  Company ID: {DEMO_COMPANY_ID}\n  \
             Public key: {DEMO_PUBLIC_KEY}\n  Private key: {DEMO_PRIVATE_KEY}\n  Client ID: {DEMO_CLIENT_ID}\n  \
             and tick \"Allow plain HTTP\". The database is temporary.",
            sim.addr(),
            sim.addr()
        );
    }
    let setup_token = if store.console_has_owner()? {
        None
    } else {
        // A new link at each start; only the latest works, once.
        let token = auth::random_token()?;
        store.set_console_setup_token(&auth::token_hash(&token))?;
        Some(token)
    };
    drop(store);

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}: is another program using the port? Pick another with --listen",
                args.listen
            )
        })?;
    let addr = listener
        .local_addr()
        .context("cannot read the address the console listens on")?;
    if let Some(warning) = exposure_warning(addr, args.behind_proxy || tls.is_some()) {
        eprintln!("{warning}");
    }

    let wake = Wake::default();
    let options = ConsoleOptions {
        db: ctx.db.clone(),
        keys: ctx.keys.clone(),
        clock: ctx.clock,
        runtime: runtime.clone(),
        secure_cookies: args.behind_proxy || tls.is_some(),
        allow_http: args.allow_http || args.demo,
        at,
        // The console sets each run's actor and day itself.
        sync: report::sync_options(&ctx, &runtime, crate::store::Trigger::Manual),
    };
    let console = Console::new(options, Some(wake.clone())).await?;
    let schedule = Schedule {
        db: ctx.db.clone(),
        keys: ctx.keys.clone(),
        clock: ctx.clock,
        runtime: runtime.clone(),
        template: super::daemon::daemon_options(&runtime, String::new(), at),
    };

    // Signals are listened for before the link is printed: a signal sent
    // as soon as it appears stops us cleanly.
    let signal = super::daemon::shutdown_signal()?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let url = format!("{}://{addr}", if tls.is_some() { "https" } else { "http" });
    println!(
        "seatsync console: {url}/ (daily sync at {} UTC). Stop with Ctrl-C or SIGTERM.",
        at.format("%H:%M")
    );
    match &setup_token {
        Some(token) => {
            println!("Create the owner account (the link works once): {url}/setup?token={token}")
        }
        None => println!("Log in at {url}/login"),
    }
    let scheduler = tokio::spawn(daemons::run(schedule, wake, stop_rx.clone()));
    let mut server_stop = stop_rx.clone();
    let stopped = async move {
        let _ = server_stop.wait_for(|s| *s).await;
    };
    let router = console.router();
    let server = match tls {
        Some(config) => {
            let listener = tls::TlsListener::new(listener, config)
                .context("cannot serve HTTPS on the console's address")?;
            tokio::spawn(
                axum::serve(listener, router)
                    .with_graceful_shutdown(stopped)
                    .into_future(),
            )
        }
        None => tokio::spawn(
            axum::serve(listener, router)
                .with_graceful_shutdown(stopped)
                .into_future(),
        ),
    };
    signal.await;
    println!("Stopping: finishing any sync in progress…");
    let _ = stop_tx.send(true);
    let served = server.await.context("the console's server task failed")?;
    let _ = scheduler.await;
    served.context("the console's server failed")?;
    if let Some((sim, dir)) = demo_parts {
        sim.shutdown();
        drop(dir);
        println!("Stopped: the simulator is stopped and the temporary database is removed.");
    } else {
        println!("Stopped.");
    }
    Ok(ExitCode::SUCCESS)
}

/// The demo tenant, with the demo's usage already imported (the console's
/// usage upload comes in a later version).
fn prepare_demo(store: &crate::store::Store) -> anyhow::Result<()> {
    store.add_tenant(DEMO_TENANT)?;
    let usage = crate::usage::parse_usage(demo::USAGE_CSV.as_bytes(), None)
        .context("the demo's usage file does not parse")?;
    store.replace_usage(DEMO_TENANT, &usage)?;
    Ok(())
}

/// Passwords and session cookies cross the network in clear on plain HTTP:
/// the warning to print unless only this machine can connect or a proxy
/// adds TLS.
fn exposure_warning(addr: SocketAddr, behind_proxy: bool) -> Option<String> {
    (!addr.ip().is_loopback() && !behind_proxy).then(|| {
        format!(
            "warning: the console listens on {addr} over plain HTTP: passwords and session cookies would cross \
             the network unencrypted. Give it --tls-cert and --tls-key, or put a reverse proxy that terminates \
             TLS in front of it and pass --behind-proxy, or listen on 127.0.0.1."
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_http_beyond_loopback_warns() {
        let at = |s: &str| s.parse::<SocketAddr>().unwrap();
        assert_eq!(exposure_warning(at("127.0.0.1:8470"), false), None);
        assert_eq!(exposure_warning(at("[::1]:8470"), false), None);
        assert_eq!(exposure_warning(at("0.0.0.0:8470"), true), None);
        let warning = exposure_warning(at("0.0.0.0:8470"), false).unwrap();
        assert!(
            warning.contains("0.0.0.0:8470") && warning.contains("--behind-proxy"),
            "{warning}"
        );
        assert!(exposure_warning(at("192.168.1.5:80"), false).is_some());
    }
}
