//! Detection on fixture projects, one per build system, plus broken manifests and mixed repositories.

use super::*;
use hive_testkit::projects::{self as fixtures, write};

/// Builds a project in a fresh directory, detects it, and returns the systems found and broken.
fn detected(build: impl FnOnce(&Path)) -> (Vec<BuildSystem>, Vec<(BuildSystem, String)>) {
    let dir = tempfile::tempdir().expect("tempdir");
    build(dir.path());
    let detection = detect(dir.path()).expect("detect");
    assert_eq!(detection.dir(), dir.path());
    let found = detection.found().map(|(system, _)| system).collect();
    let broken = detection.broken().map(|(system, _, cause)| (system, cause.to_owned())).collect();
    (found, broken)
}

#[track_caller]
fn check(build: impl FnOnce(&Path), expected: &[BuildSystem]) {
    let (found, broken) = detected(build);
    assert_eq!(found, expected);
    assert!(broken.is_empty(), "{broken:?}");
}

#[test]
fn one_fixture_per_build_system() {
    use BuildSystem::*;
    check(fixtures::cargo_project, &[Cargo]);
    check(fixtures::cargo_workspace, &[Cargo]);
    check(|d| fixtures::node_project(d, None), &[Npm]);
    check(|d| fixtures::node_project(d, Some("package-lock.json")), &[Npm]);
    check(|d| fixtures::node_project(d, Some("pnpm-lock.yaml")), &[Pnpm]);
    check(|d| fixtures::node_project(d, Some("yarn.lock")), &[Yarn]);
    check(|d| fixtures::python_project(d, true), &[Python]);
    check(|d| fixtures::make_project(d, true), &[Make]);
    check(fixtures::go_project, &[Go]);
    check(fixtures::maven_project, &[Maven]);
    check(fixtures::gradle_project, &[Gradle]);
    check(fixtures::docker_project, &[Docker]);
    check(fixtures::just_project, &[Just]);
}

#[test]
fn every_manifest_name_is_recognised() {
    use BuildSystem::*;
    let table: &[(&str, &str, BuildSystem)] = &[
        ("setup.py", "from setuptools import setup\n", Python),
        ("requirements.txt", "requests\n", Python),
        ("makefile", "all:\n", Make),
        ("GNUmakefile", "all:\n", Make),
        ("build.gradle.kts", "", Gradle),
        ("settings.gradle.kts", "", Gradle),
        ("docker-compose.yml", "services: {}\n", Docker),
        ("Containerfile", "FROM scratch\n", Docker),
        ("Justfile", "a:\n", Just),
        (".justfile", "a:\n", Just),
    ];
    for (name, contents, system) in table {
        check(|d| drop(write(d, name, contents)), &[*system]);
    }
}

#[test]
fn a_repository_may_use_several_systems() {
    use BuildSystem::*;
    check(
        |d| {
            fixtures::cargo_project(d);
            fixtures::make_project(d, true);
            fixtures::docker_project(d);
            fixtures::just_project(d);
        },
        &[Cargo, Make, Docker, Just],
    );
    // Two lock files: both managers are reported, since either may be the one in use.
    check(
        |d| {
            fixtures::node_project(d, Some("yarn.lock"));
            write(d, "package-lock.json", "{}");
        },
        &[Npm, Yarn],
    );
}

#[test]
fn package_manager_field_decides_without_a_lock_file() {
    check(|d| drop(write(d, "package.json", r#"{"packageManager": "pnpm@9.1.0"}"#)), &[BuildSystem::Pnpm]);
    check(|d| drop(write(d, "package.json", r#"{"packageManager": "yarn@4.0.0"}"#)), &[BuildSystem::Yarn]);
}

#[test]
fn broken_manifests_carry_the_parsers_position() {
    let table: &[(&str, &str, BuildSystem, &str)] = &[
        (
            "package.json",
            "{\n  \"name\": \"web\",\n  \"scripts\": {,}\n}\n",
            BuildSystem::Npm,
            "invalid JSON at line 3, column 15",
        ),
        ("package.json", "[1, 2]", BuildSystem::Npm, "not a JSON object"),
        (
            "Cargo.toml",
            "[package]\nname = \"x\nversion = 1\n",
            BuildSystem::Cargo,
            "invalid TOML at line 2, column 10: invalid basic string",
        ),
        ("Cargo.toml", "[dependencies]\nserde = \"1\"\n", BuildSystem::Cargo, "neither a [package] nor a [workspace]"),
        ("pyproject.toml", "[project\nname = 1\n", BuildSystem::Python, "invalid TOML at line 1, column 9"),
        ("go.mod", "go 1.22\n", BuildSystem::Go, "no 'module' directive"),
        ("pom.xml", "<html/>", BuildSystem::Maven, "no <project> element"),
    ];
    for (name, contents, system, cause) in table {
        let (found, broken) = detected(|d| drop(write(d, name, contents)));
        assert!(found.is_empty(), "{name}: {found:?}");
        assert_eq!(broken.len(), 1, "{name}: {broken:?}");
        assert_eq!(broken[0].0, *system);
        assert!(broken[0].1.starts_with(cause), "{name}: {}", broken[0].1);
    }
}

#[test]
fn a_broken_package_json_breaks_the_manager_its_lock_file_names() {
    let (found, broken) = detected(|d| {
        write(d, "package.json", "{");
        write(d, "pnpm-lock.yaml", "");
    });
    assert!(found.is_empty());
    assert_eq!(broken[0].0, BuildSystem::Pnpm);
}

#[test]
fn non_utf8_and_special_files_are_not_read_as_manifests() {
    let (_, broken) = detected(|d| {
        std::fs::write(d.join("Cargo.toml"), b"[package]\nname = \"\xff\"\n").expect("write");
    });
    assert!(broken[0].1.starts_with("not UTF-8"), "{broken:?}");
    // A directory named like a manifest, and a symlink to a device, are not manifests.
    let (found, broken) = detected(|d| {
        std::fs::create_dir(d.join("Makefile")).expect("mkdir");
        std::os::unix::fs::symlink("/dev/zero", d.join("package.json")).expect("symlink");
    });
    assert!(found.is_empty() && broken.is_empty(), "{found:?} {broken:?}");
}

#[test]
fn every_system_is_listed_and_missing_ones_say_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let detection = detect(dir.path()).expect("detect");
    assert!(detection.is_empty());
    assert_eq!(detection.iter().count(), BuildSystem::ALL.len());
    assert!(detection.iter().all(|(_, status)| *status == SystemStatus::Missing));
    let json = serde_json::to_value(&detection).expect("serialise");
    assert_eq!(json["systems"]["cargo"]["status"], "missing", "{json}");
}

#[test]
fn not_a_directory_is_an_error_naming_the_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(dir.path(), "file", "");
    let err = detect(&file).expect_err("a file");
    assert!(err.to_string().contains(&format!("'{}': not a directory", file.display())), "{err}");
    let err = detect(&dir.path().join("absent")).expect_err("absent");
    assert!(matches!(err, DetectError::Io { .. }), "{err}");
}
