//! The command line, as clap parses it. Only shapes live here; what each
//! command does is in the sibling modules.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Keeps ConnectWise agreement additions equal to your customers' active users.
#[derive(Debug, Parser)]
#[command(name = "seatsync", version, about, long_about = None)]
pub struct Cli {
    /// The SQLite database holding connections, mappings, usage and history.
    #[arg(
        long,
        global = true,
        env = "SEATSYNC_DB",
        default_value = "seatsync.db"
    )]
    pub db: PathBuf,
    /// The integration to work on; one database can hold several.
    #[arg(
        long,
        global = true,
        env = "SEATSYNC_TENANT",
        default_value = "default"
    )]
    pub tenant: String,
    /// A connector component to use instead of the built-in one.
    #[arg(long, global = true, value_name = "PATH")]
    pub plugin: Option<PathBuf>,
    /// The key file that seals the secrets in the database (default: the
    /// database's path with `.key` added, created on first use). Or give
    /// the key itself in SEATSYNC_SECRET_KEY.
    #[arg(
        long,
        global = true,
        env = "SEATSYNC_SECRET_KEY_FILE",
        value_name = "PATH"
    )]
    pub secret_key_file: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Store the connection to the PSA (the built-in connector's is
    /// ConnectWise Manage), after testing it.
    Connect(ConnectArgs),
    /// Test the stored connection.
    TestConnection,
    /// List the PSA's catalog products.
    Products(JsonFlag),
    /// List the PSA's companies.
    Companies(JsonFlag),
    /// List the PSA's contracts (ConnectWise: agreements).
    #[command(visible_alias = "contracts")]
    Agreements {
        /// Only the agreements of this company id.
        #[arg(long, allow_negative_numbers = true)]
        company: Option<i64>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Vendor usage: active users per organization and package.
    Usage {
        #[command(subcommand)]
        command: UsageCommand,
    },
    /// List vendor packages with their mappings.
    Packages(PackagesArgs),
    /// List vendor organizations with their mappings and counts.
    Orgs(OrgsArgs),
    /// Map a package to a product, or an organization to a company and agreement.
    Map {
        #[command(subcommand)]
        target: MapTarget,
    },
    /// Export or import every package and organization mapping at once (a file to edit in a spreadsheet).
    Mappings {
        #[command(subcommand)]
        command: MappingsCommand,
    },
    /// Switch syncing on for a package, organization or data type.
    Enable {
        #[command(subcommand)]
        target: ToggleTarget,
    },
    /// Switch syncing off for a package, organization or data type.
    Disable {
        #[command(subcommand)]
        target: ToggleTarget,
    },
    /// Sync every enabled, mapped organization now.
    #[command(
        after_help = "Exit status: 0 when everything was done; 2 (attention) when nothing \
        failed but some lines need a person, such as two active additions for one product \
        (`seatsync history --run ID` lists them; `seatsync resolve` those seatsync itself \
        created); 1 when an organization or a line failed, or the sync could not run."
    )]
    Sync(SyncArgs),
    /// Dry-run every enabled, mapped organization and save what a sync would
    /// do as a plan to approve, line by line, before it reaches an invoice.
    #[command(
        after_help = "Then: `seatsync approve PLAN --all` (or ORG[:PACKAGE]...), \
        `seatsync apply PLAN`. A plan expires when newer usage is imported or after 7 days \
        (`seatsync policy set --plan-expiry-days`)."
    )]
    Review {
        /// Only these organizations (repeatable).
        #[arg(long = "org", value_name = "ORG")]
        orgs: Vec<String>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// List plans: pending, applied and expired.
    Plans(JsonFlag),
    /// Show one plan, line by line, with the decisions on it.
    Plan {
        /// The plan's id.
        plan: i64,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Approve lines of a pending plan.
    Approve(DecideArgs),
    /// Reject lines of a pending plan: they are never written.
    Reject(DecideArgs),
    /// Write a plan's approved lines, each only if the PSA still shows what the review saw.
    #[command(
        after_help = "A line whose quantity changed, or that was created, cancelled or deleted \
        since the review is not written and is reported `changed since review`; the next review \
        picks it up. A plan is applied once. Exit status: 0 when every approved line was \
        written (or already right); 2 when some changed since review; 1 when one failed."
    )]
    Apply {
        /// The plan's id.
        plan: i64,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Show or set the approval rules: what a sync writes by itself, and what it holds for a person.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// Tell people when a run failed, conflicted or held lines, when usage brought unmapped names, or when the connection fails.
    #[command(
        after_help = "Events: run-problems, unmapped, connection-failed, change-held (all by \
        default). Examples:\n  seatsync notify add webhook https://hooks.slack.com/services/... --format slack\n  \
        seatsync notify smtp --host smtp.example.com --port 587 --starttls --user billing \
        --password-stdin --from seatsync@example.com\n  seatsync notify add email billing@example.com \
        --events run-problems,change-held\n  seatsync notify test"
    )]
    Notify {
        #[command(subcommand)]
        command: NotifyCommand,
    },
    /// Show past syncs.
    History {
        /// Show the lines of one run.
        #[arg(long)]
        run: Option<i64>,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// List the duplicates seatsync itself created, or end the newer line of one.
    #[command(
        long_about = "List the duplicates seatsync itself created: conflicts (two or more active \
        lines for one product, which a sync never touches) where at least two of the lines were \
        created by seatsync's own journaled writes, as the latest syncs found them. seatsync keeps \
        the oldest and names the newer ones to end.\n\n\
        With --end LINE_ID, end one of those newer lines (ConnectWise: set the agreement \
        addition's cancelled date to today, so it stops billing) after you confirm by typing yes, \
        or with --yes in a script. It refuses, writing nothing, a line that is not part of such a \
        duplicate, the older line of one (the one to keep), and a line that is no longer active. \
        seatsync never ends a line by itself: only this command does, when a person asks.",
        after_help = "Examples:\n  seatsync resolve\n  seatsync resolve --end 502\n  \
        seatsync resolve --end 502 --yes"
    )]
    Resolve(ResolveArgs),
    /// Run as a daemon: sync the tenant daily at its time (`schedule
    /// set`, 06:00 UTC by default, or --at); with --all, run as one of any
    /// number of workers sharing every connected tenant's daily sync.
    #[command(
        after_help = "With --all, start as many workers as you like, on one machine or many, \
        against the same database (PostgreSQL for several machines): each tenant is synced once \
        a day at its own time by one of them, one worker at a time per PSA site, and a worker \
        that dies is taken over. `seatsync workers` shows them.\n\nExamples:\n  seatsync run\n  \
        seatsync run --at 05:30\n  seatsync run --all --jobs 4"
    )]
    Run(RunArgs),
    /// When each tenant's daily sync runs.
    #[command(
        after_help = "Examples:\n  seatsync schedule show\n  seatsync --tenant acme schedule set --at 04:30\n  \
        seatsync --tenant acme schedule set --default"
    )]
    Schedule {
        #[command(subcommand)]
        command: ScheduleCommand,
    },
    /// The workers (`run --all`) sharing this database: live or gone, the
    /// locks they hold, the runs they have in progress.
    Workers(JsonFlag),
    /// Run the whole flow against a built-in simulated ConnectWise.
    Demo,
    /// The key sealing the secrets stored in the database (private keys,
    /// the SMTP password, webhook URLs).
    #[command(
        after_help = "Examples:\n  seatsync secrets status\n  seatsync secrets rotate\n  \
        seatsync secrets new-key /etc/seatsync/new.key\n  \
        seatsync secrets rotate --new-key-file /etc/seatsync/new.key"
    )]
    Secrets {
        #[command(subcommand)]
        command: SecretsCommand,
    },
    /// Serve the web console and run the daily sync of every connected
    /// tenant, until Ctrl-C or SIGTERM.
    Serve(ServeArgs),
}

