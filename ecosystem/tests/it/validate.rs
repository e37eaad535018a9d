//! Validation end to end: the real clippy, rustfmt, flake8 and shellcheck on files made at test time, the link check,
//! a linter missing from the search path, hostile file names, and tools that hang or fail. shellcheck and flake8 are
//! installed by `.ci/run`, so their tests fail (never skip) without them.

use std::{
    ffi::OsString,
    os::unix::fs::PermissionsExt,
    path::{Path, PathBuf},
    time::Duration,
};

use hive_ecosystem::{Finding, LinterStatus, Severity, ValidateError, ValidateOptions, ValidationReport, validate};

fn write(dir: &Path, rel: &str, contents: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("create parent");
    std::fs::write(path, contents).expect("write fixture file");
}

fn only(names: &[&str]) -> ValidateOptions {
    ValidateOptions { linters: Some(names.iter().map(|n| (*n).to_owned()).collect()), ..ValidateOptions::default() }
}

/// The process's `PATH` with `tool` on it, or a failed test naming how to install it.
fn require(tool: &str) {
    let found =
        std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(tool).is_file()));
    assert!(found, "'{tool}' is not on PATH; install it (apt-get install -y {tool}), as .ci/run does");
}

/// file, line, rule and severity of each finding of `linter`.
fn places<'a>(report: &'a ValidationReport, linter: &str) -> Vec<(&'a str, Option<u32>, &'a str, Severity)> {
    report
        .findings()
        .filter(|f| f.linter == linter)
        .map(|f| (f.file.as_str(), f.line, f.rule.as_str(), f.severity))
        .collect()
}

fn status<'a>(report: &'a ValidationReport, linter: &str) -> &'a LinterStatus {
    let run = report.runs.iter().find(|run| run.linter == linter);
    &run.unwrap_or_else(|| panic!("no {linter} run in {report:#?}")).status
}

#[tokio::test]
async fn a_cargo_crate_gets_clippy_and_rustfmt_findings_and_no_target_or_lock_file() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    write(dir, "Cargo.toml", "[package]\nname = \"tiny\"\nversion = \"0.1.0\"\nedition = \"2021\"\n");
    write(dir, "src/lib.rs", "pub fn next(x: i32) -> i32 {\n    return x + 1;\n}\n");
    write(dir, "src/main.rs", "fn main(){let x=1;\nprintln!(\"{}\",x);}\n");
    let report = validate(dir, &ValidateOptions::default()).await.expect("validated");
    assert_eq!(*status(&report, "clippy"), LinterStatus::Ran, "{report:#?}");
    assert_eq!(places(&report, "clippy"), [("src/lib.rs", Some(2), "clippy::needless_return", Severity::Warning)]);
    assert_eq!(places(&report, "rustfmt"), [("src/main.rs", Some(1), "fmt", Severity::Warning)]);
    assert_eq!((report.errors(), report.passed()), (0, true), "warnings only: {report:#?}");
    let left: Vec<String> = std::fs::read_dir(dir)
        .expect("list")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    let mut left = left;
    left.sort();
    assert_eq!(left, ["Cargo.toml", "src"], "validation left files in the tree");

    // A target directory the caller chose keeps the build; a compile error is an error finding.
    write(dir, "src/lib.rs", "pub fn next(x: i32) -> i32 {\n    x + \"1\"\n}\n");
    let target = tmp.path().join("kept-target");
    let options = ValidateOptions { target_dir: Some(target.clone()), ..only(&["clippy"]) };
    let report = validate(dir, &options).await.expect("validated");
    let clippy = places(&report, "clippy");
    assert!(
        clippy
            .iter()
            .any(|(file, line, _, severity)| (*file, *line, *severity) == ("src/lib.rs", Some(2), Severity::Error)),
        "{report:#?}"
    );
    assert!(!report.passed() && report.errors() >= 1);
    assert!(target.join("debug").is_dir(), "the build went elsewhere");
    assert!(report.runs.iter().all(|run| run.linter == "clippy"), "only the linter asked for runs");
}

