//! The database schema, as an ordered list of migrations.
//!
//! `PRAGMA user_version` holds the number of migrations applied. Each
//! migration runs in its own `BEGIN IMMEDIATE` transaction together with the
//! `user_version` bump, so a crash leaves the database at the old or the new
//! version, never in between. Migrations are append-only: a released one is
//! never edited, a change is a new entry.

/// `PRAGMA application_id` of a seatsync database ("SEAT" in ASCII), so that
/// another program's SQLite file is recognised and left alone.
pub(crate) const APPLICATION_ID: i32 = 0x5345_4154;

/// The migrations, in order; migration `i` takes the database from version
/// `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6, V7, V8, V9, V10, V11];

/// The first schema.
///
/// - Every table is `STRICT`, so a wrong type is an error, not a silent
///   conversion.
/// - Booleans are `INTEGER` 0/1 with a `CHECK`.
/// - Times are `TEXT` in RFC 3339 UTC with nine fractional digits
///   (`2027-06-15T06:00:00.000000000Z`), so text order is time order.
/// - Ids from ConnectWise are positive 32-bit integers.
const V1: &str = r#"
PRAGMA application_id = 1397047636;

-- Per-tenant state that is not a mapping.
CREATE TABLE tenants (
    name TEXT PRIMARY KEY NOT NULL,
    -- When usage was last replaced.
    usage_imported_at TEXT,
    -- When a daemon first started for this tenant (the catch-up reference
    -- for a tenant that never ran; see `schedule::missed_slot`).
    daemon_first_started_at TEXT
) STRICT;

CREATE TABLE connections (
    tenant TEXT PRIMARY KEY NOT NULL,
    site TEXT NOT NULL,
    company_id TEXT NOT NULL,
    public_key TEXT NOT NULL,
    -- Stored in clear so the daemon can run unattended; the file is 0600.
    private_key TEXT NOT NULL,
    client_id TEXT NOT NULL,
    codebase TEXT,
    allow_http INTEGER NOT NULL CHECK (allow_http IN (0, 1)),
    ca_file TEXT,
    updated_at TEXT NOT NULL
) STRICT;

-- Only the toggles that were set; a missing row means enabled.
CREATE TABLE data_types (
    tenant TEXT NOT NULL,
    data_type TEXT NOT NULL CHECK (data_type IN ('user-counts', 'packages')),
    enabled INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    PRIMARY KEY (tenant, data_type)
) STRICT;

CREATE TABLE packages (
    tenant TEXT NOT NULL,
    key TEXT NOT NULL CHECK (key <> ''),
    enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    product_id INTEGER CHECK (product_id BETWEEN 1 AND 4294967295),
    product_identifier TEXT,
    product_description TEXT,
    bill_method TEXT NOT NULL DEFAULT 'billable'
        CHECK (bill_method IN ('billable', 'do-not-bill', 'no-charge')),
    taxable INTEGER NOT NULL DEFAULT 1 CHECK (taxable IN (0, 1)),
    PRIMARY KEY (tenant, key)
) STRICT;

CREATE TABLE orgs (
    tenant TEXT NOT NULL,
    org_id TEXT NOT NULL CHECK (org_id <> ''),
    name TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    company_id INTEGER CHECK (company_id BETWEEN 1 AND 4294967295),
    agreement_id INTEGER CHECK (agreement_id BETWEEN 1 AND 4294967295),
    company_name TEXT,
    agreement_name TEXT,
    PRIMARY KEY (tenant, org_id),
    -- Mapped means both, never half.
    CHECK ((company_id IS NULL) = (agreement_id IS NULL))
) STRICT;

-- The current usage: replaced as a whole by each import.
CREATE TABLE usage (
    tenant TEXT NOT NULL,
    org_id TEXT NOT NULL,
    package_key TEXT NOT NULL,
    active_users INTEGER NOT NULL CHECK (active_users BETWEEN 0 AND 10000000),
    PRIMARY KEY (tenant, org_id, package_key),
    FOREIGN KEY (tenant, org_id) REFERENCES orgs (tenant, org_id) ON DELETE CASCADE,
    FOREIGN KEY (tenant, package_key) REFERENCES packages (tenant, key) ON DELETE CASCADE
) STRICT;

