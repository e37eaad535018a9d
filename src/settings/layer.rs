//! Precedence, one setting at a time: a flag given on the command line, else its environment variable, else the
//! configuration file, else the default. clap reads the variables too (for its help and its checks), but which one
//! is set is asked through `lookup`, so the order is tested without touching the process environment.

use std::{net::SocketAddr, path::Path};

use anyhow::{anyhow, bail};
use clap::ArgMatches;
use hive::{EmergencyConfig, cerebrum::governance::ActionLevel};
use serde::Serialize;
use serde_json::json;

use super::{
    FileSettings, LlmChoice, OrgCredential, Origin, Secret, Setting, TokenSource, WEBHOOK_RECONCILE_EVERY, setting, var,
};
use crate::cli::{RunArgs, ServeArgs};

/// The layers of one command's settings, and what each setting resolved to.
pub(super) struct Layer<'a> {
    matches: &'a ArgMatches,
    lookup: &'a dyn Fn(&str) -> Option<String>,
    file: Option<(&'a Path, &'a FileSettings)>,
    settings: Vec<Setting>,
    secrets: Vec<Secret>,
}

/// How a variable's text becomes a value, as clap parses the flag.
type Parse<T> = fn(&str) -> Option<T>;

impl<'a> Layer<'a> {
    pub(super) fn new(
        matches: &'a ArgMatches,
        lookup: &'a dyn Fn(&str) -> Option<String>,
        file: Option<(&'a Path, &'a FileSettings)>,
    ) -> Layer<'a> {
        Layer { matches, lookup, file, settings: Vec::new(), secrets: Vec::new() }
    }

    /// What was resolved: the settings, and the secrets among them.
    pub(super) fn into_parts(self) -> (Vec<Setting>, Vec<Secret>) {
        (self.settings, self.secrets)
    }

    fn given(&self, id: &str) -> bool {
        super::on_command_line(self.matches, id)
    }

    fn file_origin(&self) -> Origin {
        Origin::File { path: self.file.map(|(path, _)| path.to_path_buf()).unwrap_or_default() }
    }

    /// The file's value of a setting, when there is a file that sets it.
    fn file_value<T>(&self, read: impl Fn(&FileSettings) -> Option<T>) -> Option<T> {
        self.file.and_then(|(_, file)| read(file))
    }

    /// Resolves one setting into `value` (which holds clap's: the flag's, or the default) and records it.
    #[allow(clippy::too_many_arguments)]
    fn pick<T: Serialize>(
        &mut self,
        key: &str,
        id: &str,
        flag: &str,
        env: Option<(&str, Parse<T>)>,
        file: Option<T>,
        value: &mut T,
    ) -> anyhow::Result<()> {
        let origin = if self.given(id) {
            Origin::Flag { flag: flag.to_owned() }
        } else if let Some((name, raw, parse)) =
            env.and_then(|(name, parse)| Some((name, var(self.lookup, name)?, parse)))
        {
            *value = parse(&raw).ok_or_else(|| anyhow!("invalid {name} '{}' for {flag}", raw.escape_debug()))?;
            Origin::Env { var: name.to_owned() }
        } else if let Some(from_file) = file {
            *value = from_file;
            self.file_origin()
        } else {
            Origin::Default
        };
        self.settings.push(setting(key, value, origin));
        Ok(())
    }

    /// `hive run`'s settings.
    pub(super) fn run(&mut self, args: &mut RunArgs) -> anyhow::Result<()> {
        self.targets(args)?;
        self.org_credentials(args)?;
        let file = |read: fn(&FileSettings) -> Option<u64>| self.file_value(read);
        let test_timeout = file(|f| f.test_timeout);
        self.pick(
            "cycle.test_timeout",
            "test_timeout",
            "--test-timeout",
            None,
            test_timeout,
            &mut args.targets.test_timeout,
        )?;
        let reconcile = self.file_value(|f| f.reconcile_every.map(Some));
        self.pick(
            "cycle.reconcile_every",
            "reconcile_every",
            "--reconcile-every",
            Some(("HIVE_RECONCILE_EVERY", |s| s.trim().parse().ok().filter(|n| (1..=1000).contains(n)).map(Some))),
            reconcile,
            &mut args.reconcile_every,
        )?;
        self.default_reconcile(args, false);
        self.governance(args)?;
        self.emergency(args);
        if let Some((path, file)) = self.file {
            args.file.overrides = file.overrides.clone();
            args.file.emergency = file.emergency.clone();
            args.file.test_commands = file.test_commands.clone();
            let origin = Origin::File { path: path.to_path_buf() };
            for (scope, rules) in [("orgs", &file.overrides.owners), ("repos", &file.overrides.repos)] {
                for (name, rule) in rules {
                    // As TOML writes the key: `repos."acme/api"`.
                    let name = if name.contains('/') { format!("\"{name}\"") } else { name.clone() };
                    if let Some(level) = rule.level {
                        self.settings.push(setting(&format!("{scope}.{name}.level"), &level.as_str(), origin.clone()));
                    }
                    if let Some(owners) = &rule.owners {
                        self.settings.push(setting(&format!("{scope}.{name}.owners"), owners, origin.clone()));
                    }
                }
            }
            // A repository's own test command first; its organisation's holds for the rest.
            if let Some(argv) = &file.test_commands.org {
                let key = format!("orgs.{}.test_command", hive::forge::LOCAL_OWNER);
                self.settings.push(setting(&key, argv, origin.clone()));
            }
            for (dir, argv) in &file.test_commands.repos {
                let key = format!("repos.\"{}/{dir}\".test_command", hive::forge::LOCAL_OWNER);
                self.settings.push(setting(&key, argv, origin.clone()));
            }
        }
        let keep = |value: Option<usize>, default: usize| match value {
            Some(n) => (n, self.file_origin()),
            None => (default, Origin::Default),
        };
        let (cycles, cycles_from) = keep(self.file_value(|f| f.keep_cycles), args.file.keep_cycles);
        let (snapshots, snapshots_from) = keep(self.file_value(|f| f.keep_snapshots), args.file.keep_snapshots);
        (args.file.keep_cycles, args.file.keep_snapshots) = (cycles, snapshots);
        self.settings.push(setting("retention.cycles", &cycles, cycles_from));
        self.settings.push(setting("retention.snapshots", &snapshots, snapshots_from));
        if let Some(services) = self.file_value(|f| Some(f.services.clone()).filter(|s| !s.is_empty())) {
            let origin = self.file_origin();
            for spec in &services {
                self.settings.push(setting(&format!("services.{}.command", spec.name), &spec.argv, origin.clone()));
            }
            args.file.services = services;
        }
        if let Some(syncs) = self.file_value(|f| Some(f.syncs.clone()).filter(|s| !s.is_empty())) {
            let origin = self.file_origin();
            for decl in &syncs {
                let key = |field: &str| format!("sync.{}.{field}", decl.name);
                self.settings.push(setting(&key("source"), &decl.source, origin.clone()));
                self.settings.push(setting(&key("paths"), &decl.paths, origin.clone()));
                self.settings.push(setting(&key("targets"), &decl.targets, origin.clone()));
                self.settings.push(setting(&key("continuous"), &decl.continuous, origin.clone()));
            }
            args.file.syncs = syncs;
        }
        if let Some(llm) = self.file_value(|f| f.llm.clone()) {
            let origin = self.file_origin();
            self.settings.push(setting("llm.endpoint", &llm.endpoint, origin.clone()));
            self.settings.push(setting("llm.model", &llm.model, origin.clone()));
            if let Some(name) = &llm.api_key_env {
                let state = if var(self.lookup, name).is_some() { "set" } else { "not set" };
                self.settings.push(setting("llm.api_key_env", &format!("{name} ({state})"), origin));
            }
            let api_key = llm.api_key_env.as_deref().and_then(|name| var(self.lookup, name)).map(Secret);
            self.secrets.extend(api_key.clone());
            args.file.llm = Some(LlmChoice { endpoint: llm.endpoint, model: llm.model, api_key });
        }
        Ok(())
    }

    /// `hive serve`'s settings: `hive run`'s, the address and the API token.
    pub(super) fn serve(&mut self, args: &mut ServeArgs) -> anyhow::Result<()> {
        self.run(&mut args.run)?;
        // A server told of changes by webhook deliveries reads everything only every twelfth cycle.
        self.default_reconcile(&mut args.run, var(self.lookup, "HIVE_GITHUB_WEBHOOK_SECRET").is_some());
        let bind = self.file_value(|f| f.api.bind);
        self.pick(
            "api.bind",
            "bind",
            "--bind",
            Some(("HIVE_BIND", |s| s.trim().parse::<SocketAddr>().ok())),
            bind,
            &mut args.bind,
        )?;
        let (token, origin) = match (var(self.lookup, "HIVE_API_TOKEN"), self.file_value(|f| f.api.token.clone())) {
            (Some(token), _) => (Some(token), Origin::Env { var: "HIVE_API_TOKEN".to_owned() }),
            (None, Some(source)) => (Some(self.token(&source, "api")?), self.file_origin()),
            (None, None) => (None, Origin::Default),
        };
        let shown = token.as_ref().map(|_| "[REDACTED]");
        self.settings.push(setting("api.token", &shown, origin));
        args.token = token.map(Secret);
        self.secrets.extend(args.token.clone());
        Ok(())
    }

    /// `cycle.reconcile_every` when nothing set it: 1, or 12 for a server that takes webhook deliveries.
    fn default_reconcile(&mut self, args: &mut RunArgs, webhooks: bool) {
        let defaulted = |s: &Setting| s.key == "cycle.reconcile_every" && s.origin == Origin::Default;
        let Some(setting) = self.settings.iter_mut().find(|s| defaulted(s)) else { return };
        let every = if webhooks { WEBHOOK_RECONCILE_EVERY } else { 1 };
        args.reconcile_every = Some(every);
        setting.value = json!(every);
    }

    /// Where in the file `key` is, for an error about its value.
    fn blame(&self, (line, column): (usize, usize), key: &str) -> String {
        let path = self.file.map(|(path, _)| path.display().to_string()).unwrap_or_default();
        format!("invalid configuration '{path}:{line}:{column}' at key '{key}'")
    }

    /// The token the file points at, in the table `scope` (`api`, `orgs.NAME`): a variable's value or a file's first
    /// line, neither empty.
    fn token(&self, source: &TokenSource, scope: &str) -> anyhow::Result<String> {
        match source {
            TokenSource::Env { var: name, at } => var(self.lookup, name).ok_or_else(|| {
                anyhow!(
                    "{}: the variable '{name}' is not set or is empty; export it or remove token_env",
                    self.blame(*at, &format!("{scope}.token_env"))
                )
            }),
            TokenSource::File { path: token_file, at } => {
                let blame = self.blame(*at, &format!("{scope}.token_file"));
                let read = hive_support::read_bounded(token_file, 64 * 1024)
                    .map_err(|err| err.to_string())
                    .and_then(|bytes| String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_owned()));
                let token = read.as_deref().map(|text| text.lines().next().unwrap_or("").trim().to_owned());
                match token {
                    Ok(token) if !token.is_empty() => Ok(token),
                    Ok(_) => bail!("{blame}: '{}' is empty; put the token on its first line", token_file.display()),
                    Err(err) => bail!("{blame}: cannot read '{}': {err}", token_file.display()),
                }
            }
        }
    }

    /// The organisations' own GitHub credentials: each token read and checked, each installation's app key read, so
    /// a bad one stops the command before anything is sent. `config check` shows where each comes from, never the
    /// token, and every token read is a secret from then on.
    fn org_credentials(&mut self, args: &mut RunArgs) -> anyhow::Result<()> {
        let Some((path, file)) = self.file else { return Ok(()) };
        let origin = Origin::File { path: path.to_path_buf() };
        for (owner, credential) in &file.org_credentials {
            let scope = format!("orgs.{owner}");
            let (auth, shown) = match credential {
                OrgCredential::Token(source) => {
                    let token = self.token(source, &scope)?.trim().to_owned();
                    let (key, at, shown) = match source {
                        TokenSource::Env { var, at } => ("token_env", at, format!("token from the variable {var}")),
                        TokenSource::File { path, at } => {
                            ("token_file", at, format!("token from the file {}", path.display()))
                        }
                    };
                    self.secrets.push(Secret(token.clone()));
                    let checked = hive::forge::GitHubAuth::token("the token", token)
                        .map_err(|err| anyhow!("{}: {}", self.blame(*at, &format!("{scope}.{key}")), message(err)))?;
                    (checked, shown)
                }
                OrgCredential::Installation { id, at } => {
                    let auth = hive::forge::GitHubAuth::app_installation(self.lookup, *id).map_err(|err| {
                        anyhow!("{}: {}", self.blame(*at, &format!("{scope}.installation_id")), message(err))
                    })?;
                    (auth, format!("GitHub App installation {id}"))
                }
            };
            self.settings.push(setting(&format!("{scope}.credential"), &shown, origin.clone()));
            args.file.org_credentials.push((owner.clone(), auth));
        }
        Ok(())
    }

    /// What to watch: the targets as one group (flags for any of them replace the file's), then the filters.
    fn targets(&mut self, args: &mut RunArgs) -> anyhow::Result<()> {
        let ids = [("orgs", "--org"), ("users", "--user"), ("repos", "--repo"), ("workspace", "--workspace")];
        let flagged = ids.iter().any(|(id, _)| self.given(id));
        let targets = self.file_value(|f| Some(f.targets.clone())).filter(|_| !flagged).unwrap_or_default();
        let origin = |from_file: bool, id: &str, flag: &str| {
            if self.given(id) {
                Origin::Flag { flag: flag.to_owned() }
            } else if from_file {
                self.file_origin()
            } else {
                Origin::Default
            }
        };
        let mut recorded = Vec::new();
        for (file_value, value, (id, flag)) in [
            (targets.orgs, &mut args.targets.orgs, ids[0]),
            (targets.users, &mut args.targets.users, ids[1]),
            (targets.repos, &mut args.targets.repos, ids[2]),
        ] {
            let from_file = file_value.is_some();
            if let Some(file_value) = file_value {
                *value = file_value;
            }
            recorded.push(setting(&format!("targets.{id}"), value, origin(from_file, id, flag)));
        }
        let from_file = targets.workspace.is_some();
        if let Some(dir) = targets.workspace {
            args.targets.workspace = Some(dir);
        }
        recorded.push(setting(
            "targets.workspace",
            &args.targets.workspace,
            origin(from_file, "workspace", "--workspace"),
        ));
        self.settings.extend(recorded);
        let (include, exclude) =
            (self.file_value(|f| f.targets.include.clone()), self.file_value(|f| f.targets.exclude.clone()));
        self.pick("targets.include", "include", "--include", None, include, &mut args.targets.include)?;
        self.pick("targets.exclude", "exclude", "--exclude", None, exclude, &mut args.targets.exclude)?;
        // An organisation's own filters hold whatever the global one says.
        if let Some((path, file)) = self.file.filter(|(_, f)| !f.org_includes.is_empty()) {
            args.file.org_includes = file.org_includes.clone();
            for (org, globs) in &file.org_includes {
                self.settings.push(setting(
                    &format!("orgs.{org}.include"),
                    globs,
                    Origin::File { path: path.to_path_buf() },
                ));
            }
        }
        if let Some((path, file)) = self.file.filter(|(_, f)| !f.org_excludes.is_empty()) {
            args.targets.exclude.extend(file.org_excludes.iter().cloned());
            self.settings.push(setting(
                "orgs.*.exclude",
                &file.org_excludes,
                Origin::File { path: path.to_path_buf() },
            ));
        }
        let all_kinds = self.file_value(|f| f.targets.all_kinds);
        self.pick("targets.all_kinds", "all_kinds", "--all-kinds", None, all_kinds, &mut args.targets.all_kinds)
    }

    fn governance(&mut self, args: &mut RunArgs) -> anyhow::Result<()> {
        let a = &mut args.autonomy;
        let file = self.file.map(|(_, f)| f.governance.clone()).unwrap_or_default();
        let boolean: Parse<bool> = |s| match s.trim().to_ascii_lowercase().as_str() {
            "y" | "yes" | "t" | "true" | "on" | "1" => Some(true),
            "n" | "no" | "f" | "false" | "off" | "0" => Some(false),
            _ => None,
        };
        let count: Parse<u32> = |s| s.trim().parse().ok();
        let level: Parse<String> = |s| s.trim().parse::<ActionLevel>().ok().map(|l| l.as_str().to_owned());
        let owners: Parse<Vec<String>> =
            |s| Some(s.split(',').map(|o| o.trim().to_owned()).filter(|o| !o.is_empty()).collect());
        let text: Parse<Option<String>> = |s| Some(Some(s.to_owned()));
        self.pick(
            "governance.autonomy",
            "autonomy",
            "--autonomy",
            Some(("HIVE_AUTONOMY_ENABLED", boolean)),
            file.autonomy,
            &mut a.autonomy,
        )?;
        self.pick(
            "governance.automerge",
            "automerge",
            "--automerge",
            Some(("HIVE_AUTOMERGE", boolean)),
            file.automerge,
            &mut a.automerge,
        )?;
        self.pick(
            "governance.dry_run",
            "dry_run",
            "--dry-run",
            Some(("HIVE_DRY_RUN", boolean)),
            file.dry_run,
            &mut a.dry_run,
        )?;
        let file_level = file.level.map(|l| l.as_str().to_owned());
        self.pick(
            "governance.level",
            "level",
            "--level",
            Some(("HIVE_ACTION_LEVEL", level)),
            file_level,
            &mut a.level,
        )?;
        self.pick("governance.owners", "owners", "--owner", Some(("HIVE_OWNERS", owners)), file.owners, &mut a.owners)?;
        let alert_repo = file.alert_repo.map(Some);
        self.pick(
            "governance.alert_repo",
            "alert_repo",
            "--alert-repo",
            Some(("HIVE_ALERT_REPO", text)),
            alert_repo,
            &mut a.alert_repo,
        )?;
        for (key, id, var, file_value, value) in [
            (
                "governance.max_prs_per_day",
                "max_prs_per_day",
                "HIVE_MAX_PRS_PER_DAY",
                file.max_prs_per_day,
                &mut a.max_prs_per_day,
            ),
            (
                "governance.max_issues_per_hour",
                "max_issues_per_hour",
                "HIVE_MAX_ISSUES_PER_HOUR",
                file.max_issues_per_hour,
                &mut a.max_issues_per_hour,
            ),
            (
                "governance.max_comments_per_issue_per_day",
                "max_comments_per_issue_per_day",
                "HIVE_MAX_COMMENTS_PER_ISSUE_PER_DAY",
                file.max_comments_per_issue_per_day,
                &mut a.max_comments_per_issue_per_day,
            ),
            (
                "governance.max_content_per_minute",
                "max_content_per_minute",
                "HIVE_MAX_CONTENT_PER_MINUTE",
                file.max_content_per_minute,
                &mut a.max_content_per_minute,
            ),
        ] {
            let flag = format!("--{}", id.replace('_', "-"));
            self.pick(key, id, &flag, Some((var, count)), file_value, value)?;
        }
        self.pick(
            "governance.escalate_after",
            "escalate_after",
            "--escalate-after",
            None,
            file.escalate_after,
            &mut a.escalate_after,
        )
    }

    /// The emergency thresholds: a flag or its variable is kept as text for `config::emergency` to check and name;
    /// the file's values are the base it is laid over.
    fn emergency(&mut self, args: &mut RunArgs) {
        let file = self.file.map(|(_, f)| f.emergency.clone()).unwrap_or_default();
        let e = &mut args.emergency;
        let file_json = |v: Option<f64>| v.map(|v| json!(v));
        let file_count = |v: Option<usize>| v.map(|v| json!(v));
        let d = EmergencyConfig::default();
        for (name, value, from_file, default) in [
            (
                "fleet_health_below",
                &mut e.emergency_fleet_health_below,
                file_json(file.fleet_health_below),
                json!(d.fleet_health_below),
            ),
            ("min_fleet", &mut e.emergency_min_fleet, file_count(file.min_fleet), json!(d.min_fleet)),
            (
                "critical_members",
                &mut e.emergency_critical_members,
                file_count(file.critical_members),
                json!(d.critical_members),
            ),
            (
                "critical_share",
                &mut e.emergency_critical_share,
                file_json(file.critical_share),
                json!(d.critical_share),
            ),
            (
                "systemic_members",
                &mut e.emergency_systemic_members,
                file_count(file.systemic_members),
                json!(d.systemic_members),
            ),
            (
                "systemic_share",
                &mut e.emergency_systemic_share,
                file_json(file.systemic_share),
                json!(d.systemic_share),
            ),
            ("clear_after", &mut e.emergency_clear_after, file.clear_after.map(|v| json!(v)), json!(d.clear_after)),
        ] {
            let id = format!("emergency_{name}");
            let env_name = format!("HIVE_EMERGENCY_{}", name.to_ascii_uppercase());
            let (shown, origin) = if self.given(&id) {
                (json!(value), Origin::Flag { flag: format!("--{}", id.replace('_', "-")) })
            } else if let Some(raw) = var(self.lookup, &env_name) {
                *value = Some(raw.clone());
                (json!(raw), Origin::Env { var: env_name })
            } else if let Some(from_file) = from_file {
                // Left unset: the file's value is the base the flags are laid over.
                *value = None;
                (from_file, self.file_origin())
            } else {
                *value = None;
                (default, Origin::Default)
            };
            self.settings.push(Setting { key: format!("emergency.{name}"), value: shown, origin });
        }
    }
}

/// What a GitHub configuration error says, without the prefix naming GitHub's configuration: the file's position
/// takes its place.
fn message(err: hive::forge::GitHubError) -> String {
    match err {
        hive::forge::GitHubError::Config { message } => message,
        other => other.to_string(),
    }
}
