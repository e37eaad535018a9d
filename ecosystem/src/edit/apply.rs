//! Writing planned edits into a worktree: every path and every file's content checked before anything is written,
//! each file replaced atomically.

use std::{collections::BTreeSet, fs, io, path::Path};

use super::{EditError, FileEdit, paths};

/// Writes `edits` into the worktree `dir`.
///
/// Every path is checked first ([`EditError::UnsafePath`]: absolute, `..`, `.git/`, a symbolic link leading out of
/// `dir`, a link or a directory itself, a path named twice), and every file must still hold its `before`
/// ([`EditError::Changed`] otherwise): a refusal writes nothing at all. Each file is then checked once more and
/// replaced atomically (a reader sees the old content or the new, never part of either), keeping its permissions;
/// a deletion removes the file. No-op edits write nothing.
pub fn apply_edits(dir: &Path, edits: &[FileEdit]) -> Result<(), EditError> {
    let mut seen = BTreeSet::new();
    let mut checked = Vec::with_capacity(edits.len());
    for edit in edits {
        if !seen.insert(edit.path.as_str()) {
            return Err(EditError::unsafe_path(&edit.path, "it is named by two edits; merge them into one"));
        }
        let path = paths::checked(dir, &edit.path)?;
        still_before(&path, edit)?;
        checked.push(path);
    }
    for (edit, path) in edits.iter().zip(&checked) {
        if edit.is_noop() {
            continue;
        }
        // Again just before the write, so the window in which another writer goes unnoticed is this file's alone.
        still_before(path, edit)?;
        match &edit.after {
            Some(text) => {
                let mode = fs::symlink_metadata(path).ok().map(|meta| meta.permissions());
                hive_support::write_atomic_regular(path, text.as_bytes()).map_err(EditError::io("write", path))?;
                // The new file was made with default permissions: an executable script stays executable.
                if let Some(mode) = mode {
                    fs::set_permissions(path, mode).map_err(EditError::io("keep the permissions of", path))?;
                }
            }
            None => match fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(EditError::io("delete", path)(e)),
            },
        }
    }
    Ok(())
}

/// Whether the file at `path` holds what `edit` was planned from.
fn still_before(path: &Path, edit: &FileEdit) -> Result<(), EditError> {
    if paths::read_text(path)? == edit.before { Ok(()) } else { Err(EditError::Changed { path: edit.path.clone() }) }
}