/// `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Time of day to sync, HH:MM in UTC (default: the tenant's time, set
    /// with `schedule set`, else 06:00). Not with --all: each tenant keeps
    /// its own.
    #[arg(long, conflicts_with = "all")]
    pub at: Option<String>,
    /// Run as a worker for every connected tenant, sharing the work with
    /// the other workers on this database.
    #[arg(long)]
    pub all: bool,
    /// With --all: how many tenants this worker syncs at once.
    #[arg(long, default_value_t = 2, requires = "all", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub jobs: u16,
}

/// `schedule …`.
#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Every tenant's time of day, and when its next sync is due.
    Show(JsonFlag),
    /// Set the tenant's (--tenant) time of day for its daily sync.
    Set {
        /// HH:MM, UTC.
        #[arg(long, required_unless_present = "default", conflicts_with = "default")]
        at: Option<String>,
        /// Back to the default time (06:00 UTC).
        #[arg(long)]
        default: bool,
    },
}

/// `secrets …`.
#[derive(Debug, Subcommand)]
pub enum SecretsCommand {
    /// Where the key comes from, its id, and how many secrets it sealed.
    Status(JsonFlag),
    /// Write a new key file (mode 0600), for --secret-key-file or
    /// `rotate --new-key-file`. An existing file is never replaced.
    NewKey {
        /// Where to write it.
        file: PathBuf,
    },
    /// Seal every secret again under a new key. Without --new-key-file,
    /// the key file is rotated in place (a new key is generated; the old
    /// one stops opening anything).
    Rotate {
        /// Seal under this key file's key instead (made by `secrets
        /// new-key`); then give seatsync this file with --secret-key-file.
        #[arg(long, value_name = "PATH")]
        new_key_file: Option<PathBuf>,
        #[command(flatten)]
        json: JsonFlag,
    },
}

