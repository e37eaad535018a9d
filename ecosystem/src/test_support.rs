//! Fixture repositories for unit tests, built with the real `git` at test time. The identity is set per command, so
//! tests never depend on the machine's global git configuration.

use std::path::Path;

use crate::process::{CommandSpec, run};

/// Runs `git args...` in `dir` with a fixed identity; panics with git's message on failure.
pub(crate) async fn git(dir: &Path, args: &[&str]) -> String {
    let spec = CommandSpec::new("git", args.iter().copied(), dir)
        .env("GIT_AUTHOR_NAME", "Hive Test")
        .env("GIT_AUTHOR_EMAIL", "hive@example.invalid")
        .env("GIT_COMMITTER_NAME", "Hive Test")
        .env("GIT_COMMITTER_EMAIL", "hive@example.invalid")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("LC_ALL", "C");
    let out = run(&spec).await.expect("git runs");
    assert!(out.success(), "git {args:?} failed in {}: {}", dir.display(), out.stderr_text());
    out.stdout_text().trim_end().to_owned()
}

/// Creates a repository on branch `main` at `dir` with `files` committed.
pub(crate) async fn init_repo(dir: &Path, files: &[(&str, &str)]) {
    std::fs::create_dir_all(dir).expect("create repo dir");
    git(dir, &["init", "-q", "-b", "main"]).await;
    commit(dir, files, "initial").await;
}

/// Writes `files` and commits them (an empty commit when there are none).
pub(crate) async fn commit(dir: &Path, files: &[(&str, &str)], message: &str) {
    for (path, contents) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().expect("file has a parent")).expect("create parent");
        std::fs::write(&path, contents).expect("write fixture file");
    }
    git(dir, &["add", "-A"]).await;
    git(dir, &["commit", "-q", "--allow-empty", "-m", message]).await;
}
