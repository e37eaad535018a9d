//! `hive serve --cluster` with real processes sharing one fleet through a real nats-server on loopback, against
//! the GitHub emulator: three nodes watch every repository exactly once, a node killed with SIGKILL leaves its share
//! to the others within the lease ttl and a cycle, and no repository ever gets two hive issues (nor a comment or a
//! pull request); nodes cut off from NATS write nothing past their leases' deadlines, stop their pilots, and share
//! the fleet again once it returns.
//! Bad cluster settings are usage errors, and `hive run` refuses `--cluster`.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
    sync::{Arc, Mutex},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use futures::StreamExt;
use hive_cluster::{ClusterConfig, LeaseRecord, Leases, NodeName};
use hive_testkit::{Emulator, JobSpec, Method, NatsServer, RepoSpec, RequestRecord, RunSpec};
use nix::sys::signal::Signal;
use serde_json::Value;

use crate::daemon::{DEADLINE, Daemon, hive_command};

/// The leases' ttl in this test: short, so a killed node's share moves within seconds.
const LEASE_SECS: u64 = 3;

/// Repositories in the fleet of the partition test.
const FLEET: usize = 12;

/// Repositories in the fleet of the three nodes' test, as the GitHub emulator's fleet of a cluster.
const LARGE_FLEET: usize = 60;

/// `acme` with `r00` .. `r11`; the first five fail their tests.
async fn fleet() -> Emulator {
    fleet_of(FLEET).await
}

/// `acme` with `r00` .. `r{n-1}`; the first five fail their tests.
async fn fleet_of(n: usize) -> Emulator {
    let emu = Emulator::start().await;
    let s = emu.state();
    s.add_org("acme");
    for i in 0..n {
        let name = format!("r{i:02}");
        s.add_repo(RepoSpec::new("acme", &name));
        let run = if i < 5 {
            RunSpec::new("ci", "main").outcome("completed", Some("failure")).job(JobSpec::new(
                &format!("suite {i}"),
                "completed",
                Some("failure"),
            ))
        } else {
            RunSpec::new("ci", "main")
        };
        s.add_workflow_run("acme", &name, run);
    }
    emu
}

/// Emergency settings that keep these nodes out of an emergency: their fleets are mostly failing repositories, and
/// a declared emergency would freeze the writes these tests count.
const NO_EMERGENCY: [(&str, &str); 3] = [
    ("HIVE_EMERGENCY_MIN_FLEET", "1000"),
    ("HIVE_EMERGENCY_CRITICAL_MEMBERS", "0"),
    ("HIVE_EMERGENCY_SYSTEMIC_MEMBERS", "0"),
];

/// One node: `hive serve --cluster` with the autonomy loop filing issues, a cycle a second, leases of
/// [`LEASE_SECS`], and no emergency.
pub(crate) async fn node(emu: &Emulator, nats: &NatsServer, dir: &Path, name: &str) -> (Daemon, String) {
    spawn_node(emu, nats, dir, name, LEASE_SECS, &NO_EMERGENCY).await
}

/// [`node`] with leases of `lease_secs`.
async fn node_with_lease(
    emu: &Emulator,
    nats: &NatsServer,
    dir: &Path,
    name: &str,
    lease_secs: u64,
) -> (Daemon, String) {
    spawn_node(emu, nats, dir, name, lease_secs, &NO_EMERGENCY).await
}

/// [`node`] with these environment variables instead of [`NO_EMERGENCY`].
pub(crate) async fn node_with(
    emu: &Emulator,
    nats: &NatsServer,
    dir: &Path,
    name: &str,
    env: &[(&str, &str)],
) -> (Daemon, String) {
    spawn_node(emu, nats, dir, name, LEASE_SECS, env).await
}

