//! What a test puts into the emulator (`*Spec`, built with `new` + builder methods) and what it reads back
//! (`*Record`), kept apart from the server so fixtures read like data.

use std::time::{Instant, SystemTime};

use axum::http::Method;

/// A repository to create with [`crate::EmulatorState::add_repo`].
#[derive(Debug, Clone, PartialEq)]
pub struct RepoSpec {
    /// Owner login (an org or user; created as a user if unknown).
    pub owner: String,
    /// Repository name.
    pub name: String,
    /// Private repositories are invisible (404) to unauthenticated requests, as on GitHub.
    pub private: bool,
    /// Archived repositories are read-only.
    pub archived: bool,
    /// Whether the repository is a fork.
    pub fork: bool,
    /// Whether the repository is a template.
    pub is_template: bool,
    /// Default branch name (`main` unless set).
    pub default_branch: String,
    /// `stargazers_count`.
    pub stars: u64,
    /// `forks_count`.
    pub forks: u64,
    /// `subscribers_count` (GitHub's "watchers"; its `watchers_count` mirrors stars).
    pub watchers: u64,
    /// SPDX id of the license (`MIT`, `Apache-2.0`), `None` for no license.
    pub license: Option<String>,
    /// Last push, RFC 3339.
    pub pushed_at: String,
    /// Whether `SECURITY.md` exists on the default branch.
    pub has_security_md: bool,
    /// A bare git repository that holds this repository's git data: it is the `clone_url`, and branches pushed to
    /// it exist for the API (as pushes to GitHub do), so a client can clone, push and then open a pull request.
    pub git_dir: Option<std::path::PathBuf>,
    /// The description; `None` keeps GitHub's example text, an empty one renders GitHub's `null`.
    pub description: Option<String>,
}

impl RepoSpec {
    /// A public, active, unlicensed repository on `main`, pushed a minute before creation.
    pub fn new(owner: &str, name: &str) -> RepoSpec {
        RepoSpec {
            owner: owner.to_owned(),
            name: name.to_owned(),
            private: false,
            archived: false,
            fork: false,
            is_template: false,
            default_branch: "main".to_owned(),
            stars: 0,
            forks: 0,
            watchers: 0,
            license: None,
            pushed_at: hive_support::rfc3339(SystemTime::now() - std::time::Duration::from_secs(60)),
            has_security_md: false,
            git_dir: None,
            description: None,
        }
    }
    /// Backs the repository with a bare git repository (see [`RepoSpec::git_dir`]).
    pub fn git_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.git_dir = Some(dir.into());
        self
    }
    /// Sets the description.
    pub fn description(mut self, v: &str) -> Self {
        self.description = Some(v.to_owned());
        self
    }
    /// Sets `private`.
    pub fn private(mut self, v: bool) -> Self {
        self.private = v;
        self
    }
    /// Sets `archived`.
    pub fn archived(mut self, v: bool) -> Self {
        self.archived = v;
        self
    }
    /// Sets `fork`.
    pub fn fork(mut self, v: bool) -> Self {
        self.fork = v;
        self
    }
    /// Sets `is_template`.
    pub fn is_template(mut self, v: bool) -> Self {
        self.is_template = v;
        self
    }
    /// Sets the default branch.
    pub fn default_branch(mut self, v: &str) -> Self {
        self.default_branch = v.to_owned();
        self
    }
    /// Sets the star count.
    pub fn stars(mut self, v: u64) -> Self {
        self.stars = v;
        self
    }
    /// Sets the fork count.
    pub fn forks(mut self, v: u64) -> Self {
        self.forks = v;
        self
    }
    /// Sets the watcher (subscriber) count.
    pub fn watchers(mut self, v: u64) -> Self {
        self.watchers = v;
        self
    }
    /// Sets the license by SPDX id.
    pub fn license(mut self, spdx: &str) -> Self {
        self.license = Some(spdx.to_owned());
        self
    }
    /// Sets `pushed_at` from an RFC 3339 string.
    pub fn pushed_at(mut self, rfc3339: &str) -> Self {
        self.pushed_at = rfc3339.to_owned();
        self
    }
    /// Sets `pushed_at` from a point in time.
    pub fn pushed_at_time(mut self, t: SystemTime) -> Self {
        self.pushed_at = hive_support::rfc3339(t);
        self
    }
    /// Sets whether `SECURITY.md` exists.
    pub fn has_security_md(mut self, v: bool) -> Self {
        self.has_security_md = v;
        self
    }
}

/// The commit of a [`RunSpec::new`] until set: GitHub's example commit, which the emulator replaces with the head of
/// the run's branch.
pub(crate) const PLACEHOLDER_SHA: &str = "acb5820ced9479c074f688cc328bf03f341a511d";

