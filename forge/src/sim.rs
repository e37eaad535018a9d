//! An in-memory forge with scripted repositories and injectable faults, for tests and `hive demo`.
//!
//! [`SimForge`] answers like a real forge but from memory, so that pilots, the queen and the whole hive can be
//! exercised without a network: CI can change on every read ([`SimRepo::with_script`]), repositories can be
//! changed, archived or removed while the hive runs, and faults (errors, panics, slow answers) can be injected per
//! repository or at a seeded rate across the fleet. Everything random is derived from a seed, so a failing test
//! replays exactly.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use dashmap::DashMap;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::{
    Alert, AlertSeverity, CiFailure, CiState, CiStatus, FailureClass, Forge, ForgeError, InvalidRepoId, IssueSummary,
    RepoId, RepoSnapshot,
};

#[cfg(test)]
mod tests;

/// The forge's name, as [`Forge::name`] reports it and [`ForgeError::NotFound`] quotes it.
const NAME: &str = "sim";

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

/// A simulated repository, built with chained `with_*` calls and handed to [`SimForge::new`] or
/// [`SimForge::add_repo`].
///
/// A new repository is healthy: CI passing, no open issues, no security alerts, pushed a day before each snapshot,
/// a security policy present, default branch `main`.
///
/// ```
/// use hive_forge::{Alert, AlertSeverity, CiStatus, SimRepo};
///
/// let repo = SimRepo::healthy("acme/api")
///     .with_alerts(vec![Alert { summary: "RUSTSEC-2024-0001".into(), severity: AlertSeverity::Low }])
///     .with_script(vec![CiStatus::green(), CiStatus::failing(Vec::new())]);
/// assert_eq!(repo.id().as_str(), "acme/api");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SimRepo {
    id: RepoId,
    default_branch: String,
    archived: bool,
    /// How long before each snapshot the last push happened; `None` when the forge would not tell.
    last_push: Option<Duration>,
    /// CI as seen by successive snapshots: the k-th successful snapshot sees `ci_script[k % len]`.
    ci_script: Vec<CiStatus>,
    issues: Vec<IssueSummary>,
    alerts: Option<Vec<Alert>>,
    security_policy: Option<bool>,
    license: Option<bool>,
    ci_workflow: Option<bool>,
}

impl SimRepo {
    /// A healthy repository with an already validated name.
    pub fn new(id: RepoId) -> SimRepo {
        SimRepo {
            id,
            default_branch: "main".to_owned(),
            archived: false,
            last_push: Some(DAY),
            ci_script: vec![CiStatus::green()],
            issues: Vec::new(),
            alerts: Some(Vec::new()),
            security_policy: Some(true),
            license: Some(true),
            ci_workflow: Some(true),
        }
    }

    /// A healthy repository named `owner/name`, or why the name is not valid.
    pub fn try_new(name: &str) -> Result<SimRepo, InvalidRepoId> {
        RepoId::new(name).map(SimRepo::new)
    }

    /// A healthy repository named by a literal such as `"acme/api"`.
    ///
    /// # Panics
    ///
    /// If `name` is not a valid `owner/name`; meant for names written in the code, like `Url::parse("..").unwrap()`
    /// in examples. Use [`SimRepo::try_new`] for names that come from outside.
    pub fn healthy(name: &str) -> SimRepo {
        match SimRepo::try_new(name) {
            Ok(repo) => repo,
            Err(err) => panic!("SimRepo::healthy takes a literal repository name: {err}"),
        }
    }

    /// A repository whose CI fails in one test job (`ci/test/cargo test/test`), otherwise healthy.
    ///
    /// # Panics
    ///
    /// If `name` is not a valid `owner/name`, like [`SimRepo::healthy`].
    pub fn failing(name: &str) -> SimRepo {
        match SimRepo::try_new(name) {
            Ok(repo) => repo.with_failure(test_failure("test")),
            Err(err) => panic!("SimRepo::failing takes a literal repository name: {err}"),
        }
    }

    /// The repository's name.
    pub fn id(&self) -> &RepoId {
        &self.id
    }

