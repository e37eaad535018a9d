//! Settings from the environment, resolved and validated once: the names the original orchestrator used
//! (`ORCHESTRATION_INTERVAL`, `EMERGENCY_MODE`, `PILOT_LOG_LEVEL`), `SIMULATED_TOOLS_MOCK`, and hive's own `HIVE_*`;
//! and [`UsageError`],
//! how any bad argument or setting reaches `main` as exit code 2.

use std::{fmt, ops::RangeInclusive, time::Duration};

use anyhow::bail;
use hive::EmergencyConfig;

use crate::cli::EmergencyArgs;

/// The bounds of `ORCHESTRATION_INTERVAL`, in seconds: at least one second, so a typo cannot turn the daemon into
/// a flood of requests, and at most one day, which also keeps every timer far from overflowing.
pub const INTERVAL_SECS: RangeInclusive<u64> = 1..=86_400;

/// A usage or configuration error: a bad argument, variable or state directory. `main` exits 2 for it (1 is for
/// failures at run time), so scripts can tell "fix the command" from "try again".
#[derive(Debug)]
pub struct UsageError(String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

impl UsageError {
    /// A usage error saying `message`.
    pub fn error(message: impl Into<String>) -> anyhow::Error {
        anyhow::Error::new(UsageError(message.into()))
    }

    /// Whether `err` (or anything in its chain) is a usage error.
    pub fn is_usage(err: &anyhow::Error) -> bool {
        err.chain().any(|cause| cause.is::<UsageError>())
    }
}

/// Marks an error as a usage error, keeping its whole message (`{:#}`, the context chain on one line).
pub trait OrUsage<T> {
    /// The same result, its error turned into a [`UsageError`].
    fn or_usage(self) -> anyhow::Result<T>;
}

impl<T, E: Into<anyhow::Error>> OrUsage<T> for Result<T, E> {
    fn or_usage(self) -> anyhow::Result<T> {
        self.map_err(|err| UsageError::error(format!("{:#}", err.into())))
    }
}

/// Settings read from the environment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnvConfig {
    /// `ORCHESTRATION_INTERVAL`, seconds between cycles (else the configuration file's `cycle.interval`, laid in
    /// by `settings`).
    pub orchestration_interval: Option<Duration>,
    /// `EMERGENCY_MODE`: start in emergency mode.
    pub emergency_mode: bool,
    /// `PILOT_LOG_LEVEL`: log filter when no `-v` is given.
    pub log_level: Option<String>,
    /// `SIMULATED_TOOLS_MOCK`: agents' tools answer deterministic mocks instead of acting.
    pub tools_mock: bool,
    /// How `hive run` and `hive serve` make agents by command.
    pub agents: AgentsEnv,
    /// `HIVE_GITHUB_WEBHOOK_SECRET`: the secret GitHub signs webhook deliveries with; without it `hive serve` takes
    /// none (`POST /api/github/webhook` answers 404).
    pub webhook_secret: Option<crate::settings::Secret>,
}

/// How a running hive makes agents (`spawn agent` through its router), from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentsEnv {
    /// `HIVE_AGENTS_OWNER`: who owns their repositories on GitHub (else the first target's owner).
    pub owner: Option<String>,
    /// `HIVE_AGENTS_TARGET_DIR`: the target directory their builds share (else `agents/.target`).
    pub target_dir: Option<std::path::PathBuf>,
    /// `HIVE_AGENTS_OFFLINE`: build with the crates already downloaded only.
    pub offline: bool,
    /// `TESTING_MANDATORY` (default true): failing tests stop a spawn.
    pub testing_mandatory: bool,
    /// `MANDATE_GITHUB_CI`: the code goes through a pull request.
    pub mandate_ci: bool,
    /// `BASE_BRANCH` (default `main`).
    pub base_branch: String,
    /// `REQUIRE_HUMAN_PR_APPROVAL` (default true): a merge needs an approving review.
    pub require_approval: bool,
    /// What a running agent's environment holds besides its `AGENT_*` settings: `PATH`, `HOME`, the locale and TLS
    /// roots, `GITHUB_API_URL`, and `HIVE_AGENTS_GITHUB_TOKEN` as its `GITHUB_TOKEN` (never hive's own token).
    pub agent_env: Vec<(String, String)>,
}

impl Default for AgentsEnv {
    fn default() -> AgentsEnv {
        AgentsEnv {
            owner: None,
            target_dir: None,
            offline: false,
            testing_mandatory: true,
            mandate_ci: false,
            base_branch: "main".to_owned(),
            require_approval: true,
            agent_env: Vec::new(),
        }
    }
}

