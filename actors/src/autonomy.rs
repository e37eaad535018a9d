//! The governed autonomy loop: after each orchestration cycle the steward senses the pilots' snapshots, thinks
//! (scores, upserts the backlog ledger, plans), acts through governance, verifies its pull requests and re-runs,
//! ships what is green and allowed, and learns (cycle summary, health history, `backlog.json`).
//!
//! Everything it knows lives in the database behind the scribe, and everything it did can be found again on GitHub
//! by a hidden marker, a deterministic branch name or a run's attempt number, so a process killed at any point
//! never writes anything twice: before each write the steward looks for its own earlier work on the forge.

mod actor;
mod alert;
mod case;
mod ci;
mod filed;
mod fixes;
mod gate;
mod learn;
mod plan;
mod step;
mod text;

use std::{
    collections::{BTreeMap, HashMap},
    path::PathBuf,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use hive_cerebrum::{
    AuditEntry, BacklogItem, ItemKind, ItemStatus, Memory, MemoryError, Redactor, Risk, ScribeError, ScribeHandle,
    WriteState,
    governance::{ActionKind, ActionLevel, Emergency, Policy},
    quote,
};
use hive_forge::{
    Capabilities, CiFailure, FailureClass, ForgeWriter, HealthBreakdown, IssueDetail, RepoId, RepoSnapshot, WriteError,
};
use tokio::sync::watch;

use self::case::{CaseState, FixCase, FixState, IssueCase, IssueState};

pub use hive_cerebrum::AutonomyReport;

pub use self::{
    actor::{Autonomy, STEWARD_ID, StewardBuilder, StewardLink, StewardMessage},
    alert::is_alert_write,
    filed::{Filed, FiledKind, open_filed},
    gate::{Permit, WriteFence},
    plan::{EnginePlanner, OrchPlanner, PlanError, Planner},
    text::is_valid_owner,
};

/// The label every issue hive files carries; with the exact title and the hidden marker it finds them again.
pub const HIVE_LABEL: &str = "hive";
/// The label that asks a human to take over.
pub const NEEDS_HUMAN_LABEL: &str = "needs-human";

/// How the steward behaves.
#[derive(Debug, Clone)]
pub struct AutonomyConfig {
    /// Action level, switches and limits.
    pub policy: Policy,
    /// GitHub logins or `org/team`s mentioned when hive gives up on a fix.
    pub owners: Vec<String>,
    /// Where the one ecosystem-wide emergency alert issue is filed.
    pub alert_repo: Option<RepoId>,
    /// Failed fix attempts before `needs-human`.
    pub escalate_after: u32,
    /// The state directory: `backlog.json` and `cycles/`.
    pub state_dir: PathBuf,
    /// The limit for each command of a fix (clone, formatter, push).
    pub fix_timeout: Duration,
    /// Who the audit trail says acted.
    pub actor: String,
    /// Secret values to redact from everything written (tokens).
    pub secrets: Vec<String>,
    /// The action level and owners where they differ for some repositories or owners.
    pub overrides: Overrides,
    /// How many cycles' summaries `<state>/cycles/` keeps (the newest); `None` keeps them all.
    pub keep_cycles: Option<usize>,
}

/// What differs for some repositories: the settings of one repository (`owner/name`) first, then those of its owner
/// (an organisation or a user), then the configuration's own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// By repository, `owner/name`.
    pub repos: BTreeMap<String, Override>,
    /// By owner.
    pub owners: BTreeMap<String, Override>,
}

/// The settings one repository or owner overrides; `None` keeps the wider one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Override {
    /// How far hive may go there.
    pub level: Option<ActionLevel>,
    /// Who is mentioned when hive gives up on a fix there (validated logins or teams).
    pub owners: Option<Vec<String>>,
}

impl Overrides {
    /// The first of the repository's and its owner's overrides that sets what `pick` reads.
    fn find<'a, T>(&'a self, repo: &str, pick: impl Fn(&'a Override) -> Option<T>) -> Option<T> {
        let owner = repo.split_once('/').map(|(owner, _)| owner);
        self.repos.get(repo).and_then(&pick).or_else(|| owner.and_then(|o| self.owners.get(o)).and_then(&pick))
    }

    /// The action level for `repo` (`owner/name`), `level` unless overridden.
    pub fn level(&self, repo: &str, level: ActionLevel) -> ActionLevel {
        self.find(repo, |o| o.level).unwrap_or(level)
    }

    /// The owners to mention for `repo`, `owners` unless overridden.
    pub fn owners<'a>(&'a self, repo: &str, owners: &'a [String]) -> &'a [String] {
        self.find(repo, |o| o.owners.as_deref()).unwrap_or(owners)
    }

