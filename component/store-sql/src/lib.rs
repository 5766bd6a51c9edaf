//! Every SQL statement the QIMEM PostgreSQL store runs, and the mapping
//! between table rows and key records, independent of any client library.
//!
//! The native host (tokio-postgres) and the Spin store adapter (Spin's
//! outbound PostgreSQL API) both run exactly these statements, so the two
//! ways of serving QIMEM share one schema and one set of rules. The schema
//! itself lives in `migrations/` at the repository root.
//!
//! # Parameters and columns
//!
//! So that every client can bind and read them, statements take only
//! `text`, `int4`, `int8` and `bytea` parameters, and return only columns of
//! those types: UUIDs travel as text (`$1::text::uuid` in, `id::text` out)
//! and labels as JSON text (`$8::text::jsonb` in, `labels::text` out). A
//! client turns each [`Param`] into its own parameter type and each column
//! into a [`Cell`], in the order of [`KEY_COLUMNS`] or [`AUDIT_COLUMNS`].
//!
//! # Rules the database enforces
//!
//! - `keys.id` is the primary key; `(lineage_id, version)` is unique;
//! - the partial unique index `keys_one_active_per_lineage` allows at most
//!   one `active` key per lineage;
//! - [`ROTATE`] locks the predecessor row, retires it and inserts the
//!   successor in one statement (one transaction): a rotation that lost a
//!   race inserts nothing and changes nothing.
//!
//! Nothing here ever sees unsealed key material: `sealed_material` is the
//! component's ciphertext.

#![deny(unsafe_code)]
#![deny(missing_docs)]

use std::fmt;

/// The columns every key query returns, in this order.
///
/// `id, lineage_id, version, parent_id, algorithm, state, created_at,
/// labels, sealed_material, seal_key_id`.
pub const KEY_COLUMNS: [ColumnType; 10] = [
    ColumnType::Text,         // id
    ColumnType::Text,         // lineage_id
    ColumnType::Int4,         // version
    ColumnType::NullableText, // parent_id
    ColumnType::Text,         // algorithm
    ColumnType::Text,         // state
    ColumnType::Int8,         // created_at, milliseconds since the Unix epoch
    ColumnType::Text,         // labels, a JSON object
    ColumnType::Bytea,        // sealed_material
    ColumnType::Text,         // seal_key_id
];

/// The select list matching [`KEY_COLUMNS`].
macro_rules! key_select {
    () => {
        "SELECT id::text, lineage_id::text, version, parent_id::text, algorithm, state, \
         created_at, labels::text, sealed_material, seal_key_id FROM keys"
    };
}

/// The columns every audit query returns, in this order.
///
/// `seq, at, action, key_id, lineage_id, actor, outcome`.
pub const AUDIT_COLUMNS: [ColumnType; 7] = [
    ColumnType::Int8,         // seq
    ColumnType::Int8,         // at, milliseconds since the Unix epoch
    ColumnType::Text,         // action
    ColumnType::NullableText, // key_id
    ColumnType::NullableText, // lineage_id
    ColumnType::Text,         // actor
    ColumnType::Text,         // outcome
];

/// Whether the database answers. No parameters; one row with one `int4`.
pub const PING: &str = "SELECT 1";

/// Insert the first record of a new lineage.
///
/// Parameters: [`KeyRow::params`] (10). Affects 0 rows, without error, when
/// the id, the `(lineage, version)` or the lineage exists already: the
/// caller then answers `conflict` naming the lineage's active key
/// ([`ACTIVE_ID`]).
pub const INSERT: &str = "INSERT INTO keys (id, lineage_id, version, parent_id, algorithm, \
     state, created_at, labels, sealed_material, seal_key_id) \
     SELECT $1::text::uuid, $2::text::uuid, $3::int4, $4::text::uuid, $5::text, $6::text, \
     $7::int8, $8::text::jsonb, $9::bytea, $10::text \
     WHERE NOT EXISTS (SELECT 1 FROM keys WHERE lineage_id = $2::text::uuid) \
     ON CONFLICT DO NOTHING";

