//! Formatting fixes for the autonomy loop: clone a repository, run the formatter it uses, commit the result on a
//! deterministic branch and push that branch. Opening the pull request is left to the caller.
//!
//! Everything runs as argument vectors (never a shell), every value from the request is checked before git sees
//! it, and the branch is looked up on the remote first, so a fix pushed before a crash is found again instead of
//! being pushed twice. The temporary clone is removed whatever happens.

mod check;
mod formatter;
mod publish;

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

pub use self::check::check_branch;
pub use self::formatter::{Formatter, formatter_for};
pub use self::publish::{fetch_branch, push_branch};
use crate::{
    Git, GitError,
    process::{CommandOutput, CommandSpec, ProcessError, run},
};
/// At most this many lines of a failed formatter's output go into the error.
const TAIL_LINES: usize = 20;
/// At most this many bytes of a failed formatter's output go into the error.
const TAIL_BYTES: usize = 2000;

/// What to fix and where to push it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FixRequest {
    /// The repository: a URL or a local path. Option-like values and remote helpers (`ext::`) are refused.
    pub clone_url: String,
    /// The default branch, which is cloned and never pushed to.
    pub base_branch: String,
    /// The branch the fix is pushed to, deterministic so a retry finds it (`hive/fix/lint-3fa2c1d0`).
    pub branch: String,
    /// The fix commit's message.
    pub commit_message: String,
    /// The directory the temporary clone is made in (created when missing); the clone is removed afterwards.
    pub work_dir: PathBuf,
    /// The limit for each command (each git command and the formatter).
    pub timeout: Duration,
}

impl FixRequest {
    /// A request with a 10-minute timeout per command.
    pub fn new(
        clone_url: impl Into<String>,
        base_branch: impl Into<String>,
        branch: impl Into<String>,
        commit_message: impl Into<String>,
        work_dir: impl Into<PathBuf>,
    ) -> FixRequest {
        FixRequest {
            clone_url: clone_url.into(),
            base_branch: base_branch.into(),
            branch: branch.into(),
            commit_message: commit_message.into(),
            work_dir: work_dir.into(),
            timeout: Duration::from_secs(600),
        }
    }
}

/// What [`format_fix`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FixOutcome {
    /// The fix was committed and its branch pushed.
    Pushed {
        /// The pushed commit.
        head_sha: String,
        /// The formatter's name (`cargo fmt`, `make fmt`).
        formatter: String,
        /// The files the fix changed, as paths in the repository.
        files_changed: Vec<String>,
        /// Lines added plus lines removed.
        lines_changed: usize,
    },
    /// The branch already exists on the remote (a fix pushed earlier); nothing was cloned or pushed.
    AlreadyPushed {
        /// Where the remote branch points.
        head_sha: String,
    },
    /// The formatter ran and changed nothing; nothing was pushed.
    NothingToFix {
        /// The formatter's name.
        formatter: String,
    },
    /// hive knows no formatter for this repository; nothing was pushed.
    NoFormatter,
}

