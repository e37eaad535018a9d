//! The files of a tree that decide which linters apply: walked once, without following links, skipping what is
//! built or installed rather than written (`.git`, `target`, `node_modules`, `.venv`, `__pycache__`).

use std::path::{Path, PathBuf};

use crate::detect::first_file;

/// Directories never entered: version control, build output, installed dependencies. Their files are not the
/// repository's own, and a `target/` or `node_modules/` can hold hundreds of thousands of them.
const SKIPPED: [&str; 5] = [".git", "target", "node_modules", ".venv", "__pycache__"];

/// A file without an extension is read for a shebang only up to this size: scripts are small, and a large binary
/// need not be read whole to learn it is none.
const MAX_SCRIPT_BYTES: u64 = 1 << 20;

/// The regular files under a root, in name order.
pub(crate) struct Tree {
    root: PathBuf,
    files: Vec<Entry>,
}

struct Entry {
    /// Relative to the root.
    rel: PathBuf,
    /// 1 for a file in the root, 2 for one in a directory of the root, and so on.
    depth: usize,
}

impl Tree {
    /// Walks `root`. Entries that cannot be read are left out: a linter reports on what it can see.
    pub(crate) fn walk(root: &Path) -> Tree {
        let walker = walkdir::WalkDir::new(root).follow_links(false).sort_by_file_name().into_iter();
        let files = walker
            .filter_entry(|entry| !(entry.file_type().is_dir() && entry.depth() > 0 && skipped(entry.file_name())))
            .filter_map(Result::ok)
            .filter(|entry| entry.file_type().is_file())
            .filter_map(|entry| {
                let rel = entry.path().strip_prefix(root).ok()?.to_path_buf();
                Some(Entry { rel, depth: entry.depth() })
            })
            .collect();
        Tree { root: root.to_path_buf(), files }
    }

    /// Whether the root is a cargo package or workspace.
    pub(crate) fn has_cargo(&self) -> bool {
        first_file(&self.root, &["Cargo.toml"]).is_some()
    }

    /// Whether the root is a Python project: a manifest in the root, or Python files in the root or one level
    /// down (deeper ones alone are more likely vendored or examples of something else).
    pub(crate) fn has_python(&self) -> bool {
        first_file(&self.root, &["pyproject.toml", "setup.cfg", "setup.py"]).is_some()
            || self.files.iter().any(|entry| entry.depth <= 2 && has_extension(&entry.rel, &["py"]))
    }

    /// The Markdown files.
    pub(crate) fn markdown(&self) -> Vec<PathBuf> {
        self.files
            .iter()
            .filter(|entry| has_extension(&entry.rel, &["md", "markdown"]))
            .map(|e| e.rel.clone())
            .collect()
    }

    /// The shell scripts: `*.sh` and `*.bash`, and files without an extension whose first line is a `sh`,
    /// `bash`, `dash` or `ksh` shebang (the shells shellcheck knows).
    pub(crate) fn shell_scripts(&self, root: &Path) -> Vec<PathBuf> {
        self.files
            .iter()
            .filter(|entry| {
                has_extension(&entry.rel, &["sh", "bash"])
                    || (entry.rel.extension().is_none() && shell_shebang(&root.join(&entry.rel)))
            })
            .map(|entry| entry.rel.clone())
            .collect()
    }
}

fn skipped(name: &std::ffi::OsStr) -> bool {
    SKIPPED.iter().any(|skip| name == *skip)
}

/// Whether `path`'s extension is one of `extensions` (ASCII case ignored).
fn has_extension(path: &Path, extensions: &[&str]) -> bool {
    path.extension()
        .and_then(|ext| ext.to_str())
        .is_some_and(|ext| extensions.iter().any(|wanted| ext.eq_ignore_ascii_case(wanted)))
}

/// Whether the file at `path` starts with a shebang naming a shell shellcheck knows.
fn shell_shebang(path: &Path) -> bool {
    hive_support::read_bounded(path, MAX_SCRIPT_BYTES).is_ok_and(|bytes| shebang_shell(&bytes))
}

/// Whether `bytes` start with `#!` and a `sh`, `bash`, `dash` or `ksh` interpreter, directly (`#!/bin/sh`) or
/// through `env` (`#!/usr/bin/env bash`, `#!/usr/bin/env -S bash -e`).
pub(crate) fn shebang_shell(bytes: &[u8]) -> bool {
    let Some(rest) = bytes.strip_prefix(b"#!") else { return false };
    let line = rest.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut words = line.split_whitespace();
    let name = |word: &str| word.rsplit('/').next().unwrap_or(word).to_owned();
    let Some(mut program) = words.next().map(name) else { return false };
    if program == "env" {
        match words.find(|word| !word.starts_with('-')) {
            Some(word) => program = name(word),
            None => return false,
        }
    }
    matches!(program.as_str(), "sh" | "bash" | "dash" | "ksh")
}
