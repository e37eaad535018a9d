//! Change sets end to end: octocrab against the GitHub emulator, whose repositories are bare git repositories made
//! here; real git clones, commits and pushes; hive.db on disk.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use hive_cerebrum::{Memory, Redactor, ScribeHandle};
use hive_changes::{
    ChangeBook, ChangeEngine, ChangeError, ChangeSettings, ChangeSpec, ChangeState, MergeRules, Operation, RepoState,
    SyncDecl, SyncStatus, Targets, state_text,
};
use hive_forge::{Forge, ForgeWriter, GitHubAuth, GitHubConfig, GitHubForge, LocalForge, Secret, Target};
use hive_testkit::{
    Emulator, RepoSpec,
    git::{bare_repo, git},
};

/// A Cargo package `name`, depending on each of `deps` by a relative path (`../dep`).
fn crate_files(name: &str, deps: &[&str]) -> Vec<(String, String)> {
    let mut manifest =
        format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n");
    for dep in deps {
        manifest.push_str(&format!("{dep} = {{ path = \"../{dep}\" }}\n"));
    }
    vec![("Cargo.toml".to_owned(), manifest), ("src/lib.rs".to_owned(), String::new())]
}

struct Fleet {
    emu: Emulator,
    _dir: tempfile::TempDir,
    state: PathBuf,
    notice: PathBuf,
    forge: Arc<GitHubForge>,
}

/// The organisation `acme` on the emulator with one repository per `(name, dependencies)`, each a Cargo package.
async fn fleet(repos: &[(&str, &[&str])]) -> Fleet {
    let emu = Emulator::start().await;
    emu.state().add_org("acme");
    let dir = tempfile::tempdir().expect("fixture");
    let gits = dir.path().join("git");
    std::fs::create_dir_all(&gits).expect("fixture");
    for (name, deps) in repos {
        let files = crate_files(name, deps);
        let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
        let bare = bare_repo(&gits, name, &files);
        let mut spec = RepoSpec::new("acme", name);
        spec.git_dir = Some(bare);
        emu.state().add_repo(spec);
    }
    let notice = dir.path().join("NOTICE.template");
    std::fs::write(&notice, "Maintained by the platform team.\n").expect("fixture");
    let mut github = GitHubConfig::new(GitHubAuth::Token(Secret::new(emu.token())));
    github.api_url = emu.url();
    github.targets = vec![Target::Org("acme".to_owned())];
    let forge = Arc::new(GitHubForge::new(github).expect("fixture"));
    let state = dir.path().join("state");
    Fleet { emu, state, notice, forge, _dir: dir }
}

async fn engine(state: &Path, forge: Arc<GitHubForge>) -> (ChangeEngine, ScribeHandle) {
    let scribe = ScribeHandle::spawn(Memory::open(state).expect("fixture")).await.expect("fixture");
    let mut settings = ChangeSettings::new(state.join("changes"), "cli:test");
    settings.policy.switches.autonomy = true;
    settings.policy.switches.automerge = true;
    settings.policy.limits.prs_per_day = 1_000;
    settings.policy.limits.content_per_minute = 1_000;
    let reader: Arc<dyn Forge> = forge.clone();
    let writer: Arc<dyn ForgeWriter> = forge;
    (ChangeEngine::new(scribe.clone(), reader, writer, settings, Redactor::default()), scribe)
}

/// Copies the notice into every repository as `NOTICE`.
fn notice_spec(fleet: &Fleet, repos: &[&str]) -> ChangeSpec {
    ChangeSpec {
        title: "Add the notice".to_owned(),
        message: "Every repository says who maintains it.".to_owned(),
        targets: Targets { repos: repos.iter().map(|r| format!("acme/{r}")).collect(), ..Targets::default() },
        operation: Operation::Run {
            argv: vec!["cp".to_owned(), fleet.notice.display().to_string(), "NOTICE".to_owned()],
            timeout_secs: 60,
        },
        rules: MergeRules::default(),
    }
}

/// Every head of `record` gets a check run that finished with `conclusion` (`None`: still running).
fn set_checks(fleet: &Fleet, record: &hive_changes::ChangeRecord, repo: &str, conclusion: Option<&str>) {
    let entry = record.repo(&format!("acme/{repo}")).expect("fixture");
    let head = entry.head.clone().expect("fixture");
    let status = if conclusion.is_some() { "completed" } else { "in_progress" };
    fleet.emu.state().set_check_runs("acme", repo, &head, vec![("test", status, conclusion)]);
}

/// The `PUT .../merge` requests the emulator saw, as repository names, in order.
fn merges(fleet: &Fleet) -> Vec<String> {
    fleet
        .emu
        .state()
        .requests()
        .into_iter()
        .filter(|r| r.method == hive_testkit::Method::PUT && r.path.ends_with("/merge"))
        .filter_map(|r| r.path.split('/').nth(3).map(str::to_owned))
        .collect()
}

const FIVE: [(&str, &[&str]); 5] =
    [("app", &["api", "web"]), ("api", &["core"]), ("web", &["core"]), ("core", &[]), ("docs", &[])];