CREATE TABLE runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted')),
    dry_run INTEGER NOT NULL CHECK (dry_run IN (0, 1)),
    trigger TEXT NOT NULL CHECK (trigger IN ('manual', 'daemon')),
    -- The token of the lock held by the process running it: a `running` run
    -- whose token is not the current holder's belongs to a dead process.
    lock_token TEXT NOT NULL,
    orgs INTEGER NOT NULL DEFAULT 0,
    orgs_failed INTEGER NOT NULL DEFAULT 0,
    created INTEGER NOT NULL DEFAULT 0,
    updated INTEGER NOT NULL DEFAULT 0,
    unchanged INTEGER NOT NULL DEFAULT 0,
    conflicts INTEGER NOT NULL DEFAULT 0,
    skipped INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    requests INTEGER NOT NULL DEFAULT 0,
    writes INTEGER NOT NULL DEFAULT 0,
    -- Why the run as a whole failed or was interrupted.
    message TEXT
) STRICT;
CREATE INDEX runs_by_tenant ON runs (tenant, started_at);

-- One row per line of each org, or one 'org-failed' row (package_key NULL)
-- when the org's call failed as a whole.
CREATE TABLE run_lines (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    org_id TEXT NOT NULL,
    company_id INTEGER,
    agreement_id INTEGER,
    package_key TEXT,
    product_id INTEGER,
    quantity INTEGER,
    outcome TEXT NOT NULL CHECK (outcome IN
        ('created', 'updated', 'unchanged', 'conflict', 'skipped', 'failed', 'org-failed')),
    previous_quantity REAL,
    addition_id INTEGER,
    -- A JSON array of addition ids, for conflicts.
    conflict_ids TEXT,
    message TEXT,
    CHECK ((outcome = 'org-failed') = (package_key IS NULL))
) STRICT;
CREATE INDEX run_lines_by_run ON run_lines (run_id, id);

