//! Fixture repositories for unit tests, built with the real `git` at test time. The identity is set per command, so
//! tests never depend on the machine's global git configuration.

use std::path::Path;

/// Runs `git args...` in `dir` with the tests' one isolated git runner, off the async runtime; panics with git's
/// message on failure.
pub(crate) async fn git(dir: &Path, args: &[&str]) -> String {
    let dir = dir.to_path_buf();
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        hive_testkit::git::git(&dir, &args)
    })
    .await
    .expect("the git fixture task finished")
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
