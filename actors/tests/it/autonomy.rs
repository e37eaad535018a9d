//! The autonomy loop against the GitHub emulator: real HTTP through octocrab, a real SQLite database, real git
//! repositories and a real formatter for fixes. Each test drives cycles by hand with a clock it moves.

use std::{
    process::Command,
    sync::Arc,
    time::{Duration, SystemTime},
};

use hive_actors::{AutonomyConfig, AutonomyReport, Permit, Steward, WriteFence};
use hive_cerebrum::{
    CiClass, CiSignature, EmergencyReason, MemberId, Memory, ScribeHandle,
    governance::{Emergency, Policy, WriteDecision},
};
use hive_forge::{Forge, GitHubAuth, GitHubConfig, GitHubForge, RepoId, RepoSnapshot, Secret};
use hive_testkit::{Emulator, Fault, FaultRule, JobSpec, Method, RepoSpec, RunSpec, git::unformatted_cargo_repo};
use tempfile::TempDir;

mod fixes;

const DAY: Duration = Duration::from_secs(86_400);

struct World {
    emu: Emulator,
    forge: Arc<GitHubForge>,
    state: TempDir,
    steward: Steward,
    scribe: ScribeHandle,
    repos: Vec<RepoId>,
    now: SystemTime,
    config: AutonomyConfig,
}

fn policy() -> Policy {
    let mut policy = Policy::default();
    policy.switches.autonomy = true;
    policy.switches.automerge = true;
    policy
}

impl World {
    async fn new(repos: &[&str]) -> World {
        World::with(repos, policy(), |_| {}).await
    }

    async fn with(repos: &[&str], policy: Policy, tweak: impl FnOnce(&mut AutonomyConfig)) -> World {
        let emu = Emulator::start().await;
        emu.state().add_org("acme");
        let state = tempfile::tempdir().expect("test setup");
        let mut config = AutonomyConfig::new(state.path());
        config.policy = policy;
        config.secrets = vec![emu.token().to_owned()];
        tweak(&mut config);
        let mut github = GitHubConfig::new(GitHubAuth::Token(Secret::new(emu.token())));
        github.api_url = emu.url();
        github.timeout = Duration::from_secs(10);
        // Snapshots over REST: these repositories are read without a discovery, and a git-backed one's clone URL (a
        // directory) is only in REST's repository JSON; GraphQL would give GitHub's `https://github.com/...` address.
        github.graphql_snapshots = false;
        let forge = Arc::new(GitHubForge::new(github).expect("test setup"));
        let scribe = ScribeHandle::spawn(Memory::open(state.path()).expect("test setup")).await.expect("test setup");
        let steward = Steward::new(forge.clone(), scribe.clone(), config.clone());
        // The test clock runs ahead of the wall clock, so it alone decides every window (reservations take the
        // later of the two).
        let now = SystemTime::now() + Duration::from_secs(3_600);
        let mut world = World { emu, forge, state, steward, scribe, repos: Vec::new(), now, config };
        for repo in repos {
            world.add_repo(RepoSpec::new("acme", repo));
        }
        world
    }

    fn add_repo(&mut self, spec: RepoSpec) {
        self.repos.push(RepoId::new(format!("{}/{}", spec.owner, spec.name)).expect("test setup"));
        self.emu.state().add_repo(spec);
    }

    /// A new steward over the same database and forge, as after a restart.
    async fn restart(&mut self) {
        let scribe =
            ScribeHandle::spawn(Memory::open(self.state.path()).expect("test setup")).await.expect("test setup");
        let old = std::mem::replace(&mut self.scribe, scribe.clone());
        old.stop().await;
        self.steward = Steward::new(self.forge.clone(), scribe, self.config.clone());
    }

    async fn snapshots(&self) -> Vec<RepoSnapshot> {
        let mut out = Vec::new();
        for repo in &self.repos {
            out.push(self.forge.snapshot(repo).await.expect("test setup"));
        }
        out
    }

    async fn cycle(&mut self) -> AutonomyReport {
        self.cycle_with(&Emergency::none()).await
    }

    async fn cycle_with(&mut self, emergency: &Emergency) -> AutonomyReport {
        let snapshots = self.snapshots().await;
        self.steward.cycle(&snapshots, emergency, self.now).await.expect("test setup")
    }

