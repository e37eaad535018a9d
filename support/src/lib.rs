//! Small shared utilities of hive: atomic file writes, size-bounded reads of regular files, RFC 3339 timestamps,
//! error chains on one line and the redaction of credentials in URLs, used by crates that may not depend on each
//! other (cerebrum, ecosystem and the binary).
//!
//! Atomic writes go to a temporary file, are fsynced, renamed over the target and the directory is fsynced, so a
//! reader sees the old file or the new one, never a torn one, even after a crash mid-write. Files named by a user
//! are read with [`read_bounded`], so `/dev/zero` or a FIFO is an error instead of unbounded memory or a hang, and
//! written with [`write_atomic_regular`], so a device, a FIFO or a symbolic link is never replaced.

use std::{
    borrow::Cow,
    fs,
    io::{self, Read, Write},
    os::unix::fs::FileTypeExt,
    path::Path,
    sync::atomic::{AtomicU64, Ordering},
};

/// Distinguishes temporary files of concurrent writers in one process.
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to `path` atomically, creating the parent directory if needed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("'{}' has no file name", path.display())))?;
    let sequence = SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let tmp = dir.join(format!(".{}.tmp-{}-{sequence}", name.to_string_lossy(), std::process::id()));
    let result = (|| {
        // create_new: never write through a file or link someone placed at the temporary name. One that is there
        // is left by a dead process (a restarted container reuses its pid), so it is removed, not written through.
        let create = || fs::OpenOptions::new().write(true).create_new(true).open(&tmp);
        let mut file = match create() {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                fs::remove_file(&tmp)?;
                create()?
            }
            other => other?,
        };
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

/// Keeps the files of the `keep` newest entries of `dir` and removes the rest: `key` numbers a file by its name
/// (a cycle, a time), and files without a number (temporary files of [`write_atomic`], anything a person put there)
/// are never touched, nor is anything but a regular file. Files sharing a number (a summary's `.md` and `.json`)
/// are kept or removed together. Returns how many files were removed; a missing directory has none. Removing a
/// finished file is atomic, so a reader sees it whole or not at all.
pub fn prune_numbered(dir: &Path, keep: usize, key: impl Fn(&str) -> Option<u64>) -> io::Result<usize> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut numbered = Vec::new();
    for entry in entries {
        let entry = entry?;
        let Some(number) = entry.file_name().to_str().and_then(&key) else { continue };
        if entry.file_type()?.is_file() {
            numbered.push((number, entry.path()));
        }
    }
    let mut numbers: Vec<u64> = numbered.iter().map(|(n, _)| *n).collect();
    numbers.sort_unstable();
    numbers.dedup();
    let Some(&oldest_kept) = numbers.len().checked_sub(keep).and_then(|cut| numbers.get(cut)) else { return Ok(0) };
    let mut removed = 0;
    for (_, path) in numbered.iter().filter(|(n, _)| *n < oldest_kept) {
        match fs::remove_file(path) {
            Ok(()) => removed += 1,
            // Another pruner was first.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(removed)
}

/// Writes `bytes` to `path` atomically like [`write_atomic`], but only as a regular file: a path that names a
/// symbolic link (which is not followed), a directory, a FIFO, a device or a socket is refused and left as it is.
/// For paths a user names, where replacing `/dev/null` or the target of a link would destroy something else.
pub fn write_atomic_regular(path: &Path, bytes: &[u8]) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_file() => {}
        Ok(meta) => {
            let message = format!(
                "it is {}, not a regular file; hive writes only regular files: give the path of a new or existing file",
                describe(meta.file_type())
            );
            return Err(io::Error::new(io::ErrorKind::InvalidInput, message));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    write_atomic(path, bytes)
}

/// Reads the whole regular file at `path`, at most `limit` bytes: a larger file is an error
/// ([`io::ErrorKind::FileTooLarge`]), and so is anything that is not a regular file once links are followed
/// ([`io::ErrorKind::InvalidInput`]: a FIFO would block forever, `/dev/zero` would never end).
pub fn read_bounded(path: &Path, limit: u64) -> io::Result<Vec<u8>> {
    use std::os::unix::fs::OpenOptionsExt;
    // Opened without blocking (a FIFO would wait for a writer) and checked on the open file, so a path replaced
    // between a check and the open cannot slip through. The flag changes nothing for reads of a regular file.
    let file = fs::OpenOptions::new().read(true).custom_flags(nix::fcntl::OFlag::O_NONBLOCK.bits()).open(path)?;
    regular(&file.metadata()?, limit)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        // The file grew after it was measured.
        return Err(too_large(limit));
    }
    Ok(bytes)
}

fn regular(meta: &fs::Metadata, limit: u64) -> io::Result<()> {
    if !meta.file_type().is_file() {
        let message = format!("it is {}, not a regular file", describe(meta.file_type()));
        return Err(io::Error::new(io::ErrorKind::InvalidInput, message));
    }
    if meta.len() > limit {
        return Err(too_large(limit));
    }
    Ok(())
}

fn too_large(limit: u64) -> io::Error {
    io::Error::new(io::ErrorKind::FileTooLarge, format!("it is larger than the limit of {limit} bytes"))
}

/// A file type as a noun phrase for error messages.
fn describe(kind: fs::FileType) -> &'static str {
    if kind.is_dir() {
        "a directory"
    } else if kind.is_symlink() {
        "a symbolic link"
    } else if kind.is_fifo() {
        "a FIFO (named pipe)"
    } else if kind.is_char_device() {
        "a character device"
    } else if kind.is_block_device() {
        "a block device"
    } else if kind.is_socket() {
        "a socket"
    } else if kind.is_file() {
        "a regular file"
    } else {
        "an unknown kind of file"
    }
}

