//! Whole repositories through the GitHub forge against the emulator, with the real git: created in an organisation
//! and under the token's user, a taken name taken only when it is hive's own, branches pushed without force, a pull
//! request opened, approved by a person and merged once green, hostile names refused before any request, deleted.

use std::path::{Path, PathBuf};

use hive_forge::{Forge, ForgeError, ForgeWriter, ReviewState, Target, WriteError};
use hive_testkit::{Emulator, Method, RepoSpec, git::git};
use serde_json::{Value, json};

use super::github::{config, forge, id, org};

async fn emulator() -> Emulator {
    let emu = Emulator::start().await;
    emu.state().add_org("acme");
    emu.state().add_user("alice");
    emu.state().set_authenticated_user("hive-bot");
    emu
}

/// A rendered crate outside the forge: `main` with one commit, `feature` with one more. Returns its directory.
fn rendered(root: &Path) -> PathBuf {
    let dir = root.join("rendered");
    std::fs::create_dir_all(dir.join("src")).expect("mkdir");
    std::fs::write(dir.join("Cargo.toml"), "[package]\nname = \"agent\"\nversion = \"0.1.0\"\n").expect("write");
    std::fs::write(dir.join("src/lib.rs"), "pub fn hello() {}\n").expect("write");
    git(&dir, &["init", "-q"]);
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-qm", "agent: rendered"]);
    git(&dir, &["checkout", "-qb", "feature"]);
    std::fs::write(dir.join("src/lib.rs"), "pub fn hello() {}\npub fn more() {}\n").expect("write");
    git(&dir, &["commit", "-qam", "agent: more"]);
    git(&dir, &["checkout", "-q", "main"]);
    dir
}

/// Writes (what is not a GET) the emulator saw.
fn writes(emu: &Emulator) -> Vec<String> {
    emu.state()
        .requests()
        .into_iter()
        .filter(|r| r.method != Method::GET)
        .map(|r| format!("{} {}", r.method, r.path))
        .collect()
}

/// Reviews as a person leaves them: octocrab with the token, `POST .../reviews`.
async fn review(emu: &Emulator, repo: &str, number: u64, body: Value) -> Value {
    let octo = octocrab::Octocrab::builder()
        .base_uri(emu.url())
        .expect("the emulator's url")
        .personal_token(emu.token().to_owned())
        .build()
        .expect("a client");
    octo.post(format!("/repos/{repo}/pulls/{number}/reviews"), Some(&body)).await.expect("the review is made")
}

#[tokio::test]
async fn repositories_are_created_in_an_organisation_and_under_the_tokens_user() {
    let emu = emulator().await;
    let forge = forge(&emu, vec![org("acme")]);
    assert!(ForgeWriter::capabilities(&forge).repositories);
    let made = forge.create_repository("acme", "agent", "does things", true).await.expect("created");
    assert!(made.created && made.private);
    assert_eq!((made.repo.as_str(), made.default_branch.as_str()), ("acme/agent", "main"));
    assert_eq!(Some(made.clone_url.clone()), emu.state().git_dir("acme", "agent").map(|d| d.display().to_string()));
    assert!(writes(&emu).contains(&"POST /orgs/acme/repos".to_owned()), "{:?}", writes(&emu));
    // Read like any other: discovered with its organisation's repositories, and a snapshot of it, empty as it is.
    assert!(forge.discover().await.expect("discovered").contains(&id("acme/agent")));
    let snapshot = forge.snapshot(&id("acme/agent")).await.expect("a snapshot");
    assert_eq!(snapshot.github.and_then(|g| g.clone_url), Some(made.clone_url));

    let mine = forge.create_repository("hive-bot", "tool", "", false).await.expect("created");
    assert!(mine.created && !mine.private);
    assert_eq!(mine.repo.as_str(), "hive-bot/tool");
    assert!(writes(&emu).contains(&"POST /user/repos".to_owned()), "{:?}", writes(&emu));

    // Another user's repository cannot be made with this token: refused before anything is written.
    let before = writes(&emu).len();
    let err = forge.create_repository("alice", "tool", "", false).await.expect_err("another user");
    assert!(matches!(err, WriteError::Owner { .. }), "{err:?}");
    assert!(err.to_string().contains("'hive-bot'"), "{err}");
    let err = forge.create_repository("nowhere", "tool", "", false).await.expect_err("no such owner");
    assert!(matches!(&err, WriteError::GitHub(e) if e.is_not_found()), "{err:?}");
    assert_eq!(writes(&emu).len(), before, "{:?}", writes(&emu));
}

