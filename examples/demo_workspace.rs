//! Creates a demo workspace for `hive run --workspace`: four small git repositories whose tests run with tools a
//! bare machine has (make, python3), one with a failing test, one with uncommitted changes, one behind its
//! upstream.
//!
//! ```sh
//! cargo run --release --example demo_workspace -- /tmp/ws
//! cargo run --release -- run --once --workspace /tmp/ws
//! ```

use std::{
    io,
    path::{Path, PathBuf},
    process::{Command, ExitCode},
};

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: demo_workspace DIR   (DIR must be new or empty)");
        return ExitCode::from(2);
    };
    if std::fs::read_dir(&dir).is_ok_and(|mut entries| entries.next().is_some()) {
        eprintln!("demo_workspace: '{}' is not empty; give a new or empty directory", dir.display());
        return ExitCode::FAILURE;
    }
    match build_demo_workspace(&dir) {
        Ok(repos) => {
            println!("demo workspace in '{}':", dir.display());
            for (name, what) in repos {
                println!("  {name:<12} {what}");
            }
            println!("now run: cargo run --release -- run --once --workspace {}", dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("demo_workspace: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Builds the workspace in `dir` and returns each repository's name with what it shows.
pub fn build_demo_workspace(dir: &Path) -> io::Result<Vec<(&'static str, &'static str)>> {
    std::fs::create_dir_all(dir)?;

    // A Python library whose mean() uses integer division: one of its two unittest tests fails.
    let calc = repo(dir, "calc-py")?;
    write(&calc, "pyproject.toml", "[project]\nname = \"calc\"\nversion = \"0.1.0\"\n")?;
    write(&calc, "calc.py", "def add(a, b):\n    return a + b\n\n\ndef mean(xs):\n    return sum(xs) // len(xs)\n")?;
    write(
        &calc,
        "test_calc.py",
        "import unittest\n\nimport calc\n\n\nclass CalcTest(unittest.TestCase):\n    def test_add(self):\n        self.assertEqual(calc.add(2, 3), 5)\n\n    def test_mean(self):\n        self.assertEqual(calc.mean([1, 2, 3, 4]), 2.5)\n",
    )?;
    write(&calc, "SECURITY.md", "Report vulnerabilities to security@example.invalid.\n")?;
    commit(&calc, "calc: add and mean")?;

    // A Make project whose checks pass.
    let tools = repo(dir, "tools-make")?;
    write(
        &tools,
        "Makefile",
        "VERSION := 1.0\n\n.PHONY: build test\n\nbuild:\n\t@echo building $(VERSION)\n\ntest:\n\t@test -f README.md\n\t@echo \"3 passed, 0 failed\"\n",
    )?;
    write(&tools, "README.md", "# tools\n")?;
    write(&tools, "SECURITY.md", "Report vulnerabilities to security@example.invalid.\n")?;
    commit(&tools, "tools: build and test targets")?;

    // Passing tests, but someone left work uncommitted (and there is no security policy).
    let notes = repo(dir, "notes-dirty")?;
    write(&notes, "Makefile", "test:\n\t@grep -q notes README.md\n")?;
    write(&notes, "README.md", "# notes\n")?;
    commit(&notes, "notes: first draft")?;
    write(&notes, "README.md", "# notes\n\nwork in progress\n")?;
    write(&notes, "todo.txt", "finish the draft\n")?;

    // A clone whose upstream (a bare repository next to the workspace's repositories) moved on by two commits.
    let upstream = dir.join(".upstream");
    std::fs::create_dir_all(&upstream)?;
    git(&upstream, &["init", "-q", "--bare", "-b", "main", "lib-behind.git"])?;
    let origin = upstream.join("lib-behind.git");
    let origin = origin.to_str().ok_or_else(|| io::Error::other("the workspace path must be UTF-8"))?;
    let seed = upstream.join("seed");
    git(&upstream, &["clone", "-q", origin, "seed"])?;
    write(&seed, "Makefile", "test:\n\t@python3 -c 'import sys; sys.exit(0)'\n")?;
    write(&seed, "SECURITY.md", "Report vulnerabilities to security@example.invalid.\n")?;
    commit(&seed, "lib: first release")?;
    git(&seed, &["push", "-q", "origin", "main"])?;
    git(dir, &["clone", "-q", origin, "lib-behind"])?;
    for n in 2..=3 {
        write(&seed, "CHANGELOG.md", &format!("release {n}\n"))?;
        commit(&seed, &format!("lib: release {n}"))?;
    }
    git(&seed, &["push", "-q", "origin", "main"])?;
    git(&dir.join("lib-behind"), &["fetch", "-q"])?;

    Ok(vec![
        ("calc-py", "python3 -m unittest: one test fails"),
        ("tools-make", "make test: passes"),
        ("notes-dirty", "make test passes; uncommitted changes"),
        ("lib-behind", "make test passes; 2 commits behind origin/main"),
    ])
}

fn repo(dir: &Path, name: &str) -> io::Result<PathBuf> {
    let path = dir.join(name);
    std::fs::create_dir_all(&path)?;
    git(&path, &["init", "-q", "-b", "main"])?;
    Ok(path)
}

fn write(dir: &Path, name: &str, contents: &str) -> io::Result<()> {
    std::fs::write(dir.join(name), contents)
}

fn commit(dir: &Path, message: &str) -> io::Result<()> {
    git(dir, &["add", "-A"])?;
    git(dir, &["commit", "-q", "-m", message])
}

/// Runs git with a fixed identity and without the user's or the system's configuration, so the demo looks the same
/// everywhere and never prompts (for a signing key, say).
fn git(dir: &Path, args: &[&str]) -> io::Result<()> {
    let out = Command::new("git")
        .args(["-c", "user.name=hive demo", "-c", "user.email=demo@example.invalid", "-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "git {} failed in '{}': {}",
            args.join(" "),
            dir.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}