/// `min * 2^n`, capped at `max`, without overflow: the exponential part of every backoff in hive (restarts,
/// retries, service restarts, mirror pushes), so they all grow the same way.
///
/// ```
/// # use std::time::Duration;
/// let (min, max) = (Duration::from_millis(100), Duration::from_millis(350));
/// let delays: Vec<u128> = (0..4).map(|n| hive_support::doubling(min, max, n).as_millis()).collect();
/// assert_eq!(delays, [100, 200, 350, 350]);
/// assert_eq!(hive_support::doubling(Duration::MAX, Duration::MAX, 40), Duration::MAX, "no overflow");
/// ```
pub fn doubling(min: std::time::Duration, max: std::time::Duration, n: u32) -> std::time::Duration {
    let factor = 2u32.checked_pow(n.min(31)).unwrap_or(u32::MAX);
    min.checked_mul(factor).unwrap_or(max).min(max)
}

/// The text of a panic's payload (`panic!` with a literal or with a format string), if it has one.
///
/// ```
/// let payload = std::panic::catch_unwind(|| panic!("read {} failed", 3)).unwrap_err();
/// assert_eq!(hive_support::panic_text(payload.as_ref()), Some("read 3 failed"));
/// ```
pub fn panic_text(payload: &(dyn std::any::Any + Send)) -> Option<&str> {
    payload.downcast_ref::<&str>().copied().or_else(|| payload.downcast_ref::<String>().map(String::as_str))
}

/// An error and its `source()` chain on one line, `outer: inner: innermost`, the way `hive: <chain>` prints
/// errors: typed errors keep their causes as sources instead of formatting them into their own message, so whoever
/// shows one to a person (an event, a status line, a report) joins the chain here.
///
/// ```
/// #[derive(Debug)]
/// struct Save(std::io::Error);
/// impl std::fmt::Display for Save {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         f.write_str("could not save 'state.json'")
///     }
/// }
/// impl std::error::Error for Save {
///     fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
///         Some(&self.0)
///     }
/// }
/// let error = Save(std::io::Error::other("disk full"));
/// assert_eq!(hive_support::error_chain(&error), "could not save 'state.json': disk full");
/// ```
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// One process as Linux's `/proc/<pid>/stat` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcStat {
    /// Its pid.
    pub pid: i32,
    /// Its command name (at most 15 bytes, as the kernel keeps it).
    pub comm: String,
    /// Its state: `R` running, `S` sleeping, `T` stopped, `Z` zombie...
    pub state: char,
    /// Its parent's pid.
    pub ppid: i32,
    /// Its process group.
    pub pgid: i32,
}

impl ProcStat {
    /// Parses `pid (comm) state ppid pgrp ...`. The command name may hold spaces and parentheses, so the fields
    /// are read after the last `)`.
    ///
    /// ```
    /// let stat = hive_support::ProcStat::parse(4242, "4242 (a) b (c)) S 17 4242 17 0").unwrap();
    /// assert_eq!((stat.comm.as_str(), stat.state, stat.ppid, stat.pgid), ("a) b (c)", 'S', 17, 4242));
    /// ```
    pub fn parse(pid: i32, stat: &str) -> Option<ProcStat> {
        let (head, rest) = stat.rsplit_once(')')?;
        let comm = head.split_once('(')?.1.to_owned();
        let mut fields = rest.split_whitespace();
        let state = fields.next()?.chars().next()?;
        let ppid = fields.next()?.parse().ok()?;
        let pgid = fields.next()?.parse().ok()?;
        Some(ProcStat { pid, comm, state, ppid, pgid })
    }

