//! Integration tests of hive-ecosystem: formatter fixes and validation end to end with real git and real tools, and
//! the file edits of change sets on real directories.

mod edit;
mod fixer;
mod validate;

use std::path::Path;

/// Writes each `(relative path, contents)` under `dir`, making directories as needed.
pub(crate) fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (rel, contents) in files {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().expect("a file has a parent")).expect("create dirs");
        std::fs::write(&path, contents).expect("write fixture file");
    }
}
