//! Governance of GitHub writes: one pure function decides every write the autonomy loop proposes, from the proposal,
//! the policy, what was already spent and whether a human approved it.
//!
//! Keeping the decision pure (no clock, no database, no network) makes every rule testable in a table and lets the
//! caller record the exact inputs next to the [`WriteDecision`], so an audit can replay why hive did or did not write.
//!
//! [`ActionKind`] is the one vocabulary of writes: an ORCH [`Proposal`](crate::Proposal) names its write with it
//! (through [`ProposedAction`](crate::ProposedAction)), and the steward turns it into a [`WriteProposal`] by adding
//! what only it knows (repository, idempotency key, target). [`Risk`] is the one scale of both.

use std::{collections::BTreeSet, fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::{CiSignature, EmergencyReason, memory::Risk};

/// A GitHub write: what governance decides on, and what an ORCH proposal names as its action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// Open a new issue.
    OpenIssue,
    /// Edit an issue hive opened earlier.
    UpdateIssue,
    /// Comment on an issue or pull request.
    Comment,
    /// Close an issue.
    CloseIssue,
    /// Reopen a closed issue.
    ReopenIssue,
    /// Add or remove labels.
    Label,
    /// Rerun failed CI jobs.
    RerunJobs,
    /// Open a pull request with a fix.
    OpenPullRequest,
    /// Publish a fix as a branch for a human to merge, on a forge without pull requests (a local repository).
    PushBranch,
    /// Merge a pull request.
    Merge,
    /// Raise an emergency alert issue.
    EmergencyAlert,
}

impl ActionKind {
    /// Every kind, in declaration order.
    pub const ALL: [ActionKind; 11] = [
        Self::OpenIssue,
        Self::UpdateIssue,
        Self::Comment,
        Self::CloseIssue,
        Self::ReopenIssue,
        Self::Label,
        Self::RerunJobs,
        Self::OpenPullRequest,
        Self::PushBranch,
        Self::Merge,
        Self::EmergencyAlert,
    ];

    /// The recorded name, e.g. `"open_issue"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OpenIssue => "open_issue",
            Self::UpdateIssue => "update_issue",
            Self::Comment => "comment",
            Self::CloseIssue => "close_issue",
            Self::ReopenIssue => "reopen_issue",
            Self::Label => "label",
            Self::RerunJobs => "rerun_jobs",
            Self::OpenPullRequest => "open_pull_request",
            Self::PushBranch => "push_branch",
            Self::Merge => "merge",
            Self::EmergencyAlert => "emergency_alert",
        }
    }

    /// Whether the write puts new text in front of people; these kinds share the per-minute content limit, which is
    /// what GitHub's secondary rate limits punish.
    pub fn creates_content(self) -> bool {
        matches!(self, Self::OpenIssue | Self::Comment | Self::OpenPullRequest | Self::EmergencyAlert)
    }

    /// The lowest [`ActionLevel`] that permits this kind: changing code or CI state needs `fix`, talking needs `issue`.
    pub fn min_level(self) -> ActionLevel {
        match self {
            Self::RerunJobs | Self::OpenPullRequest | Self::PushBranch | Self::Merge => ActionLevel::Fix,
            _ => ActionLevel::Issue,
        }
    }

    /// The risk of the kind itself, before what it changes is looked at: a merge changes the default branch.
    pub fn base_risk(self) -> Risk {
        match self {
            Self::Merge => Risk::Medium,
            _ => Risk::Low,
        }
    }
}

impl FromStr for ActionKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|kind| kind.as_str() == s).ok_or_else(|| {
            let valid: Vec<&str> = Self::ALL.iter().map(|kind| kind.as_str()).collect();
            format!("unknown action kind '{s}'; valid kinds are {}", valid.join(", "))
        })
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How far hive may go on its own: only log, also write issues, or also fix (pull requests, reruns, merges).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ActionLevel {
    /// Record what would be done; write nothing.
    Log,
    /// Open, comment on and label issues.
    Issue,
    /// Everything `issue` does, plus pull requests, job reruns and merges.
    Fix,
}

impl ActionLevel {
    /// The configured name: `"log"`, `"issue"` or `"fix"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Log => "log",
            Self::Issue => "issue",
            Self::Fix => "fix",
        }
    }
}

impl FromStr for ActionLevel {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "log" => Ok(Self::Log),
            "issue" => Ok(Self::Issue),
            "fix" => Ok(Self::Fix),
            other => Err(format!("unknown action level '{other}'; use one of log, issue, fix")),
        }
    }
}