/// The record with id `$1` (text). Returns [`KEY_COLUMNS`], 0 or 1 row.
pub const GET: &str = concat!(key_select!(), " WHERE id = $1::text::uuid");

/// The active record of lineage `$1` (text). Returns [`KEY_COLUMNS`].
pub const ACTIVE: &str = concat!(
    key_select!(),
    " WHERE lineage_id = $1::text::uuid AND state = 'active'"
);

/// The id of lineage `$1`'s active key: one `text` column, 0 or 1 row.
pub const ACTIVE_ID: &str =
    "SELECT id::text FROM keys WHERE lineage_id = $1::text::uuid AND state = 'active'";

/// The lineage of key `$1` and its active key's id, to tell `not-found`
/// from `conflict` after a change affected no row. Columns: `lineage_id`
/// (text), `active_id` (nullable text); 0 rows when the key does not exist.
pub const LINEAGE_AND_ACTIVE: &str = "SELECT k.lineage_id::text, \
     (SELECT a.id::text FROM keys a WHERE a.lineage_id = k.lineage_id AND a.state = 'active') \
     FROM keys k WHERE k.id = $1::text::uuid";

/// Records matching a filter, ordered by id. Parameters: `$1` lineage id
/// (nullable text), `$2` state (nullable text), `$3` after id (nullable
/// text), `$4` limit (int8). Returns [`KEY_COLUMNS`].
pub const LIST: &str = concat!(
    key_select!(),
    " WHERE ($1::text IS NULL OR lineage_id = $1::text::uuid)",
    " AND ($2::text IS NULL OR state = $2::text)",
    " AND ($3::text IS NULL OR id > $3::text::uuid)",
    " ORDER BY id LIMIT $4::int8"
);

/// Every record of lineage `$1` (text), ordered by version. Returns
/// [`KEY_COLUMNS`].
pub const LINEAGE: &str = concat!(
    key_select!(),
    " WHERE lineage_id = $1::text::uuid ORDER BY version"
);

/// Retire the active record `$1` and insert its successor, atomically.
///
/// Parameters: `$1` the current key's id (text), then the successor's
/// [`KeyRow::params`] as `$2..$11`. The predecessor row is locked
/// (`FOR UPDATE`) and must be `active`, of the successor's lineage and one
/// version below it; otherwise nothing changes and the statement affects 0
/// rows (the caller then reads [`LINEAGE_AND_ACTIVE`] to answer `not-found`
/// or `conflict`). A clash of the successor's id or version fails the whole
/// statement with a unique violation ([`SQLSTATE_UNIQUE_VIOLATION`]), which
/// also rolls back the retirement. Affects 1 row on success.
pub const ROTATE: &str = "WITH cur AS ( \
       SELECT id FROM keys \
       WHERE id = $1::text::uuid AND state = 'active' \
         AND lineage_id = $3::text::uuid AND version + 1 = $4::int4 \
       FOR UPDATE \
     ), retired AS ( \
       UPDATE keys SET state = 'retired' FROM cur WHERE keys.id = cur.id RETURNING keys.id \
     ) \
     INSERT INTO keys (id, lineage_id, version, parent_id, algorithm, state, created_at, \
       labels, sealed_material, seal_key_id) \
     SELECT $2::text::uuid, $3::text::uuid, $4::int4, $5::text::uuid, $6::text, $7::text, \
       $8::int8, $9::text::jsonb, $10::bytea, $11::text \
     FROM retired";

/// Move key `$1` (text) from state `$2` to `$3` (text). Affects 1 row on
/// success, 0 when the key is missing or not in `$2` (then read
/// [`LINEAGE_AND_ACTIVE`]); fails with a unique violation when `$3` is
/// `active` and the lineage has an active key already.
pub const UPDATE_STATE: &str =
    "UPDATE keys SET state = $3::text WHERE id = $1::text::uuid AND state = $2::text";

