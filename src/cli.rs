//! Command-line arguments, as clap parses them. Doc comments are the help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

mod agents;
mod change;
mod sync;
mod validate;

pub use self::agents::{AgentsArgs, AgentsCommand, PublishArgs, SpawnArgs, SpawnCommand};
pub use self::change::{ChangeArgs, ChangeCommand, ChangeLimits, ChangeRequestArgs, FleetArgs, OperationArgs};
pub use self::sync::{SyncArgs, SyncCommand};
pub use self::validate::{ValidateArgs, ValidateFailOn};

/// Examples, by what they are for, after the subcommands in `hive --help`.
const EXAMPLES: &str = "\
Watch and act:
  hive run --workspace ~/src                       a directory of git repositories, offline
  hive run --org acme --autonomy                   GitHub, writing what governance allows
  HIVE_API_TOKEN=... hive serve --org acme         the same, with the HTTP API on 127.0.0.1:7878

One look, for cron and CI (exit 3 on findings):
  hive emergency-scan --org acme                   the emergency triggers, evaluated once
  hive health-audit --workspace ~/src --json       every score with its components
  hive run --once --org acme --fail-on emergency   one cycle of the whole loop
  hive single acme/api status                      one repository's score, explained
  hive single acme/api cycle                       one repository through the loop

Steer a running hive serve:
  hive status                                      the fleet as it sees it
  hive command pause acme/api                      any text command (HIVE_API_TOKEN to change things)

Records:
  hive backlog | hive audit verify | hive approve <ID> --hours 4

Check code:
  hive validate . --fail-on error                  the repository's own linters, exit 3 unless it passes

Exit codes: 0 ok, 1 runtime failure, 2 usage or configuration error, 3 findings.
Shell completions: hive completions bash|zsh|fish|elvish|powershell";

/// hive: a tireless co-maintainer for fleets of repositories.
#[derive(Debug, Parser)]
#[command(name = "hive", version, about, propagate_version = true, after_help = EXAMPLES)]
pub struct Cli {
    /// Print machine-readable JSON on stdout, and nothing else on stdout.
    #[arg(long, global = true)]
    pub json: bool,

    /// More log output on stderr (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Directory for hive state: database, exports, snapshots [env: HIVE_STATE_DIR] [default: $XDG_STATE_HOME/hive,
    /// else ~/.local/state/hive].
    #[arg(long = "state-dir", id = "state_dir", global = true, value_name = "DIR")]
    pub state_dir_flag: Option<PathBuf>,

