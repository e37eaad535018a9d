//! Unit tables of file edits: drift states, placeholders, requirements, the manifest editors and diffs.

use std::{ffi::OsString, time::Duration};

use super::{
    FileEdit, LockfileOutcome, PlaceholderError, SyncState, bump, content_hash, fill_placeholders, lockfile, paths,
    sync_state,
};

#[test]
fn sync_state_every_row() {
    use SyncState::*;
    let (a, b, c) = (Some("a"), Some("b"), Some("c"));
    // (last synced, source, target) -> state
    type Hash = Option<&'static str>;
    let rows: [(Hash, Hash, Hash, SyncState); 17] = [
        // Source and target equal: in step, whatever was synced before.
        (a, a, a, InStep),
        (None, a, a, InStep),
        (b, a, a, InStep),
        (None, None, None, InStep),
        (a, None, None, InStep),
        // No target file.
        (None, a, None, Missing),
        (a, a, None, Missing),
        (a, b, None, Missing),
        // The target is where the last sync left it and the source moved (or deleted the file).
        (a, b, a, Behind),
        (a, None, a, Behind),
        // The source is where the last sync left it and the target moved.
        (a, a, b, TargetAhead),
        (None, None, a, TargetAhead),
        // Both moved, or never synced and different.
        (a, b, c, Conflict),
        (None, a, b, Conflict),
        (a, None, b, Conflict),
        (c, a, b, Conflict),
        (b, a, c, Conflict),
    ];
    for (last, source, target, expected) in rows {
        assert_eq!(sync_state(last, source, target), expected, "last {last:?}, source {source:?}, target {target:?}");
    }
}

