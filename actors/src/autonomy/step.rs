//! The cases' state machines as pure functions: what the database said (the stored state) and what the forge showed
//! (an issue found open, closed or not at all; a pull request's state; checks) in, the next step out. No I/O: the
//! steward looks the facts up, asks here, and carries the step out through the gate, so every transition, including
//! the ones a crash leaves behind, is table-tested without a forge or a database.

use hive_cerebrum::{
    CiClass, ProposedAction,
    governance::{ActionKind, ChecksState},
};

use super::{
    case::{AlertState, FixData, FixState, IssueState},
    gate::Gate,
};

const DAY: i64 = 86_400;

/// What the forge showed of an issue hive looks for (by number, or by label, exact title and marker).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found {
    Absent,
    Open,
    Closed,
}

impl Found {
    /// From an issue's state on the forge, if one was found.
    pub(crate) fn of(state: Option<&str>) -> Found {
        match state {
            None => Found::Absent,
            Some("open") => Found::Open,
            Some(_) => Found::Closed,
        }
    }
}

/// How a gated write ended, as the state machines need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    /// It reached the forge.
    Yes,
    /// It was not sent (refused, only recorded, already reserved, or stopped before sending).
    No,
    /// It failed in a way that may have reached the forge: the next cycle finds out.
    Maybe,
}

impl<T> From<&Gate<T>> for Sent {
    fn from(gate: &Gate<T>) -> Sent {
        match gate {
            Gate::Done(_) => Sent::Yes,
            Gate::Skipped => Sent::No,
            Gate::Failed => Sent::Maybe,
        }
    }
}

/// The step for the issue of a failure that is failing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Failing {
    /// Not on the forge: file it, marked `opening` before the request.
    File,
    /// A human closed it while the failure lasted: it stays closed (`closed_by_human`) until CI is green.
    LeaveClosed,
    /// Closed by hive (or by a close or reopen a crash interrupted): reopened, marked `reopening` before the
    /// request, for a new episode.
    Reopen,
    /// Open: kept up to date. `adopt` when the database did not know it open (filed or reopened just before a
    /// crash took the record of it).
    Tend { adopt: bool },
}

/// The issue of a failing signature: `stored` is hive's last word about it, `found` what the forge shows.
pub(crate) fn failing(stored: Option<IssueState>, found: Found) -> Failing {
    match (found, stored) {
        (Found::Absent, _) => Failing::File,
        (Found::Closed, Some(IssueState::Open | IssueState::ClosedByHuman)) => Failing::LeaveClosed,
        (Found::Closed, _) => Failing::Reopen,
        (Found::Open, stored) => Failing::Tend { adopt: stored != Some(IssueState::Open) },
    }
}

/// What an open issue of a failing signature needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tend {
    /// The failure changed (another commit, another run): the body is rewritten.
    RewriteBody,
    /// A day since hive last wrote on it: the day's status comment.
    StatusComment,
    Nothing,
}

/// `body_changed`: the body would say something else now; `since_touch`: seconds since hive last wrote on it;
/// `mention_pending`: an escalation is still waiting for its comment, which gets the day's comment instead.
pub(crate) fn tend(body_changed: bool, since_touch: i64, mention_pending: bool) -> Tend {
    if body_changed {
        Tend::RewriteBody
    } else if since_touch >= DAY && !mention_pending {
        Tend::StatusComment
    } else {
        Tend::Nothing
    }
}

/// The step for a known issue when CI is green.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Green {
    /// A human's close ends with the failure it was about: `closed`, so a new failure reopens it.
    Unmute,
    /// Never filed (the request did not reach the forge before a crash): `unfiled`.
    Unfiled,
    /// Still open: a comment and a close, marked `closing` before the requests.
    Close,
    /// Already closed, by hive (a close a crash interrupted) or otherwise: `closed`, the backlog item done.
    Closed,
    /// Nothing is open about it.
    Nothing,
}

