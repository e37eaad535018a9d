//! Opening the hive database: WAL mode, schema versions through `PRAGMA user_version`, ordered migrations, and a
//! backup of an existing database before any of them runs.

use std::{
    path::{Path, PathBuf},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use rusqlite::{Connection, ErrorCode};

use super::{Approvals, AuditTrail, History, Identities, Ledger, MemoryError, Writes};

/// The schema migrations, in order: entry `i` takes the database from version `i` to version `i + 1`. Entries are
/// only ever appended; an edited migration would leave old databases different from new ones.
const MIGRATIONS: &[&str] = &[
    // 1: the audit trail. `audit_head` holds the last record's seq and hash, written in the same transaction as the
    // record, so deleting the newest records is detected too (a chain alone cannot show a missing tail).
    "CREATE TABLE audit (
        seq INTEGER PRIMARY KEY,
        timestamp TEXT NOT NULL,
        actor TEXT NOT NULL,
        repositories TEXT NOT NULL,
        action TEXT NOT NULL,
        result TEXT NOT NULL,
        decision TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE TABLE audit_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL
    );",
    // 2: the backlog ledger. `evidence` is a JSON list of links.
    "CREATE TABLE backlog (
        id TEXT PRIMARY KEY,
        repo TEXT NOT NULL,
        kind TEXT NOT NULL,
        title TEXT NOT NULL,
        priority INTEGER NOT NULL CHECK (priority BETWEEN 1 AND 5),
        risk TEXT NOT NULL,
        status TEXT NOT NULL,
        evidence TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        decision TEXT,
        cycle_id INTEGER,
        commit_sha TEXT
    );",
    // 3: the autonomy loop's state. `writes` holds every governed write, reserved (with its idempotency key) before
    // it is sent and completed after, so a crash in between is found on restart instead of repeated blindly.
    // `identity` maps keys to what hive made on a forge; `approvals` are a human's go-aheads with an expiry;
    // `health_history` is one score per repository and cycle; `meta` holds counters such as `last_cycle`.
    "CREATE TABLE writes (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        repo TEXT NOT NULL,
        target TEXT,
        reserved_at INTEGER NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('reserved', 'done', 'failed', 'would_do')),
        outcome TEXT
    );
    CREATE INDEX writes_by_time ON writes (reserved_at, kind);
    CREATE INDEX writes_by_state ON writes (state);
    CREATE TABLE identity (
        key TEXT PRIMARY KEY,
        repo TEXT NOT NULL,
        kind TEXT NOT NULL,
        number INTEGER,
        state TEXT,
        fingerprint TEXT,
        data TEXT NOT NULL DEFAULT 'null',
        updated_at INTEGER NOT NULL
    );
    CREATE TABLE approvals (
        id TEXT PRIMARY KEY,
        approved_by TEXT NOT NULL,
        approved_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    );
    CREATE TABLE health_history (
        cycle INTEGER NOT NULL,
        repo TEXT NOT NULL,
        score INTEGER NOT NULL,
        level TEXT NOT NULL,
        at INTEGER NOT NULL,
        PRIMARY KEY (cycle, repo)
    );
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );",
];

/// The hive database, `<state_dir>/hive.db`.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let memory = hive_cerebrum::Memory::open(dir.path()).unwrap();
/// assert_eq!(memory.schema_version().unwrap(), hive_cerebrum::Memory::SCHEMA_VERSION);
/// ```
#[derive(Debug)]
pub struct Memory {
    conn: Connection,
    path: PathBuf,
}

impl Memory {
    /// The database's file name inside the state directory.
    pub const FILE_NAME: &'static str = "hive.db";

    /// The schema version this hive writes.
    pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

    /// Opens (creating if needed) the database in `state_dir` and brings its schema up to date.
    ///
    /// An existing database is copied to `hive.db.v<N>-<unix secs>.bak` before a migration touches it. A damaged
    /// file or one from a newer hive is an error, and the file is left as it is.
    pub fn open(state_dir: &Path) -> Result<Self, MemoryError> {
        std::fs::create_dir_all(state_dir)
            .map_err(|source| MemoryError::Io { path: state_dir.to_path_buf(), source })?;
        let path = state_dir.join(Self::FILE_NAME);
        let existed = std::fs::metadata(&path).is_ok_and(|m| m.len() > 0);
        let conn = Connection::open(&path).map_err(|source| classify(&path, source))?;
        let memory = Self { conn, path };
        memory.configure(existed)?;
        memory.migrate(existed)?;
        Ok(memory)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version stored in the database.
    pub fn schema_version(&self) -> Result<u32, MemoryError> {
        self.conn.pragma_query_value(None, "user_version", |row| row.get(0)).map_err(|e| self.sql(e))
    }

    /// The audit trail.
    pub fn audit(&mut self) -> AuditTrail<'_> {
        AuditTrail::new(&mut self.conn, &self.path)
    }

