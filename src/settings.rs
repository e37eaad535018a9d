//! The configuration as a whole: `hive.toml` found and validated (`file.rs`, with `[orgs.NAME]` in `orgs.rs` and
//! `[[sync]]` in `sync.rs`), laid under the environment and the
//! flags (`layer.rs`: flag > environment > file > default), and shown with each value's origin by `hive config
//! check` (`check.rs`). It runs once in `main`, before any command, and writes what it resolved into the parsed
//! arguments and [`EnvConfig`], so every command (`hive run` and `hive serve` through `RunPlan::resolve`) sees one
//! configuration without knowing where it came from.

mod check;
mod file;
mod layer;
mod orgs;
mod sync;

#[cfg(test)]
mod tests;

use std::{
    fmt, io,
    path::{Path, PathBuf},
    time::Duration,
};

use clap::{ArgMatches, parser::ValueSource};
use hive::actors::Overrides;
use serde::Serialize;

use crate::{
    cli::{Cli, Command, ConfigCommand},
    config::{EnvConfig, OrUsage, UsageError},
    resolve::DEFAULT_INTERVAL,
};

pub use self::{
    check::print as check,
    file::{FileError, FileSettings, TokenSource},
    orgs::OrgCredential,
};

/// Cycle summaries kept under `<state>/cycles/` unless the file says otherwise (a cycle a minute: about 8 hours).
pub const DEFAULT_KEEP_CYCLES: usize = 500;
/// Emergency snapshots kept under `<state>/snapshots/` unless the file says otherwise.
pub const DEFAULT_KEEP_SNAPSHOTS: usize = 100;
/// The largest configuration file read: far above any real one, so a wrong path cannot fill memory.
const MAX_FILE_BYTES: u64 = 1 << 20;
/// `cycle.reconcile_every` under `hive serve` with webhook deliveries: a full read every twelfth cycle (every 12
/// minutes at the default interval), to catch what no delivery said.
pub const WEBHOOK_RECONCILE_EVERY: u32 = 12;

/// A secret setting (the API token): its `Debug` never shows it, and the binary's redactor knows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// A secret read from the environment (the webhook secret), which the redactor knows through
    /// [`SECRET_VARS`](crate::terminal::SECRET_VARS).
    pub fn new(value: String) -> Secret {
        Secret(value)
    }

    /// The value, for the one place that compares it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([REDACTED])")
    }
}

/// What only the configuration file sets (no flag or variable), carried in `RunArgs` to `RunPlan::resolve`.
#[derive(Debug, Clone, PartialEq)]
pub struct FileOnly {
    /// Per-organisation and per-repository action levels and owners.
    pub overrides: Overrides,
    /// The file's emergency thresholds: the base the flags and their variables are laid over.
    pub emergency: file::Emergency,
    /// Cycle summaries kept.
    pub keep_cycles: usize,
    /// Emergency snapshots kept.
    pub keep_snapshots: usize,
    /// Per organisation: keep only its repositories matching one of these globs.
    pub org_includes: std::collections::BTreeMap<String, Vec<String>>,
    /// Test commands of a local workspace's repositories, run instead of the detected ones.
    pub test_commands: TestCommands,
    /// The language model the ORCHs think with (`[llm]`); the rules when `None`.
    pub llm: Option<LlmChoice>,
    /// The services the hive keeps running (`[services.NAME]`).
    pub services: Vec<hive::ServiceSpec>,
    /// Files kept in step across repositories (`[[sync]]`).
    pub syncs: Vec<hive::changes::SyncDecl>,
    /// Organisations with a GitHub credential of their own (`[orgs.NAME] token_env`, `token_file`,
    /// `installation_id`), read and checked.
    pub org_credentials: Vec<(String, hive::forge::GitHubAuth)>,
}

/// The test commands a local workspace's repositories run instead of the detected ones: a repository's own
/// (`[repos."local/NAME"] test_command`) before its organisation's (`[orgs.local] test_command`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TestCommands {
    /// By the repository's directory name.
    pub repos: std::collections::BTreeMap<String, Vec<String>>,
    /// For every repository without its own.
    pub org: Option<Vec<String>>,
}

/// The `[llm]` section as the run uses it: the key read from the variable it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LlmChoice {
    /// The OpenAI-compatible base URL.
    pub endpoint: String,
    /// The model's name.
    pub model: String,
    /// The key, when the named variable is set.
    pub api_key: Option<Secret>,
}

impl Default for FileOnly {
    fn default() -> FileOnly {
        FileOnly {
            overrides: Overrides::default(),
            emergency: file::Emergency::default(),
            keep_cycles: DEFAULT_KEEP_CYCLES,
            keep_snapshots: DEFAULT_KEEP_SNAPSHOTS,
            org_includes: std::collections::BTreeMap::new(),
            test_commands: TestCommands::default(),
            llm: None,
            services: Vec::new(),
            syncs: Vec::new(),
            org_credentials: Vec::new(),
        }
    }
}

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum Origin {
    /// hive's default.
    Default,
    /// The configuration file.
    File {
        /// Its path.
        path: PathBuf,
    },
    /// An environment variable.
    Env {
        /// Its name.
        var: String,
    },
    /// A command-line flag.
    Flag {
        /// As typed: `--level`.
        flag: String,
    },
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File { path } => write!(f, "file {}", path.display()),
            Origin::Env { var } => write!(f, "env {var}"),
            Origin::Flag { flag } => write!(f, "flag {flag}"),
        }
    }
}

