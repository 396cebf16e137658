//! The `seatsync` command: each subcommand as a function over a [`Context`].
//!
//! Output for people goes to stdout as tables; `--json` prints JSON instead;
//! progress and warnings go to stderr. Errors are returned to `main`, which
//! prints them (without a backtrace) and exits with status 1.

pub mod args;
mod daemon;
mod demo;
mod lists;
mod mapping;
mod notify;
mod plans;
mod report;
mod resolve;
mod secrets;
mod serve;
pub mod table;
mod worker;

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, anyhow, bail};
use seatsync_contract::{ConnectionInfo, ConnectorDescription, Settings};

use crate::clock::SystemClock;
use crate::connection::{self, Connected, ConnectionError};
use crate::runtime::{Runtime, RuntimeOptions};
use crate::store::{KeySource, Store};
use args::{Cli, Command, ConnectArgs};

/// Where a command runs: the database, tenant and component it was given.
pub struct Context {
    /// The database path.
    pub db: PathBuf,
    /// Where the key sealing the database's secrets comes from.
    pub keys: KeySource,
    /// The tenant name.
    pub tenant: String,
    /// A component to load instead of the built-in one.
    pub plugin: Option<PathBuf>,
    /// Where compiled components are cached; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// The time: the system's, or the one `SEATSYNC_NOW` starts.
    pub clock: SystemClock,
    runtime: Option<Arc<Runtime>>,
}

impl Context {
    /// A context for `cli`'s global options.
    pub fn new(db: PathBuf, tenant: String, plugin: Option<PathBuf>) -> Self {
        Context {
            db,
            keys: KeySource::default(),
            tenant,
            plugin,
            cache_dir: default_cache_dir(),
            clock: SystemClock::real(),
            runtime: None,
        }
    }

    /// Opens the database (creating it, mode 0600, on first use), on this
    /// context's clock.
    pub fn store(&self) -> anyhow::Result<Store> {
        let mut store = Store::open_with_key(&self.db, self.keys.clone())?;
        store.set_clock(self.clock.as_fn());
        Ok(store)
    }

    /// The connector runtime, compiled (or loaded from the cache) on first use.
    pub fn runtime(&mut self) -> anyhow::Result<Arc<Runtime>> {
        if let Some(runtime) = &self.runtime {
            return Ok(runtime.clone());
        }
        let bytes = match &self.plugin {
            Some(path) => std::fs::read(path).with_context(|| {
                format!(
                    "cannot read the plugin {}: check the --plugin path",
                    path.display()
                )
            })?,
            None => crate::DEFAULT_COMPONENT.to_vec(),
        };
        let mut options = RuntimeOptions {
            cache_dir: self.cache_dir.clone(),
            ..RuntimeOptions::default()
        };
        options.limits.requests_per_minute = report::requests_per_minute();
        let runtime = Arc::new(Runtime::new(&bytes, options)?);
        self.runtime = Some(runtime.clone());
        Ok(runtime)
    }

    /// The stored connection, ready for a command a person waits for: its
    /// network policy (interactive: a refused connection fails at once)
    /// and the secrets to redact from what is shown.
    pub async fn connected(&mut self, store: &Store) -> anyhow::Result<Connected> {
        let stored = store.connection(&self.tenant)?.ok_or_else(|| {
            anyhow!(
                "tenant '{}' has no connection yet: run `seatsync connect` first",
                self.tenant
            )
        })?;
        let runtime = self.runtime()?;
        Ok(Connected::open(runtime, stored, true).await?)
    }
}

/// `$SEATSYNC_CACHE_DIR`, else `$XDG_CACHE_HOME/seatsync`, else
/// `~/.cache/seatsync`; `None` (no cache) when none is known.
fn default_cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SEATSYNC_CACHE_DIR") {
        return (!dir.is_empty()).then(|| PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("seatsync"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|h| PathBuf::from(h).join(".cache").join("seatsync"))
}

/// The log filter for `SEATSYNC_LOG` (default: problems only, and the
/// connector's own warnings, which the command's output already shows,
/// left out). wasmtime's HTTP layer logs each failed exchange again, less
/// clearly than `seatsync::http` does, so it is kept to errors unless the
/// setting names it.
fn log_filter(setting: Option<&str>) -> tracing_subscriber::EnvFilter {
    let setting = setting.filter(|s| !s.trim().is_empty());
    let mut filter = setting
        .and_then(|s| tracing_subscriber::EnvFilter::try_new(s).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new("warn,seatsync::connector=error"));
    if !setting.is_some_and(|s| s.contains("wasmtime_wasi_http"))
        && let Ok(directive) = "wasmtime_wasi_http=error".parse()
    {
        filter = filter.add_directive(directive);
    }
    filter
}