    fn fail(&self, repo: &str, job: &str, sha: &str) -> u64 {
        self.emu.state().add_workflow_run(
            "acme",
            repo,
            RunSpec::new("ci", "main").head_sha(sha).outcome("completed", Some("failure")).job(JobSpec::new(
                job,
                "completed",
                Some("failure"),
            )),
        )
    }

    fn pass(&self, repo: &str, sha: &str) -> u64 {
        self.emu.state().add_workflow_run(
            "acme",
            repo,
            RunSpec::new("ci", "main").head_sha(sha).job(JobSpec::new("test", "completed", Some("success"))),
        )
    }

    /// Issues (not pull requests) of a repository.
    fn issues(&self, repo: &str) -> Vec<hive_testkit::IssueRecord> {
        self.emu.state().issues("acme", repo).into_iter().filter(|i| !i.is_pull).collect()
    }

    fn writes(&self, method: Method, path_part: &str) -> usize {
        self.emu.state().requests().iter().filter(|r| r.method == method && r.path.contains(path_part)).count()
    }

    async fn audit_intact(&self) -> usize {
        self.scribe
            .call(|m| m.audit().verify().map_err(|b| format!("{b:?}")))
            .await
            .expect("test setup")
            .expect("test setup")
    }
}

fn lint_failure(w: &World, sha: &str) -> u64 {
    w.emu.state().add_workflow_run(
        "acme",
        "api",
        RunSpec::new("ci", "main").head_sha(sha).outcome("completed", Some("failure")).job(
            JobSpec::new("fmt", "completed", Some("failure")).step("cargo fmt --check", "completed", Some("failure")),
        ),
    )
}

fn pulls(w: &World) -> Vec<hive_testkit::PullRecord> {
    w.emu.state().pulls("acme", "api")
}

fn sha(n: u8) -> String {
    format!("{n:02x}").repeat(20)
}

#[tokio::test]
async fn a_failing_workflow_has_exactly_one_issue_through_its_whole_life() {
    let mut w = World::new(&["api"]).await;
    w.fail("api", "unit tests", &sha(1));

    let report = w.cycle().await;
    let issues = w.issues("api");
    assert_eq!(issues.len(), 1, "{report:?}");
    let issue = &issues[0];
    assert_eq!(issue.title, "CI failing on main: ci / unit tests (test)");
    assert!(issue.labels.contains(&"hive".to_owned()) && issue.labels.contains(&"ci-failure".to_owned()));
    assert!(issue.body.contains("<!-- hive:key "), "{}", issue.body);
    let decision = WriteDecision::parse_html_record(&issue.body).expect("a decision record in the body");
    assert_eq!(decision.repo, "acme/api");

    // Same failure, same day: nothing is written.
    let patches = w.writes(Method::PATCH, "/issues/");
    w.cycle().await;
    assert_eq!(w.issues("api").len(), 1);
    assert_eq!(w.writes(Method::PATCH, "/issues/"), patches);
    assert!(w.emu.state().comments("acme", "api", issue.number).is_empty());

    // The failure moves to another commit: the body is rewritten, no second issue.
    w.fail("api", "unit tests", &sha(2));
    w.cycle().await;
    let issues = w.issues("api");
    assert_eq!(issues.len(), 1);
    assert!(issues[0].body.contains(&sha(2)[..12]), "{}", issues[0].body);
    assert_eq!(w.writes(Method::PATCH, "/issues/"), patches + 1);

    // A day later: one comment, and only one however many cycles run that day.
    w.now += DAY + Duration::from_secs(60);
    w.cycle().await;
    w.cycle().await;
    let comments = w.emu.state().comments("acme", "api", issue.number);
    assert_eq!(comments.len(), 1, "{comments:?}");
    assert!(comments[0].starts_with("Still failing"));

    // Green again the next day: a comment and the issue is closed.
    w.now += DAY + Duration::from_secs(60);
    w.pass("api", &sha(3));
    w.cycle().await;
    let issues = w.issues("api");
    assert_eq!(issues[0].state, "closed");
    assert!(w.emu.state().comments("acme", "api", issue.number).last().unwrap().starts_with("CI is green again"));

    // Failing again: the same issue is reopened, never a second one.
    w.fail("api", "unit tests", &sha(4));
    w.cycle().await;
    let issues = w.issues("api");
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].state, "open");
    assert_eq!(issues[0].number, issue.number);
    assert!(w.audit_intact().await > 0);
}