    /// One process now; `None` when it is gone (or this is not Linux).
    pub fn of(pid: i32) -> Option<ProcStat> {
        ProcStat::parse(pid, &fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
    }

    /// Every process that can be read now; empty where there is no `/proc`.
    pub fn all() -> Vec<ProcStat> {
        let Ok(dir) = fs::read_dir("/proc") else { return Vec::new() };
        dir.filter_map(Result::ok)
            .filter_map(|entry| entry.file_name().to_str().and_then(|name| name.parse::<i32>().ok()))
            .filter_map(ProcStat::of)
            .collect()
    }

    /// Whether it has exited and waits for its parent (or is being torn down): no longer running anything.
    pub fn is_dead(&self) -> bool {
        matches!(self.state, 'Z' | 'X')
    }
}

/// Seconds since the epoch, now (0 before it, `i64::MAX` past what fits).
pub fn unix_now() -> i64 {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    i64::try_from(secs).unwrap_or(i64::MAX)
}

/// Now, as [`rfc3339`] writes it.
pub fn now_rfc3339() -> String {
    rfc3339(std::time::SystemTime::now())
}

/// Formats a `SystemTime` as RFC 3339 UTC with second precision, without a date library.
pub fn rfc3339(t: std::time::SystemTime) -> String {
    let secs = t.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3_600, rem % 3_600 / 60, rem % 60)
}

/// What the userinfo of a URL (`user:password@`) is replaced with; the same text as cerebrum's `REDACTED`.
pub const REDACTED_USERINFO: &str = "[REDACTED]";

