//! Tests for the simulated forge: builders, scripts, mutation, fault injection, fleets and counters.

use std::collections::{BTreeSet, HashMap};

use super::*;
use crate::score;

fn id(name: &str) -> RepoId {
    RepoId::new(name).expect("literal name")
}

fn failure(job: &str) -> CiFailure {
    CiFailure { workflow: "ci".to_owned(), job: job.to_owned(), step: None, class: FailureClass::Lint, run: None }
}

async fn ci_states(forge: &SimForge, repo: &RepoId, reads: usize) -> Vec<CiState> {
    let mut states = Vec::new();
    for _ in 0..reads {
        states.push(forge.snapshot(repo).await.expect("known repo").ci.state);
    }
    states
}

/// What each of `n` snapshots of `repo` ran into, as a short word.
async fn outcomes(forge: &SimForge, repo: &RepoId, n: usize) -> Vec<&'static str> {
    let mut outcomes = Vec::new();
    for _ in 0..n {
        outcomes.push(match forge.snapshot(repo).await {
            Ok(_) => "ok",
            Err(ForgeError::Transient { .. }) => "transient",
            Err(ForgeError::Permanent { .. }) => "permanent",
            Err(ForgeError::NotFound { .. }) => "not found",
            Err(ForgeError::Discovery { .. } | ForgeError::Unreachable { .. }) => "discovery",
        });
    }
    outcomes
}

#[tokio::test]
async fn healthy_repo_looks_healthy() {
    let forge = SimForge::new(vec![SimRepo::healthy("acme/api")]);
    assert_eq!(forge.name(), "sim");
    let snapshot = forge.snapshot(&id("acme/api")).await.expect("known repo");
    assert_eq!(snapshot.repo, id("acme/api"));
    assert_eq!(snapshot.default_branch, "main");
    assert!(snapshot.ci.is_green());
    assert!(!snapshot.archived);
    assert!(snapshot.open_issues.is_empty());
    assert_eq!(snapshot.security_alerts, Some(Vec::new()));
    assert_eq!(snapshot.has_security_policy, Some(true));
    assert_eq!(snapshot.taken_at.duration_since(snapshot.pushed_at.expect("known")).ok(), Some(DAY));
    assert_eq!(score(&snapshot).score, 100);
}

#[tokio::test]
async fn failing_repo_fails_one_test_job() {
    let forge = SimForge::new(vec![SimRepo::failing("acme/web")]);
    let snapshot = forge.snapshot(&id("acme/web")).await.expect("known repo");
    assert_eq!(snapshot.ci.state, CiState::Failing);
    let signatures: Vec<String> = snapshot.ci.failures.iter().map(CiFailure::signature).collect();
    assert_eq!(signatures, ["ci/test/cargo test/test"]);
    assert!(!score(&snapshot).healthy);
}

#[tokio::test]
async fn builder_sets_every_field() {
    let alert = Alert { summary: "RUSTSEC-2024-0001".to_owned(), severity: AlertSeverity::High };
    let issue = IssueSummary { number: 7, title: "Typo".to_owned(), labels: vec!["documentation".to_owned()] };
    let repo = SimRepo::failing("acme/api")
        .with_failure(failure("lint"))
        .with_alerts(vec![alert.clone()])
        .with_issues(vec![issue.clone()])
        .with_security_policy(None)
        .with_last_push(None)
        .with_default_branch("trunk")
        .archived();
    let forge = SimForge::new(vec![repo]);
    let snapshot = forge.snapshot(&id("acme/api")).await.expect("known repo");
    assert_eq!(snapshot.ci.failures.len(), 2, "with_failure accumulates");
    assert_eq!(snapshot.security_alerts, Some(vec![alert]));
    assert_eq!(snapshot.open_issues, vec![issue]);
    assert_eq!(snapshot.has_security_policy, None);
    assert_eq!(snapshot.pushed_at, None);
    assert_eq!(snapshot.default_branch, "trunk");
    assert!(snapshot.archived);

    let unknown = SimForge::new(vec![SimRepo::healthy("acme/api").with_unknown_alerts()]);
    assert_eq!(unknown.snapshot(&id("acme/api")).await.expect("known").security_alerts, None);
}