#[tokio::test]
async fn an_issue_filed_before_the_database_lost_it_is_found_again_by_its_marker() {
    let mut w = World::new(&["api"]).await;
    w.fail("api", "unit tests", &sha(1));
    w.cycle().await;
    assert_eq!(w.issues("api").len(), 1);

    // A fresh database (as if the record of the write never reached the disk).
    let fresh = tempfile::tempdir().unwrap();
    let mut config = w.config.clone();
    config.state_dir = fresh.path().to_path_buf();
    let scribe = ScribeHandle::spawn(Memory::open(fresh.path()).unwrap()).await.unwrap();
    let mut steward = Steward::new(w.forge.clone(), scribe, config);
    let snapshots = w.snapshots().await;
    steward.cycle(&snapshots, &Emergency::none(), w.now).await.unwrap();
    assert_eq!(w.issues("api").len(), 1);
}

#[tokio::test]
async fn a_human_closing_the_issue_during_the_failure_is_respected() {
    let mut w = World::new(&["api"]).await;
    w.fail("api", "unit tests", &sha(1));
    w.cycle().await;
    let number = w.issues("api")[0].number;
    assert!(w.emu.state().set_issue_state("acme", "api", number, "closed"));
    w.cycle().await;
    w.now += DAY * 2;
    w.cycle().await;
    let issues = w.issues("api");
    assert_eq!(issues.len(), 1);
    assert_eq!(issues[0].state, "closed");
    assert!(w.emu.state().comments("acme", "api", number).is_empty());
}

#[tokio::test]
async fn an_infrastructure_failure_is_rerun_once_and_filed_when_it_fails_again() {
    let mut w = World::new(&["api"]).await;
    let run = w.emu.state().add_workflow_run(
        "acme",
        "api",
        RunSpec::new("ci", "main").head_sha(&sha(1)).outcome("completed", Some("failure")).job(JobSpec::new(
            "unit tests",
            "completed",
            Some("timed_out"),
        )),
    );
    w.cycle().await;
    assert_eq!(w.emu.state().reruns("acme", "api"), [run]);
    assert!(w.issues("api").is_empty());

    // While the re-run runs, nothing more happens.
    w.cycle().await;
    assert_eq!(w.emu.state().reruns("acme", "api"), [run]);

    // The second attempt fails too: now it is a CI issue, and the run is not re-run again.
    assert!(w.emu.state().complete_run("acme", "api", run, "timed_out"));
    assert_eq!(w.emu.state().run("acme", "api", run).unwrap().run_attempt, 2);
    w.cycle().await;
    assert_eq!(w.emu.state().reruns("acme", "api"), [run]);
    let issues = w.issues("api");
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert!(issues[0].title.contains("(infrastructure)"));
}