impl AgentsEnv {
    /// The spawner's settings for agents under `state_dir`, owned by this owner or else `owner`.
    pub fn settings(&self, state_dir: &std::path::Path, owner: &str) -> hive::spawner::SpawnSettings {
        let mut settings =
            hive::spawner::SpawnSettings::new(state_dir.join("agents"), self.owner.as_deref().unwrap_or(owner));
        if let Some(dir) = &self.target_dir {
            settings.check.target_dir = std::path::absolute(dir).unwrap_or_else(|_| dir.clone());
        }
        settings.check.offline = self.offline;
        settings.testing_mandatory = self.testing_mandatory;
        settings.mandate_ci = self.mandate_ci;
        settings.base_branch = self.base_branch.clone();
        settings.require_approval = self.require_approval;
        settings.agent_env = self.agent_env.clone();
        settings
    }

    fn parse(lookup: &impl Fn(&str) -> Option<String>) -> anyhow::Result<AgentsEnv> {
        let set = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let on_unless_off =
            |name: &str| -> anyhow::Result<bool> { Ok(if set(name).is_none() { true } else { switch(lookup, name)? }) };
        let base_branch = set("BASE_BRANCH").map(|v| v.trim().to_owned()).unwrap_or_else(|| "main".to_owned());
        if let Err(err) = hive::ecosystem::check_branch("BASE_BRANCH", &base_branch) {
            bail!("{err}; use a branch name such as main");
        }
        Ok(AgentsEnv {
            owner: set("HIVE_AGENTS_OWNER").map(|v| v.trim().to_owned()),
            target_dir: set("HIVE_AGENTS_TARGET_DIR").map(std::path::PathBuf::from),
            offline: switch(lookup, "HIVE_AGENTS_OFFLINE")?,
            testing_mandatory: on_unless_off("TESTING_MANDATORY")?,
            mandate_ci: switch(lookup, "MANDATE_GITHUB_CI")?,
            base_branch,
            require_approval: on_unless_off("REQUIRE_HUMAN_PR_APPROVAL")?,
            agent_env: agent_env(lookup),
        })
    }
}

impl EnvConfig {
    /// Reads the process environment.
    pub fn from_env() -> anyhow::Result<EnvConfig> {
        EnvConfig::from_lookup(|key| std::env::var(key).ok())
    }

    /// Reads through `lookup`, so tests need not touch the process environment. Every error is a [`UsageError`].
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<EnvConfig> {
        EnvConfig::parse(lookup).or_usage()
    }

