//! The store's one seam between its SQL and a database engine: SQLite (the
//! embedded default) or PostgreSQL (a shared store for many workers).
//!
//! The store's modules write their SQL once, in the subset both engines
//! speak (numbered parameters `?1`, `ON CONFLICT … DO UPDATE`, `RETURNING`,
//! integers for booleans, RFC 3339 text for times), and call it through
//! [`Conn`], whose methods have the shape of rusqlite's (`execute`,
//! `query_row`, `prepare` + `query_map`, `optional`), so the store reads as
//! ordinary rusqlite code. Values cross the seam as [`Value`]s; each engine
//! converts them to and from its own types ([`sqlite`], [`postgres`]).
//!
//! What is engine-specific stays in the engine's module: opening, the
//! schema and its migrations, transactions' locking.

pub(crate) mod postgres;
pub(crate) mod sqlite;

use std::fmt;

use thiserror::Error;

/// A value passed to or read from SQL.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// SQL `NULL`.
    Null,
    /// An integer (booleans are 0 and 1).
    Integer(i64),
    /// A floating-point number.
    Real(f64),
    /// Text.
    Text(String),
}

/// Why a statement failed (in a [`StoreError`](super::StoreError)).
#[derive(Debug, Error)]
pub enum DbError {
    /// SQLite's error.
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL's error (its message; `code` is its SQLSTATE).
    #[error("{message}")]
    Postgres {
        /// The SQLSTATE, when the server sent one.
        code: Option<String>,
        /// What went wrong.
        message: String,
    },
    /// `query_row` found no row ([`OptionalExtension::optional`] makes it
    /// `None`).
    #[error("the query returned no row")]
    NoRows,
    /// A column held a value of another type than the code reads.
    #[error("column {column}: {message}")]
    Conversion {
        /// The column's index.
        column: usize,
        /// What was expected and found.
        message: String,
    },
}

impl DbError {
    /// A conversion error for a value of the wrong type.
    pub(crate) fn conversion(message: impl Into<String>) -> DbError {
        DbError::Conversion {
            column: usize::MAX,
            message: message.into(),
        }
    }

    /// Whether another writer held the database too long (SQLite busy, a
    /// PostgreSQL lock or serialization timeout).
    pub(crate) fn is_busy(&self) -> bool {
        match self {
            DbError::Sqlite(e) => matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            ),
            // lock_not_available, serialization_failure, deadlock_detected
            DbError::Postgres { code, .. } => {
                matches!(code.as_deref(), Some("55P03" | "40001" | "40P01"))
            }
            _ => false,
        }
    }

    /// Whether the database reports itself damaged.
    pub(crate) fn is_corrupt(&self) -> bool {
        match self {
            DbError::Sqlite(e) => matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
            ),
            // data_corrupted, index_corrupted
            DbError::Postgres { code, .. } => matches!(code.as_deref(), Some("XX001" | "XX002")),
            _ => false,
        }
    }
}

/// Converts a Rust value to a [`Value`] (a parameter).
pub(crate) trait ToValue {
    /// The value.
    fn to_value(&self) -> Value;
}

/// Converts a [`Value`] (a column) to a Rust value.
pub(crate) trait FromValue: Sized {
    /// The Rust value, or why the column cannot be one.
    fn from_value(value: &Value) -> Result<Self, DbError>;
}

impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value {
        (**self).to_value()
    }
}

impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value {
        self.as_ref().map_or(Value::Null, ToValue::to_value)
    }
}

impl ToValue for Value {
    fn to_value(&self) -> Value {
        self.clone()
    }
}

impl ToValue for str {
    fn to_value(&self) -> Value {
        Value::Text(self.to_owned())
    }
}

impl ToValue for String {
    fn to_value(&self) -> Value {
        Value::Text(self.clone())
    }
}

impl ToValue for bool {
    fn to_value(&self) -> Value {
        Value::Integer(i64::from(*self))
    }
}

impl ToValue for f64 {
    fn to_value(&self) -> Value {
        Value::Real(*self)
    }
}

macro_rules! integer_values {
    ($($ty:ty),*) => {$(
        impl ToValue for $ty {
            fn to_value(&self) -> Value {
                // Every integer the store writes fits (ids, counts, limits);
                // a u64 beyond i64 saturates rather than wraps.
                Value::Integer(i64::try_from(*self).unwrap_or(i64::MAX))
            }
        }
        impl FromValue for $ty {
            fn from_value(value: &Value) -> Result<Self, DbError> {
                match value {
                    Value::Integer(i) => <$ty>::try_from(*i).map_err(|_| {
                        DbError::conversion(format!("{i} does not fit in {}", stringify!($ty)))
                    }),
                    other => Err(DbError::conversion(format!(
                        "expected an integer, found {other:?}"
                    ))),
                }
            }
        }
    )*};
}
integer_values!(i64, i32, u32, u64, usize, u16, u8);

