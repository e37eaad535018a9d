//! Fixture projects for tests, one builder per build system, with real git through the tests' one isolated runner
//! (`crate::git`), which does not depend on the machine's git configuration.

use std::path::{Path, PathBuf};

/// Writes `contents` to `dir/rel`, creating parent directories.
pub fn write(dir: &Path, rel: &str, contents: &str) -> PathBuf {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().expect("a file has a parent")).expect("create dirs");
    std::fs::write(&path, contents).expect("write fixture file");
    path
}

/// A cargo package `calc` with a library, the default binary, an extra binary `tool` and an example `demo`.
pub fn cargo_project(dir: &Path) {
    write(dir, "Cargo.toml", "[package]\nname = \"calc\"\nversion = \"0.1.0\"\nedition = \"2021\"\n");
    write(dir, "src/lib.rs", "pub fn add(a: i32, b: i32) -> i32 { a + b }\n");
    write(dir, "src/main.rs", "fn main() {}\n");
    write(dir, "src/bin/tool.rs", "fn main() {}\n");
    write(dir, "examples/demo.rs", "fn main() {}\n");
}

/// A virtual cargo workspace with members `crates/core` (library) and `crates/cli` (binary `cli`).
pub fn cargo_workspace(dir: &Path) {
    write(dir, "Cargo.toml", "[workspace]\nmembers = [\"crates/*\"]\nresolver = \"2\"\n");
    write(dir, "crates/core/Cargo.toml", "[package]\nname = \"core-lib\"\nversion = \"0.1.0\"\nedition = \"2021\"\n");
    write(dir, "crates/core/src/lib.rs", "\n");
    write(dir, "crates/cli/Cargo.toml", "[package]\nname = \"cli\"\nversion = \"0.1.0\"\nedition = \"2021\"\n");
    write(dir, "crates/cli/src/main.rs", "fn main() {}\n");
}

/// An npm-family project with a few scripts; `lock` is the lock file to add, if any.
pub fn node_project(dir: &Path, lock: Option<&str>) {
    write(
        dir,
        "package.json",
        r#"{
  "name": "web",
  "scripts": {
    "build": "tsc",
    "test": "node --test",
    "test:unit": "node --test unit",
    "lint": "eslint .",
    "start": "node server.js",
    "rm -rf /": "echo hostile script name",
    "release": "np"
  }
}
"#,
    );
    if let Some(lock) = lock {
        write(dir, lock, "");
    }
}

/// A Python package with unittest tests in `test_calc.py`; `passing` chooses whether they pass.
pub fn python_project(dir: &Path, passing: bool) {
    write(dir, "pyproject.toml", "[project]\nname = \"calc\"\nversion = \"0.1.0\"\n");
    write(dir, "calc.py", "def add(a, b):\n    return a + b\n");
    let expected = if passing { 4 } else { 5 };
    write(
        dir,
        "test_calc.py",
        &format!(
            "import unittest\n\nimport calc\n\n\nclass CalcTest(unittest.TestCase):\n    def test_add(self):\n        self.assertEqual(calc.add(2, 2), {expected})\n\n\nif __name__ == \"__main__\":\n    unittest.main()\n"
        ),
    );
}

/// A Makefile project whose `test` target succeeds or fails; also has `build`, `lint`, a pattern rule, variables
/// and `.PHONY`, which discovery must tell apart from targets.
pub fn make_project(dir: &Path, passing: bool) {
    let test = if passing { "true" } else { "false" };
    write(
        dir,
        "Makefile",
        &format!(
            "CC ?= cc\nOUT := out\n.PHONY: build test lint\n\nbuild: $(OUT)/app\n\t@echo build\n\ntest:\n\t{test}\n\nlint fmt:\n\t@echo lint\n\n%.o: %.c\n\t$(CC) -c $<\n\ndefine HELP\nfake: target\nendef\n\n$(OUT)/app:\n\t@mkdir -p $(OUT)\n"
        ),
    );
}

/// A Go module.
pub fn go_project(dir: &Path) {
    write(dir, "go.mod", "module example.com/calc\n\ngo 1.22\n");
    write(dir, "calc.go", "package calc\n");
}

/// A Maven project.
pub fn maven_project(dir: &Path) {
    write(dir, "pom.xml", "<?xml version=\"1.0\"?>\n<project><modelVersion>4.0.0</modelVersion></project>\n");
}

/// A Gradle project with a wrapper script that records its arguments one per line in `args.txt`, so tests can see
/// exactly what reached the program.
pub fn gradle_project(dir: &Path) {
    write(dir, "settings.gradle", "rootProject.name = 'calc'\n");
    write(dir, "build.gradle", "plugins { id 'java' }\n");
    let wrapper = write(dir, "gradlew", "#!/bin/sh\nprintf '%s\\n' \"$@\" > args.txt\n");
    make_executable(&wrapper);
}

/// A Docker project with a Dockerfile and a compose file.
pub fn docker_project(dir: &Path) {
    write(dir, "Dockerfile", "FROM scratch\n");
    write(dir, "compose.yaml", "services: {}\n");
}

/// A justfile with public, private and parameterised recipes, settings, variables and aliases.
pub fn just_project(dir: &Path) {
    write(
        dir,
        "justfile",
        "set shell := [\"bash\", \"-c\"]\nversion := \"1\"\nalias t := test\n\n# Build it.\nbuild:\n    cargo build\n\n@test filter='':\n    cargo test {{filter}}\n\nserve port=\"8080\" *flags: build\n    ./serve {{port}}\n\n_helper:\n    echo private\n\n[private]\nhidden:\n    echo hidden\n\nlint:\n  echo lint\n",
    );
}

/// Marks a file executable.
pub fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

pub use crate::git::{git, git_env};

/// Makes `dir` a git repository on branch `main` with everything in it committed.
pub fn git_repo(dir: &Path) {
    std::fs::create_dir_all(dir).expect("create repo dir");
    git(dir, &["init", "-q", "-b", "main"]);
    commit_all(dir, "initial");
}

/// Commits everything in the work tree.
pub fn commit_all(dir: &Path, message: &str) {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "--allow-empty", "-m", message]);
}