/// `text` with the userinfo of every URL in it (`https://user:secret@host/x.git`) replaced by `[REDACTED]`; borrowed
/// unchanged when there is none. Scheme, host and path stay, so a message still says which remote failed.
///
/// A URL is a scheme (a letter, then letters, digits, `+`, `-` or `.`) followed by `://`, and runs to the next
/// whitespace or quote. Its userinfo is everything up to the first `@` before any `/`, `?` or `#`; but passwords are
/// often written unencoded (`https://u:pa/ss#1@host`), so when a `:` comes before that first `/`, `?` or `#` (a
/// `user:password` form), it runs to the last `@` of the URL instead: a path or query holding an `@` after a port is
/// over-redacted, a password never shown. Errors built from git's messages and arguments go
/// through this before anyone can print them, in crates that cannot use cerebrum's `Redactor` (which calls it too).
///
/// ```
/// use hive_support::redact_url_credentials;
///
/// let err = "could not clone 'https://me:hunter2@example.com/x.git': refused";
/// assert_eq!(redact_url_credentials(err), "could not clone 'https://[REDACTED]@example.com/x.git': refused");
/// assert_eq!(redact_url_credentials("git@example.com:x.git"), "git@example.com:x.git");
/// ```
pub fn redact_url_credentials(text: &str) -> Cow<'_, str> {
    let spans = url_userinfo_spans(text);
    if spans.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for span in spans {
        out.push_str(&text[copied..span.start]);
        out.push_str(REDACTED_USERINFO);
        copied = span.end;
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// The byte ranges of the userinfo of every URL in `text`, in order and disjoint.
pub fn url_userinfo_spans(text: &str) -> Vec<std::ops::Range<usize>> {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let mut from = 0;
    while let Some(found) = text[from..].find("://") {
        let sep = from + found;
        from = sep + 3;
        // The scheme: at least one letter first, then scheme characters, directly before "://".
        let scheme_start = bytes[..sep]
            .iter()
            .rposition(|b| !(b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')))
            .map_or(0, |i| i + 1);
        if !bytes[scheme_start..sep].iter().any(u8::is_ascii_alphabetic) {
            continue;
        }
        let start = sep + 3;
        let token_end = text[start..]
            .find(|c: char| matches!(c, '\'' | '"' | '`' | '<' | '>') || c.is_whitespace())
            .map_or(text.len(), |i| start + i);
        let url = &text[start..token_end];
        let authority = url.find(['/', '?', '#']).map_or(url, |i| &url[..i]);
        let at = if authority.contains(':') { url.rfind('@') } else { authority.find('@') };
        if let Some(at) = at.map(|i| start + i)
            && at > start
        {
            spans.push(start..at);
            from = at + 1;
        }
    }
    spans
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn prune_numbered_keeps_the_newest_numbers_and_touches_nothing_else() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cycle = |name: &str| name.split_once('.').and_then(|(stem, _)| stem.parse::<u64>().ok());
        // 7 and 10 sort after 9 and 100 as text; the numbers decide.
        for n in [7, 9, 10, 100] {
            for ext in ["md", "json"] {
                fs::write(dir.path().join(format!("{n:02}.{ext}")), b"x").expect("write");
            }
        }
        fs::write(dir.path().join(".01.json.tmp-1-0"), b"in flight").expect("write");
        fs::write(dir.path().join("notes.txt"), b"mine").expect("write");
        fs::create_dir(dir.path().join("3.d")).expect("mkdir");
        assert_eq!(prune_numbered(dir.path(), 2, cycle).expect("prune"), 4);
        let mut left: Vec<String> = fs::read_dir(dir.path())
            .expect("read")
            .map(|e| e.expect("entry").file_name().into_string().expect("utf-8"))
            .collect();
        left.sort();
        assert_eq!(left, [".01.json.tmp-1-0", "10.json", "10.md", "100.json", "100.md", "3.d", "notes.txt"]);
        // Within the retention, nothing goes; a missing directory is no error.
        assert_eq!(prune_numbered(dir.path(), 2, cycle).expect("again"), 0);
        assert_eq!(prune_numbered(dir.path(), 5, cycle).expect("more kept"), 0);
        assert_eq!(prune_numbered(&dir.path().join("missing"), 1, cycle).expect("missing"), 0);
    }

    #[test]
    fn read_bounded_reads_regular_files_only_and_never_waits() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("file");
        fs::write(&file, b"12345").expect("write");
        assert_eq!(read_bounded(&file, 5).expect("read"), b"12345");
        assert_eq!(read_bounded(&file, 4).expect_err("too large").kind(), io::ErrorKind::FileTooLarge);
        let fifo = dir.path().join("fifo");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRUSR | nix::sys::stat::Mode::S_IWUSR).expect("mkfifo");
        // Without a writer, a blocking open would never return.
        let err = read_bounded(&fifo, 100).expect_err("a fifo");
        assert_eq!(
            (err.kind(), err.to_string()),
            (io::ErrorKind::InvalidInput, "it is a FIFO (named pipe), not a regular file".to_owned())
        );
        let err = read_bounded(Path::new("/dev/zero"), 100).expect_err("a device");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{err}");
        assert_eq!(read_bounded(dir.path(), 100).expect_err("a directory").kind(), io::ErrorKind::InvalidInput);
        assert_eq!(
            read_bounded(&dir.path().join("missing"), 100).expect_err("missing").kind(),
            io::ErrorKind::NotFound
        );
    }

    #[test]
    fn rfc3339_known_instants() {
        let check = |secs: u64, expected: &str| assert_eq!(rfc3339(UNIX_EPOCH + Duration::from_secs(secs)), expected);
        check(0, "1970-01-01T00:00:00Z");
        check(951_782_400, "2000-02-29T00:00:00Z");
        check(1_700_000_000, "2023-11-14T22:13:20Z");
        check(1_798_761_599, "2026-12-31T23:59:59Z");
    }

    #[test]
    fn replaces_whole_file_and_leaves_no_temporaries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("nested/state.json");
        write_atomic(&path, b"old").expect("first write");
        write_atomic(&path, b"new contents").expect("second write");
        assert_eq!(std::fs::read(&path).expect("read"), b"new contents");
        let entries: Vec<_> = std::fs::read_dir(path.parent().expect("parent")).expect("list").collect();
        assert_eq!(entries.len(), 1, "temporary files left behind");
    }

    #[test]
    fn a_bounded_read_returns_a_file_up_to_the_limit_and_refuses_one_byte_more() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f");
        std::fs::write(&path, vec![7u8; 1000]).expect("write");
        assert_eq!(read_bounded(&path, 1000).expect("at the limit").len(), 1000);
        let err = read_bounded(&path, 999).expect_err("one byte over");
        assert_eq!(err.kind(), io::ErrorKind::FileTooLarge);
        assert!(err.to_string().contains("larger than the limit of 999 bytes"), "{err}");
    }

    #[test]
    fn a_bounded_read_refuses_devices_and_directories_without_reading_them() {
        // /dev/zero never ends: read unbounded it would fill memory; here it is refused before any read.
        let err = read_bounded(Path::new("/dev/zero"), 1 << 20).expect_err("a device");
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains("a character device, not a regular file"), "{err}");
        let dir = tempfile::tempdir().expect("tempdir");
        let err = read_bounded(dir.path(), 1 << 20).expect_err("a directory");
        assert!(err.to_string().contains("a directory, not a regular file"), "{err}");
    }

    #[test]
    fn a_regular_write_replaces_a_regular_file_and_refuses_links_and_devices() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("out");
        write_atomic_regular(&file, b"one").expect("a new file");
        write_atomic_regular(&file, b"two").expect("a regular file is replaced");
        assert_eq!(std::fs::read(&file).expect("read"), b"two");

        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).expect("symlink");
        let err = write_atomic_regular(&link, b"three").expect_err("a link");
        assert!(err.to_string().contains("a symbolic link, not a regular file"), "{err}");
        assert_eq!(std::fs::read(&file).expect("read"), b"two", "the link's target is untouched");
        assert!(std::fs::symlink_metadata(&link).expect("link").file_type().is_symlink(), "the link is kept");

        let err = write_atomic_regular(dir.path(), b"x").expect_err("a directory");
        assert!(err.to_string().contains("a directory"), "{err}");
        let err = write_atomic_regular(Path::new("/dev/null"), b"x").expect_err("a device");
        assert!(err.to_string().contains("a character device"), "{err}");
        assert!(std::fs::metadata("/dev/null").expect("/dev/null").file_type().is_char_device(), "still a device");
    }

    #[test]
    fn a_temporary_file_left_at_the_same_name_is_removed_not_written_through() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state.json");
        let outside = dir.path().join("outside");
        std::fs::write(&outside, b"untouched").expect("write");
        // The next temporary name this process will use, taken by a link as a crashed earlier process (or someone
        // else) could have left it.
        let next = SEQUENCE.load(Ordering::Relaxed);
        for sequence in next..next + 64 {
            let tmp = dir.path().join(format!(".state.json.tmp-{}-{sequence}", std::process::id()));
            std::os::unix::fs::symlink(&outside, tmp).expect("symlink");
        }
        write_atomic(&path, b"new").expect("write despite the leftover");
        assert_eq!(std::fs::read(&path).expect("read"), b"new");
        assert_eq!(std::fs::read(&outside).expect("read"), b"untouched", "the link was not followed");
    }

    #[test]
    fn url_credentials_are_redacted_everywhere_in_a_text() {
        let check = |text: &str, expected: &str| assert_eq!(redact_url_credentials(text), expected, "{text}");
        check("https://u:p@h/x", "https://[REDACTED]@h/x");
        check("git+ssh://token@h", "git+ssh://[REDACTED]@h");
        check(
            "'http://a:b@127.0.0.1:1/x.git' and ftp://c@d/",
            "'http://[REDACTED]@127.0.0.1:1/x.git' and ftp://[REDACTED]@d/",
        );
        check("https://h/x@y", "https://h/x@y");
        check("https://github.com/acme/api?by=me@x.org", "https://github.com/acme/api?by=me@x.org");
        // Unencoded passwords with the characters that end a host: never shown.
        check("https://u:pa/ss@h/x", "https://[REDACTED]@h/x");
        check("https://u:p#w@h", "https://[REDACTED]@h");
        check("https://u:p?x@h", "https://[REDACTED]@h");
        check("https://u:p@ss@h/r", "https://[REDACTED]@h/r");
        check("https://@h/x", "https://@h/x");
        check("no url: a@b, ://x@y, 1://x@y", "no url: a@b, ://x@y, 1://x@y");
        check("https://u:p@h https://v@k", "https://[REDACTED]@h https://[REDACTED]@k");
        check("ünï https://ü:ß@h", "ünï https://[REDACTED]@h");
        assert!(matches!(redact_url_credentials("plain text"), Cow::Borrowed(_)));
    }

    #[test]
    fn error_names_the_path() {
        let err = write_atomic(Path::new("/"), b"x").expect_err("root has no file name");
        assert!(err.to_string().contains("'/'"), "{err}");
    }
}