    /// Adds a failed job: CI becomes constantly failing with every failure added so far (a script set earlier is
    /// replaced).
    pub fn with_failure(mut self, failure: CiFailure) -> SimRepo {
        let mut failures = match self.ci_script.as_slice() {
            [only] if only.state == CiState::Failing => only.failures.clone(),
            _ => Vec::new(),
        };
        failures.push(failure);
        self.ci_script = vec![CiStatus::failing(failures)];
        self
    }

    /// Sets CI to the same status for every snapshot.
    pub fn with_ci(mut self, ci: CiStatus) -> SimRepo {
        self.ci_script = vec![ci];
        self
    }

    /// Makes CI change from read to read: the k-th successful snapshot sees `script[k % script.len()]`.
    ///
    /// An empty script means CI is [`CiState::Unknown`].
    pub fn with_script(mut self, script: Vec<CiStatus>) -> SimRepo {
        self.ci_script = script;
        self
    }

    /// Sets the open security alerts.
    pub fn with_alerts(mut self, alerts: Vec<Alert>) -> SimRepo {
        self.alerts = Some(alerts);
        self
    }

    /// Makes security alerts invisible, as on a forge that is not permitted to read them.
    pub fn with_unknown_alerts(mut self) -> SimRepo {
        self.alerts = None;
        self
    }

    /// Sets the open issues.
    pub fn with_issues(mut self, issues: Vec<IssueSummary>) -> SimRepo {
        self.issues = issues;
        self
    }

    /// Marks the repository archived.
    pub fn archived(mut self) -> SimRepo {
        self.archived = true;
        self
    }

    /// Sets whether a security policy is present; `None` when the forge would not tell.
    pub fn with_security_policy(mut self, present: Option<bool>) -> SimRepo {
        self.security_policy = present;
        self
    }

    /// Sets whether a license is present; `None` when the forge would not tell.
    pub fn with_license(mut self, present: Option<bool>) -> SimRepo {
        self.license = present;
        self
    }

    /// Sets whether CI is configured; `None` when the forge would not tell.
    pub fn with_ci_workflow(mut self, present: Option<bool>) -> SimRepo {
        self.ci_workflow = present;
        self
    }

    /// Sets how long before each snapshot the last push happened; `None` when the forge would not tell.
    pub fn with_last_push(mut self, ago: Option<Duration>) -> SimRepo {
        self.last_push = ago;
        self
    }

    /// Sets the default branch's name.
    pub fn with_default_branch(mut self, branch: impl Into<String>) -> SimRepo {
        self.default_branch = branch.into();
        self
    }

    /// The snapshot that the `k`-th successful read taken at `now` returns.
    fn snapshot(&self, k: u64, now: SystemTime) -> RepoSnapshot {
        let ci = match self.ci_script.len() {
            0 => CiStatus { state: CiState::Unknown, failures: Vec::new() },
            len => {
                let index = usize::try_from(k % len as u64).expect("an index below a slice's length fits in usize");
                self.ci_script[index].clone()
            }
        };
        RepoSnapshot {
            repo: self.id.clone(),
            taken_at: now,
            default_branch: self.default_branch.clone(),
            archived: self.archived,
            // A push "longer ago than the epoch" cannot be represented; it is as good as unknown.
            pushed_at: self.last_push.and_then(|ago| now.checked_sub(ago)),
            ci,
            open_issues: self.issues.clone(),
            security_alerts: self.alerts.clone(),
            has_security_policy: self.security_policy,
            has_license: self.license,
            has_ci_workflow: self.ci_workflow,
            local: None,
            github: None,
            sync_drift: None,
        }
    }
}

/// A fault that [`SimForge`] can inject into a [`Forge::snapshot`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Fault {
    /// The call returns [`ForgeError::Transient`].
    Transient,
    /// The call returns [`ForgeError::Permanent`].
    Permanent,
    /// The call panics with a message starting with `injected panic`.
    Panic,
    /// The call sleeps (on tokio's clock, so paused time works) and then answers as usual.
    Delay(Duration),
}

