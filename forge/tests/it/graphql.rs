//! Snapshots through batched GraphQL against the emulator: the same snapshot as REST over a varied fleet,
//! concurrent reads coalesced into one query, warm cycles paid by a probe, partial answers read over REST per
//! repository, a server without GraphQL read over REST for good, and transient faults kept transient.

use std::{sync::Arc, time::SystemTime};

use futures::future::join_all;
use hive_forge::{CiState, Forge, GitHubForge, RepoId, RepoSnapshot, Resource};
use hive_testkit::{
    DependabotSpec, Emulator, Fault, FaultRule, IssueSpec, JobSpec, Method, PullSpec, RepoSpec, RunSpec,
};

use crate::github::{config, id, org};

/// A forge reading snapshots through GraphQL (the default).
fn gql_forge(emu: &Emulator) -> GitHubForge {
    let mut config = config(emu, vec![org("acme")]);
    config.graphql_snapshots = true;
    GitHubForge::new(config).expect("a valid configuration")
}

/// The REST forge of the same emulator.
fn rest_forge(emu: &Emulator) -> GitHubForge {
    GitHubForge::new(config(emu, vec![org("acme")])).expect("a valid configuration")
}

const EXIT_1: &str = "Process completed with exit code 1.";
const SHUTDOWN: &str = "The runner has received a shutdown signal. This can happen when the runner service is \
                        stopped, or a manually started runner is canceled.";

/// A fleet with something of everything a snapshot holds.
fn varied_fleet(emu: &Emulator) -> Vec<RepoId> {
    let s = emu.state();
    s.add_org("acme");
    // Failing CI: a test failure told by its annotations, a lost runner, and a green second workflow.
    s.add_repo(RepoSpec::new("acme", "red").license("MIT").stars(3).forks(1).watchers(2).has_security_md(true));
    s.add_workflow_run("acme", "red", RunSpec::new("Docs", "main"));
    s.add_workflow_run(
        "acme",
        "red",
        RunSpec::new("CI", "main")
            .outcome("completed", Some("failure"))
            .job(
                JobSpec::new("test", "completed", Some("failure"))
                    .step("cargo test", "completed", Some("failure"))
                    .annotation("failure", EXIT_1),
            )
            .job(
                JobSpec::new("integration", "completed", Some("failure"))
                    .step("Run", "completed", Some("failure"))
                    .annotation("failure", SHUTDOWN),
            )
            .job(JobSpec::new("lint", "completed", Some("success"))),
    );
    // Issues with labels, pull requests, alerts of every severity; no SECURITY.md; a default branch of its own.
    s.add_repo(RepoSpec::new("acme", "busy").default_branch("trunk").license("Apache-2.0"));
    s.add_workflow_run("acme", "busy", RunSpec::new("CI", "trunk"));
    s.add_issue("acme", "busy", IssueSpec::new("Crash on start").label("bug").label("critical"));
    s.add_issue("acme", "busy", IssueSpec::new("Dark mode").label("enhancement"));
    s.add_issue("acme", "busy", IssueSpec::new("Done").state("closed"));
    s.add_pull(
        "acme",
        "busy",
        PullSpec::new("Old", "old").created_at_time(SystemTime::now() - std::time::Duration::from_secs(86_400 * 30)),
    );
    s.add_pull("acme", "busy", PullSpec::new("New", "new"));
    s.set_dependabot(
        "acme",
        "busy",
        DependabotSpec::Alerts(vec![
            ("critical".into(), "RCE".into()),
            ("medium".into(), "ReDoS".into()),
            ("low".into(), "Info leak".into()),
        ]),
    );
    // More issues than a GraphQL page, and an issue with more labels than a page: read over REST.
    s.add_repo(RepoSpec::new("acme", "crowded"));
    for n in 0..12 {
        s.add_issue("acme", "crowded", IssueSpec::new(&format!("Issue {n}")).label("triage"));
    }
    s.add_repo(RepoSpec::new("acme", "labelled"));
    let many = (0..25).fold(IssueSpec::new("Many labels"), |issue, n| issue.label(&format!("l{n:02}")));
    s.add_issue("acme", "labelled", many);
    // Alerts the token may not read, and alerts switched off.
    s.add_repo(RepoSpec::new("acme", "private-alerts").has_security_md(true));
    s.set_dependabot("acme", "private-alerts", DependabotSpec::Forbidden);
    s.add_repo(RepoSpec::new("acme", "no-alerts"));
    s.set_dependabot("acme", "no-alerts", DependabotSpec::NotFound);
    // Archived, and a repository without any run.
    s.add_repo(RepoSpec::new("acme", "attic").archived(true));
    s.add_repo(RepoSpec::new("acme", "quiet"));
    ["red", "busy", "crowded", "labelled", "private-alerts", "no-alerts", "attic", "quiet"]
        .iter()
        .map(|name| id(&format!("acme/{name}")))
        .collect()
}