/// Why a formatting fix could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FixError {
    /// A branch name that hive will not hand to git.
    #[error(
        "invalid {field} name '{value}': {reason}; use letters, digits and '-', '_', '.', '/', such as 'hive/fix/lint-3fa2c1d0'"
    )]
    InvalidBranch {
        /// Which branch: `branch` or `base branch`.
        field: &'static str,
        /// The name as given (escaped).
        value: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A clone URL that hive will not hand to git.
    #[error(
        "invalid clone url '{value}': {reason}; give an https://, ssh://, git:// or file:// URL, user@host:path, or a local path"
    )]
    InvalidCloneUrl {
        /// The URL as given (escaped).
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The commit message is empty.
    #[error("empty commit message; give the fix commit a message that says what was formatted")]
    EmptyCommitMessage,
    /// The temporary clone's directory could not be made.
    #[error("could not make a temporary clone directory under '{}'; check that it is writable", path.display())]
    WorkDir {
        /// The work directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A git step failed; the source has git's command and message.
    #[error("could not {step} for '{url}'")]
    Git {
        /// What was being done (`clone`, `push the fix branch`).
        step: &'static str,
        /// The repository.
        url: String,
        /// git's failure.
        #[source]
        source: GitError,
    },
    /// The formatter could not be started.
    #[error("could not start formatter '{formatter}'; is it installed and on PATH?")]
    FormatterSpawn {
        /// The formatter's command line.
        formatter: String,
        /// The cause.
        #[source]
        source: ProcessError,
    },
    /// The formatter ran and failed.
    #[error(
        "formatter '{formatter}' failed ({}): {output}; run it in a clone of the repository to see why",
        exit_text(*.code)
    )]
    FormatterFailed {
        /// The formatter's command line.
        formatter: String,
        /// Its exit code; `None` when a signal ended it.
        code: Option<i32>,
        /// The end of its stderr (of its stdout when stderr was empty).
        output: String,
    },
    /// The branch to publish is not in the repository it is published from.
    #[error("branch '{branch}' does not exist in '{}'; commit to it before publishing it", repo.display())]
    MissingBranch {
        /// The branch.
        branch: String,
        /// The repository it was looked for in.
        repo: PathBuf,
    },
    /// The branch exists where it is published to, with history the published commit does not continue.
    #[error(
        "branch '{branch}' exists in '{target}' with other history (at {existing}); hive never replaces a branch: \
         publish under another name or remove that branch"
    )]
    BranchDiverged {
        /// The branch.
        branch: String,
        /// Where it was published to (a URL without credentials, or a path).
        target: String,
        /// Where the branch points there.
        existing: String,
    },
    /// The branch is checked out in the repository it would be moved in.
    #[error(
        "branch '{branch}' is checked out in '{}'; hive does not move a checked-out branch: check out another branch \
         there first",
        repo.display()
    )]
    CheckedOut {
        /// The branch.
        branch: String,
        /// The repository.
        repo: PathBuf,
    },
    /// The formatter did not finish in time; it was killed with everything it started.
    #[error("formatter '{formatter}' did not finish within {timeout:?}; raise the timeout or format by hand")]
    FormatterTimedOut {
        /// The formatter's command line.
        formatter: String,
        /// The limit it hit.
        timeout: Duration,
    },
}

fn exit_text(code: Option<i32>) -> String {
    code.map_or_else(|| "killed by a signal".to_owned(), |code| format!("exit {code}"))
}

/// A fix committed in a temporary clone and not pushed yet: its size is known before anything is written, and
/// [`PreparedFix::push`] pushes exactly this commit. The clone is removed when it is pushed, discarded or dropped.
#[derive(Debug)]
pub struct PreparedFix {
    tmp: Option<tempfile::TempDir>,
    url: String,
    branch: String,
    timeout: Duration,
    /// The fix commit.
    pub head_sha: String,
    /// The formatter's name (`cargo fmt`, `make fmt`).
    pub formatter: String,
    /// The files the fix changes, as paths in the repository.
    pub files_changed: Vec<String>,
    /// Lines added plus lines removed.
    pub lines_changed: usize,
}

/// What [`prepare_fix`] found.
#[derive(Debug)]
pub enum Preparation {
    /// A fix, committed and waiting to be pushed.
    Ready(PreparedFix),
    /// Anything else: already pushed, nothing to fix, no formatter (never [`FixOutcome::Pushed`]).
    Done(FixOutcome),
}

/// Clones `req.clone_url` at `req.base_branch`, runs the repository's formatter, and pushes the result as
/// `req.branch`: [`prepare_fix`] then [`PreparedFix::push`].
///
/// The remote is asked for the branch first: when it is there already, [`FixOutcome::AlreadyPushed`] is returned
/// without cloning. A push that loses a race against another push of the same branch also ends in `AlreadyPushed`.
/// Fix commits are authored by `hive`, without hooks or signing.
pub async fn format_fix(req: &FixRequest) -> Result<FixOutcome, FixError> {
    match prepare_fix(req).await? {
        Preparation::Ready(fix) => fix.push().await,
        Preparation::Done(outcome) => Ok(outcome),
    }
}

/// Where `branch` points in the repository at `url`, or `None` when it has no such branch (a fix published earlier
/// and since deleted, or never published). Nothing is cloned.
pub async fn published_head(url: &str, branch: &str, timeout: Duration) -> Result<Option<String>, FixError> {
    check::check_branch("branch", branch)?;
    let url = check::check_clone_url(url)?;
    remote_branch(Path::new("."), &url, branch, timeout).await.map_err(|source| FixError::Git {
        step: "look up the fix branch",
        url,
        source,
    })
}

