//! File edits of change sets on real directories made at test time: dependency bumps in every kind of manifest
//! (cargo then reads the edited workspace), sync with globs and templates, refusals of `apply_edits`, and a real
//! `cargo update` of a lock file.

use std::{collections::BTreeMap, path::Path, process::Command, time::Duration};

use hive_ecosystem::{
    EditError, FileEdit, LockfileOutcome, RepoValues, SyncSpec, apply_edits, plan_bump, plan_sync, update_lockfiles,
};

use crate::write_files;

fn read(dir: &Path, rel: &str) -> String {
    std::fs::read_to_string(dir.join(rel)).unwrap_or_else(|e| panic!("read {rel}: {e}"))
}

/// The `after` of the edit of `path` among `edits`.
fn after<'e>(edits: &'e [FileEdit], path: &str) -> &'e str {
    let edit = edits.iter().find(|e| e.path == path).unwrap_or_else(|| panic!("no edit of {path} in {edits:#?}"));
    edit.after.as_deref().expect("not a deletion")
}

const ROOT_MANIFEST: &str = r#"# The workspace and its root package.
[workspace]
members = ["member"]

[workspace.dependencies]
serde = { version = "1.0.100", features = ["derive"] } # shared by the members

[package]
name = "root"
version = "0.1.0"
edition = "2021"

[dependencies]
serde = "^1.0"   # a string dependency
local = { path = "local" }

[target.'cfg(unix)'.dependencies]
serde = { version = "=1.0.1", default-features = false }
"#;

const MEMBER_MANIFEST: &str = r#"[package]
name = "member"
version = "0.1.0"
edition = "2021"

[dependencies]
serde = { workspace = true }

# A table of its own.
[dev-dependencies.serde]
version = '~1.0'
features = ["std"]

[build-dependencies]
renamed = { package = "serde", version = "1" }
"#;

const LOCAL_MANIFEST: &str = "[package]\nname = \"local\"\nversion = \"0.1.0\"\nedition = \"2021\"\n";