#[test]
fn with_failure_replaces_a_script() {
    let repo =
        SimRepo::healthy("a/b").with_script(vec![CiStatus::green(), CiStatus::green()]).with_failure(failure("x"));
    assert_eq!(repo.ci_script, vec![CiStatus::failing(vec![failure("x")])]);
}

#[test]
fn try_new_rejects_hostile_names() {
    for bad in ["", "acme", "../etc", "a/b;rm", "a/-rf"] {
        let err = SimRepo::try_new(bad).expect_err(bad);
        assert!(err.to_string().starts_with("invalid repository name"), "{err}");
    }
    assert_eq!(SimRepo::try_new("acme/api").expect("valid").id(), &id("acme/api"));
}

#[test]
#[should_panic(expected = "SimRepo::healthy takes a literal repository name: invalid repository name '../etc'")]
fn healthy_panics_on_a_bad_literal() {
    let _ = SimRepo::healthy("../etc");
}

#[test]
#[should_panic(expected = "SimRepo::failing takes a literal repository name")]
fn failing_panics_on_a_bad_literal() {
    let _ = SimRepo::failing("no-slash");
}

#[tokio::test]
async fn script_cycles_per_successful_read() {
    let failing = CiStatus::failing(vec![failure("x")]);
    let repo = SimRepo::healthy("a/b").with_script(vec![CiStatus::green(), failing.clone(), failing]);
    let forge = SimForge::new(vec![repo]);
    let a = id("a/b");
    use CiState::{Failing as F, Passing as P};
    assert_eq!(ci_states(&forge, &a, 4).await, [P, F, F, P]);
    // A failed attempt does not advance the script.
    forge.inject(&a, Fault::Transient, 1);
    assert!(forge.snapshot(&a).await.is_err());
    assert_eq!(ci_states(&forge, &a, 3).await, [F, F, P]);
    // Setting a new script starts it from the top.
    forge.set_script(&a, vec![CiStatus::failing(Vec::new()), CiStatus::green()]).expect("known repo");
    assert_eq!(ci_states(&forge, &a, 3).await, [F, P, F]);
}

#[tokio::test]
async fn empty_script_means_unknown_ci() {
    let forge = SimForge::new(vec![SimRepo::healthy("a/b").with_script(Vec::new())]);
    assert_eq!(ci_states(&forge, &id("a/b"), 2).await, [CiState::Unknown, CiState::Unknown]);
}

#[tokio::test]
async fn unknown_repo_is_not_found_and_counted() {
    let forge = SimForge::new(vec![SimRepo::healthy("acme/api")]);
    let ghost = id("acme/ghost");
    let err = forge.snapshot(&ghost).await.expect_err("unknown repo");
    assert!(matches!(&err, ForgeError::NotFound { forge, .. } if forge == "sim"), "{err:?}");
    assert_eq!(err.repo(), Some(&ghost));
    assert!(!err.is_transient());
    assert_eq!((forge.attempts(&ghost), forge.reads(&ghost)), (1, 0));
    assert_eq!((forge.total_attempts(), forge.total_reads()), (1, 0));
}

#[tokio::test]
async fn discover_lists_current_repos_sorted() {
    let forge = SimForge::new(vec![SimRepo::healthy("b/z"), SimRepo::healthy("a/y"), SimRepo::healthy("b/a")]);
    assert_eq!(forge.discover().await.expect("infallible"), [id("a/y"), id("b/a"), id("b/z")]);
    assert!(forge.remove_repo(&id("b/a")));
    assert!(!forge.remove_repo(&id("b/a")));
    forge.add_repo(SimRepo::healthy("a/a"));
    assert_eq!(forge.discover().await.expect("infallible"), [id("a/a"), id("a/y"), id("b/z")]);
}

