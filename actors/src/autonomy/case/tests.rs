//! Rows as the steward wrote them before its cases were typed load into the typed cases, and the typed cases write
//! the same shapes back.

use hive_cerebrum::{Identity, ItemKind, Memory, MemoryError, Risk};
use serde_json::{Value, json};

use super::*;

fn row(kind: &str, state: &str, data: Value) -> Identity {
    Identity {
        key: format!("{kind}:acme/api:0123456789abcdef"),
        repo: "acme/api".into(),
        kind: kind.into(),
        number: Some(7),
        state: Some(state.into()),
        fingerprint: Some("0123456789abcdef".into()),
        data,
        updated_at: 1_700_000_000,
    }
}

/// Every issue state and data shape the earlier code wrote: `remember_issue` (kind, title, `last_touch` when new),
/// `set_issue` (episode), `comment_once` (`last_touch`).
#[test]
fn issue_rows_of_the_earlier_format_load() {
    let title = "CI failing on main: `ci` / `test` (test)";
    let filed = json!({ "last_touch": 1_700_000_000, "kind": "bug", "title": title });
    for (name, state) in [
        ("opening", IssueState::Opening),
        ("open", IssueState::Open),
        ("unfiled", IssueState::Unfiled),
        ("closing", IssueState::Closing),
        ("closed", IssueState::Closed),
        ("closed_by_human", IssueState::ClosedByHuman),
    ] {
        let case = IssueCase::decode(&row("issue", name, filed.clone())).unwrap();
        assert_eq!(case.state, state);
        assert_eq!(case.number, Some(7));
        assert_eq!(
            case.data,
            IssueData { last_touch: 1_700_000_000, kind: ItemKind::Bug, title: title.into(), episode: 0 }
        );
        // Written back in the same shape.
        assert_eq!(case.encode(), row("issue", name, filed.clone()));
    }
    let reopened = json!({ "last_touch": 1_700_086_400, "kind": "chore", "title": title, "episode": 2 });
    let case = IssueCase::decode(&row("issue", "reopening", reopened.clone())).unwrap();
    assert_eq!((case.state, case.data.kind, case.data.episode), (IssueState::Reopening, ItemKind::Chore, 2));
    assert_eq!(case.encode().data, reopened);
}

/// `FixState::to_value` plus the keys `fix`, `verify_and_ship` and `after_failed_attempt` set.
#[test]
fn fix_rows_of_the_earlier_format_load() {
    let open = json!({
        "attempts": 1, "tried": ["abc@2024-05-01"], "escalated": false, "mentioned": false, "lines": 12,
        "branch": "hive/fix/lint-0123abcd", "item": "a1b2c3", "risk": "low", "signature": "0123456789abcdef",
        "title": "CI failing on main: `ci` / `fmt` (lint)", "prepared_sha": "def", "head_sha": "def",
    });
    let case = FixCase::decode(&row("fix", "open", open.clone())).unwrap();
    assert_eq!(case.state, FixState::Open);
    assert_eq!(case.data.attempts, 1);
    assert_eq!(case.data.tried, ["abc@2024-05-01"]);
    assert_eq!(case.data.lines, Some(12));
    assert_eq!(case.data.risk, Some(Risk::Low));
    assert_eq!(case.data.branch.as_deref(), Some("hive/fix/lint-0123abcd"));
    assert_eq!(case.data.head_sha.as_deref(), Some("def"));
    assert_eq!(case.data.prepared_sha.as_deref(), Some("def"));
    assert_eq!(case.data.item.as_deref(), Some("a1b2c3"));
    assert_eq!(case.encode().data, open);
    // A fix that only ever failed: no branch, size or risk.
    let failed = json!({
        "attempts": 2, "tried": ["abc", "def"], "escalated": true, "mentioned": false,
        "item": "a1b2c3", "signature": "0123456789abcdef",
    });
    let case = FixCase::decode(&row("fix", "failed", failed.clone())).unwrap();
    assert_eq!((case.state, case.data.escalated, case.data.mentioned), (FixState::Failed, true, false));
    assert_eq!((case.data.lines, case.data.risk, case.data.branch.as_deref()), (None, None, None));
    assert_eq!(case.encode().data, failed);
    for (name, state) in
        [("prepared", FixState::Prepared), ("merged", FixState::Merged), ("closed_by_human", FixState::ClosedByHuman)]
    {
        assert_eq!(FixCase::decode(&row("fix", name, open.clone())).unwrap().state, state);
    }
}

