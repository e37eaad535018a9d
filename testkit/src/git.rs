//! Git fixtures for repositories backed by a bare git repository ([`crate::RepoSpec::git_dir`]): made with the real
//! `git`, for tests and examples that clone, format and push.

use std::path::{Path, PathBuf};

/// A bare repository `<root>/<name>.git` whose `main` holds a Cargo project `cargo fmt` would change (`lines`
/// badly formatted statements; 0 still leaves `fn main(){}` to reformat), cloned from the work tree `<root>/work`,
/// which stays for further commits. Returns the bare repository and the commit of `main`.
///
/// Panics when git fails: a fixture that cannot be made is a broken test environment.
pub fn unformatted_cargo_repo(root: &Path, name: &str, lines: usize) -> (PathBuf, String) {
    let work = root.join("work");
    let write = |path: PathBuf, text: &str| {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap_or_else(|err| panic!("cannot create '{}': {err}", dir.display()));
        }
        std::fs::write(&path, text).unwrap_or_else(|err| panic!("cannot write '{}': {err}", path.display()));
    };
    write(work.join("Cargo.toml"), &format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n"));
    let mut main = String::from("fn main(){\n");
    for i in 0..lines {
        main.push_str(&format!("let  x{i}=1;\n"));
    }
    main.push_str("}\n");
    write(work.join("src/main.rs"), &main);
    git(&work, &["init", "-q"]);
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-qm", "initial"]);
    let bare = format!("{name}.git");
    git(root, &["clone", "-q", "--bare", "work", &bare]);
    (root.join(bare), git(&work, &["rev-parse", "HEAD"]))
}

/// A bare repository `<root>/<name>.git` whose `main` holds `files` (`(path, text)`, directories made as needed) in
/// one commit, cloned from the work tree `<root>/<name>-work`, which stays for further commits. Returns the bare
/// repository.
///
/// Panics when git or the file system fails: a fixture that cannot be made is a broken test environment.
pub fn bare_repo(root: &Path, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let work = root.join(format!("{name}-work"));
    for (path, text) in files {
        let path = work.join(path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).unwrap_or_else(|err| panic!("cannot create '{}': {err}", dir.display()));
        }
        std::fs::write(&path, text).unwrap_or_else(|err| panic!("cannot write '{}': {err}", path.display()));
    }
    std::fs::create_dir_all(&work).unwrap_or_else(|err| panic!("cannot create '{}': {err}", work.display()));
    git(&work, &["init", "-q", "-b", "main"]);
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "--allow-empty", "-m", "first"]);
    let bare = root.join(format!("{name}.git"));
    let (from, to) = (work.to_string_lossy().into_owned(), bare.to_string_lossy().into_owned());
    git(root, &["clone", "-q", "--bare", &from, &to]);
    bare
}

/// Runs git in `dir` the way every test and fixture should: a fixed identity, `main` as the first branch, no
/// signing, and none of the machine's or user's git configuration (system and global files ignored), so no test
/// depends on the machine it runs on. Returns stdout without its trailing newline (leading spaces, as in
/// `git status --porcelain`, are kept).
///
/// Panics when git fails: a fixture that cannot be made is a broken test environment.
pub fn git(dir: &Path, args: &[&str]) -> String {
    git_env(dir, args, &[])
}

/// [`git`] with extra environment variables (commit dates, for example).
///
/// Panics when git fails.
pub fn git_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = crate::bare::command()
        .args(["-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Hive Test")
        .env("GIT_AUTHOR_EMAIL", "hive-test@example.invalid")
        .env("GIT_COMMITTER_NAME", "Hive Test")
        .env("GIT_COMMITTER_EMAIL", "hive-test@example.invalid")
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|err| panic!("cannot run git: {err}"));
    assert!(out.status.success(), "git {args:?} in '{}': {}", dir.display(), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
}
