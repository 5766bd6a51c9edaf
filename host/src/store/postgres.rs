//! The `qimem:kms/store` import on PostgreSQL (stateful mode).
//!
//! Every statement comes from `qimem-store-sql`, which the Spin adapter
//! shares, so both run the same SQL against the same schema
//! (`migrations/`). Connections come from a deadpool pool; every operation
//! is bounded by the statement timeout both in the server
//! (`statement_timeout`) and here, so a request never hangs on a database
//! that stopped answering: it fails with `unavailable` (HTTP 503) instead.
//!
//! Logged: the database's host, port and name, and error kinds. Never
//! logged: the URL's password, record contents.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use qimem_component::error::StoreError;
use qimem_component::model::{
    Algorithm, AuditEvent, AuditFilter, KeyRecord, KeyState, RecordFilter,
};
use qimem_store_sql as sql;
use qimem_store_sql::{AuditRow, Cell, ColumnType, ErrorClass, KeyRow, Param};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::tls::DbUrl;

/// Longest wait for the health check's `SELECT 1`.
pub const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// Connection settings of the stateful store.
#[derive(Clone)]
pub struct PgSettings {
    /// The parsed `DATABASE_URL`.
    pub url: DbUrl,
    /// Most connections open at once (`QIMEM_DB_POOL_SIZE`).
    pub pool_size: usize,
    /// Longest wait for a new connection (`QIMEM_DB_CONNECT_TIMEOUT_MS`).
    pub connect_timeout: Duration,
    /// Longest run of one statement (`QIMEM_DB_STATEMENT_TIMEOUT_MS`).
    pub statement_timeout: Duration,
}

/// Sealed key records and the audit trail in PostgreSQL.
pub struct PgStore {
    pool: Pool,
    timeout: Duration,
}

