//! A file's text at a ref of a local repository: read from what is committed (not the working tree), at a branch
//! or a commit, `None` for nothing at the path, and clear errors for what is not a file of text or not a ref.

use super::*;
use crate::{ForgeWriter, MAX_FILE_TEXT, WriteError};

#[tokio::test]
async fn a_committed_file_is_read_at_a_ref_and_anything_else_is_refused_or_absent() {
    let ws = tempfile::tempdir().expect("tempdir");
    let dir = repo(ws.path(), "app", |dir| {
        write(dir, "Cargo.toml", "[package]\nname = \"app\"\n");
        write(dir, "src/lib.rs", "pub fn one() {}\n");
        write(dir, "-notes.txt", "a file whose name looks like an option\n");
        std::fs::write(dir.join("blob.bin"), [0xff_u8, 0xfe, 0x00]).expect("write");
        std::fs::write(dir.join("big.txt"), "x".repeat((MAX_FILE_TEXT + 1) as usize)).expect("write");
        std::os::unix::fs::symlink("Cargo.toml", dir.join("link")).expect("symlink");
    });
    let first = head(&dir);
    git(&dir, &["checkout", "-qb", "feature"]);
    write(&dir, "src/lib.rs", "pub fn two() {}\n");
    commit_all(&dir, "two");
    git(&dir, &["checkout", "-q", "main"]);
    // Not committed: never read.
    write(&dir, "src/lib.rs", "pub fn dirty() {}\n");
    write(&dir, "untracked.txt", "new\n");
    let forge = LocalForge::new(ws.path()).expect("forge");
    let app = id("app");

    let text = |path: &'static str, git_ref: &'static str| {
        let (forge, app) = (&forge, &app);
        async move { ForgeWriter::file_text(forge, app, path, git_ref).await }
    };
    assert_eq!(text("src/lib.rs", "main").await.expect("read").as_deref(), Some("pub fn one() {}\n"));
    assert_eq!(text("src/lib.rs", "feature").await.expect("read").as_deref(), Some("pub fn two() {}\n"));
    let at_first = ForgeWriter::file_text(&forge, &app, "src/lib.rs", &first).await.expect("read");
    assert_eq!(at_first.as_deref(), Some("pub fn one() {}\n"));
    assert_eq!(text("Cargo.toml", "HEAD").await.expect("read").as_deref(), Some("[package]\nname = \"app\"\n"));
    assert_eq!(text("untracked.txt", "main").await.expect("read"), None);
    assert_eq!(text("src/main.rs", "main").await.expect("read"), None);
    assert_eq!(text("Cargo.toml/x", "main").await.expect("read"), None);

    for (path, reason) in [
        ("src", "it is a directory"),
        ("link", "it is a symbolic link"),
        ("big.txt", "it is larger than 1 MiB; read it from a clone"),
        ("blob.bin", "it is not UTF-8 text"),
    ] {
        let err = text(path, "main").await.expect_err(path);
        assert!(matches!(err, WriteError::NotText { .. }), "{path}: {err:?}");
        assert_eq!(err.to_string(), format!("cannot read '{path}' at 'main' of 'local/app' as text: {reason}"));
    }
    let err = text("src/lib.rs", "no-such-branch").await.expect_err("no such ref");
    assert_eq!(err.to_string(), "'local/app' has no commit 'no-such-branch'; check the branch, tag or commit id");
    for (path, git_ref) in [("-notes.txt", "main"), ("../app/Cargo.toml", "main"), ("src/lib.rs", "--output=x")] {
        let err = text(path, git_ref).await.expect_err(path);
        assert!(matches!(err, WriteError::InvalidPath { .. } | WriteError::InvalidRef { .. }), "{err:?}");
    }
    let err = ForgeWriter::file_text(&forge, &id("ghost"), "Cargo.toml", "main").await.expect_err("no repository");
    assert_eq!(err.to_string(), "the local forge has no such repository");
}