#[tokio::test]
async fn a_taken_name_is_hives_own_only_when_empty_or_described_as_asked() {
    let emu = emulator().await;
    let forge = forge(&emu, vec![org("acme")]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let source = rendered(tmp.path());
    let made = forge.create_repository("acme", "agent", "does things", false).await.expect("created");
    // A retried spawn: before and after its push, the repository is found again, not made twice.
    let again = forge.create_repository("acme", "agent", "does things", false).await.expect("a retry");
    assert_eq!((again.created, &again.repo, &again.clone_url), (false, &made.repo, &made.clone_url));
    forge.push_branch(&made.repo, &source, "main").await.expect("pushed");
    assert!(!forge.create_repository("acme", "agent", "does things", false).await.expect("a retry").created);
    // The same name for another purpose, now that it holds commits: not hive's to take.
    let err = forge.create_repository("acme", "agent", "something else", false).await.expect_err("taken");
    assert!(matches!(err, WriteError::AlreadyExists { .. }), "{err:?}");
    assert!(err.to_string().starts_with("repository 'acme/agent' exists already"), "{err}");
    // Names compare without case on GitHub.
    let err = forge.create_repository("acme", "AGENT", "something else", false).await.expect_err("taken");
    assert!(matches!(err, WriteError::AlreadyExists { .. } | WriteError::GitHub(_)), "{err:?}");
    assert!(emu.state().git_dir("acme", "AGENT").is_none(), "nothing was made");

    // Someone else's repository with history is never taken; an empty one is.
    emu.state().add_repo(RepoSpec::new("acme", "legacy").description("old service"));
    let err = forge.create_repository("acme", "legacy", "does things", false).await.expect_err("foreign");
    assert!(matches!(err, WriteError::AlreadyExists { .. }), "{err:?}");
    assert!(forge.create_repository("acme", "blank", "a person's", false).await.expect("created").created);
    assert!(!forge.create_repository("acme", "blank", "does things", false).await.expect("empty").created);
}

#[tokio::test]
async fn a_pushed_branch_becomes_a_pull_request_merged_once_green_and_approved() {
    let emu = emulator().await;
    let forge = forge(&emu, vec![org("acme")]);
    let tmp = tempfile::tempdir().expect("tempdir");
    let source = rendered(tmp.path());
    let repo = forge.create_repository("acme", "agent", "does things", false).await.expect("created").repo;

    let main = forge.push_branch(&repo, &source, "main").await.expect("main pushed");
    let head = forge.push_branch(&repo, &source, "feature").await.expect("feature pushed");
    assert_eq!(head, git(&source, &["rev-parse", "feature"]));
    assert_eq!(emu.state().branch_sha("acme", "agent", "main").as_deref(), Some(main.as_str()));
    assert_eq!(emu.state().branch_sha("acme", "agent", "feature").as_deref(), Some(head.as_str()));
    assert_eq!(forge.push_branch(&repo, &source, "feature").await.expect("a retry"), head);
    let snapshot = forge.snapshot(&repo).await.expect("a snapshot");
    assert_eq!(snapshot.default_branch, "main");

    let pull = forge
        .create_pull(&repo, "feature", "main", "Agent: more", "rendered by hive", false)
        .await
        .expect("a pull request");
    assert_eq!(pull.head_sha, head);
    assert!(ForgeWriter::pull_reviews(&forge, &repo, pull.number).await.expect("reviews").is_empty());
    review(&emu, "acme/agent", pull.number, json!({"event": "COMMENT", "body": "looking"})).await;
    review(&emu, "acme/agent", pull.number, json!({"event": "APPROVE"})).await;
    let reviews = ForgeWriter::pull_reviews(&forge, &repo, pull.number).await.expect("reviews");
    let states: Vec<&ReviewState> = reviews.iter().map(|r| &r.state).collect();
    assert_eq!(states, [&ReviewState::Commented, &ReviewState::Approved], "oldest first");
    assert_eq!((reviews[1].user.as_str(), reviews[1].commit_id.as_deref()), ("hive-bot", Some(head.as_str())));

    // Green checks and an approval of the head: the merge pinned to that head goes through.
    emu.state().set_check_runs("acme", "agent", &head, vec![("test", "completed", Some("success"))]);
    let checks = forge.check_runs(&repo, &head).await.expect("checks");
    let green = !checks.is_empty() && checks.iter().all(|c| c.conclusion.as_deref() == Some("success"));
    let approved = reviews.iter().any(|r| r.state == ReviewState::Approved && r.commit_id.as_deref() == Some(&head));
    assert!(green && approved);
    let merged = forge.merge_head(&repo, pull.number, "squash", Some(&head)).await.expect("merged");
    assert!(merged.merged);
    assert!(emu.state().pulls("acme", "agent")[0].merged);

    // Other history on a pushed branch is refused by name, and the branch stays as it was.
    git(&source, &["checkout", "-q", "feature"]);
    git(&source, &["reset", "-q", "--hard", "main"]);
    std::fs::write(source.join("README.md"), "other\n").expect("write");
    git(&source, &["add", "-A"]);
    git(&source, &["commit", "-qm", "other"]);
    let err = forge.push_branch(&repo, &source, "feature").await.expect_err("diverged");
    assert!(err.to_string().contains("never replaces"), "{err}");
    assert_eq!(emu.state().branch_sha("acme", "agent", "feature").as_deref(), Some(head.as_str()));
    let err = forge.push_branch(&repo, &source, "-f").await.expect_err("hostile branch");
    assert!(err.to_string().starts_with("invalid branch name"), "{err}");
}

#[tokio::test]
async fn hostile_names_are_refused_before_any_request() {
    let emu = emulator().await;
    let forge = forge(&emu, vec![org("acme")]);
    for (owner, name) in [
        ("acme", "../etc"),
        ("acme", "a/b"),
        ("acme", "-rf"),
        ("acme", "a b"),
        ("acme", "$(id)"),
        ("acme", ""),
        ("../acme", "x"),
        ("acme", "é"),
        ("acme", ".."),
    ] {
        let err = forge.create_repository(owner, name, "", false).await.expect_err(name);
        assert!(matches!(err, WriteError::InvalidName(_)), "{owner}/{name}: {err:?}");
        assert!(err.to_string().starts_with("invalid repository name '"), "{err}");
    }
    assert!(emu.state().requests().is_empty(), "{:?}", emu.state().requests());
}

#[tokio::test]
async fn a_deleted_repository_is_gone_for_every_read() {
    let emu = emulator().await;
    let forge = forge(&emu, vec![org("acme")]);
    let made = forge.create_repository("acme", "agent", "does things", false).await.expect("created");
    let dir = emu.state().git_dir("acme", "agent").expect("its git data");
    ForgeWriter::delete_repository(&forge, &made.repo).await.expect("deleted");
    assert!(writes(&emu).contains(&"DELETE /repos/acme/agent".to_owned()));
    assert!(!dir.exists());
    let err = forge.snapshot(&made.repo).await.expect_err("gone");
    assert!(matches!(err, ForgeError::NotFound { .. }), "{err:?}");
    assert!(!forge.discover().await.expect("discovered").contains(&made.repo));
    let err = ForgeWriter::delete_repository(&forge, &made.repo).await.expect_err("already gone");
    assert!(matches!(&err, WriteError::GitHub(e) if e.is_not_found()), "{err:?}");
    // The token never shows in what a failure says.
    let mut wrong = config(&emu, vec![Target::Org("acme".into())]);
    wrong.auth = hive_forge::GitHubAuth::Token(hive_forge::Secret::new("ghp_wrongwrongwrongwrong"));
    let other = hive_forge::GitHubForge::new(wrong).expect("a forge");
    let err = other.create_repository("acme", "agent", "", false).await.expect_err("refused");
    assert!(!format!("{err} {err:?}").contains("ghp_wrong"), "{err:?}");
}