/// `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address to listen on (port 0: any free port).
    #[arg(long, default_value = "127.0.0.1:8470")]
    pub listen: std::net::SocketAddr,
    /// Time of day every tenant syncs, HH:MM in UTC.
    #[arg(long, default_value = "06:00")]
    pub at: String,
    /// Served behind a reverse proxy that terminates TLS: cookies are
    /// marked `Secure`, and listening beyond loopback does not warn.
    #[arg(long)]
    pub behind_proxy: bool,
    /// Serve HTTPS with this PEM certificate chain (with --tls-key).
    #[arg(long, value_name = "PEM", requires = "tls_key")]
    pub tls_cert: Option<std::path::PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, value_name = "PEM", requires = "tls_cert")]
    pub tls_key: Option<std::path::PathBuf>,
    /// Let the connection form use plain HTTP (a PSA or simulator on this
    /// machine, for testing).
    #[arg(long)]
    pub allow_http: bool,
    /// Serve over a built-in simulated ConnectWise with a temporary
    /// database, to click through the whole wizard; nothing is left behind.
    #[arg(long)]
    pub demo: bool,
}

/// `packages`.
#[derive(Debug, Args, Clone, Copy)]
pub struct PackagesArgs {
    /// Only packages not mapped to a product.
    #[arg(long)]
    pub unmapped: bool,
    #[command(flatten)]
    pub json: JsonFlag,
}

/// `orgs`.
#[derive(Debug, Args, Clone, Copy)]
pub struct OrgsArgs {
    /// Only organizations not mapped to a company and agreement.
    #[arg(long, conflicts_with = "missing")]
    pub unmapped: bool,
    /// Only mapped organizations the current usage does not mention (not synced).
    #[arg(long)]
    pub missing: bool,
    #[command(flatten)]
    pub json: JsonFlag,
}

