//! The bare git repositories behind git-backed repositories ([`RepoSpec::git_dir`](crate::RepoSpec::git_dir)):
//! their branches, their files and merges into them, all with the real `git`.
//!
//! The routes run these under the world lock, as plain blocking commands: a test's repositories are small, and a
//! consistent world matters more than a few milliseconds. Every command gets an argument vector, none of the
//! machine's git configuration, and a ref or path only after it is known not to look like an option.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The identity GitHub commits merges with, as its web merges show it.
const COMMITTER: (&str, &str) = ("GitHub", "noreply@github.com");

/// A bare repository.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bare<'a> {
    dir: &'a Path,
}

/// What a path names in a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entry {
    /// A file: its blob id and content.
    File { sha: String, content: Vec<u8> },
    /// A directory: its entries, as `ls-tree` lists them.
    Dir(Vec<TreeEntry>),
}

/// One entry of a directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TreeEntry {
    /// `file`, `dir`, `symlink` or `submodule`, as the contents API names them.
    pub(crate) kind: &'static str,
    pub(crate) name: String,
    pub(crate) sha: String,
    pub(crate) size: u64,
}

/// How a pull request's commits reach its base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    /// A merge commit with the base and the head as parents.
    Merge,
    /// One new commit with the base as its only parent.
    Squash,
}

/// Why a merge did not happen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MergeError {
    /// The branches conflict (or share no history): nothing was written to any branch.
    Conflict,
    /// The base moved while the merge was made.
    BaseMoved,
    /// git failed.
    Git(String),
}

/// A command for `git` with none of the machine's or user's configuration, speaking English.
pub(crate) fn command() -> Command {
    let mut cmd = Command::new("git");
    cmd.env("GIT_CONFIG_NOSYSTEM", "1").env("GIT_CONFIG_GLOBAL", "/dev/null").env("LC_ALL", "C");
    cmd
}