/// A workflow run for [`crate::EmulatorState::add_workflow_run`].
#[derive(Debug, Clone, PartialEq)]
pub struct RunSpec {
    /// The workflow's name (the run's `name`).
    pub workflow_name: String,
    /// Branch; `None` renders GitHub's real-world `null` (runs on deleted branches, some events).
    pub head_branch: Option<String>,
    /// Commit the run tested (the head of its branch when it was added, unless set).
    pub head_sha: String,
    /// `completed`, `in_progress`, `queued`, `requested`, `waiting`, `pending`.
    pub status: String,
    /// `success`, `failure`, `cancelled`, `timed_out`, ...; `None` while not completed.
    pub conclusion: Option<String>,
    /// The run's jobs.
    pub jobs: Vec<JobSpec>,
    /// Which attempt this is: 1, then one more for each re-run.
    pub run_attempt: u32,
}

impl RunSpec {
    /// A successful completed run of `workflow_name` on `branch`.
    pub fn new(workflow_name: &str, branch: &str) -> RunSpec {
        RunSpec {
            workflow_name: workflow_name.to_owned(),
            head_branch: Some(branch.to_owned()),
            head_sha: PLACEHOLDER_SHA.to_owned(),
            status: "completed".to_owned(),
            conclusion: Some("success".to_owned()),
            jobs: Vec::new(),
            run_attempt: 1,
        }
    }
    /// Sets the branch (`None` for GitHub's null `head_branch`).
    pub fn head_branch(mut self, v: Option<&str>) -> Self {
        self.head_branch = v.map(str::to_owned);
        self
    }
    /// Sets the commit.
    pub fn head_sha(mut self, v: &str) -> Self {
        self.head_sha = v.to_owned();
        self
    }
    /// Sets status and conclusion.
    pub fn outcome(mut self, status: &str, conclusion: Option<&str>) -> Self {
        self.status = status.to_owned();
        self.conclusion = conclusion.map(str::to_owned);
        self
    }
    /// Adds a job.
    pub fn job(mut self, job: JobSpec) -> Self {
        self.jobs.push(job);
        self
    }
}

/// A job of a workflow run.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSpec {
    /// Job name.
    pub name: String,
    /// Status (`requested` is real and rejected by some clients' models).
    pub status: String,
    /// Conclusion.
    pub conclusion: Option<String>,
    /// Steps.
    pub steps: Vec<StepSpec>,
    /// The annotations of the job's check run (`GET /repos/{o}/{r}/check-runs/{id}/annotations`), in order.
    pub annotations: Vec<AnnotationSpec>,
}

impl JobSpec {
    /// A job with the given outcome, no steps and no annotations.
    pub fn new(name: &str, status: &str, conclusion: Option<&str>) -> JobSpec {
        JobSpec {
            name: name.to_owned(),
            status: status.to_owned(),
            conclusion: conclusion.map(str::to_owned),
            steps: Vec::new(),
            annotations: Vec::new(),
        }
    }
    /// Adds an annotation to the job's check run, as the runner writes them: `level` is `notice`, `warning` or
    /// `failure`, `message` the text (for example "Process completed with exit code 1.").
    pub fn annotation(mut self, level: &str, message: &str) -> Self {
        self.annotations.push(AnnotationSpec { level: level.to_owned(), message: message.to_owned() });
        self
    }
    /// Adds a step, numbered after the previous ones.
    pub fn step(mut self, name: &str, status: &str, conclusion: Option<&str>) -> Self {
        let number = self.steps.len() as u64 + 1;
        self.steps.push(StepSpec {
            name: name.to_owned(),
            number,
            status: status.to_owned(),
            conclusion: conclusion.map(str::to_owned),
        });
        self
    }
}

/// A step of a job.
#[derive(Debug, Clone, PartialEq)]
pub struct StepSpec {
    /// Step name.
    pub name: String,
    /// 1-based position.
    pub number: u64,
    /// Status.
    pub status: String,
    /// Conclusion.
    pub conclusion: Option<String>,
}

/// A check-run annotation of a job. The runner's own annotations (a failed step's exit code, a lost runner) point
/// at `.github` line 1, as GitHub's do.
#[derive(Debug, Clone, PartialEq)]
pub struct AnnotationSpec {
    /// `annotation_level`: `notice`, `warning` or `failure`.
    pub level: String,
    /// The message.
    pub message: String,
}

/// An issue for [`crate::EmulatorState::add_issue`].
#[derive(Debug, Clone, PartialEq)]
pub struct IssueSpec {
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// Label names.
    pub labels: Vec<String>,
    /// `open` or `closed`.
    pub state: String,
    /// Author login.
    pub user: String,
}