async fn spawn_node(
    emu: &Emulator,
    nats: &NatsServer,
    dir: &Path,
    name: &str,
    lease_secs: u64,
    env: &[(&str, &str)],
) -> (Daemon, String) {
    let args = ["serve", "--org", "acme", "--autonomy", "--level", "issue", "--bind", "127.0.0.1:0"];
    let mut cmd = hive_command(&dir.join(name), &args);
    cmd.env("GITHUB_API_URL", emu.url())
        .env("GITHUB_TOKEN", emu.token())
        .env("ORCHESTRATION_INTERVAL", "1")
        .env("HIVE_MAX_ISSUES_PER_HOUR", "1000")
        .env("HIVE_MAX_CONTENT_PER_MINUTE", "1000")
        .env("HIVE_CLUSTER", nats.url())
        .env("HIVE_NODE", name)
        .env("HIVE_CLUSTER_LEASE_SECS", lease_secs.to_string())
        .envs(env.iter().copied());
    let mut daemon = Daemon::spawn(cmd, &dir.join(format!("{name}.stderr.log")));
    let line = daemon.line("the listening line", |l| l.starts_with("hive serve: listening on http://")).await;
    let base = line.trim_start_matches("hive serve: listening on ").trim().to_owned();
    (daemon, base)
}

/// The repositories a node watches now, by its API; empty when it does not answer.
pub(crate) async fn watched(client: &reqwest::Client, base: &str) -> BTreeSet<String> {
    watching(client, base).await.unwrap_or_default()
}

/// The repositories a node watches now, by its API; `None` when it does not answer.
async fn watching(client: &reqwest::Client, base: &str) -> Option<BTreeSet<String>> {
    let response = client.get(format!("{base}/api/repos")).send().await.ok()?;
    let repos = response.json::<Value>().await.ok()?;
    let all = repos["repositories"].as_array()?;
    Some(all.iter().filter_map(|r| r["repo"].as_str().map(str::to_owned)).collect())
}

/// The hive issues (not pull requests) of each repository of [`fleet`] that has any.
fn hive_issues(emu: &Emulator) -> Vec<(String, usize)> {
    hive_issues_of(emu, FLEET)
}

/// The hive issues (not pull requests) of each of the first `n` repositories that has any.
fn hive_issues_of(emu: &Emulator, n: usize) -> Vec<(String, usize)> {
    (0..n)
        .map(|i| format!("r{i:02}"))
        .map(|name| {
            let count = emu
                .state()
                .issues("acme", &name)
                .iter()
                .filter(|issue| !issue.is_pull && issue.labels.iter().any(|l| l == "hive"))
                .count();
            (name, count)
        })
        .filter(|(_, count)| *count > 0)
        .collect()
}