impl fmt::Display for ActionLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The combined state of a pull request's checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChecksState {
    /// Every required check passed.
    Green,
    /// Some checks are still running.
    Pending,
    /// At least one check failed.
    Failing,
    /// No checks reported at all.
    Missing,
}

impl ChecksState {
    /// The recorded name, e.g. `"green"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Green => "green",
            Self::Pending => "pending",
            Self::Failing => "failing",
            Self::Missing => "missing",
        }
    }

    /// The state of a commit's checks from its check runs, as `(status, conclusion)`, and its combined status
    /// (`combined`, over `statuses` statuses): a failed run or a failed status fails it; else anything unfinished
    /// keeps it pending; nothing reported at all is missing.
    pub fn of<'a>(runs: impl IntoIterator<Item = (&'a str, Option<&'a str>)>, combined: &str, statuses: u64) -> Self {
        let failed = |c: Option<&str>| !matches!(c, Some("success" | "neutral" | "skipped"));
        let (mut pending, mut any) = (false, false);
        for (status, conclusion) in runs {
            any = true;
            if status != "completed" {
                pending = true;
            } else if failed(conclusion) {
                return Self::Failing;
            }
        }
        match combined {
            "failure" | "error" => return Self::Failing,
            "pending" if statuses > 0 => pending = true,
            _ => {}
        }
        if pending {
            Self::Pending
        } else if !any && statuses == 0 {
            Self::Missing
        } else {
            Self::Green
        }
    }
}

impl fmt::Display for ChecksState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One GitHub write the autonomy loop wants to make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteProposal {
    /// What kind of write.
    pub kind: ActionKind,
    /// The repository, `owner/name`.
    pub repo: String,
    /// The idempotency key of this write, e.g. `"issue:acme/api:ci/test/run/test"`.
    pub key: String,
    /// The issue or pull request written to, e.g. `"acme/api#12"`, for per-issue limits.
    pub target: Option<String>,
    /// How risky the write is.
    pub risk: Risk,
    /// For a merge: the state of the pull request's checks.
    pub checks: Option<ChecksState>,
    /// What `hive approve <id>` must name to approve a high or critical write.
    pub approval_id: String,
    /// The CI failure this write remedies, if it is one of the remedies that may answer an emergency's cause.
    pub remedy: Option<Remedy>,
}

/// A write that remedies one CI failure and may therefore pass an emergency freeze when that failure is the
/// emergency's cause: coordinated recovery, rather than waiting for a freeze the fix itself would end.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "remedy", rename_all = "snake_case")]
pub enum Remedy {
    /// Re-running the failed jobs of an infrastructure failure ([`ActionKind::RerunJobs`]).
    InfrastructureRerun {
        /// Which failure.
        signature: CiSignature,
    },
    /// The formatter fix of a lint or format failure: its pull request ([`ActionKind::OpenPullRequest`]), or its
    /// branch where the forge has no pull requests ([`ActionKind::PushBranch`]).
    FormatterFix {
        /// Which failure.
        signature: CiSignature,
    },
}

impl Remedy {
    /// Whether a write of `kind` is this remedy.
    pub fn is(&self, kind: ActionKind) -> bool {
        match self {
            Self::InfrastructureRerun { .. } => kind == ActionKind::RerunJobs,
            Self::FormatterFix { .. } => matches!(kind, ActionKind::OpenPullRequest | ActionKind::PushBranch),
        }
    }

    /// The signature of the failure remedied.
    pub fn signature(&self) -> &CiSignature {
        match self {
            Self::InfrastructureRerun { signature } | Self::FormatterFix { signature } => signature,
        }
    }
}

/// The emergency protocol as governance sees it: whether writes are frozen, and which causes recovery may answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Emergency {
    /// Whether the hive is frozen by the emergency protocol: only the emergency alert and recovery pass.
    pub active: bool,
    /// The CI failure signatures the emergency was declared for (its systemic failures); a [`Remedy`] for one of
    /// them is recovery.
    pub recovery_signatures: BTreeSet<CiSignature>,
}

impl Emergency {
    /// No emergency.
    pub fn none() -> Emergency {
        Emergency::default()
    }

    /// An emergency declared for `reasons`: frozen, with the systemic failures' signatures open to recovery. A
    /// forced emergency or one for fleet health, critical members or security has no cause a remedy answers.
    pub fn declared(reasons: &[EmergencyReason]) -> Emergency {
        let recovery_signatures = reasons
            .iter()
            .filter_map(|reason| match reason {
                EmergencyReason::SystemicFailure { signature, .. } => Some(signature.clone()),
                _ => None,
            })
            .collect();
        Emergency { active: true, recovery_signatures }
    }

