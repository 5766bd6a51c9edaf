//! `get`, `list` and `lineage`: metadata only, never material.

use uuid::Uuid;

use super::Kms;
use crate::error::KmsError;
use crate::model::{AuditEvent, AuditFilter, KeyRecord, RecordFilter, RecordPage};
use crate::store::Store;

/// Largest page a caller may ask for.
pub const MAX_PAGE: u32 = 1000;
/// Page size when the caller names none.
pub const DEFAULT_PAGE: u32 = 100;

impl<S: Store + ?Sized> Kms<'_, S> {
    /// The metadata of one key.
    pub fn get(&self, id: Uuid) -> Result<KeyRecord, KmsError> {
        self.record(id)
    }

    /// A page of keys ordered by id (so by creation time); `limit` 0 means
    /// the default page size.
    pub fn list(&self, filter: RecordFilter) -> Result<RecordPage, KmsError> {
        let limit = match filter.limit {
            0 => DEFAULT_PAGE,
            n if n > MAX_PAGE => {
                return Err(KmsError::InvalidInput(format!(
                    "limit must be 1 to {MAX_PAGE}"
                )));
            }
            n => n,
        };
        // Ask for one more than the page to learn whether another follows.
        let mut records = self.store.list(&RecordFilter {
            limit: limit + 1,
            ..filter
        })?;
        let next = if records.len() > limit as usize {
            records.truncate(limit as usize);
            records.last().map(|r| r.id)
        } else {
            None
        };
        Ok(RecordPage { records, next })
    }

    /// A page of the audit trail, oldest first.
    pub fn audit_trail(&self, filter: AuditFilter) -> Result<Vec<AuditEvent>, KmsError> {
        let limit = match filter.limit {
            0 => DEFAULT_PAGE,
            n if n > MAX_PAGE => {
                return Err(KmsError::InvalidInput(format!(
                    "limit must be 1 to {MAX_PAGE}"
                )));
            }
            n => n,
        };
        Ok(self.store.audit(&AuditFilter { limit, ..filter })?)
    }

    /// Every version of a lineage, oldest first.
    pub fn lineage(&self, lineage_id: Uuid) -> Result<Vec<KeyRecord>, KmsError> {
        let versions = self.store.lineage(lineage_id)?;
        if versions.is_empty() {
            return Err(KmsError::NotFound(format!(
                "lineage {lineage_id} not found"
            )));
        }
        Ok(versions)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::CreateOptions;
    use crate::ops::testing::master_keys;
    use crate::store::MemoryStore;

    #[test]
    fn pages_cover_every_key_exactly_once() {
        let store = MemoryStore::new();
        let keys = master_keys();
        let kms = Kms::new(&store, &keys);
        let mut made: Vec<Uuid> = (0..7)
            .map(|_| kms.create(CreateOptions::default()).unwrap().id)
            .collect();
        made.sort();

        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = kms
                .list(RecordFilter {
                    after,
                    limit: 3,
                    ..Default::default()
                })
                .unwrap();
            assert!(page.records.len() <= 3);
            seen.extend(page.records.iter().map(|r| r.id));
            match page.next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        assert_eq!(seen, made);
    }

    #[test]
    fn oversized_pages_and_unknown_keys_are_refused() {
        let store = MemoryStore::new();
        let keys = master_keys();
        let kms = Kms::new(&store, &keys);
        let filter = RecordFilter {
            limit: MAX_PAGE + 1,
            ..Default::default()
        };
        assert!(matches!(kms.list(filter), Err(KmsError::InvalidInput(_))));
        assert!(matches!(
            kms.get(Uuid::from_u128(5)),
            Err(KmsError::NotFound(_))
        ));
        assert!(matches!(
            kms.lineage(Uuid::from_u128(5)),
            Err(KmsError::NotFound(_))
        ));
    }
}
