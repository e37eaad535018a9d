//! Pull requests through the GitHub forge against the emulator, on repositories backed by real git: edited, closed
//! and reopened (a merged one stays merged), merged in git (a merge commit, a squash with one parent, a conflict
//! that changes nothing, a moved head refused), undone by a revert pull request, refused or judged by checks on
//! every head; and files read at a ref.

use std::path::{Path, PathBuf};

use hive_forge::{ForgeWriter, GitHubError, GitHubForge, PullChange, RepoId, WriteError};
use hive_testkit::{Emulator, Method, RepoSpec, git::git};

use super::github::{forge, id, org};

/// An emulator with an organisation `acme` whose repository `app` is backed by a bare git repository: `main` holds
/// `Cargo.toml` and `src/lib.rs`. Returns the emulator, the forge, the repository and the work tree its branches
/// are pushed from (inside `root`).
async fn app(root: &Path) -> (Emulator, GitHubForge, RepoId, PathBuf) {
    let emu = Emulator::start().await;
    emu.state().add_org("acme");
    let forge = forge(&emu, vec![org("acme")]);
    let repo = forge.create_repository("acme", "app", "changed by tests", false).await.expect("created").repo;
    let work = root.join("work");
    std::fs::create_dir_all(work.join("src")).expect("mkdir");
    std::fs::write(work.join("Cargo.toml"), "[package]\nname = \"app\"\n").expect("write");
    std::fs::write(work.join("src/lib.rs"), "pub fn one() {}\n").expect("write");
    git(&work, &["init", "-q"]);
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-qm", "first"]);
    forge.push_branch(&repo, &work, "main").await.expect("main pushed");
    (emu, forge, repo, work)
}

/// A branch `name` off `main` in `work` whose one commit writes `text` to `src/lib.rs`, pushed. Returns its head.
async fn branch(forge: &GitHubForge, repo: &RepoId, work: &Path, name: &str, text: &str) -> String {
    git(work, &["checkout", "-q", "-B", name, "main"]);
    std::fs::write(work.join("src/lib.rs"), text).expect("write");
    git(work, &["commit", "-qam", name]);
    git(work, &["checkout", "-q", "main"]);
    forge.push_branch(repo, work, name).await.expect("pushed")
}

/// git in the repository's bare git directory.
fn bare(emu: &Emulator, args: &[&str]) -> String {
    let dir = emu.state().git_dir("acme", "app").expect("a repository made through the API has git");
    let mut all = vec!["--git-dir", dir.to_str().expect("a UTF-8 temporary path")];
    all.extend(args);
    git(&dir, &all)
}

/// The parents of `rev` in the bare repository.
fn parents(emu: &Emulator, rev: &str) -> Vec<String> {
    bare(emu, &["rev-list", "--parents", "-n", "1", rev]).split(' ').skip(1).map(str::to_owned).collect()
}

fn status_of(err: &WriteError) -> Option<u16> {
    match err {
        WriteError::GitHub(GitHubError::Rejected { status, .. }) => Some(*status),
        _ => None,
    }
}