/// An in-memory [`Forge`] named `sim`, for tests and `hive demo`.
///
/// Clones share one state (it lives behind an [`Arc`]), so a test keeps a clone to change repositories, inject
/// faults and count reads while pilots hold others. All methods take `&self` and are safe to call from any thread.
///
/// Snapshots are read in this order: the call is counted in [`SimForge::attempts`]; a fault queued with
/// [`SimForge::inject`] applies, or else one drawn from the rates set with [`SimForge::set_fault_rate`]; then an
/// unknown or removed repository is [`ForgeError::NotFound`]; else the snapshot is returned and counted in
/// [`SimForge::reads`].
///
/// ```
/// use hive_forge::{Fault, Forge, RepoId, SimForge, SimRepo};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let forge = SimForge::new(vec![SimRepo::healthy("acme/api")]);
/// let api = RepoId::new("acme/api").unwrap();
/// forge.inject(&api, Fault::Transient, 1);
/// assert!(forge.snapshot(&api).await.unwrap_err().is_transient());
/// assert!(forge.snapshot(&api).await.is_ok());
/// assert_eq!((forge.attempts(&api), forge.reads(&api)), (2, 1));
/// # });
/// ```
#[derive(Clone)]
pub struct SimForge {
    shared: Arc<Shared>,
}

struct Shared {
    repos: DashMap<RepoId, Served>,
    /// Per-repository counters and queued faults; kept apart from `repos` so that they survive removal and also
    /// exist for repositories that were never added.
    probes: DashMap<RepoId, Probe>,
    /// Fault rates in the order they were set, each with its probability.
    rates: Mutex<Vec<(Fault, f64)>>,
    seed: AtomicU64,
    total_attempts: AtomicU64,
    total_reads: AtomicU64,
}

struct Served {
    repo: SimRepo,
    /// Successful snapshots since the CI script was set: the position in the script.
    served: u64,
}

#[derive(Default)]
struct Probe {
    attempts: u64,
    reads: u64,
    queued: VecDeque<Fault>,
}

impl SimForge {
    /// A forge serving the given repositories, with fault seed 0; a later repository replaces an earlier one of the
    /// same name.
    pub fn new(repos: Vec<SimRepo>) -> SimForge {
        let forge = SimForge {
            shared: Arc::new(Shared {
                repos: DashMap::new(),
                probes: DashMap::new(),
                rates: Mutex::new(Vec::new()),
                seed: AtomicU64::new(0),
                total_attempts: AtomicU64::new(0),
                total_reads: AtomicU64::new(0),
            }),
        };
        for repo in repos {
            forge.add_repo(repo);
        }
        forge
    }

    /// Sets the seed that fault rates are drawn from (see [`SimForge::set_fault_rate`]).
    pub fn with_seed(self, seed: u64) -> SimForge {
        self.shared.seed.store(seed, Ordering::Relaxed);
        self
    }

    /// A fleet of `n` repositories named `sim/repo-0000`, `sim/repo-0001`, ... (more digits past 10,000, so that
    /// names sort in index order), of which `round(n * failing_percent / 100)` fail CI.
    ///
    /// Which repositories fail is chosen from `seed`, which also seeds fault rates. Every failing repository fails
    /// with a different signature, so the fleet does not look like one systemic failure; see
    /// [`SimForge::fleet_systemic`] for that. For realism, repositories also get some ordinary open issues, an
    /// occasional crash report, occasional low or medium security alerts and a missing security policy now and
    /// then, never enough to make a repository with green CI score below
    /// [`HEALTHY_THRESHOLD`](crate::HEALTHY_THRESHOLD), while a failing one always scores below it. A
    /// `failing_percent` above 100 counts as 100.
    pub fn fleet(n: usize, failing_percent: u8, seed: u64) -> SimForge {
        SimForge::build_fleet(n, failing_percent, seed, false)
    }

    /// Like [`SimForge::fleet`], but every failing repository fails with the same signature
    /// (`ci/build/cargo build/build`), as when a new toolchain release breaks the whole fleet at once.
    pub fn fleet_systemic(n: usize, failing_percent: u8, seed: u64) -> SimForge {
        SimForge::build_fleet(n, failing_percent, seed, true)
    }

