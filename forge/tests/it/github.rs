//! The GitHub forge against the emulator: discovery and filters, re-discovery, snapshot fields, conditional
//! requests, pagination across hosts, every write, each fault, the rate-limit budget, and token redaction.

use std::time::{Duration, Instant, SystemTime};

use hive_forge::{
    AlertSeverity, CiState, FailureClass, Forge, ForgeError, GitHubAuth, GitHubConfig, GitHubError, GitHubForge,
    IssueChange, RepoFilter, RepoId, Resource, Secret, Target,
};
use hive_testkit::{
    DependabotSpec, Emulator, Fault, FaultRule, IssueSpec, JobSpec, Method, PullSpec, RepoSpec, RunSpec,
};

/// A forge reading snapshots over REST, the path these tests are about (`graphql.rs` tests the batched one).
pub(crate) fn config(emu: &Emulator, targets: Vec<Target>) -> GitHubConfig {
    let mut config = GitHubConfig::new(GitHubAuth::Token(Secret::new(emu.token())));
    config.api_url = emu.url();
    config.targets = targets;
    config.timeout = Duration::from_secs(5);
    config.graphql_snapshots = false;
    config
}

pub(crate) fn forge(emu: &Emulator, targets: Vec<Target>) -> GitHubForge {
    GitHubForge::new(config(emu, targets)).expect("a valid configuration")
}

pub(crate) fn org(name: &str) -> Target {
    Target::Org(name.to_owned())
}

pub(crate) fn id(name: &str) -> RepoId {
    RepoId::new(name).expect("a valid repository name")
}

fn names(repos: &[RepoId]) -> Vec<&str> {
    repos.iter().map(RepoId::as_str).collect()
}

async fn fleet() -> Emulator {
    let emu = Emulator::start().await;
    let s = emu.state();
    s.add_org("acme");
    s.add_repo(RepoSpec::new("acme", "api"));
    s.add_repo(RepoSpec::new("acme", "web"));
    s.add_repo(RepoSpec::new("acme", "docs-site"));
    s.add_repo(RepoSpec::new("acme", "secret").private(true));
    s.add_repo(RepoSpec::new("acme", "old").archived(true));
    s.add_repo(RepoSpec::new("acme", "upstream-fork").fork(true));
    s.add_repo(RepoSpec::new("acme", "starter").is_template(true));
    emu
}

#[tokio::test]
async fn discovery_skips_archived_forks_and_templates_and_applies_globs() {
    let emu = fleet().await;
    let all = forge(&emu, vec![org("acme")]).discover().await.unwrap();
    assert_eq!(names(&all), ["acme/api", "acme/docs-site", "acme/secret", "acme/web"]);

    let mut cfg = config(&emu, vec![org("acme")]);
    cfg.filter = RepoFilter {
        include: vec!["acme/*".into()],
        exclude: vec!["docs-*".into(), "secret".into()],
        archived: true,
        forks: true,
        templates: false,
        owner_include: Default::default(),
    };
    let filtered = GitHubForge::new(cfg).unwrap().discover().await.unwrap();
    assert_eq!(names(&filtered), ["acme/api", "acme/old", "acme/upstream-fork", "acme/web"]);

    // An owner's own includes narrow that owner's repositories only.
    emu.state().add_org("other");
    emu.state().add_repo(RepoSpec::new("other", "web"));
    emu.state().add_repo(RepoSpec::new("other", "zeta"));
    let mut cfg = config(&emu, vec![org("acme"), org("other")]);
    cfg.filter.owner_include = [("acme".to_owned(), vec!["a*".to_owned(), "acme/w?b".to_owned()])].into();
    let narrowed = GitHubForge::new(cfg).unwrap().discover().await.unwrap();
    let others = forge(&emu, vec![org("other")]).discover().await.unwrap();
    assert!(!others.is_empty(), "the other owner has repositories to keep");
    assert_eq!(names(&narrowed), [vec!["acme/api", "acme/web"], names(&others)].concat());

    let mut cfg = config(&emu, vec![org("acme")]);
    cfg.filter.include = vec!["a*".into(), "w?b".into()];
    assert_eq!(names(&GitHubForge::new(cfg).unwrap().discover().await.unwrap()), ["acme/api", "acme/web"]);
}

