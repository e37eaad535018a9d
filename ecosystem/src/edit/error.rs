//! Why a file edit could not be planned or applied.

use std::path::PathBuf;

/// Why planning or applying file edits failed. Nothing is written by a plan, and [`crate::apply_edits`] checks every
/// file before it writes any.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EditError {
    /// A path that could reach outside the worktree, into git's own files, or through a link.
    #[error("refusing the path '{path}': {reason}")]
    UnsafePath {
        /// The path as given.
        path: String,
        /// Why, with what to do instead.
        reason: String,
    },
    /// The file no longer holds what the edit was planned from.
    #[error("'{path}' changed since the edit was planned; plan the change again from its current content")]
    Changed {
        /// The file, relative to the worktree.
        path: String,
    },
    /// A file that is not UTF-8 text, which edits cannot hold.
    #[error("'{path}' is not UTF-8 text; only text files can be synced or edited: leave it out of the paths")]
    NotText {
        /// The file.
        path: PathBuf,
    },
    /// A template placeholder with no value.
    #[error(
        "unknown placeholder '{{{{{placeholder}}}}}' in '{path}' line {line}: use owner, name, repo, default_branch \
         or extra.KEY with KEY one of [{known_extra}], or write '{{{{{{{{' for a literal '{{{{'"
    )]
    UnknownPlaceholder {
        /// The template file.
        path: PathBuf,
        /// Its line, from 1.
        line: usize,
        /// The text between the braces.
        placeholder: String,
        /// The extra keys the target has, comma-separated.
        known_extra: String,
    },
    /// A `{{` with no `}}` after it on the same line.
    #[error(
        "'{{{{' with no closing '}}}}' in '{path}' line {line}: close the placeholder, or write '{{{{{{{{' for a literal '{{{{'"
    )]
    UnclosedPlaceholder {
        /// The template file.
        path: PathBuf,
        /// Its line, from 1.
        line: usize,
    },
    /// A sync path or glob that names nothing in the source.
    #[error(
        "'{pattern}' matches no file in '{source_dir}': check the path or glob (globs match from the repository root)"
    )]
    NoMatch {
        /// The path or glob.
        pattern: String,
        /// The source worktree.
        source_dir: PathBuf,
    },
    /// A glob that does not parse.
    #[error("'{pattern}' is not a valid glob: {reason}")]
    BadPattern {
        /// The glob.
        pattern: String,
        /// The parser's words.
        reason: String,
    },
    /// A dependency that no manifest names.
    #[error(
        "the dependency '{dependency}' is in no manifest under '{dir}' (Cargo.toml, package.json, go.mod, \
         pyproject.toml): check its name as the manifests spell it"
    )]
    NotFound {
        /// The dependency.
        dependency: String,
        /// The worktree searched.
        dir: PathBuf,
    },
    /// A dependency name that could not be one, or could be taken for an option by a tool.
    #[error("'{dependency}' is not a dependency name: use letters, digits and . _ - / @ only, not starting with '-'")]
    InvalidDependency {
        /// The name as given.
        dependency: String,
    },
    /// A version that could not be written into a manifest as it is.
    #[error("'{version}' is not a version: use letters, digits and . + - _ ^ ~ = < > ! * , only, like '1.4.2'")]
    InvalidVersion {
        /// The version as given.
        version: String,
    },
    /// A manifest naming the dependency that does not parse.
    #[error("could not read the manifest '{path}': {reason}; fix the file, then plan again")]
    Manifest {
        /// The manifest.
        path: PathBuf,
        /// The parser's words.
        reason: String,
    },
    /// Reading or writing a file failed.
    #[error("could not {what} '{path}': {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl EditError {
    pub(crate) fn io(what: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> EditError {
        let path = path.into();
        move |source| EditError::Io { what, path, source }
    }

    pub(crate) fn unsafe_path(path: &str, reason: impl Into<String>) -> EditError {
        EditError::UnsafePath { path: path.to_owned(), reason: reason.into() }
    }
}