impl PgStore {
    /// A pool for `settings`. Connects lazily: the first use opens the
    /// first connection.
    pub fn new(settings: &PgSettings) -> Result<PgStore, String> {
        let mut config = settings.url.config.clone();
        config.connect_timeout(settings.connect_timeout);
        config.options(format!(
            "-c statement_timeout={}",
            settings.statement_timeout.as_millis()
        ));
        let manager = Manager::from_config(
            config,
            settings.url.tls()?,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(settings.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(settings.statement_timeout))
            .create_timeout(Some(settings.connect_timeout))
            .recycle_timeout(Some(settings.connect_timeout))
            .build()
            .map_err(|e| format!("cannot build the database pool: {e}"))?;
        // A little slack over the server-side timeout, so the server's
        // cancellation usually wins and the connection stays usable.
        let timeout = settings.statement_timeout + settings.connect_timeout;
        Ok(PgStore { pool, timeout })
    }

    /// Run `statement` with `params`; the number of rows affected.
    async fn execute(&self, statement: &'static str, params: &[Param]) -> Result<u64, StoreError> {
        let params = params.to_vec();
        self.spawn(move |pool| async move {
            let client = pool.get().await.map_err(pool_error)?;
            let prepared = client.prepare_cached(statement).await.map_err(db_error)?;
            client
                .execute(&prepared, &to_sql(&params))
                .await
                .map_err(db_error)
        })
        .await
    }

    /// Run `statement` with `params`; its rows.
    async fn query(
        &self,
        statement: &'static str,
        params: &[Param],
    ) -> Result<Vec<Row>, StoreError> {
        let params = params.to_vec();
        self.spawn(move |pool| async move {
            let client = pool.get().await.map_err(pool_error)?;
            let prepared = client.prepare_cached(statement).await.map_err(db_error)?;
            client
                .query(&prepared, &to_sql(&params))
                .await
                .map_err(db_error)
        })
        .await
    }

    /// Run database work as its own task, bounded by the timeout.
    ///
    /// The store import is called on a component instance's fiber, whose
    /// stack is small; connecting (TLS included) and querying run on a
    /// tokio worker's stack instead.
    async fn spawn<T, F>(
        &self,
        work: impl FnOnce(Pool) -> F + Send + 'static,
    ) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        let task = tokio::spawn(tokio::time::timeout(self.timeout, work(self.pool.clone())));
        match task.await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(StoreError::Unavailable("database timed out".into())),
            Err(_) => Err(StoreError::Internal("database task failed".into())),
        }
    }

    async fn records(
        &self,
        statement: &'static str,
        params: &[Param],
    ) -> Result<Vec<KeyRecord>, StoreError> {
        self.query(statement, params)
            .await?
            .iter()
            .map(key_record)
            .collect()
    }

    /// The active key of `lineage_id`, for a conflict answer.
    async fn active_id(&self, lineage_id: Uuid) -> Result<Option<Uuid>, StoreError> {
        let rows = self.query(sql::ACTIVE_ID, &[text(lineage_id)]).await?;
        rows.first().map(|r| uuid_cell(r, 0)).transpose()
    }

    /// After a change that affected no row: `not-found` when key `id` does
    /// not exist, else `conflict` naming its lineage's active key.
    async fn explain_miss(&self, id: Uuid) -> StoreError {
        let rows = match self.query(sql::LINEAGE_AND_ACTIVE, &[text(id)]).await {
            Ok(rows) => rows,
            Err(e) => return e,
        };
        let Some(row) = rows.first() else {
            return StoreError::NotFound;
        };
        match row.try_get::<_, Option<String>>(1) {
            Ok(active) => StoreError::Conflict(active.and_then(|a| Uuid::try_parse(&a).ok())),
            Err(_) => StoreError::Internal("malformed row".into()),
        }
    }

    /// A unique violation becomes `conflict` naming the active key.
    async fn on_conflict(&self, e: StoreError, lineage_id: Uuid) -> StoreError {
        match e {
            StoreError::Conflict(None) => match self.active_id(lineage_id).await {
                Ok(active) => StoreError::Conflict(active),
                Err(e) => e,
            },
            other => other,
        }
    }

    /// A reader of the pool's state as (in use, idle, waiting), for metrics.
    pub fn pool_gauges(&self) -> impl Fn() -> (i64, i64, i64) + Send + Sync + 'static {
        let pool = self.pool.clone();
        move || {
            let status = pool.status();
            let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
            (
                gauge(status.size.saturating_sub(status.available)),
                gauge(status.available),
                gauge(status.waiting),
            )
        }
    }

    /// Whether the database answers `SELECT 1` within [`PING_TIMEOUT`].
    pub async fn ping(&self) -> Result<(), StoreError> {
        tokio::time::timeout(PING_TIMEOUT, self.query(sql::PING, &[]))
            .await
            .unwrap_or_else(|_| Err(StoreError::Unavailable("database timed out".into())))
            .map(drop)
    }

    /// See `qimem:kms/store.insert`.
    pub async fn insert(&self, record: &KeyRecord) -> Result<(), StoreError> {
        let params = key_params(record)?;
        let inserted = match self.execute(sql::INSERT, &params).await {
            Ok(n) => n,
            Err(e) => return Err(self.on_conflict(e, record.lineage_id).await),
        };
        if inserted == 1 {
            return Ok(());
        }
        Err(StoreError::Conflict(
            self.active_id(record.lineage_id).await?,
        ))
    }

    /// See `qimem:kms/store.get`.
    pub async fn get(&self, id: Uuid) -> Result<Option<KeyRecord>, StoreError> {
        Ok(self.records(sql::GET, &[text(id)]).await?.pop())
    }

    /// See `qimem:kms/store.active`.
    pub async fn active(&self, lineage_id: Uuid) -> Result<Option<KeyRecord>, StoreError> {
        Ok(self.records(sql::ACTIVE, &[text(lineage_id)]).await?.pop())
    }

    /// See `qimem:kms/store.list`.
    pub async fn list(&self, filter: &RecordFilter) -> Result<Vec<KeyRecord>, StoreError> {
        let params = sql::list_params(
            filter.lineage_id.map(|l| l.to_string()),
            filter.state.map(|s| s.name().to_string()),
            filter.after.map(|a| a.to_string()),
            filter.limit,
        );
        self.records(sql::LIST, &params).await
    }

    /// See `qimem:kms/store.lineage`.
    pub async fn lineage(&self, lineage_id: Uuid) -> Result<Vec<KeyRecord>, StoreError> {
        self.records(sql::LINEAGE, &[text(lineage_id)]).await
    }

    /// See `qimem:kms/store.rotate`: one statement locks the predecessor
    /// row, retires it and inserts the successor.
    pub async fn rotate(&self, current: Uuid, successor: &KeyRecord) -> Result<(), StoreError> {
        let mut params = vec![text(current)];
        params.extend(key_params(successor)?);
        let inserted = match self.execute(sql::ROTATE, &params).await {
            Ok(n) => n,
            Err(e) => return Err(self.on_conflict(e, successor.lineage_id).await),
        };
        if inserted == 1 {
            return Ok(());
        }
        Err(self.explain_miss(current).await)
    }

    /// See `qimem:kms/store.update-state`.
    pub async fn update_state(
        &self,
        id: Uuid,
        expected: KeyState,
        next: KeyState,
    ) -> Result<(), StoreError> {
        let params = [text(id), name(expected.name()), name(next.name())];
        match self.execute(sql::UPDATE_STATE, &params).await {
            Ok(1) => Ok(()),
            Ok(_) => Err(self.explain_miss(id).await),
            Err(StoreError::Conflict(None)) => Err(self.explain_miss(id).await),
            Err(e) => Err(e),
        }
    }

    /// See `qimem:kms/store.destroy`.
    pub async fn destroy(&self, id: Uuid, expected: KeyState) -> Result<(), StoreError> {
        let params = [text(id), name(expected.name())];
        match self.execute(sql::DESTROY, &params).await? {
            1 => Ok(()),
            _ => Err(self.explain_miss(id).await),
        }
    }

    /// See `qimem:kms/store.append-audit`.
    pub async fn append_audit(&self, event: &AuditEvent) -> Result<(), StoreError> {
        let row = AuditRow {
            seq: 0,
            at: event.at,
            action: event.action.clone(),
            key_id: event.key_id.map(|k| k.to_string()),
            lineage_id: event.lineage_id.map(|l| l.to_string()),
            actor: event.actor.clone(),
            outcome: event.outcome.clone(),
        };
        let params = row.params().map_err(row_error)?;
        self.execute(sql::APPEND_AUDIT, &params).await.map(drop)
    }

    /// See `qimem:kms/store.audit`.
    pub async fn audit(&self, filter: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError> {
        let params = sql::audit_params(
            filter.key_id.map(|k| k.to_string()),
            filter.lineage_id.map(|l| l.to_string()),
            filter.after,
            filter.limit,
        );
        let rows = self.query(sql::AUDIT, &params).await?;
        rows.iter()
            .map(|r| {
                let row =
                    AuditRow::from_cells(cells(r, &sql::AUDIT_COLUMNS)?).map_err(row_error)?;
                Ok(AuditEvent {
                    seq: row.seq,
                    at: row.at,
                    action: row.action,
                    key_id: row.key_id.as_deref().map(parse_uuid).transpose()?,
                    lineage_id: row.lineage_id.as_deref().map(parse_uuid).transpose()?,
                    actor: row.actor,
                    outcome: row.outcome,
                })
            })
            .collect()
    }

    /// Up to `limit` records not sealed under `seal_key_id`, after `after`.
    pub async fn reseal_batch(
        &self,
        seal_key_id: &str,
        limit: u32,
        after: Option<Uuid>,
    ) -> Result<Vec<KeyRecord>, StoreError> {
        let params = [
            name(seal_key_id),
            Param::Int8(Some(i64::from(limit))),
            Param::Text(after.map(|a| a.to_string())),
        ];
        self.records(sql::RESEAL_BATCH, &params).await
    }

    /// Store `record`'s new sealing if it is still sealed under `old`;
    /// whether it was.
    pub async fn reseal_one(&self, record: &KeyRecord, old: &str) -> Result<bool, StoreError> {
        let params = [
            text(record.id),
            Param::Bytea(record.sealed.clone()),
            name(&record.seal_key_id),
            name(old),
        ];
        Ok(self.execute(sql::RESEAL_ONE, &params).await? == 1)
    }

    /// How many live records each master key sealed.
    pub async fn count_by_seal_key(&self) -> Result<Vec<(String, i64)>, StoreError> {
        let rows = self.query(sql::COUNT_BY_SEAL_KEY, &[]).await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0).map_err(db_error)?,
                    r.try_get(1).map_err(db_error)?,
                ))
            })
            .collect()
    }
}