    fn parse(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<EnvConfig> {
        let orchestration_interval = match lookup("ORCHESTRATION_INTERVAL") {
            None => None,
            Some(raw) => Some(interval(&raw)?),
        };
        let emergency_mode = switch(&lookup, "EMERGENCY_MODE")?;
        let log_level = lookup("PILOT_LOG_LEVEL").filter(|v| !v.trim().is_empty());
        let tools_mock = switch(&lookup, "SIMULATED_TOOLS_MOCK")?;
        let agents = AgentsEnv::parse(&lookup)?;
        // Kept as given: GitHub signs with the secret's exact bytes, spaces included.
        let webhook_secret =
            lookup("HIVE_GITHUB_WEBHOOK_SECRET").filter(|v| !v.is_empty()).map(crate::settings::Secret::new);
        Ok(EnvConfig { orchestration_interval, emergency_mode, log_level, tools_mock, agents, webhook_secret })
    }
}

/// A running agent's environment from hive's: what a program needs to run and reach GitHub, and the agents' own
/// token, which is not hive's.
fn agent_env(lookup: &impl Fn(&str) -> Option<String>) -> Vec<(String, String)> {
    let passed = ["PATH", "HOME", "LANG", "LC_ALL", "TZ", "SSL_CERT_FILE", "SSL_CERT_DIR", "GITHUB_API_URL"];
    let mut env: Vec<(String, String)> =
        passed.iter().filter_map(|key| lookup(key).map(|value| ((*key).to_owned(), value))).collect();
    if let Some(token) = lookup("HIVE_AGENTS_GITHUB_TOKEN").filter(|t| !t.trim().is_empty()) {
        env.push(("GITHUB_TOKEN".to_owned(), token.trim().to_owned()));
    }
    env
}

/// A variable that turns something on: unset or empty is off.
fn switch(lookup: &impl Fn(&str) -> Option<String>, name: &str) -> anyhow::Result<bool> {
    Ok(match lookup(name).as_deref().map(str::trim) {
        None | Some("") => false,
        Some(v) if ["1", "true", "yes", "on"].contains(&v.to_ascii_lowercase().as_str()) => true,
        Some(v) if ["0", "false", "no", "off"].contains(&v.to_ascii_lowercase().as_str()) => false,
        Some(v) => bail!("invalid {name} '{}': expected true or false", v.escape_debug()),
    })
}

/// The emergency thresholds of `args` (flags, or their `HIVE_EMERGENCY_*` variables) laid over `base`; every error
/// is a [`UsageError`] naming the flag, its variable and the allowed range.
pub fn emergency(args: &EmergencyArgs, base: EmergencyConfig) -> anyhow::Result<EmergencyConfig> {
    emergency_config(args, base).or_usage()
}

fn emergency_config(args: &EmergencyArgs, mut c: EmergencyConfig) -> anyhow::Result<EmergencyConfig> {
    let a = args;
    let share = |raw: &Option<String>, flag: &str, var: &str, value: &mut f64| -> anyhow::Result<()> {
        let Some(raw) = raw else { return Ok(()) };
        match raw.trim().parse::<f64>().ok().filter(|s| (0.0..=1.0).contains(s)) {
            Some(share) => *value = share,
            None => bail!(
                "invalid --{flag} ({var}) '{}': expected a share between 0 and 1, such as 0.1",
                raw.escape_debug()
            ),
        }
        Ok(())
    };
    let count = |raw: &Option<String>, flag: &str, var: &str, value: &mut usize| -> anyhow::Result<()> {
        let Some(raw) = raw else { return Ok(()) };
        match raw.trim().parse::<usize>() {
            Ok(n) => *value = n,
            Err(_) => bail!(
                "invalid --{flag} ({var}) '{}': expected a whole number of members, 0 or more, such as 5",
                raw.escape_debug()
            ),
        }
        Ok(())
    };
    share(
        &a.emergency_fleet_health_below,
        "emergency-fleet-health-below",
        "HIVE_EMERGENCY_FLEET_HEALTH_BELOW",
        &mut c.fleet_health_below,
    )?;
    count(&a.emergency_min_fleet, "emergency-min-fleet", "HIVE_EMERGENCY_MIN_FLEET", &mut c.min_fleet)?;
    count(
        &a.emergency_critical_members,
        "emergency-critical-members",
        "HIVE_EMERGENCY_CRITICAL_MEMBERS",
        &mut c.critical_members,
    )?;
    share(
        &a.emergency_critical_share,
        "emergency-critical-share",
        "HIVE_EMERGENCY_CRITICAL_SHARE",
        &mut c.critical_share,
    )?;
    count(
        &a.emergency_systemic_members,
        "emergency-systemic-members",
        "HIVE_EMERGENCY_SYSTEMIC_MEMBERS",
        &mut c.systemic_members,
    )?;
    share(
        &a.emergency_systemic_share,
        "emergency-systemic-share",
        "HIVE_EMERGENCY_SYSTEMIC_SHARE",
        &mut c.systemic_share,
    )?;
    if let Some(raw) = &a.emergency_clear_after {
        match raw.trim().parse::<u32>().ok().filter(|n| *n >= 1) {
            Some(n) => c.clear_after = n,
            None => bail!(
                "invalid --emergency-clear-after (HIVE_EMERGENCY_CLEAR_AFTER) '{}': expected a number of cycles, 1 or \
                 more, such as 3",
                raw.escape_debug()
            ),
        }
    }
    Ok(c)
}

/// `ORCHESTRATION_INTERVAL` as a duration, within [`INTERVAL_SECS`]. Checked on the `f64` before any conversion,
/// because `Duration::from_secs_f64` panics on values it cannot hold (`1e20`, NaN).
fn interval(raw: &str) -> anyhow::Result<Duration> {
    let (min, max) = (*INTERVAL_SECS.start(), *INTERVAL_SECS.end());
    let secs = raw.trim().parse::<f64>().ok().filter(|s| s.is_finite() && (min as f64..=max as f64).contains(s));
    match secs {
        Some(secs) => Ok(Duration::from_secs_f64(secs)),
        None => bail!(
            "invalid ORCHESTRATION_INTERVAL '{}': expected seconds between {min} and {max} (one day), such as 300",
            raw.escape_debug()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> anyhow::Result<EnvConfig> {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        EnvConfig::from_lookup(move |key| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()))
    }

    #[test]
    fn defaults_when_unset() {
        assert_eq!(env(&[]).unwrap(), EnvConfig::default());
    }

    #[test]
    fn the_webhook_secret_is_kept_as_given_and_never_shown() {
        let secret = " It's a Secret to Everybody ";
        let config = env(&[("HIVE_GITHUB_WEBHOOK_SECRET", secret)]).unwrap();
        assert_eq!(config.webhook_secret.as_ref().map(crate::settings::Secret::expose), Some(secret));
        assert!(!format!("{config:?}").contains("Secret to Everybody"), "{config:?}");
        assert_eq!(env(&[("HIVE_GITHUB_WEBHOOK_SECRET", "")]).unwrap().webhook_secret, None);
        assert!(crate::terminal::SECRET_VARS.contains(&"HIVE_GITHUB_WEBHOOK_SECRET"), "redacted wherever printed");
    }

    #[test]
    fn agents_take_the_seed_switches_with_their_defaults_and_keep_hives_token_to_themselves() {
        let defaults = env(&[]).unwrap().agents;
        assert!(defaults.testing_mandatory && defaults.require_approval && !defaults.mandate_ci);
        assert_eq!(defaults.base_branch, "main");
        let set = env(&[
            ("TESTING_MANDATORY", "false"),
            ("MANDATE_GITHUB_CI", "1"),
            ("BASE_BRANCH", "trunk"),
            ("REQUIRE_HUMAN_PR_APPROVAL", "no"),
            ("GITHUB_TOKEN", "hive's own"),
            ("HIVE_AGENTS_GITHUB_TOKEN", "the agents' own"),
        ])
        .unwrap()
        .agents;
        assert!(!set.testing_mandatory && set.mandate_ci && !set.require_approval);
        assert_eq!(set.base_branch, "trunk");
        let token: Vec<&str> =
            set.agent_env.iter().filter(|(key, _)| key == "GITHUB_TOKEN").map(|(_, value)| value.as_str()).collect();
        assert_eq!(token, ["the agents' own"], "an agent never gets hive's token");
        for bad in ["-rf", "a..b", "two words"] {
            let err = env(&[("BASE_BRANCH", bad)]).unwrap_err().to_string();
            assert!(err.contains("BASE_BRANCH") && err.contains("use a branch name such as main"), "{bad}: {err}");
        }
    }

    #[test]
    fn reads_seed_names() {
        let c = env(&[("ORCHESTRATION_INTERVAL", "1.5"), ("EMERGENCY_MODE", "TRUE"), ("PILOT_LOG_LEVEL", "debug")])
            .unwrap();
        assert_eq!(c.orchestration_interval, Some(Duration::from_millis(1500)));
        assert!(c.emergency_mode);
        assert_eq!(c.log_level.as_deref(), Some("debug"));
        assert!(!c.tools_mock);
        assert!(env(&[("SIMULATED_TOOLS_MOCK", "1")]).unwrap().tools_mock);
        assert!(!env(&[("SIMULATED_TOOLS_MOCK", "off")]).unwrap().tools_mock);
    }

    #[test]
    fn the_interval_bounds_are_inclusive() {
        for (raw, secs) in [("1", 1.0), (" 86400 ", 86_400.0), ("300", 300.0)] {
            let c = env(&[("ORCHESTRATION_INTERVAL", raw)]).expect(raw);
            assert_eq!(c.orchestration_interval, Some(Duration::from_secs_f64(secs)));
        }
        assert!(env(&[("ORCHESTRATION_INTERVAL", "0.999")]).is_err());
    }

    #[test]
    fn bad_values_say_what_and_how() {
        for (key, value, needle) in [
            ("ORCHESTRATION_INTERVAL", "soon", "invalid ORCHESTRATION_INTERVAL 'soon'"),
            ("ORCHESTRATION_INTERVAL", "-3", "expected seconds between 1 and 86400"),
            ("ORCHESTRATION_INTERVAL", "NaN", "invalid ORCHESTRATION_INTERVAL"),
            // Each of these once panicked or flooded the forge with requests.
            ("ORCHESTRATION_INTERVAL", "1e20", "invalid ORCHESTRATION_INTERVAL '1e20'"),
            ("ORCHESTRATION_INTERVAL", "1.8e19", "between 1 and 86400"),
            ("ORCHESTRATION_INTERVAL", "0.0001", "invalid ORCHESTRATION_INTERVAL '0.0001'"),
            ("ORCHESTRATION_INTERVAL", "86400.5", "between 1 and 86400"),
            ("ORCHESTRATION_INTERVAL", "inf", "between 1 and 86400"),
            ("EMERGENCY_MODE", "maybe", "invalid EMERGENCY_MODE 'maybe'"),
            ("SIMULATED_TOOLS_MOCK", "mock", "invalid SIMULATED_TOOLS_MOCK 'mock': expected true or false"),
        ] {
            let err = env(&[(key, value)]).expect_err(value);
            assert!(UsageError::is_usage(&err), "{err:#} is a usage error");
            let err = err.to_string();
            assert!(err.contains(needle), "{err}");
        }
    }
}