impl FromValue for bool {
    fn from_value(value: &Value) -> Result<Self, DbError> {
        match value {
            Value::Integer(i) => Ok(*i != 0),
            other => Err(DbError::conversion(format!(
                "expected a boolean (0 or 1), found {other:?}"
            ))),
        }
    }
}

impl FromValue for f64 {
    fn from_value(value: &Value) -> Result<Self, DbError> {
        match value {
            Value::Real(r) => Ok(*r),
            // SQLite stores a whole REAL as an integer when it can.
            Value::Integer(i) => Ok(*i as f64),
            other => Err(DbError::conversion(format!(
                "expected a number, found {other:?}"
            ))),
        }
    }
}

impl FromValue for String {
    fn from_value(value: &Value) -> Result<Self, DbError> {
        match value {
            Value::Text(s) => Ok(s.clone()),
            other => Err(DbError::conversion(format!(
                "expected text, found {other:?}"
            ))),
        }
    }
}

impl<T: FromValue> FromValue for Option<T> {
    fn from_value(value: &Value) -> Result<Self, DbError> {
        match value {
            Value::Null => Ok(None),
            other => T::from_value(other).map(Some),
        }
    }
}

impl FromValue for Value {
    fn from_value(value: &Value) -> Result<Self, DbError> {
        Ok(value.clone())
    }
}

/// A statement's parameters: `params![a, b]`, `[a]`, or `()` for none.
pub(crate) trait Params {
    /// The values, in order (`?1` first).
    fn values(self) -> Vec<Value>;
}

impl Params for () {
    fn values(self) -> Vec<Value> {
        Vec::new()
    }
}

impl Params for &[&dyn ToValue] {
    fn values(self) -> Vec<Value> {
        self.iter().map(|v| v.to_value()).collect()
    }
}

impl<T: ToValue, const N: usize> Params for [T; N] {
    fn values(self) -> Vec<Value> {
        self.iter().map(ToValue::to_value).collect()
    }
}

impl Params for Vec<Value> {
    fn values(self) -> Vec<Value> {
        self
    }
}

/// `params![a, b, …]`: a statement's parameters, as rusqlite's macro.
macro_rules! params {
    () => { () };
    ($($param:expr),+ $(,)?) => {
        &[$(&$param as &dyn $crate::store::db::ToValue),+] as &[&dyn $crate::store::db::ToValue]
    };
}
pub(crate) use params;

/// A column index (as rusqlite's `RowIndex`, so `r.get(0)` infers).
pub(crate) trait RowIndex {
    /// The index.
    fn index(self) -> usize;
}

impl RowIndex for usize {
    fn index(self) -> usize {
        self
    }
}

/// One row of a result.
#[derive(Debug, Clone)]
pub(crate) struct Row {
    values: Vec<Value>,
}

impl Row {
    /// A row of `values`.
    pub(crate) fn new(values: Vec<Value>) -> Row {
        Row { values }
    }

    /// Column `index`, converted.
    pub(crate) fn get<I: RowIndex, T: FromValue>(&self, index: I) -> Result<T, DbError> {
        let index = index.index();
        let value = self.values.get(index).ok_or_else(|| DbError::Conversion {
            column: index,
            message: format!("the row has {} columns", self.values.len()),
        })?;
        T::from_value(value).map_err(|e| match e {
            DbError::Conversion { message, .. } => DbError::Conversion {
                column: index,
                message,
            },
            other => other,
        })
    }
}

/// How a transaction begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Begin {
    /// Writes: writers wait for each other from the start (SQLite `BEGIN
    /// IMMEDIATE`; PostgreSQL takes the store's write lock), so none fails
    /// halfway.
    Write,
    /// Reads: one consistent snapshot.
    Read,
}

/// A connection to either engine.
pub(crate) enum Conn {
    /// SQLite.
    Sqlite(rusqlite::Connection),
    /// PostgreSQL.
    Postgres(postgres::PgConn),
}

impl fmt::Debug for Conn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Conn::Sqlite(_) => f.write_str("Conn::Sqlite"),
            Conn::Postgres(_) => f.write_str("Conn::Postgres"),
        }
    }
}

impl Conn {
    /// Runs a statement; returns the number of rows it changed.
    pub(crate) fn execute(&self, sql: &str, params: impl Params) -> Result<usize, DbError> {
        let values = params.values();
        match self {
            Conn::Sqlite(conn) => sqlite::execute(conn, sql, &values),
            Conn::Postgres(conn) => conn.execute(sql, values),
        }
    }

