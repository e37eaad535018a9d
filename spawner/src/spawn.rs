//! The `spawn agent` pipeline: a validated request becomes a tested crate, a repository on the forge, a pull request
//! merged only when every check is green and a human approved it, and an agent in the hive's registry.
//!
//! Every step is recorded in the audit trail before the next begins. A step that fails leaves nothing half-made
//! here: the local files go, a repository this spawn created is deleted, and what cannot be undone remotely is named
//! in the error. The registry row is written once the agent exists somewhere; from then on [`Spawner::enforce`]
//! moves it on (a pull request merged when allowed) and [`Spawner::remove`] takes it away.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
};

use hive_cerebrum::{Redactor, ScribeHandle};
use hive_ecosystem::Git;
use hive_forge::{CreatedRepository, ForgeWriter, WriteError};

use crate::{AgentSpec, Archetype, Author, RenderedCrate, render, render_for, test_crate};

mod record;
mod registry;
mod review;

use self::registry::now_rfc3339;
pub use self::{
    record::{AgentRecord, AgentState, SpawnError, SpawnRequest, SpawnSettings},
    registry::agent_service,
    review::review_branch,
};

/// Makes agents and moves them on.
pub struct Spawner {
    scribe: ScribeHandle,
    /// `None` for a spawner that only reads and removes registry entries.
    forge: Option<Arc<dyn ForgeWriter>>,
    settings: SpawnSettings,
    redactor: Redactor,
    /// With a language model: who writes the agents' logic.
    author: Option<Author>,
    /// Brings the settings' policy up to date for a repository (the kill switch, the emergency, its level).
    live_policy: Option<LivePolicy>,
    /// How many spawns build at once; the others wait their turn (a build takes every core it can get).
    building: Arc<tokio::sync::Semaphore>,
    /// The names being made now: a second spawn of one is refused at once rather than after its build.
    making: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
}

/// Spawns that build and test at the same time; more wait.
const MAX_BUILDS: usize = 2;

pub use hive_cerebrum::governance::LivePolicy;

/// An agent's source moved into place and not registered yet: removed when dropped, unless kept.
struct Placed(Option<PathBuf>);

impl Placed {
    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for Placed {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_dir_all(path);
        }
    }
}

/// A name claimed for one spawn, released when the spawn ends however it ends.
struct Claim {
    name: String,
    making: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
}

impl Drop for Claim {
    fn drop(&mut self) {
        self.making.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(&self.name);
    }
}

impl std::fmt::Debug for Spawner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spawner")
            .field("forge", &self.forge.as_ref().map(|forge| forge.name().to_owned()))
            .field("agents_dir", &self.settings.agents_dir)
            .field("owner", &self.settings.owner)
            .finish_non_exhaustive()
    }
}

impl Spawner {
    /// A spawner that records through `scribe` and publishes through `forge`; `redactor` hides the secrets it
    /// knows from everything recorded.
    pub fn new(scribe: ScribeHandle, forge: Arc<dyn ForgeWriter>, settings: SpawnSettings, redactor: Redactor) -> Self {
        Spawner { forge: Some(forge), ..Spawner::registry(scribe, settings, redactor) }
    }

    /// A spawner for the registry alone (list, show, remove): spawning and enforcing say a forge is needed.
    pub fn registry(scribe: ScribeHandle, settings: SpawnSettings, redactor: Redactor) -> Self {
        Spawner {
            scribe,
            forge: None,
            settings,
            redactor,
            author: None,
            live_policy: None,
            building: Arc::new(tokio::sync::Semaphore::new(MAX_BUILDS)),
            making: Arc::default(),
        }
    }

    /// Merges decided under the policy as `live` brings it up to date for the agent's repository at that moment,
    /// rather than as the settings held it when the spawner was made.
    pub fn with_live_policy(mut self, live: LivePolicy) -> Self {
        self.live_policy = Some(live);
        self
    }

    /// Agents' logic written by `author`'s language model, tested, with the archetype's as the fallback.
    pub fn with_author(mut self, author: Author) -> Self {
        self.author = Some(author);
        self
    }

    fn forge(&self, name: &str) -> Result<&dyn ForgeWriter, SpawnError> {
        self.forge.as_deref().ok_or_else(|| SpawnError::Forge {
            name: name.to_owned(),
            reason: "no forge to publish to: name one (a workspace directory or a GitHub owner)".to_owned(),
        })
    }

    /// What a spawn of `request` would make, without making anything.
    pub fn plan(&self, request: &SpawnRequest) -> RenderedCrate {
        render(&request.spec, request.archetype())
    }