/// `--json`.
#[derive(Debug, Args, Clone, Copy)]
pub struct JsonFlag {
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `connect`: the connector's settings, by their own flags (the
/// ConnectWise connector's) or as `--setting KEY=VALUE` for any connector.
/// Secret settings are read from standard input or an environment
/// variable, never from the command line.
#[derive(Debug, Args, Default)]
pub struct ConnectArgs {
    /// Your ConnectWise host, e.g. na.myconnectwise.net (cloud hosts get the api- prefix): the setting `site`.
    #[arg(long)]
    pub site: Option<String>,
    /// The company id typed on the ConnectWise login screen: the setting `company-id`.
    #[arg(long)]
    pub company_id: Option<String>,
    /// The API member's public key: the setting `public-key`.
    #[arg(long)]
    pub public_key: Option<String>,
    /// Your integration's clientId from the ConnectWise developer network: the setting `client-id`.
    #[arg(long)]
    pub client_id: Option<String>,
    /// Read the private key (the secret setting `private-key`) from standard input.
    #[arg(long, conflicts_with_all = ["private_key_env", "secret_stdin"])]
    pub private_key_stdin: bool,
    /// Read the private key (the secret setting `private-key`) from this environment variable.
    #[arg(long, value_name = "VAR")]
    pub private_key_env: Option<String>,
    /// The API codebase (e.g. v2025_1), or `auto` to look it up; default v4_6_release: the setting `codebase`.
    #[arg(long)]
    pub codebase: Option<String>,
    /// Any setting the connector describes, KEY=VALUE (not for secrets).
    #[arg(long = "setting", value_name = "KEY=VALUE")]
    pub settings: Vec<String>,
    /// Read the secret setting KEY from standard input.
    #[arg(long, value_name = "KEY")]
    pub secret_stdin: Option<String>,
    /// Read the secret setting KEY from the environment variable VAR.
    #[arg(long = "secret-env", value_name = "KEY=VAR")]
    pub secret_env: Vec<String>,
    /// Allow plain http (for a loopback test server only).
    #[arg(long)]
    pub allow_http: bool,
    /// A PEM file with the CA that signed an on-premise server's certificate.
    #[arg(long, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
}

/// `usage …`.
#[derive(Debug, Subcommand)]
pub enum UsageCommand {
    /// Replace all usage with a CSV (org_id,org_name,package,active_users) or JSON file.
    Import {
        /// The file to import.
        file: PathBuf,
    },
}

/// `map …`.
#[derive(Debug, Subcommand)]
pub enum MapTarget {
    /// Map a vendor package to a catalog product.
    Package {
        /// The package key, as in the usage file.
        key: String,
        /// The product (catalog item) id.
        #[arg(long, allow_negative_numbers = true)]
        product: i64,
        /// How to bill the customer: the product option `bill-method` (ConnectWise: billable, do-not-bill, no-charge).
        #[arg(long)]
        bill: Option<String>,
        /// Mark created lines tax-exempt: the product option `taxable=false`.
        #[arg(long)]
        tax_exempt: bool,
        /// Any product option the connector describes, KEY=VALUE (repeatable).
        #[arg(long = "option", value_name = "KEY=VALUE")]
        options: Vec<String>,
    },
    /// Suggest a company and agreement for each unmapped organization, by name, identifier and domain.
    #[command(
        after_help = "A suggestion is confident only when it is clearly ahead of the runner-up; \
        --apply maps the confident ones at or above --min-score, with the same checks as `map org`. \
        Examples:\n  seatsync map suggest\n  seatsync map suggest --agreement-type \"Managed Services\" --apply"
    )]
    Suggest {
        /// Only these organizations (repeatable).
        #[arg(long = "org", value_name = "ORG")]
        orgs: Vec<String>,
        /// Map the confident suggestions at or above --min-score.
        #[arg(long)]
        apply: bool,
        /// The lowest score --apply maps (0 to 1).
        #[arg(long, default_value_t = 0.9, value_name = "X")]
        min_score: f64,
        /// Among a company's active agreements, prefer the one of this type.
        #[arg(long, value_name = "TYPE")]
        agreement_type: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Map a vendor organization to a company and one of its agreements (contracts).
    Org {
        /// The organization id, as in the usage file.
        org: String,
        /// The company id.
        #[arg(long, allow_negative_numbers = true)]
        company: i64,
        /// The agreement (contract) id.
        #[arg(long, allow_negative_numbers = true)]
        agreement: i64,
    },
}

