//! `qimem:kms/store` over PostgreSQL: each operation runs the shared
//! statements of `qimem-store-sql` and reads their rows with its mapping.
//! The rules (one active key per lineage, atomic rotation) are the
//! database's, as for the native host.

use qimem_store_sql as sql;
use qimem_store_sql::{AuditRow, Cell, KeyRow, Param};

use crate::bindings::exports::qimem::kms::store::{
    AuditEvent, AuditFilter, Guest, KeyRecord, KeyState, RecordFilter, StoreError,
};
use crate::convert::{
    event_to_row, malformed, record_to_row, row_to_event, row_to_record, state_name,
};
use crate::db::{execute, query};

/// The exported store.
pub struct Adapter;

impl Guest for Adapter {
    fn ping() -> Result<(), StoreError> {
        query(sql::PING, vec![]).map(drop)
    }

    fn insert(record: KeyRecord) -> Result<(), StoreError> {
        let row = record_to_row(record);
        let lineage = row.lineage_id.clone();
        let params = row.params().map_err(malformed)?;

        match execute(sql::INSERT, params) {
            Ok(1) => Ok(()),
            Ok(_) | Err(StoreError::Conflict(_)) => Err(StoreError::Conflict(active_id(lineage)?)),
            Err(e) => Err(e),
        }
    }

    fn get(id: String) -> Result<Option<KeyRecord>, StoreError> {
        one_record(sql::GET, vec![text(id)])
    }

    fn active(lineage_id: String) -> Result<Option<KeyRecord>, StoreError> {
        one_record(sql::ACTIVE, vec![text(lineage_id)])
    }

    fn list(filter: RecordFilter) -> Result<Vec<KeyRecord>, StoreError> {
        let params = sql::list_params(
            filter.lineage_id,
            filter.state.map(|s| state_name(s).to_owned()),
            filter.after,
            filter.limit,
        );
        records(sql::LIST, params)
    }

    fn lineage(lineage_id: String) -> Result<Vec<KeyRecord>, StoreError> {
        records(sql::LINEAGE, vec![text(lineage_id)])
    }

    fn rotate(current: String, successor: KeyRecord) -> Result<(), StoreError> {
        let row = record_to_row(successor);
        let lineage = row.lineage_id.clone();
        let mut params = vec![text(current.clone())];
        params.extend(row.params().map_err(malformed)?);

        match execute(sql::ROTATE, params) {
            Ok(1) => Ok(()),
            Ok(_) => Err(why_unchanged(current)?),
            Err(StoreError::Conflict(_)) => Err(StoreError::Conflict(active_id(lineage)?)),
            Err(e) => Err(e),
        }
    }

    fn update_state(id: String, expected: KeyState, next: KeyState) -> Result<(), StoreError> {
        let params = vec![
            text(id.clone()),
            text(state_name(expected).to_owned()),
            text(state_name(next).to_owned()),
        ];
        match execute(sql::UPDATE_STATE, params) {
            Ok(1) => Ok(()),
            Ok(_) | Err(StoreError::Conflict(_)) => Err(why_unchanged(id)?),
            Err(e) => Err(e),
        }
    }

    fn destroy(id: String, expected: KeyState) -> Result<(), StoreError> {
        let params = vec![text(id.clone()), text(state_name(expected).to_owned())];
        match execute(sql::DESTROY, params) {
            Ok(1) => Ok(()),
            Ok(_) => Err(why_unchanged(id)?),
            Err(e) => Err(e),
        }
    }

    fn append_audit(event: AuditEvent) -> Result<(), StoreError> {
        let params = event_to_row(event).params().map_err(malformed)?;
        execute(sql::APPEND_AUDIT, params).map(drop)
    }

    fn audit(filter: AuditFilter) -> Result<Vec<AuditEvent>, StoreError> {
        let params =
            sql::audit_params(filter.key_id, filter.lineage_id, filter.after, filter.limit);
        query(sql::AUDIT, params)?
            .into_iter()
            .map(|cells| AuditRow::from_cells(cells).map(row_to_event))
            .collect::<Result<_, _>>()
            .map_err(malformed)
    }
}

/// A non-NULL text parameter.
fn text(value: String) -> Param {
    Param::Text(Some(value))
}

/// The records a key query returns.
fn records(statement: &str, params: Vec<Param>) -> Result<Vec<KeyRecord>, StoreError> {
    query(statement, params)?
        .into_iter()
        .map(|cells| KeyRow::from_cells(cells).and_then(row_to_record))
        .collect::<Result<_, _>>()
        .map_err(malformed)
}

/// The record a key query returns, if any.
fn one_record(statement: &str, params: Vec<Param>) -> Result<Option<KeyRecord>, StoreError> {
    Ok(records(statement, params)?.into_iter().next())
}

/// The id of the lineage's active key, if it has one.
fn active_id(lineage_id: String) -> Result<Option<String>, StoreError> {
    let rows = query(sql::ACTIVE_ID, vec![text(lineage_id)])?;
    match rows.into_iter().next().as_deref() {
        None => Ok(None),
        Some([Cell::Text(id)]) => Ok(id.clone()),
        Some(_) => Err(StoreError::Internal(
            "active key id row of the wrong shape".into(),
        )),
    }
}

/// Why a change to key `id` affected no row: the key does not exist
/// (`not-found`), or it is not in the expected state (`conflict`, naming
/// its lineage's active key).
fn why_unchanged(id: String) -> Result<StoreError, StoreError> {
    let rows = query(sql::LINEAGE_AND_ACTIVE, vec![text(id)])?;
    match rows.into_iter().next().as_deref() {
        None => Ok(StoreError::NotFound),
        Some([Cell::Text(Some(_)), Cell::Text(active)]) => Ok(StoreError::Conflict(active.clone())),
        Some(_) => Err(StoreError::Internal(
            "lineage row of the wrong shape".into(),
        )),
    }
}