/// Everything [`format_fix`] does up to and including the commit, in a temporary clone; nothing is pushed.
pub async fn prepare_fix(req: &FixRequest) -> Result<Preparation, FixError> {
    check::check_branch("branch", &req.branch)?;
    check::check_branch("base branch", &req.base_branch)?;
    if req.commit_message.trim().is_empty() {
        return Err(FixError::EmptyCommitMessage);
    }
    let url = check::check_clone_url(&req.clone_url)?;
    let here = Path::new(".");
    let remote_fail = |step| {
        let url = url.clone();
        move |source| FixError::Git { step, url, source }
    };
    if let Some(head_sha) =
        remote_branch(here, &url, &req.branch, req.timeout).await.map_err(remote_fail("look up the fix branch"))?
    {
        tracing::info!(url, branch = req.branch, head_sha, "fix branch already pushed");
        return Ok(Preparation::Done(FixOutcome::AlreadyPushed { head_sha }));
    }
    let work_fail = |source| FixError::WorkDir { path: req.work_dir.clone(), source };
    std::fs::create_dir_all(&req.work_dir).map_err(work_fail)?;
    let tmp = tempfile::Builder::new().prefix("hive-fix-").tempdir_in(&req.work_dir).map_err(work_fail)?;
    let made = fix_in_clone(&tmp.path().join("repo"), &url, req).await;
    let mut fix = PreparedFix {
        tmp: Some(tmp),
        url,
        branch: req.branch.clone(),
        timeout: req.timeout,
        head_sha: String::new(),
        formatter: String::new(),
        files_changed: Vec::new(),
        lines_changed: 0,
    };
    match made {
        Ok(Made::Commit { head_sha, formatter, files_changed, lines_changed }) => {
            (fix.head_sha, fix.formatter, fix.files_changed, fix.lines_changed) =
                (head_sha, formatter, files_changed, lines_changed);
            Ok(Preparation::Ready(fix))
        }
        Ok(Made::Nothing(outcome)) => {
            fix.discard().await;
            Ok(Preparation::Done(outcome))
        }
        Err(err) => {
            fix.discard().await;
            Err(err)
        }
    }
}

impl PreparedFix {
    /// Pushes the fix commit as the branch (never replacing a branch that appeared meanwhile: that ends in
    /// [`FixOutcome::AlreadyPushed`]), then removes the clone.
    pub async fn push(self) -> Result<FixOutcome, FixError> {
        let outcome = self.push_from_clone().await;
        self.discard().await;
        outcome
    }

    /// Publishes the fix commit as its branch in the local, non-bare repository at `repo` by fetching it from the
    /// clone, then removes the clone. Only the new branch (and the objects it needs) appear in `repo`: the fetch runs
    /// no hooks (a push would run the repository's receive hooks), writes no `FETCH_HEAD`, starts no automatic gc or
    /// maintenance, and leaves the checked-out branch, working tree, index and config alone. A branch of that name
    /// that appeared meanwhile is never replaced: that ends in [`FixOutcome::AlreadyPushed`].
    pub async fn fetch_into(self, repo: &Path) -> Result<FixOutcome, FixError> {
        let outcome = self.fetch_from_clone(repo).await;
        self.discard().await;
        outcome
    }

    async fn fetch_from_clone(&self, repo: &Path) -> Result<FixOutcome, FixError> {
        let Some(tmp) = &self.tmp else {
            return Err(FixError::WorkDir { path: PathBuf::new(), source: std::io::Error::other("the clone is gone") });
        };
        let (clone, branch, timeout) = (tmp.path().join("repo"), &self.branch, self.timeout);
        let target = repo.display().to_string();
        let fail = |step| {
            let target = target.clone();
            move |source| FixError::Git { step, url: target, source }
        };
        // The objects only: the branch is then created by `update-ref` with an empty old value, which fails if the
        // branch exists (a fetch without `+` would still fast-forward one that appeared since the lookup).
        let branch_ref = format!("refs/heads/{branch}");
        publish::fetch_objects(repo, &clone.to_string_lossy(), &branch_ref, timeout)
            .await
            .map_err(fail("fetch the fix"))?;
        let create = ["update-ref", "--no-deref", &branch_ref, &self.head_sha, ""];
        let created = git(repo, &create, timeout).await.map_err(fail("create the fix branch"))?;
        if !created.success() {
            let rejected = failure(repo, &create, &created);
            let verify = ["rev-parse", "--verify", "--quiet", &branch_ref];
            return match git_ok(repo, &verify, timeout).await {
                Ok(head_sha) if !head_sha.is_empty() => {
                    tracing::info!(repo = target, branch, head_sha, "fix branch was made meanwhile");
                    Ok(FixOutcome::AlreadyPushed { head_sha })
                }
                _ => Err(fail("create the fix branch")(rejected)),
            };
        }
        tracing::info!(repo = target, branch, head_sha = self.head_sha, formatter = self.formatter, "fix fetched");
        Ok(FixOutcome::Pushed {
            head_sha: self.head_sha.clone(),
            formatter: self.formatter.clone(),
            files_changed: self.files_changed.clone(),
            lines_changed: self.lines_changed,
        })
    }

