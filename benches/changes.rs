//! One `sync` change set over a fleet on the GitHub emulator at 50 ms a request: `plan` (clone, sync, diff; writes
//! nothing) and `apply` (branches, pull requests, sibling links, checks, merges in dependency order), with the
//! requests each makes per repository. GitHub asks for a second between writes and the forge keeps to it, so
//! `apply` also prints its wall time less that pacing (one second per write after the first).
//!
//! The baseline, measured in the same run, is the git work no change set can avoid, done by hand: a shallow clone,
//! the files copied, a commit and a push of the branch, repository after repository.
//!
//! `cargo bench --bench changes` uses 100 repositories (several minutes, most of it the pacing); `-- --test` uses 5.

use std::{
    path::Path,
    sync::Arc,
    time::{Duration, Instant},
};

use hive::{
    cerebrum::{Memory, Redactor, ScribeHandle},
    changes::{ChangeEngine, ChangeSettings, ChangeSpec, ChangeState, MergeRules, Operation, Targets},
    forge::{Forge, ForgeWriter, GitHubAuth, GitHubConfig, GitHubForge, Secret, Target, WRITE_GAP},
};
use hive_testkit::{
    Emulator, Method, RepoSpec,
    git::{bare_repo, git},
};

const LATENCY: Duration = Duration::from_millis(50);

fn main() {
    let test_mode = std::env::args().any(|arg| arg == "--test");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime builds unless the process is out of threads or descriptors");
    runtime.block_on(bench(if test_mode { 5 } else { 100 }));
}

async fn bench(repos: usize) {
    let root = tempfile::tempdir().expect("tempdir");
    let emu = Emulator::start().await;
    emu.state().add_org("acme");
    let license = "MIT License\n\nCopyright the platform team.\n";
    let workflow = "name: ci for {{repo}}\non: [push, pull_request]\njobs: {}\n";
    let source = bare_repo(
        root.path(),
        "templates",
        &[("LICENSE", license), (".github/workflows/ci.yml.hive-template", workflow)],
    );
    emu.state().add_repo(RepoSpec::new("acme", "templates").git_dir(source));
    let names: Vec<String> = (0..repos).map(|n| format!("svc-{n:03}")).collect();
    for name in &names {
        let dir = bare_repo(root.path(), name, &[("README.md", "# a service\n")]);
        emu.state().add_repo(RepoSpec::new("acme", name).git_dir(dir));
        emu.state().set_default_check_runs("acme", name, vec![("test", "completed", Some("success"))]);
    }

    let baseline = by_hand(root.path(), &emu, &names, license);
    emu.state().set_latency(LATENCY);

    let mut github = GitHubConfig::new(GitHubAuth::Token(Secret::new(emu.token())));
    github.api_url = emu.url();
    github.targets = vec![Target::Org("acme".to_owned())];
    let forge = Arc::new(GitHubForge::new(github).expect("a forge"));
    let state = root.path().join("state");
    let scribe = ScribeHandle::spawn(Memory::open(&state).expect("a database")).await.expect("a scribe");
    let mut settings = ChangeSettings::new(state.join("changes"), "bench");
    settings.policy.switches.autonomy = true;
    settings.policy.switches.automerge = true;
    settings.policy.limits.prs_per_day = 10_000;
    settings.policy.limits.content_per_minute = 10_000;
    let (reader, writer): (Arc<dyn Forge>, Arc<dyn ForgeWriter>) = (forge.clone(), forge);
    let engine = ChangeEngine::new(scribe.clone(), reader, writer, settings, Redactor::default());
    let spec = ChangeSpec {
        title: "Keep the license and CI in step".to_owned(),
        message: String::new(),
        targets: Targets { globs: vec!["acme/svc-*".to_owned()], ..Targets::default() },
        operation: Operation::Sync {
            source: "acme/templates".to_owned(),
            paths: vec!["LICENSE".to_owned(), ".github/workflows/*.yml".to_owned()],
            delete_missing: false,
            skip: Default::default(),
        },
        rules: MergeRules::default(),
    };

    emu.state().clear_requests();
    let started = Instant::now();
    let plan = engine.plan(&spec).await.expect("a plan");
    let plan_time = started.elapsed();
    let plan_requests = emu.state().requests().len();
    assert_eq!(plan.repos.iter().filter(|r| r.changed).count(), repos, "every repository changes");

    emu.state().clear_requests();
    let started = Instant::now();
    let record = engine.apply(&spec).await.expect("applied");
    let apply_time = started.elapsed();
    assert_eq!(record.state, ChangeState::Merged, "{:?}", record.halt);
    let requests = emu.state().requests();
    // A GraphQL query is a POST that only reads.
    let writes = requests.iter().filter(|r| r.method != Method::GET && r.path != "/graphql").count();
    let pacing = WRITE_GAP * u32::try_from(writes.saturating_sub(1)).unwrap_or(u32::MAX);
    let working = apply_time.saturating_sub(pacing);
    scribe.stop().await;

    let per = |n: usize| n as f64 / repos as f64;
    println!("change set: sync 2 files into {repos} repositories, GitHub emulator at {LATENCY:?} a request");
    println!("  baseline, git by hand (clone, copy, commit, push)  {:>9.2?}  1.00x", baseline);
    println!(
        "  plan                                              {:>9.2?}  {:.2}x  {:.1} requests/repo, no writes",
        plan_time,
        ratio(plan_time, baseline),
        per(plan_requests)
    );
    println!(
        "  apply, wall                                       {:>9.2?}  {:.2}x  {:.1} requests/repo, {:.1} writes/repo",
        apply_time,
        ratio(apply_time, baseline),
        per(requests.len()),
        per(writes)
    );
    println!(
        "  apply, less {writes} writes' pacing ({:.0?})          {:>9.2?}  {:.2}x",
        pacing,
        working,
        ratio(working, baseline)
    );
}

/// The git work a change set cannot avoid, by hand: for each repository a shallow clone, the synced files written,
/// a commit, the branch pushed.
fn by_hand(root: &Path, emu: &Emulator, names: &[String], license: &str) -> Duration {
    let work = root.join("by-hand");
    std::fs::create_dir_all(&work).expect("a directory");
    let started = Instant::now();
    for name in names {
        let url = format!("file://{}", emu.state().git_dir("acme", name).expect("a git repository").display());
        let dir = work.join(name);
        git(&work, &["clone", "-q", "--depth", "1", &url, dir.to_str().expect("utf-8")]);
        std::fs::write(dir.join("LICENSE"), license).expect("a file");
        std::fs::create_dir_all(dir.join(".github/workflows")).expect("a directory");
        std::fs::write(dir.join(".github/workflows/ci.yml"), format!("name: ci for acme/{name}\n")).expect("a file");
        git(&dir, &["add", "-A"]);
        git(&dir, &["commit", "-q", "-m", "sync"]);
        git(&dir, &["push", "-q", "origin", "HEAD:refs/heads/by-hand"]);
    }
    started.elapsed()
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(f64::EPSILON)
}
