//! `[[sync]]` in `hive.toml`: files kept in step across repositories. Each declaration is checked where it is
//! written (name, source, every path and target), so a bad one is an error naming its line and key before any
//! repository is read.

use serde::Deserialize;
use toml::Spanned;

use super::file::{FileError, Validator};
use hive::changes::SyncDecl;

/// One `[[sync]]` table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSync {
    name: Spanned<String>,
    source: Spanned<String>,
    paths: Spanned<Vec<Spanned<String>>>,
    targets: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    continuous: bool,
}

impl Validator<'_> {
    /// The declarations, each checked, names unique.
    pub(super) fn syncs(&self, raw: Vec<RawSync>) -> Result<Vec<SyncDecl>, FileError> {
        let mut decls: Vec<SyncDecl> = Vec::with_capacity(raw.len());
        for sync in raw {
            let name = sync.name.get_ref();
            if !SyncDecl::is_valid_name(name) {
                return self.fail(
                    &sync.name.span(),
                    format!(
                        "invalid sync name '{}': use 1 to 64 lowercase letters, digits and '-', such as license-and-ci",
                        name.escape_debug()
                    ),
                );
            }
            if decls.iter().any(|d| d.name == *name) {
                return self.fail(
                    &sync.name.span(),
                    format!("duplicate sync name '{name}': each [[sync]] needs a name of its own"),
                );
            }
            let source = self.repo(&sync.source)?;
            if sync.paths.get_ref().is_empty() {
                return self
                    .fail(&sync.paths.span(), "expected at least one path or glob, such as \"LICENSE\"".to_owned());
            }
            let mut paths = Vec::new();
            for path in sync.paths.get_ref() {
                paths.push(self.sync_path(path)?);
            }
            if sync.targets.get_ref().is_empty() {
                return self.fail(&sync.targets.span(), "expected at least one target, such as \"acme/*\"".to_owned());
            }
            let mut targets = Vec::new();
            for target in sync.targets.get_ref() {
                targets.push(self.sync_target(target)?);
            }
            decls.push(SyncDecl { name: name.clone(), source, paths, targets, continuous: sync.continuous });
        }
        Ok(decls)
    }

    /// A path or glob inside a repository: relative, no `..`, not in `.git`, a glob that parses.
    fn sync_path(&self, value: &Spanned<String>) -> Result<String, FileError> {
        let path = value.get_ref();
        let refuse =
            |why: &str| self.fail(&value.span(), format!("invalid sync path '{}': {why}", path.escape_debug()));
        if path.is_empty() {
            return refuse("it is empty; give a file's path in the source, such as LICENSE");
        }
        if path.starts_with('/') {
            return refuse(
                "it is absolute; give it relative to the repository's root, such as .github/workflows/ci.yml",
            );
        }
        for part in path.split('/') {
            match part {
                "" | "." => return refuse("write it without empty or '.' components, like 'dir/file'"),
                ".." => return refuse("'..' would leave the repository; give a path inside it"),
                p if p.eq_ignore_ascii_case(".git") => return refuse("git's own files are never synced"),
                _ => {}
            }
        }
        if let Err(err) = globset::GlobBuilder::new(path).literal_separator(true).build() {
            return refuse(&format!("{}; use globs such as '.github/workflows/*.yml'", err.kind()));
        }
        Ok(path.clone())
    }

    /// A target: a glob over the fleet's `owner/name`, or one repository.
    fn sync_target(&self, value: &Spanned<String>) -> Result<String, FileError> {
        let target = value.get_ref();
        if !target.contains(['*', '?', '[', '{']) {
            return self.repo(value);
        }
        match globset::Glob::new(target) {
            Ok(_) => Ok(target.clone()),
            Err(err) => self.fail(
                &value.span(),
                format!(
                    "invalid target glob '{}': {}; use patterns such as 'acme/*'",
                    target.escape_debug(),
                    err.kind()
                ),
            ),
        }
    }
}