    /// The signature `proposal` recovers from, if the emergency is active and the proposal is a remedy, of its own
    /// kind, for one of the emergency's causes.
    pub fn recovery(&self, proposal: &WriteProposal) -> Option<CiSignature> {
        let remedy = proposal.remedy.as_ref()?;
        (self.active && remedy.is(proposal.kind) && self.recovery_signatures.contains(remedy.signature()))
            .then(|| remedy.signature().clone())
    }
}

/// The switches an operator flips.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Switches {
    /// Whether hive writes to GitHub at all; off, every write is only recorded.
    pub autonomy: bool,
    /// Whether hive may merge its own pull requests.
    pub automerge: bool,
    /// Whether writes are rehearsed: pull requests open as drafts and nothing else is written.
    pub dry_run: bool,
}

/// How many writes of each sort hive may make per rolling window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Fixes published per day: pull requests opened, and fix branches pushed where there are no pull requests.
    pub prs_per_day: u32,
    /// Issues (and emergency alerts) opened per hour.
    pub issues_per_hour: u32,
    /// Comments on one issue or pull request per day.
    pub comments_per_issue_per_day: u32,
    /// Content-creating writes of any kind per minute.
    pub content_per_minute: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self { prs_per_day: 10, issues_per_hour: 20, comments_per_issue_per_day: 1, content_per_minute: 20 }
    }
}

/// Brings a policy up to date for a repository, as the hive sees it at the moment of a write (its kill switch, the
/// emergency the queen declared, the repository's level): how writers outside the steward (agents' merges, change
/// sets) are governed like the steward's own.
pub type LivePolicy = std::sync::Arc<dyn Fn(&str, &mut Policy) + Send + Sync>;

/// Everything that governs writes: what the operator configured and the emergency state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// How far hive may go.
    pub level: ActionLevel,
    /// The operator's switches.
    pub switches: Switches,
    /// The rate limits.
    pub limits: Limits,
    /// The emergency protocol's freeze and the causes recovery may answer.
    pub emergency: Emergency,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            level: ActionLevel::Fix,
            switches: Switches::default(),
            limits: Limits::default(),
            emergency: Emergency::none(),
        }
    }
}

/// What was already spent, counted by the database over rolling windows ending now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    /// Pull requests opened in the last day.
    pub prs_last_day: u32,
    /// Issues and emergency alerts opened in the last hour.
    pub issues_last_hour: u32,
    /// Comments on the proposal's target in the last day.
    pub comments_on_target_last_day: u32,
    /// Content-creating writes in the last minute.
    pub content_last_minute: u32,
}

/// Which limit stopped a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LimitKind {
    /// [`Limits::prs_per_day`].
    PrsPerDay,
    /// [`Limits::issues_per_hour`].
    IssuesPerHour,
    /// [`Limits::comments_per_issue_per_day`].
    CommentsPerIssuePerDay,
    /// [`Limits::content_per_minute`].
    ContentPerMinute,
}

impl LimitKind {
    /// The recorded name, e.g. `"prs_per_day"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PrsPerDay => "prs_per_day",
            Self::IssuesPerHour => "issues_per_hour",
            Self::CommentsPerIssuePerDay => "comments_per_issue_per_day",
            Self::ContentPerMinute => "content_per_minute",
        }
    }
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What happens to a proposed write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Write it.
    Allow,
    /// Write it as a draft pull request that is never merged.
    Draft,
    /// Record what would have been written; write nothing.
    WouldDo,
    /// Refuse it.
    Deny,
}

impl Verdict {
    /// The recorded name, e.g. `"would_do"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "allow",
            Self::Draft => "draft",
            Self::WouldDo => "would_do",
            Self::Deny => "deny",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a [`Verdict`] was reached: the rule of [`govern`] that matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Reason {
    /// No rule stopped the write.
    Allowed,
    /// The dry-run switch is on.
    DryRun,
    /// The autonomy switch is off.
    AutonomyOff,
    /// The configured level is below what the kind needs.
    BelowLevel {
        /// The level the kind needs.
        needed: ActionLevel,
        /// The configured level.
        level: ActionLevel,
    },
    /// The hive is frozen by the emergency protocol and the write answers none of its causes.
    EmergencyFreeze,
    /// A merge whose checks are not green.
    ChecksNotGreen {
        /// The state of the checks.
        checks: ChecksState,
    },
    /// A merge while the automerge switch is off.
    AutomergeOff,
    /// A high or critical write nobody approved.
    NeedsApproval {
        /// The write's risk.
        risk: Risk,
    },
    /// A rate limit is spent.
    LimitReached {
        /// Which limit.
        limit: LimitKind,
        /// How much of it was spent.
        used: u32,
        /// The limit itself.
        max: u32,
    },
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Allowed => f.write_str("allowed"),
            Self::DryRun => f.write_str("dry run"),
            Self::AutonomyOff => f.write_str("autonomy is off"),
            Self::BelowLevel { needed, level } => write!(f, "needs level {needed}, level is {level}"),
            Self::EmergencyFreeze => f.write_str("emergency freeze"),
            Self::ChecksNotGreen { checks } => write!(f, "checks are {checks}, not green"),
            Self::AutomergeOff => f.write_str("automerge is off"),
            Self::NeedsApproval { risk } => write!(f, "{risk} risk needs approval"),
            Self::LimitReached { limit, used, max } => write!(f, "limit {limit} reached ({used}/{max})"),
        }
    }
}

