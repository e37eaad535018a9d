//! The autonomy loop's durable state on a real SQLite file: idempotent write reservations with their audit records,
//! spending windows, crash recovery of unfinished writes, approvals, the cycle counter and the backlog export.

use hive_cerebrum::{
    AuditEntry, BACKLOG_FILE, BacklogExport, BacklogItem, Identity, ItemKind, Memory, MemoryError, NewWrite,
    Reservation, Risk, WriteState,
};

fn entry(action: &str, result: &str) -> AuditEntry {
    AuditEntry {
        actor: "queen".to_owned(),
        repositories: vec!["acme/api".to_owned()],
        action: action.to_owned(),
        result: result.to_owned(),
        decision: "allow: low risk".to_owned(),
    }
}

fn write(key: &str, kind: &str, target: Option<&str>) -> NewWrite {
    NewWrite { key: key.to_owned(), kind: kind.to_owned(), repo: "acme/api".to_owned(), target: target.map(Into::into) }
}

#[test]
fn reserving_a_key_twice_finds_the_first_and_audits_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut memory = Memory::open(dir.path()).unwrap();
    let w = write("comment:acme/api#3:2026-11-21", "comment", Some("acme/api#3"));
    let first = memory.writes().reserve(&w, 1_000, false, &entry("comment", "reserved")).unwrap();
    let Reservation::New(row) = first else { panic!("the first reservation is new: {first:?}") };
    assert_eq!((row.state, row.reserved_at, row.outcome.as_deref()), (WriteState::Reserved, 1_000, None));

    let second = memory.writes().reserve(&w, 2_000, false, &entry("comment", "reserved again")).unwrap();
    assert_eq!(second, Reservation::Existing(row.clone()), "the earlier row, untouched");
    assert_eq!(memory.audit().verify().unwrap(), 1, "only the first reservation was audited");

    memory
        .writes()
        .complete(&w.key, WriteState::Done, "https://forge/acme/api/issues/3#c1", &entry("comment", "ok"))
        .unwrap();
    let done = memory.writes().get(&w.key).unwrap().unwrap();
    assert_eq!(done.state, WriteState::Done);
    assert_eq!(done.outcome.as_deref(), Some("https://forge/acme/api/issues/3#c1"));
    assert_eq!(memory.audit().verify().unwrap(), 2);
    assert!(memory.writes().get("no-such-key").unwrap().is_none());
}

#[test]
fn completing_an_unreserved_write_is_refused_without_an_audit_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut memory = Memory::open(dir.path()).unwrap();
    let err = memory.writes().complete("ghost", WriteState::Done, "ok", &entry("comment", "ok")).unwrap_err();
    assert!(matches!(err, MemoryError::UnknownWrite { ref key, .. } if key == "ghost"), "{err:?}");
    assert!(err.to_string().contains("'ghost'"), "{err}");
    assert_eq!(memory.audit().verify().unwrap(), 0, "the audit record rolled back with the write");
}

#[test]
fn a_write_is_known_by_its_key_or_by_its_key_without_the_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let mut memory = Memory::open(dir.path()).unwrap();
    let key = "comment:acme/api#3:2026-11-21";
    memory.writes().reserve(&write(&format!("{key}:c12"), "comment", None), 1_000, false, &entry("c", "r")).unwrap();
    memory.writes().reserve(&write("rerun:acme/api", "rerun_jobs", None), 1_000, false, &entry("r", "r")).unwrap();
    for known in [key, "comment:acme/api#3:2026-11-21:c12", "rerun:acme/api"] {
        assert!(memory.writes().known(known).unwrap(), "{known}");
    }
    // Prefixes that are not the key up to its cycle suffix, and other strings.
    for unknown in ["comment", "comment:acme/api#3", "comment:acme/api#3:2026-11-21:c1", "rerun:acme", "%", "_"] {
        assert!(!memory.writes().known(unknown).unwrap(), "{unknown}");
    }
}

#[test]
fn count_covers_the_window_the_kinds_and_the_target_and_only_spent_writes() {
    let dir = tempfile::tempdir().unwrap();
    let mut memory = Memory::open(dir.path()).unwrap();
    let mut writes = memory.writes();
    let audit = entry("write", "reserved");
    writes.reserve(&write("a", "comment", Some("acme/api#1")), 100, false, &audit).unwrap();
    writes.reserve(&write("b", "comment", Some("acme/api#1")), 200, false, &audit).unwrap();
    writes.reserve(&write("c", "comment", Some("acme/api#2")), 300, false, &audit).unwrap();
    writes.reserve(&write("d", "open_issue", None), 300, false, &audit).unwrap();
    writes.reserve(&write("e", "open_pull_request", None), 400, false, &audit).unwrap();
    // Neither a failed write nor a dry-run one is spent.
    writes.reserve(&write("f", "comment", Some("acme/api#1")), 400, false, &audit).unwrap();
    writes.complete("f", WriteState::Failed, "422", &audit).unwrap();
    writes.reserve(&write("g", "comment", Some("acme/api#1")), 400, true, &audit).unwrap();
    assert_eq!(writes.get("g").unwrap().unwrap().state, WriteState::WouldDo);
    writes.complete("b", WriteState::Done, "ok", &audit).unwrap();

    assert_eq!(writes.count(&[], None, 0).unwrap(), 5);
    assert_eq!(writes.count(&[], None, 200).unwrap(), 4, "the window starts at since, inclusive");
    assert_eq!(writes.count(&[], None, 401).unwrap(), 0);
    assert_eq!(writes.count(&["comment"], None, 0).unwrap(), 3);
    assert_eq!(writes.count(&["open_issue", "open_pull_request"], None, 0).unwrap(), 2);
    assert_eq!(writes.count(&["comment"], Some("acme/api#1"), 0).unwrap(), 2);
    assert_eq!(writes.count(&["comment"], Some("acme/api#1"), 150).unwrap(), 1);
    assert_eq!(writes.count(&[], Some("acme/api#2"), 0).unwrap(), 1);
    assert_eq!(writes.count(&["rerun"], None, 0).unwrap(), 0);
}