    fn build_fleet(n: usize, failing_percent: u8, seed: u64, systemic: bool) -> SimForge {
        let mut rng = SmallRng::seed_from_u64(seed);
        let failing: HashSet<usize> =
            rand::seq::index::sample(&mut rng, n, failing_count(n, failing_percent)).into_iter().collect();
        let width = n.saturating_sub(1).to_string().len().max(4);
        let repos = (0..n)
            .map(|i| {
                let id = RepoId::new(format!("sim/repo-{i:0width$}")).expect("'sim/repo-' and digits is a valid name");
                let repo = decorate(SimRepo::new(id), &mut rng);
                match (failing.contains(&i), systemic) {
                    (false, _) => repo,
                    (true, true) => repo.with_failure(CiFailure {
                        workflow: "ci".to_owned(),
                        job: "build".to_owned(),
                        step: Some("cargo build".to_owned()),
                        class: FailureClass::Build,
                        run: None,
                    }),
                    (true, false) => repo.with_failure(distinct_failure(i)),
                }
            })
            .collect();
        SimForge::new(repos).with_seed(seed)
    }

    /// Adds a repository, or replaces the one of the same name (restarting its CI script).
    pub fn add_repo(&self, repo: SimRepo) {
        self.shared.repos.insert(repo.id.clone(), Served { repo, served: 0 });
    }

    /// Removes a repository: it is no longer discovered and its snapshots are [`ForgeError::NotFound`]. Returns
    /// whether it was there. Its counters are kept.
    pub fn remove_repo(&self, repo: &RepoId) -> bool {
        self.shared.repos.remove(repo).is_some()
    }

    /// Sets CI to the same status for every following snapshot.
    pub fn set_ci(&self, repo: &RepoId, ci: CiStatus) -> Result<(), ForgeError> {
        self.set_script(repo, vec![ci])
    }

    /// Replaces the CI script (see [`SimRepo::with_script`]); the next snapshot sees its first entry.
    pub fn set_script(&self, repo: &RepoId, script: Vec<CiStatus>) -> Result<(), ForgeError> {
        self.update(repo, |served| {
            served.repo.ci_script = script;
            served.served = 0;
        })
    }

    /// Replaces the open security alerts.
    pub fn set_alerts(&self, repo: &RepoId, alerts: Vec<Alert>) -> Result<(), ForgeError> {
        self.update(repo, |served| served.repo.alerts = Some(alerts))
    }

    /// Replaces the open issues.
    pub fn set_issues(&self, repo: &RepoId, issues: Vec<IssueSummary>) -> Result<(), ForgeError> {
        self.update(repo, |served| served.repo.issues = issues)
    }

    /// Archives a repository.
    pub fn archive(&self, repo: &RepoId) -> Result<(), ForgeError> {
        self.update(repo, |served| served.repo.archived = true)
    }

    fn update(&self, repo: &RepoId, change: impl FnOnce(&mut Served)) -> Result<(), ForgeError> {
        let mut served = self.shared.repos.get_mut(repo).ok_or_else(|| not_found(repo))?;
        change(&mut served);
        Ok(())
    }

    /// Makes the next `times` snapshots of `repo` hit `fault`, after any faults already queued for it.
    ///
    /// The repository need not exist (yet). Queued faults take precedence over fault rates.
    pub fn inject(&self, repo: &RepoId, fault: Fault, times: u32) {
        let mut probe = self.shared.probes.entry(repo.clone()).or_default();
        probe.queued.extend(std::iter::repeat_n(fault, times as usize));
    }

    /// Makes every snapshot hit `fault` with `probability` (clamped to 0..=1; NaN counts as 0), replacing an earlier
    /// rate for the same fault; 0 removes it.
    ///
    /// Several rates coexist and exclude each other: one number drawn per call picks at most one fault, the rates
    /// stacked in the order they were first set (so if they add up to more than 1, the last ones get what is left).
    /// The draw depends only on the seed, the repository and how many snapshots of it were attempted before, not on
    /// how calls for different repositories interleave, so a concurrent run replays exactly.
    pub fn set_fault_rate(&self, fault: Fault, probability: f64) {
        let probability = if probability.is_nan() { 0.0 } else { probability.clamp(0.0, 1.0) };
        let mut rates = self.shared.rates.lock().unwrap_or_else(PoisonError::into_inner);
        match rates.iter_mut().find(|(existing, _)| *existing == fault) {
            Some(rate) => rate.1 = probability,
            None => rates.push((fault, probability)),
        }
        rates.retain(|(_, probability)| *probability > 0.0);
    }

