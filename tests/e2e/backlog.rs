//! `hive backlog`, `hive backlog validate` and `hive approve` run as a child process against a state directory
//! written through the library: the export listed and validated, a torn export and a schema violation reported
//! with their positions, approvals recorded in the database and hostile ids refused.

use hive::cerebrum::{BACKLOG_FILE, BacklogItem, ItemKind, Memory, Risk};

use crate::{hive_in as hive, stderr, stdout};

/// A state directory whose ledger holds three items, one with a hostile title, exported to `backlog.json`.
fn exported() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut memory = Memory::open(dir.path()).expect("open the database");
    let mut items = vec![
        BacklogItem::new("acme/api", ItemKind::Chore, "format the code", 3, Risk::Low),
        BacklogItem::new("acme/api", ItemKind::Bug, "ci fails\u{1b}[2J on main", 1, Risk::Medium),
        BacklogItem::new(
            "acme/web",
            ItemKind::Security,
            "token ghp_0123456789abcdefghijABCDEFGHIJ012345 in logs",
            1,
            Risk::Critical,
        ),
    ];
    items[0].evidence = vec!["https://ci.example/run/1".to_owned()];
    items[0].cycle_id = Some(4);
    for item in &items {
        memory.ledger().upsert(item).expect("upsert");
    }
    memory.ledger().export(&dir.path().join(BACKLOG_FILE), Some(4)).expect("export");
    dir
}

#[test]
fn an_export_lists_as_a_table_and_json_and_validates() {
    let state = exported();
    let out = hive(state.path(), &["backlog"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("ID") && lines[0].ends_with("TITLE"), "{text}");
    assert_eq!(lines.len(), 5, "header, three items, summary: {text}");
    assert!(lines[1..3].iter().all(|l| l.contains("  1  ")), "priority 1 first: {text}");
    assert!(text.contains("ci fails on main"), "escape sequences removed: {text}");
    assert!(!text.contains('\u{1b}'), "{text}");
    assert!(lines[4].starts_with("3 items") && lines[4].contains("cycle 4"), "{text}");

    let out = hive(state.path(), &["--json", "backlog"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let document: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is the export document");
    assert_eq!(document["schema_version"], 1);
    assert_eq!(document["cycle"], 4);
    assert_eq!(document["items"].as_array().expect("items").len(), 3);
    let raw = stdout(&out);
    assert_eq!(raw.lines().count(), 1, "one line: {raw}");
    assert!(!raw.contains("ghp_0123") && raw.contains("[REDACTED]"), "token-shaped text redacted: {raw}");

    let out = hive(state.path(), &["backlog", "validate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("is a valid backlog export: 3 items"), "{}", stdout(&out));

    // The document hive writes is valid against the schema as an independent validator reads it.
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../schemas/backlog.schema.json")).expect("schema is JSON");
    let validator = jsonschema::draft202012::new(&schema).expect("the schema compiles");
    let written: serde_json::Value =
        serde_json::from_slice(&std::fs::read(state.path().join(BACKLOG_FILE)).expect("read")).expect("json");
    let problems: Vec<String> = validator.iter_errors(&written).map(|e| e.to_string()).collect();
    assert!(problems.is_empty(), "{problems:?}");
}

#[test]
fn without_an_export_the_database_is_listed_and_without_either_the_error_names_both() {
    let state = exported();
    std::fs::remove_file(state.path().join(BACKLOG_FILE)).expect("remove the export");
    let out = hive(state.path(), &["--json", "backlog"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let document: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(document["items"].as_array().expect("items").len(), 3);
    let raw = stdout(&out);
    assert_eq!(raw.lines().count(), 1, "one line: {raw}");
    assert!(!raw.contains("ghp_0123") && raw.contains("[REDACTED]"), "token-shaped text redacted: {raw}");
    assert!(document["cycle"].is_null());

    let empty = tempfile::tempdir().expect("tempdir");
    let out = hive(empty.path(), &["backlog"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains(&empty.path().join(BACKLOG_FILE).display().to_string()), "{err}");
    assert!(err.contains("--state-dir") && err.contains("HIVE_STATE_DIR"), "{err}");
    assert!(!empty.path().join(Memory::FILE_NAME).exists(), "listing creates no database");
}

#[test]
fn a_torn_export_fails_validation_with_its_line_and_column() {
    let state = exported();
    let path = state.path().join(BACKLOG_FILE);
    let bytes = std::fs::read(&path).expect("read");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).expect("truncate");
    let out = hive(state.path(), &["backlog", "validate"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("'{}' is not valid JSON at line ", path.display())), "{err}");
    assert!(err.contains(" column ") && err.contains("restore it by running a cycle again"), "{err}");
}

#[test]
fn a_schema_violation_names_its_json_pointer() {
    let state = exported();
    let path = state.path().join(BACKLOG_FILE);
    let mut document: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("json");
    document["items"][0]["priority"] = 9.into();
    document["items"][1]["surprise"] = true.into();
    std::fs::write(&path, serde_json::to_vec(&document).expect("json")).expect("write");
    let out = hive(state.path(), &["backlog", "validate", path.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains(&format!("'{}'", path.display())), "{err}");
    assert!(err.contains("/items/0/priority: 9 is greater than the maximum of 5"), "{err}");
    assert!(err.contains("/items/1:") && err.contains("surprise"), "{err}");
}

#[test]
fn an_approval_is_recorded_and_audited_and_a_hostile_id_is_refused() {
    let state = tempfile::tempdir().expect("tempdir");
    let out = hive(state.path(), &["approve", "98673d657cef46f6", "--hours", "2", "--by", "alice"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.starts_with("approved 98673d657cef46f6 until 20") && text.trim_end().ends_with('Z'), "{text}");

    let mut memory = Memory::open(state.path()).expect("open");
    let approvals = memory.approvals().list().expect("list");
    assert_eq!(approvals.len(), 1);
    assert_eq!((approvals[0].id.as_str(), approvals[0].approved_by.as_str()), ("98673d657cef46f6", "alice"));
    assert_eq!(approvals[0].expires_at - approvals[0].approved_at, 7_200);
    assert!(memory.approvals().is_approved("98673d657cef46f6", approvals[0].approved_at).expect("check"));
    assert_eq!(memory.audit().verify().expect("verify"), 1, "the approval is in the audit trail");
    drop(memory);

    for hostile in ["x; rm -rf /", "$(id)", "id\u{1b}[2J", ""] {
        let out = hive(state.path(), &["approve", hostile]);
        assert_eq!(out.status.code(), Some(1), "{hostile:?}: {}", stderr(&out));
        assert!(stderr(&out).contains("is not an approvable id"), "{}", stderr(&out));
        assert!(!stderr(&out).contains('\u{1b}'), "{}", stderr(&out));
    }
    let mut memory = Memory::open(state.path()).expect("open");
    assert_eq!(memory.approvals().list().expect("list").len(), 1, "nothing else was recorded");
}