impl IssueSpec {
    /// An open issue by `octocat` with no labels.
    pub fn new(title: &str) -> IssueSpec {
        IssueSpec {
            title: title.to_owned(),
            body: String::new(),
            labels: Vec::new(),
            state: "open".to_owned(),
            user: "octocat".to_owned(),
        }
    }
    /// Sets the body.
    pub fn body(mut self, v: &str) -> Self {
        self.body = v.to_owned();
        self
    }
    /// Adds a label.
    pub fn label(mut self, v: &str) -> Self {
        self.labels.push(v.to_owned());
        self
    }
    /// Sets the state.
    pub fn state(mut self, v: &str) -> Self {
        self.state = v.to_owned();
        self
    }
    /// Sets the author.
    pub fn user(mut self, v: &str) -> Self {
        self.user = v.to_owned();
        self
    }
}

/// A pull request for [`crate::EmulatorState::add_pull`].
#[derive(Debug, Clone, PartialEq)]
pub struct PullSpec {
    /// Title.
    pub title: String,
    /// Head branch (created if missing).
    pub head_ref: String,
    /// Base branch.
    pub base_ref: String,
    /// Creation time, RFC 3339.
    pub created_at: String,
    /// Draft flag.
    pub draft: bool,
}

impl PullSpec {
    /// A ready pull request from `head_ref` into `main`, created now.
    pub fn new(title: &str, head_ref: &str) -> PullSpec {
        PullSpec {
            title: title.to_owned(),
            head_ref: head_ref.to_owned(),
            base_ref: "main".to_owned(),
            created_at: hive_support::rfc3339(SystemTime::now()),
            draft: false,
        }
    }
    /// Sets the base branch.
    pub fn base_ref(mut self, v: &str) -> Self {
        self.base_ref = v.to_owned();
        self
    }
    /// Sets the creation time (RFC 3339).
    pub fn created_at(mut self, v: &str) -> Self {
        self.created_at = v.to_owned();
        self
    }
    /// Sets the creation time.
    pub fn created_at_time(mut self, t: SystemTime) -> Self {
        self.created_at = hive_support::rfc3339(t);
        self
    }
    /// Sets the draft flag.
    pub fn draft(mut self, v: bool) -> Self {
        self.draft = v;
        self
    }
}

/// What `GET /repos/{o}/{r}/dependabot/alerts` answers.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum DependabotSpec {
    /// Open alerts as `(severity, summary)`; severity is `low`, `medium`, `high` or `critical`.
    Alerts(Vec<(String, String)>),
    /// No alerts (the default).
    #[default]
    None,
    /// 403: the token may not read alerts.
    Forbidden,
    /// 404: alerts are disabled or the repository is hidden.
    NotFound,
}

/// One request as the emulator saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestRecord {
    /// HTTP method.
    pub method: Method,
    /// Path without the query.
    pub path: String,
    /// Raw query string (empty when none).
    pub query: String,
    /// Status answered; 0 when the connection was reset instead.
    pub status: u16,
    /// Whether the request carried an accepted token.
    pub authorized: bool,
    /// The accepted token it carried ([`crate::TOKEN`] or one added with `EmulatorState::add_token`), if any.
    pub token: Option<String>,
    /// The `If-None-Match` header, if sent.
    pub if_none_match: Option<String>,
    /// Whether the request was charged to a rate-limit budget.
    pub counted: bool,
    /// The points charged: 1 for a counted REST request, a GraphQL query's cost, 0 when not counted.
    pub points: u32,
    /// The name of the GraphQL operation a query ran (`query SnapshotProbe { ... }`), when it named one.
    pub operation: Option<String>,
    /// When the request arrived.
    pub at: Instant,
}

/// An issue (or pull request, which GitHub numbers in the same sequence) as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct IssueRecord {
    /// Issue number.
    pub number: u64,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// `open` or `closed`.
    pub state: String,
    /// Label names.
    pub labels: Vec<String>,
    /// Author login.
    pub user: String,
    /// Whether this number is a pull request.
    pub is_pull: bool,
}

/// A pull request as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct PullRecord {
    /// Number (shared with issues).
    pub number: u64,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// Head branch.
    pub head_ref: String,
    /// Base branch.
    pub base_ref: String,
    /// `open` or `closed`.
    pub state: String,
    /// Whether it was merged.
    pub merged: bool,
    /// The commit the merge made on the base (for a repository backed by git, a real commit of it), once merged.
    pub merge_commit_sha: Option<String>,
    /// Draft flag.
    pub draft: bool,
}