    /// The policy a write to `repo` is decided under now: `base` at the repository's level, with the kill switch as
    /// the operator last set it (`switch`), frozen when `emergency` is declared and open to recovery from its
    /// causes. The steward's gate and the spawner's merges decide under it alike.
    pub fn policy(&self, base: &Policy, repo: &str, switch: Option<bool>, emergency: &Emergency) -> Policy {
        let mut policy = base.clone();
        policy.level = self.level(repo, policy.level);
        if let Some(on) = switch {
            policy.switches.autonomy = on;
        }
        policy.emergency.active |= emergency.active;
        policy.emergency.recovery_signatures.extend(emergency.recovery_signatures.iter().cloned());
        policy
    }
}

impl AutonomyConfig {
    /// Defaults for a state directory: the default policy (autonomy off until switched on), escalation after two
    /// failed fixes, ten minutes per fix command.
    pub fn new(state_dir: impl Into<PathBuf>) -> AutonomyConfig {
        AutonomyConfig {
            policy: Policy::default(),
            owners: Vec::new(),
            alert_repo: None,
            escalate_after: 2,
            state_dir: state_dir.into(),
            fix_timeout: Duration::from_secs(600),
            actor: "steward".to_owned(),
            secrets: Vec::new(),
            overrides: Overrides::default(),
            keep_cycles: None,
        }
    }
}

/// A failure of the loop itself (the database); forge errors are per repository and go into the report.
#[derive(Debug, thiserror::Error)]
pub enum AutonomyError {
    /// The database refused.
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// The scribe is gone.
    #[error(transparent)]
    Scribe(#[from] ScribeError),
}

/// One repository as its pilot saw it: the snapshot and the health scored from it, once, by the pilot.
#[derive(Debug, Clone)]
pub struct Observation {
    /// What the forge said.
    pub snapshot: Arc<RepoSnapshot>,
    /// Its score, with the breakdown.
    pub health: HealthBreakdown,
    /// The orchestration cycle the read answered, if it answered one (a pilot's own timer answers none).
    pub cycle: Option<u64>,
}

impl Observation {
    /// An observation of `snapshot`, scored now (what a pilot does once per read).
    pub fn new(snapshot: RepoSnapshot, cycle: Option<u64>) -> Observation {
        let health = hive_forge::score(&snapshot);
        Observation { snapshot: Arc::new(snapshot), health, cycle }
    }
}

/// The autonomy loop's driver: one per hive, run once per orchestration cycle by the steward actor
/// ([`StewardBuilder`]), or called directly.
pub struct Steward {
    forge: Arc<dyn ForgeWriter>,
    /// What the forge has (a local workspace: branches only).
    caps: Capabilities,
    scribe: ScribeHandle,
    config: AutonomyConfig,
    redactor: Redactor,
    planner: Arc<dyn Planner>,
    /// The issues and fixes hive made on the forge, as the database said at the start of the cycle (read once, not
    /// per repository).
    known: Known,
    /// The hive issues of each repository, read at the start of the cycle (a repository missing here is read when
    /// it is reached).
    prefetched: HashMap<String, Vec<IssueDetail>>,
    /// Each scored repository's level, in the order of `report.health`, for the health history.
    levels: Vec<&'static str>,
    report: AutonomyReport,
    /// The emergency as the queen says it is now: whether writes are frozen and which causes recovery may answer.
    /// Read before every write, so a declaration mid-cycle stops the writes that follow it.
    emergency: watch::Receiver<Emergency>,
    /// Where [`Steward::cycle`] puts the emergency it is given, when nobody else tells it (no queen).
    own_emergency: Option<watch::Sender<Emergency>>,
    /// True once the hive stops: no planning, fix or write starts after it.
    halt: watch::Receiver<bool>,
    /// The kill switch as set live, overriding the configured switch when set.
    switch: watch::Receiver<Option<bool>>,
    /// While the steward acts on one failure's proposals: the risk the engine gave each proposed kind of write, below
    /// which governance does not see it (an engine may raise a write's risk, never lower it).
    risk_floor: Vec<(ActionKind, Risk)>,
    /// The last check before each write, when writing is shared with other processes.
    fence: Option<Arc<dyn WriteFence>>,
    now: SystemTime,
    now_unix: i64,
}

impl std::fmt::Debug for Steward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Steward").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Steward {
    /// A steward writing through `forge` and keeping its state through `scribe`.
    pub fn new(forge: Arc<dyn ForgeWriter>, scribe: ScribeHandle, config: AutonomyConfig) -> Steward {
        let caps = forge.capabilities();
        let redactor = Redactor::new(config.secrets.clone());
        let (own_emergency, emergency) = watch::channel(Emergency::none());
        Steward {
            forge,
            caps,
            scribe,
            config,
            redactor,
            planner: Arc::new(EnginePlanner::default()),
            known: Known::default(),
            prefetched: HashMap::new(),
            levels: Vec::new(),
            report: AutonomyReport::default(),
            emergency,
            own_emergency: Some(own_emergency),
            risk_floor: Vec::new(),
            fence: None,
            halt: watch::Sender::new(false).subscribe(),
            switch: watch::Sender::new(None).subscribe(),
            now: UNIX_EPOCH,
            now_unix: 0,
        }
    }