/// Erase key `$1`'s (text) sealed material and mark it `destroyed`, if it is
/// in state `$2` (text). Affects 1 row on success, 0 otherwise (then read
/// [`LINEAGE_AND_ACTIVE`]).
pub const DESTROY: &str = "UPDATE keys SET state = 'destroyed', sealed_material = ''::bytea \
     WHERE id = $1::text::uuid AND state = $2::text";

/// Append an audit event; the database assigns `seq`. Parameters: `$1` at
/// (int8), `$2` action, `$3` key id (nullable text), `$4` lineage id
/// (nullable text), `$5` actor, `$6` outcome (text).
pub const APPEND_AUDIT: &str = "INSERT INTO audit_events \
     (at, action, key_id, lineage_id, actor, outcome) \
     VALUES ($1::int8, $2::text, $3::text::uuid, $4::text::uuid, $5::text, $6::text)";

/// Audit events matching a filter, oldest first. Parameters: `$1` key id
/// (nullable text), `$2` lineage id (nullable text), `$3` after seq
/// (nullable int8), `$4` limit (int8). Returns [`AUDIT_COLUMNS`].
pub const AUDIT: &str = "SELECT seq, at, action, key_id::text, lineage_id::text, actor, \
     outcome FROM audit_events \
     WHERE ($1::text IS NULL OR key_id = $1::text::uuid) \
       AND ($2::text IS NULL OR lineage_id = $2::text::uuid) \
       AND ($3::int8 IS NULL OR seq > $3::int8) \
     ORDER BY seq LIMIT $4::int8";

/// Up to `$2` (int8) records with material not sealed under master key `$1`
/// (text), ordered by id and after id `$3` (nullable text). Destroyed
/// records (no material) are skipped. Returns [`KEY_COLUMNS`]. Used by the
/// host's `reseal` command.
pub const RESEAL_BATCH: &str = concat!(
    key_select!(),
    " WHERE seal_key_id <> $1::text AND state <> 'destroyed'",
    " AND ($3::text IS NULL OR id > $3::text::uuid)",
    " ORDER BY id LIMIT $2::int8"
);

/// Replace key `$1`'s (text) sealed material with `$2` (bytea) under master
/// key `$3` (text), only if it is still sealed under `$4` (text) and not
/// destroyed. Affects 1 row, or 0 when the record changed meanwhile.
pub const RESEAL_ONE: &str = "UPDATE keys SET sealed_material = $2::bytea, \
     seal_key_id = $3::text \
     WHERE id = $1::text::uuid AND seal_key_id = $4::text AND state <> 'destroyed'";

/// How many records are sealed under each master key. Columns:
/// `seal_key_id` (text), `count` (int8).
pub const COUNT_BY_SEAL_KEY: &str = "SELECT seal_key_id, COUNT(*)::int8 FROM keys \
     WHERE state <> 'destroyed' GROUP BY seal_key_id ORDER BY seal_key_id";

/// SQLSTATE of a unique violation: a `conflict` naming the active key.
pub const SQLSTATE_UNIQUE_VIOLATION: &str = "23505";

/// What a store error with this SQLSTATE means to the component.
pub fn classify_sqlstate(code: &str) -> ErrorClass {
    match code {
        SQLSTATE_UNIQUE_VIOLATION => ErrorClass::Conflict,
        // 08: connection exception; 53: insufficient resources; 57: operator
        // intervention (shutdown, statement timeout 57014); 40001/40P01:
        // serialization failure and deadlock, worth a retry.
        c if c.starts_with("08") || c.starts_with("53") || c.starts_with("57") => {
            ErrorClass::Unavailable
        }
        "40001" | "40P01" => ErrorClass::Unavailable,
        _ => ErrorClass::Internal,
    }
}

/// The store error a database error maps to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// `conflict`, naming the lineage's active key.
    Conflict,
    /// `unavailable`: the database is unreachable, shutting down or slow.
    Unavailable,
    /// `internal`: any other fault.
    Internal,
}

