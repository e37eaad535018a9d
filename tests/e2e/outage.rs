//! A GitHub outage seen by the daemon: `hive run` against the emulator answering 503 to everything for ten
//! seconds. An unreachable forge is not a sick fleet: no pilot fails or escalates for it, no emergency is declared,
//! no alert issue is filed, and once GitHub answers again every pilot is back within two cycles.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use hive_testkit::{Emulator, Fault, FaultRule, RepoSpec, RunSpec};
use serde_json::Value;

const REPOS: usize = 13;

async fn fleet() -> Emulator {
    let emu = Emulator::start().await;
    let s = emu.state();
    s.add_org("acme");
    for i in 0..REPOS {
        let name = format!("repo-{i:02}");
        s.add_repo(RepoSpec::new("acme", &name));
        s.add_workflow_run("acme", &name, RunSpec::new("ci", "main"));
    }
    emu
}

/// `hive run` as a daemon with one-second cycles and the autonomy loop on, its JSON records read by a thread.
fn daemon(emu: &Emulator, state: &std::path::Path) -> (Child, mpsc::Receiver<Value>) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hive"));
    cmd.args(["run", "--org", "acme", "--json", "--autonomy", "--alert-repo", "acme/repo-00", "--state-dir"])
        .arg(state);
    for (key, _) in std::env::vars() {
        if key.starts_with("HIVE_") || key.starts_with("GITHUB_") || key == "GH_TOKEN" || key == "EMERGENCY_MODE" {
            cmd.env_remove(key);
        }
    }
    cmd.env("GITHUB_API_URL", emu.url())
        .env("GITHUB_TOKEN", emu.token())
        .env("ORCHESTRATION_INTERVAL", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = cmd.spawn().expect("spawn hive run");
    let stdout = BufReader::new(child.stdout.take().expect("stdout"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            let record: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
            if tx.send(record).is_err() {
                return;
            }
        }
    });
    (child, rx)
}

/// The next cycle record, waiting at most `deadline` for it (without blocking the emulator's runtime).
async fn next_record(records: &mpsc::Receiver<Value>, deadline: Instant) -> Value {
    loop {
        match records.try_recv() {
            Ok(record) => return record,
            Err(mpsc::TryRecvError::Disconnected) => panic!("the daemon stopped"),
            Err(mpsc::TryRecvError::Empty) => {
                assert!(Instant::now() < deadline, "no cycle record before the deadline");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
}

fn n(record: &Value, field: &str) -> u64 {
    record[field].as_u64().unwrap_or_else(|| panic!("{field} missing: {record}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_seconds_of_503_are_an_outage_not_an_emergency_and_every_pilot_is_back_within_two_cycles() {
    let emu = fleet().await;
    let state = tempfile::tempdir().expect("tempdir");
    let (mut child, records) = daemon(&emu, state.path());
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();

    // A healthy first cycle.
    let first = next_record(&records, deadline).await;
    assert_eq!((n(&first, "active_pilots"), n(&first, "healthy_repositories")), (REPOS as u64, REPOS as u64));
    seen.push(first);

    // GitHub answers 503 to everything for ten seconds.
    emu.state().inject(FaultRule::new(Fault::Status(503)));
    let outage_start = Instant::now();
    let mut unreachable_seen = 0;
    while outage_start.elapsed() < Duration::from_secs(10) {
        let record = next_record(&records, deadline).await;
        unreachable_seen = unreachable_seen.max(n(&record, "unreachable_repositories"));
        seen.push(record);
    }
    emu.state().clear_faults();
    assert_eq!(unreachable_seen, REPOS as u64, "every pilot saw the outage: {seen:#?}");

    // A cycle may have been in flight when GitHub came back; within the two cycles after it, everyone is back.
    let mut recovered = None;
    for after in 1..=3 {
        let record = next_record(&records, deadline).await;
        let back = n(&record, "active_pilots") == REPOS as u64
            && n(&record, "unreachable_repositories") == 0
            && n(&record, "healthy_repositories") == REPOS as u64;
        seen.push(record.clone());
        if back {
            eprintln!("every pilot back in cycle record {after} after GitHub recovered: {record}");
            recovered = Some(record);
            break;
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    assert!(recovered.is_some(), "not every pilot was back within two cycles: {seen:#?}");
    for record in &seen {
        assert_eq!(record["emergency_mode"], false, "an outage is not an emergency: {record}");
        assert_eq!(n(record, "total_repositories"), REPOS as u64, "{record}");
    }
    let alerts: Vec<_> =
        emu.state().issues("acme", "repo-00").into_iter().filter(|i| i.title.contains("mergency")).collect();
    assert!(alerts.is_empty(), "no alert issue for an outage: {alerts:?}");
}
