//! The RocksDB database of the views: column families by purpose, one schema module each.
//!
//! Writes go through [`Store::commit`], which writes view rows and the stream checkpoints
//! in one WriteBatch, synced, so a crash leaves either both or neither.

pub mod schema;

use crate::error::StoreError;
use rocksdb::{ColumnFamilyDescriptor, DB, IteratorMode, Options, WriteBatch, WriteOptions};
use schema::{message_id_index, messages, meta};
use std::path::Path;

pub struct Store {
    db: DB,
}

/// Every column family, in creation order.
pub const COLUMN_FAMILIES: [&str; 3] = [meta::CF, messages::CF, message_id_index::CF];

impl Store {
    /// Opens (or creates) the database. A database written in another view format is
    /// refused: rebuild it from the streams (`projector serve --rebuild`).
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        options.set_compression_type(rocksdb::DBCompressionType::Lz4);
        let cfs = COLUMN_FAMILIES.iter().map(|name| ColumnFamilyDescriptor::new(*name, Options::default()));
        let db = DB::open_cf_descriptors(&options, path, cfs)?;
        let store = Store { db };
        match store.get_meta(meta::FORMAT_KEY)? {
            None => {
                let mut batch = WriteBatch::default();
                batch.put_cf(store.cf(meta::CF)?, meta::FORMAT_KEY, meta::FORMAT.to_be_bytes());
                store.write(batch)?;
            }
            Some(found) => {
                let found = meta::decode_u32(&found)?;
                if found != meta::FORMAT {
                    return Err(StoreError::FormatMismatch { found, expected: meta::FORMAT });
                }
            }
        }
        Ok(store)
    }

    pub(crate) fn cf(&self, name: &'static str) -> Result<&rocksdb::ColumnFamily, StoreError> {
        self.db.cf_handle(name).ok_or(StoreError::MissingColumnFamily(name))
    }

    fn get_meta(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get_cf(self.cf(meta::CF)?, key)?)
    }

    /// The last sequence of `stream` folded into the views (0: none yet).
    pub fn checkpoint(&self, stream: &str) -> Result<u64, StoreError> {
        match self.get_meta(&meta::checkpoint_key(stream))? {
            None => Ok(0),
            Some(v) => meta::decode_u64(&v),
        }
    }

    pub fn get(&self, cf: &'static str, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get_cf(self.cf(cf)?, key)?)
    }

    /// Keys of `cf` that start with `prefix`, in byte order, at most `limit`.
    pub fn keys_with_prefix(&self, cf: &'static str, prefix: &[u8], limit: usize) -> Result<Vec<Vec<u8>>, StoreError> {
        let iter = self.db.iterator_cf(self.cf(cf)?, IteratorMode::From(prefix, rocksdb::Direction::Forward));
        let mut out = Vec::new();
        for item in iter {
            let (key, _) = item?;
            if !key.starts_with(prefix) || out.len() >= limit {
                break;
            }
            out.push(key.to_vec());
        }
        Ok(out)
    }

    /// Writes a batch durably (WAL synced before it returns).
    pub fn write(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let mut options = WriteOptions::default();
        options.set_sync(true);
        Ok(self.db.write_opt(batch, &options)?)
    }

    pub fn flush(&self) -> Result<(), StoreError> {
        for name in COLUMN_FAMILIES {
            self.db.flush_cf(self.cf(name)?)?;
        }
        Ok(())
    }
}