    /// Takes proposals from `planner` instead of calling the rule engine in place (for example from the queen's
    /// ORCHs, [`OrchPlanner`]).
    pub fn with_planner(mut self, planner: Arc<dyn Planner>) -> Steward {
        self.planner = planner;
        self
    }

    /// Checks `fence` right before every write it sends (after governance and the reservation).
    pub fn with_fence(mut self, fence: Option<Arc<dyn WriteFence>>) -> Steward {
        self.fence = fence;
        self
    }

    /// Reads the emergency from `emergency` (the queen's word, kept current by the steward actor) and stops
    /// writing once `halt` is set, instead of being told per cycle.
    pub(crate) fn listening(
        mut self,
        emergency: watch::Receiver<Emergency>,
        halt: watch::Receiver<bool>,
        switch: watch::Receiver<Option<bool>>,
    ) -> Steward {
        self.emergency = emergency;
        self.own_emergency = None;
        self.halt = halt;
        self.switch = switch;
        self
    }

    /// One cycle of the loop over `snapshots` (each scored here), at `now` (the wall clock in production; tests
    /// move it), in `emergency` (built from the queen's reasons with [`Emergency::declared`], or
    /// [`Emergency::none`]). For a steward driven by hand; the steward actor runs [`Steward::act`].
    pub async fn cycle(
        &mut self,
        snapshots: &[RepoSnapshot],
        emergency: &Emergency,
        now: SystemTime,
    ) -> Result<AutonomyReport, AutonomyError> {
        if let Some(own) = &self.own_emergency {
            own.send_replace(emergency.clone());
        }
        let observed: Vec<Observation> = snapshots.iter().map(|s| Observation::new(s.clone(), None)).collect();
        self.act(&observed, now).await
    }

    /// One cycle of the loop over what the pilots observed, at `now`, in the emergency the steward hears of,
    /// numbered by the database's counter (the next number).
    pub async fn act(&mut self, observed: &[Observation], now: SystemTime) -> Result<AutonomyReport, AutonomyError> {
        self.act_in_cycle(0, observed, now).await
    }

    /// [`Steward::act`] for the queen's orchestration cycle `orchestration_cycle` (0: none), whose number the cycle
    /// takes, so events, the report, the write keys, the history and the summaries name the cycle alike. A number
    /// the database's counter already handed out is never used again: the next one is taken instead (a queen that
    /// did not continue the count), and the report shows both.
    pub async fn act_in_cycle(
        &mut self,
        orchestration_cycle: u64,
        observed: &[Observation],
        now: SystemTime,
    ) -> Result<AutonomyReport, AutonomyError> {
        self.now = now;
        self.now_unix = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        let cycle = self.memory(move |m| m.history().claim_cycle(orchestration_cycle)).await?;
        if orchestration_cycle != 0 && cycle != orchestration_cycle {
            tracing::warn!(
                orchestration_cycle,
                cycle,
                "the queen numbered a cycle the database had already used; the loop numbers it {cycle}"
            );
        }
        self.report = AutonomyReport {
            cycle,
            orchestration_cycle,
            emergency: self.emergency().active,
            ..AutonomyReport::default()
        };
        self.levels.clear();
        self.reconcile().await?;
        self.known = self.memory(Known::read).await?;
        self.prefetch(observed).await;
        for observation in observed {
            if self.halted() {
                break;
            }
            self.tend(observation).await?;
        }
        if !self.halted() {
            self.alert(observed).await?;
        }
        // A cycle a stop cut short still learns what it did: its summary and the backlog are written.
        self.report.emergency |= self.emergency().active;
        self.learn().await?;
        Ok(std::mem::take(&mut self.report))
    }

    /// The emergency now.
    fn emergency(&self) -> Emergency {
        self.emergency.borrow().clone()
    }

