//! Conversions between the exported WIT types, the client-neutral rows of
//! `qimem-store-sql`, and the values of Spin's PostgreSQL API.
//!
//! These are plain functions so that the row-to-record mapping is tested
//! natively; nothing here talks to a database.

use qimem_store_sql::{AuditRow, Cell, KeyRow, Param, RowError};
use spin_sdk::pg::{DbValue, ParameterValue};

use crate::bindings::exports::qimem::kms::store::{AuditEvent, KeyRecord, StoreError};
use crate::bindings::qimem::kms::types::{Algorithm, KeyState, Label};

/// The name a state has in the `keys.state` column and in SQL parameters.
pub fn state_name(state: KeyState) -> &'static str {
    match state {
        KeyState::Active => "active",
        KeyState::Retired => "retired",
        KeyState::Disabled => "disabled",
        KeyState::Destroyed => "destroyed",
    }
}

/// The state named `name` in the `keys.state` column.
pub fn parse_state(name: &str) -> Result<KeyState, RowError> {
    match name {
        "active" => Ok(KeyState::Active),
        "retired" => Ok(KeyState::Retired),
        "disabled" => Ok(KeyState::Disabled),
        "destroyed" => Ok(KeyState::Destroyed),
        _ => Err(RowError("unknown key state")),
    }
}

/// The name an algorithm has in the `keys.algorithm` column.
pub fn algorithm_name(algorithm: Algorithm) -> &'static str {
    match algorithm {
        Algorithm::Aes256Gcm => "aes-256-gcm",
        Algorithm::Xchacha20Poly1305 => "xchacha20-poly1305",
        Algorithm::Aes256Siv => "aes-256-siv",
    }
}

/// The algorithm named `name` in the `keys.algorithm` column.
pub fn parse_algorithm(name: &str) -> Result<Algorithm, RowError> {
    match name {
        "aes-256-gcm" => Ok(Algorithm::Aes256Gcm),
        "xchacha20-poly1305" => Ok(Algorithm::Xchacha20Poly1305),
        "aes-256-siv" => Ok(Algorithm::Aes256Siv),
        _ => Err(RowError("unknown algorithm")),
    }
}

/// A key record as a `keys` row.
pub fn record_to_row(record: KeyRecord) -> KeyRow {
    KeyRow {
        id: record.id,
        lineage_id: record.lineage_id,
        version: record.version,
        parent_id: record.parent_id,
        algorithm: algorithm_name(record.algorithm).to_owned(),
        state: state_name(record.state).to_owned(),
        created_at: record.created_at,
        labels: record
            .labels
            .into_iter()
            .map(|l| (l.name, l.value))
            .collect(),
        sealed_material: record.sealed_material,
        seal_key_id: record.seal_key_id,
    }
}

/// A `keys` row as a key record.
pub fn row_to_record(row: KeyRow) -> Result<KeyRecord, RowError> {
    Ok(KeyRecord {
        algorithm: parse_algorithm(&row.algorithm)?,
        state: parse_state(&row.state)?,
        id: row.id,
        lineage_id: row.lineage_id,
        version: row.version,
        parent_id: row.parent_id,
        created_at: row.created_at,
        labels: row
            .labels
            .into_iter()
            .map(|(name, value)| Label { name, value })
            .collect(),
        sealed_material: row.sealed_material,
        seal_key_id: row.seal_key_id,
    })
}

/// An audit event as an `audit_events` row (its `seq` is the database's).
pub fn event_to_row(event: AuditEvent) -> AuditRow {
    AuditRow {
        seq: event.seq,
        at: event.at,
        action: event.action,
        key_id: event.key_id,
        lineage_id: event.lineage_id,
        actor: event.actor,
        outcome: event.outcome,
    }
}

/// An `audit_events` row as an audit event.
pub fn row_to_event(row: AuditRow) -> AuditEvent {
    AuditEvent {
        seq: row.seq,
        at: row.at,
        action: row.action,
        key_id: row.key_id,
        lineage_id: row.lineage_id,
        actor: row.actor,
        outcome: row.outcome,
    }
}