    /// Removes the clone without pushing.
    pub async fn discard(mut self) {
        let Some(tmp) = self.tmp.take() else { return };
        // Deleting a clone is blocking file work; it is done off the async runtime.
        let path = tmp.path().to_path_buf();
        match tokio::task::spawn_blocking(move || tmp.close()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(path = %path.display(), %error, "could not remove the temporary clone"),
            Err(error) => tracing::warn!(path = %path.display(), %error, "removing the temporary clone panicked"),
        }
    }

    async fn push_from_clone(&self) -> Result<FixOutcome, FixError> {
        let Some(tmp) = &self.tmp else {
            return Err(FixError::WorkDir { path: PathBuf::new(), source: std::io::Error::other("the clone is gone") });
        };
        let (dir, url, branch, timeout) = (tmp.path().join("repo"), &self.url, &self.branch, self.timeout);
        let fail = |step| {
            let url = url.clone();
            move |source| FixError::Git { step, url, source }
        };
        match publish::push_ref(&dir, "origin", url, branch, timeout).await.map_err(fail("push the fix branch"))? {
            publish::Pushed::Done => {}
            publish::Pushed::Refused { remote: Some(head_sha), .. } => {
                tracing::info!(url, branch, head_sha, "fix branch was pushed meanwhile");
                return Ok(FixOutcome::AlreadyPushed { head_sha });
            }
            publish::Pushed::Refused { remote: None, error } => return Err(fail("push the fix branch")(error)),
        }
        tracing::info!(url, branch, head_sha = self.head_sha, formatter = self.formatter, "fix pushed");
        Ok(FixOutcome::Pushed {
            head_sha: self.head_sha.clone(),
            formatter: self.formatter.clone(),
            files_changed: self.files_changed.clone(),
            lines_changed: self.lines_changed,
        })
    }
}

impl Drop for PreparedFix {
    fn drop(&mut self) {
        // Dropped without `push` or `discard` (a refused or cancelled write): removed off the async runtime when
        // there is one.
        if let Some(tmp) = self.tmp.take() {
            match tokio::runtime::Handle::try_current() {
                Ok(handle) => drop(handle.spawn_blocking(move || tmp.close())),
                Err(_) => drop(tmp),
            }
        }
    }
}

/// What the clone ended with.
enum Made {
    Commit { head_sha: String, formatter: String, files_changed: Vec<String>, lines_changed: usize },
    Nothing(FixOutcome),
}

/// Everything after the lookup up to the commit, in a temporary directory `dir` that the caller removes.
async fn fix_in_clone(dir: &Path, url: &str, req: &FixRequest) -> Result<Made, FixError> {
    let fail = |step| {
        let url = url.to_owned();
        move |source| FixError::Git { step, url, source }
    };
    let parent = dir.parent().unwrap_or(dir);
    let dir_arg = dir.to_string_lossy();
    let clone = [
        "clone",
        "--quiet",
        "--depth",
        "1",
        "--branch",
        &req.base_branch,
        "--single-branch",
        "--no-tags",
        "--no-recurse-submodules",
        "--",
        url,
        &dir_arg,
    ];
    git_ok(parent, &clone, req.timeout).await.map_err(fail("clone the base branch"))?;

    let probe = dir.to_path_buf();
    let Ok(Some(formatter)) = tokio::task::spawn_blocking(move || Formatter::detect(&probe)).await else {
        return Ok(Made::Nothing(FixOutcome::NoFormatter));
    };
    run_formatter(dir, &formatter, req.timeout).await?;
    if git_ok(dir, &["status", "--porcelain"], req.timeout).await.map_err(fail("read the formatted tree"))?.is_empty() {
        return Ok(Made::Nothing(FixOutcome::NothingToFix { formatter: formatter.name }));
    }

    git_ok(dir, &["checkout", "--quiet", "-b", &req.branch], req.timeout)
        .await
        .map_err(fail("create the fix branch"))?;
    git_ok(dir, &["add", "--all"], req.timeout).await.map_err(fail("stage the fix"))?;
    let commit = ["commit", "--quiet", "--no-verify", "--no-gpg-sign", "-m", &req.commit_message];
    git_ok(dir, &commit, req.timeout).await.map_err(fail("commit the fix"))?;
    let numstat = git_ok(dir, &["diff", "--numstat", "-z", "--no-renames", "HEAD~1", "HEAD"], req.timeout)
        .await
        .map_err(fail("count the fix's changes"))?;
    let (files_changed, lines_changed) = parse_numstat(&numstat);
    let head_sha = git_ok(dir, &["rev-parse", "HEAD"], req.timeout).await.map_err(fail("read the fix commit"))?;
    Ok(Made::Commit { head_sha, formatter: formatter.name, files_changed, lines_changed })
}