    /// Whether the hive is stopping: no write starts.
    fn halted(&self) -> bool {
        *self.halt.borrow()
    }

    /// Resolves once the hive stops (never, for a steward driven by hand).
    fn stopping(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut halt = self.halt.clone();
        async move {
            if halt.wait_for(|stopped| *stopped).await.is_err() {
                // The sender is gone without a stop: nothing will ever stop this steward.
                std::future::pending::<()>().await;
            }
        }
    }

    /// Reads, all at once, the hive issues of every repository whose CI the steward will look at (the shared budget
    /// bounds the concurrency): one round trip for the fleet instead of one per repository in turn.
    async fn prefetch(&mut self, observed: &[Observation]) {
        if !self.caps.issues {
            return;
        }
        let wanted: Vec<&RepoSnapshot> = observed
            .iter()
            .map(|o| &*o.snapshot)
            .filter(|s| !s.archived)
            .filter(|s| {
                let repo = s.repo.as_str();
                !s.ci.failures.is_empty() || (s.ci.is_green() && self.known_issues(repo).any(|i| i.state.is_live()))
            })
            .collect();
        let forge = &self.forge;
        let found = futures::future::join_all(wanted.iter().map(|s| forge.issues_labelled(&s.repo, HIVE_LABEL))).await;
        self.prefetched = wanted
            .iter()
            .zip(found)
            .filter_map(|(s, result)| result.ok().map(|issues| (s.repo.to_string(), issues)))
            .collect();
    }

    /// Writes reserved but never completed (the process died while sending them) stay counted against the limits:
    /// they may have reached GitHub. Nothing is re-sent blindly; the markers decide what exists.
    async fn reconcile(&mut self) -> Result<(), AutonomyError> {
        let actor = self.config.actor.clone();
        let count = self
            .memory(move |m| {
                let rows = m.writes().unfinished()?;
                for row in &rows {
                    let audit = AuditEntry {
                        actor: actor.clone(),
                        repositories: vec![row.repo.clone()],
                        action: row.kind.clone(),
                        result: "interrupted: may have been sent; looked up on the forge before any new write".into(),
                        decision: String::new(),
                    };
                    m.writes().complete(&row.key, WriteState::Done, "interrupted", &audit)?;
                }
                Ok(rows.len())
            })
            .await?;
        self.report.reconciled = count;
        Ok(())
    }

    /// VERIFY and SHIP one repository's open fixes, then THINK and ACT on what it shows now.
    async fn tend(&mut self, observation: &Observation) -> Result<(), AutonomyError> {
        let (snapshot, health) = (&*observation.snapshot, &observation.health);
        let repo = snapshot.repo.to_string();
        self.report.health.push((repo.clone(), health.score));
        self.levels.push(if health.healthy { "healthy" } else { "unhealthy" });
        if snapshot.archived {
            return Ok(());
        }
        let mut failures: Vec<&CiFailure> = Vec::new();
        for failure in &snapshot.ci.failures {
            // One case per failure, however many runs failed it the same way.
            let signature = crate::bridge::ci_signature(failure);
            if !failures.iter().any(|f| crate::bridge::ci_signature(f) == signature) {
                failures.push(failure);
            }
        }
        self.note_alerts(snapshot).await?;
        // Earlier fixes first: a fix that failed again is escalated before today's status comment could take the
        // issue's one comment of the day.
        let result = self.verify_and_ship(snapshot).await;
        self.forge_result(&repo, result)?;
        let result = self.tend_ci(snapshot, &failures).await;
        self.forge_result(&repo, result)
    }

    /// High and critical security alerts become backlog items of their own. hive writes nothing about them: acting
    /// on a vulnerability is high risk, a human's call.
    async fn note_alerts(&self, snapshot: &RepoSnapshot) -> Result<(), AutonomyError> {
        let repo = snapshot.repo.to_string();
        let mut items = Vec::new();
        for alert in snapshot.security_alerts.iter().flatten() {
            // Acting on a finding is as risky as the finding is bad: the one severity-to-risk mapping.
            let risk = Risk::from(crate::bridge::severity(alert.severity));
            let priority = match risk {
                Risk::Critical => 1,
                Risk::High => 2,
                Risk::Medium | Risk::Low => continue,
            };
            let title = self.redactor.redact(&quote::issue_title(&format!("security: {}", alert.summary))).into_owned();
            let mut item = BacklogItem::new(&repo, ItemKind::Security, &title, priority, risk);
            item.cycle_id = Some(self.report.cycle);
            items.push(item);
        }
        if items.is_empty() {
            return Ok(());
        }
        self.memory(move |m| {
            for mut item in items {
                // Kept as a human left it (blocked, cancelled, done): only new alerts are opened.
                if let Some(old) = m.ledger().get(&item.id)? {
                    item.status = old.status;
                    item.decision = old.decision;
                }
                m.ledger().upsert(&item)?;
            }
            Ok(())
        })
        .await
    }