    /// The configuration file [env: HIVE_CONFIG] [default: $XDG_CONFIG_HOME/hive/hive.toml, else
    /// ~/.config/hive/hive.toml, when it exists]; see `examples/hive.toml`.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// The state directory in use: `--state-dir`, else `HIVE_STATE_DIR`, else the configuration file's, else the
    /// default (resolved by `settings`).
    #[arg(skip)]
    pub state_dir: PathBuf,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a simulated fleet through the real queen and pilots (offline, no token).
    Demo(DemoArgs),
    /// Watch a fleet: GitHub repositories (`--org`, `--user`, `--repo`) or a local directory of git repositories
    /// (`--workspace DIR`).
    Run(RunArgs),
    /// Run the hive as `run` does, and serve its HTTP API on loopback: `GET /api/health`, `GET /api/status`,
    /// `POST /api/command` (commands that change anything need `Authorization: Bearer $HIVE_API_TOKEN`), and
    /// GitHub's webhook deliveries at `POST /api/github/webhook` when `HIVE_GITHUB_WEBHOOK_SECRET` is set.
    Serve(ServeArgs),
    /// Manage imported repositories: import, list, show, remove, services, build waves, mirrors.
    Ecosystem(EcosystemArgs),
    /// One GitHub repository: `hive single owner/name status` prints its health and the score's breakdown.
    Single(SingleArgs),
    /// The hash-chained audit trail of everything hive decided and wrote: verify it, export it.
    Audit(AuditArgs),
    /// The backlog of work hive found: list it (from `backlog.json`, else the database), or validate an export.
    Backlog(BacklogArgs),
    /// Approve risky work (a backlog item id or a write key) for a while, so the autonomy loop may act on it.
    Approve(ApproveArgs),
    /// Read the fleet once and evaluate the emergency triggers: prints the causes, exit 3 when one holds. Acts on
    /// nothing.
    EmergencyScan(ScanArgs),
    /// Read the fleet once and print every repository's score with its components (`--json` for the reasons).
    /// Acts on nothing.
    HealthAudit(ScanArgs),
    /// The fleet as a running `hive serve` sees it (`GET /api/status`).
    Status(ClientArgs),
    /// Send a text command to a running `hive serve` (`POST /api/command`), such as `hive command "pause acme/api"`.
    #[command(name = "command")]
    Tell(TellArgs),
    /// Print a shell completion script on stdout, such as `hive completions bash > ~/.local/share/bash-completion/completions/hive`.
    Completions(CompletionsArgs),
    /// The configuration: `hive config check` prints every setting as resolved and where it came from.
    Config(ConfigArgs),
    /// Make something by command: `hive spawn agent triage-bot:labels new issues --workspace DIR` renders an agent
    /// from a template, tests it, creates its repository, pushes it (through a pull request with --mandate-ci)
    /// and registers it.
    Spawn(SpawnArgs),
    /// The agents `hive spawn agent` made: list, show, check (merge a reviewed pull request), remove.
    Agents(AgentsArgs),
    /// One change made in many repositories and merged all or none: `hive change apply --title T --glob 'acme/*'
    /// run -- cargo fmt`; plan, status, resume, abort and rollback too.
    Change(ChangeArgs),
    /// Files kept in step across repositories (`[[sync]]` in hive.toml): status, push (one change set per
    /// declaration, conflicts left alone), pull (a repository's newer edit back to the source), history.
    Sync(SyncArgs),
    /// Run a repository's own linters where its files say they apply (clippy, rustfmt, ruff or flake8, eslint,
    /// shellcheck) and check its Markdown's relative links; print every finding, `--html FILE` for a page.
    Validate(ValidateArgs),
}

impl Command {
    /// Whether the command runs a hive or writes the state directory, and so must hold its lock. Reading commands
    /// (`audit`, `backlog`, `ecosystem list/show`) do not; nor does `approve`, whose one database transaction is meant
    /// to reach a running daemon; nor `ecosystem <id> start|stop|status`, where one process per service is the
    /// design and `stop` must reach it.
    pub fn writes_state(&self) -> bool {
        match self {
            // A scan runs a hive on the state directory: local CI's cache, an emergency's snapshot.
            Command::Demo(_)
            | Command::Run(_)
            | Command::Serve(_)
            | Command::EmergencyScan(_)
            | Command::HealthAudit(_) => true,
            Command::Ecosystem(args) => match &args.command {
                EcosystemCommand::Import(_) | EcosystemCommand::Remove { .. } | EcosystemCommand::Mirror(_) => true,
                EcosystemCommand::Waves(waves) => !waves.plan_only,
                EcosystemCommand::List | EcosystemCommand::Show { .. } | EcosystemCommand::Service(_) => false,
            },
            // One cycle of the loop records its decisions in the state directory's database.
            Command::Single(args) => matches!(args.action, SingleAction::Cycle(_)),
            Command::Spawn(args) => {
                let SpawnCommand::Agent(agent) = &args.command;
                !agent.dry_run
            }
            Command::Agents(args) => !matches!(args.command, AgentsCommand::List | AgentsCommand::Show { .. }),
            Command::Change(args) => !matches!(args.command, ChangeCommand::Plan(_) | ChangeCommand::Status { .. }),
            // A status records files found in step and what finished sets synced; only the history just reads.
            Command::Sync(args) => !matches!(args.command, SyncCommand::History { .. }),
            Command::Audit(_)
            | Command::Backlog(_)
            | Command::Approve(_)
            | Command::Status(_)
            | Command::Tell(_)
            | Command::Completions(_)
            | Command::Config(_)
            | Command::Validate(_) => false,
        }
    }
}

