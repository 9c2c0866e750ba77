//! The open views database, shared by the fold and the API, which the fold closes and opens
//! again after a failed write: RocksDB refuses every write after one (a full disk, say) until
//! the database is reopened, even once space has returned.

use crate::error::StoreError;
use crate::store::Store;
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// The views, or nothing while they are being reopened.
pub struct SharedStore {
    path: PathBuf,
    current: RwLock<Option<Arc<Store>>>,
}

/// The views are closed for a moment (reopening after a failed write).
#[derive(Debug, thiserror::Error)]
#[error("the views are being reopened after a failed write; try again in a few seconds")]
pub struct ViewsClosed;

impl SharedStore {
    pub fn new(path: PathBuf, store: Store) -> Self {
        SharedStore { path, current: RwLock::new(Some(Arc::new(store))) }
    }

    /// The open database, for one request or one fold.
    pub fn get(&self) -> Result<Arc<Store>, ViewsClosed> {
        self.current.read().unwrap_or_else(PoisonError::into_inner).clone().ok_or(ViewsClosed)
    }

    /// Closes the database (waiting up to `wait` for the requests that hold it) and opens
    /// it again. Until it is open, [`SharedStore::get`] answers [`ViewsClosed`].
    pub async fn reopen(&self, wait: Duration) -> Result<(), StoreError> {
        let old = self.current.write().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(old) = old {
            let deadline = Instant::now() + wait;
            while Arc::strong_count(&old) > 1 && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            if Arc::strong_count(&old) > 1 {
                // Still in use: keep it, and try again later.
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(old);
                return Err(StoreError::Reopen(format!("the views are still in use after {wait:?}")));
            }
            // The last reference: RocksDB closes here and releases its lock.
            drop(old);
        }
        let path = self.path.clone();
        let store = tokio::task::spawn_blocking(move || Store::open(&path))
            .await
            .map_err(|e| StoreError::Reopen(format!("the open task failed: {e}")))??;
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(store));
        Ok(())
    }
}
