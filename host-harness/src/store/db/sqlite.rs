//! The SQLite engine of [`Conn`](super::Conn): statements cached by text,
//! values converted to and from rusqlite's.

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ToSql};

use super::{Begin, DbError, Row, Value};

/// How many prepared statements a connection keeps (the store has about a
/// hundred distinct ones; a sync uses a dozen).
pub(crate) const STATEMENT_CACHE: usize = 128;

impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Owned(rusqlite::types::Value::Null),
            Value::Integer(i) => ToSqlOutput::from(*i),
            Value::Real(r) => ToSqlOutput::from(*r),
            Value::Text(s) => ToSqlOutput::from(s.as_str()),
        })
    }
}

fn value_of(value: ValueRef<'_>) -> Result<Value, DbError> {
    Ok(match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(r) => Value::Real(r),
        ValueRef::Text(t) => Value::Text(
            std::str::from_utf8(t)
                .map_err(|e| DbError::conversion(format!("text is not UTF-8: {e}")))?
                .to_owned(),
        ),
        ValueRef::Blob(_) => return Err(DbError::conversion("a blob where text was expected")),
    })
}

/// Runs a statement.
pub(super) fn execute(conn: &Connection, sql: &str, values: &[Value]) -> Result<usize, DbError> {
    let mut stmt = conn.prepare_cached(sql)?;
    Ok(stmt.execute(rusqlite::params_from_iter(values))?)
}

/// Runs a query; every row read.
pub(super) fn query(conn: &Connection, sql: &str, values: &[Value]) -> Result<Vec<Row>, DbError> {
    let mut stmt = conn.prepare_cached(sql)?;
    let columns = stmt.column_count();
    let mut rows = stmt.query(rusqlite::params_from_iter(values))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut values = Vec::with_capacity(columns);
        for i in 0..columns {
            values.push(value_of(row.get_ref(i)?)?);
        }
        out.push(Row::new(values));
    }
    Ok(out)
}

/// Begins a transaction.
pub(super) fn begin(conn: &Connection, begin: Begin) -> Result<(), DbError> {
    conn.execute_batch(match begin {
        // Takes the write lock up front: two writers wait for each other
        // (busy timeout) instead of one failing halfway.
        Begin::Write => "BEGIN IMMEDIATE",
        Begin::Read => "BEGIN DEFERRED",
    })?;
    Ok(())
}
