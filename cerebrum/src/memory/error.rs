//! Errors of the durable memory: each names the database file and says what to do next.

use std::path::PathBuf;

/// An error opening, migrating, reading or writing the hive database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MemoryError {
    /// The state directory or a file in it could not be created, read or written.
    #[error("cannot use '{path}': {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// The file is not a SQLite database, or SQLite found it damaged.
    #[error(
        "database '{path}' is damaged or not a hive database ({source}); hive leaves it untouched: restore it from a \
         backup ('hive.db.v*.bak' next to it) or move it aside to start a new one"
    )]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What SQLite reported.
        source: rusqlite::Error,
    },
    /// The database was written by a newer hive, with a schema this hive does not know.
    #[error(
        "database '{path}' has schema version {found}, but this hive knows versions up to {known}; it was written by \
         a newer hive: upgrade hive, or restore an older backup ('hive.db.v*.bak' next to it)"
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// The schema version in the file.
        found: u32,
        /// The newest schema version this hive knows.
        known: u32,
    },
    /// A migration failed; its transaction was rolled back.
    #[error("migrating database '{path}' to schema version {version} failed: {source}; {hint}")]
    Migration {
        /// The database file.
        path: PathBuf,
        /// The version the failed migration leads to.
        version: u32,
        /// What to do: restore from the backup taken before migrating, if there is one.
        hint: String,
        /// What SQLite reported.
        source: rusqlite::Error,
    },
    /// A query failed on an open database.
    #[error("database '{path}': {source}; run `hive audit verify` to check it")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// What SQLite reported.
        source: rusqlite::Error,
    },
    /// A stored row could not be decoded.
    #[error("database '{path}': audit record {seq} is unreadable ({reason}); run `hive audit verify`")]
    BadRow {
        /// The database file.
        path: PathBuf,
        /// The record's sequence number.
        seq: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// A stored backlog item could not be decoded.
    #[error("database '{path}': backlog item '{id}' is unreadable ({reason})")]
    BadItem {
        /// The database file.
        path: PathBuf,
        /// The item's id.
        id: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A stored row of the autonomy loop's tables could not be decoded.
    #[error("database '{path}': {table} row '{key}' is unreadable ({reason}); run `hive audit verify` to check it")]
    BadRecord {
        /// The database file.
        path: PathBuf,
        /// The table.
        table: &'static str,
        /// The row's key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A write was completed that was never reserved.
    #[error("database '{path}': no write reserved under key '{key}'; reserve a write before completing it")]
    UnknownWrite {
        /// The database file.
        path: PathBuf,
        /// The idempotency key.
        key: String,
    },
    /// Writing an export failed.
    #[error("cannot write the audit export: {source}")]
    Export {
        /// What went wrong.
        source: std::io::Error,
    },
}