#[tokio::test]
async fn a_runner_lost_under_a_failing_job_is_rerun_once_and_gets_no_issue() {
    let mut w = World::new(&["api", "web", "lib"]).await;
    let exit_1 = "Process completed with exit code 1.";
    let failed =
        |job: JobSpec| RunSpec::new("ci", "main").head_sha(&sha(1)).outcome("completed", Some("failure")).job(job);
    // The runner's shutdown is told only by an annotation: the job and its step say plain `failure`.
    let shutdown = w.emu.state().add_workflow_run(
        "acme",
        "api",
        failed(
            JobSpec::new("unit tests", "completed", Some("failure"))
                .step("Set up job", "completed", Some("success"))
                .step("cargo test", "completed", Some("failure"))
                .annotation(
                    "failure",
                    "The runner has received a shutdown signal. This can happen when the runner service is stopped, \
                     or a manually started runner is canceled.",
                )
                .annotation("failure", exit_1),
        ),
    );
    // A job whose only unsuccessful step was cancelled.
    let cancelled = w.emu.state().add_workflow_run(
        "acme",
        "web",
        failed(
            JobSpec::new("unit tests", "completed", Some("failure"))
                .step("Set up job", "completed", Some("success"))
                .step("cargo test", "completed", Some("cancelled"))
                .step("Upload report", "completed", Some("skipped")),
        ),
    );
    // A real test failure carries the same exit-code annotation and is filed, never re-run.
    w.emu.state().add_workflow_run(
        "acme",
        "lib",
        failed(
            JobSpec::new("unit tests", "completed", Some("failure"))
                .step("cargo test", "completed", Some("failure"))
                .annotation("failure", exit_1),
        ),
    );
    w.cycle().await;
    assert_eq!(w.emu.state().reruns("acme", "api"), [shutdown]);
    assert_eq!(w.emu.state().reruns("acme", "web"), [cancelled]);
    assert!(w.emu.state().reruns("acme", "lib").is_empty());
    assert!(w.issues("api").is_empty() && w.issues("web").is_empty());
    let filed = w.issues("lib");
    assert_eq!(filed.len(), 1, "{filed:?}");
    assert!(filed[0].title.contains("(test)"), "{}", filed[0].title);

    // While the re-runs run, nothing more happens; once they pass, the repositories are green without an issue.
    w.cycle().await;
    for (repo, run) in [("api", shutdown), ("web", cancelled)] {
        assert_eq!(w.emu.state().reruns("acme", repo), [run]);
        assert!(w.emu.state().complete_run("acme", repo, run, "success"));
    }
    w.cycle().await;
    for (repo, run) in [("api", shutdown), ("web", cancelled)] {
        assert_eq!(w.emu.state().reruns("acme", repo), [run], "{repo}");
        assert!(w.issues(repo).is_empty(), "{repo}: {:?}", w.issues(repo));
    }
    assert_eq!(w.issues("lib").len(), 1);
}

#[tokio::test]
async fn during_an_emergency_only_the_one_alert_is_written() {
    let mut w = World::with(&["api", "web", "ops"], policy(), |c| {
        c.alert_repo = Some(RepoId::new("acme/ops").unwrap());
    })
    .await;
    w.fail("api", "unit tests", &sha(1));
    w.fail("web", "unit tests", &sha(1));
    let frozen = Emergency::declared(&[]);
    let report = w.cycle_with(&frozen).await;
    w.cycle_with(&frozen).await;
    assert!(w.issues("api").is_empty() && w.issues("web").is_empty(), "{report:?}");
    let alerts = w.issues("ops");
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert_eq!(alerts[0].title, "hive: ecosystem emergency");
    assert!(report.decisions.iter().any(|d| d.contains("emergency freeze")), "{:?}", report.decisions);

    // Over: the alert is closed and the frozen work happens.
    w.cycle().await;
    assert_eq!(w.issues("ops")[0].state, "closed");
    assert_eq!(w.issues("api").len(), 1);
    assert_eq!(w.issues("web").len(), 1);
}

/// A fence that lets through only the repositories it is told it holds, as a node sharing a fleet would, and
/// remembers what it was asked.
#[derive(Debug, Default)]
struct Holding {
    held: std::sync::Mutex<Vec<String>>,
    asked: std::sync::Mutex<Vec<(String, String)>>,
}

#[async_trait::async_trait]
impl WriteFence for Holding {
    async fn may_write(&self, repo: &str, key: &str) -> Result<Permit, String> {
        self.asked.lock().expect("not poisoned").push((repo.to_owned(), key.to_owned()));
        let held = self.held.lock().expect("not poisoned").iter().any(|r| r == repo);
        let until = tokio::time::Instant::now() + Duration::from_secs(600);
        if held {
            Ok(Permit::new(until, format!("the lease of '{repo}'")))
        } else {
            Err(format!("'{repo}' is leased to another node"))
        }
    }
}

/// A fence that remembers each write it let through, as the fleet's stream of writes does, and refuses it again
/// until it is released; its permits last `lasting`.
#[derive(Debug)]
struct Recording {
    lasting: std::sync::Mutex<Duration>,
    recorded: std::sync::Mutex<Vec<(String, String)>>,
    released: std::sync::Mutex<Vec<(String, String)>>,
}

