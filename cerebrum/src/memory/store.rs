//! Opening the hive database: WAL mode, schema versions through `PRAGMA user_version`, ordered migrations, and a
//! backup of an existing database before any of them runs; for writing, only over a non-empty file or a new one,
//! and only onto an audit trail whose newest records verify. Commands that only read open it read-only.

use std::{
    path::{Path, PathBuf},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::{
    Agents, Approvals, AuditTrail, Changes, History, Identities, Knowledge, Ledger, MemoryError, Syncs, Tally,
    ToolAssignments, Writes, audit,
    fault::{self, StorageFault},
    schema::MIGRATIONS,
};

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

/// The name SQLite gives the main database of a connection.
const MAIN: &str = "main";

impl Memory {
    /// The database's file name inside the state directory.
    pub const FILE_NAME: &'static str = "hive.db";

    /// The schema version this hive writes.
    pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

    /// Opens (creating if needed) the database in `state_dir` for writing and brings its schema up to date.
    ///
    /// An existing database is copied to `hive.db.v<N>-<unix secs>.bak` before a migration touches it. A damaged
    /// file, one from a newer hive, an empty file with a write-ahead log or backups beside it (a truncated
    /// database, not a new one), and an audit trail whose newest records do not verify are errors, and the file
    /// is left as it is. A read-only, full or forbidden directory is reported as such ([`MemoryError::Storage`]).
    pub fn open(state_dir: &Path) -> Result<Self, MemoryError> {
        std::fs::create_dir_all(state_dir).map_err(|source| MemoryError::io(state_dir, source))?;
        let path = state_dir.join(Self::FILE_NAME);
        let existed = refuse_truncated(&path)?;
        let conn = Connection::open(&path).map_err(|source| MemoryError::sqlite(&path, source))?;
        // SQLite opens a file it may not write read-only without a word; say why now, not at the first write.
        if conn.is_readonly(MAIN).map_err(|source| MemoryError::sqlite(&path, source))? {
            let dir = fault::dir_of(&path);
            let fault = fault::probe(&dir).and_then(fault::io_fault).unwrap_or(StorageFault::ReadOnlyFiles);
            let detail = "the database could only be opened read-only".to_owned();
            return Err(MemoryError::Storage { path, dir, fault, detail });
        }
        let memory = Self { conn, path };
        memory.configure(existed)?;
        memory.migrate(existed)?;
        memory.check_audit_head()?;
        Ok(memory)
    }

    /// Opens the existing database in `state_dir` read-only, for commands that only read (`hive audit`,
    /// `hive backlog`): nothing is created, migrated or checkpointed, so it works on a read-only directory and
    /// while a hive runs. A database that needs a migration is [`MemoryError::NeedsUpgrade`]. Writes through it
    /// fail.
    pub fn open_read_only(state_dir: &Path) -> Result<Self, MemoryError> {
        let path = state_dir.join(Self::FILE_NAME);
        match std::fs::metadata(&path) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(MemoryError::Missing { path }),
            Err(source) => return Err(MemoryError::io(&path, source)),
        }
        refuse_truncated(&path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&path, flags).map_err(|source| MemoryError::sqlite(&path, source))?;
        let mut memory = Self { conn, path };
        let version = match memory.read_version() {
            // A WAL database cannot be read where its `-shm` index can neither be found nor created (a directory
            // this user may not write, a read-only or full file system: SQLite says CANTOPEN, READONLY or IOERR).
            // With no `-wal` file, or an empty one, every committed page is in the main file, so reading it as
            // immutable is exact. Only a checkpoint writes the main file, and only a writer with pages in its log
            // checkpoints: one that starts in the middle of such a read could at worst make it fail.
            Err(e)
                if matches!(
                    e.sqlite_error_code(),
                    Some(ErrorCode::CannotOpen | ErrorCode::ReadOnly | ErrorCode::SystemIoFailure)
                ) && std::fs::metadata(sibling(&memory.path, "-wal")).map_or(true, |wal| wal.len() == 0) =>
            {
                let uri = format!("file:{}?immutable=1", uri_path(&memory.path));
                memory.conn = Connection::open_with_flags(&uri, flags)
                    .map_err(|source| MemoryError::sqlite(&memory.path, source))?;
                memory.read_version().map_err(|e| memory.sql(e))?
            }
            other => other.map_err(|e| memory.sql(e))?,
        };
        memory.conn.busy_timeout(Duration::from_secs(5)).map_err(|e| memory.sql(e))?;
        if version > Self::SCHEMA_VERSION {
            return Err(MemoryError::TooNew { path: memory.path, found: version, known: Self::SCHEMA_VERSION });
        }
        if version < Self::SCHEMA_VERSION {
            return Err(MemoryError::NeedsUpgrade { path: memory.path, found: version, known: Self::SCHEMA_VERSION });
        }
        Ok(memory)
    }

    /// The files that belong to the database in `state_dir`, whether they exist now or not: the database, its
    /// write-ahead log, shared-memory index and rollback journal, and the backups taken before migrations. Output
    /// a user names must never be one of these.
    pub fn files(state_dir: &Path) -> Vec<PathBuf> {
        let path = state_dir.join(Self::FILE_NAME);
        let mut files = vec![sibling(&path, "-wal"), sibling(&path, "-shm"), sibling(&path, "-journal")];
        files.extend(backups(&path));
        files.insert(0, path);
        files
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

    /// The agents made by `spawn agent`.
    pub fn agents(&mut self) -> Agents<'_> {
        Agents::new(&mut self.conn, &self.path)
    }

    /// Change sets across repositories and the locks of the open ones.
    pub fn changes(&mut self) -> Changes<'_> {
        Changes::new(&mut self.conn, &self.path)
    }

    /// Files kept in step across repositories: what was last synced where, and by which change set.
    pub fn syncs(&mut self) -> Syncs<'_> {
        Syncs::new(&mut self.conn, &self.path)
    }

    /// Health per repository and cycle, and the cycle counter.
    pub fn history(&mut self) -> History<'_> {
        History::new(&mut self.conn, &self.path)
    }

    /// Which agent may call which tool.
    pub fn tools(&mut self) -> ToolAssignments<'_> {
        ToolAssignments::new(&mut self.conn, &self.path)
    }

    /// The hive's knowledge: notes by key, searchable by their words.
    pub fn knowledge(&mut self) -> Knowledge<'_> {
        Knowledge::new(&mut self.conn, &self.path)
    }

    /// The governed writes by kind and state, and governance's decisions by kind, verdict and rule.
    pub fn tally(&self) -> Result<Tally, MemoryError> {
        super::tally::tally(&self.conn, &self.path)
    }

    /// Wraps a SQLite error with the database path, by its real cause.
    pub(crate) fn sql(&self, source: rusqlite::Error) -> MemoryError {
        MemoryError::sqlite(&self.path, source)
    }

    fn read_version(&self) -> rusqlite::Result<u32> {
        self.conn.pragma_query_value(None, "user_version", |row| row.get(0))
    }

    fn configure(&self, existed: bool) -> Result<(), MemoryError> {
        let conn = &self.conn;
        // The first statement reads the file header, so a file of garbage fails here, before anything is written.
        let version = self.read_version().map_err(|e| self.sql(e))?;
        if version > Self::SCHEMA_VERSION {
            return Err(MemoryError::TooNew { path: self.path.clone(), found: version, known: Self::SCHEMA_VERSION });
        }
        if existed {
            // Damaged pages inside a valid header only show up when read; find them now, not halfway through a
            // cycle.
            let check: String =
                conn.pragma_query_value(None, "quick_check", |row| row.get(0)).map_err(|e| self.sql(e))?;
            if check != "ok" {
                let source = rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
                    Some(check),
                );
                return Err(MemoryError::Corrupt { path: self.path.clone(), source });
            }
        }
        conn.busy_timeout(Duration::from_secs(5)).map_err(|e| self.sql(e))?;
        let mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)).map_err(|e| self.sql(e))?;
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
            // A full or read-only disk is said as such; the migration's transaction is rolled back either way.
            let fail = |source: rusqlite::Error| match self.sql(source) {
                storage @ MemoryError::Storage { .. } => storage,
                MemoryError::Sqlite { source, .. } | MemoryError::Corrupt { source, .. } => {
                    MemoryError::Migration { path: self.path.clone(), version, hint: hint.clone(), source }
                }
                other => other,
            };
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
        let target = backup.to_str().ok_or_else(|| {
            MemoryError::io(&backup, std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path is not UTF-8"))
        })?;
        self.conn.execute("VACUUM INTO ?1", [target]).map_err(|e| self.sql(e))?;
        tracing::info!(backup = %backup.display(), "backed up the hive database before migrating");
        Ok(backup)
    }

    /// Refuses to chain onto a trail whose newest records do not verify (edited, replaced or cut off behind
    /// hive's back): anything appended would make the damage look like history.
    fn check_audit_head(&self) -> Result<(), MemoryError> {
        match audit::check_head(&self.conn).map_err(|e| self.sql(e))? {
            None => Ok(()),
            Some((seq, problem)) => Err(MemoryError::AuditBroken { path: self.path.clone(), seq, problem }),
        }
    }
}