#[tokio::test]
async fn runtime_mutations_show_in_the_next_snapshot() {
    let forge = SimForge::new(vec![SimRepo::healthy("acme/api")]);
    let api = id("acme/api");

    forge.set_ci(&api, CiStatus::failing(vec![failure("lint")])).expect("known repo");
    assert_eq!(forge.snapshot(&api).await.expect("known").ci.state, CiState::Failing);

    let alert = Alert { summary: "advisory".to_owned(), severity: AlertSeverity::Critical };
    forge.set_alerts(&api, vec![alert.clone()]).expect("known repo");
    assert_eq!(forge.snapshot(&api).await.expect("known").security_alerts, Some(vec![alert]));

    let issue = IssueSummary { number: 1, title: "Crash".to_owned(), labels: Vec::new() };
    forge.set_issues(&api, vec![issue.clone()]).expect("known repo");
    assert_eq!(forge.snapshot(&api).await.expect("known").open_issues, vec![issue]);

    forge.archive(&api).expect("known repo");
    assert!(forge.snapshot(&api).await.expect("known").archived);

    // Replacing a repository restarts it from the builder's state.
    forge.add_repo(SimRepo::healthy("acme/api"));
    let snapshot = forge.snapshot(&api).await.expect("known");
    assert!(snapshot.ci.is_green() && !snapshot.archived);

    assert!(forge.remove_repo(&api));
    assert!(matches!(forge.snapshot(&api).await, Err(ForgeError::NotFound { .. })));
    assert_eq!(forge.reads(&api), 5, "counters survive removal");
}

#[test]
fn mutating_an_unknown_repo_is_not_found() {
    let forge = SimForge::new(Vec::new());
    let ghost = id("acme/ghost");
    let results = [
        forge.set_ci(&ghost, CiStatus::green()),
        forge.set_script(&ghost, Vec::new()),
        forge.set_alerts(&ghost, Vec::new()),
        forge.set_issues(&ghost, Vec::new()),
        forge.archive(&ghost),
    ];
    for result in results {
        let err = result.expect_err("unknown repo");
        assert_eq!(
            err.to_string(),
            "repository 'acme/ghost' not found on forge 'sim'; check the name or the forge's access rights"
        );
    }
}

#[tokio::test]
async fn clones_share_state() {
    let forge = SimForge::new(vec![SimRepo::healthy("acme/api")]);
    let other = forge.clone();
    other.set_ci(&id("acme/api"), CiStatus::failing(Vec::new())).expect("known repo");
    assert!(!forge.snapshot(&id("acme/api")).await.expect("known").ci.is_green());
    assert_eq!(other.reads(&id("acme/api")), 1);
    assert!(format!("{forge:?}").starts_with("SimForge { repos: 1"));
}

#[tokio::test]
async fn injected_faults_apply_in_order() {
    let forge = SimForge::new(vec![SimRepo::healthy("acme/api"), SimRepo::healthy("acme/web")]);
    let (api, web) = (id("acme/api"), id("acme/web"));
    forge.inject(&api, Fault::Transient, 2);
    forge.inject(&api, Fault::Permanent, 1);
    assert_eq!(outcomes(&forge, &api, 4).await, ["transient", "transient", "permanent", "ok"]);
    assert_eq!(outcomes(&forge, &web, 1).await, ["ok"], "faults are per repository");
    assert_eq!((forge.attempts(&api), forge.reads(&api)), (4, 1));
    assert_eq!((forge.total_attempts(), forge.total_reads()), (5, 2));

    let err = {
        forge.inject(&api, Fault::Transient, 1);
        forge.snapshot(&api).await.expect_err("injected")
    };
    assert!(err.is_transient());
    assert_eq!(err.to_string(), "transient forge error for 'acme/api': injected transient fault");
}

#[tokio::test]
async fn faults_can_be_queued_before_the_repo_exists() {
    let forge = SimForge::new(Vec::new());
    let later = id("acme/later");
    forge.inject(&later, Fault::Permanent, 1);
    forge.add_repo(SimRepo::healthy("acme/later"));
    assert_eq!(outcomes(&forge, &later, 2).await, ["permanent", "ok"]);
}

#[tokio::test]
async fn injected_panic_panics_the_calling_task() {
    let forge = SimForge::new(vec![SimRepo::healthy("acme/api")]);
    forge.inject(&id("acme/api"), Fault::Panic, 1);
    let task = {
        let forge = forge.clone();
        tokio::spawn(async move { forge.snapshot(&id("acme/api")).await })
    };
    let panic = task.await.expect_err("the task panicked").into_panic();
    let message = panic.downcast_ref::<String>().expect("a formatted panic message");
    assert_eq!(message, "injected panic while reading 'acme/api' from the sim forge");
    // The forge is still usable: no lock was poisoned.
    assert_eq!(outcomes(&forge, &id("acme/api"), 1).await, ["ok"]);
    assert_eq!(forge.attempts(&id("acme/api")), 2);
}

