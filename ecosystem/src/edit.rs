//! File edits for change sets: one change planned as whole-file edits in a worktree, shown as a unified diff and
//! applied only where each file still holds what the plan was made from.
//!
//! Planning reads and never writes: [`plan_sync`] makes files equal to a source repository's (templates filled with
//! the target's own values), [`plan_bump`] moves one dependency to one version in every manifest. Both return
//! [`FileEdit`]s, which a caller can show ([`FileEdit::unified_diff`]), record and later write with
//! [`apply_edits`]. [`update_lockfiles`] then lets each ecosystem's own tool bring its lock file in line, and
//! [`sync_state`] tells, from three content hashes, whether a synced file drifted and on which side.

mod apply;
mod bump;
mod drift;
mod error;
mod lockfile;
mod paths;
mod sync;
mod template;
#[cfg(test)]
mod tests;

pub use self::{
    apply::apply_edits,
    bump::plan_bump,
    drift::{SyncState, content_hash, sync_state},
    error::EditError,
    lockfile::{LockfileOutcome, update_lockfiles},
    sync::{RepoValues, SyncSpec, TEMPLATE_SUFFIX, plan_sync},
    template::{PlaceholderError, fill_placeholders},
};

/// One file's change in a worktree: `before: None` is a file created, `after: None` a file deleted.
///
/// `before` is what the file held when the edit was planned: [`apply_edits`] writes nothing of a file that no longer
/// holds it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileEdit {
    /// The path in the worktree: relative, with `/` separators.
    pub path: String,
    /// The content when planned; `None` when the file did not exist.
    pub before: Option<String>,
    /// The content wanted; `None` to delete the file.
    pub after: Option<String>,
}

impl FileEdit {
    /// The change as `git diff` shows it: `a/` and `b/` headers (`/dev/null` for a side that does not exist), three
    /// lines of context, and the marker for a missing final newline. A no-op has an empty diff.
    ///
    /// ```
    /// use hive_ecosystem::FileEdit;
    ///
    /// let edit = FileEdit { path: "a.txt".into(), before: Some("one\n".into()), after: Some("two\n".into()) };
    /// assert_eq!(edit.unified_diff(), "diff --git a/a.txt b/a.txt\n--- a/a.txt\n+++ b/a.txt\n@@ -1 +1 @@\n-one\n+two\n");
    /// ```
    pub fn unified_diff(&self) -> String {
        if self.is_noop() {
            return String::new();
        }
        let old = self.before.as_deref().unwrap_or("");
        let new = self.after.as_deref().unwrap_or("");
        let a = if self.before.is_some() { format!("a/{}", self.path) } else { "/dev/null".to_owned() };
        let b = if self.after.is_some() { format!("b/{}", self.path) } else { "/dev/null".to_owned() };
        let mut out = format!("diff --git a/{0} b/{0}\n", self.path);
        match (&self.before, &self.after) {
            (None, _) => out.push_str("new file mode 100644\n"),
            (_, None) => out.push_str("deleted file mode 100644\n"),
            _ => {}
        }
        let diff = similar::TextDiff::from_lines(old, new);
        let body = diff.unified_diff().context_radius(3).header(&a, &b).to_string();
        // An empty file created or deleted has no hunk, and so no `---`/`+++` lines: git shows the header alone.
        out.push_str(&body);
        out
    }

    /// Whether applying it changes nothing: the content wanted is the content there (or both are absent).
    pub fn is_noop(&self) -> bool {
        self.before == self.after
    }
}