#[test]
fn content_hash_is_sha256_hex() {
    assert_eq!(content_hash(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_eq!(content_hash("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    let (one, two) = (content_hash("x\n"), content_hash("x"));
    assert_ne!(one, two, "a final newline is content");
    assert_eq!(sync_state(Some(&one), Some(&two), Some(&one)), SyncState::Behind);
}

#[test]
fn placeholders_fill_in_one_pass_with_escapes_and_errors() {
    let value = |key: &str| match key {
        "name" => Some("widgets"),
        "tricky" => Some("{{name}}"),
        _ => None,
    };
    let check = |template: &str, expected: Result<&str, PlaceholderError>| {
        assert_eq!(fill_placeholders(template, value), expected.map(str::to_owned), "{template:?}");
    };
    check("", Ok(""));
    check("no placeholders } {", Ok("no placeholders } {"));
    check("{{name}}", Ok("widgets"));
    check("a {{ name }} b {{name}}", Ok("a widgets b widgets"));
    check("{{tricky}}", Ok("{{name}}"));
    check("${{{{ matrix.os }}", Ok("${{ matrix.os }}"));
    check("{{{{{{{{", Ok("{{{{"));
    check("x\n\ny {{nope}}", Err(PlaceholderError::Unknown { line: 3, placeholder: "nope".into() }));
    check("{{}}", Err(PlaceholderError::Unknown { line: 1, placeholder: String::new() }));
    check("{{{name}}}", Err(PlaceholderError::Unknown { line: 1, placeholder: "{name".into() }));
    check("ok\n{{name\n}}", Err(PlaceholderError::Unclosed { line: 2 }));
    check("{{name}}\n{{", Err(PlaceholderError::Unclosed { line: 2 }));
}

#[test]
fn requirements_keep_the_authors_operator() {
    let check = |old: &str, version: &str, expected: Option<&str>| {
        assert_eq!(bump::requirement(old, version).as_deref(), expected, "{old:?} -> {version:?}");
    };
    check("1.2", "1.3.0", Some("1.3.0"));
    check("^1.2", "1.3.0", Some("^1.3.0"));
    check("~1.2", "1.3.0", Some("~1.3.0"));
    check("=0.16.5", "0.16.6", Some("=0.16.6"));
    check(">=1.0, <2", "2.1", Some(">=2.1"));
    check("==1.0", "1.1", Some("==1.1"));
    check("~=1.0", "1.1", Some("~=1.1"));
    check(">= 1.0", "1.1", Some(">=1.1"));
    check("<2", "3.0", Some(">=3.0"));
    check("!=1.0", "1.1", Some(">=1.1"));
    check("v1.2.3", "1.3.0", Some("1.3.0"));
    check("^1.2", "=1.3.0", Some("=1.3.0"));
    // Not versions: left alone.
    check("*", "1.0", None);
    check("", "1.0", None);
    check("workspace:*", "1.0", None);
    check("file:../x", "1.0", None);
    check("git+https://example.com/x.git", "1.0", None);
    check("latest", "1.0", None);
}

#[test]
fn pep508_strings_keep_name_extras_and_markers() {
    let check = |req: &str, expected: Option<Option<&str>>| {
        let got = super::bump::python_pep508(req, "foo-bar", "2.0");
        assert_eq!(got.as_ref().map(|o| o.as_deref()), expected, "{req:?}");
    };
    check("foo-bar==1.0", Some(Some("foo-bar==2.0")));
    check("Foo_Bar>=1.0", Some(Some("Foo_Bar>=2.0")));
    check("foo.bar >= 1.0, < 2 ; python_version < '3.11'", Some(Some("foo.bar >=2.0 ; python_version < '3.11'")));
    check("foo-bar[extra1,extra2]~=1.4", Some(Some("foo-bar[extra1,extra2]~=2.0")));
    check("foo-bar (==1.0)", Some(Some("foo-bar (==2.0)")));
    check("foo-bar", Some(None));
    check("foo-bar; sys_platform == 'linux'", Some(None));
    check("foo-bar @ https://example.com/foo.whl", Some(None));
    check("foo-barbaz==1.0", None);
    check("other==1.0", None);
}

#[test]
fn go_mod_requires_single_and_in_blocks() {
    let text = "module example.com/app\n\ngo 1.22\n\nrequire example.com/lib v1.2.3\n\nrequire (\n\
                \texample.com/other v0.1.0 // indirect\n\t\"example.com/lib/v2\" v2.0.0\n)\n\n\
                replace example.com/lib => ../lib\n";
    let bumped = bump::gomod_bump(text, "example.com/lib", "1.4.0").expect("valid");
    assert!(bumped.found);
    let after = bumped.text.expect("changed");
    assert_eq!(after, text.replace("lib v1.2.3", "lib v1.4.0"));
    let bumped = bump::gomod_bump(text, "example.com/other", "v0.2.0").expect("valid");
    assert_eq!(bumped.text.expect("changed"), text.replace("other v0.1.0 // indirect", "other v0.2.0 // indirect"));
    let bumped = bump::gomod_bump(text, "example.com/lib/v2", "2.1.0").expect("valid");
    assert_eq!(bumped.text.expect("changed"), text.replace("v2\" v2.0.0", "v2\" v2.1.0"));
    // The module itself and replace lines are no requirement.
    assert!(!bump::gomod_bump(text, "example.com/app", "1.0.0").expect("valid").found);
    assert!(!bump::gomod_bump(text, "example.com/li", "1.0.0").expect("valid").found);
}

#[test]
fn package_json_edits_only_the_version_strings_of_dependency_sections() {
    let text = r#"{
  "name": "app",
  "scripts": { "left": "left-pad ^1.0.0" },
  "config": { "dependencies": { "left-pad": "^1.0.0" } },
  "dependencies": {
    "a\u0062c": "1.0.0",
    "left-pad": "^1.0.0"
  },
  "devDependencies": {"left-pad":"~1.0.0", "x": [1, {"y": null}, "z"]},
  "peerDependencies": { "left-pad": "workspace:*" },
  "optionalDependencies": { "left-pad": ">=1.0.0 <2" }
}
"#;
    let bumped = bump::npm_bump(text, "left-pad", "1.3.0").expect("valid");
    assert!(bumped.found);
    let expected = text
        .replacen(
            r#""left-pad": "^1.0.0"
  }"#,
            r#""left-pad": "^1.3.0"
  }"#,
            1,
        )
        .replace(r#""left-pad":"~1.0.0""#, r#""left-pad":"~1.3.0""#)
        .replace(r#"">=1.0.0 <2""#, r#"">=1.3.0""#);
    assert_eq!(bumped.text.expect("changed"), expected);
    // A key written with an escape is still its name.
    let bumped = bump::npm_bump(text, "abc", "2.0.0").expect("valid");
    assert!(bumped.text.expect("changed").contains(r#""a\u0062c": "2.0.0""#));
    assert!(bump::npm_bump("{ broken", "abc", "1").is_err());
    assert!(!bump::npm_bump(r#"{"name": "left-pad"}"#, "left-pad", "1").expect("valid").found);
}

#[test]
fn unified_diffs_look_like_gits() {
    let edit = |before: Option<&str>, after: Option<&str>| FileEdit {
        path: "dir/f.txt".into(),
        before: before.map(str::to_owned),
        after: after.map(str::to_owned),
    };
    let lines: String = (1..=10).map(|n| format!("{n}\n")).collect();
    let changed = lines.replace("5\n", "five\n");
    assert_eq!(
        edit(Some(&lines), Some(&changed)).unified_diff(),
        "diff --git a/dir/f.txt b/dir/f.txt\n--- a/dir/f.txt\n+++ b/dir/f.txt\n@@ -2,7 +2,7 @@\n 2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n"
    );
    assert_eq!(
        edit(None, Some("new\n")).unified_diff(),
        "diff --git a/dir/f.txt b/dir/f.txt\nnew file mode 100644\n--- /dev/null\n+++ b/dir/f.txt\n@@ -0,0 +1 @@\n+new\n"
    );
    assert_eq!(
        edit(Some("old\n"), None).unified_diff(),
        "diff --git a/dir/f.txt b/dir/f.txt\ndeleted file mode 100644\n--- a/dir/f.txt\n+++ /dev/null\n@@ -1 +0,0 @@\n-old\n"
    );
    assert_eq!(
        edit(Some("a\n"), Some("a")).unified_diff(),
        "diff --git a/dir/f.txt b/dir/f.txt\n--- a/dir/f.txt\n+++ b/dir/f.txt\n@@ -1 +1 @@\n-a\n+a\n\\ No newline at end of file\n"
    );
    for noop in [edit(Some("same\n"), Some("same\n")), edit(None, None)] {
        assert!(noop.is_noop());
        assert_eq!(noop.unified_diff(), "");
    }
    assert!(!edit(Some(""), None).is_noop(), "deleting an empty file changes something");
}

#[test]
fn paths_outside_the_worktree_are_refused_as_text() {
    for bad in ["", "/etc/passwd", "../x", "a/../../x", "a//b", "./a", "a/", ".git/config", "sub/.GIT/hooks/x", "a\0b"]
    {
        let err = paths::lexical(bad).expect_err(bad);
        assert!(err.to_string().starts_with("refusing the path"), "{bad:?}: {err}");
    }
    for good in ["a", "a/b.txt", ".github/workflows/*.yml", "x/.gitignore", "..a/b..", "**/*.md"] {
        paths::lexical(good).unwrap_or_else(|e| panic!("{good:?}: {e}"));
    }
}

#[tokio::test]
async fn a_lock_file_whose_tool_is_not_on_path_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("package-lock.json"), "{}\n").expect("write");
    std::fs::write(dir.path().join("go.sum"), "").expect("write");
    let empty = tempfile::tempdir().expect("an empty PATH directory");
    let env = [(OsString::from("PATH"), empty.path().as_os_str().to_owned())];
    let outcomes = lockfile::update_with_env(dir.path(), "left-pad", Duration::from_secs(30), &env).await;
    assert_eq!(
        outcomes,
        [LockfileOutcome::ToolMissing { tool: "npm".into() }, LockfileOutcome::ToolMissing { tool: "go".into() }]
    );
    let none = tempfile::tempdir().expect("tempdir");
    let outcomes = lockfile::update_with_env(none.path(), "x", Duration::from_secs(30), &env).await;
    assert_eq!(outcomes, [LockfileOutcome::NoLockfile]);
}