-- Named locks across processes (the daemon's sync lock).
CREATE TABLE locks (
    name TEXT PRIMARY KEY NOT NULL,
    pid INTEGER NOT NULL,
    hostname TEXT NOT NULL,
    token TEXT NOT NULL,
    acquired_at TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL
) STRICT;
"#;

/// - Lock holders record which process they are beyond the pid
///   (`store::lock`): the pid scope (boot id and pid namespace) and the
///   process's start time, `<boot id>/pid:[<namespace>]/<start>`. Rows of
///   earlier versions have `NULL` and are only taken over once stale.
/// - A run of only some organizations (`seatsync sync --org`) is marked
///   `partial`: it does not count as the day's run for the daemon's
///   catch-up. Earlier runs are taken as whole runs.
const V2: &str = r#"
ALTER TABLE locks ADD COLUMN process TEXT;
ALTER TABLE runs ADD COLUMN partial INTEGER NOT NULL DEFAULT 0 CHECK (partial IN (0, 1));
"#;

/// - A run whose only problem is lines a person must look at (conflicts)
///   is `attention`, not `failed`: `failed` means an organization or a line
///   failed. Finished runs that failed only by conflicts become `attention`.
/// - Organizations that failed for a transient reason are tried again: at
///   the end of the run (`runs.retried` counts them; their lines are
///   replaced by the last attempt's, `run_lines.attempt`), and by the
///   daemon later the same day, as runs triggered by `retry`.
/// - The write journal (`write_journal`, see `store::journal`): every write
///   the connector sends is recorded before it goes out, and its answer
///   with the organization's result. An organization with a write that got
///   no answer waits for it to settle: its lines are `waiting`
///   (`runs.waiting` counts them), not failed.
///
/// SQLite cannot change a `CHECK` in place, so `runs` and `run_lines` are
/// rebuilt (the documented create-copy-drop-rename; `migrate` turns foreign
/// keys off around it, or dropping `runs` would cascade to `run_lines`),
/// the `AUTOINCREMENT` sequence carried over so run ids are never reused.
const V3: &str = r#"
CREATE TABLE runs_v3 (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    status TEXT NOT NULL CHECK (status IN
        ('running', 'succeeded', 'attention', 'failed', 'interrupted')),
    dry_run INTEGER NOT NULL CHECK (dry_run IN (0, 1)),
    trigger TEXT NOT NULL CHECK (trigger IN ('manual', 'daemon', 'retry')),
    lock_token TEXT NOT NULL,
    orgs INTEGER NOT NULL DEFAULT 0,
    orgs_failed INTEGER NOT NULL DEFAULT 0,
    created INTEGER NOT NULL DEFAULT 0,
    updated INTEGER NOT NULL DEFAULT 0,
    unchanged INTEGER NOT NULL DEFAULT 0,
    conflicts INTEGER NOT NULL DEFAULT 0,
    skipped INTEGER NOT NULL DEFAULT 0,
    failed INTEGER NOT NULL DEFAULT 0,
    requests INTEGER NOT NULL DEFAULT 0,
    writes INTEGER NOT NULL DEFAULT 0,
    message TEXT,
    partial INTEGER NOT NULL DEFAULT 0 CHECK (partial IN (0, 1)),
    -- Organizations tried again at the end of the run.
    retried INTEGER NOT NULL DEFAULT 0,
    -- Lines waiting for an earlier unanswered write to settle.
    waiting INTEGER NOT NULL DEFAULT 0
) STRICT;
INSERT INTO runs_v3 (id, tenant, started_at, finished_at, status, dry_run, trigger, lock_token,
        orgs, orgs_failed, created, updated, unchanged, conflicts, skipped, failed, requests,
        writes, message, partial)
    SELECT id, tenant, started_at, finished_at,
        CASE WHEN status = 'failed' AND finished_at IS NOT NULL AND message IS NULL
                  AND orgs_failed = 0 AND failed = 0 AND conflicts > 0
             THEN 'attention' ELSE status END,
        dry_run, trigger, lock_token, orgs, orgs_failed, created, updated, unchanged,
        conflicts, skipped, failed, requests, writes, message, partial
    FROM runs;
DELETE FROM sqlite_sequence WHERE name = 'runs_v3';
INSERT INTO sqlite_sequence (name, seq) SELECT 'runs_v3', seq FROM sqlite_sequence WHERE name = 'runs';
DROP TABLE runs;
ALTER TABLE runs_v3 RENAME TO runs;
CREATE INDEX runs_by_tenant ON runs (tenant, started_at);

CREATE TABLE run_lines_v3 (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    org_id TEXT NOT NULL,
    company_id INTEGER,
    agreement_id INTEGER,
    package_key TEXT,
    product_id INTEGER,
    quantity INTEGER,
    outcome TEXT NOT NULL CHECK (outcome IN ('created', 'updated', 'unchanged', 'conflict',
        'skipped', 'failed', 'waiting', 'org-failed')),
    previous_quantity REAL,
    addition_id INTEGER,
    conflict_ids TEXT,
    message TEXT,
    -- 2 when the organization was tried again at the end of the run.
    attempt INTEGER NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    CHECK ((outcome = 'org-failed') = (package_key IS NULL))
) STRICT;
INSERT INTO run_lines_v3 (id, run_id, org_id, company_id, agreement_id, package_key, product_id,
        quantity, outcome, previous_quantity, addition_id, conflict_ids, message)
    SELECT id, run_id, org_id, company_id, agreement_id, package_key, product_id, quantity,
        outcome, previous_quantity, addition_id, conflict_ids, message
    FROM run_lines;
DROP TABLE run_lines;
ALTER TABLE run_lines_v3 RENAME TO run_lines;
CREATE INDEX run_lines_by_run ON run_lines (run_id, id);

-- Every write the connector sent, recorded before it went out. 'sent' has
-- no answer recorded (a process killed in flight leaves it so);
-- 'unanswered' failed without an answer (timeout, reset): the server may
-- still apply either until `settle_until`. 'settled' was then resolved by a
-- later run that read before writing again.
CREATE TABLE write_journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    site TEXT NOT NULL,
    run_id INTEGER REFERENCES runs (id) ON DELETE SET NULL,
    org_id TEXT NOT NULL,
    method TEXT NOT NULL CHECK (method IN ('POST', 'PATCH', 'PUT', 'DELETE')),
    url TEXT NOT NULL,
    body_sha256 TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    settle_until TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'sent'
        CHECK (state IN ('sent', 'answered', 'unanswered', 'settled')),
    status INTEGER,
    error TEXT,
    -- What the write created, when the connector reported it (an addition).
    created_id INTEGER,
    resolved_at TEXT,
    resolved_by_run INTEGER
) STRICT;
CREATE INDEX write_journal_unresolved ON write_journal (tenant, org_id)
    WHERE state IN ('sent', 'unanswered');
