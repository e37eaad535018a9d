//! The steward as a member of the hive, through the library against the GitHub emulator: what it does rides on
//! direct messages, never on the bus. An emergency declared while it writes stops the writes that follow even when
//! the bus overflows for a reader that never reads; a steward that panics mid-cycle is restarted by the queen and
//! writes nothing twice.

use std::{
    path::Path,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use futures::future::BoxFuture;
use hive::{
    EmergencyConfig, Hive, HiveEvent, RestartPolicy,
    actors::{Autonomy, AutonomyConfig, EnginePlanner, PlanError, Planner},
    cerebrum::{MemberState, MemberStatus, Memory, Proposal, Seed},
    forge::{GitHubAuth, GitHubConfig, GitHubForge, RepoId, Secret},
};
use hive_testkit::{Emulator, JobSpec, Method, RepoSpec, RunSpec};

/// Repositories whose tests fail, each its own way (no systemic failure), in the order the steward tends them.
const FAILING: [&str; 4] = ["r1", "r2", "r3", "r4"];
/// Green repositories; `alerts` takes the emergency alert.
const GREEN: [&str; 3] = ["alerts", "docs", "site"];

async fn fleet() -> Emulator {
    let emu = Emulator::start().await;
    let s = emu.state();
    s.add_org("acme");
    for name in GREEN {
        s.add_repo(RepoSpec::new("acme", name));
        s.add_workflow_run("acme", name, RunSpec::new("ci", "main"));
    }
    for name in FAILING {
        s.add_repo(RepoSpec::new("acme", name));
        let job = JobSpec::new(&format!("{name} tests"), "completed", Some("failure"));
        s.add_workflow_run("acme", name, RunSpec::new("ci", "main").outcome("completed", Some("failure")).job(job));
    }
    emu
}

/// The rules, with `hook` run before each plan and given the call's number (from 1).
struct Hooked {
    calls: AtomicUsize,
    hook: Box<dyn Fn(usize) -> BoxFuture<'static, ()> + Send + Sync>,
}

impl std::fmt::Debug for Hooked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooked").field("calls", &self.calls).finish_non_exhaustive()
    }
}

#[async_trait::async_trait]
impl Planner for Hooked {
    async fn plan(&self, seed: Seed) -> Result<Vec<Proposal>, PlanError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        (self.hook)(call).await;
        EnginePlanner::default().plan(seed).await
    }
}

/// The rules, except that the `at`-th plan panics, once; `panicked` says it did.
fn panicking_at(at: usize, panicked: Arc<AtomicBool>) -> Hooked {
    Hooked {
        calls: AtomicUsize::new(0),
        hook: Box::new(move |call| {
            let panicked = panicked.clone();
            Box::pin(async move {
                if call == at && !panicked.swap(true, Ordering::SeqCst) {
                    panic!("the planner broke");
                }
            })
        }),
    }
}

/// Polls the queen every 10 ms until the steward is in `state` (and `also` holds of it), failing the test after a
/// minute.
async fn steward_becomes(hive: &Hive, state: MemberState, also: impl Fn(&MemberStatus) -> bool) {
    let polled = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let status = hive.status().await.expect("status");
            let steward = status.member("steward").expect("the steward is a member");
            if steward.state == state && also(steward) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    polled.unwrap_or_else(|_| panic!("the steward never became {state}"));
}

/// A hive over the emulator's fleet with autonomy on (limits out of the way), planning through `planner`, no
/// emergency trigger but a declaration by hand, and a bus of `bus` events per subscriber.
async fn hive(emu: &Emulator, state: &Path, planner: Hooked, bus: usize) -> Hive {
    hive_with(emu, state, planner, bus, RestartPolicy::default()).await
}

/// [`hive`] with the steward restarted under `policy`.
async fn hive_with(emu: &Emulator, state: &Path, planner: Hooked, bus: usize, policy: RestartPolicy) -> Hive {
    let repos = GREEN.iter().chain(&FAILING).map(|name| format!("acme/{name}"));
    hive_of(repos, emu, state, planner, bus, policy).await
}