#[tokio::test]
async fn every_member_of_a_cargo_workspace_is_linted() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    write(dir, "Cargo.toml", "[workspace]\nmembers = [\"crates/*\"]\nresolver = \"2\"\n");
    for name in ["one", "two"] {
        let manifest = format!("[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n");
        write(dir, &format!("crates/{name}/Cargo.toml"), &manifest);
        write(dir, &format!("crates/{name}/src/lib.rs"), "pub fn len(v: &Vec<u8>) -> usize {\n    v.len()\n}\n");
    }
    let report = validate(dir, &only(&["clippy"])).await.expect("validated");
    // cargo checks the members in parallel: their messages come in either order.
    let mut found = places(&report, "clippy");
    found.sort();
    assert_eq!(
        found,
        [
            ("crates/one/src/lib.rs", Some(1), "clippy::ptr_arg", Severity::Warning),
            ("crates/two/src/lib.rs", Some(1), "clippy::ptr_arg", Severity::Warning),
        ],
        "{report:#?}"
    );
}

#[tokio::test]
async fn markdown_links_are_checked_against_the_tree() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    write(dir, "docs/guide.md", "# Guide\n");
    write(
        dir,
        "README.md",
        "# Tiny\n\nRead [the guide](docs/guide.md) and [the FAQ](docs/faq.md#top).\nAlso <https://example.com>.\n",
    );
    let report = validate(dir, &ValidateOptions::default()).await.expect("validated");
    let broken: Vec<&Finding> = report.findings().collect();
    assert_eq!(places(&report, "links"), [("README.md", Some(3), "broken-link", Severity::Error)], "{report:#?}");
    assert_eq!(broken[0].column, Some(37));
    assert!(broken[0].message.contains("'docs/faq.md#top' points at 'docs/faq.md'"), "{}", broken[0].message);
    assert!(!report.passed());
    write(dir, "docs/faq.md", "# FAQ\n");
    assert!(validate(dir, &ValidateOptions::default()).await.expect("validated").passed());
}

#[tokio::test]
async fn a_linter_missing_from_the_search_path_is_reported_missing_not_passed() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("repo");
    write(&dir, "Cargo.toml", "[package]\nname = \"tiny\"\nversion = \"0.1.0\"\nedition = \"2021\"\n");
    write(&dir, "src/lib.rs", "pub fn one() -> i32 {\n    1\n}\n");
    write(&dir, "tool.py", "print('hi')\n");
    write(&dir, "run.sh", "#!/bin/sh\necho hi\n");
    write(&dir, "package.json", "{\"devDependencies\":{\"eslint\":\"^9\"}}\n");
    let empty = tmp.path().join("empty-bin");
    std::fs::create_dir(&empty).expect("empty bin");
    let options = ValidateOptions { search_path: Some(empty.into_os_string()), ..ValidateOptions::default() };
    let report = validate(&dir, &options).await.expect("validated");
    let statuses: Vec<(&str, &LinterStatus)> =
        report.runs.iter().map(|run| (run.linter.as_str(), &run.status)).collect();
    let missing = |tool: &str| LinterStatus::Missing { tool: tool.to_owned() };
    assert_eq!(
        statuses,
        [
            ("clippy", &missing("cargo")),
            ("rustfmt", &missing("cargo")),
            ("ruff", &missing("ruff or flake8")),
            ("eslint", &missing("node_modules/.bin/eslint")),
            ("shellcheck", &missing("shellcheck")),
        ]
    );
    assert_eq!((report.errors(), report.passed()), (0, false));
    assert!(
        report.to_text().ends_with("result: not passed: not installed: clippy, rustfmt, ruff, eslint, shellcheck\n")
    );
}

