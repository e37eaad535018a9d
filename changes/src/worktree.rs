//! Each repository's fresh worktree: a clone of its base, the operation carried out in it, the result committed on
//! the set's branch as one deterministic commit (hive's identity, the set's creation time as the date), so making it
//! again after a crash gives the same commit and pushing it again is no change.

use std::{
    ffi::OsString,
    path::{Path, PathBuf},
    time::Duration,
};

use hive_ecosystem::{
    Git,
    process::{CommandSpec, run},
};

use crate::{ChangeError, Operation};

/// How long one git command of a clone, commit or revert may take.
const GIT_TIMEOUT: Duration = Duration::from_secs(600);

/// How long a repository's tool may take to update its lockfile.
const LOCKFILE_TIMEOUT: Duration = Duration::from_secs(300);

/// At most this many bytes of a failed command's output go into the error.
const OUTPUT_TAIL: usize = 2_000;

/// A change made in one worktree.
#[derive(Debug, Clone)]
pub(crate) struct Made {
    /// The base's commit.
    pub base_sha: String,
    /// The change's commit, `None` when nothing changed.
    pub head: Option<String>,
    /// The files changed.
    pub files: Vec<String>,
    /// Lines added and removed.
    pub lines: usize,
    /// The change as a unified diff.
    pub diff: String,
}

/// Where a set's worktrees live: `<work>/<id>/<owner>/<name>`, so repositories of one owner lie side by side as
/// their relative path dependencies expect.
#[derive(Debug, Clone)]
pub(crate) struct Worktrees {
    root: PathBuf,
}

impl Worktrees {
    pub(crate) fn new(root: PathBuf) -> Self {
        Worktrees { root }
    }

    pub(crate) fn dir(&self, repo: &str) -> PathBuf {
        self.root.join(repo)
    }

    /// A shallow clone of `url`'s `base` at `dir`, whatever was there before.
    pub(crate) async fn clone(&self, repo: &str, url: &str, base: &str, full: bool) -> Result<PathBuf, ChangeError> {
        let dir = self.dir(repo);
        let failed = |reason: String| ChangeError::Prepare { repo: repo.to_owned(), reason };
        // A whole clone can take a while to remove: off the runtime's threads.
        if tokio::fs::try_exists(&dir).await.unwrap_or(false) {
            tokio::fs::remove_dir_all(&dir)
                .await
                .map_err(|e| failed(format!("cannot clear '{}': {e}", dir.display())))?;
        }
        let parent = dir.parent().unwrap_or(&self.root);
        std::fs::create_dir_all(parent).map_err(|e| failed(format!("cannot create '{}': {e}", parent.display())))?;
        if url.starts_with('-') || base.starts_with('-') {
            return Err(failed(format!("refusing clone source '{url}' or branch '{base}' that looks like an option")));
        }
        let target = dir.to_string_lossy().into_owned();
        let mut args = vec!["clone", "--quiet", "--no-tags", "--single-branch", "--branch", base];
        if !full {
            args.extend(["--depth", "1"]);
        }
        args.extend(["--", url, &target]);
        git(parent).run(&args).await.map_err(|e| failed(e.to_string()))?;
        Ok(dir)
    }

