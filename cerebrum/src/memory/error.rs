//! Errors of the durable memory: each names the database file and says what to do next.

use std::path::{Path, PathBuf};

use super::fault::{Explained, StorageFault};

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
    /// The storage refused (read-only file system or directory, no space, permission denied); the database is as
    /// it was.
    #[error("cannot use database '{path}': {}; {detail}", Explained { fault: *fault, dir })]
    Storage {
        /// The database file (or the state directory).
        path: PathBuf,
        /// The directory the fault is about.
        dir: PathBuf,
        /// What the storage refused.
        fault: StorageFault,
        /// What SQLite or the operating system said.
        detail: String,
    },
    /// No database file where one was expected.
    #[error("no hive database at '{path}'; check --state-dir (or HIVE_STATE_DIR)")]
    Missing {
        /// The database file.
        path: PathBuf,
    },
    /// The database file is empty although files that only an existing database leaves lie beside it: it was
    /// truncated, and starting a new database over it would lose the limits' counters and the audit trail.
    #[error(
        "database '{path}' is empty (0 bytes), but {} beside it: it was truncated, not new, so hive will not start a \
         new database over it; restore it from a backup ('hive.db.v*.bak'), or move '{path}' and the files beside it \
         aside to start a new one",
        list(beside)
    )]
    Truncated {
        /// The database file.
        path: PathBuf,
        /// The write-ahead log and the backups found beside it.
        beside: Vec<PathBuf>,
    },
    /// A command that only reads found a database that needs a migration, which only a writer may run.
    #[error(
        "database '{path}' has schema version {found}, older than this hive's {known}, and this command only reads: \
         any hive command that writes (`hive run`, `hive approve`) upgrades it, taking a backup first"
    )]
    NeedsUpgrade {
        /// The database file.
        path: PathBuf,
        /// The schema version in the file.
        found: u32,
        /// The schema version this hive writes.
        known: u32,
    },
    /// The audit trail's newest record does not verify, so nothing may be chained to it.
    #[error(
        "the audit trail in '{path}' does not verify: record {seq}: {problem}; hive will not append to a broken \
         trail: run `hive audit verify` to find the first bad record, then restore the database from a backup \
         ('hive.db.v*.bak' next to it), or move '{path}' (and any '-wal' and '-shm' file beside it) aside, keeping \
         it as evidence, to start a new trail"
    )]
    AuditBroken {
        /// The database file.
        path: PathBuf,
        /// The bad record's seq.
        seq: u64,
        /// What is wrong with it.
        problem: String,
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

impl MemoryError {
    /// A SQLite failure on the database at `path`, by its real cause: damage, a storage fault, or SQLite's words.
    pub(crate) fn sqlite(path: &Path, source: rusqlite::Error) -> Self {
        super::fault::classify(path, source)
    }

    /// An operating-system failure on `path`, a storage fault when it names one.
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        super::fault::classify_io(path, source)
    }
}

/// Paths as a quoted list: `'a' and 'b lie'`, with the verb agreeing.
fn list(paths: &[PathBuf]) -> String {
    let quoted: Vec<String> = paths.iter().map(|p| format!("'{}'", p.display())).collect();
    match quoted.as_slice() {
        [one] => format!("{one} lies"),
        [init @ .., last] => format!("{} and {last} lie", init.join(", ")),
        [] => "nothing lies".to_owned(),
    }
}