/// Arguments of `hive serve`: what to watch, as for `hive run`, and where to listen.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The address the API listens on; loopback unless you mean otherwise (port 0 picks a free port, printed at
    /// start).
    #[arg(long, env = "HIVE_BIND", value_name = "ADDR", default_value = "127.0.0.1:7878")]
    pub bind: std::net::SocketAddr,

    /// The API token: `HIVE_API_TOKEN`, else the configuration file's `token_env` or `token_file`.
    #[arg(skip)]
    pub token: Option<crate::settings::Secret>,

    /// What to watch and how, as for `hive run` (without `--once`: a server runs until stopped).
    #[command(flatten)]
    pub run: RunArgs,

    /// Sharing the fleet with other `hive serve` nodes.
    #[command(flatten)]
    pub cluster: ClusterArgs,
}

/// `hive serve --cluster`: several nodes share one fleet, each repository watched by one node at a time.
#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// Share the fleet with the other nodes using the NATS server at this URL (`nats://HOST:PORT`, JetStream on):
    /// each repository is leased to one node, which alone watches it and writes to it.
    #[arg(long, env = "HIVE_CLUSTER", value_name = "URL")]
    pub cluster: Option<String>,

    /// This node's name in the cluster: 1 to 64 of a-z, A-Z, digits, '-' and '_' (default: the host name and the
    /// process id).
    #[arg(long, env = "HIVE_NODE", value_name = "NAME", requires = "cluster")]
    pub node: Option<String>,

    /// How long a lease outlives its node's last renewal: a stopped node's repositories wait this long for another
    /// node. Every node of a cluster must use the same value.
    #[arg(long, env = "HIVE_CLUSTER_LEASE_SECS", value_name = "SECS", default_value_t = 30, requires = "cluster")]
    pub cluster_lease_secs: u64,
}

/// Arguments of `hive config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: ConfigCommand,
}

/// The `hive config` subcommands.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Read the configuration file, the environment and these flags as `hive serve` would, and print every setting
    /// with where it came from (default, file, env, flag), secrets redacted; exit 2 naming the file, line and
    /// column of a bad setting.
    Check(Box<ServeArgs>),
}

/// Arguments of `hive backlog`.
#[derive(Debug, Args)]
pub struct BacklogArgs {
    /// What to do; without a subcommand, list the backlog (`--json` prints the export document).
    #[command(subcommand)]
    pub command: Option<BacklogCommand>,
}

/// The `hive backlog` subcommands.
#[derive(Debug, Subcommand)]
pub enum BacklogCommand {
    /// Check a backlog export against its JSON Schema; exit 1 naming each problem's JSON pointer.
    Validate {
        /// The export to check (default: `backlog.json` in the state directory).
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
    },
}

/// Arguments of `hive approve`.
#[derive(Debug, Args)]
pub struct ApproveArgs {
    /// What to approve: a backlog item id or a write key (letters, digits and `:_./-`, at most 200).
    #[arg(value_name = "ID")]
    pub id: String,

    /// How many hours the approval lasts (1 to 8760).
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u32).range(1..=8_760))]
    pub hours: u32,

    /// Who approves; recorded in the audit trail as `human:<NAME>`.
    #[arg(long, value_name = "NAME", env = "USER", hide_env_values = true, default_value = "unknown")]
    pub by: String,
}

/// Arguments of `hive audit`.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: AuditCommand,
}

/// The `hive audit` subcommands.
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check the whole chain; exit 1 naming the first edited, deleted, inserted or reordered record.
    Verify,
    /// Write every record as JSON Lines (one object per line), to stdout unless `--output` is given.
    Export {
        /// Write to this file instead (atomically: the old file or the new one, never a torn one).
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// Arguments of `hive run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// What to watch.
    #[command(flatten)]
    pub targets: TargetArgs,

    /// Run one cycle, print it, and exit.
    #[arg(long)]
    pub once: bool,

    /// With `--once`: exit 3 when the cycle found this (a repository `unhealthy` or without a verdict; an
    /// `emergency`), for cron and CI.
    #[arg(long, value_enum, value_name = "WHAT", requires = "once")]
    pub fail_on: Option<FailOn>,

    /// Read every repository every N cycles (1 to 1000); the cycles in between ask only repositories never read,
    /// and what a GitHub webhook delivery names is read at once in a refresh cycle. Default 1, or 12 under
    /// `hive serve` with HIVE_GITHUB_WEBHOOK_SECRET set. Every cycle reads everything during an emergency.
    #[arg(long, env = "HIVE_RECONCILE_EVERY", value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub reconcile_every: Option<u32>,

    /// The autonomy loop's governance (GitHub targets only).
    #[command(flatten, next_help_heading = "Autonomy")]
    pub autonomy: AutonomyArgs,

    /// The emergency protocol's thresholds.
    #[command(flatten, next_help_heading = "Emergency thresholds")]
    pub emergency: EmergencyArgs,

    /// What only the configuration file sets: per-organisation and per-repository overrides, retention.
    #[arg(skip)]
    pub file: crate::settings::FileOnly,
}

