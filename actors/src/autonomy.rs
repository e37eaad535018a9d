//! The governed autonomy loop: after each orchestration cycle the steward senses the pilots' snapshots, thinks
//! (scores, upserts the backlog ledger, plans), acts through governance, verifies its pull requests and re-runs,
//! ships what is green and allowed, and learns (cycle summary, health history, `backlog.json`).
//!
//! Everything it knows lives in the database behind the scribe, and everything it did can be found again on GitHub
//! by a hidden marker, a deterministic branch name or a run's attempt number, so a process killed at any point
//! never writes anything twice: before each write the steward looks for its own earlier work on the forge.

mod alert;
mod ci;
mod fixes;
mod gate;
mod learn;
mod plan;
mod text;

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::Arc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use hive_cerebrum::{
    AuditEntry, BacklogItem, Identity, ItemKind, ItemStatus, MemoryError, Redactor, Risk, ScribeError, ScribeHandle,
    WriteState,
    governance::{Emergency, Policy, Reason, Verdict, WriteDecision},
    quote,
};
use hive_ecosystem::{CiFailure, FailureClass, GitHubForge, IssueDetail, RepoId, RepoSnapshot};
use serde::Serialize;

pub use self::{
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

/// What one cycle of the loop did, as the run summary shows it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CycleReport {
    /// The cycle's number (persisted: it keeps growing across restarts).
    pub cycle: u64,
    /// Whether an emergency froze mutating actions (all but the recovery from its causes).
    pub emergency: bool,
    /// Every decision, one line each.
    pub decisions: Vec<String>,
    /// What was written.
    pub writes: Vec<String>,
    /// What would have been written (autonomy off, dry run, action level).
    pub would_do: Vec<String>,
    /// Limits reached this cycle.
    pub limits_hit: Vec<String>,
    /// What waits for `hive approve <id>`.
    pub awaiting_approval: Vec<String>,
    /// What failed (forge errors, redacted).
    pub errors: Vec<String>,
    /// Health score per repository.
    pub health: Vec<(String, u8)>,
    /// Writes interrupted by a crash, reconciled at the start of the cycle.
    pub reconciled: usize,
    /// Fixes tried this cycle: re-runs requested and fix pull requests opened.
    pub fixes_attempted: usize,
}

impl CycleReport {
    fn note(&mut self, decision: &WriteDecision, approval_id: &str) {
        let line = decision.summary();
        match (&decision.verdict, &decision.reason) {
            (Verdict::Deny, Reason::LimitReached { .. }) => self.limits_hit.push(line.clone()),
            (Verdict::Deny, Reason::NeedsApproval { .. }) => {
                self.awaiting_approval.push(format!("hive approve {approval_id}  ({line})"))
            }
            (Verdict::WouldDo, _) => self.would_do.push(line.clone()),
            _ => {}
        }
        self.decisions.push(line);
    }
}

