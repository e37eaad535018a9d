//! Table tests of the cases' state machines: every stored state against every forge answer, including the states
//! a crash leaves behind.

use hive_cerebrum::governance::ChecksState;

use super::*;
use crate::autonomy::case::{AlertState as A, FixData, FixState as F, IssueState as I};

const ISSUE_STATES: [Option<I>; 8] = [
    None,
    Some(I::Opening),
    Some(I::Open),
    Some(I::Unfiled),
    Some(I::Reopening),
    Some(I::Closing),
    Some(I::Closed),
    Some(I::ClosedByHuman),
];

#[test]
fn a_failing_signature_s_issue() {
    use Failing::*;
    #[rustfmt::skip]
    let table: [(Option<I>, Found, Failing); 24] = [
        // Not on the forge: filed, whatever the database says (an `opening` whose request never arrived, too).
        (None,                   Found::Absent, File),
        (Some(I::Opening),       Found::Absent, File),
        (Some(I::Open),          Found::Absent, File),
        (Some(I::Unfiled),       Found::Absent, File),
        (Some(I::Reopening),     Found::Absent, File),
        (Some(I::Closing),       Found::Absent, File),
        (Some(I::Closed),        Found::Absent, File),
        (Some(I::ClosedByHuman), Found::Absent, File),
        // Open: tended; adopted when the database did not know it open (filed or reopened before a crash).
        (None,                   Found::Open, Tend { adopt: true }),
        (Some(I::Opening),       Found::Open, Tend { adopt: true }),
        (Some(I::Open),          Found::Open, Tend { adopt: false }),
        (Some(I::Unfiled),       Found::Open, Tend { adopt: true }),
        (Some(I::Reopening),     Found::Open, Tend { adopt: true }),
        (Some(I::Closing),       Found::Open, Tend { adopt: true }),
        (Some(I::Closed),        Found::Open, Tend { adopt: true }),
        (Some(I::ClosedByHuman), Found::Open, Tend { adopt: true }),
        // Closed while hive knew it open: a human's close, kept until CI is green, also when it fails again.
        (Some(I::Open),          Found::Closed, LeaveClosed),
        (Some(I::ClosedByHuman), Found::Closed, LeaveClosed),
        // Closed by hive, or by a write a crash interrupted: reopened for a new episode.
        (None,                   Found::Closed, Reopen),
        (Some(I::Opening),       Found::Closed, Reopen),
        (Some(I::Unfiled),       Found::Closed, Reopen),
        (Some(I::Reopening),     Found::Closed, Reopen),
        (Some(I::Closing),       Found::Closed, Reopen),
        (Some(I::Closed),        Found::Closed, Reopen),
    ];
    for (stored, found, expected) in table {
        assert_eq!(failing(stored, found), expected, "{stored:?} found {found:?}");
    }
}

#[test]
fn an_open_issue_is_rewritten_or_commented_at_most_daily() {
    #[rustfmt::skip]
    let table = [
        (true,  0,       false, Tend::RewriteBody),
        (true,  DAY * 2, true,  Tend::RewriteBody),
        (false, DAY - 1, false, Tend::Nothing),
        (false, DAY,     false, Tend::StatusComment),
        (false, DAY * 9, false, Tend::StatusComment),
        // A pending escalation takes the day's one comment.
        (false, DAY,     true,  Tend::Nothing),
    ];
    for (changed, since, pending, expected) in table {
        assert_eq!(tend(changed, since, pending), expected, "changed {changed}, {since} s, pending {pending}");
    }
}

