//! `spawn agent` end to end: real cargo, real git, a local workspace and the GitHub emulator (octocrab over HTTP),
//! the registry and the audit trail in SQLite on disk.

use std::{path::Path, path::PathBuf, sync::Arc, time::Duration};

use hive_cerebrum::{Memory, Redactor, ScribeHandle, governance::Policy};
use hive_forge::{ForgeWriter, GitHubAuth, GitHubConfig, GitHubForge, LocalForge, Secret};
use hive_spawner::{
    AgentSpec, AgentState, Archetype, Author, SpawnError, SpawnRequest, SpawnSettings, Spawner, Tier,
    llm::{LlmClient, LlmConfig},
    render,
};
use hive_testkit::{
    Emulator, Fault, FaultRule,
    llm::{FakeLlm, LLM_KEY, LlmReply},
};
use serde_json::json;

/// The target directory every agent of these tests shares.
fn shared_target() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("agents-target")
}

fn settings(state: &Path, owner: &str) -> SpawnSettings {
    let mut settings = SpawnSettings::new(state.join("agents"), owner);
    settings.check.target_dir = shared_target();
    settings.check.offline = true;
    settings
}

async fn spawner(state: &Path, forge: Arc<dyn ForgeWriter>, settings: SpawnSettings) -> (Spawner, ScribeHandle) {
    let scribe = ScribeHandle::spawn(Memory::open(state).expect("database")).await.expect("scribe");
    (Spawner::new(scribe.clone(), forge, settings, Redactor::new(["emulator-secret-token"])), scribe)
}

fn request(text: &str, archetype: Archetype) -> SpawnRequest {
    SpawnRequest {
        spec: AgentSpec::parse(text).expect("a valid request"),
        archetype: Some(archetype),
        tier: Tier::Free,
        by: "cli:tester".to_owned(),
    }
}

async fn actions(scribe: &ScribeHandle, repo: &str) -> Vec<String> {
    let repo = repo.to_owned();
    let mut records = scribe.call(move |m| m.audit().recent_for(&repo, 50)).await.expect("scribe").expect("audit");
    records.reverse();
    records.into_iter().map(|r| r.action).collect()
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git").arg("-C").arg(dir).args(args).output().expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_local_workspace_gets_a_tested_agent_on_main() {
    let state = tempfile::tempdir().unwrap();
    let workspace = tempfile::tempdir().unwrap();
    let forge = Arc::new(LocalForge::new(workspace.path()).unwrap());
    let (spawner, scribe) = spawner(state.path(), forge, settings(state.path(), "local")).await;

    let record =
        spawner.spawn(&request("hooks: answers webhook deliveries", Archetype::WebhookResponder)).await.unwrap();
    assert_eq!(record.state, AgentState::Ready, "{}", record.note);
    assert!(record.tests_passed && !record.test_results.is_empty());
    assert_eq!(record.repo, "local/hooks");

    // The workspace's repository holds the tested crate, report and lock file included, on main.
    let repo = workspace.path().join("hooks");
    let files = git(&repo, &["ls-tree", "-r", "--name-only", "main"]);
    for file in ["Cargo.toml", "Cargo.lock", "TEST_REPORT.md", "src/main.rs", ".github/workflows/ci-tests.yml"] {
        assert!(files.lines().any(|f| f == file), "{file} missing from main: {files}");
    }
    assert_eq!(spawner.list().await.unwrap(), vec![record.clone()], "registered once");
    assert_eq!(
        actions(&scribe, "local/hooks").await,
        ["agent_spawn_requested", "agent_tested", "agent_repository_created", "agent_pushed", "agent_registered"]
    );

    // A second spawn of the name is refused before anything is made.
    let err = spawner.spawn(&request("hooks: again", Archetype::WebhookResponder)).await.unwrap_err();
    assert!(matches!(err, SpawnError::Exists { .. }), "{err}");

    let removed = spawner.remove("hooks", "cli:tester").await.unwrap();
    assert!(!removed.source.exists(), "the local source goes with it");
    assert!(repo.exists(), "the repository is a maintainer's to delete");
    assert!(matches!(spawner.show("hooks").await.unwrap_err(), SpawnError::NotFound { .. }));
}

#[tokio::test(flavor = "multi_thread")]
async fn failing_tests_leave_nothing_behind() {
    let state = tempfile::tempdir().unwrap();
    let workspace = tempfile::tempdir().unwrap();
    let forge = Arc::new(LocalForge::new(workspace.path()).unwrap());
    let mut settings = settings(state.path(), "local");
    // Too short for any build: cargo is killed, a real failure of the test step.
    settings.check.timeout = Duration::from_millis(1);
    let agents = settings.agents_dir.clone();
    let (spawner, scribe) = spawner(state.path(), forge, settings).await;

    let err = spawner.spawn(&request("slow: answers webhooks", Archetype::WebhookResponder)).await.unwrap_err();
    assert!(matches!(&err, SpawnError::TestsFailed { name, .. } if name == "slow"), "{err}");
    assert!(err.to_string().contains("timed out"), "{err}");
    let left: Vec<_> = std::fs::read_dir(&agents).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.iter().all(|n| n == ".target"), "nothing of the agent is left: {left:?}");
    assert!(!workspace.path().join("slow").exists(), "no repository was made");
    assert!(spawner.list().await.unwrap().is_empty());
    assert_eq!(actions(&scribe, "local/slow").await, ["agent_spawn_requested", "agent_tested", "agent_spawn_failed"]);
}

