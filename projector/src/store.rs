//! The RocksDB database of the views: column families by purpose, one schema module each.
//!
//! Writes go through [`Store::commit`], which writes view rows and the stream checkpoints
//! in one WriteBatch, synced, so a crash leaves either both or neither.

pub mod schema;

use crate::error::StoreError;
use rocksdb::{ColumnFamilyDescriptor, DB, IteratorMode, Options, WriteBatch, WriteOptions};
use schema::{client_addrs, daily, mail_submissions, messages, meta, policy_changes, releases, search};
use std::path::Path;

/// A key and its value, as an iterator yields them.
pub type KeyValue = (Box<[u8]>, Box<[u8]>);

pub struct Store {
    db: DB,
    /// Sync the WAL on every batch (the live views); a rebuild into a fresh folder does
    /// not, and flushes at the end (a crash there means starting the rebuild again).
    sync: bool,
}

/// Every column family, in creation order.
pub const COLUMN_FAMILIES: [&str; 8] = [
    meta::CF,
    messages::CF,
    search::CF,
    daily::CF,
    policy_changes::CF,
    client_addrs::CF,
    releases::CF,
    mail_submissions::CF,
];

impl Store {
    /// Opens (or creates) the database. A database written in another view format is
    /// refused: rebuild it from the streams (`projector serve --rebuild`).
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, true)
    }

    /// For `projector rebuild`: writes are not synced one by one.
    pub fn open_for_rebuild(path: &Path) -> Result<Self, StoreError> {
        Self::open_with(path, false)
    }

    /// Opens a database to read it only (another process may be writing it).
    pub fn open_read_only(path: &Path) -> Result<Self, StoreError> {
        let options = Options::default();
        let db = DB::open_cf_for_read_only(&options, path, COLUMN_FAMILIES, false)?;
        Ok(Store { db, sync: false })
    }

    /// Every key/value of a column family, in key order.
    pub fn iter_all(
        &self,
        cf: &'static str,
    ) -> Result<impl Iterator<Item = Result<KeyValue, StoreError>> + '_, StoreError> {
        Ok(self.db.iterator_cf(self.cf(cf)?, IteratorMode::Start).map(|r| r.map_err(StoreError::from)))
    }

    /// Bytes on disk of the live SST and WAL files.
    pub fn size_on_disk(path: &Path) -> u64 {
        fn walk(p: &Path) -> u64 {
            std::fs::read_dir(p)
                .map(|entries| {
                    entries
                        .flatten()
                        .map(|e| match e.metadata() {
                            Ok(m) if m.is_dir() => walk(&e.path()),
                            Ok(m) => m.len(),
                            Err(_) => 0,
                        })
                        .sum()
                })
                .unwrap_or(0)
        }
        walk(path)
    }

    fn open_with(path: &Path, sync: bool) -> Result<Self, StoreError> {
        let mut options = Options::default();
        options.create_if_missing(true);
        options.create_missing_column_families(true);
        options.set_max_background_jobs(2);
        // The small families (meta, policy changes) fill their memtables rarely; without a
        // bound the write-ahead log files would be kept until they do. At 64 MB the big
        // families flush a little early, which measured no slower than 256 MB and keeps
        // the folder smaller.
        options.set_max_total_wal_size(64 * 1024 * 1024);
        // Every family: the last level compressed (LZ4; the build has no other codec; with
        // dynamic level sizes nearly all data is there), flushes and upper levels not, so
        // a flush costs no compression; 64 MB memtables (fewer flushes and compactions;
        // a batch inserts its rows in key order, so deeper skip lists cost little); a
        // shared block cache; bloom filters in the tables and in the memtables: folding a
        // new message asks for a record that does not exist yet, which a filter answers
        // without searching.
        let cache = rocksdb::Cache::new_lru_cache(256 * 1024 * 1024);
        let cf_options = || {
            let mut block = rocksdb::BlockBasedOptions::default();
            block.set_block_cache(&cache);
            block.set_bloom_filter(10.0, false);
            block.set_cache_index_and_filter_blocks(true);
            block.set_pin_l0_filter_and_index_blocks_in_cache(true);
            let mut o = Options::default();
            o.set_level_compaction_dynamic_level_bytes(true);
            o.set_compression_type(rocksdb::DBCompressionType::None);
            o.set_bottommost_compression_type(rocksdb::DBCompressionType::Lz4);
            o.set_write_buffer_size(64 * 1024 * 1024);
            o.set_memtable_whole_key_filtering(true);
            o.set_memtable_prefix_bloom_ratio(0.05);
            o.set_block_based_table_factory(&block);
            o
        };
        // RocksDB opens a database only with all of its families: one of another format
        // may have others, and is then refused below with the format's error.
        let mut names: Vec<String> = COLUMN_FAMILIES.iter().map(|n| n.to_string()).collect();
        for existing in DB::list_cf(&options, path).unwrap_or_default() {
            if existing != rocksdb::DEFAULT_COLUMN_FAMILY_NAME && !names.contains(&existing) {
                names.push(existing);
            }
        }
        let cfs = names.into_iter().map(|name| ColumnFamilyDescriptor::new(name, cf_options()));
        let db = DB::open_cf_descriptors(&options, path, cfs)?;
        let store = Store { db, sync };
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

    /// Records which tenants these views hold (`shard`, None for all) when they are new, and
    /// refuses views folded for another split: their other tenants would be missing, or
    /// left over.
    pub fn claim_shard(&self, shard: Option<crate::shard::Shard>) -> Result<(), StoreError> {
        let wanted = shard.map_or_else(|| "all".to_owned(), |s| s.to_string());
        match self.get_meta(meta::SHARD_KEY)? {
            Some(found) if found == wanted.as_bytes() => Ok(()),
            Some(found) => {
                Err(StoreError::ShardMismatch { found: String::from_utf8_lossy(&found).into_owned(), wanted })
            }
            None if self.checkpoint(proto::subject::STREAM_RAW)? == 0
                && self.checkpoint(proto::subject::STREAM_EVENTS)? == 0 =>
            {
                self.put_meta(meta::SHARD_KEY, wanted.as_bytes())
            }
            // Views from before shards existed hold every tenant.
            None if wanted == "all" => self.put_meta(meta::SHARD_KEY, wanted.as_bytes()),
            None => Err(StoreError::ShardMismatch { found: "all".into(), wanted }),
        }
    }

    pub fn put_meta(&self, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        batch.put_cf(self.cf(meta::CF)?, key, value);
        self.write(batch)
    }

    pub fn get_meta(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get_cf(self.cf(meta::CF)?, key)?)
    }

    /// The time (ms since the epoch) a database rebuilt with `--as-of` stops at; None for
    /// live views.
    pub fn as_of(&self) -> Result<Option<u64>, StoreError> {
        self.get_meta(meta::AS_OF_KEY)?.map(|v| meta::decode_u64(&v)).transpose()
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

    /// Visits the keys of `cf` in `[lower, upper)` from the last down (newest first for
    /// time-ordered keys), until `visit` returns false.
    pub fn scan_reverse(
        &self,
        cf: &'static str,
        lower: &[u8],
        upper: &[u8],
        mut visit: impl FnMut(&[u8]) -> bool,
    ) -> Result<(), StoreError> {
        let mut options = rocksdb::ReadOptions::default();
        options.set_iterate_lower_bound(lower.to_vec());
        options.set_iterate_upper_bound(upper.to_vec());
        let iter = self.db.iterator_cf_opt(self.cf(cf)?, options, IteratorMode::End);
        for item in iter {
            let (key, _) = item?;
            if !visit(&key) {
                break;
            }
        }
        Ok(())
    }

    /// Key/value pairs of `cf` starting with `prefix`, in byte order.
    pub fn entries_with_prefix(
        &self,
        cf: &'static str,
        prefix: &[u8],
        mut visit: impl FnMut(&[u8], &[u8]) -> bool,
    ) -> Result<(), StoreError> {
        let iter = self.db.iterator_cf(self.cf(cf)?, IteratorMode::From(prefix, rocksdb::Direction::Forward));
        for item in iter {
            let (key, value) = item?;
            if !key.starts_with(prefix) || !visit(&key, &value) {
                break;
            }
        }
        Ok(())
    }

    /// Writes a batch durably (WAL synced before it returns).
    pub fn write(&self, batch: WriteBatch) -> Result<(), StoreError> {
        let mut options = WriteOptions::default();
        options.set_sync(self.sync);
        // A rebuild writes a fresh folder and flushes at the end: no write-ahead log.
        options.disable_wal(!self.sync);
        Ok(self.db.write_opt(batch, &options)?)
    }

    pub fn flush(&self) -> Result<(), StoreError> {
        for name in COLUMN_FAMILIES {
            self.db.flush_cf(self.cf(name)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_of_another_format_is_refused_with_the_format_error() {
        let dir = tempfile::tempdir().unwrap();
        {
            // What format 2 looked like: a family this format no longer has.
            let mut options = Options::default();
            options.create_if_missing(true);
            options.create_missing_column_families(true);
            let db = DB::open_cf(&options, dir.path(), [meta::CF, "message_id_index"]).unwrap();
            db.put_cf(db.cf_handle(meta::CF).unwrap(), meta::FORMAT_KEY, 2u32.to_be_bytes()).unwrap();
        }
        match Store::open(dir.path()) {
            Err(StoreError::FormatMismatch { found: 2, expected }) => assert_eq!(expected, meta::FORMAT),
            Err(other) => panic!("expected the format error, got {other}"),
            Ok(_) => panic!("a format-2 database was opened"),
        }
    }

    #[test]
    fn a_new_database_is_written_in_this_format_and_opens_again() {
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path()).unwrap());
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(store.get_meta(meta::FORMAT_KEY).unwrap(), Some(meta::FORMAT.to_be_bytes().to_vec()));
    }
}
