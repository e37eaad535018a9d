//! Whole repositories in a local workspace: created on `main` and seen by discovery and snapshots, a branch fetched
//! in without hooks or force, a retried create, names that would escape the workspace, and deletes of nothing but
//! what hive made.

use super::*;
use crate::{ForgeWriter, WriteError};

/// A repository outside the workspace with `main` (one commit) and `feature` (one more), as a spawn renders one.
fn rendered(root: &Path) -> PathBuf {
    let dir = root.join("rendered");
    std::fs::create_dir_all(&dir).expect("mkdir");
    fixtures::make_project(&dir, true);
    git_repo(&dir);
    git(&dir, &["checkout", "-qb", "feature"]);
    write(&dir, "NOTES.md", "more\n");
    commit_all(&dir, "more");
    git(&dir, &["checkout", "-q", "main"]);
    dir
}

#[tokio::test]
async fn a_created_repository_takes_its_first_branch_and_is_read_like_any_other() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ws = tmp.path().join("ws");
    std::fs::create_dir_all(&ws).expect("mkdir");
    let forge = LocalForge::new(&ws).expect("forge").with_sandbox(Sandbox::Off);
    let source = rendered(tmp.path());
    assert!(ForgeWriter::capabilities(&forge).repositories);

    let made = forge.create_repository("local", "agent", "does things\nwell", true).await.expect("created");
    assert!(made.created);
    assert_eq!((made.repo.as_str(), made.default_branch.as_str()), ("local/agent", "main"));
    let dir = forge.root().join("agent");
    assert_eq!(made.clone_url, dir.display().to_string());
    assert_eq!(std::fs::read_to_string(dir.join(".git/description")).expect("description"), "does things well\n");
    assert_eq!(forge.discover().await.expect("discovered"), [id("agent")]);

    let head = forge.push_branch(&id("agent"), &source, "main").await.expect("pushed");
    assert_eq!(head, git(&source, &["rev-parse", "main"]));
    let feature = forge.push_branch(&id("agent"), &source, "feature").await.expect("pushed");
    assert_eq!(git(&dir, &["rev-parse", "refs/heads/feature"]), feature);
    // The first branch is checked out with its files, not seen as every file deleted.
    let snapshot = forge.snapshot(&id("agent")).await.expect("a snapshot");
    let facts = snapshot.local.expect("local facts");
    assert_eq!(
        (facts.branch.as_deref(), facts.head.as_deref(), facts.dirty),
        (Some("main"), Some(head.as_str()), false)
    );
    assert_eq!(snapshot.ci.state, CiState::Passing);

    // A retried create takes hive's own repository, commits and all.
    let again = forge.create_repository("local", "agent", "another text", false).await.expect("retry");
    assert!(!again.created);
    assert_eq!(again.repo, made.repo);
    // A retried push is no error; other history is.
    assert_eq!(forge.push_branch(&id("agent"), &source, "feature").await.expect("retry"), feature);
    git(&source, &["checkout", "-q", "feature"]);
    git(&source, &["reset", "-q", "--hard", "main"]);
    write(&source, "OTHER.md", "x\n");
    commit_all(&source, "other");
    let err = forge.push_branch(&id("agent"), &source, "feature").await.expect_err("diverged");
    assert!(err.to_string().contains("never replaces"), "{err}");
    assert_eq!(git(&dir, &["rev-parse", "refs/heads/feature"]), feature);

    let err = forge.pull_reviews(&id("agent"), 1).await.expect_err("no reviews");
    assert_eq!(err.to_string(), "the local forge has no pull requests");
    forge.delete_repository(&id("agent")).await.expect("deleted");
    assert!(!dir.exists());
    assert!(forge.discover().await.expect("discovered").is_empty());
}

#[tokio::test]
async fn foreign_repositories_are_neither_taken_nor_deleted_and_names_stay_in_the_workspace() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let ws = tmp.path().join("ws");
    std::fs::create_dir_all(&ws).expect("mkdir");
    let forge = LocalForge::new(&ws).expect("forge");
    let mine = repo(&ws, "mine", fixtures::cargo_project);
    let before = git(&mine, &["rev-parse", "HEAD"]);

    let err = forge.create_repository("local", "mine", "", true).await.expect_err("taken");
    assert!(matches!(err, WriteError::AlreadyExists { .. }), "{err:?}");
    assert!(err.to_string().contains("'local/mine' exists already"), "{err}");
    let err = forge.delete_repository(&id("mine")).await.expect_err("not hive's");
    assert!(matches!(err, WriteError::NotDeletable { .. }), "{err:?}");
    assert_eq!(git(&mine, &["rev-parse", "HEAD"]), before, "untouched");

    // An empty repository someone made is taken (a create that stopped before marking it).
    let empty = ws.join("empty");
    std::fs::create_dir_all(&empty).expect("mkdir");
    git(&empty, &["init", "-q", "-b", "main"]);
    assert!(!forge.create_repository("local", "empty", "", true).await.expect("an empty one").created);
    // A plain directory is not a repository to take.
    std::fs::create_dir_all(ws.join("plain")).expect("mkdir");
    let err = forge.create_repository("local", "plain", "", true).await.expect_err("not a repository");
    assert!(matches!(err, WriteError::AlreadyExists { .. }), "{err:?}");

    for (owner, name) in [("local", ".."), ("local", "../escape"), ("local", "a/b"), ("local", "-x"), ("local", "")] {
        let err = forge.create_repository(owner, name, "", true).await.expect_err(name);
        assert!(matches!(err, WriteError::InvalidName(_)), "{name:?}: {err:?}");
    }
    let err = forge.create_repository("acme", "agent", "", true).await.expect_err("not local");
    assert!(err.to_string().starts_with("cannot create repositories for 'acme'"), "{err}");
    let err = forge.delete_repository(&RepoId::new("acme/mine").expect("id")).await.expect_err("not local");
    assert!(matches!(err, WriteError::NotDeletable { .. }), "{err:?}");
    assert!(!tmp.path().join("escape").exists() && !ws.join("agent").exists());
    let mut names: Vec<String> =
        std::fs::read_dir(&ws).expect("ws").map(|e| e.expect("entry").file_name().to_string_lossy().into()).collect();
    names.sort();
    assert_eq!(names, ["empty", "mine", "plain"]);
}