#[test]
fn a_bump_edits_every_manifest_of_a_cargo_workspace_and_keeps_comments() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_files(
        dir.path(),
        &[
            ("Cargo.toml", ROOT_MANIFEST),
            ("src/lib.rs", ""),
            ("member/Cargo.toml", MEMBER_MANIFEST),
            ("member/src/lib.rs", ""),
            ("local/Cargo.toml", LOCAL_MANIFEST),
            ("local/src/lib.rs", ""),
            // Build output is not searched.
            ("target/package/serde-copy/Cargo.toml", "[dependencies]\nserde = \"1\"\n"),
        ],
    );
    let edits = plan_bump(dir.path(), "serde", "1.0.200").expect("planned");
    let paths: Vec<&str> = edits.iter().map(|e| e.path.as_str()).collect();
    assert_eq!(paths, ["Cargo.toml", "member/Cargo.toml"]);
    let root = ROOT_MANIFEST
        .replace(r#"version = "1.0.100""#, r#"version = "1.0.200""#)
        .replace(r#"serde = "^1.0"   #"#, r#"serde = "^1.0.200"   #"#)
        .replace(r#"version = "=1.0.1""#, r#"version = "=1.0.200""#);
    assert_eq!(after(&edits, "Cargo.toml"), root);
    let member =
        MEMBER_MANIFEST.replace("'~1.0'", "'~1.0.200'").replace(r#"version = "1" }"#, r#"version = "1.0.200" }"#);
    assert_eq!(after(&edits, "member/Cargo.toml"), member);
    assert!(edits.iter().all(|e| e.before.as_deref() == Some(read(dir.path(), &e.path).as_str())), "planning wrote");

    apply_edits(dir.path(), &edits).expect("applied");
    // Cargo itself reads the edited workspace and sees the new requirements.
    let out = Command::new("cargo")
        .args(["metadata", "--offline", "--no-deps", "--format-version", "1", "--manifest-path"])
        .arg(dir.path().join("Cargo.toml"))
        .output()
        .expect("run cargo metadata");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let metadata: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let mut reqs = Vec::new();
    for package in metadata["packages"].as_array().expect("packages") {
        for dep in package["dependencies"].as_array().expect("dependencies") {
            if dep["name"] == "serde" {
                reqs.push(format!("{} {}", package["name"].as_str().expect("name"), dep["req"].as_str().expect("req")));
            }
        }
    }
    reqs.sort();
    assert_eq!(
        reqs,
        [
            "member ^1.0.200", // workspace = true, from [workspace.dependencies]
            "member ^1.0.200", // the renamed build dependency
            "member ~1.0.200",
            "root =1.0.200",
            "root ^1.0.200",
        ]
    );

    // Already there: nothing to do. A path-only dependency is found and left alone.
    assert_eq!(plan_bump(dir.path(), "serde", "1.0.200").expect("planned"), []);
    assert_eq!(plan_bump(dir.path(), "local", "0.2").expect("planned"), []);
}

#[test]
fn a_bump_keeps_package_json_order_and_indentation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let package = "{\n    \"name\": \"web\",\n    \"version\": \"1.0.0\",\n    \"scripts\": {\n        \"lint\": \
                   \"eslint .\"\n    },\n    \"dependencies\": {\n        \"zod\": \"^3.0.0\",\n        \"eslint\": \
                   \"8.0.0\"\n    },\n    \"devDependencies\": {\n        \"eslint\": \"~8.1.0\"\n    }\n}\n";
    write_files(dir.path(), &[("app/package.json", package), ("node_modules/eslint/package.json", package)]);
    let edits = plan_bump(dir.path(), "eslint", "9.2.0").expect("planned");
    assert_eq!(edits.len(), 1, "{edits:#?}");
    let expected = package.replace("\"eslint\": \"8.0.0\"", "\"eslint\": \"9.2.0\"").replace("~8.1.0", "~9.2.0");
    assert_eq!(after(&edits, "app/package.json"), expected);
}

#[test]
fn a_bump_edits_go_mod_requires_single_and_in_a_block() {
    let dir = tempfile::tempdir().expect("tempdir");
    let go_mod = "module example.com/app\n\ngo 1.22\n\nrequire golang.org/x/text v0.14.0\n\nrequire (\n\
                  \tgithub.com/pkg/errors v0.9.1\n\tgolang.org/x/sys v0.15.0 // indirect\n)\n";
    write_files(dir.path(), &[("go.mod", go_mod)]);
    let edits = plan_bump(dir.path(), "golang.org/x/text", "0.15.0").expect("planned");
    assert_eq!(after(&edits, "go.mod"), go_mod.replace("text v0.14.0", "text v0.15.0"));
    let edits = plan_bump(dir.path(), "golang.org/x/sys", "v0.16.0").expect("planned");
    assert_eq!(after(&edits, "go.mod"), go_mod.replace("sys v0.15.0 // indirect", "sys v0.16.0 // indirect"));
}

#[test]
fn a_bump_edits_pep_508_strings_and_poetry_tables() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pyproject = r#"[project]
name = "tool"
dependencies = [
    "requests>=2.28",  # http
    'Flask[async]==2.3.0; python_version >= "3.9"',
    "rich",
]

[project.optional-dependencies]
test = ["requests==2.28.0"]

[tool.poetry.dependencies]
python = "^3.10"
requests = "^2.28"

[tool.poetry.group.dev.dependencies]
flask = { version = "~2.3", extras = ["async"] }
"#;
    write_files(dir.path(), &[("pyproject.toml", pyproject)]);
    let edits = plan_bump(dir.path(), "requests", "2.32.3").expect("planned");
    let expected = pyproject
        .replace(r#""requests>=2.28""#, r#""requests>=2.32.3""#)
        .replace(r#""requests==2.28.0""#, r#""requests==2.32.3""#)
        .replace(r#"requests = "^2.28""#, r#"requests = "^2.32.3""#);
    assert_eq!(after(&edits, "pyproject.toml"), expected);
    // Names compare as PEP 503 normalises them; markers, extras and quotes stay.
    let edits = plan_bump(dir.path(), "flask", "3.0.0").expect("planned");
    let expected = pyproject
        .replace("'Flask[async]==2.3.0; python_version", "'Flask[async]==3.0.0; python_version")
        .replace(r#"version = "~2.3""#, r#"version = "~3.0.0""#);
    assert_eq!(after(&edits, "pyproject.toml"), expected);
    // Unconstrained: found, nothing to change.
    assert_eq!(plan_bump(dir.path(), "rich", "14.0").expect("planned"), []);
}

#[test]
fn a_dependency_in_no_manifest_is_not_found_and_bad_input_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    write_files(dir.path(), &[("Cargo.toml", ROOT_MANIFEST), ("README.md", "serdee\n")]);
    let err = plan_bump(dir.path(), "serdee", "1.0").expect_err("not found");
    assert!(matches!(&err, EditError::NotFound { dependency, .. } if dependency == "serdee"), "{err:?}");
    assert!(err.to_string().contains("'serdee'") && err.to_string().contains("check its name"), "{err}");
    let err = plan_bump(dir.path(), "--config=x", "1.0").expect_err("an option");
    assert!(matches!(err, EditError::InvalidDependency { .. }), "{err:?}");
    let err = plan_bump(dir.path(), "serde", "1.0\"\nevil = \"1").expect_err("a quote");
    assert!(matches!(err, EditError::InvalidVersion { .. }), "{err:?}");
    // A broken manifest that names the dependency is an error naming the file; nothing is planned around it.
    write_files(dir.path(), &[("broken/Cargo.toml", "[dependencies\nserde = \"1\"\n")]);
    let err = plan_bump(dir.path(), "serde", "1.0.200").expect_err("broken");
    assert!(matches!(&err, EditError::Manifest { path, .. } if path.ends_with("broken/Cargo.toml")), "{err:?}");
}

fn values() -> RepoValues {
    RepoValues {
        owner: "acme".into(),
        name: "widgets".into(),
        default_branch: "trunk".into(),
        extra: BTreeMap::from([("team".to_owned(), "platform".to_owned())]),
    }
}

const TEMPLATE: &str = "name: release {{name}}\non:\n  push:\n    branches: [{{ default_branch }}]\nenv:\n  \
                        OWNER: {{owner}}\n  REPO: {{repo}}\n  TEAM: {{extra.team}}\n  TOKEN: ${{{{ secrets.TOKEN }}\n";

#[test]
fn sync_makes_globbed_files_equal_and_fills_templates_with_the_targets_values() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (source, target) = (tmp.path().join("source"), tmp.path().join("target"));
    write_files(
        &source,
        &[
            (".github/workflows/ci.yml", "name: ci\n"),
            (".github/workflows/release.yml.hive-template", TEMPLATE),
            (".github/workflows/README.md", "not a workflow\n"),
            (".github/workflows/nested/deep.yml", "not matched by one star\n"),
            ("LICENSE", "MIT\n"),
            ("src/main.rs", "fn main() {}\n"),
        ],
    );
    write_files(
        &target,
        &[
            (".github/workflows/ci.yml", "name: old ci\n"),
            (".github/workflows/stale.yml", "name: stale\n"),
            (".github/workflows/keep.md", "kept\n"),
            ("LICENSE", "MIT\n"),
            ("src/main.rs", "fn main() { println!(\"mine\"); }\n"),
        ],
    );
    let spec = SyncSpec { paths: vec![".github/workflows/*.yml".into(), "LICENSE".into()], delete_missing: true };
    let edits = plan_sync(&source, &target, &spec, &values()).expect("planned");
    let release = "name: release widgets\non:\n  push:\n    branches: [trunk]\nenv:\n  OWNER: acme\n  REPO: \
                   acme/widgets\n  TEAM: platform\n  TOKEN: ${{ secrets.TOKEN }}\n";
    let expected = [
        FileEdit {
            path: ".github/workflows/ci.yml".into(),
            before: Some("name: old ci\n".into()),
            after: Some("name: ci\n".into()),
        },
        FileEdit { path: ".github/workflows/release.yml".into(), before: None, after: Some(release.into()) },
        FileEdit { path: ".github/workflows/stale.yml".into(), before: Some("name: stale\n".into()), after: None },
    ];
    assert_eq!(edits, expected);
    assert!(edits[1].unified_diff().contains("+++ b/.github/workflows/release.yml\n"), "{}", edits[1].unified_diff());

    apply_edits(&target, &edits).expect("applied");
    assert_eq!(read(&target, ".github/workflows/release.yml"), release);
    assert!(!target.join(".github/workflows/stale.yml").exists());
    assert_eq!(read(&target, ".github/workflows/keep.md"), "kept\n");
    assert_eq!(read(&target, "src/main.rs"), "fn main() { println!(\"mine\"); }\n", "outside the paths");
    // In step now: the same sync plans nothing.
    assert_eq!(plan_sync(&source, &target, &spec, &values()).expect("planned again"), []);
}

#[test]
fn sync_refuses_unknown_placeholders_and_paths_matching_nothing() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (source, target) = (tmp.path().join("source"), tmp.path().join("target"));
    write_files(&source, &[("CODEOWNERS.hive-template", "* @{{owner}}\n/docs @{{extra.docs_team}}\n")]);
    write_files(&target, &[("README.md", "hi\n")]);
    let spec = SyncSpec { paths: vec!["CODEOWNERS".into()], delete_missing: false };
    let err = plan_sync(&source, &target, &spec, &values()).expect_err("unknown placeholder");
    match &err {
        EditError::UnknownPlaceholder { path, line, placeholder, .. } => {
            assert!(path.ends_with("CODEOWNERS.hive-template"), "{path:?}");
            assert_eq!((*line, placeholder.as_str()), (2, "extra.docs_team"));
        }
        other => panic!("{other:?}"),
    }
    let message = err.to_string();
    assert!(
        message.contains("'{{extra.docs_team}}'") && message.contains("line 2") && message.contains("[team]"),
        "{message}"
    );

    let spec = SyncSpec { paths: vec!["docs/*.md".into()], delete_missing: false };
    let err = plan_sync(&source, &target, &spec, &values()).expect_err("no match");
    assert!(matches!(&err, EditError::NoMatch { pattern, .. } if pattern == "docs/*.md"), "{err:?}");
    let spec = SyncSpec { paths: vec!["../outside".into()], delete_missing: false };
    let err = plan_sync(&source, &target, &spec, &values()).expect_err("outside");
    assert!(matches!(err, EditError::UnsafePath { .. }), "{err:?}");
    assert_eq!(std::fs::read_dir(&target).expect("list").count(), 1, "nothing written");
}

#[test]
fn apply_refuses_paths_out_of_the_worktree_and_files_changed_since_planning() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (dir, outside) = (tmp.path().join("work"), tmp.path().join("outside"));
    write_files(&dir, &[("a.txt", "one\n"), ("b.txt", "two\n"), (".git/config", "[core]\n")]);
    write_files(&outside, &[("x", "theirs\n")]);
    std::os::unix::fs::symlink(&outside, dir.join("link")).expect("symlink");
    let create = |path: &str| FileEdit { path: path.into(), before: None, after: Some("mine\n".into()) };
    let good = FileEdit { path: "a.txt".into(), before: Some("one\n".into()), after: Some("ONE\n".into()) };
    for bad in [create("../x"), create("/etc/x"), create(".git/config"), create("link/x"), create("link/new")] {
        let err = apply_edits(&dir, &[good.clone(), bad.clone()]).expect_err(&bad.path);
        assert!(matches!(&err, EditError::UnsafePath { path, .. } if *path == bad.path), "{}: {err:?}", bad.path);
        assert!(err.to_string().contains(&format!("'{}'", bad.path)), "{err}");
    }
    // b.txt changed after the plan was made: nothing of any file is written.
    let stale = FileEdit { path: "b.txt".into(), before: Some("two (planned)\n".into()), after: Some("TWO\n".into()) };
    let err = apply_edits(&dir, &[good.clone(), stale]).expect_err("changed");
    assert!(matches!(&err, EditError::Changed { path } if path == "b.txt"), "{err:?}");
    let created = FileEdit { path: "b.txt".into(), before: None, after: Some("TWO\n".into()) };
    assert!(matches!(apply_edits(&dir, &[created]), Err(EditError::Changed { .. })), "a file that exists now");
    assert_eq!(read(&dir, "a.txt"), "one\n");
    assert_eq!(read(&dir, "b.txt"), "two\n");
    assert_eq!(read(&dir, ".git/config"), "[core]\n");
    assert_eq!(read(&outside, "x"), "theirs\n");
    assert!(!outside.join("new").exists());

    // The good edit alone goes through, and an executable file stays executable.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.join("a.txt"), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    apply_edits(&dir, &[good, create("new/dir/c.txt")]).expect("applied");
    assert_eq!(read(&dir, "a.txt"), "ONE\n");
    assert_eq!(read(&dir, "new/dir/c.txt"), "mine\n");
    let mode = std::fs::metadata(dir.join("a.txt")).expect("stat").permissions().mode();
    assert_eq!(mode & 0o777, 0o755);
}

#[tokio::test]
async fn cargo_updates_the_lock_file_offline_after_a_path_dependency_moves() {
    let dir = tempfile::tempdir().expect("tempdir");
    let app = "[package]\nname = \"app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[dependencies]\n\
               lib = { path = \"lib\", version = \"0.1\" }\n";
    let lib = "[package]\nname = \"lib\"\nversion = \"0.1.0\"\nedition = \"2021\"\n";
    write_files(
        dir.path(),
        &[("Cargo.toml", app), ("src/lib.rs", ""), ("lib/Cargo.toml", lib), ("lib/src/lib.rs", "")],
    );
    let status = Command::new("cargo")
        .args(["generate-lockfile", "--offline"])
        .current_dir(dir.path())
        .status()
        .expect("run cargo generate-lockfile");
    assert!(status.success());
    assert!(read(dir.path(), "Cargo.lock").contains("name = \"lib\"\nversion = \"0.1.0\""));

    // The library's own version moves; the bump follows it in the dependent.
    let moved = FileEdit {
        path: "lib/Cargo.toml".into(),
        before: Some(lib.into()),
        after: Some(lib.replace("0.1.0", "0.2.0")),
    };
    apply_edits(dir.path(), &[moved]).expect("applied");
    let edits = plan_bump(dir.path(), "lib", "0.2").expect("planned");
    assert_eq!(after(&edits, "Cargo.toml"), app.replace("version = \"0.1\"", "version = \"0.2\""));
    apply_edits(dir.path(), &edits).expect("applied");

    let outcomes = update_lockfiles(dir.path(), "lib", Duration::from_secs(120)).await;
    assert_eq!(outcomes, [LockfileOutcome::Updated { tool: "cargo".into(), file: "Cargo.lock".into() }]);
    assert!(read(dir.path(), "Cargo.lock").contains("name = \"lib\"\nversion = \"0.2.0\""));

    // A dependency the lock file does not have: cargo says so, and the outcome carries its words.
    let outcomes = update_lockfiles(dir.path(), "nope", Duration::from_secs(120)).await;
    match outcomes.as_slice() {
        [LockfileOutcome::Failed { tool, reason }] => {
            assert_eq!(tool, "cargo");
            assert!(reason.contains("nope"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
}