#[test]
fn a_write_reserved_before_a_crash_is_unfinished_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut memory = Memory::open(dir.path()).unwrap();
        let audit = entry("open_issue", "reserved");
        memory.writes().reserve(&write("issue:1", "open_issue", None), 10, false, &audit).unwrap();
        memory.writes().reserve(&write("issue:2", "open_issue", None), 11, false, &audit).unwrap();
        memory.writes().complete("issue:2", WriteState::Done, "#7", &entry("open_issue", "ok")).unwrap();
        memory.writes().reserve(&write("issue:3", "open_issue", None), 12, true, &audit).unwrap();
        // Dropped without completing issue:1, as a killed process would leave it.
    }
    let mut memory = Memory::open(dir.path()).unwrap();
    let unfinished = memory.writes().unfinished().unwrap();
    assert_eq!(unfinished.iter().map(|w| w.key.as_str()).collect::<Vec<_>>(), ["issue:1"]);
    assert_eq!(memory.audit().verify().unwrap(), 4);
}

#[test]
fn identities_round_trip_and_list_by_kind() {
    let dir = tempfile::tempdir().unwrap();
    let mut memory = Memory::open(dir.path()).unwrap();
    let issue = Identity {
        key: "issue:acme/api:ci".to_owned(),
        repo: "acme/api".to_owned(),
        kind: "issue".to_owned(),
        number: Some(42),
        state: Some("open".to_owned()),
        fingerprint: Some("ci/test".to_owned()),
        data: serde_json::json!({ "labels": ["hive"] }),
        updated_at: 5,
    };
    memory.identities().put(&issue).unwrap();
    let pull = Identity { key: "pull:acme/api:fmt".to_owned(), kind: "pull".to_owned(), number: None, ..issue.clone() };
    memory.identities().put(&pull).unwrap();
    assert_eq!(memory.identities().get(&issue.key).unwrap(), Some(issue.clone()));

    let closed = Identity { state: Some("closed".to_owned()), updated_at: 9, ..issue.clone() };
    memory.identities().put(&closed).unwrap();
    assert_eq!(memory.identities().get(&issue.key).unwrap(), Some(closed.clone()));
    assert_eq!(memory.identities().list(Some("issue")).unwrap(), std::slice::from_ref(&closed));
    assert_eq!(memory.identities().list(None).unwrap(), [closed, pull]);
    assert!(memory.identities().get("nothing").unwrap().is_none());
}

#[test]
fn approvals_expire_and_are_audited_as_the_human() {
    let dir = tempfile::tempdir().unwrap();
    let mut memory = Memory::open(dir.path()).unwrap();
    let approval = memory.approvals().approve("98673d657cef46f6", "alice", 1_000, 3_600).unwrap();
    assert_eq!((approval.approved_at, approval.expires_at), (1_000, 4_600));
    assert!(memory.approvals().is_approved("98673d657cef46f6", 1_000).unwrap());
    assert!(memory.approvals().is_approved("98673d657cef46f6", 4_599).unwrap());
    assert!(!memory.approvals().is_approved("98673d657cef46f6", 4_600).unwrap(), "expired");
    assert!(!memory.approvals().is_approved("other", 1_000).unwrap());
    assert_eq!(memory.approvals().list().unwrap(), [approval]);

    let mut export = Vec::new();
    memory.audit().export_jsonl(&mut export).unwrap();
    let record: serde_json::Value = serde_json::from_slice(&export).unwrap();
    assert_eq!(record["actor"], "human:alice");
    assert_eq!(record["action"], "approve");
    assert_eq!(memory.audit().verify().unwrap(), 1);
}

