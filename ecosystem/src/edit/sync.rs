//! `sync`: files of a target worktree made equal to a source worktree's, templates filled with the target's own
//! values.

use std::{
    collections::{BTreeMap, btree_map::Entry},
    path::Path,
};

use globset::{GlobBuilder, GlobMatcher};

use super::{EditError, FileEdit, PlaceholderError, fill_placeholders, paths};

/// The suffix that makes a source file the template of the file named without it: `ci.yml.hive-template` is
/// written to a target as `ci.yml`, its placeholders filled. A template wins over a plain file beside it.
pub const TEMPLATE_SUFFIX: &str = ".hive-template";

/// What to sync.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SyncSpec {
    /// Exact paths or globs (`.github/workflows/*.yml`; `*` stays within a directory, `**` crosses them), matched in
    /// the source tree from its root, templates by the name they are written to.
    pub paths: Vec<String>,
    /// Also delete the target's files that these paths match and the source does not have.
    pub delete_missing: bool,
}

/// A target repository's own values for templates: `{{owner}}`, `{{name}}`, `{{repo}}` (`owner/name`),
/// `{{default_branch}}` and `{{extra.KEY}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RepoValues {
    /// The owner (user or organisation).
    pub owner: String,
    /// The repository's name.
    pub name: String,
    /// Its default branch.
    pub default_branch: String,
    /// Any other values, by key.
    pub extra: BTreeMap<String, String>,
}

impl RepoValues {
    /// The value of one placeholder, `repo` given as `owner/name`.
    fn lookup<'a>(&'a self, key: &str, repo: &'a str) -> Option<&'a str> {
        match key {
            "owner" => Some(&self.owner),
            "name" => Some(&self.name),
            "repo" => Some(repo),
            "default_branch" => Some(&self.default_branch),
            _ => key.strip_prefix("extra.").and_then(|k| self.extra.get(k)).map(String::as_str),
        }
    }
}

/// The edits that make `spec.paths` in `target` equal to `source`'s: a file created or replaced for each source file
/// that differs (its template filled with `values`), and with `delete_missing` a deletion for each target file the
/// paths match that the source lacks. Files already equal get no edit, so an empty plan means in step. Reads only.
///
/// A path or glob matching nothing in the source is [`EditError::NoMatch`] (unless `delete_missing`, where it
/// deletes); a placeholder without a value, [`EditError::UnknownPlaceholder`] naming the file and line.
pub fn plan_sync(
    source: &Path,
    target: &Path,
    spec: &SyncSpec,
    values: &RepoValues,
) -> Result<Vec<FileEdit>, EditError> {
    let patterns = spec.paths.iter().map(|p| Pattern::parse(p)).collect::<Result<Vec<_>, _>>()?;
    // The path written in the target -> the source file it comes from.
    let mut wanted: BTreeMap<String, String> = BTreeMap::new();
    for pattern in &patterns {
        let mut matched = false;
        for file in pattern.files(source)? {
            let written = file.strip_suffix(TEMPLATE_SUFFIX).filter(|w| !w.is_empty() && !w.ends_with('/'));
            let written = written.unwrap_or(&file);
            if !pattern.matches(written) && !pattern.matches(&file) {
                continue;
            }
            matched = true;
            let is_template = written.len() != file.len();
            match wanted.entry(written.to_owned()) {
                Entry::Vacant(slot) => {
                    slot.insert(file);
                }
                Entry::Occupied(mut slot) if is_template => {
                    slot.insert(file);
                }
                Entry::Occupied(_) => {}
            }
        }
        if !matched && !spec.delete_missing {
            return Err(EditError::NoMatch { pattern: pattern.text.clone(), source_dir: source.to_owned() });
        }
    }
    let repo = format!("{}/{}", values.owner, values.name);
    let mut edits = Vec::new();
    for (written, file) in &wanted {
        let from = paths::checked(source, file)?;
        let text = paths::read_text(&from)?.ok_or_else(|| {
            EditError::io("read", &from)(std::io::Error::new(std::io::ErrorKind::NotFound, "it went away"))
        })?;
        let after = if written != file {
            fill_placeholders(&text, |key| values.lookup(key, &repo))
                .map_err(|e| placeholder_error(e, &from, values))?
        } else {
            text
        };
        let before = paths::read_text(&paths::checked(target, written)?)?;
        if before.as_deref() != Some(after.as_str()) {
            edits.push(FileEdit { path: written.clone(), before, after: Some(after) });
        }
    }
    if spec.delete_missing {
        let mut gone = Vec::new();
        for pattern in &patterns {
            for file in pattern.files(target)? {
                if pattern.matches(&file) && !wanted.contains_key(&file) && !gone.contains(&file) {
                    gone.push(file);
                }
            }
        }
        for file in gone {
            let before = paths::read_text(&paths::checked(target, &file)?)?;
            edits.push(FileEdit { path: file, before, after: None });
        }
    }
    edits.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(edits)
}

fn placeholder_error(error: PlaceholderError, path: &Path, values: &RepoValues) -> EditError {
    let path = path.to_owned();
    match error {
        PlaceholderError::Unknown { line, placeholder } => {
            let known_extra = values.extra.keys().map(String::as_str).collect::<Vec<_>>().join(", ");
            EditError::UnknownPlaceholder { path, line, placeholder, known_extra }
        }
        PlaceholderError::Unclosed { line } => EditError::UnclosedPlaceholder { path, line },
    }
}

/// One entry of [`SyncSpec::paths`]: an exact path or a glob, and the directory below which a glob can match.
struct Pattern {
    text: String,
    /// The directory a glob lists: its leading components without glob characters.
    base: String,
    glob: Option<GlobMatcher>,
}

impl Pattern {
    fn parse(text: &str) -> Result<Pattern, EditError> {
        paths::lexical(text)?;
        let is_glob = |part: &str| part.contains(['*', '?', '[', '{']);
        let parts: Vec<&str> = text.split('/').collect();
        let literal = parts[..parts.len() - 1].iter().take_while(|part| !is_glob(part)).count();
        let base = parts[..literal].join("/");
        let glob = if parts.iter().any(|part| is_glob(part)) {
            let glob = GlobBuilder::new(text)
                .literal_separator(true)
                .build()
                .map_err(|e| EditError::BadPattern { pattern: text.to_owned(), reason: e.kind().to_string() })?;
            Some(glob.compile_matcher())
        } else {
            None
        };
        Ok(Pattern { text: text.to_owned(), base, glob })
    }

    /// The files of `dir` this may match, templates among them: below the base for a glob, the path and its
    /// template for an exact path.
    fn files(&self, dir: &Path) -> Result<Vec<String>, EditError> {
        if self.glob.is_some() {
            return paths::files_under(dir, &self.base, &|_| false);
        }
        let mut found = Vec::new();
        for candidate in [self.text.clone(), format!("{}{TEMPLATE_SUFFIX}", self.text)] {
            if std::fs::symlink_metadata(dir.join(&candidate)).is_ok_and(|meta| meta.is_file()) {
                found.push(candidate);
            }
        }
        Ok(found)
    }

    fn matches(&self, path: &str) -> bool {
        match &self.glob {
            Some(glob) => glob.is_match(path),
            None => self.text == path,
        }
    }
}