/// `mappings …`.
#[derive(Debug, Subcommand)]
pub enum MappingsCommand {
    /// Write every package and organization with its switch and mapping to standard output.
    #[command(
        after_help = "CSV columns: kind,id,name,enabled,product_id,options,company_id,agreement_id. \
        A package row has a product and its options (key=value;key=value); an org row a company and \
        agreement. Empty ids unmap. Example: seatsync mappings export > mappings.csv"
    )]
    Export {
        /// The file format.
        #[arg(long, value_enum, default_value = "csv")]
        format: MappingsFormat,
    },
    /// Apply a mappings file, all or nothing, each row checked against the PSA like `map`.
    Import {
        /// The file (CSV, or JSON as `export --format json` writes it).
        file: PathBuf,
        /// Check the file and say what it would change, changing nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// `mappings export --format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MappingsFormat {
    /// Comma-separated values, one row per package or organization.
    Csv,
    /// A JSON object with `packages` and `organizations`.
    Json,
}

/// `enable …` / `disable …`.
#[derive(Debug, Subcommand)]
pub enum ToggleTarget {
    /// A vendor package.
    Package {
        /// The package key.
        key: String,
    },
    /// A vendor organization.
    Org {
        /// The organization id.
        org: String,
    },
    /// A data type: user-counts or packages.
    Data {
        /// The data type.
        #[arg(value_enum)]
        data_type: DataTypeArg,
    },
}

/// A data type to sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DataTypeArg {
    /// Update the quantity of existing additions.
    UserCounts,
    /// Create an addition when the agreement has none for a mapped package.
    Packages,
}

/// `resolve`.
#[derive(Debug, Args)]
pub struct ResolveArgs {
    /// End this line (ConnectWise: the agreement addition's id): the newer line of a duplicate seatsync created, as `seatsync resolve` lists them. Asks you to type yes first.
    #[arg(long, value_name = "LINE_ID", allow_negative_numbers = true)]
    pub end: Option<i64>,
    /// Confirm --end without asking (for scripts).
    #[arg(long, requires = "end")]
    pub yes: bool,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// `approve` / `reject`.
#[derive(Debug, Args)]
pub struct DecideArgs {
    /// The plan's id.
    pub plan: i64,
    /// Every line of the plan that would change something.
    #[arg(long, conflicts_with = "lines")]
    pub all: bool,
    /// Lines: an organization (all its changing lines) or ORG:PACKAGE.
    #[arg(value_name = "ORG[:PACKAGE]")]
    pub lines: Vec<String>,
}

/// `policy …`.
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Show the approval rules.
    Show(JsonFlag),
    /// Change the approval rules (only the options given change).
    #[command(
        long_about = "Change the approval rules: only the options given change.\n\n\
        A sync (manual or daily) writes what the rules allow and holds the rest in a pending \
        plan for a person (`seatsync plan`, `approve`, `apply`); its status is then `attention`. \
        Holds come first: a decrease over --hold-decrease-over percent, an increase over \
        --hold-increase-over percent, and with --hold-new-lines every line to create. Then \
        --auto-approve decides the rest: `all` writes it, `increases` writes increases and new \
        lines and holds decreases, `none` holds everything. The default, `all` with no holds, \
        is a sync that writes everything.",
        after_help = "Example: hold any drop of more than 20% and let increases through:\n  \
        seatsync policy set --auto-approve all --hold-decrease-over 20"
    )]
    Set(PolicySetArgs),
}

/// `policy set`.
#[derive(Debug, Args)]
pub struct PolicySetArgs {
    /// Which changes a sync writes by itself.
    #[arg(long, value_enum)]
    pub auto_approve: Option<AutoApproveArg>,
    /// Hold decreases larger than this percentage (or `off`).
    #[arg(long, value_name = "PCT|off", value_parser = parse_threshold)]
    pub hold_decrease_over: Option<Threshold>,
    /// Hold increases larger than this percentage (or `off`).
    #[arg(long, value_name = "PCT|off", value_parser = parse_threshold)]
    pub hold_increase_over: Option<Threshold>,
    /// Hold every line a sync would create (`--hold-new-lines=off` to stop).
    #[arg(long, value_name = "on|off", num_args = 0..=1, default_missing_value = "on", value_parser = parse_on_off)]
    pub hold_new_lines: Option<bool>,
    /// Days a plan stays applicable (default 7).
    #[arg(long, value_name = "DAYS")]
    pub plan_expiry_days: Option<u32>,
    /// When lines a sync creates start billing: the day of the sync, or the first of next month.
    #[arg(long, value_enum)]
    pub effective_date: Option<EffectiveDateArg>,
}