#[tokio::test]
async fn a_pull_request_is_edited_closed_and_reopened_and_a_merged_one_stays_merged() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (emu, forge, repo, work) = app(tmp.path()).await;
    let head = branch(&forge, &repo, &work, "change/one", "pub fn one() -> u8 { 1 }\n").await;
    let pull = forge.create_pull(&repo, "change/one", "main", "One", "first body", false).await.expect("opened");
    assert_eq!((pull.state.as_str(), pull.merged, pull.merge_commit_sha.as_deref()), ("open", false, None));

    let change = PullChange { body: Some("second body".into()), ..PullChange::default() };
    let edited = ForgeWriter::update_pull(&forge, &repo, pull.number, &change).await.expect("edited");
    assert_eq!(
        (edited.body.as_str(), edited.state.as_str(), edited.head_sha.as_str()),
        ("second body", "open", &*head)
    );
    let stored = &emu.state().pulls("acme", "app")[0];
    assert_eq!((stored.title.as_str(), stored.body.as_str()), ("One", "second body"));

    let close = PullChange { state: Some("closed".into()), ..PullChange::default() };
    let closed = ForgeWriter::update_pull(&forge, &repo, pull.number, &close).await.expect("closed");
    assert_eq!((closed.state.as_str(), closed.merged), ("closed", false));
    let err = forge.merge_head(&repo, pull.number, "merge", Some(&head)).await.expect_err("closed");
    assert!(matches!(err, GitHubError::Rejected { status: 405, .. }), "{err}");
    let main_before = bare(&emu, &["rev-parse", "main"]);

    let reopen = PullChange { state: Some("open".into()), ..PullChange::default() };
    let reopened = ForgeWriter::update_pull(&forge, &repo, pull.number, &reopen).await.expect("reopened");
    assert_eq!((reopened.state.as_str(), reopened.merged), ("open", false));
    assert_eq!(bare(&emu, &["rev-parse", "main"]), main_before, "closing and reopening merge nothing");

    let merged = forge.merge_head(&repo, pull.number, "merge", Some(&head)).await.expect("merged");
    let read = ForgeWriter::pull(&forge, &repo, pull.number).await.expect("read by number");
    assert!(read.merged && read.state == "closed", "{read:?}");
    assert_eq!(read.merge_commit_sha, merged.sha);
    assert_eq!(emu.state().pulls("acme", "app")[0].merge_commit_sha, merged.sha);

    let err = ForgeWriter::update_pull(&forge, &repo, pull.number, &reopen).await.expect_err("merged");
    assert_eq!(status_of(&err), Some(422), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&format!("/repos/acme/app/pulls/{}", pull.number)), "{message}");
    assert!(message.contains("The pull request cannot be reopened"), "{message}");
    assert!(ForgeWriter::pull(&forge, &repo, pull.number).await.expect("read").merged);
    let err = ForgeWriter::pull(&forge, &repo, 99).await.expect_err("no such pull request");
    assert!(matches!(&err, WriteError::GitHub(e) if e.is_not_found()), "{err:?}");
}

#[tokio::test]
async fn a_merge_is_a_real_merge_commit_and_a_revert_pull_request_undoes_it() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (emu, forge, repo, work) = app(tmp.path()).await;
    let old_main = bare(&emu, &["rev-parse", "main"]);
    let head = branch(&forge, &repo, &work, "change/two", "pub fn two() {}\n").await;
    let pull = forge.create_pull(&repo, "change/two", "main", "Two", "", false).await.expect("opened");

    let merged = forge.merge_head(&repo, pull.number, "merge", Some(&head)).await.expect("merged");
    let sha = merged.sha.clone().expect("a merge names its commit");
    assert_eq!(bare(&emu, &["rev-parse", "main"]), sha);
    assert_eq!(parents(&emu, &sha), [old_main.clone(), head.clone()], "base first, then the head");
    assert_eq!(bare(&emu, &["show", "main:src/lib.rs"]), "pub fn two() {}");
    assert!(
        bare(&emu, &["log", "-1", "--format=%s", "main"]).starts_with(&format!("Merge pull request #{}", pull.number))
    );
    assert_eq!(emu.state().branch_sha("acme", "app", "main").as_deref(), Some(sha.as_str()));
    assert_eq!(ForgeWriter::pull(&forge, &repo, pull.number).await.expect("read").merge_commit_sha, Some(sha.clone()));
    let text = ForgeWriter::file_text(&forge, &repo, "src/lib.rs", "main").await.expect("read");
    assert_eq!(text.as_deref(), Some("pub fn two() {}\n"), "the API reads what git holds");

    // Undone as a change engine would: revert the merge against its first parent on a branch, and merge that.
    let clone = tmp.path().join("clone");
    let url = emu.state().git_dir("acme", "app").expect("git").display().to_string();
    git(tmp.path(), &["clone", "-q", &url, "clone"]);
    git(&clone, &["checkout", "-qb", "revert/two"]);
    git(&clone, &["revert", "--no-edit", "-m", "1", &sha]);
    let revert_head = forge.push_branch(&repo, &clone, "revert/two").await.expect("pushed");
    let revert = forge.create_pull(&repo, "revert/two", "main", "Revert Two", "", false).await.expect("opened");
    let undone = forge.merge_head(&repo, revert.number, "squash", Some(&revert_head)).await.expect("merged");
    let squashed = undone.sha.expect("a squash names its commit");
    assert_eq!(parents(&emu, &squashed), std::slice::from_ref(&sha), "a squash has the base as its only parent");
    assert_eq!(bare(&emu, &["show", "main:src/lib.rs"]), "pub fn one() {}");
    assert_eq!(bare(&emu, &["log", "-1", "--format=%s", "main"]), format!("Revert Two (#{})", revert.number));
    // A rebase merge lands the same way: one commit on the base.
    let head = branch(&forge, &repo, &work, "change/three", "pub fn three() {}\n").await;
    let third = forge.create_pull(&repo, "change/three", "main", "Three", "", false).await.expect("opened");
    git(&work, &["pull", "-q", "--ff-only", &url, "main"]);
    let rebased = forge.merge_head(&repo, third.number, "rebase", Some(&head)).await.expect("merged");
    assert_eq!(parents(&emu, rebased.sha.as_deref().expect("a commit")), [squashed]);
}