/// A known issue when CI is green. `found` is `None` when the forge was not asked (nothing live to close).
pub(crate) fn green(stored: IssueState, found: Option<Found>) -> Green {
    match (stored, found) {
        (IssueState::ClosedByHuman, _) => Green::Unmute,
        (stored, _) if !stored.is_live() => Green::Nothing,
        (_, None) => Green::Nothing,
        (_, Some(Found::Absent)) => Green::Unfiled,
        (_, Some(Found::Open)) => Green::Close,
        (_, Some(Found::Closed)) => Green::Closed,
    }
}

/// The issue write the steward sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IssueWrite {
    File,
    Reopen,
    Close,
}

/// The issue's state after `write`, sent or not, from `before` (its state before it was marked for the write); `None`
/// keeps the mark (`opening`, `reopening`, `closing`) for the next cycle to settle with what the forge shows.
pub(crate) fn issue_after(write: IssueWrite, before: Option<IssueState>, sent: Sent) -> Option<IssueState> {
    match (write, sent) {
        (_, Sent::Maybe) => None,
        (IssueWrite::File | IssueWrite::Reopen, Sent::Yes) => Some(IssueState::Open),
        (IssueWrite::File, Sent::No) => Some(IssueState::Unfiled),
        (IssueWrite::Reopen, Sent::No) => Some(IssueState::Closed),
        (IssueWrite::Close, Sent::Yes) => Some(IssueState::Closed),
        // A close found no longer allowed leaves the issue as hive knew it, open.
        (IssueWrite::Close, Sent::No) => match before {
            None | Some(IssueState::Closing) => Some(IssueState::Open),
            Some(state) => Some(state),
        },
    }
}

/// Whether the alert needs a look at the forge at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AlertLook {
    /// No emergency and nothing open: nothing to do.
    Idle,
    /// No emergency, and the one a human closed the alert for is over: `closed`, so the next one gets an alert.
    Unmute,
    /// The forge says what to do.
    LookUp,
}

pub(crate) fn alert_look(active: bool, stored: Option<AlertState>) -> AlertLook {
    match stored {
        _ if active => AlertLook::LookUp,
        Some(state) if state.is_live() => AlertLook::LookUp,
        Some(AlertState::ClosedByHuman) => AlertLook::Unmute,
        _ => AlertLook::Idle,
    }
}

/// The step for the emergency alert once the forge was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Alert {
    /// No alert on the forge during an emergency: file one, marked `opening` first.
    File,
    /// Closed by hive earlier (or by an interrupted write): reopened, marked `reopening` first.
    Reopen,
    /// Open during the emergency, but the database did not know it (filed before a crash took the record): `open`.
    Adopt,
    /// A human closed it during the emergency: `closed_by_human`, not reopened until the next emergency.
    LeaveClosed,
    /// The emergency is over and the alert is open: closed, marked `closing` first.
    Close,
    /// The emergency is over and no alert is open: `closed`.
    Closed,
    Nothing,
}

pub(crate) fn alert(active: bool, stored: Option<AlertState>, found: Found) -> Alert {
    match (active, found, stored) {
        (false, Found::Open, _) => Alert::Close,
        (false, _, _) => Alert::Closed,
        (true, Found::Open, Some(AlertState::Open)) => Alert::Nothing,
        (true, Found::Open, _) => Alert::Adopt,
        (true, Found::Closed, Some(AlertState::Open | AlertState::ClosedByHuman)) => Alert::LeaveClosed,
        (true, Found::Closed, _) => Alert::Reopen,
        (true, Found::Absent, _) => Alert::File,
    }
}

/// The alert's state after `write` (filing or reopening it is one write kind, the emergency alert; closing it is
/// a close); `None` keeps the mark for the next cycle.
pub(crate) fn alert_after(write: IssueWrite, sent: Sent) -> Option<AlertState> {
    match (write, sent) {
        (_, Sent::Maybe) => None,
        (IssueWrite::File | IssueWrite::Reopen, Sent::Yes) => Some(AlertState::Open),
        (IssueWrite::File | IssueWrite::Reopen, Sent::No) => Some(AlertState::Closed),
        (IssueWrite::Close, Sent::Yes) => Some(AlertState::Closed),
        (IssueWrite::Close, Sent::No) => Some(AlertState::Open),
    }
}

