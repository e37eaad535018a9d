//! Tests of the audit trail: records tampered with through raw SQL are found, and the first bad one is named.

use rusqlite::Connection;

use crate::memory::{AuditBreak, AuditEntry, GENESIS_HASH, Memory};

/// A trail of `n` records in a fresh state directory.
fn trail(n: usize) -> (tempfile::TempDir, Memory) {
    let dir = tempfile::tempdir().unwrap();
    let mut memory = Memory::open(dir.path()).unwrap();
    for i in 0..n {
        let entry = AuditEntry {
            actor: "queen".to_owned(),
            repositories: vec![format!("acme/repo-{i}")],
            action: "open_issue".to_owned(),
            result: "ok".to_owned(),
            decision: "allow: low risk".to_owned(),
        };
        memory.audit().append(&entry).unwrap();
    }
    (dir, memory)
}

/// Runs raw SQL on the database behind hive's back, as an attacker or a bad tool would.
fn tamper(dir: &tempfile::TempDir, sql: &str) {
    Connection::open(dir.path().join(Memory::FILE_NAME)).unwrap().execute_batch(sql).unwrap();
}

/// The first bad record's seq and problem.
fn first_break(memory: &mut Memory) -> (u64, String) {
    match memory.audit().verify() {
        Err(AuditBreak::Record { seq, problem }) => (seq, problem),
        other => panic!("expected a broken chain, got {other:?}"),
    }
}

#[test]
fn appended_records_chain_and_verify() {
    let (_dir, mut memory) = trail(3);
    assert_eq!(memory.audit().verify().unwrap(), 3);
    let mut out = Vec::new();
    assert_eq!(memory.audit().export_jsonl(&mut out).unwrap(), 3);
    let records: Vec<crate::memory::AuditRecord> =
        String::from_utf8(out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records[0].prev_hash, GENESIS_HASH);
    assert_eq!(records[1].prev_hash, records[0].hash);
    assert_eq!(records[2].seq, 3);
    assert!(records.iter().all(|r| r.compute_hash() == r.hash && r.hash.len() == 64));
}

#[test]
fn records_after_a_seq_come_oldest_first_up_to_the_limit() {
    let (_dir, mut memory) = trail(5);
    let mut seqs =
        |after, limit| -> Vec<u64> { memory.audit().after(after, limit).unwrap().iter().map(|r| r.seq).collect() };
    assert_eq!(seqs(0, 100), [1, 2, 3, 4, 5]);
    assert_eq!(seqs(2, 2), [3, 4]);
    assert_eq!(seqs(4, 100), [5]);
    assert!(seqs(5, 100).is_empty());
    assert!(seqs(u64::MAX, 100).is_empty());
    assert!(seqs(0, 0).is_empty());
    let third = memory.audit().after(2, 1).unwrap().remove(0);
    assert_eq!(third.repositories, ["acme/repo-2"]);
    assert_eq!(third.compute_hash(), third.hash);
}

#[test]
fn a_record_that_does_not_decode_is_an_error_when_read_after() {
    let (dir, mut memory) = trail(3);
    tamper(&dir, "UPDATE audit SET repositories = 'not json' WHERE seq = 2");
    let err = memory.audit().after(0, 10).unwrap_err();
    assert!(err.to_string().contains('2'), "{err}");
    assert_eq!(memory.audit().after(2, 10).unwrap().len(), 1);
}

#[test]
fn an_empty_trail_verifies() {
    let (_dir, mut memory) = trail(0);
    assert_eq!(memory.audit().verify().unwrap(), 0);
}

#[test]
fn the_trail_survives_reopening() {
    let (dir, memory) = trail(2);
    drop(memory);
    let mut memory = Memory::open(dir.path()).unwrap();
    let next = memory.audit().append(&AuditEntry::default()).unwrap();
    assert_eq!(next.seq, 3);
    assert_eq!(memory.audit().verify().unwrap(), 3);
}

#[test]
fn an_edited_record_is_named() {
    let (dir, mut memory) = trail(4);
    tamper(&dir, "UPDATE audit SET result = 'failed' WHERE seq = 2");
    let (seq, problem) = first_break(&mut memory);
    assert_eq!(seq, 2);
    assert!(problem.contains("edited"), "{problem}");
}

#[test]
fn a_deleted_record_is_named() {
    let (dir, mut memory) = trail(4);
    tamper(&dir, "DELETE FROM audit WHERE seq = 2");
    let (seq, problem) = first_break(&mut memory);
    assert_eq!(seq, 2);
    assert!(problem.contains("missing"), "{problem}");
}

#[test]
fn deleting_the_newest_record_is_found() {
    let (dir, mut memory) = trail(4);
    tamper(&dir, "DELETE FROM audit WHERE seq = 4");
    let (seq, problem) = first_break(&mut memory);
    assert_eq!(seq, 4);
    assert!(problem.contains("missing"), "{problem}");
}