    /// The backlog ledger.
    pub fn ledger(&mut self) -> Ledger<'_> {
        Ledger::new(&mut self.conn, &self.path)
    }

    /// The governed writes: reserved before they are sent, completed after.
    pub fn writes(&mut self) -> Writes<'_> {
        Writes::new(&mut self.conn, &self.path)
    }

    /// What hive made on a forge, by key.
    pub fn identities(&mut self) -> Identities<'_> {
        Identities::new(&mut self.conn, &self.path)
    }

    /// A human's approvals of risky work.
    pub fn approvals(&mut self) -> Approvals<'_> {
        Approvals::new(&mut self.conn, &self.path)
    }

    /// Health per repository and cycle, and the cycle counter.
    pub fn history(&mut self) -> History<'_> {
        History::new(&mut self.conn, &self.path)
    }

    /// Wraps a SQLite error with the database path.
    pub(crate) fn sql(&self, source: rusqlite::Error) -> MemoryError {
        classify(&self.path, source)
    }

    fn configure(&self, existed: bool) -> Result<(), MemoryError> {
        let conn = &self.conn;
        // The first statement reads the file header, so a file of garbage fails here, before anything is written.
        let version: u32 =
            conn.pragma_query_value(None, "user_version", |row| row.get(0)).map_err(|e| self.corrupt(e))?;
        if version > Self::SCHEMA_VERSION {
            return Err(MemoryError::TooNew { path: self.path.clone(), found: version, known: Self::SCHEMA_VERSION });
        }
        if existed {
            // Damaged pages inside a valid header only show up when read; find them now, not halfway through a
            // cycle.
            let check: String =
                conn.pragma_query_value(None, "quick_check", |row| row.get(0)).map_err(|e| self.corrupt(e))?;
            if check != "ok" {
                return Err(self.corrupt(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
                    Some(check),
                )));
            }
        }
        conn.busy_timeout(Duration::from_secs(5)).map_err(|e| self.sql(e))?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)).map_err(|e| self.corrupt(e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            tracing::warn!(path = %self.path.display(), mode, "the database is not in WAL mode");
        }
        // FULL, not NORMAL: an audit record reported as written must survive a power cut, not only a crash.
        conn.pragma_update(None, "synchronous", "FULL").map_err(|e| self.sql(e))?;
        Ok(())
    }

    fn migrate(&self, existed: bool) -> Result<(), MemoryError> {
        let from = self.schema_version()?;
        if from >= Self::SCHEMA_VERSION {
            return Ok(());
        }
        let backup = if existed { Some(self.backup(from)?) } else { None };
        for (index, sql) in MIGRATIONS.iter().enumerate().skip(from as usize) {
            let version = index as u32 + 1;
            let hint = match &backup {
                Some(b) => format!("the database may be restored from '{}'", b.display()),
                None => "the database was new; delete it to start again".to_owned(),
            };
            let fail = |source| MemoryError::Migration { path: self.path.clone(), version, hint: hint.clone(), source };
            // `user_version` lives in the file header, which is part of the transaction: a crash mid-migration
            // leaves the old version and the old schema together.
            let tx = self.conn.unchecked_transaction().map_err(fail)?;
            tx.execute_batch(sql).map_err(fail)?;
            tx.pragma_update(None, "user_version", version).map_err(fail)?;
            tx.commit().map_err(fail)?;
            tracing::info!(path = %self.path.display(), version, "migrated the hive database");
        }
        Ok(())
    }

    /// Copies the database with `VACUUM INTO`, which includes what is still in the WAL file (a plain file copy
    /// would miss it) and refuses to overwrite an existing file.
    fn backup(&self, version: u32) -> Result<PathBuf, MemoryError> {
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let backup = self.path.with_file_name(format!("{}.v{version}-{secs}.bak", Self::FILE_NAME));
        let target = backup.to_str().ok_or_else(|| MemoryError::Io {
            path: backup.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path is not UTF-8"),
        })?;
        self.conn.execute("VACUUM INTO ?1", [target]).map_err(|e| self.sql(e))?;
        tracing::info!(backup = %backup.display(), "backed up the hive database before migrating");
        Ok(backup)
    }

    fn corrupt(&self, source: rusqlite::Error) -> MemoryError {
        MemoryError::Corrupt { path: self.path.clone(), source }
    }
}