/// Polls `check` every 50 ms until it holds or `within` has passed; whether it held.
pub(crate) async fn poll_until<F: std::future::Future<Output = bool>>(
    within: Duration,
    mut check: impl FnMut() -> F,
) -> bool {
    let until = Instant::now() + within;
    loop {
        if check().await {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What each node watches, once every repository of `all` is watched by exactly one node and every node watches
/// some; `None` if that did not come to pass within `within`, with what they watched last.
async fn shared_once(
    client: &reqwest::Client,
    bases: &[&str],
    all: &BTreeSet<String>,
    within: Duration,
) -> Result<Vec<BTreeSet<String>>, Vec<BTreeSet<String>>> {
    let until = Instant::now() + within;
    loop {
        let mut each = Vec::with_capacity(bases.len());
        for base in bases {
            each.push(watched(client, base).await);
        }
        if exactly_once(&each, all) {
            return Ok(each);
        }
        if Instant::now() >= until {
            return Err(each);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether every repository of `all` is watched by exactly one of the nodes, and every node watches some.
fn exactly_once(each: &[BTreeSet<String>], all: &BTreeSet<String>) -> bool {
    let total: usize = each.iter().map(BTreeSet::len).sum();
    let union: BTreeSet<&String> = each.iter().flatten().collect();
    each.iter().all(|watched| !watched.is_empty())
        && total == all.len()
        && union.len() == all.len()
        && union.into_iter().all(|repo| all.contains(repo))
}

#[tokio::test(flavor = "multi_thread")]
async fn three_nodes_share_the_fleet_and_the_others_take_a_killed_nodes_share() {
    let nats = NatsServer::start().await;
    let emu = fleet_of(LARGE_FLEET).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let client = reqwest::Client::new();
    let all: BTreeSet<String> = (0..LARGE_FLEET).map(|i| format!("acme/r{i:02}")).collect();
    let (a, a_base) = node(&emu, &nats, dir.path(), "node-a").await;
    let (b, b_base) = node(&emu, &nats, dir.path(), "node-b").await;
    let (mut c, c_base) = node(&emu, &nats, dir.path(), "node-c").await;

    // Every repository watched by exactly one node, every node watching some.
    let each = shared_once(&client, &[&a_base, &b_base, &c_base], &all, DEADLINE).await;
    let each = each.unwrap_or_else(|last| panic!("the fleet was not shared out once: {last:?}\nc: {}", c.stderr()));

    // Every failing repository gets its issue, from whichever node holds it.
    let failing: Vec<(String, usize)> = (0..5).map(|i| (format!("r{i:02}"), 1)).collect();
    let filed = poll_until(DEADLINE, || {
        let done = hive_issues_of(&emu, LARGE_FLEET) == failing;
        async move { done }
    })
    .await;
    assert!(filed, "hive issues {:?}, wanted one per failing repository", hive_issues_of(&emu, LARGE_FLEET));

    // kill -9: c releases nothing; its leases lapse after the ttl and the others' next rounds claim them. A cycle
    // later their pilots run. The bound is ttl + a cycle, plus slack for a loaded machine.
    let c_share = each[2].clone();
    let killed = c.signal(Signal::SIGKILL);
    c.exit_within(DEADLINE).await;
    let bound = Duration::from_secs(LEASE_SECS + 1) + Duration::from_secs(20);
    let taken = shared_once(&client, &[&a_base, &b_base], &all, bound).await;
    let taken = taken.unwrap_or_else(|last| {
        panic!("a and b do not share all {LARGE_FLEET} {:?} after c was killed: {last:?}", killed.elapsed())
    });
    assert!(
        c_share.iter().all(|repo| taken[0].contains(repo) || taken[1].contains(repo)),
        "c's share {c_share:?} was not taken over: {taken:?}"
    );

    // A few more cycles over c's former share: never a repository watched by both, still one issue per failing
    // repository, none on the others, no pull request, and no comment made twice.
    let cycle = |client: reqwest::Client, base: String| async move {
        let status: Value = client.get(format!("{base}/api/status")).send().await.ok()?.json().await.ok()?;
        status["cycle"].as_u64()
    };
    let from = cycle(client.clone(), a_base.clone()).await.expect("a's status");
    let (mut overlaps, until) = (BTreeSet::new(), Instant::now() + DEADLINE);
    let moved_on = loop {
        let (on_a, on_b) = (watched(&client, &a_base).await, watched(&client, &b_base).await);
        overlaps.extend(on_a.intersection(&on_b).cloned());
        if cycle(client.clone(), a_base.clone()).await.is_some_and(|now| now >= from + 3) {
            break true;
        }
        if Instant::now() >= until {
            break false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(moved_on, "a ran no three cycles after taking over");
    assert!(overlaps.is_empty(), "watched by a and b at once: {overlaps:?}");
    assert_eq!(hive_issues_of(&emu, LARGE_FLEET), failing, "a second hive issue, or one on a passing repository");
    for i in 0..LARGE_FLEET {
        let name = format!("r{i:02}");
        assert!(emu.state().pulls("acme", &name).is_empty(), "a pull request on {name}");
        // A comment is dated by a marker of its own (`<!-- hive:comment ... -->`): the same marker twice is a
        // comment made twice.
        for issue in emu.state().issues("acme", &name) {
            let comments = emu.state().comments("acme", &name, issue.number);
            let markers: Vec<&str> =
                comments.iter().filter_map(|c| c.find("<!-- hive:comment").map(|at| &c[at..])).collect();
            let distinct: BTreeSet<&str> = markers.iter().copied().collect();
            assert_eq!(distinct.len(), markers.len(), "a comment made twice on {name}#{}: {comments:?}", issue.number);
        }
    }
    drop((a, b));
}

/// The leases' ttl in the partition test: long enough that a pilot reads a repository gone bad, and its steward
/// tries to write, while the node is cut off from NATS but still within its lease.
const PARTITION_LEASE_SECS: u64 = 6;

/// The last write the leases' bucket stored for each repository, as a watcher of the bucket saw it: the node it
/// names (`None` for a release) and when the server stored it, on this process's monotonic clock.
#[derive(Clone, Default)]
struct Stored(Arc<Mutex<BTreeMap<String, LastWrite>>>);

/// The node a lease's last stored write names (`None` for a release), and when the server stored it.
type LastWrite = (Option<String>, Instant);

impl Stored {
    fn snapshot(&self) -> BTreeMap<String, LastWrite> {
        self.0.lock().expect("not poisoned").clone()
    }
}

/// Opens the leases' bucket with the nodes' ttl before they start (so it can be watched from their first claim) and
/// records every write it stores. The watch ends when the server goes; what it saw stays.
async fn watch_leases(nats: &NatsServer) -> (Leases, Stored, tokio::task::JoinHandle<()>) {
    let node = NodeName::new("observer").expect("a valid name");
    let config = ClusterConfig::new(node, Duration::from_secs(PARTITION_LEASE_SECS)).expect("valid settings");
    let client = hive_cluster::connect(&nats.url(), config.node()).await.expect("connect");
    let leases = Leases::open(&client, &config).await.expect("open the leases' bucket");
    let store = async_nats::jetstream::new(client).get_key_value(config.leases_bucket()).await.expect("the bucket");
    let mut watch = store.watch_all().await.expect("watch the leases");
    // The server stamps what it stores with the wall clock; one reading of both clocks maps it onto `Instant`s.
    let (base, base_ns) =
        (Instant::now(), SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_nanos());
    let stored = Stored::default();
    let record = stored.clone();
    let task = tokio::spawn(async move {
        while let Some(Ok(entry)) = watch.next().await {
            let Some(repo) = hive_cluster::repo_of_key(&entry.key) else { continue };
            let offset = entry.created.unix_timestamp_nanos() - base_ns as i128;
            let magnitude = Duration::from_nanos(offset.unsigned_abs() as u64);
            let at = if offset >= 0 { base + magnitude } else { base - magnitude };
            let node = match entry.operation {
                async_nats::jetstream::kv::Operation::Put => {
                    let lease: LeaseRecord = serde_json::from_slice(&entry.value).expect("a lease hive wrote");
                    Some(lease.node.to_string())
                }
                _ => None,
            };
            record.0.lock().expect("not poisoned").insert(repo, (node, at));
        }
    });
    (leases, stored, task)
}

/// The repository a request to the emulator is about, when it is a write (GraphQL is only read here).
fn written_repo(request: &RequestRecord) -> Option<String> {
    if matches!(request.method, Method::GET | Method::HEAD) {
        return None;
    }
    let mut parts = request.path.strip_prefix("/repos/")?.split('/');
    Some(format!("{}/{}", parts.next()?, parts.next()?))
}

/// Each failing repository's hive issue, with its comments: what must never be written twice.
fn filed(emu: &Emulator) -> Vec<(String, String, Vec<String>)> {
    let state = emu.state();
    (0..12)
        .map(|i| format!("r{i:02}"))
        .flat_map(|name| {
            let issues = state.issues("acme", &name);
            issues
                .into_iter()
                .filter(|issue| issue.labels.iter().any(|l| l == "hive"))
                .map(|issue| (name.clone(), issue.title, state.comments("acme", &name, issue.number)))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn nodes_cut_off_from_nats_stop_writing_by_their_lease_deadline_and_converge_when_it_returns() {
    let mut nats = NatsServer::start().await;
    let emu = fleet().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let client = reqwest::Client::new();
    let all: BTreeSet<String> = (0..12).map(|i| format!("acme/r{i:02}")).collect();
    let (observer, stored, watcher) = watch_leases(&nats).await;
    let (a, a_base) = node_with_lease(&emu, &nats, dir.path(), "node-a", PARTITION_LEASE_SECS).await;
    let (b, b_base) = node_with_lease(&emu, &nats, dir.path(), "node-b", PARTITION_LEASE_SECS).await;
    let shared = shared_once(&client, &[&a_base, &b_base], &all, DEADLINE).await;
    if let Err(last) = shared {
        panic!("the fleet was not shared out once: {last:?}\na's stderr: {}", a.stderr());
    }
    let failing = |n: usize| -> Vec<(String, usize)> { (0..n).map(|i| (format!("r{i:02}"), 1)).collect() };
    let first = poll_until(DEADLINE, || {
        let done = hive_issues(&emu) == failing(5);
        async move { done }
    });
    assert!(first.await, "hive issues {:?}, wanted one per failing repository", hive_issues(&emu));

    // NATS goes while both nodes run their cycles; then four more repositories fail, so both have writes to make
    // while cut off, and none of them may be sent: the fence cannot read a lease.
    let stopped = Instant::now();
    nats.stop();
    for i in 5..9 {
        let name = format!("r{i:02}");
        let job = JobSpec::new(&format!("suite {i}"), "completed", Some("failure"));
        emu.state().add_workflow_run(
            "acme",
            &name,
            RunSpec::new("ci", "main").outcome("completed", Some("failure")).job(job),
        );
    }
    // Every lease lapses locally, and with it every pilot stops.
    let idle = poll_until(Duration::from_secs(PARTITION_LEASE_SECS) + DEADLINE, || {
        let (client, a_base, b_base) = (&client, &a_base, &b_base);
        async move {
            let empty = Some(BTreeSet::new());
            watching(client, a_base).await == empty && watching(client, b_base).await == empty
        }
    })
    .await;
    assert!(
        idle,
        "cut off from nats {:?} ago, the nodes still watch a {:?}, b {:?}",
        stopped.elapsed(),
        watching(&client, &a_base).await,
        watching(&client, &b_base).await
    );

    // No write after its repository's lease deadline: each one the emulator took since NATS went is to a repository
    // whose lease the bucket stored at most a ttl before (the holder's own deadline is a margin earlier still).
    let leases = stored.snapshot();
    let ttl = Duration::from_secs(PARTITION_LEASE_SECS);
    for request in emu.state().requests().iter().filter(|r| r.at >= stopped) {
        let Some(repo) = written_repo(request) else { continue };
        let Some((holder, renewed)) = leases.get(&repo) else {
            panic!("{} {} while nats was gone, and no lease of {repo} was ever stored", request.method, request.path);
        };
        assert!(
            holder.is_some() && request.at <= *renewed + ttl,
            "{} {} {:?} after nats went: past the deadline of {holder:?}'s lease of {repo}, stored {:?} before it",
            request.method,
            request.path,
            request.at - stopped,
            request.at.saturating_duration_since(*renewed)
        );
    }
    assert_eq!(hive_issues(&emu), failing(5), "an issue was filed while no node could read a lease");

    // NATS returns on the same port and store: every repository is leased once, each node watches exactly what the
    // bucket says it holds, and the four new failures are filed once each by whoever holds them now.
    nats.restart().await;
    let converged = poll_until(DEADLINE, || {
        let (client, a_base, b_base, observer, all) = (&client, &a_base, &b_base, &observer, &all);
        async move {
            let Ok(leases) = observer.all().await else { return false };
            let held_by = |node: &str| -> BTreeSet<String> {
                leases
                    .iter()
                    .filter(|(_, entry)| entry.record.node.as_str() == node)
                    .map(|(repo, _)| repo.clone())
                    .collect()
            };
            let (of_a, of_b) = (held_by("node-a"), held_by("node-b"));
            let once = leases.keys().eq(all.iter()) && of_a.len() + of_b.len() == all.len();
            once && !of_a.is_empty()
                && !of_b.is_empty()
                && watching(client, a_base).await == Some(of_a)
                && watching(client, b_base).await == Some(of_b)
        }
    })
    .await;
    assert!(
        converged,
        "no convergence after nats returned: leases {:?}, a watches {:?}, b {:?}",
        observer
            .all()
            .await
            .map(|leases| leases.into_iter().map(|(repo, e)| (repo, e.record.node)).collect::<Vec<_>>()),
        watching(&client, &a_base).await,
        watching(&client, &b_base).await
    );
    let resumed = poll_until(DEADLINE, || {
        let done = hive_issues(&emu) == failing(9);
        async move { done }
    });
    assert!(
        resumed.await,
        "hive issues {:?} after nats returned, wanted one for each of r00..r08\na's stderr: {}\nb's stderr: {}",
        hive_issues(&emu),
        a.stderr(),
        b.stderr()
    );

    // A few more cycles of both: nothing filed or commented twice, no pull request at this level.
    let before = filed(&emu);
    let cycle = |base: String| {
        let client = client.clone();
        async move {
            let status: Value = client.get(format!("{base}/api/status")).send().await.ok()?.json().await.ok()?;
            status["cycle"].as_u64()
        }
    };
    let (from_a, from_b) =
        (cycle(a_base.clone()).await.expect("a's status"), cycle(b_base.clone()).await.expect("b's status"));
    let moved_on = poll_until(DEADLINE, || {
        let (a_base, b_base) = (a_base.clone(), b_base.clone());
        let cycle = &cycle;
        async move {
            cycle(a_base).await.is_some_and(|now| now >= from_a + 3)
                && cycle(b_base).await.is_some_and(|now| now >= from_b + 3)
        }
    })
    .await;
    assert!(moved_on, "the nodes ran no three cycles after the fleet converged");
    let after = filed(&emu);
    assert_eq!(after, before, "something was filed or commented again");
    for (repo, title, comments) in &after {
        let distinct: BTreeSet<&String> = comments.iter().collect();
        assert_eq!(distinct.len(), comments.len(), "{repo}'s issue {title:?} has a comment twice: {comments:?}");
    }
    assert!(
        (0..12).all(|i| emu.state().pulls("acme", &format!("r{i:02}")).is_empty()),
        "a pull request at level issue"
    );
    watcher.abort();
    drop((a, b));
}

/// A node whose NATS will not hold its token's budget (here a stream already claims the bucket's subjects) stops
/// with an error saying so, instead of running on and spending what the other nodes count on; it gives back the
/// leader's key it stood for, and writes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_cannot_share_its_tokens_budget_stops_with_a_clear_error() {
    let emu = fleet().await;
    let nats = NatsServer::start().await;
    let jetstream = async_nats::jetstream::new(async_nats::connect(nats.url()).await.expect("connect"));
    let squatter = async_nats::jetstream::stream::Config {
        name: "squatter".to_owned(),
        subjects: vec!["$KV.hive-budget.>".to_owned()],
        ..Default::default()
    };
    jetstream.create_stream(squatter).await.expect("a stream over the budget bucket's subjects");

    let dir = tempfile::tempdir().expect("tempdir");
    let args = ["serve", "--org", "acme", "--autonomy", "--level", "issue", "--bind", "127.0.0.1:0"];
    let mut cmd = hive_command(&dir.path().join("a"), &args);
    cmd.env("GITHUB_API_URL", emu.url())
        .env("GITHUB_TOKEN", emu.token())
        .env("ORCHESTRATION_INTERVAL", "1")
        .env("HIVE_CLUSTER", nats.url())
        .env("HIVE_NODE", "a")
        .env("HIVE_CLUSTER_LEASE_SECS", "60");
    let run = tokio::task::spawn_blocking(move || cmd.output());
    let out = tokio::time::timeout(DEADLINE, run).await.expect("the node stopped").expect("joined").expect("ran");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot share its GitHub token's rate budget"), "{stderr}");
    assert!(!stderr.contains(emu.token()), "the token leaked: {stderr}");
    // Stopped, not dropped: whatever it claimed of the leader's key (60 s) is given back.
    let config = ClusterConfig::new(NodeName::new("observer").expect("valid"), Duration::from_secs(60)).expect("valid");
    let client = hive_cluster::connect(&nats.url(), config.node()).await.expect("connect");
    let store = async_nats::jetstream::new(client).get_key_value(config.leader_bucket()).await.expect("the bucket");
    let mut keys = store.keys().await.expect("the leader's keys");
    let mut held = Vec::new();
    while let Some(Ok(key)) = keys.next().await {
        if let Ok(Some(value)) = store.get(&key).await
            && !value.is_empty()
        {
            held.push(key);
        }
    }
    assert!(held.is_empty(), "the stopped node still leads: {held:?}");
    let writes = emu.state().requests().iter().filter(|r| r.method != Method::GET && r.path != "/graphql").count();
    assert_eq!(writes, 0, "the node wrote to GitHub");
}

#[test]
fn bad_cluster_settings_are_usage_errors_and_run_refuses_cluster() {
    let state = tempfile::tempdir().expect("tempdir");
    let serve = |extra: &[&str]| crate::hive_in(state.path(), &[&["serve", "--org", "acme"], extra].concat());

    let out = serve(&["--cluster", "http://127.0.0.1:4222"]);
    assert_eq!(out.status.code(), Some(2), "{}", crate::stderr(&out));
    assert!(crate::stderr(&out).contains("--cluster 'http://127.0.0.1:4222'"), "{}", crate::stderr(&out));

    let out = serve(&["--cluster", "nats://127.0.0.1:4222", "--node", "node.one"]);
    assert_eq!(out.status.code(), Some(2), "{}", crate::stderr(&out));
    assert!(crate::stderr(&out).contains("invalid node name 'node.one'"), "{}", crate::stderr(&out));

    let out = serve(&["--cluster", "nats://127.0.0.1:4222", "--cluster-lease-secs", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", crate::stderr(&out));
    assert!(crate::stderr(&out).contains("--cluster-lease-secs '0'"), "{}", crate::stderr(&out));

    let workspace = state.path().join("ws");
    std::fs::create_dir_all(&workspace).expect("mkdir");
    let out = crate::hive_in(
        state.path(),
        &["serve", "--workspace", workspace.to_str().expect("utf-8"), "--cluster", "nats://127.0.0.1:4222"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", crate::stderr(&out));
    assert!(crate::stderr(&out).contains("--cluster shares a GitHub fleet"), "{}", crate::stderr(&out));

    // A continuous sync would be pushed by every node: refused until it is shared out like the pilots.
    let config = state.path().join("hive.toml");
    let sync = "[[sync]]\nname = \"license\"\nsource = \"acme/templates\"\npaths = [\"LICENSE\"]\n\
                targets = [\"acme/*\"]\ncontinuous = true\n";
    std::fs::write(&config, sync).expect("write the configuration");
    let out = crate::hive_in(
        state.path(),
        &["--config", config.to_str().expect("utf-8"), "serve", "--org", "acme", "--cluster", "nats://127.0.0.1:4222"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", crate::stderr(&out));
    assert!(crate::stderr(&out).contains("'[[sync]] license' has continuous = true"), "{}", crate::stderr(&out));

    // One process: `hive run` has no such flag.
    let out = crate::hive_in(state.path(), &["run", "--org", "acme", "--cluster", "nats://127.0.0.1:4222"]);
    assert_eq!(out.status.code(), Some(2), "{}", crate::stderr(&out));
    assert!(crate::stderr(&out).contains("--cluster"), "{}", crate::stderr(&out));
}
