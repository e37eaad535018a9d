//! Unit tests of validation's pure parts: each tool's parser on output captured from the real tool (the fixtures in
//! `tests/fixtures/validate/`, captured in `/tmp/vcap/<tool>`, which is why that is the root here: clippy and
//! rustfmt of Rust 1.95.0, ruff 0.17.6, flake8 5.0.4, eslint 9.39.5, shellcheck 0.9.0), the severity tables,
//! shebangs, link resolution, and the reports' escaping.

use std::path::{Path, PathBuf};

use super::{
    Finding, LinterRun, LinterStatus, Severity, ValidateError, ValidateOptions, ValidationReport, cargo, eslint,
    markdown::{self, Target},
    python, relative_to, selection, shell,
    tree::shebang_shell,
};

/// One finding as a comparable tuple: file, line, column, rule, severity.
type Row<'a> = (&'a str, Option<u32>, Option<u32>, &'a str, Severity);

fn rows(findings: &[Finding]) -> Vec<Row<'_>> {
    findings.iter().map(|f| (f.file.as_str(), f.line, f.column, f.rule.as_str(), f.severity)).collect()
}

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/validate").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()))
}

#[test]
fn clippy_warnings_are_read_once_per_place() {
    let findings = cargo::parse_clippy(&fixture("clippy-warnings.jsonl"), Path::new("/tmp/vcap/rs"));
    // The library and its test target report the same two lints; each is one finding.
    assert_eq!(
        rows(&findings),
        [
            ("src/lib.rs", Some(2), Some(5), "clippy::needless_return", Severity::Warning),
            ("src/odd name;.rs", Some(1), Some(13), "clippy::ptr_arg", Severity::Warning),
        ]
    );
    assert_eq!(findings[0].message, "unneeded `return` statement");
    assert!(findings.iter().all(|f| f.linter == "clippy"));
}

#[test]
fn clippy_compile_errors_are_errors_and_failure_notes_are_not_findings() {
    let findings = cargo::parse_clippy(&fixture("clippy-error.jsonl"), Path::new("/tmp/vcap/rs"));
    assert_eq!(rows(&findings), [("src/lib.rs", Some(6), Some(18), "E0308", Severity::Error)]);
    assert_eq!(findings[0].message, "mismatched types");
}