    /// Makes the agent `request` asks for: render, test, commit, create its repository, push, open its pull
    /// request (with `mandate_ci`) and register it; then tries to merge it at once ([`Spawner::enforce`]).
    pub async fn spawn(&self, request: &SpawnRequest) -> Result<AgentRecord, SpawnError> {
        let name = request.spec.name().to_owned();
        let forge = self.forge(&name)?;
        let step = |step: &'static str| {
            let name = name.clone();
            move |reason: String| SpawnError::Step { name, step, reason, remains: None }
        };
        hive_ecosystem::check_branch("BASE_BRANCH", &self.settings.base_branch)
            .map_err(|e| step("checking the settings")(e.to_string()))?;
        let review = self.settings.mandate_ci;
        if review && !forge.capabilities().pull_requests {
            return Err(step("checking the settings")(format!(
                "MANDATE_GITHUB_CI asks for a pull request, and the {} forge has none; publish to GitHub (--owner) \
                 or turn it off",
                forge.name()
            )));
        }
        let _claim = {
            let mut making = self.making.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if !making.insert(name.clone()) {
                return Err(SpawnError::Exists { name });
            }
            Claim { name: name.clone(), making: Arc::clone(&self.making) }
        };
        let registered = {
            let name = name.clone();
            self.scribe.call(move |m| m.agents().get(&name)).await??
        };
        if registered.is_some() {
            return Err(SpawnError::Exists { name });
        }
        let source = self.settings.agents_dir.join(&name);
        if source.exists() {
            return Err(SpawnError::InTheWay { path: source });
        }
        let archetype = request.archetype();
        self.audit(request, "agent_spawn_requested", &format!("{archetype}, {} tier", request.tier), "requested")
            .await?;
        // Held until the spawn ends; the semaphore is never closed.
        let _turn = self.building.acquire().await.map_err(|e| step("waiting for its turn")(e.to_string()))?;

        std::fs::create_dir_all(&self.settings.agents_dir)
            .map_err(|e| step("making the agents directory")(e.to_string()))?;
        let rendered = render_for(&request.spec, archetype, &self.settings.base_branch);
        // With a language model: its logic, tried in scratch crates of its own, replaces the archetype's only once
        // a crate with it passed its tests.
        let authored = match &self.author {
            Some(author) => Some(
                author
                    .write(&self.settings.agents_dir, &request.spec, &rendered, &self.settings.check)
                    .await
                    .map_err(|e| step("asking the language model")(e.to_string()))?,
            ),
            None => None,
        };
        if let Some(authored) = &authored {
            let by = if authored.lib_rs.is_some() { "model" } else { "archetype" };
            self.audit(request, "agent_authored", &authored.note, by).await?;
        }
        // Made beside its final place, so the move into it is a rename on one file system.
        let scratch = tempfile::Builder::new()
            .prefix(&format!(".{name}-"))
            .tempdir_in(&self.settings.agents_dir)
            .map_err(|e| step("making a scratch directory")(e.to_string()))?;
        rendered.write_to(scratch.path()).map_err(|e| step("rendering")(e.to_string()))?;
        let authored = authored.map(|authored| {
            if let Some(lib) = &authored.lib_rs {
                std::fs::write(scratch.path().join("src/lib.rs"), lib).map_err(|e| step("rendering")(e.to_string()))?;
            }
            Ok::<_, SpawnError>(authored.note)
        });
        let authored = authored.transpose()?;

        let report = test_crate(scratch.path(), &name, &self.settings.check)
            .await
            .map_err(|e| step("testing")(e.to_string()))?;
        let verdict = if report.passed { "passed" } else { "failed" };
        self.audit(request, "agent_tested", &format!("{verdict}: {}", report.results.join("; ")), verdict).await?;
        if !report.passed && self.settings.testing_mandatory {
            self.audit(request, "agent_spawn_failed", &report.summary(), "tests failed").await?;
            return Err(SpawnError::TestsFailed { name, summary: report.summary() });
        }
        // Only what was rendered, the lock file and the report are published: nothing a test left behind.
        let strays = strays(scratch.path(), &rendered).map_err(|e| step("checking the files")(e.to_string()))?;
        if !strays.is_empty() {
            let reason = format!("the tests left files that are not the agent's: {}", strays.join(", "));
            self.audit(request, "agent_spawn_failed", &reason, "failed").await?;
            return Err(step("checking the files")(reason));
        }

