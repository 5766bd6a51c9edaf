//! `qimem reseal`: move every key record under the current master key.
//!
//! Records are read in batches of records not yet sealed under the current
//! master key, ordered by id; each is unsealed with whichever configured key
//! sealed it (`QIMEM_MASTER_KEY` or `QIMEM_MASTER_KEY_PREVIOUS`) and sealed
//! again under the current one. Each update is a compare-and-set on the
//! old fingerprint, so running replicas and a second `reseal` are safe.
//! Unsealed material lives only in the component's zeroizing
//! `KeyMaterial` for the moment between the two steps.

use qimem_component::error::KmsError;
use qimem_component::seal::{MasterKey, MasterKeys};
use uuid::Uuid;

use crate::store::postgres::PgStore;

/// What one `reseal` run did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ResealReport {
    /// Records now sealed under the current master key.
    pub resealed: u64,
    /// Records changed by someone else meanwhile (left as they are).
    pub skipped: u64,
    /// Records that could not be unsealed (their master key is not
    /// configured, or the record is corrupt).
    pub failed: u64,
}

/// Master keys from configuration text (already validated at start).
pub fn master_keys(current: &str, previous: Option<&str>) -> anyhow::Result<MasterKeys> {
    let current = MasterKey::parse(current).map_err(|_| anyhow::anyhow!("bad QIMEM_MASTER_KEY"))?;
    let previous = previous
        .map(MasterKey::parse)
        .transpose()
        .map_err(|_| anyhow::anyhow!("bad QIMEM_MASTER_KEY_PREVIOUS"))?;
    Ok(MasterKeys::new(current, previous))
}

/// Reseal every record not sealed under `keys`' current master key.
pub async fn reseal(
    store: &PgStore,
    keys: &MasterKeys,
    batch_size: u32,
) -> anyhow::Result<ResealReport> {
    let current = keys.current_fingerprint().to_string();
    let mut report = ResealReport::default();
    let mut after: Option<Uuid> = None;
    loop {
        let batch = store
            .reseal_batch(&current, batch_size, after)
            .await
            .map_err(KmsError::from)?;
        let Some(last) = batch.last() else {
            break;
        };
        after = Some(last.id);
        for mut record in batch {
            let old = record.seal_key_id.clone();
            let material = match keys.unseal(&record) {
                Ok(material) => material,
                Err(e) => {
                    tracing::warn!(key_id = %record.id, error = %e, "cannot reseal");
                    report.failed += 1;
                    continue;
                }
            };
            keys.seal(&mut record, &material)?;
            drop(material);
            if store
                .reseal_one(&record, &old)
                .await
                .map_err(KmsError::from)?
            {
                report.resealed += 1;
            } else {
                report.skipped += 1;
            }
        }
        tracing::info!(
            resealed = report.resealed,
            skipped = report.skipped,
            failed = report.failed,
            "reseal batch done"
        );
    }
    Ok(report)
}