#[test]
fn a_deleted_record_renumbered_away_is_named() {
    // Closing the gap hides the deletion from a seq check; the chain still shows it.
    let (dir, mut memory) = trail(4);
    tamper(&dir, "DELETE FROM audit WHERE seq = 2; UPDATE audit SET seq = seq - 1 WHERE seq > 2;");
    let (seq, _) = first_break(&mut memory);
    assert_eq!(seq, 2);
}

#[test]
fn an_inserted_record_is_named() {
    let (dir, mut memory) = trail(4);
    tamper(
        &dir,
        "UPDATE audit SET seq = seq + 10 WHERE seq >= 3; UPDATE audit SET seq = seq - 9 WHERE seq >= 13;
         INSERT INTO audit SELECT 3, timestamp, 'intruder', repositories, action, result, decision, hash, hash
         FROM audit WHERE seq = 2;",
    );
    let (seq, problem) = first_break(&mut memory);
    assert_eq!(seq, 3);
    assert!(problem.contains("edited"), "{problem}");
}

#[test]
fn a_record_appended_outside_hive_is_named() {
    let (dir, mut memory) = trail(3);
    tamper(
        &dir,
        "INSERT INTO audit SELECT 4, timestamp, actor, repositories, action, result, decision, hash, hash
         FROM audit WHERE seq = 3;",
    );
    let (seq, _) = first_break(&mut memory);
    assert_eq!(seq, 4);
}

#[test]
fn reordered_records_are_named() {
    let (dir, mut memory) = trail(4);
    tamper(&dir, "UPDATE audit SET seq = -seq WHERE seq IN (2, 3); UPDATE audit SET seq = 5 + seq WHERE seq < 0;");
    // seq 2 now holds what was record 3, and seq 3 what was record 2.
    let (seq, problem) = first_break(&mut memory);
    assert_eq!(seq, 2);
    assert!(problem.contains("reordered"), "{problem}");
}

#[test]
fn an_unreadable_record_is_named() {
    let (dir, mut memory) = trail(3);
    tamper(&dir, "UPDATE audit SET repositories = 'not json' WHERE seq = 2");
    let (seq, problem) = first_break(&mut memory);
    assert_eq!(seq, 2);
    assert!(problem.contains("JSON"), "{problem}");
    assert!(memory.audit().export_jsonl(Vec::new()).is_err());
}

#[test]
fn a_repository_s_newest_records_are_found_by_its_index_as_a_full_scan_finds_them() {
    let dir = tempfile::tempdir().unwrap();
    let mut memory = Memory::open(dir.path()).unwrap();
    let repos = ["acme/api", "acme/api-v2", "acme/web", "acme/docs"];
    for i in 0..1_000usize {
        // One repository, two, none (a command), and the same one twice.
        let repositories: Vec<String> = match i % 4 {
            0 => vec![repos[i % 3].to_owned()],
            1 => vec![repos[i % 3].to_owned(), repos[(i + 1) % 4].to_owned()],
            2 => Vec::new(),
            _ => vec![repos[3].to_owned(), repos[3].to_owned()],
        };
        let entry =
            AuditEntry { actor: "steward".to_owned(), repositories, action: format!("a{i}"), ..AuditEntry::default() };
        memory.audit().append(&entry).unwrap();
    }
    let conn = Connection::open(dir.path().join(Memory::FILE_NAME)).unwrap();
    for repo in repos.iter().copied().chain(["acme/none"]) {
        for limit in [1, 10, 5_000] {
            let found: Vec<u64> = memory.audit().recent_for(repo, limit).unwrap().iter().map(|r| r.seq).collect();
            let scanned: Vec<u64> = conn
                .prepare(
                    "SELECT seq FROM audit
                     WHERE EXISTS (SELECT 1 FROM json_each(audit.repositories) WHERE json_each.value = ?1)
                     ORDER BY seq DESC LIMIT ?2",
                )
                .unwrap()
                .query_map(rusqlite::params![repo, limit as i64], |r| r.get::<_, i64>(0).map(|seq| seq as u64))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            assert_eq!(found, scanned, "{repo}, {limit}");
        }
    }
    // The trail is searched by seq, never scanned, so the cost does not grow with its length.
    let plan: Vec<String> = conn
        .prepare(&format!("EXPLAIN QUERY PLAN SELECT seq {}", super::RECENT_FOR))
        .unwrap()
        .query_map(rusqlite::params!["acme/api", 10], |r| r.get(3))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(plan.iter().all(|step| !step.starts_with("SCAN")), "{plan:?}");
    assert!(plan.iter().any(|step| step.contains("audit_repos")), "{plan:?}");
}