/// Damage is reported as [`MemoryError::Corrupt`] wherever SQLite notices it; everything else keeps its cause.
fn classify(path: &Path, source: rusqlite::Error) -> MemoryError {
    match source.sqlite_error_code() {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => {
            MemoryError::Corrupt { path: path.to_path_buf(), source }
        }
        _ => MemoryError::Sqlite { path: path.to_path_buf(), source },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_database_is_at_the_newest_version_in_wal_mode_without_a_backup() {
        let dir = tempfile::tempdir().unwrap();
        let memory = Memory::open(dir.path()).unwrap();
        assert_eq!(memory.schema_version().unwrap(), Memory::SCHEMA_VERSION);
        let mode: String = memory.conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
        drop(memory);
        assert!(backups(dir.path()).is_empty());
        // Opening again migrates nothing, so takes no backup.
        Memory::open(dir.path()).unwrap();
        assert!(backups(dir.path()).is_empty());
    }

    #[test]
    fn an_existing_database_is_backed_up_before_migrating() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(Memory::FILE_NAME);
        let old = Connection::open(&path).unwrap();
        old.execute_batch("CREATE TABLE keep (x TEXT); INSERT INTO keep VALUES ('precious');").unwrap();
        drop(old);
        let memory = Memory::open(dir.path()).unwrap();
        assert_eq!(memory.schema_version().unwrap(), Memory::SCHEMA_VERSION);
        let found = backups(dir.path());
        assert_eq!(found.len(), 1, "{found:?}");
        let name = found[0].file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("hive.db.v0-"), "{name}");
        let backup = Connection::open(&found[0]).unwrap();
        let kept: String = backup.query_row("SELECT x FROM keep", [], |r| r.get(0)).unwrap();
        assert_eq!(kept, "precious");
    }

    #[test]
    fn an_old_schema_is_migrated_in_order_after_a_backup() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(Memory::FILE_NAME);
        let old = Connection::open(&path).unwrap();
        old.execute_batch(MIGRATIONS[0]).unwrap();
        old.pragma_update(None, "user_version", 1).unwrap();
        drop(old);
        let mut memory = Memory::open(dir.path()).unwrap();
        assert_eq!(memory.schema_version().unwrap(), Memory::SCHEMA_VERSION);
        assert_eq!(memory.audit().verify().unwrap(), 0);
        assert!(memory.ledger().list().unwrap().is_empty());
        let found = backups(dir.path());
        assert_eq!(found.len(), 1, "{found:?}");
        let version: u32 =
            Connection::open(&found[0]).unwrap().pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(version, 1, "the backup is the database as it was before migrating");
    }

    #[test]
    fn a_version_2_database_keeps_its_data_and_gains_the_autonomy_tables_after_a_backup() {
        let dir = tempfile::tempdir().unwrap();
        // A version-2 database exactly as an older hive left it: the first two migrations, then some data.
        let path = dir.path().join(Memory::FILE_NAME);
        let old = Connection::open(&path).unwrap();
        old.execute_batch(MIGRATIONS[0]).unwrap();
        old.execute_batch(MIGRATIONS[1]).unwrap();
        old.pragma_update(None, "user_version", 2).unwrap();
        drop(old);
        {
            // Write data through the version-2 code paths (audit and ledger) on the raw file.
            let mut conn = Connection::open(&path).unwrap();
            let tx = conn.transaction().unwrap();
            crate::memory::AuditTrail::append_in(
                &tx,
                &crate::AuditEntry { actor: "queen".into(), ..Default::default() },
            )
            .unwrap();
            tx.commit().unwrap();
            let item = crate::BacklogItem::new("acme/api", crate::ItemKind::Bug, "ci fails", 2, crate::Risk::Low);
            crate::Ledger::new(&mut conn, &path).upsert(&item).unwrap();
        }

        let mut memory = Memory::open(dir.path()).unwrap();
        assert_eq!(memory.schema_version().unwrap(), 3);
        assert_eq!(memory.audit().verify().unwrap(), 1, "the trail survived the migration");
        assert_eq!(memory.ledger().list().unwrap().len(), 1, "the backlog survived the migration");
        assert_eq!(memory.history().next_cycle().unwrap(), 1, "the new tables work");
        assert!(memory.writes().unfinished().unwrap().is_empty());
        let found = backups(dir.path());
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].file_name().unwrap().to_string_lossy().starts_with("hive.db.v2-"), "{found:?}");
        let backup = Connection::open(&found[0]).unwrap();
        let version: u32 = backup.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        let items: i64 = backup.query_row("SELECT COUNT(*) FROM backlog", [], |r| r.get(0)).unwrap();
        assert_eq!((version, items), (2, 1), "the backup is the version-2 database with its data");
    }

    #[test]
    fn a_file_of_garbage_is_reported_and_left_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(Memory::FILE_NAME);
        let garbage: Vec<u8> = (0..8192u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        std::fs::write(&path, &garbage).unwrap();
        let err = Memory::open(dir.path()).unwrap_err();
        assert!(matches!(err, MemoryError::Corrupt { .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains(&format!("'{}'", path.display())), "{message}");
        assert!(message.contains("restore it from a backup"), "{message}");
        assert_eq!(std::fs::read(&path).unwrap(), garbage, "never a silent reset");
    }

    #[test]
    fn a_database_from_a_newer_hive_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(Memory::open(dir.path()).unwrap());
        let path = dir.path().join(Memory::FILE_NAME);
        Connection::open(&path).unwrap().pragma_update(None, "user_version", 99).unwrap();
        let err = Memory::open(dir.path()).unwrap_err();
        assert!(matches!(err, MemoryError::TooNew { found: 99, .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains(&format!("'{}'", path.display())) && message.contains("newer hive"), "{message}");
        let version: u32 =
            Connection::open(&path).unwrap().pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(version, 99, "left untouched");
    }

    fn backups(dir: &Path) -> Vec<PathBuf> {
        let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "bak"))
            .collect();
        found.sort();
        found
    }
}