/// What a hive reads, for `hive run`, `hive serve`, `hive emergency-scan` and `hive health-audit`: a local workspace
/// or GitHub targets with their filters, and how local CI runs.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// A directory whose subdirectories are git repositories, read offline: git facts plus local CI (each
    /// repository's test command run on a throwaway clone of HEAD, cached by HEAD).
    #[arg(long, value_name = "DIR")]
    pub workspace: Option<PathBuf>,

    /// Seconds a repository's test command may run before it is killed (and counted as an infrastructure failure);
    /// 1 to 86400 (one day).
    #[arg(long, value_name = "SECS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub test_timeout: u64,

    /// Run every repository's tests on every read: no local CI verdict is taken from or written to the cache.
    #[arg(long, requires = "workspace")]
    pub no_cache: bool,

    /// Every repository of this GitHub organisation (repeatable; needs GITHUB_TOKEN or GH_TOKEN).
    #[arg(long = "org", value_name = "NAME")]
    pub orgs: Vec<String>,

    /// Every repository this GitHub user owns (repeatable).
    #[arg(long = "user", value_name = "NAME")]
    pub users: Vec<String>,

    /// This GitHub repository, `owner/name` (repeatable).
    #[arg(long = "repo", value_name = "OWNER/NAME")]
    pub repos: Vec<String>,

    /// Only GitHub repositories matching this glob (`api-*` on the name, `acme/*` on owner/name; repeatable).
    #[arg(long = "include", value_name = "GLOB")]
    pub include: Vec<String>,

    /// Skip GitHub repositories matching this glob (repeatable).
    #[arg(long = "exclude", value_name = "GLOB")]
    pub exclude: Vec<String>,

    /// Also archived repositories, forks and templates (skipped by default).
    #[arg(long)]
    pub all_kinds: bool,
}

/// The emergency triggers' thresholds, as given: checked (and their ranges named in the error) when the queen's
/// configuration is resolved, so a bad value names its flag and variable and exits 2. Unset, the defaults hold.
#[derive(Debug, Clone, Default, Args)]
pub struct EmergencyArgs {
    /// Declare an emergency when the healthy share of the fleet is below this, 0 to 1 [default: 0.5].
    #[arg(long, env = "HIVE_EMERGENCY_FLEET_HEALTH_BELOW", value_name = "SHARE")]
    pub emergency_fleet_health_below: Option<String>,

    /// ... once at least this many members have a verdict: a fleet of one is no fleet [default: 5].
    #[arg(long, env = "HIVE_EMERGENCY_MIN_FLEET", value_name = "N")]
    pub emergency_min_fleet: Option<String>,

    /// Declare when this many members became critical or escalated within five minutes, 0 to disable
    /// [default: 3]...
    #[arg(long, env = "HIVE_EMERGENCY_CRITICAL_MEMBERS", value_name = "N")]
    pub emergency_critical_members: Option<String>,

    /// ... and at least this share of the fleet, 0 to 1 [default: 0.1].
    #[arg(long, env = "HIVE_EMERGENCY_CRITICAL_SHARE", value_name = "SHARE")]
    pub emergency_critical_share: Option<String>,

    /// Declare a systemic failure when this many members fail with the same CI failure, 0 to disable
    /// [default: 3]...
    #[arg(long, env = "HIVE_EMERGENCY_SYSTEMIC_MEMBERS", value_name = "N")]
    pub emergency_systemic_members: Option<String>,

    /// ... and at least this share of the fleet, 0 to 1 [default: 0.1].
    #[arg(long, env = "HIVE_EMERGENCY_SYSTEMIC_SHARE", value_name = "SHARE")]
    pub emergency_systemic_share: Option<String>,