    /// Keeps a forge error of one repository in the report; a database error ends the cycle.
    fn forge_result(&mut self, repo: &str, result: Result<(), Step>) -> Result<(), AutonomyError> {
        match result {
            Ok(()) => Ok(()),
            Err(Step::Forge(message)) => {
                let message = self.redactor.redact(&message).into_owned();
                self.report.errors.push(format!("{repo}: {message}"));
                Ok(())
            }
            Err(Step::Fatal(err)) => Err(err),
        }
    }

    /// The ledger item of a CI failure with `status`, for [`upsert_in`] (its id is what `hive approve` names).
    fn ci_item(
        &self,
        repo: &str,
        failure: &CiFailure,
        title: &str,
        status: ItemStatus,
        evidence: Vec<String>,
        commit: Option<String>,
    ) -> BacklogItem {
        let mut item = BacklogItem::new(repo, item_kind(failure), title, 2, Risk::Low);
        item.status = status;
        item.evidence = evidence.into_iter().filter(|e| text::is_web_url(e)).collect();
        if let Some(run) = &failure.run
            && text::is_web_url(&run.url)
            && !item.evidence.contains(&run.url)
        {
            item.evidence.insert(0, run.url.clone());
        }
        item.cycle_id = Some(self.report.cycle);
        item.commit_sha = commit;
        item
    }

    /// The title of a CI failure's issue and ledger item (secrets redacted: it is written and exported).
    fn title(&self, failure: &CiFailure, branch: &str) -> String {
        quote::issue_title(&self.redactor.redact(&text::ci_issue_raw_title(failure, branch)))
    }

    /// The CI issues of `repo` known at the start of the cycle.
    fn known_issues<'a>(&'a self, repo: &'a str) -> impl Iterator<Item = &'a IssueCase> + 'a {
        self.known.issues.iter().filter(move |i| i.repo == repo)
    }

    /// The fixes of `repo` known at the start of the cycle.
    fn known_fixes<'a>(&'a self, repo: &'a str) -> impl Iterator<Item = &'a FixCase> + 'a {
        self.known.fixes.iter().filter(move |i| i.repo == repo)
    }

    /// Today's date (UTC) of the cycle's clock, for daily markers.
    fn day(&self) -> String {
        hive_support::rfc3339(self.now)[..10].to_owned()
    }
}

/// The cases the steward tends per repository, read once at the start of a cycle.
#[derive(Debug, Default)]
struct Known {
    issues: Vec<IssueCase>,
    fixes: Vec<FixCase>,
}

impl Known {
    /// Every CI issue and fix in the database (one job; a row that does not fit its case is an error).
    fn read(m: &mut Memory) -> Result<Known, MemoryError> {
        let mut known = Known::default();
        for identity in m.identities().list(None)? {
            match identity.kind.as_str() {
                kind if kind == IssueState::KIND => known.issues.push(case::typed(m, &identity)?),
                kind if kind == FixState::KIND => known.fixes.push(case::typed(m, &identity)?),
                _ => {}
            }
        }
        Ok(known)
    }
}

/// The backlog kind of a CI failure's item: a lint or infrastructure failure is a chore, anything else a bug.
fn item_kind(failure: &CiFailure) -> ItemKind {
    match failure.class {
        FailureClass::Lint | FailureClass::Infrastructure => ItemKind::Chore,
        _ => ItemKind::Bug,
    }
}

/// Upserts `item` (keeping the decision reference of the last governed write about it) inside a scribe job,
/// returning its id.
fn upsert_in(m: &mut Memory, mut item: BacklogItem) -> Result<String, MemoryError> {
    if let Some(old) = m.ledger().get(&item.id)? {
        item.decision = old.decision;
    }
    m.ledger().upsert(&item)?;
    Ok(item.id)
}

/// Why a step for one repository stopped: the forge (reported, the cycle goes on) or the database (the cycle ends).
#[derive(Debug)]
pub(crate) enum Step {
    Forge(String),
    Fatal(AutonomyError),
}

impl From<AutonomyError> for Step {
    fn from(err: AutonomyError) -> Step {
        Step::Fatal(err)
    }
}

impl From<WriteError> for Step {
    fn from(err: WriteError) -> Step {
        Step::Forge(err.to_string())
    }
}