#[test]
fn alert_and_rerun_rows_of_the_earlier_format_load() {
    for (name, state) in [
        ("opening", AlertState::Opening),
        ("open", AlertState::Open),
        ("reopening", AlertState::Reopening),
        ("closing", AlertState::Closing),
        ("closed", AlertState::Closed),
        ("closed_by_human", AlertState::ClosedByHuman),
    ] {
        let case = AlertCase::decode(&row("alert", name, json!({}))).unwrap();
        assert_eq!(case.state, state);
        assert_eq!(case.encode().data, json!({}));
    }
    let case = RerunCase::decode(&row("rerun", "requested", json!({ "attempt": 1 }))).unwrap();
    assert_eq!((case.state, case.data.attempt), (RerunState::Requested, 1));
    assert_eq!(case.encode(), row("rerun", "requested", json!({ "attempt": 1 })));
}

#[test]
fn older_rows_missing_fields_take_defaults() {
    let case = IssueCase::decode(&row("issue", "open", json!({ "title": "t" }))).unwrap();
    assert_eq!(case.data, IssueData { title: "t".into(), ..IssueData::default() });
    let case = FixCase::decode(&row("fix", "failed", json!({}))).unwrap();
    assert_eq!(case.data, FixData::default());
}

#[test]
fn a_row_that_does_not_fit_its_case_is_refused_with_its_reason() {
    let err = IssueCase::decode(&row("issue", "half-open", json!({}))).unwrap_err();
    assert!(err.contains("'half-open'") && err.contains("issue"), "{err}");
    let err = FixCase::decode(&row("fix", "open", json!({ "attempts": "many" }))).unwrap_err();
    assert!(err.contains("data does not fit"), "{err}");
    let err = FixCase::decode(&row("issue", "open", json!({}))).unwrap_err();
    assert!(err.contains("'issue'") && err.contains("'fix'"), "{err}");
    let mut stateless = row("alert", "open", json!({}));
    stateless.state = None;
    assert!(AlertCase::decode(&stateless).unwrap_err().contains("no state"));
}

/// Through a real database: rows put as the earlier code put them are loaded as cases, and a bad one is the
/// database's bad record, naming the row and the file.
#[test]
fn cases_load_from_a_database_written_in_the_earlier_format() {
    let dir = tempfile::tempdir().unwrap();
    let mut memory = Memory::open(dir.path()).unwrap();
    let filed = row("issue", "closing", json!({ "last_touch": 5, "kind": "bug", "title": "t", "episode": 1 }));
    memory.identities().put(&filed).unwrap();
    let loaded: IssueCase = load(&mut memory, &filed.key).unwrap().unwrap();
    assert_eq!((loaded.state, loaded.data.episode, loaded.data.last_touch), (IssueState::Closing, 1, 5));
    let mut changed = loaded.clone();
    changed.state = IssueState::Closed;
    store(&mut memory, &changed).unwrap();
    assert_eq!(memory.identities().get(&filed.key).unwrap().unwrap().state.as_deref(), Some("closed"));
    assert!(load::<IssueState, IssueData>(&mut memory, "issue:acme/api:absent").unwrap().is_none());

    let bad = row("alert", "ajar", json!({}));
    memory.identities().put(&bad).unwrap();
    match load::<AlertState, NoData>(&mut memory, &bad.key) {
        Err(MemoryError::BadRecord { table, key, reason, .. }) => {
            assert_eq!((table, key.as_str()), ("identity", bad.key.as_str()));
            assert!(reason.contains("'ajar'"), "{reason}");
        }
        other => panic!("expected a bad record, got {other:?}"),
    }
}