    /// Clear the emergency after this many consecutive cycles in which no trigger held, at least 1 [default: 3].
    #[arg(long, env = "HIVE_EMERGENCY_CLEAR_AFTER", value_name = "CYCLES")]
    pub emergency_clear_after: Option<String>,
}

/// How the autonomy loop may act on GitHub. Without `--autonomy` it only records what it would do.
#[derive(Debug, Clone, Args)]
pub struct AutonomyArgs {
    /// Let hive write: file and update issues, re-run flaky jobs, open fix pull requests.
    #[arg(
        long,
        env = "HIVE_AUTONOMY_ENABLED",
        value_name = "BOOL",
        num_args = 0..=1,
        default_value = "false",
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub autonomy: bool,

    /// Merge hive's own fix pull requests once every check is green (low and medium risk only).
    #[arg(
        long,
        env = "HIVE_AUTOMERGE",
        value_name = "BOOL",
        num_args = 0..=1,
        default_value = "false",
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub automerge: bool,

    /// Quarantine: record every write as "would do" instead of sending it; fix pull requests are opened as drafts.
    #[arg(
        long,
        env = "HIVE_DRY_RUN",
        value_name = "BOOL",
        num_args = 0..=1,
        default_value = "false",
        default_missing_value = "true",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub dry_run: bool,

    /// What hive may do at most: `log` (record only), `issue` (issues and comments), `fix` (also re-runs and fix
    /// pull requests).
    #[arg(long, env = "HIVE_ACTION_LEVEL", value_name = "LEVEL", default_value = "fix")]
    pub level: String,

    /// A GitHub login or `org/team` mentioned when hive gives up on a fix (repeatable; comma-separated in
    /// HIVE_OWNERS).
    #[arg(long = "owner", env = "HIVE_OWNERS", value_name = "LOGIN", value_delimiter = ',')]
    pub owners: Vec<String>,

    /// The repository (`owner/name`) where the one ecosystem-wide emergency alert issue is filed.
    #[arg(long, env = "HIVE_ALERT_REPO", value_name = "OWNER/NAME")]
    pub alert_repo: Option<String>,

    /// Pull requests hive may open in any 24 hours.
    #[arg(long, env = "HIVE_MAX_PRS_PER_DAY", value_name = "N", default_value_t = 10)]
    pub max_prs_per_day: u32,

    /// Issues hive may open in any hour.
    #[arg(long, env = "HIVE_MAX_ISSUES_PER_HOUR", value_name = "N", default_value_t = 20)]
    pub max_issues_per_hour: u32,

    /// Comments hive may write on one issue in any 24 hours.
    #[arg(long, env = "HIVE_MAX_COMMENTS_PER_ISSUE_PER_DAY", value_name = "N", default_value_t = 1)]
    pub max_comments_per_issue_per_day: u32,

    /// Content-creating requests (issues, comments, pull requests) hive may send in any minute.
    #[arg(long, env = "HIVE_MAX_CONTENT_PER_MINUTE", value_name = "N", default_value_t = 20)]
    pub max_content_per_minute: u32,

    /// Failed fix attempts after which hive labels the issue `needs-human` and mentions the owners.
    #[arg(long, value_name = "N", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..))]
    pub escalate_after: u32,
}

/// What makes a one-shot command exit 3 (findings) instead of 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FailOn {
    /// A repository is unhealthy, or no verdict on it is known.
    Unhealthy,
    /// An emergency trigger holds.
    Emergency,
}

/// Arguments of `hive emergency-scan` and `hive health-audit`: what to read, as for `hive run`.
#[derive(Debug, Args)]
pub struct ScanArgs {
    /// What to read.
    #[command(flatten)]
    pub targets: TargetArgs,

    /// Exit 3 when this is found: `unhealthy` (a repository unhealthy or without a verdict) or `emergency` (an
    /// emergency trigger holds; `emergency-scan` always exits 3 for it).
    #[arg(long, value_enum, value_name = "WHAT")]
    pub fail_on: Option<FailOn>,

    /// The emergency protocol's thresholds.
    #[command(flatten, next_help_heading = "Emergency thresholds")]
    pub emergency: EmergencyArgs,

