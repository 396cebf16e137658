//! The PostgreSQL engine of [`Conn`](super::Conn).
//!
//! The store is synchronous (SQLite's calls block, and its callers are
//! written for that), but a PostgreSQL client cannot block inside the
//! async runtime the host runs on. So each connection lives on a thread
//! of its own, running the synchronous `postgres` client outside any
//! runtime; the store sends it one statement at a time and waits for the
//! answer, as it waits for SQLite.
//!
//! The store's SQL is written with SQLite's numbered parameters (`?1`);
//! they become PostgreSQL's (`$1`) here, once per statement text, and the
//! prepared statement is cached by that text. Values convert by the type
//! the server inferred for each parameter, so an integer can fill a
//! `BIGINT`, `INTEGER` or `BOOLEAN` parameter alike.

use std::collections::HashMap;
use std::error::Error as _;
use std::sync::mpsc;
use std::thread::JoinHandle;

use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, NoTls};

use super::{Begin, DbError, Row, Value};

/// The advisory lock every write transaction takes first: writers wait for
/// each other, as SQLite's do, so the store's read-then-write steps behave
/// the same on both engines. (The key is arbitrary: "seatsync" in ASCII.)
const WRITE_LOCK: i64 = 0x7365_6174_7379_6e63;

/// One request to the connection's thread.
enum Request {
    Execute(String, Vec<Value>, mpsc::SyncSender<Result<usize, DbError>>),
    Query(
        String,
        Vec<Value>,
        mpsc::SyncSender<Result<Vec<Row>, DbError>>,
    ),
    Batch(String, mpsc::SyncSender<Result<(), DbError>>),
}

/// A PostgreSQL connection, served by its own thread.
pub(crate) struct PgConn {
    requests: Option<mpsc::Sender<Request>>,
    thread: Option<JoinHandle<()>>,
}

impl PgConn {
    /// Connects to `url` (`postgres://user@host/db`, or a unix socket
    /// directory as `host=/path`).
    pub(crate) fn connect(url: &str) -> Result<PgConn, DbError> {
        let config: postgres::Config =
            url.parse()
                .map_err(|e: postgres::Error| DbError::Postgres {
                    code: None,
                    message: format!("the PostgreSQL URL is not valid: {e}"),
                })?;
        let (requests, inbox) = mpsc::channel::<Request>();
        let (ready, connected) = mpsc::sync_channel(1);
        let thread = std::thread::Builder::new()
            .name("seatsync-postgres".into())
            .spawn(move || {
                let client = match config.connect(NoTls) {
                    Ok(client) => {
                        let _ = ready.send(Ok(()));
                        client
                    }
                    Err(e) => {
                        let _ = ready.send(Err(pg_error(&e)));
                        return;
                    }
                };
                Session::new(config, client).serve(inbox);
            })
            .map_err(|e| DbError::Postgres {
                code: None,
                message: format!("cannot start the database connection's thread: {e}"),
            })?;
        let answer = connected.recv().unwrap_or_else(|_| {
            Err(DbError::Postgres {
                code: None,
                message: "the database connection's thread stopped".into(),
            })
        });
        answer?;
        Ok(PgConn {
            requests: Some(requests),
            thread: Some(thread),
        })
    }

    fn ask<T>(
        &self,
        request: impl FnOnce(mpsc::SyncSender<Result<T, DbError>>) -> Request,
    ) -> Result<T, DbError> {
        let gone = || DbError::Postgres {
            code: None,
            message: "the connection to PostgreSQL was lost".into(),
        };
        let (reply, answer) = mpsc::sync_channel(1);
        self.requests
            .as_ref()
            .ok_or_else(gone)?
            .send(request(reply))
            .map_err(|_| gone())?;
        answer.recv().map_err(|_| gone())?
    }

    /// Runs a statement; returns the number of rows it changed.
    pub(crate) fn execute(&self, sql: &str, values: Vec<Value>) -> Result<usize, DbError> {
        self.ask(|reply| Request::Execute(sql.to_owned(), values, reply))
    }

    /// Runs a query; every row read.
    pub(crate) fn query(&self, sql: &str, values: Vec<Value>) -> Result<Vec<Row>, DbError> {
        self.ask(|reply| Request::Query(sql.to_owned(), values, reply))
    }

    /// Runs statements without parameters (`BEGIN`, DDL).
    pub(crate) fn batch(&self, sql: &str) -> Result<(), DbError> {
        self.ask(|reply| Request::Batch(sql.to_owned(), reply))
    }

    /// Begins a transaction.
    pub(crate) fn begin(&self, begin: Begin) -> Result<(), DbError> {
        match begin {
            Begin::Write => self.batch(&format!(
                "BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})"
            )),
            Begin::Read => self.batch("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"),
        }
    }
}