/// [`hive_with`] watching `repos` (`owner/name`).
async fn hive_of(
    repos: impl IntoIterator<Item = String>,
    emu: &Emulator,
    state: &Path,
    planner: Hooked,
    bus: usize,
    policy: RestartPolicy,
) -> Hive {
    let mut github = GitHubConfig::new(GitHubAuth::Token(Secret::new(emu.token())));
    github.api_url = emu.url();
    let forge = Arc::new(GitHubForge::new(github).expect("forge"));
    let mut config = AutonomyConfig::new(state);
    config.policy.switches.autonomy = true;
    config.policy.limits.issues_per_hour = 1_000;
    config.policy.limits.content_per_minute = 1_000;
    config.policy.limits.comments_per_issue_per_day = 1_000;
    config.alert_repo = Some(RepoId::new("acme/alerts").expect("repo"));
    let quiet = EmergencyConfig {
        fleet_health_below: 0.0,
        critical_members: 0,
        critical_security: false,
        systemic_members: 0,
        ..EmergencyConfig::default()
    };
    Hive::builder()
        .repos(repos)
        .emergency(quiet)
        .bus_capacity(bus)
        .autonomy(Autonomy::new(forge, config).planner(Arc::new(planner)).restart_policy(policy))
        .start()
        .await
        .expect("start the hive")
}