#[tokio::test(start_paused = true)]
async fn injected_delay_waits_on_tokio_time_then_answers() {
    let forge = SimForge::new(vec![SimRepo::healthy("acme/api")]);
    let api = id("acme/api");
    forge.inject(&api, Fault::Delay(Duration::from_secs(30)), 1);
    let start = tokio::time::Instant::now();
    let snapshot = forge.snapshot(&api).await;
    assert!(snapshot.is_ok());
    assert_eq!(start.elapsed(), Duration::from_secs(30));

    // A timeout shorter than the delay fires first, and the read is not counted.
    forge.inject(&api, Fault::Delay(Duration::from_secs(30)), 1);
    let timed_out = tokio::time::timeout(Duration::from_secs(5), forge.snapshot(&api)).await;
    assert!(timed_out.is_err());
    assert_eq!((forge.attempts(&api), forge.reads(&api)), (2, 1));
}

#[tokio::test(start_paused = true)]
async fn repo_state_is_read_after_the_delay() {
    let forge = SimForge::new(vec![SimRepo::healthy("acme/api")]);
    let api = id("acme/api");
    forge.inject(&api, Fault::Delay(Duration::from_secs(10)), 1);
    let pending = tokio::spawn({
        let forge = forge.clone();
        let api = api.clone();
        async move { forge.snapshot(&api).await }
    });
    // Let the spawned read reach its sleep; paused time does not advance while this task is busy.
    tokio::task::yield_now().await;
    forge.set_ci(&api, CiStatus::failing(Vec::new())).expect("known repo");
    let snapshot = pending.await.expect("no panic").expect("delay then success");
    assert_eq!(snapshot.ci.state, CiState::Failing);
}

#[tokio::test]
async fn fault_rates_are_deterministic_per_seed() {
    let repos = || vec![SimRepo::healthy("acme/api"), SimRepo::healthy("acme/web")];
    let run = |seed: u64| async move {
        let forge = SimForge::new(repos()).with_seed(seed);
        forge.set_fault_rate(Fault::Transient, 0.3);
        outcomes(&forge, &id("acme/api"), 50).await
    };
    assert_eq!(run(7).await, run(7).await);
    assert_ne!(run(7).await, run(8).await);
}

#[tokio::test]
async fn fault_draws_do_not_depend_on_interleaving() {
    let make = || {
        let forge = SimForge::new(vec![SimRepo::healthy("acme/api"), SimRepo::healthy("acme/web")]).with_seed(3);
        forge.set_fault_rate(Fault::Transient, 0.5);
        forge
    };
    let (api, web) = (id("acme/api"), id("acme/web"));
    let first = make();
    let api_first = outcomes(&first, &api, 20).await;
    let web_second = outcomes(&first, &web, 20).await;
    let second = make();
    let mut web_first = Vec::new();
    let mut api_second = Vec::new();
    for _ in 0..20 {
        web_first.extend(outcomes(&second, &web, 1).await);
        api_second.extend(outcomes(&second, &api, 1).await);
    }
    assert_eq!(api_first, api_second);
    assert_eq!(web_second, web_first);
}

#[tokio::test]
async fn several_rates_coexist_at_their_probabilities() {
    let forge = SimForge::new(vec![SimRepo::healthy("acme/api")]).with_seed(42);
    forge.set_fault_rate(Fault::Permanent, 0.05);
    forge.set_fault_rate(Fault::Transient, 0.10);
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for outcome in outcomes(&forge, &id("acme/api"), 10_000).await {
        *counts.entry(outcome).or_default() += 1;
    }
    let permanent = counts.get("permanent").copied().unwrap_or(0);
    let transient = counts.get("transient").copied().unwrap_or(0);
    assert!((400..=600).contains(&permanent), "{counts:?}");
    assert!((850..=1150).contains(&transient), "{counts:?}");
    assert_eq!(forge.reads(&id("acme/api")) as usize, counts["ok"]);
}