CREATE INDEX write_journal_by_run ON write_journal (run_id);
CREATE INDEX write_journal_created ON write_journal (tenant, created_id)
    WHERE created_id IS NOT NULL;
"#;

/// The store knows no particular PSA (contract 0.2):
///
/// - A connection is the settings its connector describes, plain ones in
///   `connection_settings` and secret ones apart in `connection_secrets`;
///   `connections` keeps what the host itself decides (plain http for
///   loopback testing, a CA file). A 0.1 connection's columns become the
///   settings of the same names (`site`, `company-id`, `public-key`,
///   `private-key` (secret), `client-id`, `codebase`).
/// - A mapped package carries the options its connector describes, as a
///   JSON object (`options`), instead of ConnectWise's bill method and
///   taxable columns (which become the options `bill-method` and
///   `taxable`).
/// - Ids are any non-zero 64-bit integer (Autotask's are 64-bit, HaloPSA has
///   negative ones), not ConnectWise's positive 32-bit ones.
const V4: &str = r#"
CREATE TABLE connection_settings (
    tenant TEXT NOT NULL,
    key TEXT NOT NULL CHECK (key <> ''),
    value TEXT NOT NULL,
    PRIMARY KEY (tenant, key)
) STRICT;
CREATE TABLE connection_secrets (
    tenant TEXT NOT NULL,
    key TEXT NOT NULL CHECK (key <> ''),
    value TEXT NOT NULL,
    PRIMARY KEY (tenant, key)
) STRICT;
INSERT INTO connection_settings (tenant, key, value)
    SELECT tenant, 'site', site FROM connections
    UNION ALL SELECT tenant, 'company-id', company_id FROM connections
    UNION ALL SELECT tenant, 'public-key', public_key FROM connections
    UNION ALL SELECT tenant, 'client-id', client_id FROM connections
    UNION ALL SELECT tenant, 'codebase', codebase FROM connections WHERE codebase IS NOT NULL;
INSERT INTO connection_secrets (tenant, key, value)
    SELECT tenant, 'private-key', private_key FROM connections;
CREATE TABLE connections_v4 (
    tenant TEXT PRIMARY KEY NOT NULL,
    allow_http INTEGER NOT NULL CHECK (allow_http IN (0, 1)),
    ca_file TEXT,
    updated_at TEXT NOT NULL
) STRICT;
INSERT INTO connections_v4 (tenant, allow_http, ca_file, updated_at)
    SELECT tenant, allow_http, ca_file, updated_at FROM connections;
DROP TABLE connections;
ALTER TABLE connections_v4 RENAME TO connections;

