//! Telling storage faults from damage. A read-only file system, a full disk or a permission error leaves the
//! database intact, and the fix is on the machine (free space, make the directory writable), so it must never be
//! reported like a damaged file, whose fix may be to set it aside.
//!
//! SQLite's result code says what kind of failure it was; for the codes that can hide an operating-system cause
//! (SQLITE_CANTOPEN, SQLITE_READONLY, SQLITE_IOERR...), a small write probe in the database's directory asks the
//! operating system itself which one it is. The decision, [`judge`], is a pure function of both.

use std::{
    fmt, io,
    path::{Path, PathBuf},
};

use rusqlite::ErrorCode;

use super::MemoryError;

/// What the storage under the database refused. None of these is damage: the database is as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StorageFault {
    /// The file system is mounted read-only.
    ReadOnlyFileSystem,
    /// The database files are read-only (their mode, or an attribute), though the directory is writable.
    ReadOnlyFiles,
    /// This user may not create or change files there (EACCES, EPERM).
    PermissionDenied,
    /// No space or quota left on the device.
    NoSpace,
    /// The state directory does not exist.
    MissingDirectory,
}

impl StorageFault {
    /// The fault, said about the database's directory.
    fn cause(self, dir: &Path) -> String {
        let dir = dir.display();
        match self {
            Self::ReadOnlyFileSystem => format!("'{dir}' is on a read-only file system"),
            Self::ReadOnlyFiles => format!("the database files in '{dir}' are read-only"),
            Self::PermissionDenied => format!("permission denied in '{dir}'"),
            Self::NoSpace => format!("no space left on the device holding '{dir}'"),
            Self::MissingDirectory => format!("the directory '{dir}' does not exist"),
        }
    }

    /// What to do about it.
    fn fix(self, dir: &Path) -> String {
        let dir = dir.display();
        let elsewhere = "or choose another --state-dir (or HIVE_STATE_DIR)";
        match self {
            Self::ReadOnlyFileSystem => format!("make '{dir}' writable (remount it read-write) {elsewhere}"),
            Self::ReadOnlyFiles => format!("make the files 'hive.db*' in '{dir}' writable {elsewhere}"),
            Self::PermissionDenied => {
                format!(
                    "make '{dir}' and the files 'hive.db*' in it writable by this user, or run hive as their owner, {elsewhere}"
                )
            }
            Self::NoSpace => format!("free space on the device holding '{dir}' {elsewhere}"),
            Self::MissingDirectory => format!("create '{dir}' {elsewhere}"),
        }
    }
}

/// The message of [`MemoryError::Storage`]: cause, the reassurance that nothing is damaged, the fix, the detail.
pub(crate) struct Explained<'a> {
    pub(crate) fault: StorageFault,
    pub(crate) dir: &'a Path,
}

impl fmt::Display for Explained<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}; nothing is damaged: {}", self.fault.cause(self.dir), self.fault.fix(self.dir))
    }
}

/// How a failure is reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The file really is damaged or is not a database: only here may the advice be to set it aside.
    Damaged,
    /// The storage refused; the database is intact.
    Storage(StorageFault),
    /// Anything else keeps SQLite's own words.
    Other,
}

/// Decides how to report a SQLite failure with result `code`. `probe` is asked only for the codes whose cause
/// lies in the operating system; it returns the kind of error a write in the database's directory got, if any.
pub(crate) fn judge(code: Option<ErrorCode>, probe: impl FnOnce() -> Option<io::ErrorKind>) -> Verdict {
    match code {
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => Verdict::Damaged,
        Some(ErrorCode::DiskFull) => Verdict::Storage(StorageFault::NoSpace),
        Some(
            ErrorCode::ReadOnly
            | ErrorCode::CannotOpen
            | ErrorCode::PermissionDenied
            | ErrorCode::SystemIoFailure
            | ErrorCode::FileLockingProtocolFailed,
        ) => match probe().and_then(io_fault) {
            Some(fault) => Verdict::Storage(fault),
            // The directory takes writes, so a refusal to write is about the database files themselves.
            None if code == Some(ErrorCode::ReadOnly) => Verdict::Storage(StorageFault::ReadOnlyFiles),
            None => Verdict::Other,
        },
        _ => Verdict::Other,
    }
}