#[tokio::test]
async fn a_conflict_or_a_moved_head_merges_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (emu, forge, repo, work) = app(tmp.path()).await;
    let left = branch(&forge, &repo, &work, "left", "pub fn left() {}\n").await;
    let right = branch(&forge, &repo, &work, "right", "pub fn right() {}\n").await;
    let first = forge.create_pull(&repo, "left", "main", "Left", "", false).await.expect("opened");
    let second = forge.create_pull(&repo, "right", "main", "Right", "", false).await.expect("opened");

    // Pinned to a head that is not the branch's (someone pushed after the checks): 409, nothing merged.
    let before = bare(&emu, &["rev-parse", "main"]);
    let err = forge.merge_head(&repo, first.number, "merge", Some(&right)).await.expect_err("another head");
    assert!(matches!(err, GitHubError::Rejected { status: 409, .. }), "{err}");
    assert_eq!(bare(&emu, &["rev-parse", "main"]), before);

    forge.merge_head(&repo, first.number, "merge", Some(&left)).await.expect("merged");
    let after_first = bare(&emu, &["rev-parse", "main"]);
    let err = forge.merge_head(&repo, second.number, "merge", Some(&right)).await.expect_err("a conflict");
    assert!(
        matches!(&err, GitHubError::Rejected { status: 405, message, .. } if message == "Pull Request is not mergeable"),
        "{err}"
    );
    assert_eq!(bare(&emu, &["rev-parse", "main"]), after_first, "main stays where the first merge put it");
    assert_eq!(bare(&emu, &["show", "main:src/lib.rs"]), "pub fn left() {}");
    let still = ForgeWriter::pull(&forge, &repo, second.number).await.expect("read");
    assert_eq!((still.state.as_str(), still.merged, still.merge_commit_sha), ("open", false, None));
    let err = forge.merge_head(&repo, second.number, "octopus", None).await.expect_err("no such method");
    assert!(matches!(err, GitHubError::Rejected { status: 422, .. }), "{err}");
}

#[tokio::test]
async fn merges_refused_for_a_repository_and_checks_set_for_every_head() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (emu, forge, repo, work) = app(tmp.path()).await;
    let head = branch(&forge, &repo, &work, "change/four", "pub fn four() {}\n").await;
    let pull = forge.create_pull(&repo, "change/four", "main", "Four", "", false).await.expect("opened");

    // Checks for every ref, without knowing the shas; a ref's own checks still win.
    emu.state().set_default_check_runs("acme", "app", vec![("test", "completed", Some("failure"))]);
    for git_ref in [head.as_str(), "main", "change/four"] {
        let checks = forge.check_runs(&repo, git_ref).await.expect("checks");
        assert_eq!(checks.len(), 1, "{git_ref}");
        assert_eq!(checks[0].conclusion.as_deref(), Some("failure"), "{git_ref}");
    }
    emu.state().set_check_runs("acme", "app", &head, vec![("test", "completed", Some("success"))]);
    assert_eq!(forge.check_runs(&repo, &head).await.expect("checks")[0].conclusion.as_deref(), Some("success"));
    assert_eq!(forge.check_runs(&repo, "main").await.expect("checks")[0].conclusion.as_deref(), Some("failure"));

    let before = bare(&emu, &["rev-parse", "main"]);
    emu.state().refuse_merges("acme", "app", "Required status check \"test\" is failing.");
    let err = forge.merge_head(&repo, pull.number, "squash", Some(&head)).await.expect_err("refused");
    assert!(
        matches!(&err, GitHubError::Rejected { status: 405, message, .. } if message.contains("\"test\" is failing")),
        "{err}"
    );
    assert_eq!(bare(&emu, &["rev-parse", "main"]), before);
    assert!(!emu.state().pulls("acme", "app")[0].merged);
    emu.state().allow_merges("acme", "app");
    assert!(forge.merge_head(&repo, pull.number, "squash", Some(&head)).await.expect("merged").merged);
}

