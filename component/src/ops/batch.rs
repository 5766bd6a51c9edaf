//! Batches: many encrypt, decrypt or rewrap items in one call, each with
//! its own result, in the order given. One item's failure never stops the
//! others; only a batch over the cap is refused as a whole.

use crate::error::KmsError;

/// Most items one batch may carry.
// TODO(issue 5): make the cap configurable (a `max_batch_items` setting)
// once the configuration grows; the body-size limit bounds it meanwhile.
pub const MAX_BATCH_ITEMS: usize = 1000;

/// Refuse a batch of more than [`MAX_BATCH_ITEMS`] items.
pub fn check_batch_len(len: usize) -> Result<(), KmsError> {
    if len > MAX_BATCH_ITEMS {
        return Err(KmsError::InvalidInput(format!(
            "a batch holds at most {MAX_BATCH_ITEMS} items; this one has {len}"
        )));
    }
    Ok(())
}

/// Run `op` on every item, in order, after checking the cap.
pub fn run<T, R>(
    items: Vec<T>,
    op: impl FnMut(T) -> Result<R, KmsError>,
) -> Result<Vec<Result<R, KmsError>>, KmsError> {
    check_batch_len(items.len())?;
    Ok(items.into_iter().map(op).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::testing::master_keys;
    use crate::ops::{CreateOptions, Kms};
    use crate::store::MemoryStore;

    #[test]
    fn results_keep_the_order_and_failures_stay_with_their_item() {
        let store = MemoryStore::new();
        let keys = master_keys();
        let kms = Kms::new(&store, &keys);
        let key = kms.create(CreateOptions::default()).unwrap();
        let missing = uuid::Uuid::from_u128(9);
        let items = vec![(key.id, &b"a"[..]), (missing, b"b"), (key.id, b"")];

        let results = run(items, |(id, plain)| kms.encrypt(id, plain, b"")).unwrap();
        assert_eq!(results.len(), 3);
        let env = |i: usize| results[i].as_ref().map(|(e, _)| e.clone()).unwrap();
        assert_eq!(&*kms.decrypt(&env(0), b"").unwrap().0, b"a");
        assert!(matches!(results[1], Err(KmsError::NotFound(_))));
        assert_eq!(&*kms.decrypt(&env(2), b"").unwrap().0, b"");
    }

    #[test]
    fn a_batch_over_the_cap_is_refused_whole() {
        let mut calls = 0;
        let full = run(vec![(); MAX_BATCH_ITEMS], |()| {
            calls += 1;
            Ok(())
        });
        assert_eq!(full.map(|r| r.len()), Ok(MAX_BATCH_ITEMS));
        let over = run(vec![(); MAX_BATCH_ITEMS + 1], |()| {
            calls += 1;
            Ok(())
        });
        assert!(matches!(over, Err(KmsError::InvalidInput(_))));
        assert_eq!(calls, MAX_BATCH_ITEMS);
    }
}