/// The storage fault an operating-system error names, if it names one.
pub(crate) fn io_fault(kind: io::ErrorKind) -> Option<StorageFault> {
    match kind {
        io::ErrorKind::ReadOnlyFilesystem => Some(StorageFault::ReadOnlyFileSystem),
        io::ErrorKind::PermissionDenied => Some(StorageFault::PermissionDenied),
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => Some(StorageFault::NoSpace),
        io::ErrorKind::NotFound => Some(StorageFault::MissingDirectory),
        _ => None,
    }
}

/// Asks the operating system whether `dir` takes a new file of one page: the error kind it answered, or `None`
/// if it did. Runs only after SQLite failed, and removes what it made.
pub(crate) fn probe(dir: &Path) -> Option<io::ErrorKind> {
    use std::io::Write;
    let name = dir.join(format!(".hive-write-check-{}", std::process::id()));
    let result = std::fs::OpenOptions::new().write(true).create_new(true).open(&name).and_then(|mut file| {
        let written = file.write_all(&[0u8; 4096]).and_then(|()| file.sync_all());
        let _ = std::fs::remove_file(&name);
        written
    });
    result.err().map(|e| e.kind())
}

/// The directory a database file lives in.
pub(crate) fn dir_of(path: &Path) -> PathBuf {
    path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")).to_path_buf()
}

/// A SQLite failure on the database at `path`, reported by its real cause.
pub(crate) fn classify(path: &Path, source: rusqlite::Error) -> MemoryError {
    let dir = dir_of(path);
    match judge(source.sqlite_error_code(), || probe(&dir)) {
        Verdict::Damaged => MemoryError::Corrupt { path: path.to_path_buf(), source },
        Verdict::Storage(fault) => {
            MemoryError::Storage { path: path.to_path_buf(), dir, fault, detail: source.to_string() }
        }
        Verdict::Other => MemoryError::Sqlite { path: path.to_path_buf(), source },
    }
}