/// Polls `done` every 10 ms until it holds, failing the test after `deadline`.
async fn until(deadline: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let polled = tokio::time::timeout(deadline, async {
        while !done() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    polled.unwrap_or_else(|_| panic!("{what}: not within {deadline:?}"));
}

/// The writes (anything but GET) among `requests`, as `METHOD path`.
fn writes(requests: &[hive_testkit::RequestRecord]) -> Vec<String> {
    // A GraphQL query reads, though it travels as a POST.
    requests
        .iter()
        .filter(|r| r.method != Method::GET && r.path != "/graphql")
        .map(|r| format!("{:?} {}", r.method, r.path))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_emergency_declared_mid_cycle_stops_the_writes_that_follow_whatever_the_bus_drops() {
    let emu = Arc::new(fleet().await);
    let state = tempfile::tempdir().expect("tempdir");
    let slot: Arc<OnceLock<Hive>> = Arc::new(OnceLock::new());
    // The request log's length when the declaration had reached the steward.
    let mark = Arc::new(AtomicUsize::new(usize::MAX));
    let planner = Hooked {
        calls: AtomicUsize::new(0),
        hook: Box::new({
            let (slot, mark, emu) = (slot.clone(), mark.clone(), emu.clone());
            move |call| {
                let (slot, mark, emu) = (slot.clone(), mark.clone(), emu.clone());
                Box::pin(async move {
                    // Before the second repository's plan: the first one's issue is written by now.
                    if call != 2 {
                        return;
                    }
                    let hive = slot.get().expect("the hive");
                    hive.declare_emergency("an operator").expect("declare");
                    let steward = hive.steward().expect("the steward").clone();
                    until(Duration::from_secs(10), "the steward hears of the emergency", || steward.emergency().active)
                        .await;
                    mark.store(emu.state().requests().len(), Ordering::SeqCst);
                })
            }
        }),
    };
    let hive = hive(&emu, state.path(), planner, 8).await;
    slot.set(hive.clone()).expect("set once");
    // A subscriber that never reads: the bus drops what it cannot hold for it, and nothing the steward does waits.
    let mut deaf = hive.subscribe();
    hive.start_cycle().expect("cycle");
    until(Duration::from_secs(60), "the steward's report", || hive.autonomy_report().is_some()).await;
    let report = hive.autonomy_report().expect("report");
    hive.shutdown().await.expect("shutdown");

    let requests = emu.state().requests();
    let mark = mark.load(Ordering::SeqCst);
    assert!(mark <= requests.len(), "the planner never declared: {report:?}");
    let before = writes(&requests[..mark]);
    assert!(before.iter().any(|w| w.contains("/repos/acme/r1/issues")), "r1's issue came first: {before:?}");
    let after = writes(&requests[mark..]);
    assert!(!after.is_empty(), "the alert is written during the emergency");
    for write in &after {
        assert!(write.contains(" /repos/acme/alerts/"), "a write after the declaration: {write} in {after:?}");
    }
    for name in &FAILING[1..] {
        assert!(emu.state().issues("acme", name).is_empty(), "{name} got an issue during the emergency");
    }
    assert!(report.emergency, "{report:?}");
    assert!(report.decisions.iter().any(|d| d.contains("emergency")), "{:?}", report.decisions);
    // The deaf subscriber lost the start of the run: the bus overflowed, and the steward did not care.
    let first = deaf.try_recv().expect("the bus keeps the newest events");
    assert!(first.seq > 1, "nothing was dropped (seq {}); the test proves nothing", first.seq);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_steward_that_panics_mid_cycle_is_restarted_and_writes_nothing_twice() {
    let emu = fleet().await;
    let state = tempfile::tempdir().expect("tempdir");
    let panicked = Arc::new(AtomicBool::new(false));
    // After the first repository's writes: the cycle dies halfway.
    let hive = hive(&emu, state.path(), panicking_at(2, panicked.clone()), 4096).await;
    hive.start_cycle().expect("cycle");
    until(Duration::from_secs(60), "the queen restarts the steward", || panicked.load(Ordering::SeqCst)).await;
    steward_becomes(&hive, MemberState::Running, |m| m.restarts >= 1).await;

    assert!(hive.autonomy_report().is_none(), "the first cycle never finished");
    let after_crash = emu.state().issues("acme", "r1").len();
    assert_eq!(after_crash, 1, "r1's issue was written before the panic");

    // Two more cycles: the restarted steward finds its earlier work and finishes the rest, once.
    for cycle in [2, 3] {
        hive.start_cycle().expect("cycle");
        until(Duration::from_secs(60), "the restarted steward's report", || {
            hive.autonomy_report().is_some_and(|r| r.orchestration_cycle == cycle)
        })
        .await;
    }
    hive.shutdown().await.expect("shutdown");
    for name in FAILING {
        let issues = emu.state().issues("acme", name);
        assert_eq!(issues.len(), 1, "{name}: {issues:?}");
        let comments = emu.state().comments("acme", name, issues[0].number);
        let mut markers: Vec<&str> =
            comments.iter().flat_map(|c| c.lines()).filter(|l| l.starts_with("<!-- hive:comment ")).collect();
        let total = markers.len();
        markers.sort_unstable();
        markers.dedup();
        assert_eq!(markers.len(), total, "{name}: a comment written twice: {comments:?}");
    }
    let mut memory = Memory::open_read_only(state.path()).expect("the database");
    memory.audit().verify().expect("the audit chain verifies");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_steward_down_while_the_emergency_cleared_comes_back_unfrozen() {
    let emu = fleet().await;
    let state = tempfile::tempdir().expect("tempdir");
    let planner = panicking_at(1, Arc::new(AtomicBool::new(false)));
    // Two seconds in backoff after a failure: long enough to clear the emergency while no steward runs.
    let mut policy = RestartPolicy::default();
    policy.backoff.min = Duration::from_secs(2);
    policy.backoff.factor = 0.0;
    let hive = hive_with(&emu, state.path(), planner, 4096, policy).await;
    let steward = hive.steward().expect("the steward").clone();
    hive.declare_emergency("an operator").expect("declare");
    until(Duration::from_secs(10), "the steward hears of the emergency", || steward.emergency().active).await;
    hive.start_cycle().expect("cycle");
    steward_becomes(&hive, MemberState::Backoff, |_| true).await;
    hive.clear_emergency().expect("clear");
    steward_becomes(&hive, MemberState::Running, |_| true).await;

    until(Duration::from_secs(10), "the restarted steward hears the emergency is over", || !steward.emergency().active)
        .await;
    // And acts on it: the next cycle files the issues the emergency held back.
    hive.start_cycle().expect("cycle");
    until(Duration::from_secs(60), "the steward's report", || hive.autonomy_report().is_some()).await;
    let report = hive.autonomy_report().expect("report");
    hive.shutdown().await.expect("shutdown");
    assert!(!report.emergency, "{report:?}");
    for name in FAILING {
        assert_eq!(emu.state().issues("acme", name).len(), 1, "{name}: {report:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_kill_switch_stops_and_restarts_the_writes_live() {
    let emu = fleet().await;
    let state = tempfile::tempdir().expect("tempdir");
    let planner = Hooked { calls: AtomicUsize::new(0), hook: Box::new(|_| Box::pin(async {})) };
    let hive = hive(&emu, state.path(), planner, 4096).await;
    hive.set_autonomy(false).expect("a hive with the loop");
    hive.start_cycle().expect("cycle");
    until(Duration::from_secs(60), "the first report", || hive.autonomy_report().is_some()).await;
    let off = hive.autonomy_report().expect("report");
    assert!(off.writes.is_empty(), "switched off, it wrote: {off:?}");
    assert_eq!(off.would_do.len(), FAILING.len(), "{off:?}");
    assert!(writes(&emu.state().requests()).is_empty());

    hive.set_autonomy(true).expect("a hive with the loop");
    hive.start_cycle().expect("cycle");
    until(Duration::from_secs(60), "the second report", || {
        hive.autonomy_report().is_some_and(|r| r.orchestration_cycle == 2)
    })
    .await;
    hive.shutdown().await.expect("shutdown");
    for name in FAILING {
        assert_eq!(emu.state().issues("acme", name).len(), 1, "{name}");
    }
}

/// The rules, planning as they are.
fn rules() -> Hooked {
    Hooked { calls: AtomicUsize::new(0), hook: Box::new(|_| Box::pin(async {})) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_cycle_number_names_a_cycle_everywhere_and_keeps_growing_across_a_restart() {
    let emu = fleet().await;
    let state = tempfile::tempdir().expect("tempdir");
    // Each run does two cycles: the queen's events, the steward's report and what it stored must name them alike.
    let run = |repos: Vec<String>| {
        let (emu, state) = (&emu, state.path());
        async move {
            let hive = hive_of(repos, emu, state, rules(), 4096, RestartPolicy::default()).await;
            let mut events = hive.subscribe();
            let (mut numbers, mut started, mut completed) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..2 {
                hive.start_cycle().expect("cycle");
                let (record, report) = crate::wait_for(&mut events, Duration::from_secs(60), |e| match e {
                    HiveEvent::CycleStarted { cycle, .. } => {
                        started.push(*cycle);
                        None
                    }
                    HiveEvent::CycleCompleted { record } => {
                        completed.push(record.orchestration_cycle);
                        None
                    }
                    HiveEvent::AutonomyCompleted { record, report } => Some((record.clone(), report.clone())),
                    _ => None,
                })
                .await;
                assert_eq!(record.orchestration_cycle, report.cycle, "{report:?}");
                assert_eq!(report.orchestration_cycle, report.cycle, "{report:?}");
                numbers.push(report.cycle);
            }
            let status = hive.status().await.expect("status");
            hive.shutdown().await.expect("shutdown");
            (numbers, started, completed, status)
        }
    };
    let first: Vec<String> = GREEN.iter().chain(&FAILING).map(|name| format!("acme/{name}")).collect();
    let (numbers, started, completed, status) = run(first.clone()).await;
    assert_eq!((numbers, started, completed, status.cycle), (vec![1, 2], vec![1, 2], vec![1, 2], 2));

    // A repository that fails from the second run on: its issue is written in that run's first cycle.
    let s = emu.state();
    s.add_repo(RepoSpec::new("acme", "r5"));
    let job = JobSpec::new("r5 tests", "completed", Some("failure"));
    s.add_workflow_run("acme", "r5", RunSpec::new("ci", "main").outcome("completed", Some("failure")).job(job));
    let second: Vec<String> = first.into_iter().chain(["acme/r5".to_owned()]).collect();
    let (numbers, started, completed, status) = run(second).await;
    assert_eq!(
        (numbers, started, completed, status.cycle),
        (vec![3, 4], vec![3, 4], vec![3, 4], 4),
        "the count continues on the same state directory, in the queen's events as in the steward's reports"
    );

    // What the loop stored names the same cycles: the health history, the summaries and the write keys.
    let mut memory = Memory::open(state.path()).expect("the database");
    let cycles: Vec<u64> = memory.history().of("acme/r1", 10).expect("history").iter().map(|h| h.0).collect();
    assert_eq!(cycles, [4, 3, 2, 1]);
    assert_eq!(memory.history().last_cycle().expect("counter"), 4);
    let mut summaries: Vec<String> = std::fs::read_dir(state.path().join("cycles"))
        .expect("cycles/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".json"))
        .collect();
    summaries.sort();
    assert_eq!(summaries, ["000001.json", "000002.json", "000003.json", "000004.json"]);
    drop(memory);
    let db = rusqlite::Connection::open(state.path().join("hive.db")).expect("open the database");
    let keys: Vec<(String, String)> = db
        .prepare("SELECT repo, key FROM writes")
        .expect("query")
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("rows")
        .collect::<Result<_, _>>()
        .expect("rows");
    let cycle_of = |repo: &str| -> Vec<&str> {
        keys.iter().filter(|(r, _)| r == repo).filter_map(|(_, k)| k.rsplit_once(":c").map(|(_, c)| c)).collect()
    };
    assert!(!cycle_of("acme/r1").is_empty() && cycle_of("acme/r1").iter().all(|c| *c == "1"), "{keys:?}");
    assert!(!cycle_of("acme/r5").is_empty() && cycle_of("acme/r5").iter().all(|c| *c == "3"), "{keys:?}");
}
