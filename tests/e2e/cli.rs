//! The `hive` binary, run as a child process: the demo's JSON contract, the emergency it must (and must not)
//! declare, and clear errors for bad input.

use std::process::{Command, Output};

use serde_json::Value;

fn hive(args: &[&str], envs: &[(&str, &str)]) -> Output {
    let state = tempfile::tempdir().expect("tempdir");
    hive_in(state.path(), args, envs)
}

fn hive_in(state: &std::path::Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hive"));
    cmd.args(args).arg("--state-dir").arg(state);
    for var in ["ORCHESTRATION_INTERVAL", "EMERGENCY_MODE", "PILOT_LOG_LEVEL", "HIVE_STATE_DIR"] {
        cmd.env_remove(var);
    }
    cmd.envs(envs.iter().copied());
    cmd.output().expect("run hive")
}

/// Runs the demo with `--json` and returns one record per stdout line, failing if any line is not JSON.
fn demo_records(failing: &str) -> Vec<Value> {
    // No injected panics: a pilot restarting at the end of a cycle would make the counts vary.
    let args = [
        "demo",
        "--json",
        "--repos",
        "30",
        "--failing",
        failing,
        "--cycles",
        "3",
        "--interval-ms",
        "50",
        "--chaos",
        "0",
    ];
    let out = hive(&args, &[]);
    assert!(out.status.success(), "hive failed: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let records: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("stdout line is not JSON ({e}): {line:?}")))
        .collect();
    assert_eq!(records.len(), 3, "one record per cycle:\n{stdout}");
    records
}

#[test]
fn demo_json_records_keep_the_seed_field_names() {
    let records = demo_records("20");
    for (i, record) in records.iter().enumerate() {
        for field in [
            "timestamp",
            "orchestration_cycle",
            "total_repositories",
            "healthy_repositories",
            "active_pilots",
            "issues_detected",
            "fixes_attempted",
            "emergency_mode",
            "global_health_score",
            "ecosystem_health",
        ] {
            assert!(record.get(field).is_some(), "record {i} lacks '{field}': {record}");
        }
        assert_eq!(record["orchestration_cycle"], i as u64 + 1);
        assert_eq!(record["total_repositories"], 30);
        // 20 % of 30 repositories fail: 24 healthy.
        assert_eq!(record["healthy_repositories"], 24, "{record}");
    }
}

#[test]
fn demo_declares_an_emergency_with_60_percent_failing() {
    let records = demo_records("60");
    assert!(
        records.iter().any(|r| r["emergency_mode"] == true && r["ecosystem_health"] == "EMERGENCY"),
        "no cycle in emergency: {records:#?}"
    );
}

#[test]
fn demo_declares_no_emergency_with_nothing_failing() {
    let records = demo_records("0");
    for record in &records {
        assert_eq!(record["emergency_mode"], false, "{record}");
        assert_eq!(record["ecosystem_health"], "EXCELLENT", "{record}");
    }
}

#[test]
fn demo_human_output_shows_cycles_and_the_emergency() {
    let state = tempfile::tempdir().expect("tempdir");
    let args = ["demo", "--repos", "10", "--failing", "70", "--cycles", "2", "--interval-ms", "50", "--chaos", "0"];
    let out = hive_in(state.path(), &args, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("cycle   1"), "{stdout}");
    // Declared as soon as 90 % of the fleet has reported; which 9 of 10 come first varies with the jitter.
    let declared = stdout.lines().find(|l| l.contains("EMERGENCY declared: fleet health ")).expect(&stdout);
    assert!(declared.ends_with("% is below 50%"), "{declared}");
    assert!(stdout.contains("done: 2 cycles"), "{stdout}");
    // The snapshot is durable once the run is over.
    let snapshots: Vec<_> = std::fs::read_dir(state.path().join("snapshots")).expect("snapshots dir").collect();
    assert_eq!(snapshots.len(), 1);
    let path = snapshots[0].as_ref().expect("entry").path();
    let snapshot: Value = serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("snapshot is JSON");
    assert_eq!(snapshot["reasons"][0]["trigger"], "fleet_health_low", "{snapshot}");
}

#[test]
fn emergency_mode_env_forces_the_emergency() {
    let out = hive(
        &["demo", "--json", "--repos", "5", "--failing", "0", "--cycles", "1", "--interval-ms", "50"],
        &[("EMERGENCY_MODE", "true")],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let record: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(record["emergency_mode"], true);
}

#[test]
fn emergency_thresholds_come_from_the_environment_and_bad_ones_exit_2() {
    let args =
        ["demo", "--json", "--repos", "30", "--failing", "60", "--cycles", "3", "--interval-ms", "50", "--chaos", "0"];
    // 60 % failing declares with the defaults (demo_declares_an_emergency_with_60_percent_failing); a fleet
    // threshold above the fleet's size and no critical-members trigger keep it quiet.
    let out = hive(&args, &[("HIVE_EMERGENCY_MIN_FLEET", "31"), ("HIVE_EMERGENCY_CRITICAL_MEMBERS", "0")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let records: Vec<Value> = stdout.lines().map(|l| serde_json::from_str(l).expect("json")).collect();
    assert_eq!(records.len(), 3, "{stdout}");
    for record in &records {
        assert_eq!(record["emergency_mode"], false, "{record}");
    }

    for (var, value, needle) in [
        (
            "HIVE_EMERGENCY_SYSTEMIC_SHARE",
            "2",
            "invalid --emergency-systemic-share (HIVE_EMERGENCY_SYSTEMIC_SHARE) '2'",
        ),
        ("HIVE_EMERGENCY_CLEAR_AFTER", "0", "expected a number of cycles, 1 or more"),
        ("HIVE_EMERGENCY_MIN_FLEET", "many", "invalid --emergency-min-fleet (HIVE_EMERGENCY_MIN_FLEET) 'many'"),
    ] {
        let out = hive(&args, &[(var, value)]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{var}={value}: {stderr}");
        assert!(stderr.contains(needle), "{var}={value}: {stderr}");
        assert!(out.stdout.is_empty(), "nothing ran: {}", String::from_utf8_lossy(&out.stdout));
    }
}

#[test]
fn bad_input_gets_a_clear_error() {
    let out = hive(&["demo", "--repos", "0"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--repos"), "{}", String::from_utf8_lossy(&out.stderr));

    let out = hive(&["demo", "--failing", "101"], &[]);
    assert_eq!(out.status.code(), Some(2));

    // A bad variable is a configuration error: exit 2, like a bad flag, before anything runs. Each of these values
    // once panicked (exit 101) or made a cycle every tenth of a millisecond.
    for value in ["soon", "1e20", "1.8e19", "0.0001", "NaN", "-5"] {
        let out = hive(&["demo", "--cycles", "1"], &[("ORCHESTRATION_INTERVAL", value)]);
        assert_eq!(out.status.code(), Some(2), "{value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with(&format!("hive: invalid ORCHESTRATION_INTERVAL '{value}'")), "{stderr}");
        assert!(stderr.contains("between 1 and 86400"), "{stderr}");
        assert!(out.stdout.is_empty());
    }
    let out = hive(&["demo", "--interval-ms", "86400001"], &[]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn every_bad_flag_of_run_is_refused_before_anything_is_sent() {
    // The API URL points at a port nothing listens on: any request would fail, with exit 1 and another message.
    let github = [("GITHUB_TOKEN", "ghp_x"), ("GITHUB_API_URL", "http://127.0.0.1:9")];
    for (args, needle) in [
        (&["run", "--org", "acme", "--level", "all"][..], "invalid --level"),
        (&["run", "--org", "acme", "--owner", "two words"], "invalid --owner 'two words'"),
        (&["run", "--org", "acme", "--alert-repo", "ops"], "invalid --alert-repo 'ops'"),
        (&["run", "--org", "acme", "--include", "["], "invalid glob"),
    ] {
        let out = hive(args, &github);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        assert!(String::from_utf8_lossy(&out.stderr).contains(needle), "{}", String::from_utf8_lossy(&out.stderr));
    }
    let out = hive(&["run", "--org", "acme"], &[("GITHUB_TOKEN", "ghp_secret\nInjected: 1")]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("GITHUB_TOKEN holds a character a token cannot have"), "{stderr}");
    assert!(!stderr.contains("ghp_secret"), "{stderr}");

    // A state directory that cannot be created: a file stands where it should be.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("file"), "").expect("write");
    let out = hive_in(&dir.path().join("file/state"), &["run", "--org", "acme"], &github);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot create the state directory"));
}
