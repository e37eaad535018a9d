//! `execute_command` with real child processes: verbatim arguments, refused ones, unknown names, timeouts.

use super::*;
use hive_testkit::projects as fixtures;

const TIMEOUT: Duration = Duration::from_secs(60);

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

#[tokio::test]
async fn shell_metacharacters_reach_the_program_verbatim() {
    let dir = tempfile::tempdir().expect("tempdir");
    fixtures::gradle_project(dir.path());
    let canary = dir.path().join("pwned");
    let hostile = strings(&[
        &format!("$(touch {})", canary.display()),
        &format!("`touch {}`", canary.display()),
        "; rm -rf / #",
        "a && b || c | d > e < f",
        "*",
        "'\"\\",
        "--init-script=x",
        "",
        "ünï cødé ☃",
    ]);
    let out = execute_command(dir.path(), "gradle:test", &hostile, TIMEOUT, 1 << 16).await.expect("runs");
    assert!(out.success(), "{}", out.stderr_text());
    let recorded = std::fs::read_to_string(dir.path().join("args.txt")).expect("the wrapper recorded its arguments");
    let mut expected = vec!["test".to_owned()];
    expected.extend(hostile);
    assert_eq!(recorded.lines().collect::<Vec<_>>(), expected);
    assert!(!canary.exists(), "a shell interpreted an argument");
}

#[tokio::test]
async fn hostile_arguments_are_refused_and_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    fixtures::gradle_project(dir.path());
    let long = "x".repeat(MAX_ARG_CHARS + 1);
    for (args, needle) in [
        (strings(&["ok", "nul\0byte"]), "argument 1 'nul\\0byte' refused: contains a NUL byte"),
        (strings(&["line\nbreak"]), "argument 0 'line\\nbreak' refused: contains a control character"),
        (strings(&["esc\u{1b}[2J"]), "contains a control character"),
        (strings(&["bell\u{7}"]), "contains a control character"),
        (vec![long], "refused: longer than 4096 characters"),
        (vec!["a".to_owned(); MAX_ARGS + 1], "too many arguments: 257, at most 256"),
    ] {
        let err = execute_command(dir.path(), "gradle:test", &args, TIMEOUT, 1024).await.expect_err(needle);
        assert!(err.to_string().contains(needle), "{err}");
    }
    assert!(!dir.path().join("args.txt").exists(), "nothing ran");
    // Exactly at the limits is fine.
    let edge = vec!["y".repeat(MAX_ARG_CHARS); MAX_ARGS];
    assert!(execute_command(dir.path(), "gradle:test", &edge, TIMEOUT, 1024).await.expect("at the limits").success());
}

#[tokio::test]
async fn unknown_commands_list_the_available_ones() {
    let dir = tempfile::tempdir().expect("tempdir");
    fixtures::make_project(dir.path(), true);
    let err = execute_command(dir.path(), "make:deploy\n", &[], TIMEOUT, 1024).await.expect_err("unknown");
    let message = err.to_string();
    assert!(message.starts_with("unknown command 'make:deploy\\n' in '"), "{message}");
    assert!(message.ends_with("available: make:build, make:test, make:lint, make:fmt"), "{message}");

    let empty = tempfile::tempdir().expect("tempdir");
    let err = execute_command(empty.path(), "make:test", &[], TIMEOUT, 1024).await.expect_err("nothing");
    assert!(err.to_string().starts_with(&format!("no build system detected in '{}'", empty.path().display())));
}

#[tokio::test]
async fn failures_timeouts_and_caps_come_back_as_output() {
    let dir = tempfile::tempdir().expect("tempdir");
    fixtures::write(dir.path(), "Makefile", "test:\n\tfalse\nslow:\n\tsleep 30\nloud:\n\t@seq 1 100000\n");
    let out = execute_command(dir.path(), "make:test", &[], TIMEOUT, 1024).await.expect("ran");
    assert_eq!(out.code, Some(2), "make reports the failed recipe with exit 2");
    let out = execute_command(dir.path(), "make:slow", &[], Duration::from_millis(200), 1024).await.expect("ran");
    assert!(out.timed_out);
    let out = execute_command(dir.path(), "make:loud", &[], TIMEOUT, 100).await.expect("ran");
    assert!(out.truncated && out.stdout.len() == 100);
}

#[tokio::test]
async fn npm_scripts_get_their_arguments_after_a_separator() {
    let dir = tempfile::tempdir().expect("tempdir");
    fixtures::write(dir.path(), "package.json", r#"{"scripts": {"test": "./record.sh"}}"#);
    let script = fixtures::write(dir.path(), "record.sh", "#!/bin/sh\nprintf '%s\\n' \"$@\" > args.txt\n");
    fixtures::make_executable(&script);
    match execute_command(dir.path(), "npm:test", &strings(&["--grep", "x"]), TIMEOUT, 1 << 16).await {
        Ok(out) => {
            assert!(out.success(), "{}", out.stderr_text());
            let recorded = std::fs::read_to_string(dir.path().join("args.txt")).expect("recorded");
            assert_eq!(recorded, "--grep\nx\n", "npm kept its hands off the script's arguments");
        }
        // Without npm on this machine, the command line in the error shows the separator.
        Err(ExecuteError::Spawn(e)) => assert!(e.command.ends_with("\"run\" \"test\" \"--\" \"--grep\" \"x\""), "{e}"),
        Err(e) => panic!("{e}"),
    }
}