#[test]
fn clippy_lines_table() {
    let root = Path::new("/r");
    let line = |level: &str, code: &str, spans: &str, message: &str| {
        format!(
            r#"{{"reason":"compiler-message","manifest_path":"/r/Cargo.toml","message":{{"message":"{message}","level":"{level}","code":{code},"spans":{spans}}}}}"#
        )
    };
    let span = r#"[{"file_name":"/r/src/a b.rs","line_start":3,"column_start":1,"is_primary":false},
        {"file_name":"/r/src/a b.rs","line_start":4,"column_start":9,"is_primary":true}]"#
        .replace('\n', "");
    let cases: Vec<(String, Vec<Row<'static>>)> = vec![
        // The primary span is the place, made relative to the root.
        (
            line("warning", r#"{"code":"dead_code"}"#, &span, "unused"),
            vec![("src/a b.rs", Some(4), Some(9), "dead_code", Severity::Warning)],
        ),
        (line("note", "null", &span, "see"), vec![("src/a b.rs", Some(4), Some(9), "note", Severity::Info)]),
        // A spanless error is said against the manifest; spanless summaries are no findings.
        (
            line("error", "null", "[]", "cannot find crate root"),
            vec![("Cargo.toml", None, None, "error", Severity::Error)],
        ),
        (line("error", "null", "[]", "aborting due to 2 previous errors"), vec![]),
        (line("failure-note", "null", "[]", "For more information"), vec![]),
        (line("warning", "null", "[]", "2 warnings emitted"), vec![]),
        // Other reasons and lines that are not JSON are skipped.
        (r#"{"reason":"build-finished","success":false}"#.to_owned(), vec![]),
        ("    Checking x v0.1.0".to_owned(), vec![]),
    ];
    for (input, expected) in cases {
        assert_eq!(rows(&cargo::parse_clippy(&input, root)), expected, "{input}");
    }
}

#[test]
fn rustfmt_names_each_file_once_at_its_first_difference() {
    let findings = cargo::parse_rustfmt(&fixture("rustfmt-check.txt"), Path::new("/tmp/vcap/rs"));
    assert_eq!(
        rows(&findings),
        [
            ("src/odd name;.rs", Some(2), None, "fmt", Severity::Warning),
            ("src/main.rs", Some(1), None, "fmt", Severity::Warning),
        ]
    );
    // The older header form, a path with a colon in it, and a file named twice.
    let older = "Diff in /r/src/a:b.rs at line 7:\n-x\nDiff in /r/src/a:b.rs at line 9:\nDiff in /r/src/c.rs:3:\n";
    assert_eq!(
        rows(&cargo::parse_rustfmt(older, Path::new("/r"))),
        [
            ("src/a:b.rs", Some(7), None, "fmt", Severity::Warning),
            ("src/c.rs", Some(3), None, "fmt", Severity::Warning)
        ]
    );
}

#[test]
fn ruff_json_is_read_with_syntax_errors_as_errors() {
    let findings = python::parse_ruff(&fixture("ruff.json"), Path::new("/tmp/vcap/py")).expect("ruff's JSON");
    assert_eq!(
        rows(&findings),
        [
            ("app.py", Some(1), Some(1), "I001", Severity::Warning),
            ("app.py", Some(1), Some(8), "F401", Severity::Warning),
            ("app.py", Some(4), Some(12), "F821", Severity::Error),
            ("pkg/-odd; näme.py", Some(1), Some(12), "invalid-syntax", Severity::Error),
            ("pkg/-odd; näme.py", Some(2), Some(1), "invalid-syntax", Severity::Error),
        ]
    );
    assert_eq!(findings[1].message, "`os` imported but unused");
    assert!(python::parse_ruff("error: not JSON", Path::new("/r")).is_err());
}

#[test]
fn flake8_lines_are_read_with_hostile_paths() {
    let findings = python::parse_flake8(&fixture("flake8.txt"), Path::new("/tmp/vcap/py"));
    assert_eq!(
        rows(&findings),
        [
            ("app.py", Some(1), Some(1), "F401", Severity::Warning),
            ("app.py", Some(3), Some(1), "E302", Severity::Warning),
            ("app.py", Some(3), Some(7), "E201", Severity::Warning),
            ("app.py", Some(3), Some(9), "E202", Severity::Warning),
            ("app.py", Some(4), Some(12), "F821", Severity::Error),
            ("pkg/-odd; näme.py", Some(1), Some(13), "E999", Severity::Error),
        ]
    );
    assert_eq!(findings[0].message, "'os' imported but unused");
    // A colon-and-digits in the path is part of the path; lines that are no finding are skipped.
    let odd = "./a:1:2.py:3:4: W291 trailing whitespace\nsomething else\n./b.py:x:1: E1 no\n";
    assert_eq!(
        rows(&python::parse_flake8(odd, Path::new("/r"))),
        [("a:1:2.py", Some(3), Some(4), "W291", Severity::Warning)]
    );
}

#[test]
fn python_severity_table() {
    for (code, expected) in [
        (None, Severity::Error),
        (Some("invalid-syntax"), Severity::Error),
        (Some("E999"), Severity::Error),
        (Some("E902"), Severity::Error),
        (Some("F632"), Severity::Error),
        (Some("F701"), Severity::Error),
        (Some("F821"), Severity::Error),
        (Some("F401"), Severity::Warning),
        (Some("E501"), Severity::Warning),
        (Some("W291"), Severity::Warning),
        (Some("I001"), Severity::Warning),
    ] {
        assert_eq!(python::severity(code), expected, "{code:?}");
    }
}

#[test]
fn eslint_json_maps_severities_and_parse_errors() {
    let findings = eslint::parse_eslint(&fixture("eslint.json"), Path::new("/tmp/vcap/js")).expect("eslint's JSON");
    assert_eq!(
        rows(&findings),
        [
            ("app.js", Some(1), Some(7), "no-unused-vars", Severity::Error),
            ("app.js", Some(1), Some(17), "semi", Severity::Warning),
            ("app.js", Some(2), Some(1), "no-console", Severity::Warning),
            ("bad name;.js", Some(1), Some(10), "parse-error", Severity::Error),
        ]
    );
    assert_eq!(findings[3].message, "Parsing error: Unexpected token (");
}

#[test]
fn shellcheck_json1_maps_levels_and_codes() {
    let findings = shell::parse_shellcheck(&fixture("shellcheck.json"), Path::new("/tmp/vcap/sh")).expect("json1");
    let expected: Vec<Row<'_>> = vec![
        ("bad.sh", Some(1), Some(1), "SC2148", Severity::Error),
        ("bad.sh", Some(1), Some(11), "SC1036", Severity::Error),
        ("bad.sh", Some(1), Some(11), "SC1088", Severity::Error),
        ("tool", Some(2), Some(10), "SC2045", Severity::Error),
        ("tool", Some(3), Some(1), "SC2162", Severity::Info),
        ("tool", Some(3), Some(6), "SC2034", Severity::Warning),
        ("run me.sh", Some(2), Some(6), "SC2086", Severity::Info),
        ("run me.sh", Some(3), Some(6), "SC2154", Severity::Warning),
        ("run me.sh", Some(3), Some(6), "SC2086", Severity::Info),
        ("run me.sh", Some(4), Some(3), "SC2164", Severity::Warning),
    ];
    assert_eq!(rows(&findings), expected);
    assert!(shell::parse_shellcheck("", Path::new("/r")).is_err());
}