impl Recording {
    fn lasting(lasting: Duration) -> Recording {
        Recording {
            lasting: std::sync::Mutex::new(lasting),
            recorded: std::sync::Mutex::default(),
            released: std::sync::Mutex::default(),
        }
    }
}

#[async_trait::async_trait]
impl WriteFence for Recording {
    async fn may_write(&self, repo: &str, key: &str) -> Result<Permit, String> {
        let write = (repo.to_owned(), key.to_owned());
        let mut recorded = self.recorded.lock().expect("not poisoned");
        if recorded.contains(&write) {
            return Err(format!("'{key}' was already sent by a node of the fleet"));
        }
        recorded.push(write);
        let lasting = *self.lasting.lock().expect("not poisoned");
        Ok(Permit::new(tokio::time::Instant::now() + lasting, format!("the lease of '{repo}'")))
    }

    async fn released(&self, repo: &str, key: &str, _permit: &Permit) {
        let write = (repo.to_owned(), key.to_owned());
        self.recorded.lock().expect("not poisoned").retain(|w| *w != write);
        self.released.lock().expect("not poisoned").push(write);
    }
}

#[tokio::test]
async fn a_write_held_past_its_permit_is_recorded_as_not_sent_released_and_sent_in_the_next_cycle() {
    let mut w = World::new(&["api"]).await;
    w.fail("api", "unit tests", &sha(1));
    let fence = Arc::new(Recording::lasting(Duration::from_secs(1)));
    w.steward = Steward::new(w.forge.clone(), w.scribe.clone(), w.config.clone()).with_fence(Some(fence.clone()));
    // GitHub answers the issue's creation with a secondary limit of three seconds: the retry would go out after
    // the permit's one second.
    w.emu.state().inject(
        FaultRule::new(Fault::SecondaryRateLimit { retry_after_secs: 3 })
            .method(Method::POST)
            .path_prefix("/repos/acme/api/issues")
            .times(1),
    );

    let report = w.cycle().await;
    assert!(w.issues("api").is_empty(), "sent after its permit ended: {report:?}");
    let limited = w.emu.state().requests().iter().filter(|r| r.method == Method::POST && r.status == 429).count();
    assert_eq!((limited, w.writes(Method::POST, "/issues")), (1, 1), "only the refused first attempt reached github");
    let records = w.scribe.call(|m| m.audit().recent_for("acme/api", 10)).await.expect("scribe").expect("audit");
    let not_sent = records.iter().find(|r| r.result.starts_with("not sent: ")).expect("recorded as not sent");
    assert!(
        not_sent.result.starts_with("not sent: the lease of 'acme/api' ends at ")
            && not_sent.result.ends_with(", before github's rate limit let the write go out"),
        "{}",
        not_sent.result
    );
    let released = fence.released.lock().expect("not poisoned").clone();
    assert_eq!(released.len(), 1, "{released:?}");
    assert_eq!(released[0].0, "acme/api");

    // The next cycle, with a permit that outlasts the limit's window, sends it: the fence forgot the refused write.
    *fence.lasting.lock().expect("not poisoned") = Duration::from_secs(600);
    let report = w.cycle().await;
    assert_eq!(w.issues("api").len(), 1, "{report:?}");
    assert!(w.audit_intact().await > 0);
}

#[tokio::test]
async fn a_write_github_answered_with_success_is_never_released_even_when_its_answer_cannot_be_read() {
    let mut w = World::new(&["api"]).await;
    w.fail("api", "unit tests", &sha(1));
    let fence = Arc::new(Recording::lasting(Duration::from_secs(600)));
    w.steward = Steward::new(w.forge.clone(), w.scribe.clone(), w.config.clone()).with_fence(Some(fence.clone()));
    // A 200 whose body is cut short: the issue may well exist, so the fence must keep its record of the write.
    w.emu.state().inject(
        FaultRule::new(Fault::MalformedBody).method(Method::POST).path_prefix("/repos/acme/api/issues").times(1),
    );
    let report = w.cycle().await;
    assert_eq!(w.writes(Method::POST, "/issues"), 1, "{report:?}");
    assert!(!report.errors.is_empty(), "the unreadable answer is an error: {report:?}");
    assert!(fence.released.lock().expect("not poisoned").is_empty(), "released a write github may have made");
    assert_eq!(fence.recorded.lock().expect("not poisoned").len(), 1);
}