/// Runs one parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let mut ctx = Context::new(cli.db, cli.tenant, cli.plugin);
    ctx.clock = SystemClock::from_env()?;
    ctx.keys = KeySource::from_options(
        cli.secret_key_file,
        std::env::var("SEATSYNC_SECRET_KEY").ok(),
    )?;
    match cli.command {
        Command::Connect(args) => {
            connect(&mut ctx, &args).await?;
        }
        Command::TestConnection => {
            test_connection(&mut ctx).await?;
        }
        Command::Products(f) => lists::products(&mut ctx, f.json).await?,
        Command::Companies(f) => lists::companies(&mut ctx, f.json).await?,
        Command::Agreements { company, json } => {
            lists::agreements(&mut ctx, company, json.json).await?
        }
        Command::Usage { command } => match command {
            args::UsageCommand::Import { file } => mapping::import_usage(&mut ctx, &file).await?,
        },
        Command::Packages(a) => lists::packages(&ctx, a.unmapped, a.json.json)?,
        Command::Orgs(a) => lists::orgs(&ctx, a.unmapped, a.missing, a.json.json)?,
        Command::Map { target } => mapping::map(&mut ctx, target).await?,
        Command::Mappings { command } => match command {
            args::MappingsCommand::Export { format } => mapping::export(&ctx, format)?,
            args::MappingsCommand::Import { file, dry_run } => {
                mapping::import(&mut ctx, &file, dry_run).await?
            }
        },
        Command::Enable { target } => mapping::toggle(&ctx, target, true)?,
        Command::Disable { target } => mapping::toggle(&ctx, target, false)?,
        Command::Sync(args) => return report::sync(&mut ctx, &args).await,
        Command::History { run, json } => report::history(&ctx, run, json.json)?,
        Command::Review { orgs, json } => plans::review(&mut ctx, &orgs, json.json).await?,
        Command::Plans(f) => plans::list(&ctx, f.json)?,
        Command::Plan { plan, json } => plans::show(&ctx, plan, json.json)?,
        Command::Approve(args) => plans::decide(&ctx, &args, crate::store::LineDecision::Approved)?,
        Command::Reject(args) => plans::decide(&ctx, &args, crate::store::LineDecision::Rejected)?,
        Command::Apply { plan, json } => return plans::apply(&mut ctx, plan, json.json).await,
        Command::Policy { command } => plans::policy(&ctx, &command)?,
        Command::Notify { command } => return notify::run(&ctx, &command).await,
        Command::Resolve(args) => resolve::resolve(&mut ctx, &args).await?,
        Command::Run(args) if args.all => return worker::run(&mut ctx, args.jobs.into()).await,
        Command::Run(args) => return daemon::run(&mut ctx, args.at.as_deref()).await,
        Command::Schedule { command } => worker::schedule(&ctx, &command)?,
        Command::Workers(f) => worker::workers(&ctx, f.json)?,
        Command::Demo => return demo::run().await,
        Command::Secrets { command } => secrets::run(&ctx, &command)?,
        Command::Serve(args) => return serve::run(ctx, &args).await,
    }
    Ok(ExitCode::SUCCESS)
}

/// Who runs this command, for plans and decisions: `SEATSYNC_USER`, else
/// the login name (`USER`, `LOGNAME`), else `unknown`.
pub fn actor() -> String {
    ["SEATSYNC_USER", "USER", "LOGNAME"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .map(|v| v.trim().to_string())
        .find(|v| !v.is_empty())
        .unwrap_or_else(|| "unknown".into())
}

/// Reads a secret from standard input (up to 64 KiB, trimmed): never from
/// the command line, where `ps` and shell history would show it.
fn read_stdin_secret(what: &str) -> anyhow::Result<String> {
    let mut input = String::new();
    std::io::stdin()
        .take(64 * 1024)
        .read_to_string(&mut input)
        .with_context(|| format!("cannot read the {what} from standard input"))?;
    non_empty_secret(input, what)
}

/// Reads a secret from the environment variable `var`.
fn read_env_secret(var: &str, what: &str) -> anyhow::Result<String> {
    let value = std::env::var(var).map_err(|_| {
        anyhow!(
            "the environment variable {var} is not set (or not UTF-8): export it with the {what}"
        )
    })?;
    non_empty_secret(value, what)
}

fn non_empty_secret(value: String, what: &str) -> anyhow::Result<String> {
    let value = value.trim().to_string();
    if value.is_empty() {
        bail!("the {what} is empty: pass it on standard input or in the variable");
    }
    Ok(value)
}

/// `KEY=VALUE`, or an error naming the flag.
fn key_value<'a>(text: &'a str, flag: &str) -> anyhow::Result<(&'a str, &'a str)> {
    text.split_once('=')
        .map(|(k, v)| (k.trim(), v))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| anyhow!("{flag} takes KEY=VALUE, not '{text}'"))
}

