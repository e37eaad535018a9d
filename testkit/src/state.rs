//! The emulator's world: owners, repositories and everything in them, the rate-limit budgets and accepted tokens
//! (`budget.rs`), fault rules and the request log. One mutex guards it all; requests are short and tests are small,
//! so contention does not matter and every request sees a consistent world.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::Method;
use sha2::{Digest, Sha256};

use crate::bare::Bare;
use crate::fault::{Fault, FaultRule};
use crate::spec::{DependabotSpec, IssueRecord, IssueSpec, PullRecord, PullSpec, RepoSpec, RequestRecord, RunSpec};

mod budget;

pub(crate) use self::budget::{Budget, Caller};

/// Base64 of the `SECURITY.md` a repository gets with `has_security_md`.
pub(crate) const SECURITY_MD_BASE64: &str =
    "IyBTZWN1cml0eSBwb2xpY3kKClJlcG9ydCB2dWxuZXJhYmlsaXRpZXMgdG8gc2VjdXJpdHlAZXhhbXBsZS5jb20uCg==";

/// The shared, thread-safe state of one emulator; reach it with [`crate::Emulator::state`].
#[derive(Debug)]
pub struct EmulatorState {
    inner: Mutex<World>,
}

#[derive(Debug, Default)]
pub(crate) struct World {
    pub(crate) base_url: String,
    pub(crate) owners: BTreeMap<String, OwnerKind>,
    pub(crate) repos: BTreeMap<(String, String), Repo>,
    pub(crate) next_id: u64,
    pub(crate) faults: Vec<FaultRule>,
    pub(crate) latency: Duration,
    /// How long a write's answer is held back after the write was made.
    pub(crate) write_reply_delay: Duration,
    pub(crate) budgets: BTreeMap<(Caller, &'static str), Budget>,
    /// Tokens accepted besides [`crate::TOKEN`], each with the owners (lowercase) whose repositories it can see.
    pub(crate) tokens: BTreeMap<String, Vec<String>>,
    pub(crate) log: Vec<RequestRecord>,
    pub(crate) request_seq: u64,
    /// The login the accepted token belongs to (`GET /user`); empty means `octocat`.
    pub(crate) viewer: String,
    /// Where the bare git repositories of repositories created through the API live, made on first use and removed
    /// with the emulator.
    pub(crate) git_root: Option<tempfile::TempDir>,
    /// GraphQL switched off: `/graphql` answers 404, as a server with REST only does.
    pub(crate) graphql_off: bool,
    /// Fields of a repository GraphQL answers with `FORBIDDEN`, by `(owner, name)`.
    pub(crate) graphql_forbidden: BTreeMap<(String, String), std::collections::BTreeSet<String>>,
    /// The repository each run was added to, so a check suite is found by id without scanning every repository
    /// (a cold cycle over 10,000 repositories asks for hundreds). A hint: a repository renamed or deleted since is
    /// found by a scan.
    pub(crate) run_repos: std::collections::HashMap<u64, (String, String)>,
}

/// Whether an owner is an organisation or a user (renders `type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OwnerKind {
    Org,
    User,
}

#[derive(Debug, Clone)]
pub(crate) struct Repo {
    pub(crate) id: u64,
    pub(crate) spec: RepoSpec,
    pub(crate) created_at: String,
    pub(crate) runs: Vec<Run>,
    pub(crate) issues: Vec<Issue>,
    pub(crate) branches: BTreeMap<String, String>,
    /// `(branch, path) -> base64 content`.
    pub(crate) files: BTreeMap<(String, String), String>,
    pub(crate) dependabot: DependabotSpec,
    pub(crate) check_runs: BTreeMap<String, Vec<CheckRun>>,
    /// The check runs of every ref without its own in `check_runs`.
    pub(crate) default_check_runs: Option<Vec<CheckRun>>,
    /// Why every merge of this repository's pull requests is refused (405), when it is.
    pub(crate) merge_refusal: Option<String>,
    pub(crate) statuses: BTreeMap<String, String>,
    pub(crate) reruns: Vec<u64>,
    pub(crate) labels: BTreeMap<String, u64>,
    /// The reviews of each pull request (by number), oldest first.
    pub(crate) reviews: BTreeMap<u64, Vec<Review>>,
    /// Where each branch of [`RepoSpec::git_dir`] pointed when the API last looked: a branch whose commit changed
    /// in git since (a push) takes the new commit, one the API moved itself (a merge) keeps the API's.
    pub(crate) git_seen: BTreeMap<String, String>,
    /// Whether `git_dir` was made by the create endpoint (and is removed with the repository).
    pub(crate) made_by_api: bool,
}