/// A snapshot with its read time taken out, for comparing two reads.
fn timeless(mut snapshot: RepoSnapshot) -> RepoSnapshot {
    snapshot.taken_at = SystemTime::UNIX_EPOCH;
    snapshot
}

fn graphql_requests(emu: &Emulator) -> usize {
    emu.state().requests().iter().filter(|r| r.path == "/graphql").count()
}

/// The GraphQL operations asked since the log was cleared, in order.
fn operations(emu: &Emulator) -> Vec<String> {
    emu.state().requests().into_iter().filter(|r| r.path == "/graphql").filter_map(|r| r.operation).collect()
}

/// The REST paths asked since the log was cleared, in order.
fn rest_paths(emu: &Emulator) -> Vec<String> {
    emu.state().requests().into_iter().filter(|r| r.path != "/graphql").map(|r| r.path).collect()
}

#[tokio::test]
async fn graphql_snapshots_equal_rest_over_a_varied_fleet() {
    let emu = Emulator::start().await;
    let repos = varied_fleet(&emu);
    let rest = rest_forge(&emu);
    let gql = gql_forge(&emu);
    let by_rest: Vec<_> = join_all(repos.iter().map(|repo| rest.snapshot(repo))).await;
    emu.state().clear_requests();
    let by_gql: Vec<_> = join_all(repos.iter().map(|repo| gql.snapshot(repo))).await;
    let requests = emu.state().requests();
    for ((repo, rest), gql) in repos.iter().zip(by_rest).zip(by_gql) {
        let (rest, gql) = (timeless(rest.unwrap()), timeless(gql.unwrap()));
        assert_eq!(gql, rest, "{repo}");
    }
    // The fleet has what the comparison is about.
    let red = timeless(gql.snapshot(&id("acme/red")).await.unwrap());
    assert_eq!(red.ci.state, CiState::Failing);
    assert_eq!(red.ci.failures.len(), 2, "{:?}", red.ci.failures);
    // One query read the eight repositories and one the failed run's jobs with their steps and annotations; REST
    // read only what GraphQL has not: the issue lists longer than a page.
    let ops: Vec<&str> = requests.iter().filter_map(|r| r.operation.as_deref()).collect();
    assert_eq!(ops, ["Snapshots", "FailedRuns"], "{requests:?}");
    let rest_paths: Vec<&str> = requests.iter().filter(|r| r.path != "/graphql").map(|r| r.path.as_str()).collect();
    assert_eq!(rest_paths.len(), 2, "{rest_paths:?}");
    assert!(rest_paths.iter().all(|p| p.ends_with("/issues")), "{rest_paths:?}");
}

#[tokio::test]
async fn concurrent_snapshots_are_one_query_and_its_cost_is_counted() {
    let emu = Emulator::start().await;
    emu.state().add_org("acme");
    let repos: Vec<RepoId> = (0..30)
        .map(|n| {
            let name = format!("svc-{n:02}");
            emu.state().add_repo(RepoSpec::new("acme", &name));
            emu.state().add_workflow_run("acme", &name, RunSpec::new("CI", "main"));
            id(&format!("acme/{name}"))
        })
        .collect();
    let forge = Arc::new(gql_forge(&emu));
    let tasks: Vec<_> = repos
        .iter()
        .cloned()
        .map(|repo| {
            let forge = Arc::clone(&forge);
            tokio::spawn(async move { forge.snapshot(&repo).await })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap().unwrap().ci.state, CiState::Passing);
    }
    assert_eq!(graphql_requests(&emu), 1);
    // 30 repositories of 17 requests each: 510 requests, 5 points, as the emulator charged and the forge counted.
    assert_eq!(emu.state().points(), 5);
    assert_eq!(forge.points_spent(), 5);
    assert_eq!(emu.state().graphql_rate_limit().1, 5000 - 5);
}

