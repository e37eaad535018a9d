//! `hive.toml` as written: the serde schema (`deny_unknown_fields` at every level, every value with its span), and
//! its validation into [`FileSettings`], where each bad key or value is a [`FileError`] (`file/error.rs`) naming the
//! file, line, column and key, with a "did you mean" for a mistyped key. `[orgs.NAME]` and `[[sync]]` are validated
//! beside it, in `orgs.rs` and `sync.rs`.

use std::{
    collections::BTreeMap,
    fmt,
    net::SocketAddr,
    ops::Range,
    path::{Path, PathBuf},
};

use hive::{
    EmergencyConfig, RepoId,
    actors::{Override, Overrides, is_valid_owner},
    cerebrum::governance::ActionLevel,
    forge::LOCAL_OWNER,
};
use serde::Deserialize;
use toml::Spanned;

use self::error::{Located, explain};
use super::orgs::OrgCredential;
use crate::config::INTERVAL_SECS;

mod error;

pub use self::error::FileError;

/// The file as serde reads it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    state_dir: Option<Spanned<PathBuf>>,
    #[serde(default)]
    targets: RawTargets,
    #[serde(default)]
    cycle: RawCycle,
    #[serde(default)]
    emergency: RawEmergency,
    #[serde(default)]
    governance: RawGovernance,
    #[serde(default)]
    orgs: BTreeMap<Spanned<String>, super::orgs::RawOrg>,
    #[serde(default)]
    repos: BTreeMap<Spanned<String>, RawRepo>,
    #[serde(default)]
    api: RawApi,
    llm: Option<RawLlm>,
    #[serde(default)]
    retention: RawRetention,
    #[serde(default)]
    services: BTreeMap<Spanned<String>, RawService>,
    #[serde(default)]
    sync: Vec<super::sync::RawSync>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawService {
    command: Spanned<Vec<String>>,
    cwd: Option<Spanned<PathBuf>>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    log_file: Option<Spanned<PathBuf>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTargets {
    orgs: Option<Vec<Spanned<String>>>,
    users: Option<Vec<Spanned<String>>>,
    repos: Option<Vec<Spanned<String>>>,
    workspace: Option<Spanned<PathBuf>>,
    include: Option<Vec<Spanned<String>>>,
    exclude: Option<Vec<Spanned<String>>>,
    all_kinds: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCycle {
    interval: Option<Spanned<u64>>,
    test_timeout: Option<Spanned<u64>>,
    reconcile_every: Option<Spanned<u32>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEmergency {
    fleet_health_below: Option<Spanned<f64>>,
    min_fleet: Option<usize>,
    critical_members: Option<usize>,
    critical_share: Option<Spanned<f64>>,
    systemic_members: Option<usize>,
    systemic_share: Option<Spanned<f64>>,
    clear_after: Option<Spanned<u32>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGovernance {
    autonomy: Option<bool>,
    automerge: Option<bool>,
    dry_run: Option<bool>,
    level: Option<Spanned<String>>,
    owners: Option<Vec<Spanned<String>>>,
    alert_repo: Option<Spanned<String>>,
    max_prs_per_day: Option<u32>,
    max_issues_per_hour: Option<u32>,
    max_comments_per_issue_per_day: Option<u32>,
    max_content_per_minute: Option<u32>,
    escalate_after: Option<Spanned<u32>>,
}

/// What one repository may override; a test command only for a local workspace's repository, the one kind whose
/// tests hive runs.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRepo {
    level: Option<Spanned<String>>,
    owners: Option<Vec<Spanned<String>>>,
    test_command: Option<Spanned<Vec<String>>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApi {
    bind: Option<Spanned<String>>,
    token_env: Option<Spanned<String>>,
    token_file: Option<Spanned<PathBuf>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLlm {
    endpoint: Spanned<String>,
    model: Spanned<String>,
    api_key_env: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRetention {
    cycles: Option<Spanned<usize>>,
    snapshots: Option<Spanned<usize>>,
}

/// A validated `hive.toml`: every value checked, relative paths taken from the file's directory.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FileSettings {
    /// `state_dir`.
    pub state_dir: Option<PathBuf>,
    /// `[targets]`.
    pub targets: Targets,
    /// `cycle.interval`, seconds.
    pub interval: Option<u64>,
    /// `cycle.test_timeout`, seconds.
    pub test_timeout: Option<u64>,
    /// `cycle.reconcile_every`, cycles.
    pub reconcile_every: Option<u32>,
    /// `[emergency]`, each threshold as its flag takes it.
    pub emergency: Emergency,
    /// `[governance]`.
    pub governance: Governance,
    /// `[orgs.NAME]` and `[repos."OWNER/NAME"]`: levels and owners.
    pub overrides: Overrides,
    /// `[orgs.NAME] include`, by organisation.
    pub org_includes: BTreeMap<String, Vec<String>>,
    /// `[orgs.NAME] exclude`, as `NAME/GLOB` globs.
    pub org_excludes: Vec<String>,
    /// `[orgs.NAME] token_env`, `token_file` or `installation_id`: the organisation's own GitHub credential.
    pub org_credentials: BTreeMap<String, OrgCredential>,
    /// `[repos."local/NAME"] test_command` by the repository's directory name, and `[orgs.local] test_command`.
    pub test_commands: crate::settings::TestCommands,
    /// `[api]`.
    pub api: Api,
    /// `[llm]`.
    pub llm: Option<Llm>,
    /// `retention.cycles`.
    pub keep_cycles: Option<usize>,
    /// `retention.snapshots`.
    pub keep_snapshots: Option<usize>,
    /// `[services.NAME]`: processes the hive keeps running beside the fleet, as its members.
    pub services: Vec<hive::ServiceSpec>,
    /// `[[sync]]`: files kept in step across repositories.
    pub syncs: Vec<hive::changes::SyncDecl>,
}

/// `[targets]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Targets {
    /// GitHub organisations.
    pub orgs: Option<Vec<String>>,
    /// GitHub users.
    pub users: Option<Vec<String>>,
    /// GitHub repositories, `owner/name`.
    pub repos: Option<Vec<String>>,
    /// A local workspace.
    pub workspace: Option<PathBuf>,
    /// Globs of repositories to keep.
    pub include: Option<Vec<String>>,
    /// Globs of repositories to skip.
    pub exclude: Option<Vec<String>>,
    /// Archived repositories, forks and templates too.
    pub all_kinds: Option<bool>,
}

/// `[emergency]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Emergency {
    /// `fleet_health_below`.
    pub fleet_health_below: Option<f64>,
    /// `min_fleet`.
    pub min_fleet: Option<usize>,
    /// `critical_members`.
    pub critical_members: Option<usize>,
    /// `critical_share`.
    pub critical_share: Option<f64>,
    /// `systemic_members`.
    pub systemic_members: Option<usize>,
    /// `systemic_share`.
    pub systemic_share: Option<f64>,
    /// `clear_after`.
    pub clear_after: Option<u32>,
}

/// `[governance]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Governance {
    /// `autonomy`.
    pub autonomy: Option<bool>,
    /// `automerge`.
    pub automerge: Option<bool>,
    /// `dry_run`.
    pub dry_run: Option<bool>,
    /// `level`.
    pub level: Option<ActionLevel>,
    /// `owners`.
    pub owners: Option<Vec<String>>,
    /// `alert_repo`.
    pub alert_repo: Option<String>,
    /// `max_prs_per_day`.
    pub max_prs_per_day: Option<u32>,
    /// `max_issues_per_hour`.
    pub max_issues_per_hour: Option<u32>,
    /// `max_comments_per_issue_per_day`.
    pub max_comments_per_issue_per_day: Option<u32>,
    /// `max_content_per_minute`.
    pub max_content_per_minute: Option<u32>,
    /// `escalate_after`.
    pub escalate_after: Option<u32>,
}

/// `[api]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Api {
    /// `bind`.
    pub bind: Option<SocketAddr>,
    /// Where the token is read from.
    pub token: Option<TokenSource>,
}

/// Where the API token comes from, with the position to blame when it cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// `token_env`: the variable named.
    Env { var: String, at: (usize, usize) },
    /// `token_file`: the file's first line.
    File { path: PathBuf, at: (usize, usize) },
}

