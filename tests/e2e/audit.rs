//! `hive audit verify` and `hive audit export` run as a child process against a trail written through the library
//! and then tampered with behind hive's back.

use hive::cerebrum::{AuditEntry, AuditRecord, Memory};

use crate::{hive_in as hive, stderr, stdout};

/// A state directory whose trail holds `n` records.
fn trail(n: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut memory = Memory::open(dir.path()).expect("open the database");
    for i in 0..n {
        let entry = AuditEntry {
            actor: "queen".to_owned(),
            repositories: vec![format!("acme/repo-{i}"), "acme/shared".to_owned()],
            action: "open_issue".to_owned(),
            result: "ok".to_owned(),
            decision: "allow: low risk".to_owned(),
        };
        memory.audit().append(&entry).expect("append");
    }
    dir
}

#[test]
fn an_intact_trail_verifies_and_exports_as_jsonl() {
    let state = trail(3);
    let out = hive(state.path(), &["audit", "verify"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "audit trail intact: 3 records");

    let out = hive(state.path(), &["--json", "audit", "export"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let records: Vec<AuditRecord> =
        stdout(&out).lines().map(|line| serde_json::from_str(line).expect("every stdout line is a record")).collect();
    assert_eq!(records.iter().map(|r| r.seq).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(records[1].prev_hash, records[0].hash);

    let file = state.path().join("audit.jsonl");
    let out = hive(state.path(), &["--json", "audit", "export", "--output", file.to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty(), "--json: nothing but records on stdout");
    assert_eq!(std::fs::read_to_string(&file).expect("export").lines().count(), 3);
}

#[test]
fn a_tampered_trail_fails_naming_the_first_bad_record() {
    let state = trail(5);
    let db = rusqlite::Connection::open(state.path().join(Memory::FILE_NAME)).expect("open raw");
    db.execute_batch("UPDATE audit SET actor = 'intruder' WHERE seq = 4; DELETE FROM audit WHERE seq = 5;")
        .expect("tamper");
    drop(db);
    let out = hive(state.path(), &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    let err = stderr(&out);
    assert!(err.contains("record 4") && err.contains("edited"), "{err}");
}

#[test]
fn a_missing_or_garbage_database_is_a_clear_error() {
    let state = tempfile::tempdir().expect("tempdir");
    let out = hive(state.path(), &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no hive database at"), "{}", stderr(&out));

    let db = state.path().join(Memory::FILE_NAME);
    std::fs::write(&db, vec![0x5a_u8; 4096]).expect("write garbage");
    let out = hive(state.path(), &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains(&format!("'{}'", db.display())) && err.contains("damaged"), "{err}");
    assert_eq!(std::fs::read(&db).expect("read"), vec![0x5a_u8; 4096], "never a silent reset");
}
