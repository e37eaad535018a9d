//! Small shared utilities of hive: atomic file writes, RFC 3339 timestamps and the redaction of credentials in URLs,
//! used by crates that may not depend on each other (cerebrum and ecosystem).
//!
//! Atomic writes go to a temporary file, are fsynced, renamed over the target and the directory is fsynced, so a
//! reader sees the old file or the new one, never a torn one, even after a crash mid-write.

use std::{
    borrow::Cow,
    fs,
    io::{self, Write},
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
/// A URL is a scheme (a letter, then letters, digits, `+`, `-` or `.`) followed by `://`; its userinfo is everything
/// up to the first `@` before any `/`, `?`, `#` or whitespace. Errors built from git's messages and arguments go
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
        let end = text[start..]
            .find(|c: char| matches!(c, '/' | '?' | '#' | '@') || c.is_whitespace())
            .map_or(text.len(), |i| start + i);
        if end > start && text[end..].starts_with('@') {
            spans.push(start..end);
            from = end + 1;
        }
    }
    spans
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

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
    fn url_credentials_are_redacted_everywhere_in_a_text() {
        let check = |text: &str, expected: &str| assert_eq!(redact_url_credentials(text), expected, "{text}");
        check("https://u:p@h/x", "https://[REDACTED]@h/x");
        check("git+ssh://token@h", "git+ssh://[REDACTED]@h");
        check(
            "'http://a:b@127.0.0.1:1/x.git' and ftp://c@d/",
            "'http://[REDACTED]@127.0.0.1:1/x.git' and ftp://[REDACTED]@d/",
        );
        check("https://h/x@y", "https://h/x@y");
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
