//! Settings from the environment, resolved and validated once: the names the original orchestrator used
//! (`ORCHESTRATION_INTERVAL`, `EMERGENCY_MODE`, `PILOT_LOG_LEVEL`) and hive's own `HIVE_*`.

use std::time::Duration;

use anyhow::{Context, bail};

/// Settings read from the environment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnvConfig {
    /// `ORCHESTRATION_INTERVAL`, seconds between cycles.
    pub orchestration_interval: Option<Duration>,
    /// `EMERGENCY_MODE`: start in emergency mode.
    pub emergency_mode: bool,
    /// `PILOT_LOG_LEVEL`: log filter when no `-v` is given.
    pub log_level: Option<String>,
}

impl EnvConfig {
    /// Reads the process environment.
    pub fn from_env() -> anyhow::Result<EnvConfig> {
        EnvConfig::from_lookup(|key| std::env::var(key).ok())
    }

    /// Reads through `lookup`, so tests need not touch the process environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<EnvConfig> {
        let orchestration_interval = match lookup("ORCHESTRATION_INTERVAL") {
            None => None,
            Some(raw) => {
                let secs: f64 =
                    raw.trim().parse().ok().filter(|s: &f64| s.is_finite() && *s > 0.0).with_context(|| {
                        format!(
                            "invalid ORCHESTRATION_INTERVAL '{}': expected a positive number of seconds such as 300",
                            raw.escape_debug()
                        )
                    })?;
                Some(Duration::from_secs_f64(secs))
            }
        };
        let emergency_mode = match lookup("EMERGENCY_MODE").as_deref().map(str::trim) {
            None | Some("") => false,
            Some(v) if ["1", "true", "yes", "on"].contains(&v.to_ascii_lowercase().as_str()) => true,
            Some(v) if ["0", "false", "no", "off"].contains(&v.to_ascii_lowercase().as_str()) => false,
            Some(v) => bail!("invalid EMERGENCY_MODE '{}': expected true or false", v.escape_debug()),
        };
        let log_level = lookup("PILOT_LOG_LEVEL").filter(|v| !v.trim().is_empty());
        Ok(EnvConfig { orchestration_interval, emergency_mode, log_level })
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
    fn reads_seed_names() {
        let c = env(&[("ORCHESTRATION_INTERVAL", "1.5"), ("EMERGENCY_MODE", "TRUE"), ("PILOT_LOG_LEVEL", "debug")])
            .unwrap();
        assert_eq!(c.orchestration_interval, Some(Duration::from_millis(1500)));
        assert!(c.emergency_mode);
        assert_eq!(c.log_level.as_deref(), Some("debug"));
    }

    #[test]
    fn bad_values_say_what_and_how() {
        for (key, value, needle) in [
            ("ORCHESTRATION_INTERVAL", "soon", "invalid ORCHESTRATION_INTERVAL 'soon'"),
            ("ORCHESTRATION_INTERVAL", "-3", "positive number of seconds"),
            ("ORCHESTRATION_INTERVAL", "NaN", "invalid ORCHESTRATION_INTERVAL"),
            ("EMERGENCY_MODE", "maybe", "invalid EMERGENCY_MODE 'maybe'"),
        ] {
            let err = env(&[(key, value)]).expect_err(value).to_string();
            assert!(err.contains(needle), "{err}");
        }
    }
}