/// A fix's pull request as the forge shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pull {
    pub(crate) open: bool,
    pub(crate) merged: bool,
}

impl Pull {
    /// The fix's state this pull request means: the forge is the truth about pull requests. Closed unmerged is a
    /// human's no.
    pub(crate) fn state(self) -> FixState {
        if self.merged {
            FixState::Merged
        } else if self.open {
            FixState::Open
        } else {
            FixState::ClosedByHuman
        }
    }
}

/// The step for a lint or format failure's fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fix {
    /// A pull request exists for the branch: it is the fix, in the state it shows.
    Record(FixState),
    /// Escalated, but the owners were not mentioned yet: the mention is retried.
    Mention,
    /// Escalated, or already tried for this commit: nothing until something changes.
    Wait,
    /// Make the fix (in a temporary clone) and, if allowed, open its pull request.
    Prepare,
}

/// `pull`: the pull request found for the fix's branch; `head`: the failing commit.
pub(crate) fn fix(pull: Option<Pull>, data: &FixData, head: &str) -> Fix {
    match pull {
        Some(pull) => Fix::Record(pull.state()),
        None if data.escalated && !data.mentioned => Fix::Mention,
        None if data.escalated || data.tried.iter().any(|t| t == head) => Fix::Wait,
        None => Fix::Prepare,
    }
}

/// The step for an open fix pull request whose checks were read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verify {
    /// Red on a day not yet counted: a failed attempt (hive pushes nothing more, so waiting is the only retry).
    FailedAttempt,
    /// Every check green and not a draft: merge, if governance allows.
    Merge,
    Wait,
}

/// `counted`: today's red checks of this head were already counted.
pub(crate) fn verify(checks: ChecksState, draft: bool, counted: bool) -> Verify {
    match checks {
        ChecksState::Failing if !counted => Verify::FailedAttempt,
        ChecksState::Green if !draft => Verify::Merge,
        _ => Verify::Wait,
    }
}

/// Whether a fix with `data` (its attempts already counted) is escalated now, or its mention retried.
pub(crate) fn escalation_due(data: &FixData, escalate_after: u32) -> bool {
    data.attempts >= escalate_after && !(data.escalated && data.mentioned)
}

/// What the steward does about one CI failure: the proposals' actions carried out, each at most once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CiActs {
    /// Re-run the failed jobs.
    pub(crate) rerun: bool,
    /// File (or tend) the failure's issue.
    pub(crate) issue: bool,
    /// Make the formatter's fix (a pull request, or a branch where the forge has none).
    pub(crate) fix: bool,
}

/// What is carried out of the actions proposed for a failure of class `class` in its first run attempt or not
/// (`first_attempt` is false too when the forge has no runs). Nothing proposed is dropped:
/// - a re-run happens in the first attempt only (a re-run of a re-run that failed is not another chance);
/// - a pull request is the formatter's fix, the only one the loop makes, so only a lint failure gets it;
/// - the issue is filed when proposed, with a fix (the failure stays visible while the fix waits for checks), when
///   a human is asked (the issue is where they are asked), for an infrastructure failure that failed again, and
///   whenever nothing else is carried out (a failure is never left untracked, whatever the engine said).
pub(crate) fn ci_acts(actions: &[ProposedAction], class: CiClass, first_attempt: bool) -> CiActs {
    let proposed = |kind: ActionKind| actions.contains(&ProposedAction::Write(kind));
    let rerun = proposed(ActionKind::RerunJobs) && first_attempt;
    let fix = proposed(ActionKind::OpenPullRequest) && class == CiClass::Lint;
    let again = class == CiClass::Infrastructure && !first_attempt;
    let escalate = actions.contains(&ProposedAction::EscalateToHuman);
    let issue = proposed(ActionKind::OpenIssue) || fix || escalate || again || !rerun;
    CiActs { rerun, issue, fix }
}

#[cfg(test)]
mod tests;