    /// Removes all fault rates and queued faults.
    pub fn clear_faults(&self) {
        self.shared.rates.lock().unwrap_or_else(PoisonError::into_inner).clear();
        for mut probe in self.shared.probes.iter_mut() {
            probe.queued.clear();
        }
    }

    /// How many snapshots of `repo` returned `Ok`.
    pub fn reads(&self, repo: &RepoId) -> u64 {
        self.shared.probes.get(repo).map_or(0, |probe| probe.reads)
    }

    /// How many snapshots of `repo` were asked for, whatever they returned.
    pub fn attempts(&self, repo: &RepoId) -> u64 {
        self.shared.probes.get(repo).map_or(0, |probe| probe.attempts)
    }

    /// How many snapshots returned `Ok`, over all repositories.
    pub fn total_reads(&self) -> u64 {
        self.shared.total_reads.load(Ordering::Relaxed)
    }

    /// How many snapshots were asked for, over all repositories.
    pub fn total_attempts(&self) -> u64 {
        self.shared.total_attempts.load(Ordering::Relaxed)
    }

    /// Counts an attempt and picks the fault it hits, if any.
    fn next_fault(&self, repo: &RepoId) -> Option<Fault> {
        self.shared.total_attempts.fetch_add(1, Ordering::Relaxed);
        let (attempt, queued) = {
            let mut probe = self.shared.probes.entry(repo.clone()).or_default();
            probe.attempts += 1;
            (probe.attempts - 1, probe.queued.pop_front())
        };
        if queued.is_some() {
            return queued;
        }
        let rates = self.shared.rates.lock().unwrap_or_else(PoisonError::into_inner);
        if rates.is_empty() {
            return None;
        }
        let draw = draw(self.shared.seed.load(Ordering::Relaxed), repo, attempt);
        let mut threshold = 0.0;
        rates.iter().find_map(|&(fault, probability)| {
            threshold += probability;
            (draw < threshold).then_some(fault)
        })
    }
}

#[async_trait::async_trait]
impl Forge for SimForge {
    fn name(&self) -> &str {
        NAME
    }

    async fn discover(&self) -> Result<Vec<RepoId>, ForgeError> {
        let mut repos: Vec<RepoId> = self.shared.repos.iter().map(|entry| entry.key().clone()).collect();
        repos.sort();
        Ok(repos)
    }

    async fn snapshot(&self, repo: &RepoId) -> Result<RepoSnapshot, ForgeError> {
        // No lock is held past this point while panicking or sleeping.
        match self.next_fault(repo) {
            None => {}
            Some(Fault::Transient) => {
                return Err(ForgeError::Transient {
                    repo: repo.clone(),
                    message: "injected transient fault".to_owned(),
                });
            }
            Some(Fault::Permanent) => {
                return Err(ForgeError::Permanent {
                    repo: repo.clone(),
                    message: "injected permanent fault".to_owned(),
                });
            }
            Some(Fault::Panic) => panic!("injected panic while reading '{repo}' from the sim forge"),
            Some(Fault::Delay(delay)) => tokio::time::sleep(delay).await,
        }
        let snapshot = {
            let mut served = self.shared.repos.get_mut(repo).ok_or_else(|| not_found(repo))?;
            served.served += 1;
            served.repo.snapshot(served.served - 1, SystemTime::now())
        };
        self.shared.probes.entry(repo.clone()).or_default().reads += 1;
        self.shared.total_reads.fetch_add(1, Ordering::Relaxed);
        Ok(snapshot)
    }
}

impl fmt::Debug for SimForge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimForge")
            .field("repos", &self.shared.repos.len())
            .field("seed", &self.shared.seed.load(Ordering::Relaxed))
            .field("total_attempts", &self.total_attempts())
            .field("total_reads", &self.total_reads())
            .finish_non_exhaustive()
    }
}

