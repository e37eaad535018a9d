//! The paths edits may touch, and reading what they hold: relative, inside the worktree once links are resolved,
//! never in `.git/`, never a link or a directory themselves.

use std::{
    fs, io,
    path::{Path, PathBuf},
};

use super::EditError;

/// The largest file an edit reads: manifests and workflow files are far smaller, and a bound keeps a stray large
/// file from filling memory.
pub(crate) const MAX_FILE_BYTES: u64 = 16 << 20;

/// Whether `rel` is, as text, a path inside a worktree: relative, `/`-separated, without empty, `.` or `..`
/// components, and not in `.git`. Globs pass when their components do.
pub(crate) fn lexical(rel: &str) -> Result<(), EditError> {
    let refuse = |reason: &str| EditError::unsafe_path(rel, reason);
    if rel.is_empty() {
        return Err(refuse("it is empty; give a file's path relative to the worktree"));
    }
    if rel.contains('\0') {
        return Err(refuse("it holds a NUL character"));
    }
    if rel.starts_with('/') {
        return Err(refuse("it is absolute; give the path relative to the worktree"));
    }
    for part in rel.split('/') {
        match part {
            "" | "." => return Err(refuse("write it without empty or '.' components, like 'dir/file'")),
            ".." => return Err(refuse("'..' would leave the worktree; give a path inside it")),
            // Case-insensitive: on a case-insensitive file system `.GIT` is the same directory.
            p if p.eq_ignore_ascii_case(".git") => {
                return Err(refuse("it is inside '.git/'; git's own files are never edited"));
            }
            _ => {}
        }
    }
    Ok(())
}

/// `rel` under `dir`, once it is known to stay there: relative, `/`-separated, without empty, `.` or `..`
/// components, not in `.git`, no symbolic link on its way leading out of `dir` (or into its `.git`), and not itself a
/// link or a directory.
pub(crate) fn checked(dir: &Path, rel: &str) -> Result<PathBuf, EditError> {
    lexical(rel)?;
    let refuse = |reason: &str| EditError::unsafe_path(rel, reason);
    let root = fs::canonicalize(dir).map_err(EditError::io("open the worktree", dir))?;
    let path = dir.join(rel);
    // The deepest directory on the way that exists, with every link in it resolved, must still be inside the
    // worktree and outside its `.git`: what is below it does not exist yet and will be made as plain directories.
    let mut existing = path.parent().unwrap_or(dir).to_path_buf();
    while fs::symlink_metadata(&existing).is_err() && existing != dir {
        match existing.parent() {
            Some(parent) => existing = parent.to_path_buf(),
            None => break,
        }
    }
    let via = || existing.strip_prefix(dir).unwrap_or(&existing).display().to_string();
    let resolved = fs::canonicalize(&existing).map_err(|e| match fs::symlink_metadata(&existing) {
        Ok(meta) if meta.file_type().is_symlink() => {
            refuse(&format!("'{}' is a symbolic link that leads nowhere; remove it or give another path", via()))
        }
        _ => EditError::io("resolve", &existing)(e),
    })?;
    let inside = resolved
        .strip_prefix(&root)
        .map_err(|_| refuse(&format!("'{}' leads out of the worktree through a symbolic link", via())))?;
    if inside.components().any(|c| c.as_os_str().eq_ignore_ascii_case(".git")) {
        return Err(refuse("a symbolic link on its way leads into '.git/'; git's own files are never edited"));
    }
    match fs::symlink_metadata(&path) {
        Ok(meta) if meta.file_type().is_symlink() => {
            Err(refuse("it is a symbolic link; only regular files are edited, so change the link's target instead"))
        }
        Ok(meta) if meta.is_dir() => Err(refuse("it is a directory; give the paths of the files in it")),
        Ok(_) => Ok(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(path),
        Err(e) => Err(EditError::io("inspect", &path)(e)),
    }
}

/// The text at `path`, `None` when there is no file.
pub(crate) fn read_text(path: &Path) -> Result<Option<String>, EditError> {
    match hive_support::read_bounded(path, MAX_FILE_BYTES) {
        Ok(bytes) => String::from_utf8(bytes).map(Some).map_err(|_| EditError::NotText { path: path.to_owned() }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(EditError::io("read", path)(e)),
    }
}

/// Every regular file under `dir/start` (or `dir/start` itself when it is one), as `/`-separated paths relative to
/// `dir`, sorted. Directories `skip` accepts (by name) are not entered, links are neither followed nor listed, and a
/// missing `start` has no files.
pub(crate) fn files_under(dir: &Path, start: &str, skip: &dyn Fn(&str) -> bool) -> Result<Vec<String>, EditError> {
    let mut found = Vec::new();
    let mut pending = vec![start.to_owned()];
    while let Some(rel) = pending.pop() {
        let path = if rel.is_empty() { dir.to_path_buf() } else { dir.join(&rel) };
        let meta = match fs::symlink_metadata(&path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(EditError::io("inspect", &path)(e)),
        };
        if meta.is_file() {
            found.push(rel);
            continue;
        }
        if !meta.is_dir() {
            continue;
        }
        for entry in fs::read_dir(&path).map_err(EditError::io("list", &path))? {
            let entry = entry.map_err(EditError::io("list", &path))?;
            let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                let bad = entry.path();
                return Err(EditError::unsafe_path(&bad.display().to_string(), "its name is not UTF-8; rename it"));
            };
            let file_type = entry.file_type().map_err(EditError::io("inspect", entry.path()))?;
            // `.git` is a directory in a clone and a file in a linked worktree: neither is ever listed.
            if name.eq_ignore_ascii_case(".git") || (file_type.is_dir() && skip(&name)) {
                continue;
            }
            pending.push(if rel.is_empty() { name } else { format!("{rel}/{name}") });
        }
    }
    found.sort();
    Ok(found)
}