#[tokio::test]
async fn a_warm_cycle_is_a_probe_and_only_a_change_is_read_again() {
    let emu = Emulator::start().await;
    let repos = varied_fleet(&emu);
    let forge = gql_forge(&emu);
    let cold: Vec<_> = join_all(repos.iter().map(|repo| forge.snapshot(repo))).await;
    let cold_points = forge.points_spent();
    emu.state().clear_requests();
    let warm: Vec<_> = join_all(repos.iter().map(|repo| forge.snapshot(repo))).await;
    for (cold, warm) in cold.into_iter().zip(warm) {
        assert_eq!(timeless(warm.unwrap()), timeless(cold.unwrap()));
    }
    let requests = emu.state().requests();
    assert_eq!(requests.len(), 1, "one probe and nothing else: {requests:?}");
    assert_eq!(forge.points_spent() - cold_points, 1, "8 repositories of 3 requests are the minimum of 1 point");

    // A new issue changes one fingerprint: that repository alone is read again, and the change is seen.
    emu.state().add_issue("acme", "quiet", IssueSpec::new("Something broke").label("bug"));
    emu.state().clear_requests();
    let after: Vec<_> = join_all(repos.iter().map(|repo| forge.snapshot(repo))).await;
    let quiet = after.into_iter().nth(7).unwrap().unwrap();
    assert_eq!(quiet.open_issues.len(), 1);
    assert_eq!(graphql_requests(&emu), 2, "the probe, then the full read of the one that changed");
    let rest = rest_forge(&emu);
    assert_eq!(timeless(quiet), timeless(rest.snapshot(&id("acme/quiet")).await.unwrap()));
}

#[tokio::test]
async fn errors_about_some_repositories_send_only_those_to_rest() {
    let emu = Emulator::start().await;
    let repos = varied_fleet(&emu);
    // A field the token may not read (one that cannot be null, so the whole repository is null), and a repository
    // deleted between discovery and the read.
    emu.state().forbid_graphql_field("acme", "busy", "isArchived");
    let forge = gql_forge(&emu);
    let rest = rest_forge(&emu);
    emu.state().delete_repo("acme", "attic");
    emu.state().clear_requests();
    let read: Vec<_> = join_all(repos.iter().map(|repo| forge.snapshot(repo))).await;
    let requests = emu.state().requests();
    for (repo, result) in repos.iter().zip(read) {
        match repo.name() {
            "attic" => assert!(matches!(result, Err(hive_forge::ForgeError::NotFound { .. })), "{result:?}"),
            _ => assert_eq!(timeless(result.unwrap()), timeless(rest.snapshot(repo).await.unwrap()), "{repo}"),
        }
    }
    let mut repo_reads: Vec<&str> = requests
        .iter()
        .filter(|r| r.path.starts_with("/repos/acme/") && r.path.matches('/').count() == 3)
        .map(|r| r.path.as_str())
        .collect();
    // Over REST: the forbidden one and the deleted one, and nothing else.
    repo_reads.sort_unstable();
    assert_eq!(repo_reads, ["/repos/acme/attic", "/repos/acme/busy"], "{repo_reads:?}");
}

#[tokio::test]
async fn a_server_without_graphql_is_read_over_rest_for_the_forges_lifetime() {
    let emu = Emulator::start().await;
    let repos = varied_fleet(&emu);
    emu.state().serve_graphql(false);
    let forge = gql_forge(&emu);
    let rest = rest_forge(&emu);
    for _ in 0..2 {
        for repo in &repos {
            assert_eq!(timeless(forge.snapshot(repo).await.unwrap()), timeless(rest.snapshot(repo).await.unwrap()));
        }
    }
    assert_eq!(graphql_requests(&emu), 1, "asked once, then never again");
}