CREATE TABLE packages_v4 (
    tenant TEXT NOT NULL,
    key TEXT NOT NULL CHECK (key <> ''),
    enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    product_id INTEGER CHECK (product_id <> 0),
    product_identifier TEXT,
    product_description TEXT,
    -- The mapped product's options, as the connector describes them.
    options TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(options) AND json_type(options) = 'object'),
    PRIMARY KEY (tenant, key)
) STRICT;
INSERT INTO packages_v4 (tenant, key, enabled, product_id, product_identifier,
        product_description, options)
    SELECT tenant, key, enabled, product_id, product_identifier, product_description,
        CASE WHEN product_id IS NULL THEN '{}'
             ELSE json_object('bill-method', bill_method,
                              'taxable', CASE taxable WHEN 1 THEN 'true' ELSE 'false' END)
        END
    FROM packages;
DROP TABLE packages;
ALTER TABLE packages_v4 RENAME TO packages;

CREATE TABLE orgs_v4 (
    tenant TEXT NOT NULL,
    org_id TEXT NOT NULL CHECK (org_id <> ''),
    name TEXT NOT NULL,
    enabled INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    company_id INTEGER CHECK (company_id <> 0),
    agreement_id INTEGER CHECK (agreement_id <> 0),
    company_name TEXT,
    agreement_name TEXT,
    PRIMARY KEY (tenant, org_id),
    CHECK ((company_id IS NULL) = (agreement_id IS NULL))
) STRICT;
INSERT INTO orgs_v4 SELECT tenant, org_id, name, enabled, company_id, agreement_id,
        company_name, agreement_name
    FROM orgs;
DROP TABLE orgs;
ALTER TABLE orgs_v4 RENAME TO orgs;
"#;

/// What `seatsync resolve` did. A line a person confirmed to end (the newer
/// of two or more lines seatsync's own journal created for one product) is
/// recorded here before the connector is asked to end it (`requested`),
/// then finished with what came of it: `ended`; `refused` (the connector
/// found it no longer active or not the contract's: nothing written);
/// `failed`. The write itself is in `write_journal`, with no run.
const V5: &str = r#"
CREATE TABLE line_ends (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    org_id TEXT NOT NULL,
    contract_id INTEGER NOT NULL,
    product_id INTEGER,
    -- The line ended, and the older seatsync line of the duplicate kept.
    line_id INTEGER NOT NULL,
    kept_line_id INTEGER NOT NULL,
    end_day TEXT NOT NULL,
    -- How a person confirmed it: typed `yes`, or passed --yes.
    confirmed TEXT NOT NULL CHECK (confirmed IN ('typed', 'flag')),
    -- The run whose conflict showed the duplicate.
    conflict_run_id INTEGER REFERENCES runs (id) ON DELETE SET NULL,
    requested_at TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'requested'
        CHECK (state IN ('requested', 'ended', 'refused', 'failed')),
    message TEXT,
    finished_at TEXT
) STRICT;
CREATE INDEX line_ends_by_line ON line_ends (tenant, line_id);
"#;

/// Review before billing (`store::plans`):
///
/// - `approval_rules`: per tenant, what a sync applies by itself; a tenant
///   without a row applies everything, as before.
/// - `plans` and `plan_lines`: what a review saw (or a sync held), line by
///   line, with a person's decision on each and what applying did.
///   A usage import expires the tenant's pending plans (`superseded_at`);
///   otherwise pending or expired follows from `expires_at` and
///   `applied_at`.
/// - `plan_events`: who created, approved, rejected or applied what, when.
/// - Two more outcomes of a run's line, both chosen by the host rather than
///   the connector: `held` (the tenant's rules keep it for a person, in the
///   run's plan) and `changed` (applying a plan, the PSA no longer showed
///   what the review saw, so it was not written); `runs.held` and
///   `runs.changed` count them. `run_lines` is rebuilt for its `CHECK`, as
///   in V3.
const V6: &str = r#"
CREATE TABLE approval_rules (
    tenant TEXT PRIMARY KEY NOT NULL,
    auto_approve TEXT NOT NULL CHECK (auto_approve IN ('all', 'increases', 'none')),
    hold_decrease_over REAL CHECK (hold_decrease_over >= 0),
    hold_increase_over REAL CHECK (hold_increase_over >= 0),
    hold_new_lines INTEGER NOT NULL CHECK (hold_new_lines IN (0, 1)),
    plan_expiry_days INTEGER NOT NULL CHECK (plan_expiry_days >= 1),
    updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE plans (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('review', 'sync')),
    -- The run that saw the lines: the review's dry run, or the sync that
    -- held them.
    run_id INTEGER REFERENCES runs (id) ON DELETE SET NULL,
    expires_at TEXT NOT NULL,
    -- When newer usage was imported: the plan expired then.
    superseded_at TEXT,
    applied_at TEXT,
    applied_run_id INTEGER REFERENCES runs (id) ON DELETE SET NULL
) STRICT;
CREATE INDEX plans_by_tenant ON plans (tenant, id);
CREATE INDEX plans_by_run ON plans (run_id);