#[test]
fn green_ci_closes_what_hive_filed_and_ends_a_human_s_close() {
    use Green::*;
    #[rustfmt::skip]
    let table = [
        // A human's close ends with the failure it was about; a later failure reopens it.
        (I::ClosedByHuman, None,                Unmute),
        (I::ClosedByHuman, Some(Found::Closed), Unmute),
        // Filed, or maybe filed before a crash: closed when open, `unfiled` when never filed.
        (I::Open,      Some(Found::Open),   Close),
        (I::Opening,   Some(Found::Open),   Close),
        (I::Reopening, Some(Found::Open),   Close),
        (I::Closing,   Some(Found::Open),   Close),
        (I::Opening,   Some(Found::Absent), Unfiled),
        (I::Open,      Some(Found::Absent), Unfiled),
        // Found closed: a close a crash interrupted (`closing`) was hive's; so is any close while green.
        (I::Closing,   Some(Found::Closed), Closed),
        (I::Open,      Some(Found::Closed), Closed),
        (I::Reopening, Some(Found::Closed), Closed),
        // Nothing live: nothing to do, and the forge is not asked.
        (I::Closed,  None,                Nothing),
        (I::Unfiled, None,                Nothing),
        (I::Closed,  Some(Found::Open),   Nothing),
        (I::Open,    None,                Nothing),
    ];
    for (stored, found, expected) in table {
        assert_eq!(green(stored, found), expected, "{stored:?} found {found:?}");
    }
}

#[test]
fn an_issue_write_settles_its_mark_only_when_its_fate_is_known() {
    use IssueWrite::*;
    #[rustfmt::skip]
    let table = [
        (File,   None,                 Sent::Yes,   Some(I::Open)),
        (File,   None,                 Sent::No,    Some(I::Unfiled)),
        (File,   None,                 Sent::Maybe, None),
        (Reopen, Some(I::Closed),      Sent::Yes,   Some(I::Open)),
        (Reopen, Some(I::Closed),      Sent::No,    Some(I::Closed)),
        (Reopen, Some(I::Closing),     Sent::Maybe, None),
        (Close,  Some(I::Open),        Sent::Yes,   Some(I::Closed)),
        (Close,  Some(I::Closing),     Sent::Yes,   Some(I::Closed)),
        // A close not sent leaves the issue as hive knew it: open, never `closing`.
        (Close,  Some(I::Open),        Sent::No,    Some(I::Open)),
        (Close,  Some(I::Closing),     Sent::No,    Some(I::Open)),
        (Close,  Some(I::Opening),     Sent::No,    Some(I::Opening)),
        (Close,  Some(I::Reopening),   Sent::No,    Some(I::Reopening)),
        // Maybe closed: stays `closing`, so a closed issue is known to be hive's doing.
        (Close,  Some(I::Open),        Sent::Maybe, None),
    ];
    for (write, before, sent, expected) in table {
        assert_eq!(issue_after(write, before, sent), expected, "{write:?} from {before:?}, sent {sent:?}");
    }
    for before in ISSUE_STATES {
        assert_eq!(issue_after(File, before, Sent::Maybe), None);
    }
}

#[test]
fn gates_and_forge_states_map_to_facts() {
    assert_eq!(Sent::from(&Gate::Done(())), Sent::Yes);
    assert_eq!(Sent::from(&Gate::<()>::Skipped), Sent::No);
    assert_eq!(Sent::from(&Gate::<()>::Failed), Sent::Maybe);
    assert_eq!(Found::of(None), Found::Absent);
    assert_eq!(Found::of(Some("open")), Found::Open);
    assert_eq!(Found::of(Some("closed")), Found::Closed);
}

#[test]
fn the_alert_is_looked_up_only_when_something_may_be_open() {
    #[rustfmt::skip]
    let table = [
        (true,  None,                   AlertLook::LookUp),
        (true,  Some(A::Closed),        AlertLook::LookUp),
        (true,  Some(A::ClosedByHuman), AlertLook::LookUp),
        (false, None,                   AlertLook::Idle),
        (false, Some(A::Closed),        AlertLook::Idle),
        (false, Some(A::ClosedByHuman), AlertLook::Unmute),
        (false, Some(A::Open),          AlertLook::LookUp),
        (false, Some(A::Opening),       AlertLook::LookUp),
        (false, Some(A::Reopening),     AlertLook::LookUp),
        (false, Some(A::Closing),       AlertLook::LookUp),
    ];
    for (active, stored, expected) in table {
        assert_eq!(alert_look(active, stored), expected, "active {active}, {stored:?}");
    }
}

