//! One file's text at a commit of a local repository ([`crate::ForgeWriter::file_text`]), read from git's objects,
//! never from the working tree, so what is read is what is committed.
//!
//! `git ls-tree` says what is at the path (a file and its size, a directory, a symbolic link, a submodule, or
//! nothing) with pathspec magic off, and `git cat-file blob` reads the file: the plumbing behind
//! `git show <ref>:<path>`, which would print a directory's listing as if it were text. The ref is resolved to a
//! commit first, and both ref and path were checked not to look like options.

use hive_ecosystem::Git;

use super::{LocalForge, facts};
use crate::{MAX_FILE_TEXT, RepoId, WriteError, check_path, check_ref};

/// One `ls-tree -l` entry: `(mode, type, object, size)`.
type TreeEntry<'a> = (&'a str, &'a str, &'a str, &'a str);

impl LocalForge {
    /// The text of `path` at `git_ref`; see [`crate::ForgeWriter::file_text`].
    pub async fn file_text(&self, repo: &RepoId, path: &str, git_ref: &str) -> Result<Option<String>, WriteError> {
        check_path(path)?;
        check_ref(git_ref)?;
        let Some(dir) = self.repo_dir(repo).await else {
            return Err(WriteError::Unsupported { forge: super::NAME.to_owned(), what: "such repository" });
        };
        let git = Git::new(&dir).timeout(self.git_timeout);
        let spec = format!("{git_ref}^{{commit}}");
        let Some(commit) =
            facts::optional(&git, &["rev-parse", "--verify", "--quiet", "--end-of-options", &spec]).await?
        else {
            return Err(WriteError::NoSuchRef { repo: repo.clone(), git_ref: git_ref.to_owned() });
        };
        let listing = git.run(&["--literal-pathspecs", "ls-tree", "-l", "-z", &commit, "--", path]).await?;
        let Some((mode, kind, object, size)) = entry(&listing, path) else { return Ok(None) };
        let not_text = |reason| WriteError::NotText {
            repo: repo.clone(),
            path: path.to_owned(),
            git_ref: git_ref.to_owned(),
            reason,
        };
        match (kind, mode) {
            ("tree", _) => return Err(not_text("it is a directory")),
            ("commit", _) => return Err(not_text("it is a submodule")),
            (_, "120000") => return Err(not_text("it is a symbolic link")),
            _ => {}
        }
        if size.parse::<u64>().map_or(true, |size| size > MAX_FILE_TEXT) {
            return Err(not_text("it is larger than 1 MiB; read it from a clone"));
        }
        let out = git.output(&["cat-file", "blob", object]).await?;
        if !out.success() || out.truncated {
            // The object was just listed; failing to read it now is git failing, and says why.
            git.run(&["cat-file", "blob", object]).await?;
            return Err(not_text("it is larger than 1 MiB; read it from a clone"));
        }
        String::from_utf8(out.stdout).map(Some).map_err(|_| not_text("it is not UTF-8 text"))
    }
}

/// The entry for exactly `path` in `ls-tree -l -z` output (`mode type object size\tname\0` each).
fn entry<'a>(listing: &'a str, path: &str) -> Option<TreeEntry<'a>> {
    listing.split('\0').find_map(|line| {
        let (meta, name) = line.split_once('\t')?;
        if name != path {
            return None;
        }
        let mut fields = meta.split_whitespace();
        Some((fields.next()?, fields.next()?, fields.next()?, fields.next()?))
    })
}