#[test]
fn paths_are_made_relative_only_under_the_root() {
    let root = Path::new("/r/repo");
    for (path, expected) in [
        ("/r/repo/src/a.rs", "src/a.rs"),
        ("./src/a.rs", "src/a.rs"),
        ("src/a.rs", "src/a.rs"),
        ("/r/repository/a.rs", "/r/repository/a.rs"),
        ("/home/u/.cargo/registry/x.rs", "/home/u/.cargo/registry/x.rs"),
    ] {
        assert_eq!(relative_to(root, path), expected, "{path}");
    }
}

#[test]
fn shebangs_table() {
    for (head, expected) in [
        ("#!/bin/sh\n", true),
        ("#!/bin/bash -e\necho", true),
        ("#! /usr/bin/env bash\n", true),
        ("#!/usr/bin/env -S bash -eu\n", true),
        ("#!/bin/dash", true),
        ("#!/usr/bin/env python3\n", false),
        ("#!/usr/bin/env\n", false),
        ("#!/bin/zsh\n", false),
        ("# !/bin/sh\n", false),
        ("echo hi\n", false),
        ("", false),
    ] {
        assert_eq!(shebang_shell(head.as_bytes()), expected, "{head:?}");
    }
}

#[test]
fn link_targets_resolve_against_the_document() {
    let doc = Path::new("docs/guide/intro.md");
    let inside = |path: &str| Target::Inside(PathBuf::from(path));
    for (target, expected) in [
        ("setup.md", inside("docs/guide/setup.md")),
        ("./img/a%20b.png", inside("docs/guide/img/a b.png")),
        ("../api.md#errors", inside("docs/api.md")),
        ("../../README.md?plain=1", inside("README.md")),
        ("/LICENSE", inside("LICENSE")),
        ("..", inside("docs")),
        ("../../../etc/passwd", Target::Outside),
        ("#same-page", Target::Skipped),
        ("https://example.com/x.md", Target::Skipped),
        ("mailto:someone@example.com", Target::Skipped),
        ("data:image/png;base64,AAAA", Target::Skipped),
        ("//cdn.example.com/a.png", Target::Skipped),
        ("", Target::Skipped),
        ("%zz.md", inside("docs/guide/%zz.md")),
    ] {
        assert_eq!(markdown::resolve(doc, target), expected, "{target}");
    }
}

#[test]
fn broken_links_are_found_with_their_place() {
    let text = "# Title\n\nSee [the guide](guide.md) and [gone](missing.md).\n\n| a | b |\n|---|---|\n| ![pic](img/x.png) | \
                [web](https://example.com) |\n\n[ref]: nowhere.md\nUse [it][ref], [top](#title), [up](../../x.md).\n";
    let exists = |path: &Path| path == Path::new("docs/guide.md");
    let broken = markdown::broken_links(text, Path::new("docs/index.md"), &exists);
    let found: Vec<(u32, u32, &str, Option<&Path>, bool)> =
        broken.iter().map(|b| (b.line, b.column, b.target.as_str(), b.resolved.as_deref(), b.image)).collect();
    assert_eq!(
        found,
        [
            (3, 31, "missing.md", Some(Path::new("docs/missing.md")), false),
            (7, 3, "img/x.png", Some(Path::new("docs/img/x.png")), true),
            (10, 5, "nowhere.md", Some(Path::new("docs/nowhere.md")), false),
            (10, 31, "../../x.md", None, false),
        ]
    );
}