/// An operating-system failure on `path` (a database file, or the state directory itself), by its real cause.
pub(crate) fn classify_io(path: &Path, source: io::Error) -> MemoryError {
    match io_fault(source.kind()) {
        // NotFound on a file is not a missing directory; keep the plain error.
        Some(fault) if fault != StorageFault::MissingDirectory => {
            let dir = if path.is_dir() { path.to_path_buf() } else { dir_of(path) };
            MemoryError::Storage { path: path.to_path_buf(), dir, fault, detail: source.to_string() }
        }
        _ => MemoryError::Io { path: path.to_path_buf(), source },
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::{Connection, OpenFlags};

    use super::*;

    /// Real SQLite failures, each provoked on a real database, with the verdict they must get for a given answer
    /// of the write probe.
    #[test]
    fn sqlite_failures_are_judged_by_their_real_cause() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("t.db");
        let conn = Connection::open(&db).unwrap();
        conn.execute_batch("CREATE TABLE t (x BLOB);").unwrap();

        // SQLITE_FULL: a page limit stands in for the disk; SQLite reports both with the same code.
        conn.pragma_update(None, "max_page_count", 3).unwrap();
        let full = conn.execute("INSERT INTO t VALUES (zeroblob(100000))", []).unwrap_err();
        // SQLITE_READONLY: a write on a connection opened read-only.
        let ro = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let read_only = ro.execute("INSERT INTO t VALUES (1)", []).unwrap_err();
        // SQLITE_CANTOPEN: a database in a directory that is not there.
        let cant_open =
            Connection::open_with_flags(dir.path().join("gone/t.db"), OpenFlags::SQLITE_OPEN_READ_WRITE).unwrap_err();
        // SQLITE_NOTADB: a file of garbage.
        let garbage = dir.path().join("garbage.db");
        std::fs::write(&garbage, vec![0x5a_u8; 4096]).unwrap();
        let not_a_db = Connection::open(&garbage)
            .unwrap()
            .pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))
            .unwrap_err();
        // SQLITE_ERROR: a plain mistake is neither damage nor a storage fault.
        let mistake = conn.execute("SELECT * FROM nowhere", []).unwrap_err();

        use io::ErrorKind as K;
        let cases: [(&rusqlite::Error, Option<K>, Verdict); 10] = [
            (&full, None, Verdict::Storage(StorageFault::NoSpace)),
            (&read_only, Some(K::ReadOnlyFilesystem), Verdict::Storage(StorageFault::ReadOnlyFileSystem)),
            (&read_only, Some(K::PermissionDenied), Verdict::Storage(StorageFault::PermissionDenied)),
            (&read_only, None, Verdict::Storage(StorageFault::ReadOnlyFiles)),
            (&cant_open, Some(K::NotFound), Verdict::Storage(StorageFault::MissingDirectory)),
            (&cant_open, Some(K::StorageFull), Verdict::Storage(StorageFault::NoSpace)),
            (&cant_open, Some(K::ReadOnlyFilesystem), Verdict::Storage(StorageFault::ReadOnlyFileSystem)),
            (&cant_open, None, Verdict::Other),
            (&not_a_db, Some(K::ReadOnlyFilesystem), Verdict::Damaged),
            (&mistake, Some(K::PermissionDenied), Verdict::Other),
        ];
        for (error, probed, expected) in cases {
            assert_eq!(judge(error.sqlite_error_code(), || probed), expected, "{error:?} with probe {probed:?}");
        }
        // Damage and a full disk are known from SQLite's code alone: the directory is not probed.
        for error in [&full, &not_a_db] {
            judge(error.sqlite_error_code(), || panic!("probed for {error:?}"));
        }
    }

    #[test]
    fn storage_faults_name_the_directory_and_never_suggest_setting_data_aside() {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("t.db")).unwrap();
        conn.execute_batch("CREATE TABLE t (x BLOB); PRAGMA max_page_count = 2;").unwrap();
        let full = conn.execute("INSERT INTO t VALUES (zeroblob(100000))", []).unwrap_err();
        let message = classify(&dir.path().join("t.db"), full).to_string();
        let shown = dir.path().display().to_string();
        assert!(message.contains(&format!("no space left on the device holding '{shown}'")), "{message}");
        assert!(message.contains(&format!("free space on the device holding '{shown}'")), "{message}");
        assert!(message.contains("--state-dir") && message.contains("nothing is damaged"), "{message}");
        assert!(!message.contains("move it aside") && !message.contains("damaged or"), "{message}");

        for fault in [
            StorageFault::ReadOnlyFileSystem,
            StorageFault::ReadOnlyFiles,
            StorageFault::PermissionDenied,
            StorageFault::NoSpace,
            StorageFault::MissingDirectory,
        ] {
            let text = Explained { fault, dir: Path::new("/var/lib/hive") }.to_string();
            assert!(text.contains("'/var/lib/hive'") && text.contains("--state-dir"), "{text}");
            assert!(!text.contains("aside") && !text.contains("delete"), "{text}");
        }
    }

    #[test]
    fn operating_system_errors_map_to_faults_and_a_missing_file_stays_plain() {
        let dir = tempfile::tempdir().unwrap();
        let err = classify_io(dir.path(), io::Error::from(io::ErrorKind::ReadOnlyFilesystem));
        assert!(
            matches!(&err, MemoryError::Storage { fault: StorageFault::ReadOnlyFileSystem, dir: d, .. } if d == dir.path()),
            "{err:?}"
        );
        let missing = std::fs::metadata(dir.path().join("nope")).unwrap_err();
        let err = classify_io(&dir.path().join("nope"), missing);
        assert!(matches!(err, MemoryError::Io { .. }), "{err:?}");
    }

    #[test]
    fn the_probe_answers_for_a_writable_and_a_missing_directory_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(probe(dir.path()), None);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "the probe file is removed");
        assert_eq!(probe(&dir.path().join("gone")), Some(io::ErrorKind::NotFound));
    }
}