/// `--effective-date`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EffectiveDateArg {
    /// The day of the sync.
    Today,
    /// The first day of the next month (billing in advance).
    NextMonth,
}

/// `--auto-approve`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AutoApproveArg {
    /// Every change, unless a hold catches it.
    All,
    /// Increases and new lines; decreases wait for a person.
    Increases,
    /// Nothing: every change waits for a person.
    None,
}

/// A percentage limit, or none.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold(pub Option<f64>);

fn parse_threshold(text: &str) -> Result<Threshold, String> {
    if text.eq_ignore_ascii_case("off") {
        return Ok(Threshold(None));
    }
    let pct: f64 =
        text.trim().trim_end_matches('%').parse().map_err(|_| {
            format!("'{text}' is not a percentage: give a number such as 20, or off")
        })?;
    if !(pct.is_finite() && pct >= 0.0) {
        return Err(format!("'{text}' is not a percentage of 0 or more"));
    }
    Ok(Threshold(Some(pct)))
}

fn parse_on_off(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "on" | "true" | "yes" => Ok(true),
        "off" | "false" | "no" => Ok(false),
        _ => Err(format!("'{text}' is not on or off")),
    }
}

/// `notify …`.
#[derive(Debug, Subcommand)]
pub enum NotifyCommand {
    /// Add a webhook or an email address to notify.
    Add {
        #[command(subcommand)]
        target: NotifyTarget,
    },
    /// Set the SMTP server email notifications are sent through.
    Smtp(SmtpArgs),
    /// List the notifiers (webhook paths, which may hold tokens, are not shown).
    List(JsonFlag),
    /// Remove a notifier.
    Remove {
        /// The notifier's id, as `notify list` shows it.
        id: i64,
    },
    /// Send a test notification to every notifier (or one).
    Test {
        /// Only this notifier.
        id: Option<i64>,
    },
}

/// `notify add …`.
#[derive(Debug, Subcommand)]
pub enum NotifyTarget {
    /// An HTTP POST to a URL (https; http only to a loopback address).
    Webhook {
        /// The URL.
        url: String,
        /// The body's shape.
        #[arg(long, value_enum, default_value = "json")]
        format: WebhookFormatArg,
        /// Only these events (comma-separated; all by default).
        #[arg(long, value_delimiter = ',')]
        events: Vec<String>,
    },
    /// An email, through the SMTP server `notify smtp` sets.
    Email {
        /// The address.
        address: String,
        /// Only these events (comma-separated; all by default).
        #[arg(long, value_delimiter = ',')]
        events: Vec<String>,
    },
}

/// `--format` of a webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum WebhookFormatArg {
    /// seatsync's JSON object.
    Json,
    /// A Slack incoming webhook message.
    Slack,
    /// A Microsoft Teams incoming webhook message card.
    Teams,
}

/// `notify smtp`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("security").required(true).args(["starttls", "tls", "plain"]))]
pub struct SmtpArgs {
    /// The SMTP server's host name.
    #[arg(long)]
    pub host: String,
    /// Its port (587 for STARTTLS, 465 for TLS, usually).
    #[arg(long)]
    pub port: u16,
    /// The user to log in as.
    #[arg(long)]
    pub user: Option<String>,
    /// Read the password from standard input.
    #[arg(long, requires = "user", conflicts_with = "password_env")]
    pub password_stdin: bool,
    /// Read the password from this environment variable.
    #[arg(long, value_name = "VAR", requires = "user")]
    pub password_env: Option<String>,
    /// Upgrade the connection with STARTTLS.
    #[arg(long)]
    pub starttls: bool,
    /// TLS from the first byte.
    #[arg(long)]
    pub tls: bool,
    /// No TLS: only to a loopback relay.
    #[arg(long)]
    pub plain: bool,
    /// The sender address.
    #[arg(long)]
    pub from: String,
}