#[test]
fn linter_names_are_checked() {
    let options = |names: &[&str]| ValidateOptions {
        linters: Some(names.iter().map(|n| (*n).to_owned()).collect()),
        ..ValidateOptions::default()
    };
    assert_eq!(selection(&options(&["clippy", "links"])).expect("known"), ["clippy", "links"]);
    let err = selection(&options(&["clippy", "pylint\n"])).expect_err("unknown");
    assert!(matches!(err, ValidateError::UnknownLinter { .. }));
    assert_eq!(
        err.to_string(),
        "unknown linter 'pylint\\n'; the linters are clippy, rustfmt, ruff, flake8, eslint, shellcheck, links"
    );
    assert_eq!(selection(&ValidateOptions::default()).expect("all").len(), super::LINTERS.len());
}

/// A report with one hostile finding, one missing linter and one failed linter.
fn hostile_report() -> ValidationReport {
    let finding = Finding {
        linter: "links".to_owned(),
        file: "-docs/<b>\"x\" & y;\n\u{1b}[31m.md".to_owned(),
        line: Some(3),
        column: Some(1),
        rule: "broken-link".to_owned(),
        severity: Severity::Error,
        message: "link '<script>alert(1)</script>' points at 'x', which is not in the repository".to_owned(),
    };
    ValidationReport {
        dir: PathBuf::from("/r/<repo>"),
        runs: vec![
            LinterRun { linter: "links".to_owned(), status: LinterStatus::Ran, findings: vec![finding] },
            LinterRun {
                linter: "shellcheck".to_owned(),
                status: LinterStatus::Missing { tool: "shellcheck".to_owned() },
                findings: vec![],
            },
            LinterRun {
                linter: "eslint".to_owned(),
                status: LinterStatus::Failed { reason: "it ended with exit code 2: <oops>".to_owned() },
                findings: vec![],
            },
        ],
    }
}

#[test]
fn counts_and_verdicts() {
    let mut report = hostile_report();
    assert_eq!((report.errors(), report.passed()), (2, false), "a finding and a failed linter");
    report.runs.truncate(2);
    report.runs[0].findings[0].severity = Severity::Warning;
    assert_eq!((report.errors(), report.passed()), (0, false), "a missing linter is no error and no pass");
    report.runs.truncate(1);
    assert_eq!((report.errors(), report.passed()), (0, true));
    report.runs.push(LinterRun { linter: "clippy".to_owned(), status: LinterStatus::TimedOut, findings: vec![] });
    assert_eq!((report.errors(), report.passed()), (1, false), "a linter that timed out is an error");
}

#[test]
fn the_text_report_escapes_control_characters() {
    let text = hostile_report().to_text();
    assert!(text.starts_with("validated /r/<repo>: 1 error, 0 warnings, 0 notes\n"), "{text}");
    assert!(text.contains("  -docs/<b>\"x\" & y;\\n\\u{1b}[31m.md:3:1: error[broken-link]: link '<script>"), "{text}");
    assert!(text.contains("shellcheck: not run: 'shellcheck' is not installed\n"), "{text}");
    assert!(text.ends_with("result: failed: 2 errors; not installed: shellcheck\n"), "{text}");
    assert!(!text.contains('\u{1b}'));
    assert_eq!(text.lines().count(), 6, "one line each: {text}");
}

#[test]
fn the_html_report_escapes_every_outside_string() {
    let html = hostile_report().to_html();
    assert!(html.starts_with("<!DOCTYPE html>"));
    for raw in ["<b>", "<script>", "<repo>", "<oops>", "\"x\" & y"] {
        assert!(!html.contains(raw), "{raw} unescaped in {html}");
    }
    for escaped in [
        "-docs/&lt;b&gt;&quot;x&quot; &amp; y;",
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        "/r/&lt;repo&gt;",
        "&lt;oops&gt;",
    ] {
        assert!(html.contains(escaped), "{escaped} missing from {html}");
    }
    // Nothing is loaded from elsewhere and nothing runs.
    assert!(!html.contains("<script") && !html.contains("src=") && !html.contains("href="));
}

#[test]
fn the_report_serialises_in_snake_case() {
    let json = serde_json::to_value(hostile_report()).expect("serialises");
    assert_eq!(json["runs"][1]["status"], serde_json::json!({ "kind": "missing", "tool": "shellcheck" }));
    assert_eq!(json["runs"][0]["findings"][0]["severity"], "error");
    let back: ValidationReport = serde_json::from_value(json).expect("reads back");
    assert_eq!(back, hostile_report());
}