fn text(id: Uuid) -> Param {
    Param::Text(Some(id.to_string()))
}

fn name(s: &str) -> Param {
    Param::Text(Some(s.to_string()))
}

fn to_sql(params: &[Param]) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| match p {
            Param::Text(t) => t as &(dyn ToSql + Sync),
            Param::Int4(v) => v,
            Param::Int8(v) => v,
            Param::Bytea(b) => b,
        })
        .collect()
}

fn cells(row: &Row, types: &[ColumnType]) -> Result<Vec<Cell>, StoreError> {
    types
        .iter()
        .enumerate()
        .map(|(i, ty)| {
            Ok(match ty {
                ColumnType::Text | ColumnType::NullableText => {
                    Cell::Text(row.try_get(i).map_err(db_error)?)
                }
                ColumnType::Int4 => Cell::Int4(row.try_get(i).map_err(db_error)?),
                ColumnType::Int8 => Cell::Int8(row.try_get(i).map_err(db_error)?),
                ColumnType::Bytea => Cell::Bytea(row.try_get(i).map_err(db_error)?),
            })
        })
        .collect()
}

fn uuid_cell(row: &Row, i: usize) -> Result<Uuid, StoreError> {
    let text: String = row.try_get(i).map_err(db_error)?;
    parse_uuid(&text)
}