/// The settings `connect`'s flags give: the ConnectWise connector's own
/// flags under their setting keys, `--setting KEY=VALUE`, and the secrets
/// from standard input or the environment. Secrets are refused from the
/// command line.
fn settings_from_args(
    args: &ConnectArgs,
    description: &ConnectorDescription,
) -> anyhow::Result<Settings> {
    let mut settings = Settings::new();
    for (key, value) in [
        ("site", &args.site),
        ("company-id", &args.company_id),
        ("public-key", &args.public_key),
        ("client-id", &args.client_id),
        ("codebase", &args.codebase),
    ] {
        if let Some(value) = value {
            settings.set(key, value.trim());
        }
    }
    for text in &args.settings {
        let (key, value) = key_value(text, "--setting")?;
        if description.setting(key).is_some_and(|s| s.secret) {
            return Err(ConnectionError::SecretOnCommandLine { key: key.into() }.into());
        }
        settings.set(key, value.trim());
    }
    if args.private_key_stdin {
        settings.set("private-key", read_stdin_secret("private key")?);
    } else if let Some(var) = &args.private_key_env {
        settings.set("private-key", read_env_secret(var, "private key")?);
    }
    if let Some(key) = &args.secret_stdin {
        settings.set(
            key.clone(),
            read_stdin_secret(&format!("secret setting '{key}'"))?,
        );
    }
    for text in &args.secret_env {
        let (key, var) = key_value(text, "--secret-env")?;
        settings.set(
            key,
            read_env_secret(var, &format!("secret setting '{key}'"))?,
        );
    }
    Ok(settings)
}

/// `connect`: checks the settings against the connector's description,
/// tests them, and stores them only if the test passes.
pub async fn connect(ctx: &mut Context, args: &ConnectArgs) -> anyhow::Result<ConnectionInfo> {
    if let Some(ca) = &args.ca_file {
        check_readable(ca, "CA file")?;
    }
    // Open the store first: a database problem is reported before the test.
    let store = ctx.store()?;
    let runtime = ctx.runtime()?;
    let description = runtime.describe().await?;
    let settings =
        connection::checked_settings(&description, settings_from_args(args, &description)?)?;
    connect_with(
        ctx,
        &store,
        &description,
        settings,
        args.allow_http,
        args.ca_file.clone(),
    )
    .await
}

/// Tests `settings` and, if the test passes, stores them as the tenant's
/// connection ([`connection::connect`]), and says so.
pub async fn connect_with(
    ctx: &mut Context,
    store: &Store,
    description: &ConnectorDescription,
    settings: Settings,
    allow_http: bool,
    ca_file: Option<PathBuf>,
) -> anyhow::Result<ConnectionInfo> {
    let runtime = ctx.runtime()?;
    let info = connection::connect(
        &runtime,
        store,
        &ctx.tenant,
        description,
        settings,
        allow_http,
        ca_file,
    )
    .await?;
    println!(
        "Connected to {} ({}). Saved as the connection of tenant '{}'.",
        info.endpoint,
        connection::summary(&description.psa, &info),
        ctx.tenant
    );
    Ok(info)
}

/// `test-connection` with the stored connection.
pub async fn test_connection(ctx: &mut Context) -> anyhow::Result<ConnectionInfo> {
    let store = ctx.store()?;
    let connected = ctx.connected(&store).await?;
    let description = connected.runtime.describe().await?;
    let info = connected.test().await?;
    println!(
        "OK: {} answers ({}).",
        info.endpoint,
        connection::summary(&description.psa, &info)
    );
    Ok(info)
}

fn check_readable(path: &Path, what: &str) -> anyhow::Result<()> {
    std::fs::File::open(path).map(drop).with_context(|| {
        format!(
            "cannot read the {what} {}: check the path and its permissions",
            path.display()
        )
    })
}

/// Whether stderr is a terminal (for progress bars).
fn stderr_is_terminal() -> bool {
    std::io::stderr().is_terminal()
}

/// The whole `seatsync` process: parse the command line, set up logging and
/// the async runtime, run, and turn an error into a message and exit status 1.
pub fn main() -> ExitCode {
    let cli = <Cli as clap::Parser>::parse();
    // Logs go to stderr; SEATSYNC_LOG (e.g. `info`, `debug`) sets the level.
    // By default only problems are logged; the connector's own warnings
    // (conflicts, skipped lines) already appear in the command's output.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(log_filter(std::env::var("SEATSYNC_LOG").ok().as_deref()))
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("seatsync: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("seatsync: {}", error_text(&error));
            ExitCode::FAILURE
        }
    }
}

/// The error and its causes on one line, no backtrace, like `{:#}`, but
/// without a cause whose text the message already quotes (many messages
/// embed their cause, and "…: Is a directory (os error 21); check …: Is a
/// directory (os error 21)" reads as a stutter).
fn error_text(error: &anyhow::Error) -> String {
    let mut text = error.to_string();
    for cause in error.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}