#[tokio::test]
async fn discovery_of_a_user_and_of_an_explicit_list() {
    let emu = fleet().await;
    emu.state().add_user("alice");
    emu.state().add_repo(RepoSpec::new("alice", "dotfiles"));
    let targets = vec![
        Target::User("alice".into()),
        Target::Repo(id("acme/api")),
        Target::Repo(id("acme/old")),
        Target::Repo(id("acme/missing")),
    ];
    emu.state().clear_requests();
    let repos = forge(&emu, targets).discover().await.unwrap();
    // The archived one is filtered and the missing one simply is not there.
    assert_eq!(names(&repos), ["acme/api", "alice/dotfiles"]);
    // The three listed repositories cost one batched GraphQL query, not three REST reads.
    let requests = emu.state().requests();
    let paths: Vec<(String, String)> = requests.iter().map(|r| (r.method.to_string(), r.path.clone())).collect();
    assert_eq!(paths.iter().filter(|(m, p)| m == "POST" && p == "/graphql").count(), 1, "{paths:?}");
    assert!(!paths.iter().any(|(_, p)| p.starts_with("/repos/")), "{paths:?}");

    let err = forge(&emu, vec![org("nobody")]).discover().await.unwrap_err();
    assert!(matches!(err, ForgeError::Discovery { .. }), "{err}");
    assert!(!err.is_transient(), "an unknown organisation stays unknown: {err}");
    // A 5xx or a dropped connection during discovery may pass, so a daemon can wait for GitHub to come back.
    for fault in [Fault::Status(503), Fault::ConnectionReset] {
        emu.state().inject(FaultRule::new(fault.clone()).path_prefix("/orgs/acme/repos").times(1));
        let err = forge(&emu, vec![org("acme")]).discover().await.unwrap_err();
        assert!(matches!(err, ForgeError::Unreachable { .. }) && err.is_transient(), "{fault:?}: {err}");
    }
}

#[tokio::test]
async fn rediscovery_sees_repositories_appear_and_go() {
    let emu = fleet().await;
    let forge = forge(&emu, vec![org("acme")]);
    assert_eq!(forge.discover().await.unwrap().len(), 4);
    emu.state().add_repo(RepoSpec::new("acme", "new-service"));
    assert!(forge.discover().await.unwrap().contains(&id("acme/new-service")));
    emu.state().archive_repo("acme", "web");
    emu.state().delete_repo("acme", "docs-site");
    let repos = forge.discover().await.unwrap();
    assert_eq!(names(&repos), ["acme/api", "acme/new-service", "acme/secret"]);
}

fn busy_repo(emu: &Emulator) {
    let s = emu.state();
    s.add_org("acme");
    let year_ago = SystemTime::now() - Duration::from_secs(400 * 86_400);
    s.add_repo(
        RepoSpec::new("acme", "api")
            .stars(42)
            .forks(7)
            .watchers(5)
            .license("MIT")
            .default_branch("trunk")
            .has_security_md(true),
    );
    // An older green run of CI, then the latest red one; a green run of another workflow; a run on another branch
    // and one with a null head_branch, both of which must be ignored.
    s.add_workflow_run("acme", "api", RunSpec::new("CI", "trunk"));
    s.add_workflow_run(
        "acme",
        "api",
        RunSpec::new("CI", "trunk")
            .outcome("completed", Some("failure"))
            .job(
                JobSpec::new("test (ubuntu)", "completed", Some("failure"))
                    .step("Set up job", "completed", Some("success"))
                    .step("cargo test", "completed", Some("failure")),
            )
            .job(JobSpec::new("clippy", "completed", Some("success")))
            .job(JobSpec::new("deploy", "requested", None)),
    );
    s.add_workflow_run("acme", "api", RunSpec::new("Docs", "trunk"));
    s.add_workflow_run("acme", "api", RunSpec::new("CI", "feature").outcome("completed", Some("failure")));
    s.add_workflow_run("acme", "api", RunSpec::new("CI", "x").head_branch(None).outcome("completed", Some("failure")));
    s.add_issue("acme", "api", IssueSpec::new("Crash on start").label("bug").label("critical"));
    s.add_issue("acme", "api", IssueSpec::new("Add dark mode").label("enhancement"));
    s.add_issue("acme", "api", IssueSpec::new("Old and done").state("closed"));
    s.add_pull("acme", "api", PullSpec::new("Stale change", "stale").base_ref("trunk").created_at_time(year_ago));
    s.add_pull("acme", "api", PullSpec::new("Fresh change", "fresh").base_ref("trunk"));
    s.set_dependabot(
        "acme",
        "api",
        DependabotSpec::Alerts(vec![("high".into(), "RCE in yaml".into()), ("low".into(), "ReDoS".into())]),
    );
}

