//! `hive validate` as a user runs it: the text report, `--json` alone on stdout, `--html FILE` escaped, exit 3 for
//! `--fail-on`, exit 2 for a target that is not there, a linter missing from `PATH`, `local/<name>` in a workspace,
//! and a token kept out of every form of the report. The link check needs no tool, so these run anywhere.

use std::{
    path::Path,
    process::{Command, Output},
};

use crate::{stderr, stdout};

const TOKEN: &str = "ghp_validateSecret0123456789abcdefABCDEF";

/// Runs `hive validate args...` with a private state directory, and `env` on top of the test's environment.
fn validate(state: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hive"));
    cmd.arg("validate").args(args).arg("--state-dir").arg(state).env_remove("HIVE_STATE_DIR");
    cmd.env_remove("HIVE_CONFIG").env("XDG_CONFIG_HOME", state.join("no-config"));
    cmd.envs(env.iter().copied());
    cmd.output().expect("run hive")
}

/// A repository with one good and one broken relative link in its README, and a document with a hostile name.
fn repo(root: &Path) -> std::path::PathBuf {
    let dir = root.join("workspace").join("app");
    std::fs::create_dir_all(dir.join("docs")).expect("create repo");
    std::fs::write(dir.join("docs/guide.md"), "# Guide\n").expect("write");
    std::fs::write(dir.join("README.md"), "# App\n\n[Guide](docs/guide.md), [FAQ](docs/faq.md)\n").expect("write");
    std::fs::write(dir.join("docs/<img src=x onerror=alert(1)>.md"), "[home](../README.md)\n").expect("write");
    dir
}

#[test]
fn the_text_report_names_each_finding_and_exit_3_is_only_for_fail_on() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = repo(tmp.path());
    let dir_arg = dir.to_str().expect("utf-8");
    let out = validate(tmp.path(), &[dir_arg], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("links: ran, 1 finding\n"), "{text}");
    assert!(
        text.contains("  README.md:3:25: error[broken-link]: link 'docs/faq.md' points at 'docs/faq.md'"),
        "{text}"
    );
    assert!(text.ends_with("result: failed: 1 error\n"), "{text}");

    let out = validate(tmp.path(), &[dir_arg, "--fail-on", "error"], &[]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("found 1 error"), "{}", stderr(&out));

    std::fs::write(dir.join("docs/faq.md"), "# FAQ\n").expect("write");
    let out = validate(tmp.path(), &[dir_arg, "--fail-on", "warning"], &[]);
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).ends_with("result: passed\n"), "{}", stdout(&out));
}

#[test]
fn json_is_the_report_alone_and_html_is_written_escaped() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = repo(tmp.path());
    let page = tmp.path().join("report.html");
    let args = [dir.to_str().expect("utf-8"), "--json", "--html", page.to_str().expect("utf-8")];
    let out = validate(tmp.path(), &args, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    assert_eq!(report["runs"][0]["linter"], "links");
    assert_eq!(report["runs"][0]["status"]["kind"], "ran");
    let finding = &report["runs"][0]["findings"][0];
    assert_eq!(
        (&finding["file"], &finding["line"], &finding["rule"]),
        (&"README.md".into(), &3.into(), &"broken-link".into())
    );
    assert_eq!(finding["severity"], "error");

    let html = std::fs::read_to_string(&page).expect("the page was written");
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("docs/faq.md"), "{html}");
    assert!(!html.contains("<img"), "a file name became markup: {html}");
    // The hostile document's name is shown only where it has a finding; make it have one.
    std::fs::write(dir.join("docs/<img src=x onerror=alert(1)>.md"), "[gone](nowhere.md)\n").expect("write");
    let out = validate(tmp.path(), &args, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let html = std::fs::read_to_string(&page).expect("the page was replaced");
    assert!(html.contains("docs/&lt;img src=x onerror=alert(1)&gt;.md:1:1"), "{html}");
    assert!(!html.contains("<img"), "{html}");
}

#[test]
fn a_target_that_is_not_there_is_a_usage_error_naming_it() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let gone = tmp.path().join("no-such-repo");
    let out = validate(tmp.path(), &[gone.to_str().expect("utf-8")], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "cannot validate '{}': no such directory; give a repository's directory",
            gone.display()
        )),
        "{err}"
    );
    assert!(stdout(&out).is_empty());

    let out = validate(tmp.path(), &["local/app"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("needs --workspace DIR"), "{}", stderr(&out));
    let out = validate(tmp.path(), &["0123456789ab"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("`hive ecosystem list` shows the imported ones"), "{}", stderr(&out));
    let out = validate(tmp.path(), &[".", "--linter", "pylint"], &[]);
    assert_eq!(out.status.code(), Some(2), "clap refuses an unknown linter");
}

#[test]
fn a_workspace_repository_by_name_and_the_html_path_checked() {
    let tmp = tempfile::tempdir().expect("temp dir");
    repo(tmp.path());
    let workspace = tmp.path().join("workspace");
    let ws = workspace.to_str().expect("utf-8");
    let out = validate(tmp.path(), &["local/app", "--workspace", ws], &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("README.md:3:25: error[broken-link]"), "{}", stdout(&out));
    for bad in ["local/..", "local/app/docs", "app"] {
        let out = validate(tmp.path(), &[bad, "--workspace", ws], &[]);
        assert_eq!(out.status.code(), Some(2), "{bad}: {}", stderr(&out));
    }
    // A directory where the page should go is refused and left alone.
    let out = validate(tmp.path(), &["local/app", "--workspace", ws, "--html", ws], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("cannot write the HTML report to"), "{}", stderr(&out));
    assert!(workspace.join("app").is_dir());
}

#[test]
fn a_linter_missing_from_path_fails_the_check_without_counting_as_an_error() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("scripts");
    std::fs::create_dir_all(&dir).expect("create");
    std::fs::write(dir.join("run.sh"), "#!/bin/sh\necho $1\n").expect("write");
    let empty = tmp.path().join("empty-bin");
    std::fs::create_dir(&empty).expect("create");
    let path = empty.to_str().expect("utf-8");
    let out = validate(tmp.path(), &[dir.to_str().expect("utf-8"), "--fail-on", "error"], &[("PATH", path)]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stdout(&out).contains("shellcheck: not run: 'shellcheck' is not installed\n"), "{}", stdout(&out));
    assert!(stdout(&out).contains(": 0 errors, 0 warnings, 0 notes\n"), "{}", stdout(&out));
    assert!(stderr(&out).contains("not installed: shellcheck"), "{}", stderr(&out));
}

#[test]
fn a_token_is_kept_out_of_every_form_of_the_report() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("leaky");
    std::fs::create_dir_all(&dir).expect("create");
    std::fs::write(dir.join("README.md"), format!("[x](https-less/{TOKEN}.md)\n")).expect("write");
    let page = tmp.path().join("report.html");
    let dir_arg = dir.to_str().expect("utf-8");
    let env = [("GITHUB_TOKEN", TOKEN)];
    let text = validate(tmp.path(), &[dir_arg, "--html", page.to_str().expect("utf-8")], &env);
    let json = validate(tmp.path(), &[dir_arg, "--json"], &env);
    for out in [&text, &json] {
        assert_eq!(out.status.code(), Some(0), "{}", stderr(out));
        assert!(stdout(out).contains("broken-link"), "{}", stdout(out));
        assert!(!stdout(out).contains(TOKEN), "{}", stdout(out));
    }
    let html = std::fs::read_to_string(&page).expect("written");
    assert!(html.contains("broken-link") && !html.contains(TOKEN), "{html}");
}