#[tokio::test]
async fn rates_can_be_replaced_removed_and_cleared() {
    let forge = SimForge::new(vec![SimRepo::healthy("acme/api")]);
    let api = id("acme/api");
    forge.set_fault_rate(Fault::Transient, 0.5);
    forge.set_fault_rate(Fault::Transient, 1.0);
    assert_eq!(outcomes(&forge, &api, 3).await, ["transient"; 3], "the later rate replaces the earlier one");
    forge.set_fault_rate(Fault::Transient, 0.0);
    assert_eq!(outcomes(&forge, &api, 3).await, ["ok"; 3]);
    forge.set_fault_rate(Fault::Permanent, 7.0); // clamped to 1
    forge.inject(&api, Fault::Transient, 1);
    assert_eq!(outcomes(&forge, &api, 2).await, ["transient", "permanent"], "injected faults come first");
    forge.inject(&api, Fault::Transient, 5);
    forge.clear_faults();
    forge.set_fault_rate(Fault::Panic, f64::NAN); // NaN counts as 0
    assert_eq!(outcomes(&forge, &api, 2).await, ["ok"; 2]);
}

#[tokio::test]
async fn panic_rate_panics_some_calls() {
    let forge = SimForge::new(vec![SimRepo::healthy("acme/api")]).with_seed(1);
    forge.set_fault_rate(Fault::Panic, 0.25);
    let mut panics = 0;
    for _ in 0..200 {
        let forge = forge.clone();
        match tokio::spawn(async move { forge.snapshot(&id("acme/api")).await }).await {
            Ok(result) => assert!(result.is_ok()),
            Err(err) => {
                assert!(err.is_panic());
                panics += 1;
            }
        }
    }
    assert!((30..=70).contains(&panics), "{panics} panics");
    assert_eq!(forge.reads(&id("acme/api")), 200 - panics);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reads_are_all_counted() {
    let forge = SimForge::fleet(16, 25, 9);
    let repos = forge.discover().await.expect("infallible");
    let tasks: Vec<_> = repos
        .iter()
        .cloned()
        .map(|repo| {
            let forge = forge.clone();
            tokio::spawn(async move {
                for _ in 0..100 {
                    forge.snapshot(&repo).await.expect("known repo");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("no panic");
    }
    assert_eq!(forge.total_reads(), 1600);
    assert!(repos.iter().all(|repo| forge.reads(repo) == 100));
}

#[test]
fn failing_count_rounds_half_up() {
    let table = [(0, 10, 0), (10, 15, 2), (3, 50, 2), (200, 10, 20), (7, 100, 7), (7, 255, 7), (1, 49, 0), (1, 50, 1)];
    for (n, percent, expected) in table {
        assert_eq!(failing_count(n, percent), expected, "n={n} percent={percent}");
    }
}

async fn fleet_snapshots(forge: &SimForge) -> Vec<RepoSnapshot> {
    let mut snapshots = Vec::new();
    for repo in forge.discover().await.expect("infallible") {
        snapshots.push(forge.snapshot(&repo).await.expect("known repo"));
    }
    snapshots
}

fn failing_names(snapshots: &[RepoSnapshot]) -> BTreeSet<String> {
    snapshots.iter().filter(|s| !s.ci.is_green()).map(|s| s.repo.to_string()).collect()
}

#[tokio::test]
async fn fleet_has_exactly_the_failing_share_with_distinct_signatures() {
    let forge = SimForge::fleet(200, 10, 1);
    let snapshots = fleet_snapshots(&forge).await;
    assert_eq!(snapshots.len(), 200);
    assert_eq!(snapshots[0].repo, id("sim/repo-0000"));
    assert_eq!(snapshots[199].repo, id("sim/repo-0199"));
    assert_eq!(failing_names(&snapshots).len(), 20);
    let signatures: BTreeSet<String> =
        snapshots.iter().flat_map(|s| s.ci.failures.iter().map(CiFailure::signature)).collect();
    assert_eq!(signatures.len(), 20, "{signatures:?}");
}

#[tokio::test]
async fn systemic_fleet_shares_one_signature() {
    let forge = SimForge::fleet_systemic(50, 20, 1);
    let snapshots = fleet_snapshots(&forge).await;
    assert_eq!(failing_names(&snapshots).len(), 10);
    let signatures: BTreeSet<String> =
        snapshots.iter().flat_map(|s| s.ci.failures.iter().map(CiFailure::signature)).collect();
    assert_eq!(signatures.into_iter().collect::<Vec<_>>(), ["ci/build/cargo build/build"]);
}

#[tokio::test]
async fn fleet_is_deterministic_per_seed() {
    let names = |seed| async move { failing_names(&fleet_snapshots(&SimForge::fleet(100, 30, seed)).await) };
    assert_eq!(names(5).await, names(5).await);
    assert_ne!(names(5).await, names(6).await);
    let strip_times = |mut snapshots: Vec<RepoSnapshot>| {
        for s in &mut snapshots {
            s.pushed_at =
                s.pushed_at.and_then(|p| s.taken_at.duration_since(p).ok()).map(|ago| SystemTime::UNIX_EPOCH + ago);
            s.taken_at = SystemTime::UNIX_EPOCH;
        }
        snapshots
    };
    let a = strip_times(fleet_snapshots(&SimForge::fleet(50, 10, 5)).await);
    let b = strip_times(fleet_snapshots(&SimForge::fleet(50, 10, 5)).await);
    assert_eq!(a, b);
}

#[tokio::test]
async fn fleet_edges() {
    assert!(SimForge::fleet(0, 50, 1).discover().await.expect("infallible").is_empty());
    assert_eq!(failing_names(&fleet_snapshots(&SimForge::fleet(30, 100, 1)).await).len(), 30);
    assert_eq!(failing_names(&fleet_snapshots(&SimForge::fleet(30, 0, 1)).await).len(), 0);
    let big = SimForge::fleet(10_001, 0, 1).discover().await.expect("infallible");
    assert_eq!(big.first(), Some(&id("sim/repo-00000")));
    assert_eq!(big.last(), Some(&id("sim/repo-10000")));
}

#[tokio::test]
async fn fleet_health_matches_ci_and_looks_realistic() {
    let forge = SimForge::fleet(1000, 10, 11);
    let snapshots = fleet_snapshots(&forge).await;
    for snapshot in &snapshots {
        let health = score(snapshot);
        assert_eq!(health.healthy, snapshot.ci.is_green(), "{snapshot:#?}\n{health:#?}");
    }
    let with_issues = snapshots.iter().filter(|s| !s.open_issues.is_empty()).count();
    let with_alerts = snapshots.iter().filter(|s| s.security_alerts.as_ref().is_some_and(|a| !a.is_empty())).count();
    let without_policy = snapshots.iter().filter(|s| s.has_security_policy == Some(false)).count();
    assert!(with_issues > 500, "{with_issues}");
    assert!((100..300).contains(&with_alerts), "{with_alerts}");
    assert!((50..200).contains(&without_policy), "{without_policy}");
}

#[test]
fn worst_decorated_healthy_repo_stays_healthy() {
    let taken_at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let crash = IssueSummary { number: 100, title: "Crash when the config file is empty".to_owned(), labels: vec![] };
    let repo = SimRepo::healthy("sim/repo-0000")
        .with_alerts(vec![Alert { summary: "x".to_owned(), severity: AlertSeverity::Medium }])
        .with_issues(vec![crash])
        .with_security_policy(Some(false))
        .with_last_push(Some(DAY * 30));
    assert_eq!(score(&repo.snapshot(0, taken_at)).score, 74);
}

#[tokio::test]
async fn a_snapshot_s_times_are_rfc3339_in_json_and_read_back() {
    let forge = SimForge::fleet(1, 0, 3);
    let repo = forge.discover().await.expect("discover").remove(0);
    let snapshot = forge.snapshot(&repo).await.expect("snapshot");
    let json = serde_json::to_value(&snapshot).expect("serialises");
    let taken = json["taken_at"].as_str().expect("text").to_owned();
    assert_eq!(taken, hive_support::rfc3339(snapshot.taken_at));
    assert!(json["pushed_at"].is_null() || json["pushed_at"].as_str().is_some(), "{json}");
    let back: RepoSnapshot = serde_json::from_value(json).expect("reads back");
    assert_eq!(back.repo, snapshot.repo);
    assert_eq!(hive_support::rfc3339(back.taken_at), taken, "the same second");
}