#[tokio::test]
async fn snapshot_reads_what_a_maintainer_looks_at() {
    let emu = Emulator::start().await;
    busy_repo(&emu);
    let forge = forge(&emu, vec![org("acme")]);
    let snap = forge.snapshot(&id("acme/api")).await.unwrap();
    assert_eq!(snap.default_branch, "trunk");
    assert!(!snap.archived);
    let pushed = snap.pushed_at.expect("pushed_at parsed");
    assert!(SystemTime::now().duration_since(pushed).unwrap() < Duration::from_secs(600));

    assert_eq!(snap.ci.state, CiState::Failing);
    assert_eq!(snap.ci.failures.len(), 1, "{:?}", snap.ci.failures);
    let failure = &snap.ci.failures[0];
    assert_eq!((failure.workflow.as_str(), failure.job.as_str()), ("CI", "test (ubuntu)"));
    assert_eq!(failure.step.as_deref(), Some("cargo test"));
    assert_eq!(failure.class, FailureClass::Test);

    let titles: Vec<&str> = snap.open_issues.iter().map(|i| i.title.as_str()).collect();
    assert_eq!(titles.len(), 2, "pull requests and closed issues excluded: {titles:?}");
    let crash = snap.open_issues.iter().find(|i| i.title == "Crash on start").unwrap();
    assert_eq!(crash.labels, ["bug", "critical"]);

    let alerts = snap.security_alerts.as_ref().expect("alerts visible");
    let mut severities: Vec<AlertSeverity> = alerts.iter().map(|a| a.severity).collect();
    severities.sort();
    assert_eq!(severities, [AlertSeverity::Low, AlertSeverity::High]);
    assert_eq!(snap.has_security_policy, Some(true));

    let gh = snap.github.as_ref().expect("github facts");
    assert_eq!((gh.stars, gh.forks, gh.watchers), (42, 7, Some(5)));
    assert_eq!(gh.license.as_deref(), Some("MIT"));
    assert_eq!((gh.open_issues, gh.open_pull_requests), (2, 2));
    let oldest = gh.oldest_open_pull_request_at.expect("oldest pull request");
    assert!(SystemTime::now().duration_since(oldest).unwrap() > Duration::from_secs(399 * 86_400));
}

const SHUTDOWN: &str = "The runner has received a shutdown signal. This can happen when the runner service is \
                        stopped, or a manually started runner is canceled.";
const EXIT_1: &str = "Process completed with exit code 1.";

/// The annotation requests the emulator saw.
fn annotation_requests(emu: &Emulator) -> Vec<String> {
    emu.state().requests().into_iter().filter(|r| r.path.ends_with("/annotations")).map(|r| r.path).collect()
}

#[tokio::test]
async fn infrastructure_failures_are_read_from_annotations_once_per_run_attempt() {
    let emu = Emulator::start().await;
    emu.state().add_org("acme");
    emu.state().add_repo(RepoSpec::new("acme", "api"));
    emu.state().add_workflow_run("acme", "api", RunSpec::new("Docs", "main"));
    let run = emu.state().add_workflow_run(
        "acme",
        "api",
        RunSpec::new("CI", "main")
            .outcome("completed", Some("failure"))
            .job(
                JobSpec::new("test (ubuntu)", "completed", Some("failure"))
                    .step("Set up job", "completed", Some("success"))
                    .step("cargo test", "completed", Some("failure"))
                    .annotation("failure", SHUTDOWN)
                    .annotation("failure", EXIT_1),
            )
            .job(
                JobSpec::new("integration", "completed", Some("failure"))
                    .step("Set up job", "completed", Some("success"))
                    .step("Run integration tests", "completed", Some("cancelled"))
                    .step("Upload logs", "completed", Some("skipped")),
            )
            .job(
                JobSpec::new("unit", "completed", Some("failure"))
                    .step("cargo test --lib", "completed", Some("failure"))
                    .annotation("failure", EXIT_1),
            )
            .job(JobSpec::new("clippy", "completed", Some("success")).annotation("warning", "unused import")),
    );
    let forge = forge(&emu, vec![]);
    let repo = id("acme/api");
    let classes = |snap: &hive_forge::RepoSnapshot| -> Vec<(String, FailureClass)> {
        snap.ci.failures.iter().map(|f| (f.job.clone(), f.class)).collect()
    };
    let expected = [
        ("test (ubuntu)".to_owned(), FailureClass::Infrastructure),
        ("integration".to_owned(), FailureClass::Infrastructure),
        ("unit".to_owned(), FailureClass::Test),
    ];
    let first = forge.snapshot(&repo).await.unwrap();
    assert_eq!(classes(&first), expected);
    assert_eq!(first.ci.failures[1].step.as_deref(), Some("Run integration tests"));
    // One request per failed job whose steps do not already tell: none for the green run, the green job, or the job
    // whose only unsuccessful step was cancelled.
    let asked = annotation_requests(&emu);
    assert_eq!(asked.len(), 2, "{asked:?}");

    // The same attempt again: not one annotation request, the same answer.
    emu.state().clear_requests();
    let second = forge.snapshot(&repo).await.unwrap();
    assert_eq!(classes(&second), expected);
    assert_eq!(annotation_requests(&emu), Vec::<String>::new());

    // A new attempt has new check runs, read once more; the runner kept running this time, so the job that lost it
    // is a test failure now.
    forge.rerun_failed_jobs(&repo, run).await.unwrap();
    assert!(emu.state().complete_run("acme", "api", run, "failure"));
    emu.state().clear_requests();
    let third = forge.snapshot(&repo).await.unwrap();
    assert_eq!(third.ci.failures[0].run.as_ref().map(|r| r.attempt), Some(2));
    assert_eq!(third.ci.failures[0].class, FailureClass::Test, "{:?}", third.ci.failures);
    let asked_again = annotation_requests(&emu);
    assert!(!asked_again.is_empty() && asked_again.iter().all(|path| !asked.contains(path)), "{asked_again:?}");
}