impl Drop for PgConn {
    fn drop(&mut self) {
        // Closing the channel ends the thread, which closes the connection.
        self.requests = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The connection's thread: one client, its prepared statements, and
/// whether a transaction is open on it.
struct Session {
    config: postgres::Config,
    client: Client,
    statements: HashMap<String, postgres::Statement>,
    /// Between `BEGIN` and `COMMIT`/`ROLLBACK`.
    in_transaction: bool,
    /// The connection broke inside a transaction: every statement fails
    /// until the store ends that transaction (its work is gone, and running
    /// the rest of it outside a transaction would break its atomicity).
    broken_transaction: bool,
    /// A statement failed on the connection itself (not an SQL error the
    /// server reported): connect again before the next one. The client
    /// does not always know yet that its connection is gone.
    lost: bool,
}

impl Session {
    fn new(config: postgres::Config, client: Client) -> Session {
        Session {
            config,
            client,
            statements: HashMap::new(),
            in_transaction: false,
            broken_transaction: false,
            lost: false,
        }
    }

    /// Answers requests until the store drops the connection.
    fn serve(mut self, inbox: mpsc::Receiver<Request>) {
        for request in inbox {
            match request {
                Request::Execute(sql, values, reply) => {
                    let _ = reply.send(self.execute(&sql, &values));
                }
                Request::Query(sql, values, reply) => {
                    let _ = reply.send(self.query(&sql, &values));
                }
                Request::Batch(sql, reply) => {
                    let _ = reply.send(self.batch(&sql));
                }
            }
        }
    }

    /// Makes sure the connection is up before a statement: a server that
    /// restarted, or a connection an administrator ended, is connected
    /// again, so that a long-running daemon outlives it, but never inside
    /// a transaction.
    fn ready(&mut self) -> Result<(), DbError> {
        if self.broken_transaction {
            return Err(lost_in_transaction());
        }
        if !self.lost && !self.client.is_closed() {
            return Ok(());
        }
        if self.in_transaction {
            self.broken_transaction = true;
            return Err(lost_in_transaction());
        }
        self.client = self.config.connect(NoTls).map_err(|e| pg_error(&e))?;
        self.statements.clear();
        self.lost = false;
        tracing::info!("the connection to PostgreSQL was lost and is open again");
        Ok(())
    }

    /// Notes a failure of the connection itself (anything but an error the
    /// server reported for the statement).
    fn failed(&mut self, e: &postgres::Error) -> DbError {
        if e.as_db_error().is_none() {
            if self.in_transaction {
                self.broken_transaction = true;
            } else {
                self.lost = true;
            }
        }
        pg_error(e)
    }

    fn execute(&mut self, sql: &str, values: &[Value]) -> Result<usize, DbError> {
        self.ready()?;
        let stmt = self.prepared(sql)?;
        match self.client.execute(&stmt, &params(values)) {
            Ok(n) => Ok(usize::try_from(n).unwrap_or(usize::MAX)),
            Err(e) => Err(self.failed(&e)),
        }
    }

    fn query(&mut self, sql: &str, values: &[Value]) -> Result<Vec<Row>, DbError> {
        self.ready()?;
        let stmt = self.prepared(sql)?;
        match self.client.query(&stmt, &params(values)) {
            Ok(rows) => rows.iter().map(row_of).collect(),
            Err(e) => Err(self.failed(&e)),
        }
    }

    /// The transaction is over, whatever its end gave (a COMMIT lost with
    /// the connection is not followed by a ROLLBACK); one the connection
    /// broke leaves the connection to be opened again.
    fn end_transaction(&mut self) {
        self.in_transaction = false;
        if self.broken_transaction {
            self.broken_transaction = false;
            self.lost = true;
        }
    }

    fn batch(&mut self, sql: &str) -> Result<(), DbError> {
        let ends = sql == "COMMIT" || sql == "ROLLBACK";
        if ends && self.broken_transaction {
            self.end_transaction();
            return if sql == "ROLLBACK" {
                Ok(())
            } else {
                Err(lost_in_transaction())
            };
        }
        self.ready()?;
        let result = match self.client.batch_execute(sql) {
            Ok(()) => Ok(()),
            Err(e) => Err(self.failed(&e)),
        };
        if sql.starts_with("BEGIN") {
            self.in_transaction = result.is_ok();
        } else if ends {
            self.end_transaction();
        }
        result
    }

    /// The statement for `sql`, prepared once per connection.
    fn prepared(&mut self, sql: &str) -> Result<postgres::Statement, DbError> {
        if let Some(stmt) = self.statements.get(sql) {
            return Ok(stmt.clone());
        }
        let stmt = match self.client.prepare(&numbered_parameters(sql)) {
            Ok(stmt) => stmt,
            Err(e) => return Err(self.failed(&e)),
        };
        self.statements.insert(sql.to_owned(), stmt.clone());
        Ok(stmt)
    }
}

/// `values` as the client's parameters.
fn params(values: &[Value]) -> Vec<&(dyn ToSql + Sync)> {
    values.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

fn lost_in_transaction() -> DbError {
    DbError::Postgres {
        // connection_failure
        code: Some("08006".into()),
        message: "the connection to PostgreSQL was lost in the middle of a transaction, which was rolled back: \
                  try again"
            .into(),
    }
}

/// SQLite's `?1` parameters as PostgreSQL's `$1`, leaving quoted text and
/// identifiers alone.
pub(crate) fn numbered_parameters(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quote: Option<char> = None;
    for c in sql.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == '?' => {
                out.push('$');
                continue;
            }
            None => {}
        }
        out.push(c);
    }
    out
}

/// A server error as the store reports it: the server's message (and
/// detail), with its SQLSTATE kept for classification.
fn pg_error(e: &postgres::Error) -> DbError {
    match e.as_db_error() {
        Some(db) => DbError::Postgres {
            code: Some(db.code().code().to_owned()),
            message: match db.detail() {
                Some(detail) => format!("{} ({detail})", db.message()),
                None => db.message().to_owned(),
            },
        },
        None => DbError::Postgres {
            code: e.code().map(|c| c.code().to_owned()),
            message: match e.source() {
                Some(source) => format!("{e}: {source}"),
                None => e.to_string(),
            },
        },
    }
}

fn row_of(row: &postgres::Row) -> Result<Row, DbError> {
    let mut values = Vec::with_capacity(row.len());
    for (i, column) in row.columns().iter().enumerate() {
        let get_err = |e: postgres::Error| DbError::Conversion {
            column: i,
            message: e.to_string(),
        };
        let ty = column.type_();
        let value = if *ty == Type::INT8 {
            row.try_get::<_, Option<i64>>(i)
                .map_err(get_err)?
                .map(Value::Integer)
        } else if *ty == Type::INT4 {
            row.try_get::<_, Option<i32>>(i)
                .map_err(get_err)?
                .map(|v| Value::Integer(v.into()))
        } else if *ty == Type::INT2 {
            row.try_get::<_, Option<i16>>(i)
                .map_err(get_err)?
                .map(|v| Value::Integer(v.into()))
        } else if *ty == Type::BOOL {
            row.try_get::<_, Option<bool>>(i)
                .map_err(get_err)?
                .map(|v| Value::Integer(v.into()))
        } else if *ty == Type::FLOAT8 {
            row.try_get::<_, Option<f64>>(i)
                .map_err(get_err)?
                .map(Value::Real)
        } else if *ty == Type::FLOAT4 {
            row.try_get::<_, Option<f32>>(i)
                .map_err(get_err)?
                .map(|v| Value::Real(v.into()))
        } else if [Type::TEXT, Type::VARCHAR, Type::NAME, Type::BPCHAR].contains(ty) {
            row.try_get::<_, Option<String>>(i)
                .map_err(get_err)?
                .map(Value::Text)
        } else {
            return Err(DbError::Conversion {
                column: i,
                message: format!(
                    "the column {} has type {ty}, which the store does not read (cast it to BIGINT, DOUBLE PRECISION or TEXT)",
                    column.name()
                ),
            });
        };
        values.push(value.unwrap_or(Value::Null));
    }
    Ok(Row::new(values))
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut postgres::types::private::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        let mismatch = || -> Box<dyn std::error::Error + Sync + Send> {
            format!("cannot pass {self:?} as {ty}").into()
        };
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Integer(i) => {
                if *ty == Type::INT8 {
                    i.to_sql(ty, out)
                } else if *ty == Type::INT4 {
                    i32::try_from(*i).map_err(|_| mismatch())?.to_sql(ty, out)
                } else if *ty == Type::INT2 {
                    i16::try_from(*i).map_err(|_| mismatch())?.to_sql(ty, out)
                } else if *ty == Type::BOOL {
                    (*i != 0).to_sql(ty, out)
                } else if *ty == Type::FLOAT8 {
                    (*i as f64).to_sql(ty, out)
                } else if *ty == Type::TEXT || *ty == Type::VARCHAR {
                    i.to_string().to_sql(ty, out)
                } else {
                    Err(mismatch())
                }
            }
            Value::Real(r) => {
                if *ty == Type::FLOAT8 {
                    r.to_sql(ty, out)
                } else if *ty == Type::FLOAT4 {
                    (*r as f32).to_sql(ty, out)
                } else {
                    Err(mismatch())
                }
            }
            Value::Text(s) => {
                if *ty == Type::TEXT || *ty == Type::VARCHAR || *ty == Type::NAME {
                    s.to_sql(ty, out)
                } else {
                    Err(mismatch())
                }
            }
        }
    }

    fn accepts(_: &Type) -> bool {
        // Checked per value in `to_sql`, with a message naming both.
        true
    }

    to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::numbered_parameters;

    #[test]
    fn parameters_are_renumbered_outside_quotes() {
        assert_eq!(
            numbered_parameters("SELECT a FROM t WHERE b = ?1 AND c = '?2' AND \"d?\" = ?12"),
            "SELECT a FROM t WHERE b = $1 AND c = '?2' AND \"d?\" = $12"
        );
    }
}