/// A statement parameter as Spin binds it: `text` as `str`, `int4` as
/// `int32`, `int8` as `int64`, `bytea` as `binary`, NULL as `db-null`.
pub fn to_parameter(param: Param) -> ParameterValue {
    match param {
        Param::Text(Some(text)) => ParameterValue::Str(text),
        Param::Int4(value) => ParameterValue::Int32(value),
        Param::Int8(Some(value)) => ParameterValue::Int64(value),
        Param::Bytea(bytes) => ParameterValue::Binary(bytes),
        Param::Text(None) | Param::Int8(None) => ParameterValue::DbNull,
    }
}

/// A column value as Spin returns it, as a cell. The statements return only
/// `text`, `int4`, `int8` and `bytea` columns; NULL can only be text.
pub fn to_cell(value: DbValue) -> Result<Cell, RowError> {
    match value {
        DbValue::Str(text) => Ok(Cell::Text(Some(text))),
        DbValue::DbNull => Ok(Cell::Text(None)),
        DbValue::Int32(value) => Ok(Cell::Int4(value)),
        DbValue::Int64(value) => Ok(Cell::Int8(value)),
        DbValue::Binary(bytes) => Ok(Cell::Bytea(bytes)),
        _ => Err(RowError("column of an unexpected type")),
    }
}

/// A row as Spin returns it, as cells.
pub fn to_cells(row: Vec<DbValue>) -> Result<Vec<Cell>, RowError> {
    row.into_iter().map(to_cell).collect()
}

/// A row that could not be read: the store's fault, not the caller's. The
/// message names the problem, never the row's data.
pub fn malformed(e: RowError) -> StoreError {
    StoreError::Internal(e.to_string())
}

#[cfg(test)]
mod tests {
    use qimem_store_sql::{AUDIT_COLUMNS, KEY_COLUMNS};

    use super::*;

    fn record() -> KeyRecord {
        KeyRecord {
            id: "6f1c2b8e-4a7d-4c0e-9b1a-2d3e4f5a6b7c".into(),
            lineage_id: "0a1b2c3d-4e5f-4061-8728-394a5b6c7d8e".into(),
            version: 3,
            parent_id: Some("1b2c3d4e-5f60-4172-8839-4a5b6c7d8e9f".into()),
            algorithm: Algorithm::Xchacha20Poly1305,
            state: KeyState::Retired,
            created_at: 1_764_000_000_123,
            labels: vec![
                Label {
                    name: "env".into(),
                    value: "prod".into(),
                },
                Label {
                    name: "team".into(),
                    value: "payments".into(),
                },
            ],
            sealed_material: vec![0xde, 0xad, 0xbe, 0xef],
            seal_key_id: "a1b2c3d4e5f60718".into(),
        }
    }

    /// What Spin hands back for a row written with these parameters.
    fn as_spin_row(params: Vec<ParameterValue>) -> Vec<DbValue> {
        params
            .into_iter()
            .map(|p| match p {
                ParameterValue::Str(s) => DbValue::Str(s),
                ParameterValue::Int32(v) => DbValue::Int32(v),
                ParameterValue::Int64(v) => DbValue::Int64(v),
                ParameterValue::Binary(b) => DbValue::Binary(b),
                ParameterValue::DbNull => DbValue::DbNull,
                _ => panic!("a parameter type the statements never use"),
            })
            .collect()
    }

    fn assert_same(a: &KeyRecord, b: &KeyRecord) {
        assert_eq!(a.id, b.id);
        assert_eq!(a.lineage_id, b.lineage_id);
        assert_eq!(a.version, b.version);
        assert_eq!(a.parent_id, b.parent_id);
        assert_eq!(a.algorithm, b.algorithm);
        assert_eq!(a.state, b.state);
        assert_eq!(a.created_at, b.created_at);
        let labels = |r: &KeyRecord| -> Vec<(String, String)> {
            r.labels
                .iter()
                .map(|l| (l.name.clone(), l.value.clone()))
                .collect()
        };
        assert_eq!(labels(a), labels(b));
        assert_eq!(a.sealed_material, b.sealed_material);
        assert_eq!(a.seal_key_id, b.seal_key_id);
    }