#[tokio::test]
async fn annotations_the_token_may_not_read_leave_the_names_to_decide_and_a_server_error_is_retried() {
    let emu = Emulator::start().await;
    emu.state().add_org("acme");
    emu.state().add_repo(RepoSpec::new("acme", "api"));
    emu.state().add_workflow_run(
        "acme",
        "api",
        RunSpec::new("CI", "main").outcome("completed", Some("failure")).job(
            JobSpec::new("test", "completed", Some("failure"))
                .step("cargo test", "completed", Some("failure"))
                .annotation("failure", SHUTDOWN),
        ),
    );
    let github = forge(&emu, vec![]);
    let repo = id("acme/api");
    // A server error is not an answer: the snapshot fails as a transient error rather than guess.
    emu.state().inject(FaultRule::new(Fault::Status(502)).path_prefix("/repos/acme/api/check-runs").times(1));
    let err = github.snapshot(&repo).await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert_eq!(github.snapshot(&repo).await.unwrap().ci.failures[0].class, FailureClass::Infrastructure);

    // A token without the checks permission: classified by its names, and not asked again for this attempt.
    let other = forge(&emu, vec![]);
    emu.state().inject(FaultRule::new(Fault::ForbiddenNoHeaders).path_prefix("/repos/acme/api/check-runs"));
    assert_eq!(other.snapshot(&repo).await.unwrap().ci.failures[0].class, FailureClass::Test);
    emu.state().clear_requests();
    assert_eq!(other.snapshot(&repo).await.unwrap().ci.failures[0].class, FailureClass::Test);
    assert_eq!(annotation_requests(&emu), Vec::<String>::new());
}

#[tokio::test]
async fn green_and_unknown_ci_and_no_security_policy() {
    let emu = fleet().await;
    emu.state().add_workflow_run("acme", "web", RunSpec::new("CI", "main"));
    emu.state().add_workflow_run("acme", "web", RunSpec::new("CI", "main").outcome("in_progress", None));
    let forge = forge(&emu, vec![org("acme")]);
    let web = forge.snapshot(&id("acme/web")).await.unwrap();
    assert_eq!(web.ci.state, CiState::Passing);
    assert_eq!(web.has_security_policy, Some(false));
    assert_eq!(web.security_alerts, Some(Vec::new()));
    let api = forge.snapshot(&id("acme/api")).await.unwrap();
    assert_eq!(api.ci.state, CiState::Unknown);
    let err = forge.snapshot(&id("acme/nope")).await.unwrap_err();
    assert!(matches!(err, ForgeError::NotFound { .. }), "{err}");
}

