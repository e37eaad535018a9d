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
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use hive_cerebrum::{
    AgentRow, AuditEntry, MemoryError, Redactor, ScribeError, ScribeHandle,
    governance::{ActionKind, ChecksState, Policy, Verdict, WriteProposal, govern},
};
use hive_ecosystem::Git;
use hive_forge::{CreatedRepository, ForgeWriter, RepoId, ReviewState, WriteError};
use serde::{Deserialize, Serialize};

use crate::{
    AgentSpec, Archetype, Author, CheckOptions, RenderedCrate, SpawnerError, Tier, render, render_for, test_crate,
};

/// How agents are made, from the configuration.
#[derive(Debug, Clone)]
pub struct SpawnSettings {
    /// Where each agent's source lives, `<agents_dir>/<name>` (the state directory's `agents/`).
    pub agents_dir: PathBuf,
    /// How its tests run (the target directory every agent shares).
    pub check: CheckOptions,
    /// Whether failing tests stop the spawn (`TESTING_MANDATORY`, on by default).
    pub testing_mandatory: bool,
    /// Who owns the agents' repositories: an organisation or the token's user (a local workspace: any).
    pub owner: String,
    /// Whether the code goes through a pull request (`MANDATE_GITHUB_CI`), where the forge has them.
    pub mandate_ci: bool,
    /// The branch the code lands on (`BASE_BRANCH`, `main` by default).
    pub base_branch: String,
    /// Whether a merge needs an approving review (`REQUIRE_HUMAN_PR_APPROVAL`, on by default).
    pub require_approval: bool,
    /// What governs the merge, as every write of the hive.
    pub policy: Policy,
    /// Each git command is killed after this long.
    pub git_timeout: Duration,
    /// What a running agent's environment holds besides its own `AGENT_*` settings (it inherits nothing of
    /// hive's): the search path and locale, a GitHub address, and a token of its own when one is configured.
    pub agent_env: Vec<(String, String)>,
}

impl SpawnSettings {
    /// Settings for agents under `agents_dir`, owned by `owner`, with the defaults the configuration documents.
    pub fn new(agents_dir: impl Into<PathBuf>, owner: impl Into<String>) -> SpawnSettings {
        let agents_dir = agents_dir.into();
        // Absolute: git and cargo run in other directories and must find it from there.
        let agents_dir = std::path::absolute(&agents_dir).unwrap_or(agents_dir);
        SpawnSettings {
            check: CheckOptions::new(agents_dir.join(".target")),
            agents_dir,
            testing_mandatory: true,
            owner: owner.into(),
            mandate_ci: false,
            base_branch: "main".to_owned(),
            require_approval: true,
            policy: Policy::default(),
            git_timeout: Duration::from_secs(120),
            agent_env: Vec::new(),
        }
    }
}

/// One `spawn agent` request.
#[derive(Debug, Clone)]
pub struct SpawnRequest {
    /// The agent's name and what it should do.
    pub spec: AgentSpec,
    /// The archetype asked for; the closest to the description when `None`.
    pub archetype: Option<Archetype>,
    /// Who it is for: whether its repository is private.
    pub tier: Tier,
    /// Who asked, for the audit trail (`cli:<user>`, `api:<name>`).
    pub by: String,
}

impl SpawnRequest {
    /// The archetype the agent is made from.
    pub fn archetype(&self) -> Archetype {
        self.archetype.unwrap_or_else(|| Archetype::closest(self.spec.description()))
    }
}

/// Where an agent is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentState {
    /// Its pull request waits for green checks, an approving review or governance.
    Review,
    /// Its code is on the base branch: it can run.
    Ready,
}

impl AgentState {
    /// The recorded name.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentState::Review => "review",
            AgentState::Ready => "ready",
        }
    }
}