/// The outcome of [`govern`] for one proposal, with enough of the proposal to be recorded on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteDecision {
    /// What happens.
    pub verdict: Verdict,
    /// Why.
    pub reason: Reason,
    /// The proposal's kind.
    pub kind: ActionKind,
    /// The proposal's repository.
    pub repo: String,
    /// The proposal's idempotency key.
    pub key: String,
    /// The proposal's risk.
    pub risk: Risk,
    /// The configured level at the time of the decision.
    pub level: ActionLevel,
    /// During an emergency: the signature of the emergency's cause this write recovers from (it passed the freeze
    /// for that reason alone; every other rule still applied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<CiSignature>,
}

/// Opens the HTML comment that carries a decision in an issue or pull-request body.
const RECORD_OPEN: &str = "<!-- hive:decision ";
/// Closes it.
const RECORD_CLOSE: &str = " -->";

impl WriteDecision {
    /// Whether anything is written to GitHub: [`Verdict::Allow`] or [`Verdict::Draft`].
    pub fn is_write(&self) -> bool {
        matches!(self.verdict, Verdict::Allow | Verdict::Draft)
    }

    /// One line for logs and `hive` output, e.g.
    /// `"deny open_pull_request acme/api: limit prs_per_day reached (10/10)"`.
    pub fn summary(&self) -> String {
        match &self.recovery {
            Some(signature) => {
                format!("{} {} {}: {} (recovery from '{signature}')", self.verdict, self.kind, self.repo, self.reason)
            }
            None => format!("{} {} {}: {}", self.verdict, self.kind, self.repo, self.reason),
        }
    }

    /// The decision as compact JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a decision has only strings, numbers and enums, so it always serializes")
    }

    /// The decision as an HTML comment to embed in a body hive writes: `<!-- hive:decision {json} -->`.
    ///
    /// Repository names and keys come from outside, so every `--` inside the JSON is written as `-\u002d` (the same
    /// string to a JSON parser): the comment can never be closed early or nested, whatever the values hold.
    pub fn html_record(&self) -> String {
        let json = self.to_json();
        let mut safe = String::with_capacity(json.len() + 8);
        let mut previous_dash = false;
        for c in json.chars() {
            // A dash right after a kept dash becomes an escape, so no two literal dashes are ever adjacent.
            if c == '-' && previous_dash {
                safe.push_str("\\u002d");
                previous_dash = false;
            } else {
                safe.push(c);
                previous_dash = c == '-';
            }
        }
        // JSON ends with '}', so the comment's closing "-->" cannot merge with a trailing dash.
        format!("{RECORD_OPEN}{safe}{RECORD_CLOSE}")
    }

    /// Finds the first [`html_record`](Self::html_record) in `body` and parses it back; `None` when there is none
    /// or it does not parse.
    pub fn parse_html_record(body: &str) -> Option<WriteDecision> {
        let mut rest = body;
        while let Some(start) = rest.find(RECORD_OPEN) {
            let after = &rest[start + RECORD_OPEN.len()..];
            // The JSON holds no "--", so the first "-->" is the record's end.
            let end = after.find("-->")?;
            let json = after[..end].trim_end();
            if let Ok(decision) = serde_json::from_str(json) {
                return Some(decision);
            }
            rest = after;
        }
        None
    }
}

