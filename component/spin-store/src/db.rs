//! The database connection, over the synchronous functions of Spin's
//! `spin:postgres/postgres@4.2.0`, and what its errors mean to the QIMEM
//! component.
//!
//! A Spin instance serves one request, so the connection is opened on the
//! first store call and kept for the instance's other calls. A connection
//! that failed is dropped and reopened on the next call.

// Spin's error type is large (it carries the server's error fields); it is
// turned into a small `StoreError` right where it appears.
#![allow(clippy::result_large_err)]

use std::cell::RefCell;

use qimem_store_sql::{Cell, ErrorClass, Param, classify_sqlstate};
use spin_sdk::pg::wit::postgres::{Connection, DbError, Error as PgError, QueryError};

use crate::bindings::exports::qimem::kms::store::StoreError;
use crate::bindings::wasi::config::store as config;
use crate::convert::{malformed, to_cells, to_parameter};

/// The configuration key (a Spin variable) holding the PostgreSQL URL.
pub const DATABASE_URL: &str = "database_url";

/// What the caller is told when the schema is not there.
pub const SCHEMA_MISSING: &str = "the QIMEM schema is missing from the database: \
     apply migrations/ once (`qimem migrate` or psql -f), see docs/spin.md";

thread_local! {
    /// The instance's open connection.
    static CONNECTION: RefCell<Option<Connection>> = const { RefCell::new(None) };
}

/// Run a statement that returns rows; each row as cells.
pub fn query(sql: &str, params: Vec<Param>) -> Result<Vec<Vec<Cell>>, StoreError> {
    let params: Vec<_> = params.into_iter().map(to_parameter).collect();
    let rows = with_connection(|c| c.query(sql, &params))?.rows;
    rows.into_iter()
        .map(|row| to_cells(row).map_err(malformed))
        .collect()
}

/// Run a statement that returns no rows; how many rows it affected.
pub fn execute(sql: &str, params: Vec<Param>) -> Result<u64, StoreError> {
    let params: Vec<_> = params.into_iter().map(to_parameter).collect();
    with_connection(|c| c.execute(sql, &params))
}

/// Run `work` on the instance's connection, opening it first if needed.
fn with_connection<T>(
    work: impl FnOnce(&Connection) -> Result<T, PgError>,
) -> Result<T, StoreError> {
    CONNECTION.with(|slot| {
        let mut slot = slot.borrow_mut();
        if slot.is_none() {
            *slot = Some(open()?);
        }
        let connection = slot.as_ref().expect("opened just above");

        let result = work(connection).map_err(|e| to_store_error(&e));
        if matches!(result, Err(StoreError::Unavailable(_))) {
            *slot = None;
        }
        result
    })
}

/// Open a connection to the configured database.
fn open() -> Result<Connection, StoreError> {
    let url = config::get(DATABASE_URL)
        .map_err(|_| StoreError::Unavailable("database_url could not be read".into()))?
        .filter(|url| !url.trim().is_empty())
        .ok_or_else(|| StoreError::Unavailable("database_url is not configured".into()))?;
    Connection::open(&url).map_err(|e| to_store_error(&e))
}

/// What a database error means to the QIMEM component.
///
/// Unreachable databases, refused credentials, a missing database or schema
/// and shutdowns are `unavailable` (503): the operator can fix them. Unique
/// violations are `conflict`s, anything else `internal`. Connection errors
/// are reported by kind only: their text could carry connection details.
pub fn to_store_error(error: &PgError) -> StoreError {
    match error {
        PgError::ConnectionFailed(_) => {
            StoreError::Unavailable("the database is unreachable".into())
        }
        PgError::QueryFailed(QueryError::DbError(db)) => from_db_error(db),
        PgError::QueryFailed(QueryError::Text(_)) => {
            StoreError::Unavailable("the database connection failed".into())
        }
        PgError::BadParameter(m) => StoreError::Internal(format!("bad statement parameter: {m}")),
        PgError::ValueConversionFailed(m) => {
            StoreError::Internal(format!("unreadable column value: {m}"))
        }
        PgError::Other(m) => StoreError::Internal(format!("database client error: {m}")),
    }
}

/// What an error reported by the PostgreSQL server means.
fn from_db_error(db: &DbError) -> StoreError {
    match db.code.as_str() {
        // 42P01 undefined_table, 3F000 invalid_schema_name.
        "42P01" | "3F000" => StoreError::Unavailable(SCHEMA_MISSING.into()),
        // 3D000 invalid_catalog_name: the database named in the URL.
        "3D000" => StoreError::Unavailable("the configured database does not exist".into()),
        // 28000 invalid_authorization_specification, 28P01 invalid_password.
        "28000" | "28P01" => {
            StoreError::Unavailable("the database refused the configured credentials".into())
        }
        code => match classify_sqlstate(code) {
            // The caller looks up the key to name in the conflict.
            ErrorClass::Conflict => StoreError::Conflict(None),
            ErrorClass::Unavailable => {
                StoreError::Unavailable(format!("the database is unavailable ({code})"))
            }
            ErrorClass::Internal => {
                StoreError::Internal(format!("database error {code}: {}", db.message))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db_error(code: &str) -> PgError {
        PgError::QueryFailed(QueryError::DbError(DbError {
            as_text: format!("error {code}"),
            severity: "ERROR".into(),
            code: code.into(),
            message: "relation \"keys\" does not exist".into(),
            detail: None,
            extras: vec![],
        }))
    }

    #[test]
    fn a_missing_table_is_unavailable_and_says_to_migrate() {
        let StoreError::Unavailable(message) = to_store_error(&db_error("42P01")) else {
            panic!("a missing schema must be unavailable");
        };
        assert!(message.contains("schema is missing"));
        assert!(message.contains("migrations/"));
    }

    #[test]
    fn an_unreachable_database_is_unavailable_without_connection_details() {
        let error = PgError::ConnectionFailed(
            "error connecting to postgres://qimem:hunter2@db.internal:5432/qimem".into(),
        );
        let StoreError::Unavailable(message) = to_store_error(&error) else {
            panic!("a failed connection must be unavailable");
        };
        assert!(!message.contains("hunter2"));
        assert!(!message.contains("db.internal"));
    }

    #[test]
    fn refused_credentials_a_missing_database_and_shutdowns_are_unavailable() {
        for code in [
            "28P01", "28000", "3D000", "57P01", "08006", "53300", "40001",
        ] {
            assert!(
                matches!(to_store_error(&db_error(code)), StoreError::Unavailable(_)),
                "{code}"
            );
        }
    }

    #[test]
    fn a_unique_violation_is_a_conflict_and_other_faults_are_internal() {
        assert!(matches!(
            to_store_error(&db_error("23505")),
            StoreError::Conflict(None)
        ));
        assert!(matches!(
            to_store_error(&db_error("22P02")),
            StoreError::Internal(_)
        ));
        assert!(matches!(
            to_store_error(&PgError::ValueConversionFailed("x".into())),
            StoreError::Internal(_)
        ));
    }
}