/// One setting as resolved: its dotted key (as in `hive.toml`), its value (secrets redacted) and its origin.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Setting {
    /// The key, as in `hive.toml`.
    pub key: String,
    /// The value; a secret is `"[REDACTED]"`.
    pub value: serde_json::Value,
    /// Where it came from.
    pub origin: Origin,
}

/// The configuration as resolved, for `hive config check`.
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    /// The configuration file read, and how it was named; `None` when there is none.
    pub file: Option<(PathBuf, Origin)>,
    /// Every setting the command uses, in the order `hive.toml` lists them.
    pub settings: Vec<Setting>,
    /// The secrets resolved (the API token), for the redactor.
    pub secrets: Vec<Secret>,
}

impl Resolved {
    /// The setting `key`, if the command uses it.
    #[cfg(test)]
    pub fn get(&self, key: &str) -> Option<&Setting> {
        self.settings.iter().find(|s| s.key == key)
    }
}

/// Finds and reads the configuration file, then resolves every setting the command uses into `cli` and `env`;
/// `matches` tells flags given from defaults, `lookup` reads the environment. Every error is a [`UsageError`].
pub fn resolve(
    cli: &mut Cli,
    env: &mut EnvConfig,
    matches: &ArgMatches,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Resolved> {
    let leaf = leaf(matches);
    let given = |id: &str| [matches, leaf].iter().any(|m| on_command_line(m, id));
    let explicit = given("config").then(|| cli.config.clone()).flatten();
    let located = locate(explicit.as_deref(), lookup)?;
    let loaded = match &located {
        Some((path, origin)) => load(path, !matches!(origin, Origin::Default))
            .map_err(|err| UsageError::error(err.to_string()))?
            .map(|settings| (path.clone(), settings)),
        None => None,
    };
    let (file_path, file) = match &loaded {
        Some((path, settings)) => (Some(path.as_path()), Some(settings)),
        None => (None, None),
    };
    let mut resolved =
        Resolved { file: loaded.as_ref().zip(located).map(|(_, located)| located), ..Resolved::default() };

    // The state directory: flag, variable, file, default.
    let flag = given("state_dir").then(|| cli.state_dir_flag.clone()).flatten();
    let (state_dir, origin) = state_dir(flag, lookup, file_path.zip(file.and_then(|f| f.state_dir.clone())))?;
    cli.state_dir = state_dir;
    resolved.settings.push(setting("state_dir", &cli.state_dir, origin));

    // The cycle interval: ORCHESTRATION_INTERVAL (read into `env` already), file, default.
    let origin = match (env.orchestration_interval, file.and_then(|f| f.interval).zip(file_path)) {
        (Some(_), _) => Origin::Env { var: "ORCHESTRATION_INTERVAL".to_owned() },
        (None, Some((secs, path))) => {
            env.orchestration_interval = Some(Duration::from_secs(secs));
            Origin::File { path: path.to_path_buf() }
        }
        (None, None) => Origin::Default,
    };
    let interval = env.orchestration_interval.unwrap_or(DEFAULT_INTERVAL);
    let seconds = match interval.subsec_nanos() {
        0 => serde_json::json!(interval.as_secs()),
        _ => serde_json::json!(interval.as_secs_f64()),
    };
    resolved.settings.push(setting("cycle.interval", &seconds, origin));

    let mut layer = layer::Layer::new(leaf, lookup, file_path.zip(file));
    match &mut cli.command {
        Command::Run(args) => layer.run(args).or_usage()?,
        Command::Serve(args) => layer.serve(args).or_usage()?,
        Command::EmergencyScan(args) | Command::HealthAudit(args) => {
            let mut run = crate::scan_cmd::as_run(args);
            layer.run(&mut run).or_usage()?;
            crate::scan_cmd::absorb(args, run);
        }
        // `hive sync` acts on the declarations; `config check` shows them with the rest of `run`'s settings.
        Command::Sync(args) => {
            args.decls = file.map(|f| f.syncs.clone()).unwrap_or_default();
            // The fleet the file watches, unless the command names one.
            if let (Some(fleet), Some(file)) = (args.command.fleet_mut(), file)
                && fleet.workspace.is_none()
                && fleet.orgs.is_empty()
                && fleet.users.is_empty()
            {
                fleet.workspace = file.targets.workspace.clone();
                fleet.orgs = file.targets.orgs.clone().unwrap_or_default();
                fleet.users = file.targets.users.clone().unwrap_or_default();
            }
        }
        Command::Config(args) => match &mut args.command {
            ConfigCommand::Check(args) => layer.serve(args).or_usage()?,
        },
        _ => {}
    }
    let (settings, secrets) = layer.into_parts();
    resolved.settings.extend(settings);
    resolved.secrets = secrets;
    Ok(resolved)
}

/// Whether the argument `id` was given on the command line of `matches`. Only arguments present are asked for their
/// source: clap panics (in debug builds) when asked about an id its command does not define, such as a global
/// flag's in the matches of `ecosystem <id> start`, which clap hands over unparsed.
pub fn on_command_line(matches: &ArgMatches, id: &str) -> bool {
    matches.ids().any(|present| present.as_str() == id) && matches.value_source(id) == Some(ValueSource::CommandLine)
}

/// The innermost subcommand's matches (`run`, `serve`, `config check`), where its flags are.
fn leaf(matches: &ArgMatches) -> &ArgMatches {
    let mut leaf = matches;
    while let Some((_, sub)) = leaf.subcommand() {
        leaf = sub;
    }
    leaf
}

fn setting(key: &str, value: &impl Serialize, origin: Origin) -> Setting {
    Setting { key: key.to_owned(), value: serde_json::to_value(value).unwrap_or_default(), origin }
}

/// A variable's value, when set to something other than blanks.
fn var(lookup: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    lookup(name).filter(|value| !value.trim().is_empty())
}

/// `$XDG_<NAME>` when set to an absolute path (the XDG specification ignores relative ones), else `$HOME/<fallback>`.
fn xdg(lookup: &dyn Fn(&str) -> Option<String>, name: &str, fallback: &str) -> Option<PathBuf> {
    var(lookup, name)
        .map(PathBuf::from)
        .filter(|path| path.is_absolute())
        .or_else(|| var(lookup, "HOME").map(|home| Path::new(&home).join(fallback)))
}

/// The configuration file to read and how it was named: `--config`, else `HIVE_CONFIG` (both must exist), else
/// `$XDG_CONFIG_HOME/hive/hive.toml` or `~/.config/hive/hive.toml` (origin [`Origin::Default`], read only when it
/// exists).
pub fn locate(
    flag: Option<&Path>,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Option<(PathBuf, Origin)>> {
    if let Some(path) = flag {
        return Ok(Some((path.to_path_buf(), Origin::Flag { flag: "--config".to_owned() })));
    }
    if let Some(path) = var(lookup, "HIVE_CONFIG") {
        return Ok(Some((PathBuf::from(path), Origin::Env { var: "HIVE_CONFIG".to_owned() })));
    }
    Ok(xdg(lookup, "XDG_CONFIG_HOME", ".config").map(|dir| (dir.join("hive").join("hive.toml"), Origin::Default)))
}

/// Reads and validates the file at `path`; a missing file is no configuration unless it was named `explicitly`.
pub fn load(path: &Path, explicitly: bool) -> Result<Option<FileSettings>, FileError> {
    let unreadable = |message: String| FileError { path: path.to_path_buf(), at: None, key: None, message, hint: None };
    // At the default place, a file this user cannot even see (a home directory not theirs, as under `setpriv`) is no
    // file; one that is there but cannot be read is an error, not a configuration silently ignored.
    if !explicitly && !path.try_exists().unwrap_or(false) {
        return Ok(None);
    }
    let bytes = match hive_support::read_bounded(path, MAX_FILE_BYTES) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == io::ErrorKind::NotFound && !explicitly => return Ok(None),
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            return Err(unreadable("no such file; check the path given to --config or HIVE_CONFIG".to_owned()));
        }
        Err(err) => return Err(unreadable(format!("cannot read it: {err}"))),
    };
    let text = String::from_utf8(bytes).map_err(|_| unreadable("not UTF-8 text; TOML files are UTF-8".to_owned()))?;
    file::parse(path, &text).map(Some)
}

/// The state directory: `--state-dir`, else `HIVE_STATE_DIR`, else the file's `state_dir`, else
/// `$XDG_STATE_HOME/hive` or `~/.local/state/hive`.
fn state_dir(
    flag: Option<PathBuf>,
    lookup: &dyn Fn(&str) -> Option<String>,
    file: Option<(&Path, PathBuf)>,
) -> anyhow::Result<(PathBuf, Origin)> {
    if let Some(dir) = flag {
        return Ok((dir, Origin::Flag { flag: "--state-dir".to_owned() }));
    }
    if let Some(dir) = var(lookup, "HIVE_STATE_DIR") {
        return Ok((PathBuf::from(dir), Origin::Env { var: "HIVE_STATE_DIR".to_owned() }));
    }
    if let Some((path, dir)) = file {
        return Ok((dir, Origin::File { path: path.to_path_buf() }));
    }
    match xdg(lookup, "XDG_STATE_HOME", ".local/state") {
        Some(dir) => Ok((dir.join("hive"), Origin::Default)),
        None => Err(UsageError::error(
            "no state directory: neither XDG_STATE_HOME nor HOME is set; give --state-dir DIR or HIVE_STATE_DIR",
        )),
    }
}
