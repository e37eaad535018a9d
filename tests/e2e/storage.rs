//! The state directory's storage failing under the `hive` binary, for real: a read-only file system, a full disk
//! and a directory this user may not write (small tmpfs mounts, and `setpriv` to run as another user, since root
//! ignores file modes). Each fault must be named with its fix, never reported as a damaged database, and the
//! commands that only read must keep working. Also: export paths that name the database, a link, a device or a
//! FIFO, and user files that are devices, FIFOs or too large.
//!
//! Mounting needs CAP_SYS_ADMIN. Where it is missing a test prints why it did not run and passes, unless
//! `HIVE_TEST_REQUIRE_MOUNT` is set (then it fails), so a machine that should run them cannot skip them quietly.

use std::{
    os::unix::fs::FileTypeExt,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use hive::cerebrum::{AuditEntry, BACKLOG_FILE, BacklogItem, ItemKind, Memory, Risk};

use crate::{hive_in as hive, stderr, stdout};

/// A tmpfs of a few hundred KiB mounted on a fresh directory, unmounted when dropped.
struct SmallMount {
    dir: tempfile::TempDir,
}

impl SmallMount {
    /// Mounts one, or says why it cannot be done here.
    fn new(bytes: u64) -> Result<SmallMount, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let options = format!("size={bytes},mode=0755");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &options, "hive-test"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!("mount -t tmpfs failed: {}", stderr(&out).trim()));
        }
        Ok(SmallMount { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn remount_read_only(&self) {
        let out = Command::new("mount").args(["-o", "remount,ro"]).arg(self.path()).output().expect("run mount");
        assert!(out.status.success(), "remount read-only: {}", stderr(&out));
    }

    /// Fills the file system with one file until the kernel answers ENOSPC; returns the file.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let filler = self.path().join("filler");
        let mut file = std::fs::File::create(&filler).expect("create the filler");
        let block = vec![0xa5_u8; 4096];
        loop {
            match file.write_all(&block) {
                Ok(()) => {}
                Err(e) if e.raw_os_error() == Some(nix::libc::ENOSPC) => break,
                Err(e) => panic!("filling the mount: {e}"),
            }
        }
        filler
    }
}

impl Drop for SmallMount {
    fn drop(&mut self) {
        // Lazy, so a process still holding a file there cannot leave the mount behind.
        let _ = Command::new("umount").arg("-l").arg(self.path()).output();
    }
}

/// The mount, or `None` after printing why the test cannot run here (a failure if `HIVE_TEST_REQUIRE_MOUNT` is set).
fn mount_or_skip(test: &str, bytes: u64) -> Option<SmallMount> {
    match SmallMount::new(bytes) {
        Ok(mount) => Some(mount),
        Err(reason) if std::env::var_os("HIVE_TEST_REQUIRE_MOUNT").is_some() => {
            panic!("{test}: HIVE_TEST_REQUIRE_MOUNT is set but {reason}")
        }
        Err(reason) => {
            eprintln!("SKIPPED {test}: {reason}");
            None
        }
    }
}

/// A database in `dir` with `n` audit records and one backlog item, closed cleanly.
fn state(dir: &Path, n: usize) {
    let mut memory = Memory::open(dir).expect("open the database");
    for i in 0..n {
        let entry = AuditEntry { actor: format!("queen-{i}"), action: "open_issue".to_owned(), ..Default::default() };
        memory.audit().append(&entry).expect("append");
    }
    memory.ledger().upsert(&BacklogItem::new("acme/api", ItemKind::Bug, "ci fails", 2, Risk::Low)).expect("upsert");
}

/// A storage fault's message says nothing is damaged, and never suggests restoring or setting the data aside.
fn assert_not_called_damage(err: &str) {
    assert!(err.contains("nothing is damaged"), "{err}");
    assert!(!err.contains("damaged or") && !err.contains("aside") && !err.contains("restore"), "{err}");
}