/// The type of one parameter or column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ColumnType {
    /// `text`, never NULL.
    Text,
    /// `text` or NULL.
    NullableText,
    /// `int4`.
    Int4,
    /// `int8`.
    Int8,
    /// `bytea`.
    Bytea,
}

/// One statement parameter, for the client to convert to its own type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Param {
    /// `text`, or NULL when `None`.
    Text(Option<String>),
    /// `int4`.
    Int4(i32),
    /// `int8`, or NULL when `None`.
    Int8(Option<i64>),
    /// `bytea`: sealed material only.
    Bytea(Vec<u8>),
}

/// One column value as read from a row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cell {
    /// `text`, or NULL when `None`.
    Text(Option<String>),
    /// `int4`.
    Int4(i32),
    /// `int8`.
    Int8(i64),
    /// `bytea`.
    Bytea(Vec<u8>),
}

/// A `keys` row in client-neutral form. Ids are UUIDs as text; `algorithm`
/// and `state` use the API names (`aes-256-gcm`, `active`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRow {
    /// The key's id.
    pub id: String,
    /// Its lineage's id.
    pub lineage_id: String,
    /// Version within the lineage, from 1.
    pub version: u32,
    /// The key it replaced.
    pub parent_id: Option<String>,
    /// Algorithm name.
    pub algorithm: String,
    /// State name.
    pub state: String,
    /// Milliseconds since the Unix epoch.
    pub created_at: u64,
    /// Labels, sorted by name.
    pub labels: Vec<(String, String)>,
    /// Sealed material (ciphertext), empty once destroyed.
    pub sealed_material: Vec<u8>,
    /// Fingerprint of the master key that sealed the material.
    pub seal_key_id: String,
}

impl KeyRow {
    /// The ten parameters of [`INSERT`] (and `$2..$11` of [`ROTATE`]), in
    /// [`KEY_COLUMNS`] order.
    pub fn params(&self) -> Result<Vec<Param>, RowError> {
        let version = i32::try_from(self.version).map_err(|_| RowError("version out of range"))?;
        let created =
            i64::try_from(self.created_at).map_err(|_| RowError("created_at out of range"))?;
        Ok(vec![
            Param::Text(Some(self.id.clone())),
            Param::Text(Some(self.lineage_id.clone())),
            Param::Int4(version),
            Param::Text(self.parent_id.clone()),
            Param::Text(Some(self.algorithm.clone())),
            Param::Text(Some(self.state.clone())),
            Param::Int8(Some(created)),
            Param::Text(Some(labels_to_json(&self.labels))),
            Param::Bytea(self.sealed_material.clone()),
            Param::Text(Some(self.seal_key_id.clone())),
        ])
    }

    /// A row from its cells, read in [`KEY_COLUMNS`] order.
    pub fn from_cells(cells: Vec<Cell>) -> Result<KeyRow, RowError> {
        let mut it = cells.into_iter();
        let mut next = || it.next().ok_or(RowError("too few columns"));
        let id = text(next()?)?;
        let lineage_id = text(next()?)?;
        let version = match next()? {
            Cell::Int4(v) => u32::try_from(v).map_err(|_| RowError("negative version"))?,
            _ => return Err(RowError("version is not int4")),
        };
        let parent_id = nullable_text(next()?)?;
        let algorithm = text(next()?)?;
        let state = text(next()?)?;
        let created_at = match next()? {
            Cell::Int8(v) => u64::try_from(v).map_err(|_| RowError("negative created_at"))?,
            _ => return Err(RowError("created_at is not int8")),
        };
        let labels = labels_from_json(&text(next()?)?)?;
        let sealed_material = match next()? {
            Cell::Bytea(b) => b,
            _ => return Err(RowError("sealed_material is not bytea")),
        };
        let seal_key_id = text(next()?)?;
        Ok(KeyRow {
            id,
            lineage_id,
            version,
            parent_id,
            algorithm,
            state,
            created_at,
            labels,
            sealed_material,
            seal_key_id,
        })
    }
}