        self.commit(scratch.path(), &request.spec, archetype, review).await.map_err(step("committing"))?;
        let scratch = scratch.keep();
        std::fs::rename(&scratch, &source).map_err(|e| {
            let _ = std::fs::remove_dir_all(&scratch);
            step("moving the agent into place")(e.to_string())
        })?;
        // Until it is registered, the source goes with a spawn that fails or is dropped (a hive stopping mid-spawn).
        let placed = Placed(Some(source.clone()));

        let record = match self.publish(request, &source, review, &report, authored).await {
            Ok(record) => {
                placed.keep();
                record
            }
            Err(err) => {
                drop(placed);
                let reason = self.redactor.redact(&err.to_string()).into_owned();
                self.audit(request, "agent_spawn_failed", &reason, "failed").await?;
                return Err(err);
            }
        };
        if record.state == AgentState::Review {
            // The agent exists now: a look at its pull request that fails is a note, not a failed spawn.
            return match self.enforce(&name, &request.by).await {
                Ok(record) => Ok(record),
                Err(err) => {
                    let mut record = record;
                    record.note =
                        format!("{}; checking it failed: {}", record.note, self.redactor.redact(&err.to_string()));
                    Ok(record)
                }
            };
        }
        Ok(record)
    }

    /// Creates the repository, pushes, opens the pull request and registers the agent; undoes the repository when
    /// a later step fails.
    async fn publish(
        &self,
        request: &SpawnRequest,
        source: &Path,
        review: bool,
        report: &crate::TestReport,
        authored: Option<String>,
    ) -> Result<AgentRecord, SpawnError> {
        let forge = self.forge(request.spec.name())?;
        let (spec, archetype, private) = (&request.spec, request.archetype(), request.tier.private());
        let name = spec.name();
        let fail = |step: &'static str, err: WriteError, remains: Option<String>| SpawnError::Step {
            name: name.to_owned(),
            step,
            reason: self.redactor.redact(&err.to_string()).into_owned(),
            remains,
        };
        let created = forge
            .create_repository(&self.settings.owner, name, spec.description(), private)
            .await
            .map_err(|e| fail("creating the repository", e, None))?;
        let what = if created.created { "created" } else { "found, made earlier by hive" };
        // From here on, any failure undoes the repository: the record of its making is not worth leaving it for.
        let _ = self.audit(request, "agent_repository_created", &format!("{} {what}", created.repo), "requested").await;
        let published = self.push_and_open(forge, request, source, &created, review, report.passed).await;
        match published {
            Ok((pull, head)) => {
                let now = now_rfc3339();
                let state = if pull.is_some() { AgentState::Review } else { AgentState::Ready };
                let note = match pull {
                    Some(number) => format!("pull request #{number} opened; waiting for its checks and a review"),
                    None => format!("published on {}", self.settings.base_branch),
                };
                let record = AgentRecord {
                    name: name.to_owned(),
                    description: spec.description().to_owned(),
                    archetype,
                    tier: request.tier,
                    state,
                    source: source.to_path_buf(),
                    repo: created.repo.to_string(),
                    clone_url: self.redactor.redact(&created.clone_url).into_owned(),
                    pull,
                    head,
                    tests_passed: report.passed,
                    test_results: report.results.clone(),
                    authored,
                    note,
                    created_at: now.clone(),
                    updated_at: now,
                };
                if let Err(err) = self.put(&record, &request.by, "agent_registered", "registered").await {
                    let remains = self.undo(&created).await;
                    return Err(SpawnError::Step {
                        name: name.to_owned(),
                        step: "registering",
                        reason: self.redactor.redact(&err.to_string()).into_owned(),
                        remains,
                    });
                }
                Ok(record)
            }
            Err(err) => {
                let remains = self.undo(&created).await;
                Err(fail("publishing", err, remains))
            }
        }
    }

    /// Pushes the agent's branches and opens its pull request (when `review`); returns its number and head.
    async fn push_and_open(
        &self,
        forge: &dyn ForgeWriter,
        request: &SpawnRequest,
        source: &Path,
        created: &CreatedRepository,
        review: bool,
        tests_passed: bool,
    ) -> Result<(Option<u64>, Option<String>), WriteError> {
        let base = &self.settings.base_branch;
        let pushed = forge.push_branch(&created.repo, source, base).await?;
        self.audit(request, "agent_pushed", &format!("{base} at {pushed}"), "requested").await.ok();
        if !review {
            return Ok((None, None));
        }
        let name = request.spec.name();
        let branch = review_branch(name);
        let head = forge.push_branch(&created.repo, source, &branch).await?;
        let existing = forge.pulls_for_branch(&created.repo, &branch).await?;
        let pull = match existing.into_iter().find(|p| p.state == "open") {
            Some(pull) => pull,
            None => {
                let body = format!(
                    "{}\n\nMade by `hive spawn agent` from the {} archetype; its tests {} before it was published \
                     (see TEST_REPORT.md). hive merges this pull request once every check is green{}.",
                    crate::render::escape_markdown(request.spec.description()),
                    request.archetype(),
                    if tests_passed { "passed" } else { "failed" },
                    if self.settings.require_approval { " and a maintainer approved it" } else { "" },
                );
                let title = format!("Add the {name} agent");
                forge.create_pull(&created.repo, &branch, base, &title, &body, false).await?
            }
        };
        self.audit(request, "agent_pull_opened", &format!("#{} {}", pull.number, pull.html_url), "requested")
            .await
            .ok();
        Ok((Some(pull.number), Some(head)))
    }

    /// Deletes a repository this spawn created; says what remains when it cannot.
    async fn undo(&self, created: &CreatedRepository) -> Option<String> {
        let Ok(forge) = self.forge(created.repo.name()) else {
            return Some(format!("the repository {} is still there", created.repo));
        };
        if !created.created {
            return Some(format!("the repository {} made by an earlier attempt is still there", created.repo));
        }
        match forge.delete_repository(&created.repo).await {
            Ok(()) => None,
            Err(err) => Some(format!(
                "the repository {} is still there ({}); delete it by hand",
                created.repo,
                self.redactor.redact(&err.to_string())
            )),
        }
    }

    /// Commits the rendered, tested crate: with `review`, a first commit with the README on the base branch and the
    /// code on the review branch above it; else everything on the base branch.
    async fn commit(&self, dir: &Path, spec: &AgentSpec, archetype: Archetype, review: bool) -> Result<(), String> {
        let git = Git::new(dir).timeout(self.settings.git_timeout);
        let run = |args: Vec<String>| {
            let git = git.clone();
            async move {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                git.run(&args).await.map(|_| ()).map_err(|e| e.to_string())
            }
        };
        let commit = |message: String| {
            ["-c", "user.name=hive", "-c", "user.email=hive@localhost", "commit", "-q", "--no-verify", "-m"]
                .into_iter()
                .map(str::to_owned)
                .chain([message])
                .collect::<Vec<String>>()
        };
        let words = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<String>>();
        let base = self.settings.base_branch.clone();
        run(words(&["init", "-q", "-b", &base])).await?;
        let message = format!("Add the {} agent ({archetype})\n\n{}", spec.name(), spec.description());
        if review {
            run(words(&["add", "--", "README.md", ".gitignore"])).await?;
            run(commit(format!("Start the {} agent", spec.name()))).await?;
            run(words(&["checkout", "-q", "-b", &review_branch(spec.name())])).await?;
        }
        run(words(&["add", "-A"])).await?;
        run(commit(message)).await?;
        if review {
            run(words(&["checkout", "-q", &base])).await?;
        }
        Ok(())
    }
}