async fn run_formatter(dir: &Path, formatter: &Formatter, timeout: Duration) -> Result<(), FixError> {
    let Some((program, args)) = formatter.argv.split_first() else {
        return Ok(());
    };
    let spec = CommandSpec::new(program, args, dir).timeout(timeout);
    let out =
        run(&spec).await.map_err(|source| FixError::FormatterSpawn { formatter: formatter.to_string(), source })?;
    if out.timed_out {
        return Err(FixError::FormatterTimedOut { formatter: formatter.to_string(), timeout });
    }
    if !out.success() {
        let stderr = out.stderr_text();
        let text = if stderr.trim().is_empty() { out.stdout_text() } else { stderr };
        return Err(FixError::FormatterFailed {
            formatter: formatter.to_string(),
            code: out.code,
            output: tail(&text),
        });
    }
    Ok(())
}

/// The commit `branch` points to on the remote, or `None` when it has no such branch.
async fn remote_branch(cwd: &Path, url: &str, branch: &str, timeout: Duration) -> Result<Option<String>, GitError> {
    let wanted = format!("refs/heads/{branch}");
    let listing = git_ok(cwd, &["ls-remote", "--heads", "--", url, &wanted], timeout).await?;
    // ls-remote matches patterns by their tail, so `refs/heads/a/refs/heads/x` would match too.
    Ok(listing
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .find(|(_, name)| *name == wanted)
        .map(|(sha, _)| sha.to_owned()))
}

/// Files and changed lines from `git diff --numstat -z --no-renames` (binary files count no lines).
pub fn parse_numstat(text: &str) -> (Vec<String>, usize) {
    let mut files = Vec::new();
    let mut lines = 0;
    for record in text.split('\0').filter(|r| !r.is_empty()) {
        let mut fields = record.splitn(3, '\t');
        let (Some(added), Some(removed), Some(path)) = (fields.next(), fields.next(), fields.next()) else {
            continue;
        };
        lines += added.parse::<usize>().unwrap_or(0) + removed.parse::<usize>().unwrap_or(0);
        files.push(path.to_owned());
    }
    (files, lines)
}

/// The last [`TAIL_LINES`] lines of `text`, at most [`TAIL_BYTES`] bytes of them, trimmed.
fn tail(text: &str) -> String {
    let text = text.trim();
    let from_lines = text.rmatch_indices('\n').nth(TAIL_LINES - 1).map_or(0, |(at, _)| at + 1);
    let mut from = from_lines.max(text.len().saturating_sub(TAIL_BYTES));
    while !text.is_char_boundary(from) {
        from += 1;
    }
    text[from..].trim().to_owned()
}

/// `git args...` in `dir` as hive's committer ([`Git::isolated`]), whatever its exit code.
async fn git(dir: &Path, args: &[&str], timeout: Duration) -> Result<CommandOutput, GitError> {
    Git::new(dir).timeout(timeout).isolated().output(args).await
}

/// `git args...` in `dir`; stdout trimmed at the end, or the failure with git's message.
async fn git_ok(dir: &Path, args: &[&str], timeout: Duration) -> Result<String, GitError> {
    let out = git(dir, args, timeout).await?;
    if out.success() {
        return Ok(out.stdout_text().trim_end().to_owned());
    }
    Err(failure(dir, args, &out))
}

fn failure(dir: &Path, args: &[&str], out: &CommandOutput) -> GitError {
    GitError::Failed {
        dir: dir.to_path_buf(),
        args: args.join(" "),
        code: out.code,
        stderr: if out.timed_out { "timed out".to_owned() } else { tail(&out.stderr_text()) },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numstat_counts_text_lines_and_lists_every_file() {
        let (files, lines) = parse_numstat("3\t1\tsrc/main.rs\0-\t-\tlogo.png\x000\t2\tdir with space/a\tb.rs\0");
        assert_eq!(files, ["src/main.rs", "logo.png", "dir with space/a\tb.rs"]);
        assert_eq!(lines, 6);
        assert_eq!(parse_numstat(""), (Vec::new(), 0));
    }

    #[test]
    fn tail_keeps_the_last_lines_within_the_byte_limit() {
        let many: String = (0..100).map(|i| format!("line {i}\n")).collect();
        let kept = tail(&many);
        assert!(kept.starts_with("line 80\n") && kept.ends_with("line 99"), "{kept}");
        let long = "é".repeat(3000);
        assert!(tail(&long).len() <= TAIL_BYTES);
        assert_eq!(exit_text(Some(3)), "exit 3");
    }
}