#[test]
fn a_read_only_file_system_is_read_by_the_commands_that_read_and_named_by_those_that_write() {
    let Some(mount) = mount_or_skip("read-only file system", 4 << 20) else { return };
    let dir = mount.path().join("state");
    state(&dir, 3);
    let export = mount.path().join("export").join(BACKLOG_FILE);
    Memory::open(&dir).expect("open").ledger().export(&export, Some(1)).expect("export the backlog");
    mount.remount_read_only();

    let out = hive(&dir, &["audit", "verify"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "audit trail intact: 3 records");
    let out = hive(&dir, &["audit", "export"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).lines().count(), 3);
    let out = hive(&dir, &["--json", "backlog"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let document: serde_json::Value = serde_json::from_slice(&out.stdout).expect("the ledger as JSON");
    assert_eq!(document["items"].as_array().expect("items").len(), 1);
    let out = hive(&dir, &["backlog", "validate", export.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", stderr(&out));

    let out = hive(&dir, &["approve", "98673d657cef46f6"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("'{}' is on a read-only file system", dir.display())), "{err}");
    assert!(err.contains(&format!("make '{}' writable", dir.display())) && err.contains("--state-dir"), "{err}");
    assert_not_called_damage(&err);
}

#[test]
fn a_full_disk_is_named_with_its_fix_and_loses_nothing() {
    let Some(mount) = mount_or_skip("full disk", 1 << 20) else { return };
    let dir = mount.path().join("state");
    state(&dir, 2);
    let filler = mount.fill();

    let out = hive(&dir, &["approve", "98673d657cef46f6"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("no space left on the device holding '{}'", dir.display())), "{err}");
    assert!(err.contains("free space") && err.contains("--state-dir"), "{err}");
    assert_not_called_damage(&err);
    // Reading still works on the full disk.
    let out = hive(&dir, &["audit", "verify"]);
    assert!(out.status.success(), "{}", stderr(&out));

    std::fs::remove_file(filler).expect("free space");
    let out = hive(&dir, &["approve", "98673d657cef46f6"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = hive(&dir, &["audit", "verify"]);
    assert_eq!(stdout(&out).trim(), "audit trail intact: 3 records", "{}", stderr(&out));
}

#[test]
fn a_directory_this_user_may_not_write_is_named_and_still_read() {
    // Root is never refused by file modes, so hive runs as `nobody` through setpriv (util-linux).
    let base = tempfile::tempdir().expect("tempdir");
    let dir = base.path().join("state");
    state(&dir, 2);
    let open_to_all = |path: &Path, mode| {
        std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode)).expect("chmod");
    };
    open_to_all(base.path(), 0o755);
    open_to_all(&dir, 0o755);
    let as_nobody = |args: &[&str]| -> Result<Output, String> {
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", env!("CARGO_BIN_EXE_hive"), "--state-dir"])
            .arg(&dir)
            .args(args)
            .env_remove("HIVE_STATE_DIR")
            .output()
            .map_err(|e| format!("cannot run setpriv: {e}"))
    };
    let out = match as_nobody(&["audit", "verify"]) {
        Ok(out) if !stderr(&out).starts_with("setpriv:") => out,
        Ok(out) => return eprintln!("SKIPPED permission denied: {}", stderr(&out).trim()),
        Err(reason) => return eprintln!("SKIPPED permission denied: {reason}"),
    };
    assert!(out.status.success(), "reading needs no write access: {}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "audit trail intact: 2 records");

    let out = as_nobody(&["approve", "98673d657cef46f6"]).expect("setpriv ran before");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    let shown = dir.display();
    assert!(err.contains(&format!("permission denied in '{shown}'")), "{err}");
    assert!(err.contains(&format!("make '{shown}' and the files 'hive.db*' in it writable")), "{err}");
    assert!(err.contains("--state-dir"), "{err}");
    assert_not_called_damage(&err);
}

#[test]
fn a_tampered_newest_record_stops_writers_and_verify_names_it() {
    let base = tempfile::tempdir().expect("tempdir");
    state(base.path(), 4);
    let db = rusqlite::Connection::open(base.path().join(Memory::FILE_NAME)).expect("open raw");
    db.execute_batch("UPDATE audit SET action = 'nothing_to_see' WHERE seq = 4").expect("tamper");
    drop(db);
    let out = hive(base.path(), &["approve", "98673d657cef46f6"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("record 4") && err.contains("will not append") && err.contains("audit verify"), "{err}");
    let out = hive(base.path(), &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("record 4") && stderr(&out).contains("edited"), "{}", stderr(&out));
    let rows: i64 = rusqlite::Connection::open(base.path().join(Memory::FILE_NAME))
        .expect("open raw")
        .query_row("SELECT COUNT(*) FROM audit", [], |r| r.get(0))
        .expect("count");
    assert_eq!(rows, 4, "nothing was appended");
}

#[test]
fn an_export_never_replaces_the_database_a_link_a_device_a_fifo_or_a_directory() {
    let base = tempfile::tempdir().expect("tempdir");
    let dir = base.path().join("state");
    state(&dir, 2);
    let db = dir.join(Memory::FILE_NAME);
    let before = std::fs::read(&db).expect("read the database");
    let link = base.path().join("link.jsonl");
    std::os::unix::fs::symlink(&db, &link).expect("symlink");
    let other = base.path().join("other.jsonl");
    std::fs::write(&other, b"keep").expect("write");
    let other_link = base.path().join("other-link.jsonl");
    std::os::unix::fs::symlink(&other, &other_link).expect("symlink");
    let fifo = base.path().join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).output().expect("run mkfifo");
    assert!(made.status.success(), "{}", stderr(&made));
    let relative_db = dir.join("..").join("state").join(Memory::FILE_NAME);

    let cases: [(&Path, &str); 8] = [
        (&db, "database's own file"),
        (&relative_db, "database's own file"),
        (&dir.join("hive.db-wal"), "database's own file"),
        (&link, "database's own file"),
        (&other_link, "a symbolic link, not a regular file"),
        (Path::new("/dev/null"), "a character device, not a regular file"),
        (&fifo, "a FIFO (named pipe), not a regular file"),
        (base.path(), "a directory, not a regular file"),
    ];
    for (output, expected) in cases {
        let out = hive(&dir, &["audit", "export", "--output", output.to_str().expect("utf-8")]);
        assert_eq!(out.status.code(), Some(1), "{}: {}", output.display(), stderr(&out));
        assert!(stderr(&out).contains(expected), "{}: {}", output.display(), stderr(&out));
    }
    assert_eq!(std::fs::read(&db).expect("read"), before, "the database is untouched");
    assert!(std::fs::symlink_metadata(&link).expect("link").file_type().is_symlink());
    assert_eq!(std::fs::read(&other).expect("read"), b"keep", "a link's target is untouched");
    assert!(std::fs::metadata("/dev/null").expect("/dev/null").file_type().is_char_device());
    assert!(std::fs::symlink_metadata(&fifo).expect("fifo").file_type().is_fifo());
    let wal = std::fs::read(dir.join("hive.db-wal")).unwrap_or_default();
    assert!(!wal.starts_with(b"{"), "the write-ahead log is not an export");

    // A regular file is replaced whole.
    let out = hive(&dir, &["audit", "export", "--output", other.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&other).expect("read").lines().count(), 2);
}

/// Runs hive and fails the test if it has not finished by the deadline (a FIFO read would block forever, a read
/// of `/dev/zero` would grow until memory runs out).
fn hive_within(state: &Path, args: &[&str], deadline: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hive"))
        .args(args)
        .arg("--state-dir")
        .arg(state)
        .env_remove("HIVE_STATE_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run hive");
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > deadline {
            let _ = child.kill();
            panic!("hive {args:?} still running after {deadline:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

#[test]
fn validating_a_device_a_fifo_or_an_oversized_file_is_refused_without_reading_it() {
    let base = tempfile::tempdir().expect("tempdir");
    let fifo = base.path().join("fifo.json");
    let made = Command::new("mkfifo").arg(&fifo).output().expect("run mkfifo");
    assert!(made.status.success(), "{}", stderr(&made));
    // One byte over the 64 MiB limit, sparse, so it costs no disk.
    let large = base.path().join("large.json");
    std::fs::File::create(&large).expect("create").set_len((64 << 20) + 1).expect("grow");
    let cases = [
        (Path::new("/dev/zero"), "a character device, not a regular file"),
        (fifo.as_path(), "a FIFO (named pipe), not a regular file"),
        (large.as_path(), "larger than the limit of 67108864 bytes"),
    ];
    for (file, expected) in cases {
        let out =
            hive_within(base.path(), &["backlog", "validate", file.to_str().expect("utf-8")], Duration::from_secs(60));
        assert_eq!(out.status.code(), Some(1), "{}: {}", file.display(), stderr(&out));
        let err = stderr(&out);
        assert!(err.contains(&format!("cannot read '{}'", file.display())) && err.contains(expected), "{err}");
    }
    // The export `hive backlog` lists is read the same way.
    std::os::unix::fs::symlink("/dev/zero", base.path().join(BACKLOG_FILE)).expect("symlink");
    let out = hive_within(base.path(), &["backlog"], Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("a character device, not a regular file"), "{}", stderr(&out));
}