#[test]
fn the_emergency_alert() {
    use Alert::*;
    #[rustfmt::skip]
    let table = [
        // During an emergency.
        (true, None,                   Found::Absent, File),
        (true, Some(A::Opening),       Found::Absent, File),
        (true, Some(A::Closed),        Found::Absent, File),
        (true, Some(A::Open),          Found::Open,   Nothing),
        (true, None,                   Found::Open,   Adopt),
        (true, Some(A::Opening),       Found::Open,   Adopt),
        (true, Some(A::Reopening),     Found::Open,   Adopt),
        (true, Some(A::Open),          Found::Closed, LeaveClosed),
        (true, Some(A::ClosedByHuman), Found::Closed, LeaveClosed),
        (true, Some(A::Closed),        Found::Closed, Reopen),
        (true, Some(A::Closing),       Found::Closed, Reopen),
        (true, Some(A::Reopening),     Found::Closed, Reopen),
        (true, None,                   Found::Closed, Reopen),
        // After it.
        (false, Some(A::Open),         Found::Open,   Close),
        (false, Some(A::Closing),      Found::Open,   Close),
        (false, Some(A::Closing),      Found::Closed, Closed),
        (false, Some(A::Opening),      Found::Absent, Closed),
    ];
    for (active, stored, found, expected) in table {
        assert_eq!(alert(active, stored, found), expected, "active {active}, {stored:?} found {found:?}");
    }
    #[rustfmt::skip]
    let after = [
        (IssueWrite::File,   Sent::Yes,   Some(A::Open)),
        (IssueWrite::File,   Sent::No,    Some(A::Closed)),
        (IssueWrite::File,   Sent::Maybe, None),
        (IssueWrite::Reopen, Sent::Yes,   Some(A::Open)),
        (IssueWrite::Reopen, Sent::No,    Some(A::Closed)),
        (IssueWrite::Close,  Sent::Yes,   Some(A::Closed)),
        (IssueWrite::Close,  Sent::No,    Some(A::Open)),
        (IssueWrite::Close,  Sent::Maybe, None),
    ];
    for (write, sent, expected) in after {
        assert_eq!(alert_after(write, sent), expected, "{write:?} sent {sent:?}");
    }
}

#[test]
fn a_fix_follows_its_pull_request_and_never_repeats_an_attempt() {
    let fresh = FixData::default();
    let tried = FixData { attempts: 1, tried: vec!["abc".into()], ..FixData::default() };
    let escalated = FixData { attempts: 2, escalated: true, ..FixData::default() };
    let mentioned = FixData { attempts: 2, escalated: true, mentioned: true, ..FixData::default() };
    let (open, merged, closed) =
        (Pull { open: true, merged: false }, Pull { open: false, merged: true }, Pull { open: false, merged: false });
    #[rustfmt::skip]
    let table = [
        // The forge is the truth about pull requests, whatever the database says.
        (Some(open),   &fresh,     "abc", Fix::Record(F::Open)),
        (Some(merged), &tried,     "abc", Fix::Record(F::Merged)),
        // Closed without merging: a human said no; never opened again.
        (Some(closed), &fresh,     "abc", Fix::Record(F::ClosedByHuman)),
        (Some(closed), &mentioned, "abc", Fix::Record(F::ClosedByHuman)),
        (None,         &fresh,     "abc", Fix::Prepare),
        (None,         &tried,     "abc", Fix::Wait),
        (None,         &tried,     "def", Fix::Prepare),
        (None,         &escalated, "def", Fix::Mention),
        (None,         &mentioned, "def", Fix::Wait),
    ];
    for (pull, data, head, expected) in table {
        assert_eq!(fix(pull, data, head), expected, "{pull:?}, {data:?}, head {head}");
    }
}

#[test]
fn an_open_fix_is_merged_when_green_and_counted_once_a_day_when_red() {
    #[rustfmt::skip]
    let table = [
        (ChecksState::Failing, false, false, Verify::FailedAttempt),
        (ChecksState::Failing, false, true,  Verify::Wait),
        (ChecksState::Green,   false, false, Verify::Merge),
        (ChecksState::Green,   true,  false, Verify::Wait),
        (ChecksState::Pending, false, false, Verify::Wait),
        (ChecksState::Missing, false, false, Verify::Wait),
    ];
    for (checks, draft, counted, expected) in table {
        assert_eq!(verify(checks, draft, counted), expected, "{checks:?}, draft {draft}, counted {counted}");
    }
}