/// Makes a new, empty bare repository at `dir` whose first branch will be `main`.
pub(crate) fn init(dir: &Path) -> Result<PathBuf, String> {
    let out = command()
        .args(["init", "--quiet", "--bare", "--initial-branch=main"])
        .arg(dir)
        .output()
        .map_err(|err| format!("cannot run git: {err}"))?;
    if !out.status.success() {
        return Err(format!("git init failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(dir.to_path_buf())
}

impl<'a> Bare<'a> {
    pub(crate) fn new(dir: &'a Path) -> Bare<'a> {
        Bare { dir }
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Result<Output, String> {
        command()
            .arg("--git-dir")
            .arg(self.dir)
            .args(args)
            .envs(env.iter().copied())
            .output()
            .map_err(|err| format!("cannot run git: {err}"))
    }

    /// stdout of a command that succeeded, trimmed; `None` when it failed.
    fn text(&self, args: &[&str]) -> Option<String> {
        let out = self.run(args, &[]).ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim_end().to_owned())
    }

    /// Every branch and its commit; `None` when git cannot be read.
    pub(crate) fn branches(&self) -> Option<BTreeMap<String, String>> {
        let text = self.text(&["for-each-ref", "--format=%(refname:strip=2) %(objectname)", "refs/heads/"])?;
        Some(
            text.lines()
                .filter_map(|line| line.split_once(' '))
                .map(|(name, sha)| (name.to_owned(), sha.to_owned()))
                .collect(),
        )
    }

    /// The commit a branch points at, if the branch exists.
    pub(crate) fn branch_sha(&self, branch: &str) -> Option<String> {
        self.commit(&format!("refs/heads/{branch}"))
    }

    /// The commit a revision (a branch, tag or commit id) names, if it names one.
    pub(crate) fn commit(&self, rev: &str) -> Option<String> {
        if rev.is_empty() || rev.starts_with('-') {
            return None;
        }
        self.text(&["rev-parse", "--verify", "--quiet", "--end-of-options", &format!("{rev}^{{commit}}")])
    }

    /// What `path` is in `commit` (a commit id from [`Bare::commit`]); `None` when there is nothing at the path.
    pub(crate) fn entry(&self, commit: &str, path: &str) -> Option<Entry> {
        let spec = format!("{commit}:{path}");
        match self.text(&["cat-file", "-t", &spec])?.as_str() {
            "blob" => {
                let sha = self.text(&["rev-parse", &spec])?;
                let out = self.run(&["cat-file", "blob", &sha], &[]).ok()?;
                out.status.success().then_some(Entry::File { sha, content: out.stdout })
            }
            "tree" => {
                let listing = self.text(&["ls-tree", "-l", &spec])?;
                Some(Entry::Dir(listing.lines().filter_map(tree_entry).collect()))
            }
            _ => None,
        }
    }

    /// Whether `head` merges into `base` without conflicts.
    pub(crate) fn mergeable(&self, base: &str, head: &str) -> bool {
        self.merged_tree(base, head).is_ok()
    }

    /// The tree of `head` merged into `base`, as `git merge-tree --write-tree` makes it (no branch moves).
    fn merged_tree(&self, base: &str, head: &str) -> Result<String, MergeError> {
        let out =
            self.run(&["merge-tree", "--write-tree", "--no-messages", base, head], &[]).map_err(MergeError::Git)?;
        match out.status.code() {
            Some(0) => {
                let text = String::from_utf8_lossy(&out.stdout);
                text.lines().next().map(str::to_owned).ok_or_else(|| MergeError::Git("merge-tree wrote no tree".into()))
            }
            // 1: conflicts. Anything else: histories git refuses to merge (unrelated ones), which GitHub shows as
            // a pull request that cannot be merged, too.
            _ => Err(MergeError::Conflict),
        }
    }

    /// Merges `head` into the branch `base_branch`, which must still be at `base`: a merge commit or one squashed
    /// commit, by `author`, with `message`. The branch moves only if the whole merge was made. Returns the commit.
    pub(crate) fn merge(
        &self,
        base_branch: &str,
        base: &str,
        head: &str,
        method: Method,
        author: &str,
        message: &str,
    ) -> Result<String, MergeError> {
        let tree = self.merged_tree(base, head)?;
        let mut args = vec!["commit-tree", tree.as_str(), "-p", base];
        if method == Method::Merge {
            args.extend(["-p", head]);
        }
        args.extend(["-m", message]);
        let email = format!("{author}@users.noreply.github.com");
        let env = [
            ("GIT_AUTHOR_NAME", author),
            ("GIT_AUTHOR_EMAIL", email.as_str()),
            ("GIT_COMMITTER_NAME", COMMITTER.0),
            ("GIT_COMMITTER_EMAIL", COMMITTER.1),
        ];
        let out = self.run(&args, &env).map_err(MergeError::Git)?;
        if !out.status.success() {
            return Err(MergeError::Git(String::from_utf8_lossy(&out.stderr).trim().to_owned()));
        }
        let commit = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        // The old value makes the move atomic: a push to the base since it was read fails the merge, not the push.
        let target = format!("refs/heads/{base_branch}");
        let out = self.run(&["update-ref", &target, &commit, base], &[]).map_err(MergeError::Git)?;
        if !out.status.success() {
            return Err(MergeError::BaseMoved);
        }
        Ok(commit)
    }
}

/// One line of `ls-tree -l`: `mode type sha size\tname`.
fn tree_entry(line: &str) -> Option<TreeEntry> {
    let (meta, name) = line.split_once('\t')?;
    let mut fields = meta.split_whitespace();
    let (mode, kind, sha, size) = (fields.next()?, fields.next()?, fields.next()?, fields.next()?);
    let kind = match (kind, mode) {
        ("tree", _) => "dir",
        ("commit", _) => "submodule",
        (_, "120000") => "symlink",
        _ => "file",
    };
    Some(TreeEntry { kind, name: name.to_owned(), sha: sha.to_owned(), size: size.parse().unwrap_or(0) })
}
