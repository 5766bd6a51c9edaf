//! Schema migrations from `migrations/`, run with refinery under a
//! PostgreSQL advisory lock: replicas that start together queue on the
//! lock, the first applies what is missing and the others find nothing to
//! do, so every migration runs exactly once.

use std::time::Duration;

use anyhow::Context as _;

use super::tls::DbUrl;

refinery::embed_migrations!("../migrations");

/// The advisory lock key ("QIMEM" in ASCII) that serialises migrations.
pub const MIGRATION_LOCK: i64 = 0x51_49_4d_45_4d;

/// Apply every pending migration; the names of those applied here.
pub async fn run(url: &DbUrl, connect_timeout: Duration) -> anyhow::Result<Vec<String>> {
    let mut config = url.config.clone();
    config.connect_timeout(connect_timeout);
    let tls = url.tls().map_err(anyhow::Error::msg)?;
    let (mut client, connection) = config
        .connect(tls)
        .await
        .with_context(|| format!("cannot connect to PostgreSQL at {}", url.describe()))?;
    let driver = tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "migration connection closed");
        }
    });

    // The lock is held by this session until unlocked or disconnected, so
    // a replica that dies mid-migration never leaves it taken.
    client
        .batch_execute(&format!(
            "SET statement_timeout = 0; SELECT pg_advisory_lock({MIGRATION_LOCK})"
        ))
        .await
        .context("cannot take the migration lock")?;
    let report = migrations::runner()
        .set_abort_divergent(true)
        .run_async(&mut client)
        .await;
    let unlock = client
        .batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
        .await;
    drop(client);
    let _ = driver.await;

    let report = report.context("database migration failed")?;
    unlock.context("cannot release the migration lock")?;
    Ok(report
        .applied_migrations()
        .iter()
        .map(|m| m.to_string())
        .collect())
}
