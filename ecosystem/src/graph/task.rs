//! What "build" and "test" mean for one repository in a wave: the command discovery picks (a task runner's
//! `build` / `test` first, then the build tool's own), or, when discovery offers none, the conventional command for
//! the manifest that is there.

use std::{path::Path, time::Duration};

use serde::Serialize;

use super::StepOutput;
use crate::{
    CommandKind, DiscoveredCommand, detect, discover_commands, execute_command,
    process::{CommandSpec, run},
    test_command,
};

/// Output kept per command run in a wave; the report only shows the tail anyway.
const OUTPUT_CAP: usize = 256 * 1024;

/// What to run in each repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WaveTask {
    /// Build.
    Build,
    /// Run the tests.
    Test,
}

/// The conventional command for `task` in the repository at `dir`, judged from its files only: a Makefile or
/// justfile first (a project that has one wraps its build in it), then Cargo, Go, npm, Python, Maven, Gradle.
pub fn conventional_command(dir: &Path, task: WaveTask) -> Option<Vec<String>> {
    let has = |file: &str| dir.join(file).is_file();
    let read = |file: &str| crate::detect::read_manifest(&dir.join(file)).unwrap_or_default();
    let argv = |words: &[&str]| Some(words.iter().map(|w| (*w).to_owned()).collect());
    let make_target =
        |text: &str, target: &str| text.lines().any(|l| l.split(':').next() == Some(target) && l.contains(':'));
    if let Some(makefile) = ["GNUmakefile", "makefile", "Makefile"].into_iter().find(|f| has(f)) {
        let text = read(makefile);
        match task {
            WaveTask::Build if make_target(&text, "build") => return argv(&["make", "build"]),
            WaveTask::Build => return argv(&["make"]),
            WaveTask::Test if make_target(&text, "test") => return argv(&["make", "test"]),
            WaveTask::Test if make_target(&text, "check") => return argv(&["make", "check"]),
            WaveTask::Test => {}
        }
    }
    if has("justfile") || has("Justfile") {
        let text = read(if has("justfile") { "justfile" } else { "Justfile" });
        let word = if task == WaveTask::Build { "build" } else { "test" };
        if make_target(&text, word) {
            return argv(&["just", word]);
        }
    }
    let (build, test): (&[&str], &[&str]) = if has("Cargo.toml") {
        (&["cargo", "build"], &["cargo", "test"])
    } else if has("go.mod") {
        (&["go", "build", "./..."], &["go", "test", "./..."])
    } else if has("package.json") {
        let scripts = serde_json::from_str::<serde_json::Value>(&read("package.json")).ok();
        let script = |name: &str| scripts.as_ref().and_then(|s| s.get("scripts")?.get(name)).is_some();
        match task {
            WaveTask::Build if script("build") => return argv(&["npm", "run", "build"]),
            WaveTask::Test if script("test") => return argv(&["npm", "test"]),
            _ => return None,
        }
    } else if has("pyproject.toml") || has("setup.py") || has("requirements.txt") {
        (&["python3", "-m", "compileall", "-q", "."], &["python3", "-m", "pytest", "-q"])
    } else if has("pom.xml") {
        (&["mvn", "-B", "-q", "package", "-DskipTests"], &["mvn", "-B", "-q", "test"])
    } else if has("gradlew") {
        (&["./gradlew", "assemble"], &["./gradlew", "test"])
    } else if has("build.gradle") || has("build.gradle.kts") {
        (&["gradle", "assemble"], &["gradle", "test"])
    } else {
        return None;
    };
    argv(if task == WaveTask::Build { build } else { test })
}

/// Build commands in order of preference, as [`discover_commands`] names them. A task runner's target wins for the
/// same reason as for tests: a project that has one wraps its real build in it. Docker is left out: an image build
/// is not what a dependent repository needs first.
const BUILD_PREFERENCE: [&str; 11] = [
    "just:build",
    "make:build",
    "make:all",
    "cargo:build",
    "npm:build",
    "pnpm:build",
    "yarn:build",
    "go:build",
    "maven:build",
    "gradle:build",
    "python:build",
];

/// The discovered command for `task` in `dir`, if discovery offers one.
pub async fn discovered_command(dir: &Path, task: WaveTask) -> Option<DiscoveredCommand> {
    match task {
        WaveTask::Test => test_command(dir).await,
        WaveTask::Build => {
            let owned = dir.to_path_buf();
            let detection = tokio::task::spawn_blocking(move || detect(&owned)).await.ok()?.ok()?;
            let commands = discover_commands(dir, &detection).await;
            BUILD_PREFERENCE
                .iter()
                .find_map(|name| commands.iter().find(|c| c.name == *name))
                .or_else(|| commands.iter().find(|c| c.kind == CommandKind::Build && !c.name.starts_with("docker:")))
                .cloned()
        }
    }
}

/// Runs `task` in the repository at `dir`: the discovered command through [`execute_command`], else the
/// [`conventional_command`], else a pass noting there was nothing to run. Each command is killed after `timeout`.
pub async fn run_task(dir: &Path, task: WaveTask, timeout: Duration) -> StepOutput {
    if let Some(command) = discovered_command(dir, task).await {
        return match execute_command(dir, &command.name, &[], timeout, OUTPUT_CAP).await {
            Ok(out) => StepOutput { note: Some(command.name), ..StepOutput::from(&out) },
            Err(e) => StepOutput::failed(format!("could not run '{}': {e}", command.name)),
        };
    }
    let conventional = conventional_command(dir, task);
    if let Some((program, args)) = conventional.as_deref().and_then(<[String]>::split_first) {
        let spec = CommandSpec::new(program, args, dir).timeout(timeout).output_cap(OUTPUT_CAP);
        return match run(&spec).await {
            Ok(out) => StepOutput {
                note: Some(conventional.as_deref().unwrap_or_default().join(" ")),
                ..StepOutput::from(&out)
            },
            Err(e) => StepOutput::failed(e.to_string()),
        };
    }
    let what = match task {
        WaveTask::Build => "build",
        WaveTask::Test => "test",
    };
    StepOutput { note: Some(format!("no {what} command found; nothing to run")), ..StepOutput::passed() }
}