/// `[llm]`: the language model the ORCHs (and so the autonomy loop's planning) think with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Llm {
    /// An OpenAI-compatible endpoint URL.
    pub endpoint: String,
    /// The model's name.
    pub model: String,
    /// The variable holding the API key.
    pub api_key_env: Option<String>,
}

/// Parses and validates `text`, the contents of `path`.
pub fn parse(path: &Path, text: &str) -> Result<FileSettings, FileError> {
    let raw: Raw = toml::from_str(text).map_err(|err| {
        let span = err.span();
        let (message, hint) = explain(err.message());
        Located { path, text }.error(span, message, hint)
    })?;
    Validator { at: Located { path, text }, base: path.parent().unwrap_or(Path::new(".")) }.validate(raw)
}

/// Turns the raw file into settings, blaming each bad value's position.
pub(super) struct Validator<'a> {
    at: Located<'a>,
    base: &'a Path,
}

impl Validator<'_> {
    pub(super) fn fail<T>(&self, span: &Range<usize>, message: String) -> Result<T, FileError> {
        Err(self.at.error(Some(span.clone()), message, None))
    }

    /// 1-based line and column of `span`'s start, kept with a value to blame it later.
    pub(super) fn position(&self, span: &Range<usize>) -> (usize, usize) {
        self.at.at(span)
    }

    fn path(&self, value: Spanned<PathBuf>) -> Result<PathBuf, FileError> {
        let span = value.span();
        let path = value.into_inner();
        if path.as_os_str().is_empty() {
            return self.fail(&span, "expected a path, got an empty string".to_owned());
        }
        Ok(self.base.join(path))
    }

    pub(super) fn logins(
        &self,
        values: Option<Vec<Spanned<String>>>,
        what: &str,
    ) -> Result<Option<Vec<String>>, FileError> {
        values
            .map(|values| {
                values
                    .into_iter()
                    .map(|v| match is_valid_owner(v.get_ref()) && !v.get_ref().contains('/') {
                        true => Ok(v.into_inner()),
                        false => self.fail(
                            &v.span(),
                            format!(
                                "invalid {what} '{}': expected a GitHub login such as acme",
                                v.get_ref().escape_debug()
                            ),
                        ),
                    })
                    .collect()
            })
            .transpose()
    }

    pub(super) fn owners(&self, values: Option<Vec<Spanned<String>>>) -> Result<Option<Vec<String>>, FileError> {
        values
            .map(|values| {
                values
                    .into_iter()
                    .map(|v| {
                        let owner = v.get_ref().trim().trim_start_matches('@');
                        match is_valid_owner(owner) {
                            true => Ok(owner.to_owned()),
                            false => self.fail(
                                &v.span(),
                                format!(
                                    "invalid owner '{}': expected a GitHub login (alice) or team (acme/core)",
                                    v.get_ref().escape_debug()
                                ),
                            ),
                        }
                    })
                    .collect()
            })
            .transpose()
    }

    pub(super) fn repo(&self, value: &Spanned<String>) -> Result<String, FileError> {
        match RepoId::new(value.get_ref().as_str()) {
            Ok(repo) => Ok(repo.to_string()),
            Err(err) => self.fail(
                &value.span(),
                format!("invalid repository '{}': {err}; expected owner/name", value.get_ref().escape_debug()),
            ),
        }
    }

    pub(super) fn globs(&self, values: Option<Vec<Spanned<String>>>) -> Result<Option<Vec<String>>, FileError> {
        values
            .map(|values| {
                values
                    .into_iter()
                    .map(|v| match globset::Glob::new(v.get_ref()) {
                        Ok(_) => Ok(v.into_inner()),
                        Err(err) => self.fail(
                            &v.span(),
                            format!(
                                "invalid glob '{}': {}; use patterns such as 'api-*' or 'acme/*'",
                                v.get_ref().escape_debug(),
                                err.kind()
                            ),
                        ),
                    })
                    .collect()
            })
            .transpose()
    }

    pub(super) fn level(&self, value: Option<Spanned<String>>) -> Result<Option<ActionLevel>, FileError> {
        let Some(value) = value else { return Ok(None) };
        match value.get_ref().parse::<ActionLevel>() {
            Ok(level) => Ok(Some(level)),
            Err(_) => Err(self.at.error(
                Some(value.span()),
                format!("invalid level '{}': expected one of log, issue, fix", value.get_ref().escape_debug()),
                hive::command::nearest(value.get_ref(), ["log", "issue", "fix"]).map(str::to_owned),
            )),
        }
    }

    fn share(&self, value: Option<Spanned<f64>>) -> Result<Option<f64>, FileError> {
        let Some(value) = value else { return Ok(None) };
        match *value.get_ref() {
            share if (0.0..=1.0).contains(&share) => Ok(Some(share)),
            share => self
                .fail(&value.span(), format!("invalid share '{share}': expected a share between 0 and 1, such as 0.1")),
        }
    }

    fn at_least<T: Copy + PartialOrd + fmt::Display>(
        &self,
        value: Option<Spanned<T>>,
        min: T,
        max: T,
        what: &str,
    ) -> Result<Option<T>, FileError> {
        let Some(value) = value else { return Ok(None) };
        match *value.get_ref() {
            n if n >= min && n <= max => Ok(Some(n)),
            n => self.fail(&value.span(), format!("invalid {what} '{n}': expected {min} to {max}")),
        }
    }

    fn env_name(&self, value: &Spanned<String>) -> Result<String, FileError> {
        let name = value.get_ref();
        let valid = !name.is_empty()
            && !name.starts_with(|c: char| c.is_ascii_digit())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        match valid {
            true => Ok(name.clone()),
            false => self.fail(
                &value.span(),
                format!(
                    "invalid variable name '{}': expected letters, digits and _, such as HIVE_API_TOKEN",
                    name.escape_debug()
                ),
            ),
        }
    }

    fn validate(&self, raw: Raw) -> Result<FileSettings, FileError> {
        let Raw { state_dir, targets, cycle, emergency, governance, orgs, repos, api, llm, retention, services, sync } =
            raw;
        let mut settings = FileSettings {
            state_dir: state_dir.map(|p| self.path(p)).transpose()?,
            targets: Targets {
                orgs: self.logins(targets.orgs, "organisation")?,
                users: self.logins(targets.users, "user")?,
                repos: targets.repos.map(|repos| repos.iter().map(|r| self.repo(r)).collect()).transpose()?,
                workspace: targets.workspace.map(|p| self.path(p)).transpose()?,
                include: self.globs(targets.include)?,
                exclude: self.globs(targets.exclude)?,
                all_kinds: targets.all_kinds,
            },
            interval: self.at_least(
                cycle.interval,
                *INTERVAL_SECS.start(),
                *INTERVAL_SECS.end(),
                "interval (seconds)",
            )?,
            test_timeout: self.at_least(cycle.test_timeout, 1, 86_400, "test timeout (seconds)")?,
            reconcile_every: self.at_least(cycle.reconcile_every, 1, 1000, "reconcile_every (cycles)")?,
            emergency: Emergency {
                fleet_health_below: self.share(emergency.fleet_health_below)?,
                min_fleet: emergency.min_fleet,
                critical_members: emergency.critical_members,
                critical_share: self.share(emergency.critical_share)?,
                systemic_members: emergency.systemic_members,
                systemic_share: self.share(emergency.systemic_share)?,
                clear_after: self.at_least(emergency.clear_after, 1, u32::MAX, "number of cycles")?,
            },
            governance: Governance {
                autonomy: governance.autonomy,
                automerge: governance.automerge,
                dry_run: governance.dry_run,
                level: self.level(governance.level)?,
                owners: self.owners(governance.owners)?,
                alert_repo: governance.alert_repo.map(|r| self.repo(&r)).transpose()?,
                max_prs_per_day: governance.max_prs_per_day,
                max_issues_per_hour: governance.max_issues_per_hour,
                max_comments_per_issue_per_day: governance.max_comments_per_issue_per_day,
                max_content_per_minute: governance.max_content_per_minute,
                escalate_after: self.at_least(governance.escalate_after, 1, u32::MAX, "number of failed fixes")?,
            },
            keep_cycles: self.at_least(retention.cycles, 1, usize::MAX, "number of cycles kept")?,
            keep_snapshots: self.at_least(retention.snapshots, 1, usize::MAX, "number of snapshots kept")?,
            ..FileSettings::default()
        };
        self.orgs(orgs, &mut settings)?;
        for (name, repo) in repos {
            let id = self.repo(&name)?;
            if let Some(argv) = repo.test_command {
                let dir = self.test_command_dir(&id, &argv)?;
                settings.test_commands.repos.insert(dir, argv.into_inner());
            }
            let rule = Override { level: self.level(repo.level)?, owners: self.owners(repo.owners)? };
            settings.overrides.repos.insert(id, rule);
        }
        settings.api = self.api(api)?;
        settings.llm = llm.map(|llm| self.llm(llm)).transpose()?;
        for (name, service) in services {
            settings.services.push(self.service(name, service)?);
        }
        settings.syncs = self.syncs(sync)?;
        Ok(settings)
    }

    /// The directory name of the local repository `id` whose test command `argv` is: only a local workspace's
    /// tests are run by hive (GitHub runs its own CI), and a command needs a program.
    fn test_command_dir(&self, id: &str, argv: &Spanned<Vec<String>>) -> Result<String, FileError> {
        let Some(dir) = id.strip_prefix(LOCAL_OWNER).and_then(|rest| rest.strip_prefix('/')) else {
            return self.fail(
                &argv.span(),
                format!(
                    "a test command applies to a local workspace's repositories ({LOCAL_OWNER}/NAME) only, not '{}': \
                     GitHub repositories are tested by their own CI",
                    id.escape_debug()
                ),
            );
        };
        self.test_argv(argv)?;
        Ok(dir.to_owned())
    }

    /// Checks that the organisation `login` whose test command `argv` is owns a local workspace's repositories
    /// (`local`), the only ones whose tests hive runs, and that the command has a program.
    pub(super) fn test_command_owner(&self, login: &str, argv: &Spanned<Vec<String>>) -> Result<(), FileError> {
        if login != LOCAL_OWNER {
            return self.fail(
                &argv.span(),
                format!(
                    "a test command applies to a local workspace's repositories only, so to the organisation \
                     '{LOCAL_OWNER}' ([orgs.{LOCAL_OWNER}]), not '{}': GitHub repositories are tested by their own CI",
                    login.escape_debug()
                ),
            );
        }
        self.test_argv(argv)
    }

    /// A command needs a program.
    fn test_argv(&self, argv: &Spanned<Vec<String>>) -> Result<(), FileError> {
        if argv.get_ref().first().is_none_or(|program| program.trim().is_empty()) {
            return self
                .fail(&argv.span(), "expected a program and its arguments, such as [\"make\", \"check\"]".to_owned());
        }
        Ok(())
    }

    fn api(&self, api: RawApi) -> Result<Api, FileError> {
        let bind = match api.bind {
            None => None,
            Some(bind) => match bind.get_ref().parse::<SocketAddr>() {
                Ok(addr) => Some(addr),
                Err(_) => {
                    return self.fail(
                        &bind.span(),
                        format!(
                            "invalid bind address '{}': expected IP:PORT such as 127.0.0.1:7878",
                            bind.get_ref().escape_debug()
                        ),
                    );
                }
            },
        };
        Ok(Api { bind, token: self.token_source(api.token_env, api.token_file)? })
    }

    /// Where a token is read from: a variable or a file, not both.
    pub(super) fn token_source(
        &self,
        token_env: Option<Spanned<String>>,
        token_file: Option<Spanned<PathBuf>>,
    ) -> Result<Option<TokenSource>, FileError> {
        Ok(match (token_env, token_file) {
            (Some(_), Some(file)) => {
                return self.fail(&file.span(), "give token_env or token_file, not both".to_owned());
            }
            (Some(var), None) => Some(TokenSource::Env { var: self.env_name(&var)?, at: self.at.at(&var.span()) }),
            (None, Some(file)) => {
                let at = self.at.at(&file.span());
                Some(TokenSource::File { path: self.path(file)?, at })
            }
            (None, None) => None,
        })
    }

    /// A service: its name a member id of its own (no `/`, which repositories have), its command an argument
    /// vector run without a shell, in `cwd` (default: the file's directory), checked as the keeper will check it.
    fn service(&self, name: Spanned<String>, raw: RawService) -> Result<hive::ServiceSpec, FileError> {
        let span = name.span();
        let name = name.into_inner();
        let usable = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
        if name.is_empty() || name.len() > 64 || !name.chars().all(usable) || name.starts_with('.') {
            return self.fail(
                &span,
                format!(
                    "invalid service name '{}': use 1 to 64 letters, digits and '-_.', such as web-api",
                    name.escape_debug()
                ),
            );
        }
        let command_span = raw.command.span();
        let cwd = match raw.cwd {
            Some(cwd) => self.path(cwd)?,
            None => self.base.to_path_buf(),
        };
        let mut spec = hive::ServiceSpec::new(&name, raw.command.into_inner(), cwd);
        for (key, value) in raw.env {
            spec = spec.env(key, value);
        }
        if let Some(log_file) = raw.log_file {
            spec = spec.log_file(self.path(log_file)?);
        }
        if let Err(err) = spec.validate() {
            return self.fail(&command_span, format!("invalid service '{name}': {err}"));
        }
        Ok(spec)
    }

    fn llm(&self, llm: RawLlm) -> Result<Llm, FileError> {
        let endpoint = llm.endpoint.get_ref();
        let host = endpoint.strip_prefix("https://").or_else(|| endpoint.strip_prefix("http://"));
        if host.is_none_or(|host| host.is_empty() || host.contains(char::is_whitespace) || host.contains('@')) {
            return self.fail(
                &llm.endpoint.span(),
                format!(
                    "invalid endpoint '{}': expected an http(s) URL without credentials, such as http://127.0.0.1:11434/v1",
                    endpoint.escape_debug()
                ),
            );
        }
        if endpoint.starts_with("https://") {
            return self.fail(
                &llm.endpoint.span(),
                format!(
                    "invalid endpoint '{}': this build speaks plain http to a language model, not TLS; use a local \
                     server (Ollama, llama.cpp, vLLM) or a TLS-terminating proxy on loopback, such as \
                     http://127.0.0.1:11434/v1",
                    endpoint.escape_debug()
                ),
            );
        }
        if llm.model.get_ref().trim().is_empty() {
            return self.fail(&llm.model.span(), "expected a model name, got an empty string".to_owned());
        }
        Ok(Llm {
            endpoint: endpoint.clone(),
            model: llm.model.get_ref().clone(),
            api_key_env: llm.api_key_env.map(|v| self.env_name(&v)).transpose()?,
        })
    }
}

impl Emergency {
    /// The thresholds laid over `base`.
    pub fn apply(&self, mut base: EmergencyConfig) -> EmergencyConfig {
        let set = |value: &mut f64, from: Option<f64>| *value = from.unwrap_or(*value);
        set(&mut base.fleet_health_below, self.fleet_health_below);
        set(&mut base.critical_share, self.critical_share);
        set(&mut base.systemic_share, self.systemic_share);
        base.min_fleet = self.min_fleet.unwrap_or(base.min_fleet);
        base.critical_members = self.critical_members.unwrap_or(base.critical_members);
        base.systemic_members = self.systemic_members.unwrap_or(base.systemic_members);
        base.clear_after = self.clear_after.unwrap_or(base.clear_after);
        base
    }
}