CREATE TABLE plan_lines (
    plan_id INTEGER NOT NULL REFERENCES plans (id) ON DELETE CASCADE,
    org_id TEXT NOT NULL,
    org_name TEXT NOT NULL,
    company_id INTEGER NOT NULL,
    agreement_id INTEGER NOT NULL,
    package_key TEXT NOT NULL,
    product_id INTEGER NOT NULL,
    current_quantity REAL,
    new_quantity INTEGER NOT NULL CHECK (new_quantity >= 0),
    action TEXT NOT NULL CHECK (action IN
        ('create', 'update', 'unchanged', 'conflict', 'skipped', 'failed')),
    line_id INTEGER,
    unit_price REAL,
    message TEXT,
    decision TEXT NOT NULL DEFAULT 'pending'
        CHECK (decision IN ('pending', 'approved', 'rejected')),
    result TEXT CHECK (result IN
        ('written', 'changed-since-review', 'unchanged', 'failed', 'not-approved')),
    result_message TEXT,
    PRIMARY KEY (plan_id, org_id, package_key)
) STRICT;

CREATE TABLE plan_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    plan_id INTEGER NOT NULL REFERENCES plans (id) ON DELETE CASCADE,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('created', 'approved', 'rejected', 'applied')),
    detail TEXT NOT NULL
) STRICT;
CREATE INDEX plan_events_by_plan ON plan_events (plan_id);

ALTER TABLE runs ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN changed INTEGER NOT NULL DEFAULT 0;

CREATE TABLE run_lines_v6 (
    id INTEGER PRIMARY KEY,
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    org_id TEXT NOT NULL,
    company_id INTEGER,
    agreement_id INTEGER,
    package_key TEXT,
    product_id INTEGER,
    quantity INTEGER,
    outcome TEXT NOT NULL CHECK (outcome IN ('created', 'updated', 'unchanged', 'conflict',
        'skipped', 'failed', 'waiting', 'held', 'changed', 'org-failed')),
    previous_quantity REAL,
    addition_id INTEGER,
    conflict_ids TEXT,
    message TEXT,
    attempt INTEGER NOT NULL DEFAULT 1 CHECK (attempt >= 1),
    CHECK ((outcome = 'org-failed') = (package_key IS NULL))
) STRICT;
INSERT INTO run_lines_v6 SELECT * FROM run_lines;
DROP TABLE run_lines;
ALTER TABLE run_lines_v6 RENAME TO run_lines;
CREATE INDEX run_lines_by_run ON run_lines (run_id, id);
"#;

/// Notifications (`store::notify`): where to send them (`notifiers`: a
/// webhook URL or an email address, with the events it wants), the
/// tenant's SMTP server (`smtp_settings`, the password a secret never
/// shown), and each notification sent or attempted (`notifications`), for
/// `history`.
const V7: &str = r#"
CREATE TABLE notifiers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('webhook', 'email')),
    target TEXT NOT NULL CHECK (target <> ''),
    format TEXT NOT NULL CHECK (format IN ('json', 'slack', 'teams', 'email')),
    -- Event names, comma-separated.
    events TEXT NOT NULL CHECK (events <> ''),
    created_at TEXT NOT NULL
) STRICT;
CREATE INDEX notifiers_by_tenant ON notifiers (tenant, id);