/// Decides one proposed write. Pure: same inputs, same decision.
///
/// The rules, first match wins: emergency freeze (unless the write is the emergency alert, or a [`Remedy`] for one
/// of the emergency's causes, which is recorded as recovery and goes on through the other rules); autonomy off; level too low; for merges, checks not green or
/// automerge off; high or critical risk without approval; a spent rate limit; dry run; otherwise allowed.
///
/// ```
/// use hive_cerebrum::Risk;
/// use hive_cerebrum::governance::{ActionKind, Counters, Policy, WriteProposal, Verdict, govern};
///
/// let proposal = WriteProposal {
///     kind: ActionKind::OpenIssue,
///     repo: "acme/api".into(),
///     key: "issue:acme/api:ci/test".into(),
///     target: None,
///     risk: Risk::Low,
///     checks: None,
///     approval_id: "a1".into(),
///     remedy: None,
/// };
/// let mut policy = Policy::default();
/// assert_eq!(govern(&proposal, &policy, &Counters::default(), false).verdict, Verdict::WouldDo);
/// policy.switches.autonomy = true;
/// assert_eq!(govern(&proposal, &policy, &Counters::default(), false).verdict, Verdict::Allow);
/// ```
pub fn govern(proposal: &WriteProposal, policy: &Policy, counters: &Counters, approved: bool) -> WriteDecision {
    let recovery = policy.emergency.recovery(proposal);
    let (verdict, reason) = rule(proposal, policy, recovery.is_some(), counters, approved);
    WriteDecision {
        verdict,
        reason,
        kind: proposal.kind,
        repo: proposal.repo.clone(),
        key: proposal.key.clone(),
        risk: proposal.risk,
        level: policy.level,
        recovery,
    }
}

/// The rules of [`govern`], in order.
fn rule(
    proposal: &WriteProposal,
    policy: &Policy,
    recovery: bool,
    counters: &Counters,
    approved: bool,
) -> (Verdict, Reason) {
    let kind = proposal.kind;
    let switches = &policy.switches;
    if policy.emergency.active && kind != ActionKind::EmergencyAlert && !recovery {
        return (Verdict::Deny, Reason::EmergencyFreeze);
    }
    if !switches.autonomy {
        return (Verdict::WouldDo, Reason::AutonomyOff);
    }
    if policy.level < kind.min_level() || policy.level == ActionLevel::Log {
        return (Verdict::WouldDo, Reason::BelowLevel { needed: kind.min_level(), level: policy.level });
    }
    if kind == ActionKind::Merge {
        let checks = proposal.checks.unwrap_or(ChecksState::Missing);
        if checks != ChecksState::Green {
            return (Verdict::Deny, Reason::ChecksNotGreen { checks });
        }
        if !switches.automerge {
            return (Verdict::Deny, Reason::AutomergeOff);
        }
    }
    if matches!(proposal.risk, Risk::High | Risk::Critical) && !approved {
        return (Verdict::Deny, Reason::NeedsApproval { risk: proposal.risk });
    }
    if let Some(reason) = spent_limit(kind, &policy.limits, counters) {
        return (Verdict::Deny, reason);
    }
    if switches.dry_run {
        return match kind {
            ActionKind::OpenPullRequest => (Verdict::Draft, Reason::DryRun),
            ActionKind::Merge => (Verdict::Deny, Reason::DryRun),
            _ => (Verdict::WouldDo, Reason::DryRun),
        };
    }
    (Verdict::Allow, Reason::Allowed)
}

/// The first limit that concerns `kind` and is spent, if any.
fn spent_limit(kind: ActionKind, limits: &Limits, counters: &Counters) -> Option<Reason> {
    let mut checks: Vec<(LimitKind, u32, u32)> = Vec::with_capacity(2);
    match kind {
        ActionKind::OpenPullRequest | ActionKind::PushBranch => {
            checks.push((LimitKind::PrsPerDay, counters.prs_last_day, limits.prs_per_day));
        }
        ActionKind::OpenIssue | ActionKind::EmergencyAlert => {
            checks.push((LimitKind::IssuesPerHour, counters.issues_last_hour, limits.issues_per_hour));
        }
        ActionKind::Comment => checks.push((
            LimitKind::CommentsPerIssuePerDay,
            counters.comments_on_target_last_day,
            limits.comments_per_issue_per_day,
        )),
        _ => {}
    }
    if kind.creates_content() {
        checks.push((LimitKind::ContentPerMinute, counters.content_last_minute, limits.content_per_minute));
    }
    checks.into_iter().find(|&(_, used, max)| used >= max).map(|(limit, used, max)| Reason::LimitReached {
        limit,
        used,
        max,
    })
}

/// The risk of a fix pull request by its size: a formatter's or a lint fix's small diff is safe to merge on green
/// checks, while a huge one hides real changes among the mechanical ones, so a human has to look at it.
///
/// At most 200 changed lines is [`Risk::Low`], at most 1000 [`Risk::Medium`], more [`Risk::High`].
pub fn fix_risk(lines_changed: usize) -> Risk {
    match lines_changed {
        0..=200 => Risk::Low,
        201..=1000 => Risk::Medium,
        _ => Risk::High,
    }
}