#[tokio::test]
async fn a_server_error_on_graphql_is_transient_not_a_fallback() {
    let emu = Emulator::start().await;
    let repos = varied_fleet(&emu);
    emu.state().inject(FaultRule::new(Fault::Status(502)).method(Method::POST).path_prefix("/graphql").times(1));
    let forge = gql_forge(&emu);
    let err = forge.snapshot(&repos[0]).await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    emu.state().clear_requests();
    forge.snapshot(&repos[0]).await.unwrap();
    assert_eq!(operations(&emu), ["Snapshots", "FailedRuns"], "still read through GraphQL");
    let other_rest: Vec<_> =
        emu.state().requests().into_iter().filter(|r| r.path == "/repos/acme/red").map(|r| r.path).collect();
    assert!(other_rest.is_empty(), "{other_rest:?}");
}

/// A repository whose one CI run on the head of `main` failed in `cargo test`; returns the run's id.
fn red_repo(emu: &Emulator) -> (RepoId, u64) {
    let s = emu.state();
    s.add_org("acme");
    s.add_repo(RepoSpec::new("acme", "red"));
    let run = s.add_workflow_run(
        "acme",
        "red",
        RunSpec::new("CI", "main").outcome("completed", Some("failure")).job(
            JobSpec::new("test", "completed", Some("failure"))
                .step("cargo test", "completed", Some("failure"))
                .annotation("failure", EXIT_1),
        ),
    );
    (id("acme/red"), run)
}

/// The run attempts a snapshot's CI failures come from.
fn attempts(snapshot: &RepoSnapshot) -> Vec<u32> {
    snapshot.ci.failures.iter().filter_map(|f| f.run.as_ref().map(|run| run.attempt)).collect()
}

#[tokio::test]
async fn a_rerun_through_the_forge_that_fails_again_is_read_as_a_new_attempt() {
    let emu = Emulator::start().await;
    let (repo, run) = red_repo(&emu);
    let forge = gql_forge(&emu);
    assert_eq!(attempts(&forge.snapshot(&repo).await.unwrap()), [1]);
    forge.rerun_failed_jobs(&repo, run).await.unwrap();
    // It fails again before any read saw it pending: the head and the rollup's FAILURE are what the last read saw.
    assert!(emu.state().complete_run("acme", "red", run, "failure"));
    emu.state().clear_requests();
    let next = forge.snapshot(&repo).await.unwrap();
    assert_eq!(next.ci.state, CiState::Failing);
    assert_eq!(attempts(&next), [2], "{:?}", next.ci.failures);
    // The write made the forge forget the repository: a full read, without a probe first; a re-run's jobs are read
    // over REST, which alone knows its attempt.
    assert_eq!(operations(&emu), ["Snapshots", "FailedRuns"]);
    assert!(
        rest_paths(&emu).iter().any(|p| p.ends_with(&format!("/actions/runs/{run}/jobs"))),
        "{:?}",
        rest_paths(&emu)
    );
    assert_eq!(timeless(next), timeless(rest_forge(&emu).snapshot(&repo).await.unwrap()));
}

#[tokio::test]
async fn a_run_that_failed_before_any_job_and_again_after_a_rerun_is_read_as_its_second_attempt() {
    let emu = Emulator::start().await;
    let s = emu.state();
    s.add_org("acme");
    s.add_repo(RepoSpec::new("acme", "broken"));
    // A broken workflow file: the run fails before any job, so its check suite has no check runs to count.
    let run =
        s.add_workflow_run("acme", "broken", RunSpec::new("CI", "main").outcome("completed", Some("startup_failure")));
    let repo = id("acme/broken");
    let forge = gql_forge(&emu);
    assert_eq!(attempts(&forge.snapshot(&repo).await.unwrap()), [1]);
    forge.rerun_failed_jobs(&repo, run).await.unwrap();
    assert!(emu.state().complete_run("acme", "broken", run, "startup_failure"));
    let next = forge.snapshot(&repo).await.unwrap();
    assert_eq!(next.ci.state, CiState::Failing);
    assert_eq!(attempts(&next), [2], "{:?}", next.ci.failures);
    assert_eq!(timeless(next), timeless(rest_forge(&emu).snapshot(&repo).await.unwrap()));
}