#[tokio::test]
async fn a_fenced_write_is_recorded_as_not_sent_and_made_once_the_fence_allows_it() {
    let mut w = World::new(&["api", "web"]).await;
    w.fail("api", "unit tests", &sha(1));
    w.fail("web", "unit tests", &sha(1));
    let fence = Arc::new(Holding::default());
    fence.held.lock().expect("not poisoned").push("acme/api".to_owned());
    w.steward = Steward::new(w.forge.clone(), w.scribe.clone(), w.config.clone()).with_fence(Some(fence.clone()));

    let report = w.cycle().await;
    assert_eq!(w.issues("api").len(), 1, "{report:?}");
    assert!(w.issues("web").is_empty(), "a fenced write was sent: {:?}", w.issues("web"));
    assert!(
        report.errors.iter().any(|e| e.contains("acme/web") && e.contains("not sent: fenced: 'acme/web' is leased")),
        "{:?}",
        report.errors
    );
    let records = w.scribe.call(|m| m.audit().recent_for("acme/web", 10)).await.expect("scribe").expect("audit");
    assert!(records.iter().any(|r| r.result.starts_with("not sent: fenced")), "{records:?}");

    // Refused again in the next cycle, the write is asked for under the same key: its idempotency key, which
    // names the write and not the cycle, so that another node proposing it asks under that key too.
    w.cycle().await;
    let asked: Vec<String> = fence
        .asked
        .lock()
        .expect("not poisoned")
        .iter()
        .filter(|(r, _)| r == "acme/web")
        .map(|(_, k)| k.clone())
        .collect();
    assert_eq!(asked.len(), 2, "{asked:?}");
    assert_eq!(asked[0], asked[1]);
    assert!(asked[0].contains("acme/web"), "{asked:?}");

    // The lease comes back to this node: the next cycle makes the write, once.
    fence.held.lock().expect("not poisoned").push("acme/web".to_owned());
    w.cycle().await;
    w.cycle().await;
    assert_eq!(w.issues("web").len(), 1);
    assert_eq!(w.issues("api").len(), 1);
    assert!(w.audit_intact().await > 0);
}

#[tokio::test]
async fn an_emergency_declared_again_soon_after_reopens_its_alert_past_a_fence_that_remembers_writes() {
    let mut w = World::with(&["api", "ops"], policy(), |c| {
        c.alert_repo = Some(RepoId::new("acme/ops").unwrap());
    })
    .await;
    let fence = Arc::new(Recording::lasting(Duration::from_secs(600)));
    w.steward = Steward::new(w.forge.clone(), w.scribe.clone(), w.config.clone()).with_fence(Some(fence.clone()));
    let declared = Emergency::declared(&[]);
    w.cycle_with(&declared).await;
    assert_eq!(w.issues("ops").len(), 1);
    w.cycle().await;
    assert_eq!(w.issues("ops")[0].state, "closed");

    // Declared again while the fence still remembers the filing: the reopening is a write of its own.
    let report = w.cycle_with(&declared).await;
    let alerts = w.issues("ops");
    assert_eq!((alerts.len(), alerts[0].state.as_str()), (1, "open"), "{report:?}");
    let keys: Vec<String> = fence.recorded.lock().expect("not poisoned").iter().map(|(_, k)| k.clone()).collect();
    assert_eq!(keys.len(), 3, "filed, closed, reopened: {keys:?}");
    assert!(keys.iter().all(|key| hive_actors::is_alert_write(key)), "{keys:?}");
}