/// Whether `path` holds a database (`false` for a new or missing file). An empty file is refused when a
/// write-ahead log or a backup lies beside it: hive never leaves an empty database file next to those (switching
/// to WAL writes the first page), so the file was truncated, and opening it would start a new, empty database.
fn refuse_truncated(path: &Path) -> Result<bool, MemoryError> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.len() > 0 => Ok(true),
        Ok(_) => {
            let mut beside: Vec<PathBuf> = Some(sibling(path, "-wal")).filter(|wal| wal.exists()).into_iter().collect();
            beside.extend(backups(path));
            if beside.is_empty() { Ok(false) } else { Err(MemoryError::Truncated { path: path.to_path_buf(), beside }) }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(MemoryError::io(path, source)),
    }
}

/// `hive.db` + `suffix`, e.g. the write-ahead log `hive.db-wal`.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The backups taken before migrations, `hive.db.v<N>-<secs>.bak`, oldest first.
fn backups(path: &Path) -> Vec<PathBuf> {
    let Some(dir) = path.parent() else { return Vec::new() };
    let Ok(entries) = std::fs::read_dir(if dir.as_os_str().is_empty() { Path::new(".") } else { dir }) else {
        return Vec::new();
    };
    let prefix = format!("{}.v", Memory::FILE_NAME);
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_str().is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".bak")))
        .map(|e| dir.join(e.file_name()))
        .collect();
    found.sort();
    found
}