/// Approves pull request `number` of `owner/name` as the maintainer `login` would, through the emulator's API.
async fn approve(emu: &Emulator, owner: &str, name: &str, number: u64) {
    let url = format!("{}/repos/{owner}/{name}/pulls/{number}/reviews", emu.url());
    let answer = reqwest::Client::new()
        .post(url)
        .bearer_auth(emu.token())
        .json(&serde_json::json!({ "event": "APPROVE", "body": "looks good" }))
        .send()
        .await
        .expect("the emulator answers");
    assert!(answer.status().is_success(), "{}", answer.status());
}

/// The files on `branch` of the emulator's `acme/triage-bot`, read from its git repository.
fn files_on(emu: &Emulator, branch: &str) -> Vec<String> {
    let dir = emu.state().git_dir("acme", "triage-bot").expect("a git repository");
    git(&dir, &["ls-tree", "-r", "--name-only", branch]).lines().map(str::to_owned).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn on_github_the_pull_request_merges_only_when_green_and_approved() {
    let emu = Emulator::start().await;
    emu.state().add_org("acme");
    let state = tempfile::tempdir().unwrap();
    let mut github = GitHubConfig::new(GitHubAuth::Token(Secret::new(emu.token())));
    github.api_url = emu.url();
    let forge = Arc::new(GitHubForge::new(github).unwrap());
    let mut settings = settings(state.path(), "acme");
    settings.mandate_ci = true;
    settings.policy.switches.autonomy = true;
    settings.policy.switches.automerge = true;
    // The kill switch as the hive holds it now, flipped below.
    let switch = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let live = Arc::clone(&switch);
    let (spawner, scribe) = spawner(state.path(), forge, settings).await;
    let spawner = spawner.with_live_policy(Arc::new(move |_repo: &str, policy: &mut Policy| {
        policy.switches.autonomy = live.load(std::sync::atomic::Ordering::SeqCst);
    }));
    let mut request = request("triage-bot: labels new issues", Archetype::IssueLabeler);
    request.tier = Tier::Paid;

    let record = spawner.spawn(&request).await.unwrap();
    assert_eq!(record.state, AgentState::Review, "{}", record.note);
    let number = record.pull.unwrap();
    let head = record.head.clone().unwrap();
    let pulls = emu.state().pulls("acme", "triage-bot");
    assert_eq!(pulls.len(), 1, "one pull request");
    assert!(files_on(&emu, "hive/agent/triage-bot").contains(&"src/main.rs".to_owned()));
    assert!(!files_on(&emu, "main").contains(&"src/main.rs".to_owned()), "main waits for the review");

    // Checks missing, no review: it waits, and says for what.
    let waiting = spawner.enforce("triage-bot", "cli:tester").await.unwrap();
    assert_eq!(waiting.state, AgentState::Review);
    assert!(waiting.note.contains("approving review"), "{}", waiting.note);

    // Approved but the checks are not green: governance refuses the merge.
    approve(&emu, "acme", "triage-bot", number).await;
    emu.state().set_check_runs("acme", "triage-bot", &head, vec![("ci-tests", "completed", Some("failure"))]);
    let waiting = spawner.enforce("triage-bot", "cli:tester").await.unwrap();
    assert_eq!(waiting.state, AgentState::Review);
    assert!(waiting.note.contains("failing"), "{}", waiting.note);

    // Green and approved, but the kill switch is off now: not merged.
    emu.state().set_check_runs("acme", "triage-bot", &head, vec![("ci-tests", "completed", Some("success"))]);
    switch.store(false, std::sync::atomic::Ordering::SeqCst);
    let waiting = spawner.enforce("triage-bot", "cli:tester").await.unwrap();
    assert_eq!(waiting.state, AgentState::Review);
    assert!(waiting.note.contains("autonomy"), "{}", waiting.note);
    assert!(!emu.state().pulls("acme", "triage-bot")[0].merged);

    // Switched on again: merged.
    switch.store(true, std::sync::atomic::Ordering::SeqCst);
    let ready = spawner.enforce("triage-bot", "cli:tester").await.unwrap();
    assert_eq!(ready.state, AgentState::Ready, "{}", ready.note);
    let pulls = emu.state().pulls("acme", "triage-bot");
    assert!(pulls[0].merged && pulls[0].number == number, "merged through the API");
    let log = actions(&scribe, "acme/triage-bot").await;
    assert_eq!(log.last().map(String::as_str), Some("agent_merged"), "{log:?}");
    assert!(log.iter().filter(|a| *a == "agent_merge_waiting").count() >= 2, "{log:?}");
    for record in scribe.call(|m| m.audit().recent_for("acme/triage-bot", 50)).await.unwrap().unwrap() {
        assert!(!record.result.contains(emu.token()), "the token never reaches the trail: {}", record.result);
    }
}

/// A spawner whose agents' logic a language model at `llm` writes, in at most `rounds` answers.
async fn authored_spawner(state: &Path, workspace: &Path, llm: &FakeLlm, rounds: usize) -> Spawner {
    let config = LlmConfig::new(llm.url(), "test-model").api_key(LLM_KEY).timeout(Duration::from_secs(30));
    let author = Author::new(LlmClient::new(config).expect("a valid configuration")).rounds(rounds);
    let forge = Arc::new(LocalForge::new(workspace).expect("a workspace"));
    spawner(state, forge, settings(state, "local")).await.0.with_author(author)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_language_model_writes_the_logic_and_hears_the_compilers_errors() {
    let (state, workspace) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let llm = FakeLlm::start().await;
    // First an answer that does not compile, then the archetype's logic answering pings its own way.
    let spec = AgentSpec::parse("hooks: answers webhook deliveries").unwrap();
    let template = render(&spec, Archetype::WebhookResponder).file("src/lib.rs").unwrap().to_owned();
    let own = template.replace("\"pong\"", "\"pong, hooks here\"");
    assert_ne!(own, template, "the template answers pings");
    llm.push(LlmReply::content(json!({ "lib_rs": "pub fn respond( {" }).to_string()));
    llm.push(LlmReply::content(json!({ "lib_rs": own }).to_string()));
    let spawner = authored_spawner(state.path(), workspace.path(), &llm, 3).await;

    let record =
        spawner.spawn(&request("hooks: answers webhook deliveries", Archetype::WebhookResponder)).await.unwrap();
    assert_eq!(record.state, AgentState::Ready, "{}", record.note);
    assert!(record.authored.as_deref().is_some_and(|a| a.contains("round 2")), "{:?}", record.authored);
    let published = git(&workspace.path().join("hooks"), &["show", "main:src/lib.rs"]);
    assert!(published.contains("pong, hooks here"), "the model's logic is what was published");
    // The second question carried cargo's complaint about the first answer.
    let requests = llm.requests();
    assert_eq!(requests.len(), 2);
    let repair = requests[1].messages().last().cloned().unwrap_or_default();
    assert!(repair.contains("error"), "cargo's own words: {repair}");
}

#[tokio::test(flavor = "multi_thread")]
async fn when_no_answer_passes_the_archetypes_logic_stays_and_the_record_says_why() {
    let (state, workspace) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let llm = FakeLlm::start().await;
    llm.otherwise(LlmReply::content("I would rather explain webhooks in prose."));
    let spawner = authored_spawner(state.path(), workspace.path(), &llm, 2).await;

    let record =
        spawner.spawn(&request("hooks: answers webhook deliveries", Archetype::WebhookResponder)).await.unwrap();
    assert_eq!(record.state, AgentState::Ready, "{}", record.note);
    let authored = record.authored.unwrap_or_default();
    assert!(authored.contains("did not pass in 2 round(s)") && authored.contains("archetype's logic"), "{authored}");
    let published = git(&workspace.path().join("hooks"), &["show", "main:src/lib.rs"]);
    let spec = AgentSpec::parse("hooks: answers webhook deliveries").unwrap();
    assert_eq!(published.trim(), render(&spec, Archetype::WebhookResponder).file("src/lib.rs").unwrap().trim());
    assert_eq!(llm.requests().len(), 2, "bounded rounds");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_publish_that_fails_after_the_repository_was_made_deletes_it_and_leaves_nothing() {
    let emu = Emulator::start().await;
    emu.state().add_org("acme");
    // Every read or write of the new repository's pull requests fails: after its creation and its first push.
    emu.state().inject(FaultRule::new(Fault::Status(422)).path_prefix("/repos/acme/relay/pulls"));
    let state = tempfile::tempdir().unwrap();
    let mut github = GitHubConfig::new(GitHubAuth::Token(Secret::new(emu.token())));
    github.api_url = emu.url();
    let mut settings = settings(state.path(), "acme");
    settings.mandate_ci = true;
    let agents = settings.agents_dir.clone();
    let (spawner, scribe) = spawner(state.path(), Arc::new(GitHubForge::new(github).unwrap()), settings).await;

    let err =
        spawner.spawn(&request("relay: answers webhook deliveries", Archetype::WebhookResponder)).await.unwrap_err();
    assert!(
        matches!(&err, SpawnError::Step { step: "publishing", remains: None, .. }),
        "the repository was deleted, nothing remains: {err}"
    );
    let answer = reqwest::Client::new()
        .get(format!("{}/repos/acme/relay", emu.url()))
        .bearer_auth(emu.token())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), reqwest::StatusCode::NOT_FOUND, "the repository is gone");
    assert!(!agents.join("relay").exists(), "the local source is gone");
    assert!(spawner.list().await.unwrap().is_empty(), "nothing registered");
    let log = actions(&scribe, "acme/relay").await;
    assert!(log.contains(&"agent_repository_created".to_owned()), "{log:?}");
    assert_eq!(log.last().map(String::as_str), Some("agent_spawn_failed"), "{log:?}");
}
