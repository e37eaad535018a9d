//! Atomic file writes (temporary file, fsync, rename, fsync of the directory), so a reader sees the old file or
//! the new one, never a torn one, even after a crash mid-write. The same recipe as `hive_cerebrum`'s snapshots;
//! ecosystem cannot depend on cerebrum, so it keeps its own.

use std::{
    fs,
    io::{self, Write},
    path::Path,
    sync::atomic::{AtomicU64, Ordering},
};

/// Distinguishes temporary files of concurrent writers in one process.
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` atomically, creating the parent directory if needed.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("'{}' has no file name", path.display())))?;
    let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{}.tmp-{}-{sequence}", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        // Persist the rename itself.
        fs::File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_file_and_leaves_no_temporaries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nested/state.json");
        write_atomic(&path, b"old").expect("first write");
        write_atomic(&path, b"new contents").expect("second write");
        assert_eq!(fs::read(&path).expect("read"), b"new contents");
        let entries: Vec<_> = fs::read_dir(path.parent().expect("parent")).expect("list").collect();
        assert_eq!(entries.len(), 1, "temporary files left behind");
    }

    #[test]
    fn error_names_the_path() {
        let err = write_atomic(Path::new("/"), b"x").expect_err("root has no file name");
        assert!(err.to_string().contains("'/'"), "{err}");
    }
}