    /// Runs a query; every row read.
    fn rows(&self, sql: &str, values: Vec<Value>) -> Result<Vec<Row>, DbError> {
        match self {
            Conn::Sqlite(conn) => sqlite::query(conn, sql, &values),
            Conn::Postgres(conn) => conn.query(sql, values),
        }
    }

    /// Runs statements without parameters (transaction control).
    fn batch(&self, sql: &str) -> Result<(), DbError> {
        match self {
            Conn::Sqlite(conn) => conn.execute_batch(sql).map_err(DbError::from),
            Conn::Postgres(conn) => conn.batch(sql),
        }
    }

    /// The first row of a query, mapped; [`DbError::NoRows`] when there is
    /// none.
    pub(crate) fn query_row<T>(
        &self,
        sql: &str,
        params: impl Params,
        f: impl FnOnce(&Row) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let rows = self.rows(sql, params.values())?;
        match rows.first() {
            Some(row) => f(row),
            None => Err(DbError::NoRows),
        }
    }

    /// A statement to run (rusqlite's shape: `prepare(sql)?.query_map(…)`).
    pub(crate) fn prepare(&self, sql: &str) -> Result<Statement<'_>, DbError> {
        Ok(Statement {
            conn: self,
            sql: sql.to_owned(),
        })
    }

    /// Begins a transaction, committed by [`Tx::commit`] and rolled back
    /// when dropped without.
    pub(crate) fn transaction(&self, begin: Begin) -> Result<Tx<'_>, DbError> {
        match self {
            Conn::Sqlite(conn) => sqlite::begin(conn, begin)?,
            Conn::Postgres(conn) => conn.begin(begin)?,
        }
        Ok(Tx {
            conn: self,
            open: true,
        })
    }
}

/// A statement of a [`Conn`].
pub(crate) struct Statement<'c> {
    conn: &'c Conn,
    sql: String,
}

impl Statement<'_> {
    /// Runs it; returns the number of rows changed.
    pub(crate) fn execute(&mut self, params: impl Params) -> Result<usize, DbError> {
        self.conn.execute(&self.sql, params)
    }

    /// Runs the query and maps each row (all rows are read first).
    pub(crate) fn query_map<T>(
        &mut self,
        params: impl Params,
        f: impl FnMut(&Row) -> Result<T, DbError>,
    ) -> Result<std::vec::IntoIter<Result<T, DbError>>, DbError> {
        let rows = self.conn.rows(&self.sql, params.values())?;
        Ok(rows.iter().map(f).collect::<Vec<_>>().into_iter())
    }
}

/// An open transaction: derefs to its connection.
pub(crate) struct Tx<'c> {
    conn: &'c Conn,
    open: bool,
}

impl std::ops::Deref for Tx<'_> {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        self.conn
    }
}

impl Tx<'_> {
    /// Commits.
    pub(crate) fn commit(mut self) -> Result<(), DbError> {
        self.open = false;
        self.conn.batch("COMMIT")
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if self.open {
            // Nothing to report to: the operation already failed.
            let _ = self.conn.batch("ROLLBACK");
        }
    }
}

/// `.optional()` on a `query_row` result, as rusqlite's.
pub(crate) trait OptionalExtension<T> {
    /// `None` for [`DbError::NoRows`].
    fn optional(self) -> Result<Option<T>, DbError>;
}

impl<T> OptionalExtension<T> for Result<T, DbError> {
    fn optional(self) -> Result<Option<T>, DbError> {
        match self {
            Ok(value) => Ok(Some(value)),
            Err(DbError::NoRows) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_convert_both_ways() {
        let row = Row::new(vec![
            Value::Integer(7),
            Value::Text("x".into()),
            Value::Null,
            Value::Integer(1),
            Value::Integer(-1),
        ]);
        assert_eq!(row.get::<_, i64>(0).unwrap(), 7);
        assert_eq!(row.get::<_, u32>(0).unwrap(), 7);
        assert_eq!(row.get::<_, String>(1).unwrap(), "x");
        assert_eq!(row.get::<_, Option<String>>(2).unwrap(), None);
        assert!(row.get::<_, bool>(3).unwrap());
        let err = row.get::<_, u32>(4).unwrap_err().to_string();
        assert!(err.contains("column 4"), "{err}");
        assert!(row.get::<_, String>(0).is_err());
        assert!(row.get::<_, i64>(9).is_err());
        let values = params![1i64, "a", None::<String>, true].values();
        assert_eq!(
            values,
            [
                Value::Integer(1),
                Value::Text("a".into()),
                Value::Null,
                Value::Integer(1)
            ]
        );
    }
}