#[tokio::test]
async fn dependabot_forbidden_or_disabled_means_unknown_and_is_not_asked_again() {
    let emu = fleet().await;
    emu.state().set_dependabot("acme", "api", DependabotSpec::Forbidden);
    emu.state().set_dependabot("acme", "web", DependabotSpec::NotFound);
    let forge = forge(&emu, vec![org("acme")]);
    for repo in ["acme/api", "acme/web"] {
        let snap = forge.snapshot(&id(repo)).await.unwrap();
        assert_eq!(snap.security_alerts, None, "{repo}");
    }
    emu.state().clear_requests();
    forge.snapshot(&id("acme/api")).await.unwrap();
    assert!(!emu.state().requests().iter().any(|r| r.path.contains("dependabot")));
}

#[tokio::test]
async fn a_second_cycle_costs_nothing_thanks_to_etags() {
    let emu = Emulator::start().await;
    busy_repo(&emu);
    emu.state().add_repo(RepoSpec::new("acme", "web"));
    let forge = forge(&emu, vec![org("acme")]);
    let repos = forge.discover().await.unwrap();
    for repo in &repos {
        forge.snapshot(repo).await.unwrap();
    }
    let cold = forge.points_spent();
    assert!(cold > 0);
    emu.state().clear_requests();
    let repos_again = forge.discover().await.unwrap();
    for repo in &repos_again {
        forge.snapshot(repo).await.unwrap();
    }
    let warm = forge.points_spent() - cold;
    assert_eq!(warm, 0, "requests: {:?}", emu.state().requests());
    assert!(emu.state().requests().iter().all(|r| r.status == 304 && r.if_none_match.is_some()));
    assert!(forge.budget().not_modified() > 0);

    // A change is seen at the price of the requests whose answers changed: the issue list, and the repository
    // itself (its open_issues_count).
    emu.state().add_issue("acme", "web", IssueSpec::new("New bug").label("bug"));
    let snap = forge.snapshot(&id("acme/web")).await.unwrap();
    assert_eq!(snap.open_issues.len(), 1);
    assert!(forge.points_spent() - cold <= 2);
}

#[tokio::test]
async fn pagination_links_on_another_host_stay_authenticated() {
    let emu = Emulator::start().await;
    emu.state().add_org("big");
    for n in 0..230 {
        emu.state().add_repo(RepoSpec::new("big", &format!("repo-{n:03}")).private(n % 2 == 0));
    }
    let repos = forge(&emu, vec![org("big")]).discover().await.unwrap();
    // Private repositories are listed only to authenticated requests, so every page must have carried the token.
    assert_eq!(repos.len(), 230);
    let pages: Vec<_> = emu.state().requests().into_iter().filter(|r| r.path == "/orgs/big/repos").collect();
    assert_eq!(pages.len(), 3);
    assert!(pages.iter().all(|r| r.authorized), "{pages:?}");
}

#[tokio::test]
async fn transient_faults_are_transient_and_the_forge_keeps_going() {
    let emu = fleet().await;
    let forge = forge(&emu, vec![org("acme")]);
    let repo = id("acme/api");
    for fault in [Fault::Status(502), Fault::ConnectionReset, Fault::SecondaryRateLimit { retry_after_secs: 0 }] {
        let times = if matches!(fault, Fault::SecondaryRateLimit { .. }) { 3 } else { 1 };
        emu.state().inject(FaultRule::new(fault.clone()).path_prefix("/repos/acme/api").times(times));
        let err = forge.snapshot(&repo).await.unwrap_err();
        assert!(err.is_transient(), "{fault:?}: {err}");
        forge.snapshot(&repo).await.unwrap_or_else(|err| panic!("after {fault:?}: {err}"));
    }
    emu.state().set_latency(Duration::from_millis(30));
    forge.snapshot(&repo).await.unwrap();
}

#[tokio::test]
async fn malformed_bodies_and_permission_errors_are_permanent() {
    let emu = fleet().await;
    let forge = forge(&emu, vec![org("acme")]);
    let repo = id("acme/api");
    emu.state().inject(FaultRule::new(Fault::MalformedBody).path_prefix("/repos/acme/api").times(1));
    let err = forge.snapshot(&repo).await.unwrap_err();
    assert!(matches!(err, ForgeError::Permanent { .. }), "{err}");
    assert!(err.to_string().len() < 400 && err.to_string().contains("unreadable"), "{err}");

    // A 403 without rate-limit headers is a permission problem: no pause, no retry.
    emu.state().inject(FaultRule::new(Fault::ForbiddenNoHeaders).path_prefix("/repos/acme/api").times(1));
    let started = Instant::now();
    let err = forge.snapshot(&repo).await.unwrap_err();
    assert!(matches!(err, ForgeError::Permanent { .. }) && err.to_string().contains("denied"), "{err}");
    assert!(forge.budget().resume_at(&Resource::CORE).is_none());
    assert!(started.elapsed() < Duration::from_secs(2));
    forge.snapshot(&repo).await.unwrap();
}