fn parse_uuid(text: &str) -> Result<Uuid, StoreError> {
    Uuid::try_parse(text).map_err(|_| StoreError::Internal("malformed key id in database".into()))
}

/// A `keys` row as a record.
pub fn key_record(row: &Row) -> Result<KeyRecord, StoreError> {
    let row = KeyRow::from_cells(cells(row, &sql::KEY_COLUMNS)?).map_err(row_error)?;
    Ok(KeyRecord {
        id: parse_uuid(&row.id)?,
        lineage_id: parse_uuid(&row.lineage_id)?,
        version: row.version,
        parent_id: row.parent_id.as_deref().map(parse_uuid).transpose()?,
        algorithm: Algorithm::from_name(&row.algorithm)
            .ok_or_else(|| StoreError::Internal("unknown algorithm in database".into()))?,
        state: KeyState::from_name(&row.state)
            .ok_or_else(|| StoreError::Internal("unknown key state in database".into()))?,
        created_at: row.created_at,
        labels: row.labels,
        sealed: row.sealed_material,
        seal_key_id: row.seal_key_id,
    })
}

fn key_params(record: &KeyRecord) -> Result<Vec<Param>, StoreError> {
    KeyRow {
        id: record.id.to_string(),
        lineage_id: record.lineage_id.to_string(),
        version: record.version,
        parent_id: record.parent_id.map(|p| p.to_string()),
        algorithm: record.algorithm.name().to_string(),
        state: record.state.name().to_string(),
        created_at: record.created_at,
        labels: record.labels.clone(),
        sealed_material: record.sealed.clone(),
        seal_key_id: record.seal_key_id.clone(),
    }
    .params()
    .map_err(row_error)
}

fn row_error(e: sql::RowError) -> StoreError {
    StoreError::Internal(e.to_string())
}

/// A database error as the component sees it; the details go to the log.
pub fn db_error(e: tokio_postgres::Error) -> StoreError {
    let class = match e.code() {
        Some(state) => sql::classify_sqlstate(state.code()),
        // No SQLSTATE: the connection broke, closed or never opened.
        None => ErrorClass::Unavailable,
    };
    match class {
        ErrorClass::Conflict => StoreError::Conflict(None),
        ErrorClass::Unavailable => {
            tracing::warn!(error = %e, "database unavailable");
            StoreError::Unavailable("database unavailable".into())
        }
        ErrorClass::Internal => {
            tracing::error!(error = %e, "database error");
            StoreError::Internal("database error".into())
        }
    }
}

fn pool_error(e: PoolError) -> StoreError {
    match e {
        PoolError::Backend(e) => db_error(e),
        other => {
            tracing::warn!(error = %other, "database pool unavailable");
            StoreError::Unavailable("database unavailable".into())
        }
    }
}