#[tokio::test(flavor = "multi_thread")]
async fn five_repositories_merge_all_dependencies_first_once_every_check_is_green() {
    let fleet = fleet(&FIVE).await;
    let (engine, scribe) = engine(&fleet.state, fleet.forge.clone()).await;
    let spec = notice_spec(&fleet, &["app", "api", "web", "core", "docs"]);

    let plan = engine.plan(&spec).await.unwrap();
    assert_eq!(plan.repos.len(), 5);
    assert!(plan.repos.iter().all(|r| r.changed && r.files == ["NOTICE"]), "{plan:?}");
    assert!(plan.repos[0].diff.contains("+Maintained by the platform team."), "{}", plan.repos[0].diff);
    assert!(fleet.emu.state().pulls("acme", "app").is_empty(), "a plan writes nothing");

    let record = engine.apply(&spec).await.unwrap();
    assert_eq!(record.state, ChangeState::Validating, "waiting for checks: {:?}", record.steps);
    assert_eq!(record.id, plan.id, "the plan's id is the set's");
    let order: Vec<&str> = record.repos.iter().map(|r| r.repo.as_str()).collect();
    let at = |name: &str| order.iter().position(|r| *r == format!("acme/{name}")).unwrap();
    assert!(at("core") < at("api") && at("core") < at("web") && at("api") < at("app") && at("web") < at("app"));
    for (name, _) in FIVE {
        let pulls = fleet.emu.state().pulls("acme", name);
        assert_eq!(pulls.len(), 1, "one pull request in {name}");
        let body = &pulls[0].body;
        for (sibling, _) in FIVE {
            let number = record.repo(&format!("acme/{sibling}")).unwrap().pull.unwrap();
            assert!(body.contains(&format!("acme/{sibling}#{number}")), "{name}'s body links {sibling}: {body}");
        }
        assert!(body.contains(record.id.as_str()) && body.contains("<!-- hive:decision"), "{body}");
    }

    // Four green, one still running: nothing merges.
    for (name, _) in FIVE {
        set_checks(&fleet, &record, name, if name == "docs" { None } else { Some("success") });
    }
    let record = engine.resume(&record.id).await.unwrap();
    assert_eq!(record.state, ChangeState::Validating);
    assert!(merges(&fleet).is_empty(), "nothing merges while a check runs");

    set_checks(&fleet, &record, "docs", Some("success"));
    let record = engine.resume(&record.id).await.unwrap();
    assert_eq!(record.state, ChangeState::Merged, "{:?}", record.steps);
    assert!(record.repos.iter().all(|r| r.state == RepoState::Merged && r.merge_sha.is_some()));
    let merged = merges(&fleet);
    assert_eq!(merged.len(), 5, "each merged once: {merged:?}");
    let pos = |name: &str| merged.iter().position(|r| r == name).unwrap();
    assert!(pos("core") < pos("api") && pos("api") < pos("app") && pos("web") < pos("app"), "{merged:?}");
    assert!(engine.locks().await.unwrap().is_empty(), "a finished set lets its repositories go");

    // Asked again, the same spec is not made twice: its set is finished, and a new one would change nothing.
    let err = engine.apply(&spec).await.expect_err("nothing left to change");
    assert!(matches!(err, ChangeError::NoChange { repos: 5 }), "{err}");
    assert_eq!(engine.list().await.unwrap().len(), 1, "nothing new recorded");
    scribe.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_check_in_the_fourth_repository_merges_none_and_closes_every_pull_request() {
    let fleet = fleet(&FIVE).await;
    let (engine, scribe) = engine(&fleet.state, fleet.forge.clone()).await;
    let record = engine.apply(&notice_spec(&fleet, &["app", "api", "web", "core", "docs"])).await.unwrap();
    let fourth = record.repos[3].repo.trim_start_matches("acme/").to_owned();
    for (name, _) in FIVE {
        set_checks(&fleet, &record, name, Some(if name == fourth { "failure" } else { "success" }));
    }
    let record = engine.resume(&record.id).await.unwrap();
    assert_eq!(record.state, ChangeState::RolledBack, "{:?}", record.steps);
    let halt = record.halt.clone().unwrap();
    assert_eq!(halt.repo, format!("acme/{fourth}"));
    assert!(halt.reason.contains("checks failed") && halt.reason.contains("test"), "{}", halt.reason);
    assert!(merges(&fleet).is_empty(), "none merged");
    for (name, _) in FIVE {
        let pulls = fleet.emu.state().pulls("acme", name);
        assert_eq!(pulls.len(), 1);
        assert_eq!(pulls[0].state, "closed", "{name}'s pull request closed unmerged");
        assert!(!pulls[0].merged);
    }
    assert!(engine.locks().await.unwrap().is_empty());
    scribe.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_open_set_holds_its_repositories_against_a_second_one() {
    let fleet = fleet(&FIVE).await;
    let (engine, scribe) = engine(&fleet.state, fleet.forge.clone()).await;
    let first = engine.apply(&notice_spec(&fleet, &["api", "core"])).await.unwrap();
    assert!(first.state.is_open());
    let mut second = notice_spec(&fleet, &["core", "docs"]);
    second.title = "Another notice".to_owned();
    let err = engine.apply(&second).await.expect_err("acme/core is held");
    let ChangeError::Locked { held } = &err else { panic!("{err}") };
    assert_eq!(held, &[format!("acme/core (by {})", first.id)]);
    assert!(err.to_string().contains("hive change abort"), "{err}");
    assert!(fleet.emu.state().pulls("acme", "docs").is_empty(), "the refused set wrote nothing");

    let aborted = engine.abort(&first.id).await.unwrap();
    assert_eq!(aborted.state, ChangeState::Aborted);
    assert!(fleet.emu.state().pulls("acme", "core").iter().all(|p| p.state == "closed"));
    let second = engine.apply(&second).await.unwrap();
    assert!(second.state.is_open(), "the repositories are free again");
    scribe.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn on_a_local_workspace_the_change_is_a_branch_in_each_repository() {
    let workspace = tempfile::tempdir().unwrap();
    for name in ["one", "two"] {
        let dir = workspace.path().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        git(&dir, &["init", "-q", "-b", "main"]);
        std::fs::write(dir.join("README.md"), format!("# {name}\n")).unwrap();
        git(&dir, &["add", "-A"]);
        git(&dir, &["commit", "-q", "-m", "first"]);
    }
    let state = tempfile::tempdir().unwrap();
    let scribe = ScribeHandle::spawn(Memory::open(state.path()).unwrap()).await.unwrap();
    let forge = Arc::new(LocalForge::new(workspace.path()).unwrap());
    let mut settings = ChangeSettings::new(state.path().join("changes"), "cli:test");
    settings.policy.switches.autonomy = true;
    let engine = ChangeEngine::new(scribe.clone(), forge.clone(), forge, settings, Redactor::default());
    let spec = ChangeSpec {
        title: "Add a changelog".to_owned(),
        message: String::new(),
        targets: Targets { globs: vec!["local/*".to_owned()], ..Targets::default() },
        operation: Operation::Run { argv: vec!["touch".to_owned(), "CHANGELOG.md".to_owned()], timeout_secs: 30 },
        rules: MergeRules::default(),
    };
    let record = engine.apply(&spec).await.unwrap();
    assert_eq!(record.state, ChangeState::Published, "{:?}", record.steps);
    for name in ["one", "two"] {
        let dir = workspace.path().join(name);
        let files = git(&dir, &["ls-tree", "--name-only", &record.id.branch()]);
        assert!(files.lines().any(|f| f == "CHANGELOG.md"), "{name}: {files}");
        assert_eq!(git(&dir, &["rev-parse", "--abbrev-ref", "HEAD"]).trim(), "main", "the checkout is untouched");
        assert!(!dir.join("CHANGELOG.md").exists(), "the working tree is untouched");
    }
    assert!(engine.locks().await.unwrap().is_empty());
    scribe.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_command_that_fails_in_one_repository_publishes_nothing() {
    let fleet = fleet(&FIVE).await;
    let (engine, scribe) = engine(&fleet.state, fleet.forge.clone()).await;
    let mut spec = notice_spec(&fleet, &["api", "core"]);
    spec.operation =
        Operation::Run { argv: vec!["cat".to_owned(), "no-such-file; rm -rf /".to_owned()], timeout_secs: 30 };
    let err = engine.apply(&spec).await.expect_err("cat fails");
    let text = err.to_string();
    assert!(text.contains("cannot make the change in 'acme/") && text.contains("exited with 1"), "{text}");
    assert!(fleet.emu.state().pulls("acme", "api").is_empty() && fleet.emu.state().pulls("acme", "core").is_empty());
    assert!(engine.list().await.unwrap().is_empty(), "nothing recorded");
    assert!(engine.locks().await.unwrap().is_empty());
    scribe.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_validation_a_change_that_breaks_the_code_is_refused_before_anything_is_published() {
    let fleet = fleet(&FIVE).await;
    let (engine, scribe) = engine(&fleet.state, fleet.forge.clone()).await;
    let broken = fleet.notice.with_file_name("broken.rs");
    std::fs::write(&broken, "pub fn answer() -> u32 {\n    \"forty-two\"\n}\n").unwrap();
    let mut spec = notice_spec(&fleet, &["core"]);
    spec.operation = Operation::Run {
        argv: vec!["cp".to_owned(), broken.display().to_string(), "src/lib.rs".to_owned()],
        timeout_secs: 30,
    };
    spec.rules.validate = true;
    let err = engine.apply(&spec).await.expect_err("clippy finds the type error");
    let text = err.to_string();
    assert!(text.contains("acme/core") && text.contains("src/lib.rs:2") && text.contains("mismatched types"), "{text}");
    assert!(fleet.emu.state().pulls("acme", "core").is_empty(), "nothing published");
    assert!(fleet.emu.state().branches("acme", "core").iter().all(|b| !b.starts_with("hive/")));

    // The same change without the break passes validation.
    spec.operation = notice_spec(&fleet, &["core"]).operation;
    let record = engine.apply(&spec).await.unwrap();
    assert_eq!(record.state, ChangeState::Validating);
    scribe.stop().await;
}

/// A local workspace with one git repository per `(name, files)`.
fn workspace(repos: &[(&str, &[(&str, &str)])]) -> tempfile::TempDir {
    let workspace = tempfile::tempdir().expect("fixture");
    for (name, files) in repos {
        let dir = workspace.path().join(name);
        std::fs::create_dir_all(&dir).expect("fixture");
        git(&dir, &["init", "-q", "-b", "main"]);
        for (path, text) in *files {
            let path = dir.join(path);
            std::fs::create_dir_all(path.parent().expect("fixture")).expect("fixture");
            std::fs::write(path, text).expect("fixture");
        }
        git(&dir, &["add", "-A"]);
        git(&dir, &["commit", "-q", "-m", "first"]);
    }
    workspace
}

async fn local_engine(workspace: &Path, state: &Path) -> (ChangeEngine, ScribeHandle) {
    let scribe = ScribeHandle::spawn(Memory::open(state).expect("fixture")).await.expect("fixture");
    let forge = Arc::new(LocalForge::new(workspace).expect("fixture"));
    let mut settings = ChangeSettings::new(state.join("changes"), "cli:test");
    settings.policy.switches.autonomy = true;
    (ChangeEngine::new(scribe.clone(), forge.clone(), forge, settings, Redactor::default()), scribe)
}

/// `path` on `branch` of the workspace repository `name`.
fn show(workspace: &Path, name: &str, branch: &str, path: &str) -> String {
    git(&workspace.join(name), &["show", &format!("{branch}:{path}")])
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_makes_files_equal_to_the_source_with_each_repositorys_own_values() {
    let template = "name: ci for {{repo}}\non: [push]\n";
    let workspace = workspace(&[
        ("templates", &[("LICENSE", "MIT License\n"), (".github/workflows/ci.yml.hive-template", template)]),
        ("svc-a", &[("LICENSE", "old license\n"), ("README.md", "# a\n")]),
        ("svc-b", &[("README.md", "# b\n")]),
        ("other", &[("README.md", "# other\n")]),
    ]);
    let state = tempfile::tempdir().unwrap();
    let (engine, scribe) = local_engine(workspace.path(), state.path()).await;
    let spec = ChangeSpec {
        title: "Keep the license and CI in step".to_owned(),
        message: String::new(),
        targets: Targets { globs: vec!["local/svc-*".to_owned()], ..Targets::default() },
        operation: Operation::Sync {
            source: "local/templates".to_owned(),
            paths: vec!["LICENSE".to_owned(), ".github/workflows/*.yml".to_owned()],
            delete_missing: false,
            skip: Default::default(),
        },
        rules: MergeRules::default(),
    };
    let plan = engine.plan(&spec).await.unwrap();
    let names: Vec<&str> = plan.repos.iter().map(|r| r.repo.as_str()).collect();
    assert_eq!(names, ["local/svc-a", "local/svc-b"], "the glob's repositories only");
    let a = &plan.repos[0];
    assert!(a.diff.contains("-old license") && a.diff.contains("+MIT License"), "{}", a.diff);
    assert!(a.diff.contains("+name: ci for local/svc-a"), "{}", a.diff);

    let record = engine.apply(&spec).await.unwrap();
    assert_eq!(record.state, ChangeState::Published);
    let branch = record.id.branch();
    for name in ["svc-a", "svc-b"] {
        assert_eq!(show(workspace.path(), name, &branch, "LICENSE"), "MIT License");
        assert_eq!(
            show(workspace.path(), name, &branch, ".github/workflows/ci.yml"),
            format!("name: ci for local/{name}\non: [push]")
        );
    }
    assert_eq!(show(workspace.path(), "svc-a", "main", "LICENSE"), "old license", "main is untouched");
    scribe.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bump_moves_one_dependency_in_every_manifest_that_names_it() {
    let manifest = |name: &str, serde: &str| {
        format!(
            "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n# pinned for the wire format\nserde = {serde}\n"
        )
    };
    let a = manifest("a", "\"1.0.100\"");
    let b = manifest("b", "{ version = \"=1.0.90\", features = [\"derive\"] }");
    let workspace = workspace(&[
        ("a", &[("Cargo.toml", &a), ("src/lib.rs", "")]),
        ("b", &[("Cargo.toml", &b), ("src/lib.rs", "")]),
        ("c", &[("README.md", "# no rust here\n")]),
    ]);
    let state = tempfile::tempdir().unwrap();
    let (engine, scribe) = local_engine(workspace.path(), state.path()).await;
    let spec = ChangeSpec {
        title: "Bump serde".to_owned(),
        message: String::new(),
        targets: Targets { repos: vec!["local/a".to_owned(), "local/b".to_owned()], ..Targets::default() },
        operation: Operation::Bump { dependency: "serde".to_owned(), version: "1.0.215".to_owned() },
        rules: MergeRules::default(),
    };
    let record = engine.apply(&spec).await.unwrap();
    assert_eq!(record.state, ChangeState::Published, "{:?}", record.steps);
    let branch = record.id.branch();
    let a = show(workspace.path(), "a", &branch, "Cargo.toml");
    assert!(a.contains("serde = \"1.0.215\"") && a.contains("# pinned for the wire format"), "{a}");
    let b = show(workspace.path(), "b", &branch, "Cargo.toml");
    assert!(b.contains("version = \"=1.0.215\"") && b.contains("features = [\"derive\"]"), "{b}");

    // A repository that does not name the dependency is refused by name, before anything is published.
    let mut missing = spec.clone();
    missing.title = "Bump serde in c".to_owned();
    missing.targets.repos = vec!["local/c".to_owned()];
    let err = engine.apply(&missing).await.expect_err("c has no serde");
    assert!(err.to_string().contains("local/c") && err.to_string().contains("serde"), "{err}");
    scribe.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_refused_third_merge_rolls_the_first_two_back_with_merged_revert_pull_requests() {
    let fleet = fleet(&FIVE).await;
    for (name, _) in FIVE {
        fleet.emu.state().set_default_check_runs("acme", name, vec![("test", "completed", Some("success"))]);
    }
    let (engine, scribe) = engine(&fleet.state, fleet.forge.clone()).await;
    let spec = notice_spec(&fleet, &["app", "api", "web", "core", "docs"]);
    let plan = engine.plan(&spec).await.unwrap();
    let order: Vec<String> = plan.waves.iter().flatten().map(|r| r.trim_start_matches("acme/").to_owned()).collect();
    let third = order[2].clone();
    fleet.emu.state().refuse_merges("acme", &third, "Required status check \"security\" is expected.");

    let record = engine.apply(&spec).await.unwrap();
    assert_eq!(record.state, ChangeState::RolledBack, "{:#?}", record.steps);
    let halt = record.halt.clone().unwrap();
    assert_eq!(halt.repo, format!("acme/{third}"));
    assert!(halt.reason.contains("Required status check"), "{}", halt.reason);
    for (n, name) in order.iter().enumerate() {
        let entry = record.repo(&format!("acme/{name}")).unwrap();
        let bare = fleet.emu.state().git_dir("acme", name).unwrap();
        let files = git(&bare, &["ls-tree", "--name-only", "main"]);
        assert!(!files.lines().any(|f| f == "NOTICE"), "{name}'s main has no notice after the rollback: {files}");
        let pulls = fleet.emu.state().pulls("acme", name);
        if n < 2 {
            assert_eq!(entry.state, RepoState::Reverted, "{name}: {}", entry.note);
            assert_eq!(pulls.len(), 2, "{name}: the change and its revert");
            let revert = pulls.iter().find(|p| p.head_ref.starts_with("hive/revert/")).unwrap();
            assert!(revert.merged, "{name}'s revert merged");
            assert!(revert.body.contains(&format!("acme/{third} failed")), "{}", revert.body);
            assert!(revert.body.contains("merged \\#1"), "the incident names every step: {}", revert.body);
        } else {
            assert_eq!(entry.state, RepoState::Closed, "{name}");
            assert_eq!(pulls.len(), 1);
            assert!(!pulls[0].merged && pulls[0].state == "closed", "{name}: {:?}", pulls[0]);
        }
    }
    assert!(engine.locks().await.unwrap().is_empty());
    // Rolling back again changes nothing.
    let again = engine.rollback(&record.id).await.unwrap();
    assert_eq!(again.state, ChangeState::RolledBack);
    assert_eq!(fleet.emu.state().pulls("acme", &order[0]).len(), 2);
    scribe.stop().await;
}

/// An engine whose policy follows `autonomy` and `automerge` as they are at each write (a kill switch, say).
async fn switched_engine(
    fleet: &Fleet,
    autonomy: Arc<std::sync::atomic::AtomicBool>,
    automerge: Arc<std::sync::atomic::AtomicBool>,
) -> (ChangeEngine, ScribeHandle) {
    let (engine, scribe) = engine(&fleet.state, fleet.forge.clone()).await;
    let engine =
        engine.with_live_policy(Arc::new(move |_repo: &str, policy: &mut hive_cerebrum::governance::Policy| {
            policy.switches.autonomy = autonomy.load(std::sync::atomic::Ordering::SeqCst);
            policy.switches.automerge = automerge.load(std::sync::atomic::Ordering::SeqCst);
        }));
    (engine, scribe)
}

fn all_green(fleet: &Fleet) {
    for (name, _) in FIVE {
        fleet.emu.state().set_default_check_runs("acme", name, vec![("test", "completed", Some("success"))]);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn governance_holding_a_merge_or_a_close_back_is_a_wait_not_a_failure() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let fleet = fleet(&FIVE).await;
    all_green(&fleet);
    let (autonomy, automerge) = (Arc::new(AtomicBool::new(true)), Arc::new(AtomicBool::new(false)));
    let (engine, scribe) = switched_engine(&fleet, autonomy.clone(), automerge.clone()).await;

    // Automerge off: every pull request green, none merged, nothing closed; the set waits and says why.
    let record = engine.apply(&notice_spec(&fleet, &["core", "api"])).await.unwrap();
    assert_eq!(record.state, ChangeState::Committing, "{:?}", record.steps);
    assert!(record.repos.iter().any(|r| r.note.contains("waiting to merge") && r.note.contains("automerge")));
    assert!(merges(&fleet).is_empty());
    assert!(fleet.emu.state().pulls("acme", "core").iter().all(|p| p.state == "open"));
    let audit_before = Memory::open(&fleet.state).unwrap().audit().recent_for("acme/core", 1000).unwrap().len();
    let again = engine.resume(&record.id).await.unwrap();
    assert_eq!(again.state, ChangeState::Committing);
    let audit_after = Memory::open(&fleet.state).unwrap().audit().recent_for("acme/core", 1000).unwrap().len();
    assert_eq!(audit_after - audit_before, 1, "a look that changes nothing records only the refused decision");

    // The kill switch: an abort cannot close the pull requests, so the set is not called aborted.
    autonomy.store(false, Ordering::SeqCst);
    let held = engine.abort(&record.id).await.unwrap();
    assert_eq!(held.state, ChangeState::Committing, "{:?}", held.steps);
    assert!(fleet.emu.state().pulls("acme", "core").iter().all(|p| p.state == "open"));
    assert!(!engine.locks().await.unwrap().is_empty(), "it keeps its repositories");

    autonomy.store(true, Ordering::SeqCst);
    automerge.store(true, Ordering::SeqCst);
    let merged = engine.resume(&record.id).await.unwrap();
    assert_eq!(merged.state, ChangeState::Merged, "{:?}", merged.steps);
    assert_eq!(merges(&fleet).len(), 2);
    scribe.stop().await;
}

/// A `[[sync]]` of the templates' license, code owners and CI template into `local/svc-*`.
fn local_decl() -> SyncDecl {
    SyncDecl {
        name: "license-and-ci".to_owned(),
        source: "local/templates".to_owned(),
        paths: vec!["LICENSE".to_owned(), "CODEOWNERS".to_owned(), ".github/workflows/*.yml".to_owned()],
        targets: vec!["local/svc-*".to_owned()],
        continuous: false,
    }
}

/// Each repository's files and their states, as `status` says.
fn states(status: &SyncStatus) -> Vec<(String, String, &'static str)> {
    let mut out = Vec::new();
    for repo in &status.repos {
        for file in &repo.files {
            out.push((repo.repo.clone(), file.path.clone(), state_text(file.state)));
        }
    }
    out
}

/// Commits `text` as `path` on the checked-out branch of the workspace repository `name`.
fn commit_file(workspace: &Path, name: &str, path: &str, text: &str) {
    let dir = workspace.join(name);
    std::fs::write(dir.join(path), text).expect("write the file");
    git(&dir, &["add", "-A"]);
    git(&dir, &["commit", "-q", "-m", &format!("edit {path}")]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sync_push_brings_missing_files_in_step_once_and_leaves_conflicts_and_newer_edits_alone() {
    let template = "name: ci for {{repo}} on {{default_branch}}\n";
    let workspace = workspace(&[
        (
            "templates",
            &[
                ("LICENSE", "MIT License\n"),
                ("CODEOWNERS", "* @platform\n"),
                (".github/workflows/ci.yml.hive-template", template),
            ],
        ),
        ("svc-a", &[("README.md", "# a\n")]),
        ("svc-b", &[("README.md", "# b\n")]),
        ("other", &[("README.md", "# other\n")]),
    ]);
    let ws = workspace.path();
    let state = tempfile::tempdir().unwrap();
    let (engine, scribe) = local_engine(ws, state.path()).await;
    let decl = local_decl();

    let status = engine.sync_status(&decl).await.unwrap();
    assert_eq!(status.repos.iter().map(|r| r.repo.as_str()).collect::<Vec<_>>(), ["local/svc-a", "local/svc-b"]);
    assert!(states(&status).iter().all(|(_, _, s)| *s == "missing"), "{:?}", states(&status));
    assert_eq!(status.repos[0].summary(), "3 files missing");

    let push = engine.sync_push(&decl).await.unwrap();
    let record = push.change.expect("a change set for the missing files");
    assert_eq!(record.state, ChangeState::Published, "{:?}", record.steps);
    let branch = record.id.branch();
    for name in ["svc-a", "svc-b"] {
        assert_eq!(show(ws, name, &branch, "LICENSE"), "MIT License");
        assert_eq!(show(ws, name, &branch, ".github/workflows/ci.yml"), format!("name: ci for local/{name} on main"));
    }
    let status = engine.sync_status(&decl).await.unwrap();
    assert!(states(&status).iter().all(|(_, _, s)| *s == "in step"), "the filled template too: {:?}", states(&status));
    assert!(status.repos.iter().all(|r| r.summary().contains("waiting for a branch to be merged")));
    let log = ChangeBook::new(scribe.clone()).sync_log(Some("license-and-ci"), 100).await.unwrap();
    assert_eq!(log.len(), 6, "three files in two repositories: {log:?}");
    assert!(log.iter().all(|e| e.change_id == record.id.as_str()));

    let again = engine.sync_push(&decl).await.unwrap();
    assert!(again.change.is_none() && again.recorded == 0, "a second push does nothing: {again:?}");

    // A person merges the branches; then both sides change.
    for name in ["svc-a", "svc-b"] {
        git(&ws.join(name), &["merge", "-q", "--ff-only", &branch]);
    }
    commit_file(ws, "templates", "LICENSE", "MIT License 2.0\n");
    commit_file(ws, "svc-a", "LICENSE", "MIT License, amended here\n");
    commit_file(ws, "svc-b", "CODEOWNERS", "* @platform @b-team\n");
    let status = engine.sync_status(&decl).await.unwrap();
    let mut got = states(&status);
    got.retain(|(_, _, s)| *s != "in step");
    let want = [
        ("local/svc-a", "LICENSE", "conflict"),
        ("local/svc-b", "CODEOWNERS", "target ahead"),
        ("local/svc-b", "LICENSE", "behind"),
    ];
    assert_eq!(got, want.map(|(r, p, s)| (r.to_owned(), p.to_owned(), s)));

    let push = engine.sync_push(&decl).await.unwrap();
    assert_eq!(push.conflicts, [("local/svc-a".to_owned(), "LICENSE".to_owned())]);
    assert_eq!(push.ahead, [("local/svc-b".to_owned(), "CODEOWNERS".to_owned())]);
    let record = push.change.expect("svc-b's license is behind");
    assert_eq!(record.changed().map(|r| r.repo.as_str()).collect::<Vec<_>>(), ["local/svc-b"], "svc-a untouched");
    assert_eq!(record.repo("local/svc-b").unwrap().files, ["LICENSE"], "svc-b's own code owners stay");
    assert_eq!(show(ws, "svc-b", &record.id.branch(), "CODEOWNERS"), "* @platform @b-team");

    // svc-b's newer code owners go back to the source; a filled template cannot.
    let spec = engine.sync_pull_spec(&decl, "local/svc-b", "CODEOWNERS").await.unwrap();
    let pulled = engine.apply(&spec).await.unwrap();
    assert_eq!(pulled.changed().map(|r| r.repo.as_str()).collect::<Vec<_>>(), ["local/templates"]);
    assert_eq!(show(ws, "templates", &pulled.id.branch(), "CODEOWNERS"), "* @platform @b-team");
    let err = engine.sync_pull_spec(&decl, "local/svc-a", ".github/workflows/ci.yml").await.unwrap_err().to_string();
    assert!(err.contains("template") && err.contains("cannot be pulled back"), "{err}");
    let err = engine.sync_pull_spec(&decl, "local/svc-a", "LICENSE").await.unwrap_err().to_string();
    assert!(err.contains("conflict"), "{err}");
    scribe.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_revert_that_conflicts_is_left_for_a_person_and_the_others_are_still_reverted() {
    let fleet = fleet(&FIVE).await;
    all_green(&fleet);
    let (engine, scribe) = engine(&fleet.state, fleet.forge.clone()).await;
    let record = engine.apply(&notice_spec(&fleet, &["core", "api", "docs"])).await.unwrap();
    assert_eq!(record.state, ChangeState::Merged, "{:?}", record.steps);

    // Someone edits the notice on core's main after the merge: its revert now conflicts.
    let bare = fleet.emu.state().git_dir("acme", "core").unwrap();
    let work = fleet.notice.with_file_name("core-edit");
    git(fleet.notice.parent().unwrap(), &["clone", "-q", bare.to_str().unwrap(), work.to_str().unwrap()]);
    std::fs::write(work.join("NOTICE"), "Maintained by someone else now.\n").unwrap();
    git(&work, &["commit", "-q", "-am", "edit the notice"]);
    git(&work, &["push", "-q", "origin", "main"]);

    let rolled = engine.rollback(&record.id).await.unwrap();
    assert_eq!(rolled.state, ChangeState::NeedsAttention, "{:#?}", rolled.steps);
    let core = rolled.repo("acme/core").unwrap();
    assert_eq!(core.state, RepoState::Merged);
    assert!(core.note.contains("revert it by hand") && core.note.contains("conflict"), "{}", core.note);
    for name in ["api", "docs"] {
        let entry = rolled.repo(&format!("acme/{name}")).unwrap();
        assert_eq!(entry.state, RepoState::Reverted, "{name}: {}", entry.note);
        let bare = fleet.emu.state().git_dir("acme", name).unwrap();
        assert!(!git(&bare, &["ls-tree", "--name-only", "main"]).lines().any(|f| f == "NOTICE"), "{name}");
    }
    let held: Vec<String> = engine.locks().await.unwrap().into_iter().map(|l| l.repo).collect();
    assert!(held.contains(&"acme/core".to_owned()), "a set that needs attention keeps its repositories: {held:?}");
    scribe.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_set_whose_lock_lapsed_goes_no_further_but_still_undoes_its_own_work() {
    let fleet = fleet(&FIVE).await;
    let state = fleet.state.clone();
    let scribe = ScribeHandle::spawn(Memory::open(&state).unwrap()).await.unwrap();
    let mut settings = ChangeSettings::new(state.join("changes"), "cli:test");
    settings.policy.switches.autonomy = true;
    settings.policy.switches.automerge = true;
    // Locks that lapse at once: the first set is as if its process died long ago.
    settings.lock_ttl = std::time::Duration::ZERO;
    let reader: Arc<dyn Forge> = fleet.forge.clone();
    let writer: Arc<dyn ForgeWriter> = fleet.forge.clone();
    let engine = ChangeEngine::new(scribe.clone(), reader, writer, settings, Redactor::default());
    let first = engine.apply(&notice_spec(&fleet, &["core"])).await.unwrap();
    assert_eq!(first.state, ChangeState::Validating);
    let mut second = notice_spec(&fleet, &["core"]);
    second.title = "Another notice".to_owned();
    let taken = engine.apply(&second).await.unwrap();
    assert!(taken.state.is_open(), "the lapsed lock was taken");

    let err = engine.resume(&first.id).await.expect_err("the first set lost acme/core");
    assert!(matches!(err, ChangeError::Locked { .. }), "{err}");
    let rolled = engine.rollback(&first.id).await.unwrap();
    assert_eq!(rolled.state, ChangeState::RolledBack, "{:?}", rolled.steps);
    let pulls = fleet.emu.state().pulls("acme", "core");
    let mine = pulls.iter().find(|p| p.head_ref == first.id.branch()).unwrap();
    assert_eq!(mine.state, "closed", "its own pull request closed without the lock");
    let theirs = pulls.iter().find(|p| p.head_ref == taken.id.branch()).unwrap();
    assert_eq!(theirs.state, "open", "the other set's untouched");
    scribe.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_sync_push_on_github_merges_pull_requests_and_records_what_it_synced() {
    let emu = Emulator::start().await;
    emu.state().add_org("acme");
    let dir = tempfile::tempdir().unwrap();
    let gits = dir.path().join("git");
    std::fs::create_dir_all(&gits).unwrap();
    let repos: [(&str, &[(&str, &str)]); 3] = [
        ("templates", &[("LICENSE", "Apache-2.0\n"), ("NOTICE.hive-template", "{{name}} by acme\n")]),
        ("api", &[("README.md", "# api\n"), ("LICENSE", "Apache-2.0\n")]),
        ("web", &[("README.md", "# web\n")]),
    ];
    for (name, files) in repos {
        let mut spec = RepoSpec::new("acme", name);
        spec.git_dir = Some(bare_repo(&gits, name, files));
        emu.state().add_repo(spec);
        emu.state().set_default_check_runs("acme", name, vec![("test", "completed", Some("success"))]);
    }
    let mut github = GitHubConfig::new(GitHubAuth::Token(Secret::new(emu.token())));
    github.api_url = emu.url();
    github.targets = vec![Target::Org("acme".to_owned())];
    let forge = Arc::new(GitHubForge::new(github).unwrap());
    let state = dir.path().join("state");
    let (engine, scribe) = engine(&state, forge).await;
    let decl = SyncDecl {
        name: "legal".to_owned(),
        source: "acme/templates".to_owned(),
        paths: vec!["LICENSE".to_owned(), "NOTICE".to_owned()],
        targets: vec!["acme/*".to_owned()],
        continuous: false,
    };
    let status = engine.sync_status(&decl).await.unwrap();
    let want = [
        ("acme/api", "LICENSE", "in step"),
        ("acme/api", "NOTICE", "missing"),
        ("acme/web", "LICENSE", "missing"),
        ("acme/web", "NOTICE", "missing"),
    ];
    assert_eq!(states(&status), want.map(|(r, p, s)| (r.to_owned(), p.to_owned(), s)));

    let push = engine.sync_push(&decl).await.unwrap();
    // api's license found in step, and the three files the set wrote once it merged (checks are green at once).
    assert_eq!(push.recorded, 4);
    let record = push.change.unwrap();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let record = engine.run_until(&record.id, deadline, std::time::Duration::from_millis(100)).await.unwrap();
    assert_eq!(record.state, ChangeState::Merged, "{:?}", record.steps);
    assert!(emu.state().pulls("acme", "web").iter().all(|p| p.merged));
    let status = engine.sync_status(&decl).await.unwrap();
    assert!(states(&status).iter().all(|(_, _, s)| *s == "in step"), "{:?}", states(&status));
    assert!(status.repos.iter().all(|r| r.files.iter().all(|f| f.last_synced.as_ref() == Some(&f.source_hash))));
    let again = engine.sync_push(&decl).await.unwrap();
    assert!(again.change.is_none() && again.recorded == 0, "{again:?}");
    scribe.stop().await;
}