fn not_found(repo: &RepoId) -> ForgeError {
    ForgeError::NotFound { repo: repo.clone(), forge: NAME.to_owned() }
}

/// `round(n * percent / 100)`, rounding halves up, with `percent` capped at 100.
fn failing_count(n: usize, percent: u8) -> usize {
    let percent = u128::from(percent.min(100));
    let count = (n as u128 * percent + 50) / 100;
    usize::try_from(count).expect("at most n, which is a usize")
}

fn test_failure(job: &str) -> CiFailure {
    CiFailure {
        workflow: "ci".to_owned(),
        job: job.to_owned(),
        step: Some("cargo test".to_owned()),
        class: FailureClass::Test,
        run: None,
    }
}

/// A failure whose signature no other repository of the fleet shares: the job is named after the repository index.
fn distinct_failure(index: usize) -> CiFailure {
    let (job, step, class) = match index % 3 {
        0 => ("test", "cargo test", FailureClass::Test),
        1 => ("build", "cargo build", FailureClass::Build),
        _ => ("lint", "cargo clippy", FailureClass::Lint),
    };
    CiFailure {
        workflow: "ci".to_owned(),
        job: format!("{job}-{index}"),
        step: Some(step.to_owned()),
        class,
        run: None,
    }
}

/// Everyday issues; none of them counts as critical for health scoring.
const ORDINARY_ISSUES: [(&str, &str); 6] = [
    ("Improve the error message for a missing config file", "enhancement"),
    ("Typo in README", "documentation"),
    ("Flaky test on Windows", "bug"),
    ("Support ARM builds", "enhancement"),
    ("Update dependencies", "chore"),
    ("Document the release process", "documentation"),
];

const ADVISORIES: [&str; 4] = [
    "RUSTSEC-2024-0006 in shlex",
    "RUSTSEC-2023-0071 in rsa",
    "RUSTSEC-2024-0019 in mio",
    "RUSTSEC-2024-0336 in rustls",
];

/// Adds the everyday noise of a real fleet to a healthy repository.
///
/// The worst this can do to a repository with green CI is a medium alert, a crash report and no security policy
/// together, which still scores 74 (see the fleet tests); it never touches CI.
fn decorate(repo: SimRepo, rng: &mut SmallRng) -> SimRepo {
    let mut issues: Vec<IssueSummary> = (0..rng.random_range(0..=3u64))
        .map(|number| {
            let (title, label) = ORDINARY_ISSUES[rng.random_range(0..ORDINARY_ISSUES.len())];
            IssueSummary { number: number + 1, title: title.to_owned(), labels: vec![label.to_owned()] }
        })
        .collect();
    if rng.random_range(0..20) == 0 {
        issues.push(IssueSummary {
            number: 100,
            title: "Crash when the config file is empty".to_owned(),
            labels: vec!["bug".to_owned(), "crash".to_owned()],
        });
    }
    let alerts = match rng.random_range(0..100) {
        0..15 => vec![alert(AlertSeverity::Low, rng)],
        15..20 => vec![alert(AlertSeverity::Medium, rng)],
        _ => Vec::new(),
    };
    let policy = rng.random_range(0..10) != 0;
    let hours_since_push = rng.random_range(1..30 * 24);
    repo.with_issues(issues)
        .with_alerts(alerts)
        .with_security_policy(Some(policy))
        .with_last_push(Some(Duration::from_secs(hours_since_push * 60 * 60)))
}

fn alert(severity: AlertSeverity, rng: &mut SmallRng) -> Alert {
    Alert { summary: ADVISORIES[rng.random_range(0..ADVISORIES.len())].to_owned(), severity }
}

/// A number in `[0, 1)` that depends only on the seed, the repository and the attempt number.
fn draw(seed: u64, repo: &RepoId, attempt: u64) -> f64 {
    // FNV-1a: stable across Rust versions and platforms, unlike `DefaultHasher`.
    let name_hash = repo
        .as_str()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3));
    let mixed = splitmix64(splitmix64(seed ^ name_hash) ^ attempt);
    SmallRng::seed_from_u64(mixed).random::<f64>()
}

/// One step of SplitMix64, a cheap way to turn related numbers into unrelated ones.
fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