#[tokio::test]
async fn a_forgotten_repository_is_read_whole_without_a_probe() {
    let emu = Emulator::start().await;
    let (repo, run) = red_repo(&emu);
    let forge = gql_forge(&emu);
    assert_eq!(attempts(&forge.snapshot(&repo).await.unwrap()), [1]);
    assert!(emu.state().rerun_failed_jobs("acme", "red", run));
    assert!(emu.state().complete_run("acme", "red", run, "failure"));
    // A webhook delivery said the repository changed.
    forge.forget(&repo);
    emu.state().clear_requests();
    let next = forge.snapshot(&repo).await.unwrap();
    assert_eq!(attempts(&next), [2], "{:?}", next.ci.failures);
    assert_eq!(operations(&emu), ["Snapshots", "FailedRuns"]);
    // Read whole once: the next read is a probe again.
    emu.state().clear_requests();
    assert_eq!(attempts(&forge.snapshot(&repo).await.unwrap()), [2]);
    assert_eq!(emu.state().requests().len(), 1, "{:?}", emu.state().requests());
}

#[tokio::test]
async fn a_rerun_by_someone_else_that_fails_again_is_seen_by_the_next_probe() {
    let emu = Emulator::start().await;
    let (repo, run) = red_repo(&emu);
    let forge = gql_forge(&emu);
    assert_eq!(attempts(&forge.snapshot(&repo).await.unwrap()), [1]);
    // A warm read of the unchanged repository is the probe alone.
    emu.state().clear_requests();
    assert_eq!(attempts(&forge.snapshot(&repo).await.unwrap()), [1]);
    assert_eq!(emu.state().requests().len(), 1, "{:?}", emu.state().requests());
    // Someone re-runs it on the website, and it fails again between two reads.
    assert!(emu.state().rerun_failed_jobs("acme", "red", run));
    assert!(emu.state().complete_run("acme", "red", run, "failure"));
    emu.state().clear_requests();
    let next = forge.snapshot(&repo).await.unwrap();
    assert_eq!(attempts(&next), [2], "{:?}", next.ci.failures);
    assert_eq!(operations(&emu), ["SnapshotProbe", "Snapshots", "FailedRuns"], "the probe saw the change");
    assert_eq!(timeless(next), timeless(rest_forge(&emu).snapshot(&repo).await.unwrap()));
}

#[tokio::test]
async fn only_a_red_head_is_probed_with_its_suites() {
    let emu = Emulator::start().await;
    let (red, _) = red_repo(&emu);
    emu.state().add_repo(RepoSpec::new("acme", "green"));
    emu.state().add_workflow_run("acme", "green", RunSpec::new("CI", "main"));
    let green = id("acme/green");
    let forge = gql_forge(&emu);
    forge.snapshot(&red).await.unwrap();
    forge.snapshot(&green).await.unwrap();
    emu.state().clear_requests();
    let (a, b) = tokio::join!(forge.snapshot(&red), forge.snapshot(&green));
    assert_eq!((a.unwrap().ci.state, b.unwrap().ci.state), (CiState::Failing, CiState::Passing));
    assert_eq!(graphql_requests(&emu), 1, "one probe for both");
    let red_before = timeless(forge.snapshot(&red).await.unwrap());
    // A green head re-run on the same commit changes nothing a snapshot shows, and costs no full read.
    let green_run = emu.state().add_workflow_run("acme", "green", RunSpec::new("Lint", "main"));
    forge.snapshot(&green).await.unwrap();
    assert!(emu.state().rerun_failed_jobs("acme", "green", green_run));
    assert!(emu.state().complete_run("acme", "green", green_run, "success"));
    emu.state().clear_requests();
    assert_eq!(forge.snapshot(&green).await.unwrap().ci.state, CiState::Passing);
    assert_eq!(graphql_requests(&emu), 1, "the probe alone");
    assert_eq!(timeless(forge.snapshot(&red).await.unwrap()), red_before);
}