/// The registry's record of an agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentRecord {
    /// Its name.
    pub name: String,
    /// What it does.
    pub description: String,
    /// What it was made from.
    pub archetype: Archetype,
    /// Who it is for.
    pub tier: Tier,
    /// Where it is in its life.
    pub state: AgentState,
    /// Its source, a git repository on this machine.
    pub source: PathBuf,
    /// Its repository on the forge.
    pub repo: String,
    /// Where git reaches that repository.
    pub clone_url: String,
    /// The pull request its code waits in, while it is in review.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull: Option<u64>,
    /// The commit the pull request must still have to be merged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<String>,
    /// The test run before it was published: passed, and the result lines.
    pub tests_passed: bool,
    /// `cargo test`'s result lines.
    pub test_results: Vec<String>,
    /// Who wrote its logic, when a language model was asked: the model, or why the archetype's stayed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authored: Option<String>,
    /// The last thing that happened to it, or what it waits for.
    pub note: String,
    /// When it was made, RFC 3339.
    pub created_at: String,
    /// When it last changed, RFC 3339.
    pub updated_at: String,
}

/// Why a spawn or an agent command failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpawnError {
    /// The request itself.
    #[error(transparent)]
    Request(#[from] SpawnerError),
    /// An agent of that name exists.
    #[error(
        "agent '{name}' exists already; see it with 'hive agents show {name}' or remove it with 'hive agents remove {name}'"
    )]
    Exists {
        /// Its name.
        name: String,
    },
    /// Files of that name are in the way.
    #[error("'{}' exists but no agent is registered under that name; move it away and spawn again", path.display())]
    InTheWay {
        /// The path.
        path: PathBuf,
    },
    /// No agent of that name.
    #[error("no agent named '{name}'; 'hive agents list' shows them")]
    NotFound {
        /// The name asked for.
        name: String,
    },
    /// The agent's tests failed and testing is mandatory.
    #[error("agent '{name}' was not published: its tests failed: {summary}")]
    TestsFailed {
        /// Its name.
        name: String,
        /// What failed.
        summary: String,
    },
    /// A step failed; `remains` says what is left on the forge, if anything.
    #[error("agent '{name}' was not made: {step} failed: {reason}{}", remains.as_deref().map(|r| format!("; {r}")).unwrap_or_default())]
    Step {
        /// The agent's name.
        name: String,
        /// The step.
        step: &'static str,
        /// Why.
        reason: String,
        /// What is left on the forge and how to remove it.
        remains: Option<String>,
    },
    /// The agent cannot run yet.
    #[error("agent '{name}' is not ready to run: {why}; see 'agents check {name}'")]
    NotReady {
        /// Its name.
        name: String,
        /// What it waits for.
        why: String,
    },
    /// A forge call after the agent was made (enforcing its pull request).
    #[error("agent '{name}': {reason}")]
    Forge {
        /// The agent's name.
        name: String,
        /// What failed.
        reason: String,
    },
    /// The database.
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// The database writer.
    #[error(transparent)]
    Scribe(#[from] ScribeError),
    /// A stored record could not be read.
    #[error("agent '{name}': its stored record is unreadable: {reason}")]
    BadRecord {
        /// The agent's name.
        name: String,
        /// Why.
        reason: String,
    },
}

/// The branch an agent's code waits on for review.
pub fn review_branch(name: &str) -> String {
    format!("hive/agent/{name}")
}

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