#[test]
fn escalation_is_due_after_enough_attempts_until_the_owners_are_mentioned() {
    let at = |attempts, escalated, mentioned| FixData { attempts, escalated, mentioned, ..FixData::default() };
    #[rustfmt::skip]
    let table = [
        (at(1, false, false), false),
        (at(2, false, false), true),
        (at(3, false, false), true),
        // Labelled, the mention still to post: retried.
        (at(2, true, false),  true),
        (at(2, true, true),   false),
    ];
    for (data, expected) in table {
        assert_eq!(escalation_due(&data, 2), expected, "{data:?}");
    }
}

#[test]
fn what_is_carried_out_of_a_failure_s_proposals() {
    use hive_cerebrum::{CiClass as C, ProposedAction::EscalateToHuman, governance::ActionKind as K};
    let w = hive_cerebrum::ProposedAction::Write;
    let acts = |rerun, issue, fix| CiActs { rerun, issue, fix };
    #[rustfmt::skip]
    let table: Vec<(Vec<hive_cerebrum::ProposedAction>, C, bool, CiActs)> = vec![
        // A re-run in the first attempt, alone; a re-run that failed again, or one without a run, is the issue's.
        (vec![w(K::RerunJobs)],                        C::Infrastructure, true,  acts(true, false, false)),
        (vec![w(K::RerunJobs)],                        C::Infrastructure, false, acts(false, true, false)),
        (vec![w(K::OpenIssue)],                        C::Infrastructure, false, acts(false, true, false)),
        // The formatter's fix and its issue, for lint only.
        (vec![w(K::OpenPullRequest), w(K::OpenIssue)], C::Lint,           true,  acts(false, true, true)),
        (vec![w(K::OpenPullRequest)],                  C::Lint,           false, acts(false, true, true)),
        (vec![w(K::OpenPullRequest)],                  C::Dependency,     true,  acts(false, true, false)),
        (vec![w(K::OpenPullRequest)],                  C::Test,           true,  acts(false, true, false)),
        (vec![w(K::OpenIssue)],                        C::Dependency,     true,  acts(false, true, false)),
        // Asking a human is done in the issue, even beside a re-run.
        (vec![w(K::RerunJobs), EscalateToHuman],       C::Infrastructure, true,  acts(true, true, false)),
        (vec![EscalateToHuman],                        C::Deploy,         true,  acts(false, true, false)),
        // Nothing the loop does for a failure (nothing at all, a comment, a re-run of a test): tracked by its issue.
        (vec![],                                       C::Test,           true,  acts(false, true, false)),
        (vec![w(K::Comment)],                          C::Build,          true,  acts(false, true, false)),
        (vec![w(K::RerunJobs)],                        C::Test,           false, acts(false, true, false)),
        (vec![w(K::RerunJobs)],                        C::Test,           true,  acts(true, false, false)),
    ];
    for (actions, class, first, expected) in table {
        assert_eq!(ci_acts(&actions, class, first), expected, "{actions:?} {class:?} first attempt {first}");
    }
}

#[tokio::test]
async fn every_proposal_the_rules_make_for_a_ci_failure_is_carried_out() {
    use hive_cerebrum::{CiSignature, ProposalEngine, ProposedAction as P, RuleEngine, Seed, Signal};
    // The attempt as a pilot sees it: unknown (no runs), the first, a re-run's.
    for class in hive_cerebrum::CiClass::ALL {
        for attempt in [None, Some(1), Some(2)] {
            let signal = Signal::ci_failure(CiSignature::new("ci", "job", Some("step"), class)).in_attempt(attempt);
            let plan = RuleEngine.propose(&Seed::new("acme/api", signal)).await.expect("the rules always answer");
            let actions: Vec<P> = plan.iter().map(|p| p.action).collect();
            let first = attempt == Some(1);
            let acts = ci_acts(&actions, class, first);
            for action in &actions {
                let carried = match action {
                    P::Write(ActionKind::RerunJobs) => acts.rerun || (!first && acts.issue),
                    P::Write(ActionKind::OpenIssue) | P::EscalateToHuman => acts.issue,
                    P::Write(ActionKind::OpenPullRequest) => acts.fix,
                    P::Write(other) => panic!("the rules propose {other} for a CI failure, which the loop never makes"),
                };
                assert!(carried, "{class:?} attempt {attempt:?}: {action:?} of {actions:?} is dropped ({acts:?})");
            }
        }
    }
}