#[test]
fn a_revoked_approval_no_longer_holds_and_the_revocation_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let mut memory = Memory::open(dir.path()).unwrap();
    memory.approvals().approve("98673d657cef46f6", "alice", 1_000, 3_600).unwrap();
    assert_eq!(memory.approvals().revoke("never-approved", "bob").unwrap(), None);
    let revoked = memory.approvals().revoke("98673d657cef46f6", "bob").unwrap().expect("it was approved");
    assert_eq!(revoked.approved_by, "alice");
    assert!(!memory.approvals().is_approved("98673d657cef46f6", 1_000).unwrap());
    assert!(memory.approvals().list().unwrap().is_empty());

    let mut export = Vec::new();
    memory.audit().export_jsonl(&mut export).unwrap();
    let records: Vec<serde_json::Value> =
        export.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).unwrap()).collect();
    // The approval and its revocation; the unknown id left no record.
    assert_eq!(records.len(), 2);
    assert_eq!((records[1]["actor"].as_str(), records[1]["action"].as_str()), (Some("human:bob"), Some("revoke")));
    assert_eq!(memory.audit().verify().unwrap(), 2);
}

#[test]
fn the_records_about_one_repository_come_newest_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut memory = Memory::open(dir.path()).unwrap();
    let about = |repos: &[&str], action: &str| AuditEntry {
        repositories: repos.iter().map(|r| r.to_string()).collect(),
        ..entry(action, "ok")
    };
    memory.audit().append(&about(&["acme/api"], "open_issue")).unwrap();
    // A name that merely contains the other must not match.
    memory.audit().append(&about(&["acme/api-v2"], "comment")).unwrap();
    memory.audit().append(&about(&["acme/web", "acme/api"], "rerun_jobs")).unwrap();
    memory.audit().append(&about(&[], "command")).unwrap();
    let mut actions = |limit| -> Vec<String> {
        memory.audit().recent_for("acme/api", limit).unwrap().into_iter().map(|r| r.action).collect()
    };
    assert_eq!(actions(10), ["rerun_jobs", "open_issue"]);
    assert_eq!(actions(1), ["rerun_jobs"]);
    assert!(memory.audit().recent_for("acme/none", 10).unwrap().is_empty());
}

#[test]
fn a_claimed_cycle_number_is_taken_unless_it_was_used_and_the_counter_never_goes_back() {
    let dir = tempfile::tempdir().unwrap();
    let mut memory = Memory::open(dir.path()).unwrap();
    assert_eq!(memory.history().last_cycle().unwrap(), 0);
    // The queen's number, ahead of the counter: taken as it is.
    assert_eq!(memory.history().claim_cycle(5).unwrap(), 5);
    assert_eq!(memory.history().last_cycle().unwrap(), 5);
    // A number already used, or an older one, is never handed out again.
    assert_eq!(memory.history().claim_cycle(5).unwrap(), 6);
    assert_eq!(memory.history().claim_cycle(2).unwrap(), 7);
    assert_eq!(memory.history().next_cycle().unwrap(), 8);
    // A cycle numbered but not acted on moves the counter up, never back.
    memory.history().pass_cycle(3).unwrap();
    assert_eq!(memory.history().last_cycle().unwrap(), 8);
    memory.history().pass_cycle(9).unwrap();
    drop(memory);
    let mut memory = Memory::open(dir.path()).unwrap();
    assert_eq!(memory.history().last_cycle().unwrap(), 9, "kept across reopening");
}

#[test]
fn the_cycle_counter_and_history_persist_across_reopening() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut memory = Memory::open(dir.path()).unwrap();
        assert_eq!(memory.history().next_cycle().unwrap(), 1);
        assert_eq!(memory.history().next_cycle().unwrap(), 2);
        memory.history().record(1, "acme/api", 80, "healthy", 100).unwrap();
        memory.history().record(2, "acme/api", 55, "degraded", 200).unwrap();
        memory.history().record(2, "acme/web", 90, "healthy", 200).unwrap();
        // The same cycle and repository again replaces its record.
        memory.history().record(2, "acme/api", 50, "degraded", 201).unwrap();
    }
    let mut memory = Memory::open(dir.path()).unwrap();
    assert_eq!(memory.history().next_cycle().unwrap(), 3);
    let api = memory.history().of("acme/api", 10).unwrap();
    assert_eq!(api, [(2, 50, "degraded".to_owned(), 201), (1, 80, "healthy".to_owned(), 100)]);
    assert_eq!(memory.history().of("acme/api", 1).unwrap().len(), 1);
    assert!(memory.history().of("acme/none", 10).unwrap().is_empty());
}

#[test]
fn the_backlog_export_is_sorted_by_priority_then_id_and_written_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mut memory = Memory::open(dir.path()).unwrap();
    let items = [
        BacklogItem::new("acme/api", ItemKind::Chore, "fmt", 3, Risk::Low),
        BacklogItem::new("acme/api", ItemKind::Bug, "ci fails", 1, Risk::Medium),
        BacklogItem::new("acme/web", ItemKind::Security, "leak", 1, Risk::Critical),
    ];
    for item in &items {
        memory.ledger().upsert(item).unwrap();
    }
    let path = dir.path().join(BACKLOG_FILE);
    assert_eq!(memory.ledger().export(&path, Some(7)).unwrap(), 3);
    let document: BacklogExport = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    assert_eq!((document.schema_version, document.cycle), (1, Some(7)));
    let mut expected: Vec<(u8, String)> = items.iter().map(|i| (i.priority, i.id.clone())).collect();
    expected.sort();
    assert_eq!(document.items.iter().map(|i| (i.priority, i.id.clone())).collect::<Vec<_>>(), expected);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