/// A path as the path part of a SQLite URI: every byte outside the unreserved set and `/` percent-encoded, so
/// `?`, `#` and `%` in a directory name stay part of the path.
fn uri_path(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut out = String::new();
    for &byte in path.as_os_str().as_bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
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
        version_1(dir.path());
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
        assert_eq!(memory.schema_version().unwrap(), Memory::SCHEMA_VERSION);
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
    fn a_version_3_database_gains_counts_and_an_index_of_its_trail_that_agree_with_its_rows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(Memory::FILE_NAME);
        let mut old = Connection::open(&path).unwrap();
        for sql in &MIGRATIONS[..3] {
            old.execute_batch(sql).unwrap();
        }
        old.pragma_update(None, "user_version", 3).unwrap();
        // Writes and decisions through the version-3 code paths, which kept no counts.
        let decision = r#"{"verdict":"deny","reason":{"reason":"limit_reached","limit":"prs_per_day"}}"#;
        for i in 0..6 {
            let write = crate::NewWrite {
                key: format!("issue:{i}"),
                kind: "open_issue".into(),
                repo: format!("acme/r{}", i % 2),
                target: None,
            };
            let entry = crate::AuditEntry {
                actor: "steward".into(),
                repositories: vec![write.repo.clone()],
                action: "open_issue".into(),
                result: "reserved".into(),
                decision: r#"{"verdict":"allow","reason":{"reason":"allowed"}}"#.into(),
            };
            crate::Writes::new(&mut old, &path).reserve(&write, 1, false, &entry).unwrap();
            let denied = crate::AuditEntry {
                action: "open_pull_request".into(),
                result: "denied: prs_per_day".into(),
                decision: decision.into(),
                ..entry
            };
            crate::Writes::new(&mut old, &path).complete(&write.key, crate::WriteState::Done, "ok", &denied).unwrap();
            let tx = old.transaction().unwrap();
            AuditTrail::append_in(&tx, &denied).unwrap();
            tx.commit().unwrap();
        }
        drop(old);

        let mut memory = Memory::open(dir.path()).unwrap();
        assert_eq!(memory.schema_version().unwrap(), Memory::SCHEMA_VERSION);
        let tally = memory.tally().unwrap();
        assert_eq!(super::super::tally::tests::flat(&tally), super::super::tally::tests::scanned(dir.path()));
        assert_eq!((tally.writes[0].count, tally.decisions.len()), (6, 2), "{tally:?}");
        let recent: Vec<u64> = memory.audit().recent_for("acme/r1", 100).unwrap().iter().map(|r| r.seq).collect();
        assert_eq!(recent, [18, 17, 16, 12, 11, 10, 6, 5, 4], "every record of acme/r1 (odd rounds), newest first");
        assert_eq!(memory.audit().verify().unwrap(), 18, "the trail survived the migration");
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

    /// A version-1 database (the audit tables only), as the first hive left it; returns its path.
    fn version_1(dir: &Path) -> PathBuf {
        let path = dir.join(Memory::FILE_NAME);
        let old = Connection::open(&path).unwrap();
        old.execute_batch(MIGRATIONS[0]).unwrap();
        old.pragma_update(None, "user_version", 1).unwrap();
        path
    }

    /// A database with `n` audit records, closed cleanly.
    fn trail(dir: &Path, n: usize) {
        let mut memory = Memory::open(dir).unwrap();
        for i in 0..n {
            memory.audit().append(&crate::AuditEntry { actor: format!("queen-{i}"), ..Default::default() }).unwrap();
        }
    }

    fn truncate(path: &Path) {
        std::fs::OpenOptions::new().write(true).open(path).unwrap().set_len(0).unwrap();
    }

    #[test]
    fn an_empty_file_beside_a_write_ahead_log_is_refused_naming_it_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let mut memory = Memory::open(dir.path()).unwrap();
        memory.audit().append(&crate::AuditEntry::default()).unwrap();
        // A hive killed while running leaves its write-ahead log; the database file is then cut to 0 bytes.
        std::mem::forget(memory);
        let path = dir.path().join(Memory::FILE_NAME);
        let wal = sibling(&path, "-wal");
        assert!(wal.metadata().unwrap().len() > 0, "the log holds the newest pages");
        truncate(&path);
        let wal_bytes = std::fs::read(&wal).unwrap();

        for err in [Memory::open(dir.path()).unwrap_err(), Memory::open_read_only(dir.path()).unwrap_err()] {
            assert!(
                matches!(&err, MemoryError::Truncated { beside, .. } if beside.as_slice() == std::slice::from_ref(&wal)),
                "{err:?}"
            );
            let message = err.to_string();
            assert!(message.contains(&format!("'{}' is empty (0 bytes)", path.display())), "{message}");
            assert!(message.contains(&format!("'{}' lies beside it", wal.display())), "{message}");
            assert!(message.contains("restore it from a backup") && message.contains("aside"), "{message}");
        }
        assert_eq!(path.metadata().unwrap().len(), 0, "not re-initialised");
        assert_eq!(std::fs::read(&wal).unwrap(), wal_bytes, "the log is untouched");
    }

    #[test]
    fn an_empty_file_beside_a_backup_is_refused_and_an_empty_file_alone_is_new() {
        let dir = tempfile::tempdir().unwrap();
        let path = version_1(dir.path());
        trail(dir.path(), 2);
        let backup = backups(dir.path()).pop().expect("the migration's backup");
        assert!(!sibling(&path, "-wal").exists(), "closed cleanly: no log");
        truncate(&path);
        let err = Memory::open(dir.path()).unwrap_err();
        assert!(
            matches!(&err, MemoryError::Truncated { beside, .. } if beside.as_slice() == std::slice::from_ref(&backup)),
            "{err:?}"
        );
        assert!(err.to_string().contains(&format!("'{}' lies beside it", backup.display())), "{err}");
        assert_eq!(path.metadata().unwrap().len(), 0);

        // With nothing beside it, an empty file is what a first open interrupted before any write leaves.
        let fresh = tempfile::tempdir().unwrap();
        std::fs::write(fresh.path().join(Memory::FILE_NAME), b"").unwrap();
        let memory = Memory::open(fresh.path()).unwrap();
        assert_eq!(memory.schema_version().unwrap(), Memory::SCHEMA_VERSION);
    }

    #[test]
    fn a_trail_whose_newest_records_do_not_verify_is_never_appended_to() {
        // (tampering, the seq named, a word of the problem)
        let cases = [
            ("UPDATE audit SET actor = 'intruder' WHERE seq = 5", 5, "edited"),
            ("UPDATE audit SET result = 'fine' WHERE seq = 4", 4, "edited"),
            ("DELETE FROM audit WHERE seq = 5", 5, "newest were deleted"),
            ("DELETE FROM audit WHERE seq = 4", 5, "deleted, inserted or reordered"),
            ("UPDATE audit_head SET hash = 'x'", 5, "replaced"),
            ("DELETE FROM audit_head", 1, "added outside hive"),
            ("DELETE FROM audit", 1, "newest were deleted"),
        ];
        for (tamper, seq, word) in cases {
            let dir = tempfile::tempdir().unwrap();
            trail(dir.path(), 5);
            let path = dir.path().join(Memory::FILE_NAME);
            Connection::open(&path).unwrap().execute_batch(tamper).unwrap();
            let err = Memory::open(dir.path()).unwrap_err();
            let MemoryError::AuditBroken { seq: found, problem, .. } = &err else { panic!("{tamper}: {err:?}") };
            assert_eq!((*found, problem.contains(word)), (seq, true), "{tamper}: {problem}");
            let message = err.to_string();
            assert!(message.contains("hive audit verify") && message.contains("aside"), "{message}");
            // Nothing was appended, and the trail can still be read and checked.
            let mut reader = Memory::open_read_only(dir.path()).unwrap();
            assert!(reader.audit().verify().is_err(), "{tamper}");
            let rows: i64 = reader.conn.query_row("SELECT COUNT(*) FROM audit", [], |r| r.get(0)).unwrap();
            assert!(rows <= 5, "{tamper}");
        }

        // Deeper records are checked by `hive audit verify`, not on every open: the open stays cheap.
        let dir = tempfile::tempdir().unwrap();
        trail(dir.path(), 5);
        let path = dir.path().join(Memory::FILE_NAME);
        Connection::open(&path).unwrap().execute_batch("UPDATE audit SET actor = 'x' WHERE seq = 2").unwrap();
        let mut memory = Memory::open(dir.path()).unwrap();
        assert!(matches!(memory.audit().verify(), Err(crate::AuditBreak::Record { seq: 2, .. })));
    }

    #[test]
    fn a_read_only_open_reads_while_a_writer_holds_the_database_and_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = Memory::open(dir.path()).unwrap();
        writer.audit().append(&crate::AuditEntry::default()).unwrap();
        let mut reader = Memory::open_read_only(dir.path()).unwrap();
        assert_eq!(reader.audit().verify().unwrap(), 1);
        writer.audit().append(&crate::AuditEntry::default()).unwrap();
        assert_eq!(reader.audit().verify().unwrap(), 2, "sees what the writer committed");
        assert!(reader.audit().append(&crate::AuditEntry::default()).is_err());
        assert_eq!(writer.audit().verify().unwrap(), 2);
    }

    #[test]
    fn a_read_only_open_refuses_an_old_schema_without_touching_it_and_a_missing_file() {
        let dir = tempfile::tempdir().unwrap();
        let err = Memory::open_read_only(dir.path()).unwrap_err();
        assert!(matches!(err, MemoryError::Missing { .. }), "{err:?}");
        assert!(!dir.path().join(Memory::FILE_NAME).exists(), "nothing created");

        let path = version_1(dir.path());
        let err = Memory::open_read_only(dir.path()).unwrap_err();
        assert!(matches!(err, MemoryError::NeedsUpgrade { found: 1, .. }), "{err:?}");
        let message = err.to_string();
        assert!(message.contains("only reads") && message.contains("`hive run`"), "{message}");
        let version: u32 =
            Connection::open(&path).unwrap().pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!((version, backups(dir.path()).len()), (1, 0), "not migrated, no backup");
    }

    #[test]
    fn the_database_files_include_the_log_index_journal_and_backups() {
        let dir = tempfile::tempdir().unwrap();
        version_1(dir.path());
        drop(Memory::open(dir.path()).unwrap());
        let names: Vec<String> =
            Memory::files(dir.path()).iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names[..4], ["hive.db", "hive.db-wal", "hive.db-shm", "hive.db-journal"]);
        assert!(names.len() == 5 && names[4].starts_with("hive.db.v1-") && names[4].ends_with(".bak"), "{names:?}");
    }

    #[test]
    fn uri_paths_keep_special_characters_in_the_path() {
        assert_eq!(uri_path(Path::new("/var/a b/x?y#z%.db")), "/var/a%20b/x%3Fy%23z%25.db");
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