#[tokio::test]
async fn limits_hold_across_restarts_and_are_reported() {
    let mut p = policy();
    p.limits.issues_per_hour = 2;
    let mut w = World::with(&["a", "b", "c", "d"], p, |_| {}).await;
    for repo in ["a", "b", "c", "d"] {
        w.fail(repo, "unit tests", &sha(1));
    }
    let report = w.cycle().await;
    let filed = ["a", "b", "c", "d"].iter().map(|r| w.issues(r).len()).sum::<usize>();
    assert_eq!(filed, 2);
    assert!(report.limits_hit.iter().any(|l| l.contains("issues_per_hour")), "{report:?}");
    let summary = std::fs::read_to_string(w.state.path().join(format!("cycles/{:06}.md", report.cycle))).unwrap();
    assert!(summary.contains("Limits reached"), "{summary}");

    w.restart().await;
    w.cycle().await;
    let filed = ["a", "b", "c", "d"].iter().map(|r| w.issues(r).len()).sum::<usize>();
    assert_eq!(filed, 2, "the limit must survive the restart");

    // An hour later the window has moved.
    w.now += Duration::from_secs(3_601);
    let report = w.cycle().await;
    let filed = ["a", "b", "c", "d"].iter().map(|r| w.issues(r).len()).sum::<usize>();
    assert_eq!(filed, 4, "{report:?}");
}

#[tokio::test]
async fn with_autonomy_off_nothing_is_written_and_every_would_do_is_recorded() {
    let mut w = World::with(&["api"], Policy::default(), |_| {}).await;
    w.fail("api", "unit tests", &sha(1));
    let report = w.cycle().await;
    assert!(w.issues("api").is_empty());
    assert!(!report.would_do.is_empty());
    let writes = w.scribe.call(|m| m.writes().count(&[], None, 0)).await.unwrap().unwrap();
    assert_eq!(writes, 0, "would-do records are not spent");
    assert!(w.audit_intact().await >= 1);
    let backlog: serde_json::Value =
        serde_json::from_slice(&std::fs::read(w.state.path().join("backlog.json")).unwrap()).unwrap();
    assert_eq!(backlog["items"].as_array().unwrap().len(), 1, "{backlog}");
}

#[tokio::test]
async fn hostile_names_are_quoted_and_secrets_redacted_in_what_is_written() {
    let mut w = World::new(&["api"]).await;
    let token = w.emu.token().to_owned();
    let job = format!("test @everyone <!-- x --> `$(rm -rf /)` {token}");
    w.fail("api", &job, &sha(1));
    w.cycle().await;
    let issues = w.issues("api");
    assert_eq!(issues.len(), 1);
    let issue = &issues[0];
    for text in [&issue.title, &issue.body] {
        assert!(!text.contains(&token), "{text}");
    }
    // Titles never notify anyone on GitHub; in bodies a name may appear only inside code spans, which never mention.
    assert!(!outside_code_spans(&issue.body).contains("@everyone"), "{}", issue.body);
    assert!(!outside_code_spans(&issue.body).contains("<!-- x -->"), "{}", issue.body);
    assert!(!issue.title.contains('\n'));
    let export = std::fs::read_to_string(w.state.path().join("backlog.json")).unwrap();
    assert!(!export.contains(&token));
    let mut audit = Vec::new();
    w.scribe
        .call(move |m| m.audit().export_jsonl(&mut audit).map(|_| audit))
        .await
        .unwrap()
        .map(|audit| {
            assert!(!String::from_utf8_lossy(&audit).contains(&token));
        })
        .unwrap();
    // The same hostile failure next cycle is still one issue: the title round-trips exactly.
    w.cycle().await;
    assert_eq!(w.issues("api").len(), 1);
}

/// The text of a markdown line outside its code spans (a run of backticks opens a span closed by the same run).
fn outside_code_spans(markdown: &str) -> String {
    let mut out = String::new();
    for line in markdown.lines() {
        let mut rest = line;
        while let Some(start) = rest.find('`') {
            out.push_str(&rest[..start]);
            let run = rest[start..].chars().take_while(|c| *c == '`').count();
            let fence = "`".repeat(run);
            let after = &rest[start + run..];
            match after.find(&fence) {
                Some(end) => rest = &after[end + run..],
                None => {
                    rest = after;
                    break;
                }
            }
        }
        out.push_str(rest);
        out.push('\n');
    }
    out
}

/// An engine that only ever proposes an issue, at the risk it names.
struct IssuesOnly(hive_cerebrum::Risk);