    #[test]
    fn a_record_written_through_spin_reads_back_unchanged() {
        let params: Vec<ParameterValue> = record_to_row(record())
            .params()
            .unwrap()
            .into_iter()
            .map(to_parameter)
            .collect();
        assert_eq!(params.len(), KEY_COLUMNS.len());

        let cells = to_cells(as_spin_row(params)).unwrap();
        let back = row_to_record(KeyRow::from_cells(cells).unwrap()).unwrap();
        assert_same(&back, &record());
    }

    #[test]
    fn a_first_version_without_parent_binds_null_and_reads_none() {
        let mut first = record();
        first.parent_id = None;
        first.version = 1;
        let params: Vec<ParameterValue> = record_to_row(first)
            .params()
            .unwrap()
            .into_iter()
            .map(to_parameter)
            .collect();
        assert!(matches!(params[3], ParameterValue::DbNull));

        let cells = to_cells(as_spin_row(params)).unwrap();
        let back = row_to_record(KeyRow::from_cells(cells).unwrap()).unwrap();
        assert_eq!(back.parent_id, None);
        assert_eq!(back.version, 1);
    }

    #[test]
    fn every_algorithm_and_state_keeps_its_column_name() {
        for a in [
            Algorithm::Aes256Gcm,
            Algorithm::Xchacha20Poly1305,
            Algorithm::Aes256Siv,
        ] {
            assert_eq!(parse_algorithm(algorithm_name(a)).unwrap(), a);
        }
        for s in [
            KeyState::Active,
            KeyState::Retired,
            KeyState::Disabled,
            KeyState::Destroyed,
        ] {
            assert_eq!(parse_state(state_name(s)).unwrap(), s);
        }
        assert_eq!(algorithm_name(Algorithm::Aes256Siv), "aes-256-siv");
        assert_eq!(state_name(KeyState::Destroyed), "destroyed");
    }

    #[test]
    fn a_row_with_an_unknown_algorithm_or_state_is_an_error() {
        let mut row = record_to_row(record());
        row.algorithm = "rot13".into();
        assert!(row_to_record(row).is_err());

        let mut row = record_to_row(record());
        row.state = "lost".into();
        assert!(row_to_record(row).is_err());
    }

    #[test]
    fn a_column_of_an_unexpected_type_is_an_error_not_a_panic() {
        assert!(to_cell(DbValue::Boolean(true)).is_err());
        assert!(to_cell(DbValue::Floating64(1.5)).is_err());

        let mut row = as_spin_row(
            record_to_row(record())
                .params()
                .unwrap()
                .into_iter()
                .map(to_parameter)
                .collect(),
        );
        row[2] = DbValue::Str("three".into());
        let cells = to_cells(row).unwrap();
        assert!(KeyRow::from_cells(cells).is_err());
    }

    #[test]
    fn an_audit_event_read_from_spin_keeps_its_fields() {
        let event = AuditEvent {
            seq: 0,
            at: 1_764_000_000_999,
            action: "rotated".into(),
            key_id: Some("6f1c2b8e-4a7d-4c0e-9b1a-2d3e4f5a6b7c".into()),
            lineage_id: None,
            actor: "anonymous".into(),
            outcome: "success".into(),
        };
        let params: Vec<ParameterValue> = event_to_row(event)
            .params()
            .unwrap()
            .into_iter()
            .map(to_parameter)
            .collect();
        assert!(matches!(params[3], ParameterValue::DbNull));

        // The database adds `seq` in front of the appended columns.
        let mut row = vec![DbValue::Int64(42)];
        row.extend(as_spin_row(params));
        assert_eq!(row.len(), AUDIT_COLUMNS.len());
        let back = row_to_event(AuditRow::from_cells(to_cells(row).unwrap()).unwrap());
        assert_eq!(back.seq, 42);
        assert_eq!(back.at, 1_764_000_000_999);
        assert_eq!(back.action, "rotated");
        assert_eq!(back.lineage_id, None);
        assert_eq!(
            back.key_id.as_deref(),
            Some("6f1c2b8e-4a7d-4c0e-9b1a-2d3e4f5a6b7c")
        );
    }
}