/// The files under `dir` (but `.git`) that are neither rendered nor the lock file or the test report.
fn strays(dir: &Path, rendered: &RenderedCrate) -> std::io::Result<Vec<String>> {
    let mut strays = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in std::fs::read_dir(&current)? {
            let entry = entry?;
            let path = entry.path();
            let relative = path.strip_prefix(dir).unwrap_or(&path).to_path_buf();
            if relative == Path::new(".git") {
                continue;
            }
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(path);
            } else if !(rendered.file(&relative).is_some()
                || relative == Path::new("Cargo.lock")
                || relative == Path::new("TEST_REPORT.md"))
                || kind.is_symlink()
            {
                strays.push(relative.display().to_string());
            }
        }
    }
    strays.sort();
    Ok(strays)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_a_test_left_behind_are_strays() {
        let spec = AgentSpec::parse("probe: answers webhooks").expect("valid");
        let rendered = render(&spec, Archetype::WebhookResponder);
        let dir = tempfile::tempdir().expect("tempdir");
        rendered.write_to(dir.path()).expect("written");
        std::fs::write(dir.path().join("Cargo.lock"), "").expect("written");
        std::fs::create_dir_all(dir.path().join(".git")).expect("made");
        std::fs::write(dir.path().join(".git/config"), "").expect("written");
        assert!(strays(dir.path(), &rendered).expect("read").is_empty());
        std::fs::write(dir.path().join("build.rs"), "fn main() {}").expect("written");
        std::fs::create_dir_all(dir.path().join(".cargo")).expect("made");
        std::fs::write(dir.path().join(".cargo/config.toml"), "").expect("written");
        assert_eq!(strays(dir.path(), &rendered).expect("read"), [".cargo/config.toml", "build.rs"]);
    }
}