#[tokio::test]
async fn a_files_text_is_read_at_a_ref_and_what_is_not_text_or_not_inside_is_refused() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (emu, forge, repo, work) = app(tmp.path()).await;
    std::fs::write(work.join("big.txt"), "x".repeat(1 << 21)).expect("write");
    std::fs::write(work.join("blob.bin"), [0xff_u8, 0xfe, 0x00]).expect("write");
    std::fs::write(work.join("wrapped.txt"), "a line long enough to be wrapped by the base64 encoder\n".repeat(9))
        .expect("write");
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-qm", "more files"]);
    let main = forge.push_branch(&repo, &work, "main").await.expect("pushed");
    let head = branch(&forge, &repo, &work, "change/five", "pub fn five() {}\n").await;

    let text = |path: &'static str, git_ref: String| {
        let (forge, repo) = (&forge, &repo);
        async move { ForgeWriter::file_text(forge, repo, path, &git_ref).await }
    };
    assert_eq!(text("src/lib.rs", "main".into()).await.expect("read").as_deref(), Some("pub fn one() {}\n"));
    assert_eq!(text("src/lib.rs", "change/five".into()).await.expect("read").as_deref(), Some("pub fn five() {}\n"));
    assert_eq!(text("src/lib.rs", head.clone()).await.expect("read").as_deref(), Some("pub fn five() {}\n"));
    assert_eq!(text("src/lib.rs", main).await.expect("read").as_deref(), Some("pub fn one() {}\n"));
    let wrapped = text("wrapped.txt", "main".into()).await.expect("read").expect("a file");
    assert_eq!(wrapped.lines().count(), 9);
    assert_eq!(text("src/main.rs", "main".into()).await.expect("read"), None);

    for (path, reason) in [
        ("src", "it is a directory"),
        ("big.txt", "it is larger than 1 MiB, which the contents API does not return; read it from a clone"),
        ("blob.bin", "it is not UTF-8 text"),
    ] {
        let err = text(path, "main".into()).await.expect_err(path);
        assert_eq!(err.to_string(), format!("cannot read '{path}' at 'main' of 'acme/app' as text: {reason}"));
    }
    let err = text("src/lib.rs", "no-such-branch".into()).await.expect_err("no such ref");
    assert!(matches!(err, WriteError::NoSuchRef { .. }), "{err:?}");
    let err = ForgeWriter::file_text(&forge, &id("acme/ghost"), "Cargo.toml", "main").await.expect_err("no repo");
    assert!(matches!(&err, WriteError::GitHub(e) if e.is_not_found()), "{err:?}");

    let asked = emu.state().requests().len();
    for (path, git_ref) in [("../secret", "main"), ("/etc/passwd", "main"), ("src//lib.rs", "main"), ("a", "-x")] {
        let err = ForgeWriter::file_text(&forge, &repo, path, git_ref).await.expect_err(path);
        assert!(matches!(err, WriteError::InvalidPath { .. } | WriteError::InvalidRef { .. }), "{err:?}");
    }
    assert_eq!(emu.state().requests().len(), asked, "refused before any request");

    // A repository without git answers from the files written through the API.
    emu.state().add_repo(RepoSpec::new("acme", "plain").has_security_md(true));
    let policy = ForgeWriter::file_text(&forge, &id("acme/plain"), "SECURITY.md", "main").await.expect("read");
    assert!(policy.expect("a policy").starts_with("# Security policy"));
    let contents: Vec<String> = emu
        .state()
        .requests()
        .into_iter()
        .filter(|r| r.method == Method::GET && r.path.contains("/contents/"))
        .map(|r| format!("{}?{}", r.path, r.query))
        .collect();
    assert!(contents.contains(&"/repos/acme/app/contents/src/lib.rs?ref=change%2Ffive".to_owned()), "{contents:?}");
}