/// The autonomy loop's driver: one per hive, called once per orchestration cycle.
pub struct Steward {
    forge: Arc<GitHubForge>,
    scribe: ScribeHandle,
    config: AutonomyConfig,
    redactor: Redactor,
    planner: Arc<dyn Planner>,
    /// What hive made on the forge, as the database said at the start of the cycle (read once, not per repository).
    known: Vec<Identity>,
    /// The hive issues of each repository, read at the start of the cycle (a repository missing here is read when
    /// it is reached).
    prefetched: HashMap<String, Vec<IssueDetail>>,
    /// Each scored repository's level, in the order of `report.health`, for the health history.
    levels: Vec<&'static str>,
    report: CycleReport,
    /// This cycle's emergency: whether writes are frozen and which causes recovery may answer.
    emergency: Emergency,
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
    pub fn new(forge: Arc<GitHubForge>, scribe: ScribeHandle, config: AutonomyConfig) -> Steward {
        let redactor = Redactor::new(config.secrets.clone());
        Steward {
            forge,
            scribe,
            config,
            redactor,
            planner: Arc::new(EnginePlanner::default()),
            known: Vec::new(),
            prefetched: HashMap::new(),
            levels: Vec::new(),
            report: CycleReport::default(),
            emergency: Emergency::none(),
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

    /// One cycle of the loop over `snapshots`, at `now` (the wall clock in production; tests move it), in
    /// `emergency` (built from the queen's reasons with [`Emergency::declared`], or [`Emergency::none`]).
    pub async fn cycle(
        &mut self,
        snapshots: &[RepoSnapshot],
        emergency: &Emergency,
        now: SystemTime,
    ) -> Result<CycleReport, AutonomyError> {
        self.now = now;
        self.now_unix = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
        self.emergency = emergency.clone();
        let cycle = self.memory(|m| m.history().next_cycle()).await?;
        self.report = CycleReport { cycle, emergency: emergency.active, ..CycleReport::default() };
        self.levels.clear();
        self.reconcile().await?;
        self.known = self.memory(|m| m.identities().list(None)).await?;
        self.prefetch(snapshots).await;
        for snapshot in snapshots {
            self.tend(snapshot).await?;
        }
        self.alert(snapshots).await?;
        self.learn().await?;
        Ok(std::mem::take(&mut self.report))
    }

    /// Reads, all at once, the hive issues of every repository whose CI the steward will look at (the shared budget
    /// bounds the concurrency): one round trip for the fleet instead of one per repository in turn.
    async fn prefetch(&mut self, snapshots: &[RepoSnapshot]) {
        let wanted: Vec<&RepoSnapshot> = snapshots
            .iter()
            .filter(|s| !s.archived)
            .filter(|s| {
                let repo = s.repo.as_str();
                !s.ci.failures.is_empty() || (s.ci.is_green() && self.known_of(repo, "issue").any(ci::is_live))
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
    async fn tend(&mut self, snapshot: &RepoSnapshot) -> Result<(), AutonomyError> {
        let repo = snapshot.repo.to_string();
        let health = hive_ecosystem::score(snapshot);
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

    /// Upserts the ledger item of a CI failure with `status`, returning its id (what `hive approve` names).
    async fn upsert_item(
        &self,
        repo: &str,
        failure: &CiFailure,
        title: &str,
        status: ItemStatus,
        evidence: Vec<String>,
        commit: Option<String>,
    ) -> Result<String, AutonomyError> {
        let kind = match failure.class {
            FailureClass::Lint | FailureClass::Infrastructure => ItemKind::Chore,
            _ => ItemKind::Bug,
        };
        let mut item = BacklogItem::new(repo, kind, title, 2, Risk::Low);
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
        let id = item.id.clone();
        self.memory(move |m| {
            // The decision reference is kept from the last governed write about the item.
            if let Some(old) = m.ledger().get(&item.id)? {
                item.decision = old.decision;
            }
            m.ledger().upsert(&item).map(drop)
        })
        .await?;
        Ok(id)
    }

    /// The title of a CI failure's issue and ledger item (secrets redacted: it is written and exported).
    fn title(&self, failure: &CiFailure, branch: &str) -> String {
        quote::issue_title(&self.redactor.redact(&text::ci_issue_raw_title(failure, branch)))
    }

    /// The identities of `kind` in `repo` known at the start of the cycle.
    fn known_of<'a>(&'a self, repo: &'a str, kind: &'a str) -> impl Iterator<Item = &'a Identity> + 'a {
        self.known.iter().filter(move |i| i.repo == repo && i.kind == kind)
    }

    /// Today's date (UTC) of the cycle's clock, for daily markers.
    fn day(&self) -> String {
        hive_support::rfc3339(self.now)[..10].to_owned()
    }
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

impl From<hive_ecosystem::GitHubError> for Step {
    fn from(err: hive_ecosystem::GitHubError) -> Step {
        Step::Forge(err.to_string())
    }
}