/// Brings a policy up to date for a repository, as the hive's steward sees it now.
pub type LivePolicy = Arc<dyn Fn(&str, &mut Policy) + Send + Sync>;

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
        Spawner {
            scribe,
            forge: Some(forge),
            settings,
            redactor,
            author: None,
            live_policy: None,
            building: Arc::new(tokio::sync::Semaphore::new(MAX_BUILDS)),
            making: Arc::default(),
        }
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

    /// Moves an agent in review on: merges its pull request when its checks are green, a human approved it (when
    /// required) and governance allows the merge; otherwise records what it waits for.
    pub async fn enforce(&self, name: &str, by: &str) -> Result<AgentRecord, SpawnError> {
        let forge = self.forge(name)?;
        let mut record = self.show(name).await?;
        let (Some(number), Some(head)) = (record.pull, record.head.clone()) else {
            return Ok(record);
        };
        if record.state == AgentState::Ready {
            return Ok(record);
        }
        let repo = RepoId::new(record.repo.clone())
            .map_err(|e| SpawnError::BadRecord { name: name.to_owned(), reason: e.to_string() })?;
        let forge_err = |e: WriteError| SpawnError::Forge {
            name: name.to_owned(),
            reason: self.redactor.redact(&e.to_string()).into_owned(),
        };
        let pulls = forge.pulls_for_branch(&repo, &review_branch(name)).await.map_err(forge_err)?;
        if let Some(pull) = pulls.iter().find(|p| p.number == number) {
            if pull.merged {
                return self.mark_ready(record, by, format!("pull request #{number} was merged")).await;
            }
            if pull.state != "open" {
                record.note =
                    format!("pull request #{number} was closed without merging; reopen it or remove the agent");
                return self.update(record, by, "agent_merge_waiting", "closed").await;
            }
        }
        let runs = forge.check_runs(&repo, &head).await.map_err(forge_err)?;
        let status = forge.combined_status(&repo, &head).await.map_err(forge_err)?;
        let checks = ChecksState::of(
            runs.iter().map(|r| (r.status.as_str(), r.conclusion.as_deref())),
            &status.state,
            status.total_count,
        );
        let reviewed = if self.settings.require_approval {
            let reviews = forge.pull_reviews(&repo, number).await.map_err(forge_err)?;
            approved(&reviews, &head)
        } else {
            true
        };
        if !reviewed {
            record.note = format!("pull request #{number} waits for an approving review (checks {checks})");
            return self.update(record, by, "agent_merge_waiting", "no approving review").await;
        }
        let proposal = WriteProposal {
            kind: ActionKind::Merge,
            repo: record.repo.clone(),
            key: format!("agent-merge:{}#{number}@{head}", record.repo),
            target: Some(format!("#{number}")),
            risk: ActionKind::Merge.base_risk(),
            checks: Some(checks),
            approval_id: format!("agent:{name}"),
            remedy: None,
        };
        let now = unix_now();
        let counted = proposal.clone();
        let (counters, approval) = self.scribe.call(move |m| m.spent(&counted, now)).await??;
        let mut policy = self.settings.policy.clone();
        if let Some(live) = &self.live_policy {
            live(&record.repo, &mut policy);
        }
        let decision = govern(&proposal, &policy, &counters, approval);
        if decision.verdict != Verdict::Allow {
            record.note = format!("pull request #{number} not merged: {}", decision.summary());
            return self.update(record, by, "agent_merge_waiting", decision.verdict.as_str()).await;
        }
        let merged = forge.merge_head(&repo, number, "merge", Some(&head)).await.map_err(forge_err)?;
        if !merged.merged {
            record.note = format!("pull request #{number} not merged: {}", merged.message);
            return self.update(record, by, "agent_merge_waiting", "refused by the forge").await;
        }
        self.mark_ready(record, by, format!("pull request #{number} merged (checks {checks}, approved)")).await
    }

    async fn mark_ready(&self, mut record: AgentRecord, by: &str, note: String) -> Result<AgentRecord, SpawnError> {
        record.state = AgentState::Ready;
        record.note = note;
        self.update(record, by, "agent_merged", "allow").await
    }

    async fn update(
        &self,
        mut record: AgentRecord,
        by: &str,
        action: &str,
        decision: &str,
    ) -> Result<AgentRecord, SpawnError> {
        record.updated_at = now_rfc3339();
        self.put(&record, by, action, decision).await?;
        Ok(record)
    }

    /// Builds a ready agent's binary (`cargo build` in its source, into the shared target directory) and records
    /// it; returns the binary, which [`agent_service`] runs.
    pub async fn build(&self, name: &str, by: &str) -> Result<PathBuf, SpawnError> {
        let record = self.show(name).await?;
        if record.state != AgentState::Ready {
            return Err(SpawnError::NotReady { name: name.to_owned(), why: record.note });
        }
        let fail = |reason: String| SpawnError::Step { name: name.to_owned(), step: "building", reason, remains: None };
        // The merged code: the review branch when it went through a pull request, else the base branch.
        let branch = if record.pull.is_some() { review_branch(name) } else { self.settings.base_branch.clone() };
        let git = Git::new(&record.source).timeout(self.settings.git_timeout);
        git.run(&["checkout", "-q", &branch]).await.map_err(|e| fail(e.to_string()))?;
        let spec = crate::check::cargo(&record.source, "build", &["--bin", name], &self.settings.check);
        let output = hive_ecosystem::process::run(&spec).await.map_err(|e| fail(e.to_string()))?;
        if !output.success() {
            let text = output.stderr_text();
            return Err(fail(format!("'{}' failed: {}", spec.display(), crate::check::first_error(&text))));
        }
        let binary = self.settings.check.target_dir.join("debug").join(name);
        let entry = self.entry(by, &record.repo, "agent_built", &binary.display().to_string(), "requested");
        self.scribe.call(move |m| m.audit().append(&entry)).await??;
        Ok(binary)
    }

    /// Records that the agent was started or stopped as a service (`action`: `agent_run`, `agent_stopped`).
    pub async fn record_service(&self, name: &str, by: &str, action: &str, result: &str) -> Result<(), SpawnError> {
        let record = self.show(name).await?;
        let entry = self.entry(by, &record.repo, action, result, "requested");
        self.scribe.call(move |m| m.audit().append(&entry)).await??;
        Ok(())
    }

    /// What a running agent's environment holds besides its own settings ([`SpawnSettings::agent_env`]).
    pub fn agent_env(&self) -> &[(String, String)] {
        &self.settings.agent_env
    }

    /// Every registered agent, by name.
    pub async fn list(&self) -> Result<Vec<AgentRecord>, SpawnError> {
        let rows = self.scribe.call(|m| m.agents().list()).await??;
        rows.iter().map(decode).collect()
    }

    /// The agent `name`.
    pub async fn show(&self, name: &str) -> Result<AgentRecord, SpawnError> {
        let owned = name.to_owned();
        let row = self.scribe.call(move |m| m.agents().get(&owned)).await??;
        row.as_ref().map(decode).transpose()?.ok_or_else(|| SpawnError::NotFound { name: name.to_owned() })
    }

    /// Unregisters the agent `name` and removes its local source; its repository stays on the forge (it is a
    /// maintainer's to delete), which the record returned names.
    pub async fn remove(&self, name: &str, by: &str) -> Result<AgentRecord, SpawnError> {
        let record = self.show(name).await?;
        let entry =
            self.entry(by, &record.repo, "agent_removed", &format!("{} stays on the forge", record.repo), "removed");
        let owned = name.to_owned();
        self.scribe.call(move |m| m.agents().remove(&owned, &entry)).await??;
        // Only the agent's own directory, wherever its record points.
        let own = self.settings.agents_dir.join(name);
        if record.source == own && own.exists() {
            std::fs::remove_dir_all(&own).map_err(|e| SpawnError::Step {
                name: name.to_owned(),
                step: "removing its source",
                reason: format!("'{}': {e}", own.display()),
                remains: None,
            })?;
        }
        Ok(record)
    }

    async fn put(&self, record: &AgentRecord, by: &str, action: &str, decision: &str) -> Result<(), SpawnError> {
        let row = AgentRow {
            name: record.name.clone(),
            state: record.state.as_str().to_owned(),
            record: serde_json::to_string(record)
                .map_err(|e| SpawnError::BadRecord { name: record.name.clone(), reason: e.to_string() })?,
            updated_at: unix_now(),
        };
        let entry = self.entry(by, &record.repo, action, &record.note, decision);
        self.scribe.call(move |m| m.agents().put(&row, &entry)).await??;
        Ok(())
    }

    async fn audit(
        &self,
        request: &SpawnRequest,
        action: &str,
        result: &str,
        decision: &str,
    ) -> Result<(), SpawnError> {
        let repo = format!("{}/{}", self.settings.owner, request.spec.name());
        let entry = self.entry(&request.by, &repo, action, result, decision);
        self.scribe.call(move |m| m.audit().append(&entry)).await??;
        Ok(())
    }

    fn entry(&self, by: &str, repo: &str, action: &str, result: &str, decision: &str) -> AuditEntry {
        AuditEntry {
            actor: self.redactor.redact(&format!("spawner:{by}")).into_owned(),
            repositories: vec![repo.to_owned()],
            action: action.to_owned(),
            result: self.redactor.redact(result).into_owned(),
            decision: decision.to_owned(),
        }
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

/// The service name an agent runs under (its member id under the queen).
pub fn agent_service(name: &str) -> String {
    format!("agent-{name}")
}

/// Whether the reviews of the commit `head` approve it: someone's latest review of it approves, and nobody's latest
/// asks for changes. A review of an older commit says nothing about this one.
fn approved(reviews: &[hive_forge::Review], head: &str) -> bool {
    let mut latest: Vec<(&str, &ReviewState)> = Vec::new();
    for review in reviews {
        if matches!(review.state, ReviewState::Commented | ReviewState::Pending)
            || review.commit_id.as_deref().is_some_and(|commit| commit != head)
        {
            continue;
        }
        match latest.iter_mut().find(|(user, _)| *user == review.user) {
            Some(slot) => slot.1 = &review.state,
            None => latest.push((&review.user, &review.state)),
        }
    }
    latest.iter().any(|(_, s)| **s == ReviewState::Approved)
        && !latest.iter().any(|(_, s)| **s == ReviewState::ChangesRequested)
}

fn decode(row: &AgentRow) -> Result<AgentRecord, SpawnError> {
    serde_json::from_str(&row.record)
        .map_err(|e| SpawnError::BadRecord { name: row.name.clone(), reason: e.to_string() })
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

fn now_rfc3339() -> String {
    hive_support::rfc3339(SystemTime::now())
}

#[cfg(test)]
mod tests {
    use hive_forge::{Review, ReviewState};

    use super::*;

    fn review(user: &str, state: ReviewState, commit: Option<&str>) -> Review {
        Review { id: 1, user: user.to_owned(), state, commit_id: commit.map(str::to_owned) }
    }

    #[test]
    fn only_a_current_approval_of_the_head_approves() {
        use ReviewState::{Approved, ChangesRequested, Commented, Dismissed};
        let table: [(&str, Vec<Review>, bool); 7] = [
            ("nothing", vec![], false),
            ("approved", vec![review("ann", Approved, Some("h1"))], true),
            ("a comment is not an approval", vec![review("ann", Commented, Some("h1"))], false),
            ("an older commit's approval", vec![review("ann", Approved, Some("h0"))], false),
            (
                "changes asked for by another",
                vec![review("ann", Approved, Some("h1")), review("bob", ChangesRequested, Some("h1"))],
                false,
            ),
            (
                "changes asked for, then approved by the same",
                vec![review("bob", ChangesRequested, Some("h1")), review("bob", Approved, Some("h1"))],
                true,
            ),
            (
                "approved, then dismissed",
                vec![review("ann", Approved, Some("h1")), review("ann", Dismissed, None)],
                false,
            ),
        ];
        for (case, reviews, expected) in table {
            assert_eq!(approved(&reviews, "h1"), expected, "{case}");
        }
    }

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