#[async_trait::async_trait]
impl hive_cerebrum::ProposalEngine for IssuesOnly {
    fn name(&self) -> &str {
        "issues-only"
    }
    async fn propose(
        &self,
        seed: &hive_cerebrum::Seed,
    ) -> Result<Vec<hive_cerebrum::Proposal>, hive_cerebrum::EngineError> {
        Ok(vec![hive_cerebrum::Proposal {
            action: hive_cerebrum::ActionKind::OpenIssue.into(),
            title: seed.signal.title.clone(),
            rationale: "test".into(),
            risk: self.0,
            engine: "issues-only".into(),
        }])
    }
}

/// An engine that always fails.
struct Broken;

#[async_trait::async_trait]
impl hive_cerebrum::ProposalEngine for Broken {
    fn name(&self) -> &str {
        "broken"
    }
    async fn propose(
        &self,
        _seed: &hive_cerebrum::Seed,
    ) -> Result<Vec<hive_cerebrum::Proposal>, hive_cerebrum::EngineError> {
        Err(hive_cerebrum::EngineError { engine: "broken".into(), message: "model unavailable".into() })
    }
}

#[tokio::test]
async fn what_is_done_is_what_the_engine_proposed_and_the_rules_stand_in_for_a_broken_one() {
    for (engine, expect_pr) in [
        (Arc::new(IssuesOnly(hive_cerebrum::Risk::Low)) as Arc<dyn hive_cerebrum::ProposalEngine>, false),
        (Arc::new(Broken), true),
    ] {
        let git_root = tempfile::tempdir().unwrap();
        let (bare, head) = unformatted_cargo_repo(git_root.path(), "api", 3);
        let mut w = World::new(&[]).await;
        w.steward = Steward::new(w.forge.clone(), w.scribe.clone(), w.config.clone())
            .with_planner(Arc::new(hive_actors::EnginePlanner(engine)));
        w.add_repo(RepoSpec::new("acme", "api").git_dir(&bare));
        lint_failure(&w, &head);
        let report = w.cycle().await;
        assert_eq!(w.issues("api").len(), 1);
        assert_eq!(pulls(&w).len(), usize::from(expect_pr), "{report:?}");
        if expect_pr {
            // The engine's typed error reaches the report whole, through the planner's error chain.
            let line =
                "acme/api: planner failed (proposal engine 'broken' failed: model unavailable); the rules decide";
            assert!(report.errors.iter().any(|e| e == line), "{:?}", report.errors);
        }
    }
}

#[tokio::test]
async fn an_engine_can_raise_a_write_s_risk_but_never_lower_it() {
    use hive_cerebrum::Risk;
    for (risk, filed) in [(Risk::Low, true), (Risk::Medium, true), (Risk::High, false), (Risk::Critical, false)] {
        let mut w = World::new(&["api"]).await;
        w.steward = Steward::new(w.forge.clone(), w.scribe.clone(), w.config.clone())
            .with_planner(Arc::new(hive_actors::EnginePlanner(Arc::new(IssuesOnly(risk)))));
        w.fail("api", "unit tests", &sha(1));
        let report = w.cycle().await;
        assert_eq!(w.issues("api").len(), usize::from(filed), "{risk:?}: {report:?}");
        // A high-risk issue waits for a human's approval, named by its backlog item.
        assert_eq!(report.awaiting_approval.is_empty(), filed, "{risk:?}: {:?}", report.awaiting_approval);
    }
}

#[tokio::test]
async fn serious_security_alerts_are_backlog_items_and_nothing_is_written_about_them() {
    let mut w = World::new(&["api"]).await;
    w.emu.state().set_dependabot(
        "acme",
        "api",
        hive_testkit::DependabotSpec::Alerts(vec![
            ("critical".into(), "openssl: remote code execution".into()),
            ("low".into(), "left-pad: typo in docs".into()),
        ]),
    );
    w.pass("api", &sha(1));
    w.cycle().await;
    assert!(w.issues("api").is_empty());
    let backlog: serde_json::Value =
        serde_json::from_slice(&std::fs::read(w.state.path().join("backlog.json")).unwrap()).unwrap();
    let items = backlog["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{backlog}");
    assert_eq!(items[0]["type"], "security");
    assert_eq!(items[0]["risk"], "critical");
    assert_eq!(items[0]["priority"], 1);
}