#[tokio::test]
async fn hostile_file_names_reach_findings_and_the_html_escaped() {
    require("shellcheck");
    require("flake8");
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    let names = ["-rf.sh", "a b;c.sh", "ünïcode <x>.sh"];
    for name in names {
        write(dir, name, "#!/bin/sh\necho $1\n");
    }
    // Found by its shebang, without an extension.
    write(dir, "bin/--help", "#!/usr/bin/env bash\nrm -rf $DIR/\n");
    write(dir, "-odd; näme.py", "import os\n");
    write(dir, "docs/<b>&\"q\".md", "[x](../nowhere;rm.md)\n");
    let report = validate(dir, &only(&["flake8", "shellcheck", "links"])).await.expect("validated");
    assert_eq!(*status(&report, "shellcheck"), LinterStatus::Ran, "{report:#?}");
    let mut scripts: Vec<&str> = places(&report, "shellcheck").into_iter().map(|(file, ..)| file).collect();
    scripts.sort_unstable();
    scripts.dedup();
    assert_eq!(scripts, ["-rf.sh", "a b;c.sh", "bin/--help", "ünïcode <x>.sh"], "{report:#?}");
    assert!(
        places(&report, "shellcheck")
            .iter()
            .any(|(file, line, rule, _)| (*file, *line, *rule) == ("-rf.sh", Some(2), "SC2086"))
    );
    assert_eq!(places(&report, "flake8"), [("-odd; näme.py", Some(1), "F401", Severity::Warning)]);
    assert_eq!(places(&report, "links"), [("docs/<b>&\"q\".md", Some(1), "broken-link", Severity::Error)]);

    let html = report.to_html();
    for raw in ["<b>&", "<x>", "\"q\""] {
        assert!(!html.contains(raw), "{raw} unescaped in the page");
    }
    for escaped in
        ["docs/&lt;b&gt;&amp;&quot;q&quot;.md:1:1", "ünïcode &lt;x&gt;.sh:2:6", "-odd; näme.py:1:1", "a b;c.sh:2:6"]
    {
        assert!(html.contains(escaped), "{escaped} missing from the page");
    }
}

/// A directory holding one executable script named `name` with `body`, as a search path.
fn fake_tool(tmp: &Path, name: &str, body: &str) -> OsString {
    let bin = tmp.join("bin");
    std::fs::create_dir_all(&bin).expect("bin dir");
    let path = bin.join(name);
    std::fs::write(&path, body).expect("write tool");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    // The script's own interpreter must be found too.
    let mut dirs: Vec<PathBuf> = vec![bin];
    dirs.push(PathBuf::from("/bin"));
    dirs.push(PathBuf::from("/usr/bin"));
    std::env::join_paths(dirs).expect("join paths")
}

#[tokio::test]
async fn a_linter_that_hangs_is_stopped_and_one_that_fails_says_why() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("repo");
    write(&dir, "run.sh", "#!/bin/sh\necho hi\n");
    let hang = fake_tool(&tmp.path().join("hang"), "shellcheck", "#!/bin/sh\nexec sleep 600\n");
    let options =
        ValidateOptions { timeout: Duration::from_millis(300), search_path: Some(hang), ..only(&["shellcheck"]) };
    let report = validate(&dir, &options).await.expect("validated");
    assert_eq!(*status(&report, "shellcheck"), LinterStatus::TimedOut);
    assert_eq!(report.errors(), 1, "a linter that did not finish is an error");

    let crash =
        fake_tool(&tmp.path().join("crash"), "shellcheck", "#!/bin/sh\necho 'invalid option: -f' >&2\nexit 3\n");
    let options = ValidateOptions { search_path: Some(crash), ..only(&["shellcheck"]) };
    let report = validate(&dir, &options).await.expect("validated");
    assert_eq!(
        *status(&report, "shellcheck"),
        LinterStatus::Failed { reason: "it ended with exit code 3: invalid option: -f".to_owned() }
    );
    assert!(!report.passed());
}

#[tokio::test]
async fn bad_directories_and_linter_names_are_errors_that_name_them() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let gone = tmp.path().join("no such dir");
    let err = validate(&gone, &ValidateOptions::default()).await.expect_err("missing");
    assert!(matches!(err, ValidateError::NotFound { .. }));
    assert_eq!(
        err.to_string(),
        format!("cannot validate '{}': no such directory; give a repository's root directory", gone.display())
    );
    let file = tmp.path().join("file");
    std::fs::write(&file, "x").expect("write");
    assert!(matches!(validate(&file, &ValidateOptions::default()).await, Err(ValidateError::NotADirectory { .. })));
    let err = validate(tmp.path(), &only(&["eslint", "jshint"])).await.expect_err("unknown");
    assert!(err.to_string().starts_with("unknown linter 'jshint'; the linters are clippy,"), "{err}");
}