/// `sync`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Read and decide, but write nothing to ConnectWise.
    #[arg(long)]
    pub dry_run: bool,
    /// Only these organizations (repeatable).
    #[arg(long = "org", value_name = "ORG")]
    pub orgs: Vec<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn the_documented_surface_parses() {
        for line in [
            "seatsync connect --site na.myconnectwise.net --company-id acme --public-key P --client-id C --private-key-stdin",
            "seatsync --db x.db --tenant t connect --site s --company-id a --public-key p --client-id c --private-key-env KEY --allow-http --ca-file ca.pem",
            "seatsync test-connection",
            "seatsync products --json",
            "seatsync agreements --company 254 --json",
            "seatsync usage import usage.csv",
            "seatsync map package business --product 19 --bill do-not-bill --tax-exempt",
            "seatsync map org pe-1 --company 254 --agreement 102",
            "seatsync disable data user-counts",
            "seatsync enable package business",
            "seatsync sync --dry-run --org a --org b --json",
            "seatsync history --run 3 --json",
            "seatsync resolve",
            "seatsync resolve --json",
            "seatsync resolve --end 502",
            "seatsync resolve --end -4 --yes --json",
            "seatsync run --at 22:30",
            "seatsync review --org a --json",
            "seatsync plans --json",
            "seatsync plan 3",
            "seatsync approve 3 --all",
            "seatsync approve 3 org-1 org-2:Business",
            "seatsync reject 3 org-2:Advanced",
            "seatsync apply 3 --json",
            "seatsync policy show",
            "seatsync policy set --auto-approve increases --hold-decrease-over 20",
            "seatsync policy set --hold-new-lines --hold-increase-over off --plan-expiry-days 3",
            "seatsync policy set --hold-new-lines=off",
            "seatsync policy set --effective-date next-month",
            "seatsync map suggest --json",
            "seatsync map suggest --org a --apply --min-score 0.95 --agreement-type Managed",
            "seatsync mappings export",
            "seatsync orgs --unmapped --json",
            "seatsync orgs --missing",
            "seatsync packages --unmapped",
            "seatsync mappings export --format json",
            "seatsync mappings import mappings.csv --dry-run",
            "seatsync notify add webhook https://hooks.example.com/x --format slack --events run-problems,change-held",
            "seatsync notify add email billing@example.com",
            "seatsync notify smtp --host smtp.example.com --port 587 --starttls --user u --password-stdin --from a@example.com",
            "seatsync notify list --json",
            "seatsync notify remove 2",
            "seatsync notify test",
            "seatsync notify test 1",
            "seatsync demo",
        ] {
            let args = line.split(' ');
            if let Err(e) = Cli::try_parse_from(args) {
                panic!("{line}: {e}");
            }
        }
    }

    #[test]
    fn secret_sources_are_exclusive_and_generic_settings_parse() {
        // Which settings are required is the connector's to say, checked
        // when `connect` runs; two sources for one secret never parse.
        let base = "seatsync connect --site s --company-id a --public-key p --client-id c";
        let both = format!("{base} --private-key-stdin --private-key-env K");
        assert!(Cli::try_parse_from(both.split(' ')).is_err());
        let stdin_twice = format!("{base} --private-key-stdin --secret-stdin token");
        assert!(Cli::try_parse_from(stdin_twice.split(' ')).is_err());
        assert!(
            Cli::try_parse_from("seatsync resolve --yes".split(' ')).is_err(),
            "--yes confirms an --end"
        );
        let generic =
            "seatsync connect --setting host=x.example --setting zone=eu --secret-env token=TOKEN";
        let Command::Connect(args) = Cli::try_parse_from(generic.split(' ')).unwrap().command
        else {
            panic!("connect")
        };
        assert_eq!(args.settings, ["host=x.example", "zone=eu"]);
        assert_eq!(args.secret_env, ["token=TOKEN"]);
    }
}