    /// What only the configuration file sets (its overrides, test commands and emergency base), as for `hive run`.
    #[arg(skip)]
    pub file: crate::settings::FileOnly,
}

/// How to reach a running `hive serve`.
#[derive(Debug, Clone, Args)]
pub struct ClientArgs {
    /// The API's base URL.
    #[arg(long, env = "HIVE_API", value_name = "URL", default_value = "http://127.0.0.1:7878")]
    pub api: String,
}

/// Arguments of `hive command`.
#[derive(Debug, Args)]
pub struct TellArgs {
    /// The command, one argument or several words (`status`, `explain acme/api`, `emergency declare`, ...); commands
    /// that change anything need HIVE_API_TOKEN. Options after the text belong to it (`approve ID --hours 4`); `--api` goes before.
    #[arg(value_name = "TEXT", required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true)]
    pub text: Vec<String>,

    /// Where the hive is.
    #[command(flatten)]
    pub client: ClientArgs,
}

/// Arguments of `hive completions`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Arguments of `hive single`.
#[derive(Debug, Args)]
pub struct SingleArgs {
    /// The GitHub repository, `owner/name`.
    #[arg(value_name = "OWNER/NAME")]
    pub repo: String,

    /// What to do with it.
    #[command(subcommand)]
    pub action: SingleAction,
}

/// The `hive single` actions.
#[derive(Debug, Subcommand)]
pub enum SingleAction {
    /// Print the repository's health, with the breakdown of its score.
    Status,
    /// One cycle of the whole loop for this repository: read, score, plan, act as the autonomy flags allow (without
    /// `--autonomy`, only record), and print what was done or would be done.
    Cycle(SingleCycleArgs),
}

/// Arguments of `hive single owner/name cycle`.
#[derive(Debug, Args)]
pub struct SingleCycleArgs {
    /// Exit 3 when the cycle found this: `unhealthy` (the repository is unhealthy) or `emergency`.
    #[arg(long, value_enum, value_name = "WHAT")]
    pub fail_on: Option<FailOn>,

    /// The autonomy loop's governance.
    #[command(flatten, next_help_heading = "Autonomy")]
    pub autonomy: AutonomyArgs,
}

/// Arguments of `hive ecosystem`.
#[derive(Debug, Args)]
pub struct EcosystemArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: EcosystemCommand,
}

/// The `hive ecosystem` subcommands.
#[derive(Debug, Subcommand)]
pub enum EcosystemCommand {
    /// Clone a repository (URL or local path) into the state directory and record it.
    Import(ImportArgs),
    /// List imported repositories.
    List,
    /// Show one imported repository: metadata, build systems and the commands it offers.
    Show {
        /// The id printed by `import` and `list`.
        id: String,
    },
    /// Remove an imported repository: its clone and its metadata (its services are stopped first).
    Remove {
        /// The id printed by `import` and `list`.
        id: String,
    },
    /// Build or test every imported repository in dependency order, a wave at a time, in parallel within a wave.
    Waves(WavesArgs),
    /// Mirror an imported repository's branches and tags to one or more remotes.
    Mirror(MirrorArgs),
    /// `hive ecosystem <id> start|stop|status`: the repository's services.
    #[command(external_subcommand)]
    Service(Vec<String>),
}

/// Arguments of `hive ecosystem import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// A git URL (https://, ssh://, git://, file://, user@host:path) or a local repository directory.
    #[arg(value_name = "URL_OR_PATH")]
    pub source: String,

    /// Clone only the latest commit (`--depth 1`).
    #[arg(long)]
    pub shallow: bool,
}

/// What `hive ecosystem waves` runs in each repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WavesTask {
    /// The build command (a task runner's `build`, else the build tool's).
    Build,
    /// The test command.
    Test,
}

/// Arguments of `hive ecosystem waves`.
#[derive(Debug, Args)]
pub struct WavesArgs {
    /// What to run in each repository.
    #[arg(value_enum, default_value = "build")]
    pub task: WavesTask,

    /// Repositories built at the same time within a wave.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,

    /// An explicit dependency, `DEPENDENT:DEPENDENCY` (names or ids), added to what the manifests say.
    #[arg(long = "edge", value_name = "DEPENDENT:DEPENDENCY")]
    pub edges: Vec<String>,