    /// Moves `repo`'s worktree (a full clone) to `commit`, the base a set was made on, so a change made again is
    /// made on the same base whatever the branch did since.
    pub(crate) async fn reset_to(&self, repo: &str, commit: &str) -> Result<(), ChangeError> {
        let failed = |reason: String| ChangeError::Prepare { repo: repo.to_owned(), reason };
        if commit.starts_with('-') || !commit.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(failed(format!("'{commit}' is not a commit")));
        }
        git(&self.dir(repo))
            .run(&["reset", "--quiet", "--hard", commit])
            .await
            .map(drop)
            .map_err(|e| failed(format!("the set's base {commit} is gone from the branch: {e}")))
    }

    /// Carries `operation` out in `repo`'s worktree (its clone already made) and commits what it changed on
    /// `branch`, dated `created_at`.
    pub(crate) async fn make(
        &self,
        repo: &str,
        operation: &Operation,
        edit: &(dyn Fn(&Path) -> Result<(), String> + Sync),
        branch: &str,
        message: &str,
        created_at: i64,
    ) -> Result<Made, ChangeError> {
        let dir = self.dir(repo);
        let failed = |reason: String| ChangeError::Prepare { repo: repo.to_owned(), reason };
        let git = git(&dir);
        let base_sha = git.run(&["rev-parse", "HEAD"]).await.map_err(|e| failed(e.to_string()))?;
        match operation {
            Operation::Run { argv, timeout_secs } => {
                // A home of its own: the command sees none of the user's configuration or keys.
                let home = self.root.join(".home");
                std::fs::create_dir_all(&home)
                    .map_err(|e| failed(format!("cannot create '{}': {e}", home.display())))?;
                run_command(&dir, &home, argv, Duration::from_secs(*timeout_secs)).await.map_err(failed)?;
            }
            Operation::Sync { .. } => edit(&dir).map_err(failed)?,
            Operation::Bump { dependency, .. } => {
                edit(&dir).map_err(failed)?;
                // The repository's own tool brings its lockfile along where it can without the network; what it
                // could not do is left for the repository's CI to say.
                for outcome in hive_ecosystem::update_lockfiles(&dir, dependency, LOCKFILE_TIMEOUT).await {
                    tracing::info!(repo, ?outcome, "lockfile");
                }
            }
        }
        git.run(&["add", "--all"]).await.map_err(|e| failed(e.to_string()))?;
        let numstat = git
            .run(&["diff", "--cached", "--numstat", "--no-renames", "-z"])
            .await
            .map_err(|e| failed(e.to_string()))?;
        let (files, lines) = hive_ecosystem::parse_numstat(&numstat);
        if files.is_empty() {
            return Ok(Made { base_sha, head: None, files, lines: 0, diff: String::new() });
        }
        let diff =
            git.run(&["diff", "--cached", "--no-color", "--no-ext-diff"]).await.map_err(|e| failed(e.to_string()))?;
        let date = format!("@{created_at} +0000");
        let dated = git.env("GIT_AUTHOR_DATE", date.clone()).env("GIT_COMMITTER_DATE", date);
        dated.run(&["checkout", "--quiet", "-B", branch]).await.map_err(|e| failed(e.to_string()))?;
        dated.run(&["commit", "--quiet", "--no-verify", "-m", message]).await.map_err(|e| failed(e.to_string()))?;
        let head = dated.run(&["rev-parse", "HEAD"]).await.map_err(|e| failed(e.to_string()))?;
        Ok(Made { base_sha, head: Some(head), files, lines, diff })
    }

    /// Reverts `merge_sha` on the worktree's base (a full clone) as one commit on `branch`, dated `created_at`;
    /// a merge commit is reverted against its first parent.
    pub(crate) async fn revert(
        &self,
        repo: &str,
        merge_sha: &str,
        branch: &str,
        message: &str,
        created_at: i64,
    ) -> Result<String, ChangeError> {
        let dir = self.dir(repo);
        let failed = |reason: String| ChangeError::Prepare { repo: repo.to_owned(), reason };
        if merge_sha.starts_with('-') || !merge_sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(failed(format!("'{merge_sha}' is not a commit")));
        }
        let date = format!("@{created_at} +0000");
        let git = git(&dir).env("GIT_AUTHOR_DATE", date.clone()).env("GIT_COMMITTER_DATE", date);
        let parents =
            git.run(&["rev-list", "--parents", "-n", "1", merge_sha]).await.map_err(|e| failed(e.to_string()))?;
        git.run(&["checkout", "--quiet", "-B", branch]).await.map_err(|e| failed(e.to_string()))?;
        let mut args = vec!["revert", "--no-edit", "--no-commit"];
        if parents.split_whitespace().count() > 2 {
            args.extend(["-m", "1"]);
        }
        args.push(merge_sha);
        git.run(&args).await.map_err(|e| failed(e.to_string()))?;
        git.run(&["commit", "--quiet", "--no-verify", "--allow-empty", "-m", message])
            .await
            .map_err(|e| failed(e.to_string()))?;
        git.run(&["rev-parse", "HEAD"]).await.map_err(|e| failed(e.to_string()))
    }

    /// Removes the set's worktrees (off the runtime's threads: they are whole clones).
    pub(crate) async fn remove(&self) {
        let _ = tokio::fs::remove_dir_all(&self.root).await;
    }
}

fn git(dir: &Path) -> Git {
    Git::new(dir).timeout(GIT_TIMEOUT).isolated()
}

/// `argv` in `dir`, no shell, in an environment holding only `PATH`, the locale and `home` as `HOME`: the command
/// sees none of hive's secrets nor the user's. A failure (exit code, signal, timeout) is an error with the end of its
/// output.
async fn run_command(dir: &Path, home: &Path, argv: &[String], timeout: Duration) -> Result<(), String> {
    let Some((program, args)) = argv.split_first() else { return Err("no command to run".to_owned()) };
    let mut spec = CommandSpec::new(program, args, dir).timeout(timeout).env_clear().kill_tree().env("HOME", home);
    for key in ["PATH", "LANG", "LC_ALL"] {
        if let Some(value) = std::env::var_os(key) {
            spec = spec.env(key, value);
        }
    }
    spec = spec.env("HIVE_CHANGE_DIR", OsString::from(dir));
    let out = run(&spec).await.map_err(|e| e.to_string())?;
    if out.success() {
        return Ok(());
    }
    let mut said = out.stderr_text();
    said.push_str(&out.stdout_text());
    let said = said.trim();
    let mut from = said.len().saturating_sub(OUTPUT_TAIL);
    while !said.is_char_boundary(from) {
        from += 1;
    }
    let tail = &said[from..];
    let how = if out.timed_out {
        format!("timed out after {}s", timeout.as_secs())
    } else if let Some(code) = out.code {
        format!("exited with {code}")
    } else {
        "was killed by a signal".to_owned()
    };
    Err(format!("{} {how}: {tail}", spec.display()))
}