/// An `audit_events` row in client-neutral form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRow {
    /// Position in the trail.
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub at: u64,
    /// What happened.
    pub action: String,
    /// The key acted on.
    pub key_id: Option<String>,
    /// Its lineage.
    pub lineage_id: Option<String>,
    /// Who asked.
    pub actor: String,
    /// `success` or an error code.
    pub outcome: String,
}

impl AuditRow {
    /// The six parameters of [`APPEND_AUDIT`] (`seq` is the database's).
    pub fn params(&self) -> Result<Vec<Param>, RowError> {
        let at = i64::try_from(self.at).map_err(|_| RowError("at out of range"))?;
        Ok(vec![
            Param::Int8(Some(at)),
            Param::Text(Some(self.action.clone())),
            Param::Text(self.key_id.clone()),
            Param::Text(self.lineage_id.clone()),
            Param::Text(Some(self.actor.clone())),
            Param::Text(Some(self.outcome.clone())),
        ])
    }

    /// A row from its cells, read in [`AUDIT_COLUMNS`] order.
    pub fn from_cells(cells: Vec<Cell>) -> Result<AuditRow, RowError> {
        let mut it = cells.into_iter();
        let mut next = || it.next().ok_or(RowError("too few columns"));
        let mut int8 = |what| match next()? {
            Cell::Int8(v) => u64::try_from(v).map_err(|_| RowError(what)),
            _ => Err(RowError(what)),
        };
        let seq = int8("seq is not a positive int8")?;
        let at = int8("at is not a positive int8")?;
        let rest: Vec<Cell> = it.collect();
        let [action, key_id, lineage_id, actor, outcome]: [Cell; 5] = rest
            .try_into()
            .map_err(|_| RowError("audit row has the wrong width"))?;
        Ok(AuditRow {
            seq,
            at,
            action: text(action)?,
            key_id: nullable_text(key_id)?,
            lineage_id: nullable_text(lineage_id)?,
            actor: text(actor)?,
            outcome: text(outcome)?,
        })
    }
}

/// The parameters of [`LIST`].
pub fn list_params(
    lineage_id: Option<String>,
    state: Option<String>,
    after: Option<String>,
    limit: u32,
) -> Vec<Param> {
    vec![
        Param::Text(lineage_id),
        Param::Text(state),
        Param::Text(after),
        Param::Int8(Some(i64::from(limit))),
    ]
}

/// The parameters of [`AUDIT`]. An `after` beyond `i64::MAX` matches nothing
/// and is clamped.
pub fn audit_params(
    key_id: Option<String>,
    lineage_id: Option<String>,
    after: Option<u64>,
    limit: u32,
) -> Vec<Param> {
    let after = after.map(|a| i64::try_from(a).unwrap_or(i64::MAX));
    vec![
        Param::Text(key_id),
        Param::Text(lineage_id),
        Param::Int8(after),
        Param::Int8(Some(i64::from(limit))),
    ]
}

/// Labels as the JSON object stored in `keys.labels`.
pub fn labels_to_json(labels: &[(String, String)]) -> String {
    let map: serde_json::Map<String, serde_json::Value> = labels
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// Labels from `keys.labels`, sorted by name.
pub fn labels_from_json(json: &str) -> Result<Vec<(String, String)>, RowError> {
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|_| RowError("labels are not JSON"))?;
    let serde_json::Value::Object(map) = value else {
        return Err(RowError("labels are not a JSON object"));
    };
    let mut labels = map
        .into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => Ok((k, s)),
            _ => Err(RowError("a label value is not a string")),
        })
        .collect::<Result<Vec<_>, _>>()?;
    labels.sort();
    Ok(labels)
}

fn text(cell: Cell) -> Result<String, RowError> {
    nullable_text(cell)?.ok_or(RowError("unexpected NULL"))
}