    /// Seconds after which one repository's command is killed; 1 to 86400 (one day).
    #[arg(long, default_value_t = 1800, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub timeout: u64,

    /// Print the plan without running anything.
    #[arg(long)]
    pub plan_only: bool,
}

/// Arguments of `hive ecosystem mirror`.
#[derive(Debug, Args)]
pub struct MirrorArgs {
    /// The id printed by `import` and `list`.
    pub id: String,

    /// A destination remote (URL or path); repeat for several.
    #[arg(long = "to", value_name = "REMOTE", required = true)]
    pub to: Vec<String>,

    /// Mirror only branches matching this glob (`release/*`); `!GLOB` excludes (`!wip/*`). Repeatable.
    #[arg(long = "branches", value_name = "GLOB")]
    pub branches: Vec<String>,

    /// Mirror only tags matching this glob (`v*`); `!GLOB` excludes. Repeatable.
    #[arg(long = "tags", value_name = "GLOB")]
    pub tags: Vec<String>,

    /// Attempts per destination before giving up (with exponential backoff between them).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub attempts: u32,

    /// Do not fetch from the repository's origin first (mirror what the clone already has).
    #[arg(long)]
    pub no_fetch: bool,
}

/// Arguments of `hive demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Repositories in the simulated fleet.
    #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub repos: u32,

    /// Percentage of repositories whose CI fails.
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub failing: u8,

    /// Orchestration cycles to run before stopping.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub cycles: u64,

    /// Milliseconds between cycles (overrides ORCHESTRATION_INTERVAL, which is in seconds); 1 to 86400000 (one
    /// day). The fleet is simulated, so cycles may be faster than a second.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=86_400_000))]
    pub interval_ms: Option<u64>,

    /// Percentage of forge reads that panic, to show supervision at work.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=100))]
    pub chaos: u8,

    /// Break the same CI job in a third of the healthy repositories after this cycle, and fix it two cycles later:
    /// shows a systemic-failure emergency being declared and then cleared.
    #[arg(long, value_name = "CYCLE")]
    pub incident: Option<u64>,

    /// Seed of the simulated fleet, for reproducible runs.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,

    /// The emergency protocol's thresholds.
    #[command(flatten)]
    pub emergency: EmergencyArgs,
}

/// Writes `shell`'s completion script for `hive` to `out`. The script is made in memory first: clap_complete panics
/// on a failed write, and a closed pipe is an error to return, not a panic.
pub fn completions(shell: clap_complete::Shell, out: &mut impl std::io::Write) -> anyhow::Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut <Cli as clap::CommandFactory>::command(), "hive", &mut script);
    out.write_all(&script)?;
    Ok(out.flush()?)
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    #[test]
    fn cli_is_well_formed() {
        super::Cli::command().debug_assert();
    }

    /// The scheduled workflow in `examples/` runs commands this parser takes (with its `$ORG` filled in).
    #[test]
    fn the_example_workflow_s_commands_parse() {
        let workflow = include_str!("../examples/github-actions/hive.yml");
        let commands: Vec<Vec<String>> = workflow
            .lines()
            .map(|line| line.trim().trim_start_matches("run: "))
            .filter(|line| line.starts_with("hive "))
            .map(|line| {
                let line = line.split(" >").next().unwrap_or(line).replace("\"$ORG\"", "acme");
                line.split_whitespace().map(str::to_owned).collect()
            })
            .collect();
        assert!(commands.len() >= 2, "{commands:?}");
        for argv in &commands {
            super::Cli::try_parse_from(argv).unwrap_or_else(|e| panic!("{argv:?}: {e}"));
        }
        let cycle = commands.iter().find(|argv| argv.contains(&"run".to_owned())).expect("a hive run");
        let cycle = cycle.join(" ");
        assert!(cycle.contains("--once") && cycle.contains("--fail-on emergency"), "{cycle}");
        assert!(workflow.contains("HIVE_STATE_DIR: ${{ github.workspace }}/.hive-state"));
        assert_eq!(workflow.matches("path: .hive-state").count(), 2, "restored and saved");
    }
}