#[tokio::test]
async fn failed_jobs_come_through_graphql_unless_a_page_cannot_hold_them() {
    let emu = Emulator::start().await;
    let (red, _) = red_repo(&emu);
    // Eleven failed jobs, one more than a page; and a run that failed before any job ran.
    emu.state().add_repo(RepoSpec::new("acme", "many"));
    let many = (0..11).fold(RunSpec::new("CI", "main").outcome("completed", Some("failure")), |run, n| {
        run.job(JobSpec::new(&format!("shard-{n:02}"), "completed", Some("failure")).step(
            "Run",
            "completed",
            Some("failure"),
        ))
    });
    emu.state().add_workflow_run("acme", "many", many);
    emu.state().add_repo(RepoSpec::new("acme", "broken"));
    emu.state().add_workflow_run(
        "acme",
        "broken",
        RunSpec::new("CI", "main").outcome("completed", Some("startup_failure")),
    );
    let repos = [red, id("acme/many"), id("acme/broken")];
    let forge = gql_forge(&emu);
    let rest = rest_forge(&emu);
    emu.state().clear_requests();
    let read: Vec<_> = join_all(repos.iter().map(|repo| forge.snapshot(repo))).await;
    let rest_reads = rest_paths(&emu);
    for (repo, snapshot) in repos.iter().zip(read) {
        let snapshot = timeless(snapshot.unwrap());
        assert_eq!(snapshot.ci.state, CiState::Failing, "{repo}");
        assert_eq!(snapshot, timeless(rest.snapshot(repo).await.unwrap()), "{repo}");
    }
    // The run with more failed jobs than a page is read over REST: its jobs, then their annotations. Of the run
    // that failed before any job only its attempt is, which GraphQL cannot give.
    assert!(rest_reads.first().is_some_and(|p| p.starts_with("/repos/acme/many/actions/runs/")), "{rest_reads:?}");
    let (many, others): (Vec<_>, Vec<_>) = rest_reads.iter().partition(|p| p.starts_with("/repos/acme/many/"));
    assert!(many.len() > 1, "{rest_reads:?}");
    assert!(
        others.len() == 1 && others[0].starts_with("/repos/acme/broken/actions/runs/") && !others[0].ends_with("/jobs"),
        "{rest_reads:?}"
    );
}

#[tokio::test]
async fn an_unchanged_failed_run_is_not_asked_about_again() {
    let emu = Emulator::start().await;
    let (red, _) = red_repo(&emu);
    let forge = gql_forge(&emu);
    let first = timeless(forge.snapshot(&red).await.unwrap());
    // A new issue changes the fingerprint: the repository is read whole, but its failed run is the same.
    emu.state().add_issue("acme", "red", IssueSpec::new("Flaky").label("bug"));
    emu.state().clear_requests();
    let next = timeless(forge.snapshot(&red).await.unwrap());
    assert_eq!(operations(&emu), ["SnapshotProbe", "Snapshots"]);
    assert!(rest_paths(&emu).is_empty(), "{:?}", rest_paths(&emu));
    assert_eq!(next.ci, first.ci);
    assert_eq!(next.open_issues.len(), 1);
    assert_eq!(next, timeless(rest_forge(&emu).snapshot(&red).await.unwrap()));
}

/// GitHub counts GraphQL and REST apart (`x-ratelimit-resource`): a spent GraphQL budget holds queries only, and a
/// REST write goes at once; a spent core budget holds REST.
#[tokio::test]
async fn a_spent_graphql_budget_does_not_hold_a_rest_write() {
    let emu = Emulator::start().await;
    emu.state().add_org("acme");
    emu.state().add_repo(RepoSpec::new("acme", "api"));
    let forge = gql_forge(&emu);
    let repo = id("acme/api");
    let now = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).expect("after 1970").as_secs();
    emu.state().set_graphql_rate_limit(5000, 1, now + 3_600);
    forge.snapshot(&repo).await.expect("a read with graphql's last point");
    assert_eq!(emu.state().graphql_rate_limit().1, 0);
    assert_eq!(forge.budget().remaining_of(&Resource::GRAPHQL), Some(0));
    assert!(forge.budget().resume_at(&Resource::GRAPHQL).is_some(), "graphql is not held until its reset");
    assert!(forge.budget().resume_at(&Resource::CORE).is_none(), "a spent graphql budget holds rest");

    let sent = emu.state().requests().len();
    let issue = forge.create_issue(&repo, "CI is red", "details", &[]).await.expect("a rest write");
    let after: Vec<_> = emu.state().requests().into_iter().skip(sent).map(|r| (r.path, r.status)).collect();
    assert_eq!(after, [("/repos/acme/api/issues".to_owned(), 201)]);

    // The core budget at its last point: the write that spends it is answered, and REST is held from then on.
    emu.state().set_rate_limit(5000, 1, now + 3_600);
    forge.comment(&repo, issue.number, "looking into it").await.expect("the last core point");
    assert_eq!(forge.budget().remaining(), Some(0));
    assert!(forge.budget().resume_at(&Resource::CORE).is_some(), "a spent core budget does not hold rest");
}