#[tokio::test]
async fn nothing_is_sent_during_a_retry_after_window() {
    let emu = fleet().await;
    let forge = std::sync::Arc::new(forge(&emu, vec![org("acme")]));
    emu.state().inject(
        FaultRule::new(Fault::SecondaryRateLimit { retry_after_secs: 2 }).path_prefix("/repos/acme/api").times(1),
    );
    // Several pilots at once: whichever hits the limit, the others must hold their requests too.
    let mut tasks = Vec::new();
    for repo in ["acme/api", "acme/web", "acme/docs-site", "acme/secret"] {
        let forge = forge.clone();
        tasks.push(tokio::spawn(async move { forge.snapshot(&id(repo)).await }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let requests = emu.state().requests();
    let limited = requests.iter().find(|r| r.status == 429).expect("the limit was hit");
    let window_end = limited.at + Duration::from_secs(2);
    let during: Vec<_> =
        requests.iter().filter(|r| r.at > limited.at && r.at < window_end).map(|r| (&r.path, r.status)).collect();
    // Requests already in flight when the 429 arrived may land a moment later; nothing may be sent after that.
    let in_flight_grace = limited.at + Duration::from_millis(100);
    let late: Vec<_> = requests.iter().filter(|r| r.at > in_flight_grace && r.at < window_end).collect();
    assert!(late.is_empty(), "sent during the window: {during:?}");
    assert!(requests.iter().any(|r| r.at >= window_end), "the retry happened after the window");
}

#[tokio::test]
async fn a_primary_limit_holds_every_request_until_the_reset() {
    let emu = fleet().await;
    let forge = std::sync::Arc::new(forge(&emu, vec![org("acme")]));
    emu.state().inject(FaultRule::new(Fault::PrimaryRateLimit).path_prefix("/repos/acme/api").times(1));
    let task = {
        let forge = forge.clone();
        tokio::spawn(async move { forge.snapshot(&id("acme/api")).await })
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while forge.budget().resume_at(&Resource::CORE).is_none() {
        assert!(Instant::now() < deadline, "the budget never paused");
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let pause = forge.budget().resume_at(&Resource::CORE).unwrap() - tokio::time::Instant::now();
    assert!(pause > Duration::from_secs(3000), "{pause:?}");
    let sent = emu.state().requests().len();
    let other = {
        let forge = forge.clone();
        tokio::spawn(async move { forge.snapshot(&id("acme/web")).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(emu.state().requests().len(), sent, "a request went out during the primary limit's window");
    task.abort();
    other.abort();
}

#[tokio::test]
async fn every_write_reaches_github() {
    let emu = fleet().await;
    let forge = forge(&emu, vec![org("acme")]);
    let repo = id("acme/api");
    let issue = forge.create_issue(&repo, "CI is red", "details", &["bug".to_owned()]).await.unwrap();
    assert_eq!((issue.state.as_str(), issue.labels.as_slice()), ("open", ["bug".to_owned()].as_slice()));
    let change = IssueChange { title: Some("CI is red on main".into()), ..IssueChange::default() };
    assert_eq!(forge.update_issue(&repo, issue.number, &change).await.unwrap().title, "CI is red on main");
    forge.comment(&repo, issue.number, "looking into it").await.unwrap();
    let labels = forge.add_labels(&repo, issue.number, &["ci".to_owned()]).await.unwrap();
    assert!(labels.contains(&"ci".to_owned()) && labels.contains(&"bug".to_owned()), "{labels:?}");
    assert_eq!(forge.close_issue(&repo, issue.number).await.unwrap().state, "closed");
    assert_eq!(forge.reopen_issue(&repo, issue.number).await.unwrap().state, "open");
    let stored = emu.state().issues("acme", "api");
    assert_eq!(stored[0].title, "CI is red on main");
    assert_eq!(emu.state().comments("acme", "api", issue.number), ["looking into it"]);

    let run =
        emu.state().add_workflow_run("acme", "api", RunSpec::new("CI", "main").outcome("completed", Some("failure")));
    forge.rerun_failed_jobs(&repo, run).await.unwrap();
    assert_eq!(emu.state().reruns("acme", "api"), [run]);

    let pr = forge
        .open_pull_request(&repo, None, "hive/fix-ci", "ci/fix.txt", "fixed\n", "fix ci", "Fix CI", "by hive")
        .await
        .unwrap();
    assert!(emu.state().branches("acme", "api").contains(&"hive/fix-ci".to_owned()));
    assert!(emu.state().file("acme", "api", "hive/fix-ci", "ci/fix.txt").is_some());
    emu.state().set_check_runs("acme", "api", "hive/fix-ci", vec![("test", "completed", Some("success"))]);
    emu.state().set_combined_status("acme", "api", "hive/fix-ci", "success");
    let checks = forge.check_runs(&repo, "hive/fix-ci").await.unwrap();
    assert_eq!(checks.len(), 1);
    // Every page is read: a failure on the second page of 150 checks is seen.
    let many: Vec<(String, &str, Option<&str>)> = (0..150)
        .map(|i| (format!("check {i}"), "completed", Some(if i == 140 { "failure" } else { "success" })))
        .collect();
    emu.state().set_check_runs("acme", "api", "many", many.iter().map(|(n, s, c)| (n.as_str(), *s, *c)).collect());
    let all = forge.check_runs(&repo, "many").await.unwrap();
    assert_eq!(all.len(), 150);
    assert!(all.iter().any(|c| c.conclusion.as_deref() == Some("failure")));
    assert_eq!(checks[0].conclusion.as_deref(), Some("success"));
    assert_eq!(forge.combined_status(&repo, "hive/fix-ci").await.unwrap().state, "success");
    // Pinned to a head that is not the branch's any more (someone pushed after the checks): refused.
    let moved = forge.merge_head(&repo, pr.number, "squash", Some("0000000")).await.unwrap_err();
    assert!(matches!(moved, GitHubError::Rejected { status: 409, .. }), "{moved}");
    let merged = forge.merge_head(&repo, pr.number, "squash", Some(&pr.head_sha)).await.unwrap();
    assert!(merged.merged);
    assert!(emu.state().pulls("acme", "api").iter().any(|p| p.number == pr.number && p.merged));
    let again = forge.merge(&repo, pr.number, "squash").await.unwrap_err();
    assert!(matches!(again, GitHubError::Rejected { status: 405, .. }), "{again}");

    // Writes are paced a second apart.
    let writes: Vec<_> = emu.state().requests().into_iter().filter(|r| r.method != Method::GET).collect();
    assert!(writes.len() >= 10);
    // The pacing between writes is checked with paused time in the budget's own tests; the emulator's log times
    // carry scheduling noise, so they are not asserted here.
}

#[tokio::test]
async fn the_token_never_shows() {
    let emu = fleet().await;
    let token = emu.token();
    let cfg = config(&emu, vec![org("acme")]);
    let forge = GitHubForge::new(cfg.clone()).unwrap();
    let mut texts = vec![format!("{cfg:?}"), format!("{forge:?}"), format!("{}", Secret::new(token))];
    emu.state().inject(FaultRule::new(Fault::ForbiddenNoHeaders).path_prefix("/repos/acme/api").times(1));
    let err = forge.snapshot(&id("acme/api")).await.unwrap_err();
    texts.push(format!("{err} {err:?}"));
    let mut wrong = config(&emu, vec![org("acme")]);
    wrong.auth = GitHubAuth::Token(Secret::new("ghp_wrongwrongwrong"));
    let err = GitHubForge::new(wrong).unwrap().snapshot(&id("acme/api")).await.unwrap_err();
    texts.push(format!("{err} {err:?}"));
    for text in &texts {
        assert!(!text.contains(token) && !text.contains("ghp_wrong"), "token leaked: {text}");
    }
}

#[tokio::test]
async fn points_per_repository_per_cycle_cold_and_warm() {
    let emu = Emulator::start().await;
    emu.state().add_org("fleet");
    for n in 0..40 {
        let name = format!("svc-{n:02}");
        emu.state().add_repo(RepoSpec::new("fleet", &name).has_security_md(n % 2 == 0));
        emu.state().add_workflow_run("fleet", &name, RunSpec::new("CI", "main"));
        emu.state().add_issue("fleet", &name, IssueSpec::new("Flaky test").label("bug"));
        if n % 4 == 0 {
            emu.state().set_dependabot("fleet", &name, DependabotSpec::Forbidden);
        }
    }
    let forge = std::sync::Arc::new(forge(&emu, vec![org("fleet")]));
    let mut per_cycle = Vec::new();
    for _ in 0..3 {
        let before = forge.points_spent();
        let repos = forge.discover().await.unwrap();
        let tasks: Vec<_> = repos
            .into_iter()
            .map(|repo| {
                let forge = forge.clone();
                tokio::spawn(async move { forge.snapshot(&repo).await })
            })
            .collect();
        for task in tasks {
            task.await.unwrap().unwrap();
        }
        per_cycle.push((forge.points_spent() - before) as f64 / 40.0);
    }
    eprintln!("points per repository per cycle (cold, warm, warm): {per_cycle:?}");
    assert!(per_cycle[0] <= 7.0, "{per_cycle:?}");
    assert!(per_cycle[1] <= 0.04 && per_cycle[2] <= 0.04, "{per_cycle:?}");
}

#[tokio::test]
async fn a_secondary_limit_told_only_by_its_message_holds_every_request_for_a_minute() {
    let emu = fleet().await;
    let forge = std::sync::Arc::new(forge(&emu, vec![org("acme")]));
    emu.state().inject(FaultRule::new(Fault::SecondaryRateLimitMessageOnly).path_prefix("/repos/acme/api").times(1));
    let reads: Vec<_> = ["acme/api", "acme/web", "acme/docs-site"]
        .into_iter()
        .map(|repo| {
            let forge = forge.clone();
            tokio::spawn(async move { forge.snapshot(&id(repo)).await })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(10);
    let resume_at = loop {
        if let Some(at) = forge.budget().resume_at(&Resource::CORE) {
            break at;
        }
        assert!(Instant::now() < deadline, "a 403 saying 'secondary rate limit' did not pause the budget");
        tokio::task::yield_now().await;
    };
    let wait = resume_at - tokio::time::Instant::now();
    assert!(wait > Duration::from_secs(55), "GitHub asks for at least a minute, the budget waits {wait:?}");
    // Nothing is read into the window: the requests that were in flight when the limit arrived are all there is.
    let limited_at = {
        let requests = emu.state().requests();
        requests.iter().find(|r| r.status == 403).expect("the limit was logged").at
    };
    // An observation window, not synchronisation: nothing may arrive in its second half. Requests admitted before
    // the limit was seen may still be logged in its first second on a loaded machine; none is sent after that.
    tokio::time::sleep_until((limited_at + Duration::from_secs(2)).into()).await;
    let late: Vec<_> = emu
        .state()
        .requests()
        .into_iter()
        .filter(|r| r.at > limited_at + Duration::from_secs(1))
        .map(|r| r.path)
        .collect();
    assert!(late.is_empty(), "sent during the secondary limit's window: {late:?}");
    for read in &reads {
        assert!(!read.is_finished(), "reads wait for the window instead of failing as a permission error");
    }
    for read in reads {
        read.abort();
    }
}

#[tokio::test]
async fn a_dependency_failure_a_license_and_ci_are_read_from_what_github_serves() {
    let emu = Emulator::start().await;
    emu.state().add_org("acme");
    emu.state().add_repo(RepoSpec::new("acme", "api"));
    emu.state().add_repo(RepoSpec::new("acme", "lib").license("Apache-2.0"));
    // cargo's problem matcher turns its error line into the failed job's annotation.
    emu.state().add_workflow_run(
        "acme",
        "api",
        RunSpec::new("CI", "main").outcome("completed", Some("failure")).job(
            JobSpec::new("clippy", "completed", Some("failure"))
                .step("cargo clippy --locked", "completed", Some("failure"))
                .annotation("failure", "failed to select a version for the requirement `serde = \"=999.0.0\"`")
                .annotation("failure", EXIT_1),
        ),
    );
    let forge = forge(&emu, vec![]);
    let api = forge.snapshot(&id("acme/api")).await.unwrap();
    assert_eq!(api.ci.failures.len(), 1, "{:?}", api.ci.failures);
    assert_eq!(api.ci.failures[0].class, FailureClass::Dependency, "whatever the job is called");
    // A completed run shows a workflow; GitHub names no license for this one.
    assert_eq!((api.has_license, api.has_ci_workflow), (Some(false), Some(true)));
    // No completed run says nothing about workflows; the license GitHub detected is there.
    let lib = forge.snapshot(&id("acme/lib")).await.unwrap();
    assert_eq!((lib.has_license, lib.has_ci_workflow), (Some(true), None));
}