CREATE TABLE smtp_settings (
    tenant TEXT PRIMARY KEY NOT NULL,
    host TEXT NOT NULL CHECK (host <> ''),
    port INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
    username TEXT,
    password TEXT,
    security TEXT NOT NULL CHECK (security IN ('starttls', 'tls', 'plain')),
    from_address TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    notifier_id INTEGER REFERENCES notifiers (id) ON DELETE SET NULL,
    -- Where it went, as shown (a webhook's path left out: it may hold a token).
    target TEXT NOT NULL,
    events TEXT NOT NULL,
    run_id INTEGER REFERENCES runs (id) ON DELETE SET NULL,
    created_at TEXT NOT NULL,
    finished_at TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('sent', 'failed')),
    attempts INTEGER NOT NULL CHECK (attempts >= 1),
    error TEXT
) STRICT;
CREATE INDEX notifications_by_tenant ON notifications (tenant, id);
"#;

/// When a created line starts billing, per tenant (`policy set
/// --effective-date`): the day of the sync, as before, or the first of the
/// next month.
const V8: &str = r#"
ALTER TABLE approval_rules ADD COLUMN effective_date TEXT NOT NULL DEFAULT 'today'
    CHECK (effective_date IN ('today', 'next-month'));
"#;

/// An organization's e-mail or web domain, from the usage file's optional
/// `domain` column (`map suggest` compares it with the companies' websites).
const V9: &str = r#"
ALTER TABLE orgs ADD COLUMN domain TEXT;
"#;

/// The web console (`seatsync serve`): its accounts, their sessions and the
/// one-time setup token. Tokens and sessions are stored as SHA-256 hashes,
/// so a copy of the database does not log anyone in.
const V10: &str = r#"
CREATE TABLE console_accounts (
    id INTEGER PRIMARY KEY,
    username TEXT NOT NULL UNIQUE COLLATE NOCASE,
    -- An argon2id PHC string.
    password_hash TEXT NOT NULL,
    -- 'owner' (the partner: every tenant) or 'customer' (one tenant).
    role TEXT NOT NULL CHECK (role IN ('owner', 'customer')),
    tenant TEXT,
    created_at TEXT NOT NULL,
    CHECK ((role = 'owner') = (tenant IS NULL))
);
CREATE TABLE console_sessions (
    token_hash TEXT PRIMARY KEY NOT NULL,
    account_id INTEGER NOT NULL REFERENCES console_accounts (id) ON DELETE CASCADE,
    -- The session's CSRF token, sent back with every form.
    csrf TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE TABLE console_setup (
    token_hash TEXT PRIMARY KEY NOT NULL,
    created_at TEXT NOT NULL
);
-- The partner setting: whether the tenant's customer accounts may change
-- its integration (otherwise they only look).
ALTER TABLE tenants ADD COLUMN customer_manages INTEGER NOT NULL DEFAULT 0;
"#;

/// Many workers (`seatsync run --all`, `store::workers`):
/// - each tenant's own time of day for its daily sync (`HH:MM`, UTC;
///   `NULL`: the default 06:00);
/// - the workers sharing the tenants' syncs, each heart-beating its row;
/// - which worker a lock's holder runs as (`NULL`: not a worker).
const V11: &str = r#"
ALTER TABLE tenants ADD COLUMN sync_at TEXT;
ALTER TABLE locks ADD COLUMN worker TEXT;
CREATE TABLE workers (
    id TEXT PRIMARY KEY NOT NULL,
    pid INTEGER NOT NULL,
    hostname TEXT NOT NULL,
    -- As `locks.process`: where the pid means this process.
    process TEXT,
    -- How many tenants it syncs at once.
    jobs INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    heartbeat_at TEXT NOT NULL
) STRICT;
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn application_id_in_sql_matches_constant() {
        assert!(V1.contains(&format!("PRAGMA application_id = {APPLICATION_ID};")));
        assert_eq!(&APPLICATION_ID.to_be_bytes(), b"SEAT");
    }
}