fn nullable_text(cell: Cell) -> Result<Option<String>, RowError> {
    match cell {
        Cell::Text(t) => Ok(t),
        _ => Err(RowError("column is not text")),
    }
}

/// A row that does not have the expected shape. Carries no row data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowError(pub &'static str);

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed row: {}", self.0)
    }
}

impl std::error::Error for RowError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> KeyRow {
        KeyRow {
            id: "00000000-0000-0000-0000-000000000002".into(),
            lineage_id: "00000000-0000-0000-0000-000000000001".into(),
            version: 2,
            parent_id: Some("00000000-0000-0000-0000-000000000001".into()),
            algorithm: "aes-256-gcm".into(),
            state: "active".into(),
            created_at: 1_700_000_000_000,
            labels: vec![("env".into(), "prod".into()), ("team".into(), "a".into())],
            sealed_material: vec![1, 2, 3],
            seal_key_id: "00112233aabbccdd".into(),
        }
    }

    fn cells_of(params: Vec<Param>) -> Vec<Cell> {
        params
            .into_iter()
            .map(|p| match p {
                Param::Text(t) => Cell::Text(t),
                Param::Int4(v) => Cell::Int4(v),
                Param::Int8(v) => Cell::Int8(v.unwrap()),
                Param::Bytea(b) => Cell::Bytea(b),
            })
            .collect()
    }

    #[test]
    fn a_key_row_survives_params_and_cells() {
        let row = row();
        let params = row.params().unwrap();
        assert_eq!(params.len(), KEY_COLUMNS.len());
        assert_eq!(KeyRow::from_cells(cells_of(params)).unwrap(), row);
    }

    #[test]
    fn an_audit_row_survives_params_and_cells() {
        let row = AuditRow {
            seq: 7,
            at: 5,
            action: "rotated".into(),
            key_id: Some("k".into()),
            lineage_id: None,
            actor: "anonymous".into(),
            outcome: "success".into(),
        };
        let mut cells = vec![Cell::Int8(7)];
        cells.extend(cells_of(row.params().unwrap()));
        assert_eq!(cells.len(), AUDIT_COLUMNS.len());
        assert_eq!(AuditRow::from_cells(cells).unwrap(), row);
    }

    #[test]
    fn labels_come_back_sorted_by_name() {
        let json = r#"{"zeta":"1","alpha":"2"}"#;
        let labels = labels_from_json(json).unwrap();
        assert_eq!(labels[0].0, "alpha");
        assert!(labels_from_json(r#"{"a":1}"#).is_err());
        assert!(labels_from_json("[]").is_err());
    }

    #[test]
    fn malformed_rows_are_errors_not_panics() {
        assert!(KeyRow::from_cells(vec![]).is_err());
        let mut cells = cells_of(row().params().unwrap());
        cells[2] = Cell::Int4(-1);
        assert!(KeyRow::from_cells(cells).is_err());
        assert!(AuditRow::from_cells(vec![Cell::Int8(1)]).is_err());
    }

    #[test]
    fn sqlstates_map_to_store_errors() {
        assert_eq!(classify_sqlstate("23505"), ErrorClass::Conflict);
        assert_eq!(classify_sqlstate("08006"), ErrorClass::Unavailable);
        assert_eq!(classify_sqlstate("57014"), ErrorClass::Unavailable);
        assert_eq!(classify_sqlstate("42P01"), ErrorClass::Internal);
    }

    #[test]
    fn every_statement_names_the_keys_table_or_the_audit_table() {
        for sql in [
            GET,
            ACTIVE,
            LIST,
            LINEAGE,
            ROTATE,
            INSERT,
            UPDATE_STATE,
            DESTROY,
        ] {
            assert!(sql.contains("keys"), "{sql}");
        }
        for sql in [APPEND_AUDIT, AUDIT] {
            assert!(sql.contains("audit_events"), "{sql}");
        }
    }
}