/// A pull request review.
#[derive(Debug, Clone)]
pub(crate) struct Review {
    pub(crate) id: u64,
    pub(crate) user: String,
    pub(crate) body: String,
    /// `APPROVED`, `CHANGES_REQUESTED`, `COMMENTED`, `DISMISSED` or `PENDING`.
    pub(crate) state: String,
    pub(crate) commit_id: String,
    pub(crate) submitted_at: String,
}

/// A check run: `(id, name, status, conclusion)`.
pub(crate) type CheckRun = (u64, String, String, Option<String>);

#[derive(Debug, Clone)]
pub(crate) struct Run {
    pub(crate) id: u64,
    pub(crate) number: u64,
    pub(crate) spec: RunSpec,
    pub(crate) job_ids: Vec<u64>,
    pub(crate) created_at: String,
    /// When the run last changed (made, re-run, finished): its check suite's `updatedAt`.
    pub(crate) updated_at: SystemTime,
    /// The check runs of earlier attempts that a re-run replaced, by check run id, oldest first: GitHub keeps them
    /// in the check suite (`checkRuns(filterBy: {checkType: ALL})`).
    pub(crate) superseded: Vec<(u64, crate::spec::JobSpec)>,
}

impl Run {
    /// Marks the run changed now. GitHub's timestamps are whole seconds and a re-run takes seconds at least, so each
    /// change is a second after the previous one even when a test makes them within the same second.
    pub(crate) fn touch(&mut self) {
        self.updated_at = SystemTime::now().max(self.updated_at + Duration::from_secs(1));
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Issue {
    pub(crate) id: u64,
    pub(crate) number: u64,
    pub(crate) title: String,
    pub(crate) body: String,
    pub(crate) state: String,
    pub(crate) labels: Vec<String>,
    pub(crate) user: String,
    pub(crate) created_at: String,
    pub(crate) updated_at: String,
    pub(crate) closed_at: Option<String>,
    pub(crate) comments: Vec<Comment>,
    pub(crate) pull: Option<Pull>,
}

#[derive(Debug, Clone)]
pub(crate) struct Comment {
    pub(crate) id: u64,
    pub(crate) body: String,
    pub(crate) created_at: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Pull {
    pub(crate) id: u64,
    pub(crate) head_ref: String,
    pub(crate) base_ref: String,
    pub(crate) draft: bool,
    pub(crate) merged: bool,
    pub(crate) merge_sha: Option<String>,
}

pub(crate) fn now_rfc3339() -> String {
    hive_support::rfc3339(SystemTime::now())
}

pub(crate) fn epoch_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A 40-hex "commit id" derived from `seed`, so shas are stable and look like git's.
pub(crate) fn fake_sha(seed: &str) -> String {
    let digest = Sha256::digest(seed.as_bytes());
    digest.iter().take(20).map(|b| format!("{b:02x}")).collect()
}

impl World {
    /// The run `id` and its repository.
    pub(crate) fn run_by_id(&self, id: u64) -> Option<(&Repo, &Run)> {
        fn find(repo: &Repo, id: u64) -> Option<(&Repo, &Run)> {
            Some((repo, repo.runs.iter().find(|run| run.id == id)?))
        }
        let hinted = self.run_repos.get(&id).and_then(|key| self.repos.get(key)).and_then(|repo| find(repo, id));
        hinted.or_else(|| self.repos.values().find_map(|repo| find(repo, id)))
    }

    pub(crate) fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
    pub(crate) fn repo(&self, owner: &str, name: &str) -> Option<&Repo> {
        self.repos.get(&(owner.to_owned(), name.to_owned()))
    }
    pub(crate) fn repo_mut(&mut self, owner: &str, name: &str) -> Option<&mut Repo> {
        self.repos.get_mut(&(owner.to_owned(), name.to_owned()))
    }
    /// The login of the accepted token's user.
    pub(crate) fn viewer(&self) -> &str {
        if self.viewer.is_empty() { "octocat" } else { &self.viewer }
    }
    pub(crate) fn owner_kind(&self, login: &str) -> OwnerKind {
        self.owners.get(login).copied().unwrap_or(OwnerKind::User)
    }
    /// A repository without branches, files or anything else, with a fresh id; its owner becomes a user if unknown.
    pub(crate) fn new_repo(&mut self, spec: RepoSpec, created_at: String) -> Repo {
        let id = self.id();
        self.owners.entry(spec.owner.clone()).or_insert(OwnerKind::User);
        Repo {
            id,
            created_at,
            runs: Vec::new(),
            issues: Vec::new(),
            branches: BTreeMap::new(),
            files: BTreeMap::new(),
            dependabot: DependabotSpec::None,
            check_runs: BTreeMap::new(),
            default_check_runs: None,
            merge_refusal: None,
            statuses: BTreeMap::new(),
            reruns: Vec::new(),
            labels: BTreeMap::new(),
            reviews: BTreeMap::new(),
            git_seen: BTreeMap::new(),
            made_by_api: false,
            spec,
        }
    }

    /// Reads the branches of a git-backed repository from git. A branch whose commit changed in git since the last
    /// look (a push, a new branch) takes git's commit; one git no longer has is gone; one only the API moved (a merge,
    /// a contents write) keeps the API's commit until git's changes.
    pub(crate) fn sync_git(&mut self, o: &str, r: &str) {
        let Some(dir) = self.repo(o, r).and_then(|repo| repo.spec.git_dir.clone()) else { return };
        let Some(now) = Bare::new(&dir).branches() else { return };
        let Some(repo) = self.repo_mut(o, r) else { return };
        let gone: Vec<String> = repo.git_seen.keys().filter(|name| !now.contains_key(*name)).cloned().collect();
        for name in gone {
            repo.git_seen.remove(&name);
            repo.branches.remove(&name);
        }
        for (name, sha) in now {
            if repo.git_seen.get(&name) != Some(&sha) {
                repo.branches.insert(name.clone(), sha.clone());
                repo.git_seen.insert(name, sha);
            }
        }
    }
    /// The id of a label by name, created on first use (GitHub creates labels the same way on issue writes).
    pub(crate) fn label_id(&mut self, owner: &str, name: &str, label: &str) -> u64 {
        let fresh = self.id();
        match self.repo_mut(owner, name) {
            Some(repo) => *repo.labels.entry(label.to_owned()).or_insert(fresh),
            None => fresh,
        }
    }
    /// Starts a new attempt of a completed run with its failed jobs queued again, as GitHub does: the run keeps its
    /// id, each re-run job is a new check run with a new id and none of the old annotations, and the replaced check
    /// runs stay in the suite. `Err(true)` for a run still running, `Err(false)` for no such run.
    pub(crate) fn rerun_failed_jobs(&mut self, owner: &str, name: &str, run_id: u64) -> Result<(), bool> {
        let jobs = self
            .repo(owner, name)
            .and_then(|repo| repo.runs.iter().find(|run| run.id == run_id))
            .map_or(0, |run| run.spec.jobs.len());
        let fresh_ids: Vec<u64> = (0..jobs).map(|_| self.id()).collect();
        let run = self
            .repo_mut(owner, name)
            .and_then(|repo| repo.runs.iter_mut().find(|run| run.id == run_id))
            .ok_or(false)?;
        if run.spec.status != "completed" {
            return Err(true);
        }
        run.spec.run_attempt += 1;
        run.spec.status = "queued".to_owned();
        run.spec.conclusion = None;
        run.touch();
        for ((job, job_id), fresh) in run.spec.jobs.iter_mut().zip(&mut run.job_ids).zip(fresh_ids) {
            if job.conclusion.as_deref() == Some("success") {
                continue;
            }
            run.superseded.push((*job_id, job.clone()));
            *job_id = fresh;
            job.annotations.clear();
            job.status = "queued".to_owned();
            job.conclusion = None;
            for step in &mut job.steps {
                step.status = "queued".to_owned();
                step.conclusion = None;
            }
        }
        if let Some(repo) = self.repo_mut(owner, name) {
            repo.reruns.push(run_id);
        }
        Ok(())
    }

    /// Takes the first fault rule matching the request, retiring it when its count runs out.
    pub(crate) fn take_fault(&mut self, method: &Method, path: &str) -> Option<Fault> {
        let i = self.faults.iter().position(|r| r.matches(method, path))?;
        let rule = &mut self.faults[i];
        let fault = rule.fault.clone();
        if let Some(n) = rule.times.as_mut() {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.faults.remove(i);
            }
        }
        Some(fault)
    }
}

impl EmulatorState {
    pub(crate) fn new(base_url: String) -> EmulatorState {
        EmulatorState { inner: Mutex::new(World { base_url, ..World::default() }) }
    }

    /// Locks the world; a panic while holding the lock (a bug in a handler) must not wedge every later request.
    pub(crate) fn world(&self) -> MutexGuard<'_, World> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds an organisation (its repositories list at `/orgs/{org}/repos`).
    pub fn add_org(&self, login: &str) {
        self.world().owners.insert(login.to_owned(), OwnerKind::Org);
    }

    /// Adds a user (its repositories list at `/users/{user}/repos`).
    pub fn add_user(&self, login: &str) {
        self.world().owners.insert(login.to_owned(), OwnerKind::User);
    }

    /// Makes `login` (a user) the one the accepted token belongs to: `GET /user` answers it, `POST /user/repos`
    /// creates its repositories and its reviews are signed with it. `octocat` until set.
    pub fn set_authenticated_user(&self, login: &str) {
        let mut w = self.world();
        w.owners.insert(login.to_owned(), OwnerKind::User);
        w.viewer = login.to_owned();
    }

    /// The bare git repository behind a repository (its `clone_url`), if it has one.
    pub fn git_dir(&self, owner: &str, repo: &str) -> Option<std::path::PathBuf> {
        self.world().repo(owner, repo)?.spec.git_dir.clone()
    }

    /// Adds (or replaces) a repository and returns its id. An unknown owner becomes a user.
    pub fn add_repo(&self, spec: RepoSpec) -> u64 {
        let mut w = self.world();
        let mut repo = w.new_repo(spec, "2020-01-01T00:00:00Z".to_owned());
        let spec = &repo.spec;
        let head = fake_sha(&format!("{}/{}#{}", spec.owner, spec.name, repo.id));
        repo.branches.insert(spec.default_branch.clone(), head);
        if spec.has_security_md {
            repo.files.insert((spec.default_branch.clone(), "SECURITY.md".to_owned()), SECURITY_MD_BASE64.to_owned());
        }
        let id = repo.id;
        w.repos.insert((repo.spec.owner.clone(), repo.spec.name.clone()), repo);
        id
    }

    /// Marks a repository archived (it stays listed, with `archived: true`).
    pub fn archive_repo(&self, owner: &str, name: &str) {
        if let Some(r) = self.world().repo_mut(owner, name) {
            r.spec.archived = true;
        }
    }

    /// Deletes a repository: it disappears from lists and answers 404.
    pub fn delete_repo(&self, owner: &str, name: &str) {
        self.world().repos.remove(&(owner.to_owned(), name.to_owned()));
    }

    /// Adds a workflow run (and its jobs) and returns the run id. Unknown repository: returns 0.
    ///
    /// A run is what a push to its branch started, so its commit is the branch's head (GraphQL lists a commit's runs
    /// as its check suites): a run left at [`RunSpec::new`]'s placeholder commit tested the branch's head, and one given
    /// another commit moves the branch there, unless git holds the repository's branches.
    pub fn add_workflow_run(&self, owner: &str, repo: &str, mut run: RunSpec) -> u64 {
        let mut w = self.world();
        w.sync_git(owner, repo);
        let Some(r) = w.repo_mut(owner, repo) else { return 0 };
        if let Some(branch) = run.head_branch.clone()
            && let Some(head) = r.branches.get_mut(&branch)
        {
            if run.head_sha == crate::spec::PLACEHOLDER_SHA {
                run.head_sha = head.clone();
            } else if r.spec.git_dir.is_none() {
                *head = run.head_sha.clone();
            }
        }
        let id = w.id();
        let job_ids = run.jobs.iter().map(|_| w.id()).collect();
        let Some(r) = w.repo_mut(owner, repo) else { return 0 };
        let number = r.runs.len() as u64 + 1;
        let now = SystemTime::now();
        let created_at = hive_support::rfc3339(now);
        r.runs.push(Run { id, number, spec: run, job_ids, created_at, updated_at: now, superseded: Vec::new() });
        w.run_repos.insert(id, (owner.to_owned(), repo.to_owned()));
        id
    }

    /// Finishes the current attempt of a run (after a re-run): `completed` with `conclusion`, and every job and step
    /// without a conclusion gets it too. Returns whether the run exists.
    pub fn complete_run(&self, owner: &str, repo: &str, run_id: u64, conclusion: &str) -> bool {
        let mut w = self.world();
        let Some(run) = w.repo_mut(owner, repo).and_then(|r| r.runs.iter_mut().find(|run| run.id == run_id)) else {
            return false;
        };
        run.spec.status = "completed".to_owned();
        run.spec.conclusion = Some(conclusion.to_owned());
        run.touch();
        for job in run.spec.jobs.iter_mut().filter(|j| j.conclusion.is_none()) {
            job.status = "completed".to_owned();
            job.conclusion = Some(conclusion.to_owned());
            for step in job.steps.iter_mut().filter(|s| s.conclusion.is_none()) {
                step.status = "completed".to_owned();
                step.conclusion = Some(conclusion.to_owned());
            }
        }
        true
    }

    /// Re-runs the failed jobs of a completed run as a person would on the website (what
    /// `POST .../actions/runs/{id}/rerun-failed-jobs` does): a new attempt, queued, until
    /// [`EmulatorState::complete_run`]. Returns whether the run exists and was completed.
    pub fn rerun_failed_jobs(&self, owner: &str, repo: &str, run_id: u64) -> bool {
        self.world().rerun_failed_jobs(owner, repo, run_id) == Ok(())
    }

    /// A run as it stands now (its attempt, status and conclusion change with re-runs).
    pub fn run(&self, owner: &str, repo: &str, run_id: u64) -> Option<RunSpec> {
        let w = self.world();
        w.repo(owner, repo)?.runs.iter().find(|run| run.id == run_id).map(|run| run.spec.clone())
    }

    /// Adds an issue and returns its number (0 for an unknown repository).
    pub fn add_issue(&self, owner: &str, repo: &str, issue: IssueSpec) -> u64 {
        let mut w = self.world();
        for l in &issue.labels {
            w.label_id(owner, repo, l);
        }
        let id = w.id();
        let Some(r) = w.repo_mut(owner, repo) else { return 0 };
        let number = r.issues.len() as u64 + 1;
        let now = now_rfc3339();
        let closed_at = (issue.state == "closed").then(|| now.clone());
        r.issues.push(Issue {
            id,
            number,
            title: issue.title,
            body: issue.body,
            state: issue.state,
            labels: issue.labels,
            user: issue.user,
            created_at: now.clone(),
            updated_at: now,
            closed_at,
            comments: Vec::new(),
            pull: None,
        });
        number
    }

    /// Adds an open pull request (creating its head branch if needed) and returns its number.
    pub fn add_pull(&self, owner: &str, repo: &str, pull: PullSpec) -> u64 {
        let mut w = self.world();
        let (id, pid) = (w.id(), w.id());
        let Some(r) = w.repo_mut(owner, repo) else { return 0 };
        let number = r.issues.len() as u64 + 1;
        let head_sha = fake_sha(&format!("{owner}/{repo}:{}", pull.head_ref));
        r.branches.entry(pull.head_ref.clone()).or_insert(head_sha);
        r.issues.push(Issue {
            id,
            number,
            title: pull.title,
            body: String::new(),
            state: "open".to_owned(),
            labels: Vec::new(),
            user: "octocat".to_owned(),
            created_at: pull.created_at.clone(),
            updated_at: pull.created_at,
            closed_at: None,
            comments: Vec::new(),
            pull: Some(Pull {
                id: pid,
                head_ref: pull.head_ref,
                base_ref: pull.base_ref,
                draft: pull.draft,
                merged: false,
                merge_sha: None,
            }),
        });
        number
    }

    /// Sets what the Dependabot alerts endpoint answers.
    pub fn set_dependabot(&self, owner: &str, repo: &str, alerts: DependabotSpec) {
        if let Some(r) = self.world().repo_mut(owner, repo) {
            r.dependabot = alerts;
        }
    }

    /// Sets the check runs of a ref (branch name or sha) as `(name, status, conclusion)`.
    pub fn set_check_runs(&self, owner: &str, repo: &str, git_ref: &str, runs: Vec<(&str, &str, Option<&str>)>) {
        let mut w = self.world();
        let runs: Vec<_> =
            runs.into_iter().map(|(n, s, c)| (w.id(), n.to_owned(), s.to_owned(), c.map(str::to_owned))).collect();
        if let Some(r) = w.repo_mut(owner, repo) {
            r.check_runs.insert(git_ref.to_owned(), runs);
        }
    }

    /// Sets the check runs of every ref of a repository that has none of its own (set with
    /// [`EmulatorState::set_check_runs`]), as `(name, status, conclusion)`: every head green, or red, without knowing
    /// its commit.
    pub fn set_default_check_runs(&self, owner: &str, repo: &str, runs: Vec<(&str, &str, Option<&str>)>) {
        let mut w = self.world();
        let runs: Vec<_> =
            runs.into_iter().map(|(n, s, c)| (w.id(), n.to_owned(), s.to_owned(), c.map(str::to_owned))).collect();
        if let Some(r) = w.repo_mut(owner, repo) {
            r.default_check_runs = Some(runs);
        }
    }

    /// Refuses every merge of a repository's pull requests with GitHub's 405 and `message` (as a branch protection
    /// rule or a required check would), until [`EmulatorState::allow_merges`].
    pub fn refuse_merges(&self, owner: &str, repo: &str, message: &str) {
        if let Some(r) = self.world().repo_mut(owner, repo) {
            r.merge_refusal = Some(message.to_owned());
        }
    }

    /// Lets a repository's pull requests be merged again after [`EmulatorState::refuse_merges`].
    pub fn allow_merges(&self, owner: &str, repo: &str) {
        if let Some(r) = self.world().repo_mut(owner, repo) {
            r.merge_refusal = None;
        }
    }

    /// Sets the combined status state (`success`, `pending`, `failure`, `error`) of a ref.
    pub fn set_combined_status(&self, owner: &str, repo: &str, git_ref: &str, state: &str) {
        if let Some(r) = self.world().repo_mut(owner, repo) {
            r.statuses.insert(git_ref.to_owned(), state.to_owned());
        }
    }

    /// Adds a fault rule; rules are tried in the order added.
    pub fn inject(&self, rule: FaultRule) {
        self.world().faults.push(rule);
    }

    /// Removes every fault rule.
    pub fn clear_faults(&self) {
        self.world().faults.clear();
    }

    /// Holds back the answer to every write for `d` after the write was made, so a client can die between GitHub
    /// acting and the client learning of it.
    pub fn set_write_reply_delay(&self, d: Duration) {
        self.world().write_reply_delay = d;
    }

    /// Sets a latency applied to every request (fault latency adds to it).
    pub fn set_latency(&self, d: Duration) {
        self.world().latency = d;
    }

    /// Serves GraphQL (the default) or not: switched off, `POST /graphql` answers 404 like a server with REST only.
    pub fn serve_graphql(&self, on: bool) {
        self.world().graphql_off = !on;
    }

    /// Makes GraphQL answer `field` of repository `owner/repo` with GitHub's `FORBIDDEN` error (a field the token may
    /// not read): the field is `null`, and so is the repository when the field may not be null.
    pub fn forbid_graphql_field(&self, owner: &str, repo: &str, field: &str) {
        self.world().graphql_forbidden.entry((owner.to_owned(), repo.to_owned())).or_default().insert(field.to_owned());
    }

    /// Points charged so far: one per counted REST request, a GraphQL query's cost for each query.
    pub fn points(&self) -> u64 {
        self.world().log.iter().map(|r| u64::from(r.points)).sum()
    }

    /// Every request served so far, in arrival order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.world().log.clone()
    }

    /// Forgets the request log (budgets are unchanged).
    pub fn clear_requests(&self) {
        self.world().log.clear();
    }

    /// The issues of a repository, pull requests included (flagged), by number.
    pub fn issues(&self, owner: &str, repo: &str) -> Vec<IssueRecord> {
        let w = self.world();
        let Some(r) = w.repo(owner, repo) else { return Vec::new() };
        r.issues
            .iter()
            .map(|i| IssueRecord {
                number: i.number,
                title: i.title.clone(),
                body: i.body.clone(),
                state: i.state.clone(),
                labels: i.labels.clone(),
                user: i.user.clone(),
                is_pull: i.pull.is_some(),
            })
            .collect()
    }

    /// The commit a branch points at, as the API knows it.
    pub fn branch_sha(&self, owner: &str, repo: &str, branch: &str) -> Option<String> {
        let mut w = self.world();
        w.sync_git(owner, repo);
        w.repo(owner, repo)?.branches.get(branch).cloned()
    }

    /// Opens or closes an issue or pull request as a person would on the website (closing a pull request does not
    /// merge it). Returns whether it exists.
    pub fn set_issue_state(&self, owner: &str, repo: &str, number: u64, state: &str) -> bool {
        let mut w = self.world();
        let Some(issue) = w.repo_mut(owner, repo).and_then(|r| r.issues.iter_mut().find(|i| i.number == number)) else {
            return false;
        };
        issue.state = state.to_owned();
        issue.closed_at = (state == "closed").then(now_rfc3339);
        true
    }

    /// The comment bodies of an issue or pull request, oldest first.
    pub fn comments(&self, owner: &str, repo: &str, number: u64) -> Vec<String> {
        let w = self.world();
        w.repo(owner, repo)
            .and_then(|r| r.issues.iter().find(|i| i.number == number))
            .map(|i| i.comments.iter().map(|c| c.body.clone()).collect())
            .unwrap_or_default()
    }

    /// The pull requests of a repository, by number.
    pub fn pulls(&self, owner: &str, repo: &str) -> Vec<PullRecord> {
        let w = self.world();
        let Some(r) = w.repo(owner, repo) else { return Vec::new() };
        r.issues
            .iter()
            .filter_map(|i| {
                let p = i.pull.as_ref()?;
                Some(PullRecord {
                    number: i.number,
                    title: i.title.clone(),
                    body: i.body.clone(),
                    head_ref: p.head_ref.clone(),
                    base_ref: p.base_ref.clone(),
                    state: i.state.clone(),
                    merged: p.merged,
                    merge_commit_sha: p.merge_sha.clone(),
                    draft: p.draft,
                })
            })
            .collect()
    }

    /// Run ids for which failed jobs were re-run, in request order.
    pub fn reruns(&self, owner: &str, repo: &str) -> Vec<u64> {
        self.world().repo(owner, repo).map(|r| r.reruns.clone()).unwrap_or_default()
    }

    /// Branch names of a repository.
    pub fn branches(&self, owner: &str, repo: &str) -> Vec<String> {
        let mut w = self.world();
        w.sync_git(owner, repo);
        w.repo(owner, repo).map(|r| r.branches.keys().cloned().collect()).unwrap_or_default()
    }

    /// The base64 content of a file on a branch, if it exists.
    pub fn file(&self, owner: &str, repo: &str, branch: &str, path: &str) -> Option<String> {
        self.world().repo(owner, repo).and_then(|r| r.files.get(&(branch.to_owned(), path.to_owned())).cloned())
    }
}

/// The repositories owned by `owner`, in name order (GitHub's org listing default is creation order; name order
/// keeps pagination stable, which is what tests need).
pub(crate) fn repos_of<'a>(w: &'a World, owner: &'a str) -> impl Iterator<Item = &'a Repo> + 'a {
    w.repos.values().filter(move |r| r.spec.owner == owner)
}
