//! Git, run as the real `git` binary with argument vectors, in one repository.

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use hive_support::redact_url_credentials;

use crate::process::{CommandOutput, CommandSpec, run};

/// A git command that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GitError {
    /// git could not be started.
    #[error("could not run git; is it installed and on PATH?")]
    Spawn(#[source] crate::process::ProcessError),
    /// git ran and failed.
    #[error("git {args} failed in '{dir}' (exit {code:?}): {stderr}")]
    Failed {
        /// The repository directory.
        dir: PathBuf,
        /// The arguments.
        args: String,
        /// Exit code.
        code: Option<i32>,
        /// What git said, trimmed.
        stderr: String,
    },
}

/// One repository (or the directory a clone goes into).
#[derive(Debug, Clone)]
pub struct Git {
    dir: PathBuf,
    timeout: Duration,
    isolated: bool,
    env: Vec<(String, String)>,
}

/// What every git command hive commits or pushes with is configured with: no hooks, no `ext::` transport, ssh in
/// batch mode, no signing, hive's identity.
const ISOLATED_CONFIG: [&str; 12] = [
    "-c",
    "protocol.ext.allow=never",
    "-c",
    "core.hooksPath=/dev/null",
    "-c",
    "core.sshCommand=ssh -o BatchMode=yes",
    "-c",
    "commit.gpgsign=false",
    "-c",
    "user.name=hive",
    "-c",
    "user.email=hive@users.noreply.localhost",
];

impl Git {
    /// Git in `dir`.
    pub fn new(dir: impl AsRef<Path>) -> Git {
        Git { dir: dir.as_ref().to_path_buf(), timeout: Duration::from_secs(300), isolated: false, env: Vec::new() }
    }

    /// The same as hive's own committer: hooks never run, remote helpers are off, nothing prompts (no askpass, ssh
    /// in batch mode, no credential manager dialogue), no signing, and hive's identity fixed in the environment too
    /// (which wins over `-c user.name` if the caller's environment sets one).
    pub fn isolated(mut self) -> Git {
        self.isolated = true;
        self
    }

    /// The same with `key=value` in the environment of every command (e.g. a fixed `GIT_COMMITTER_DATE`).
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Git {
        self.env.push((key.into(), value.into()));
        self
    }

    /// The same with another timeout per command.
    pub fn timeout(mut self, timeout: Duration) -> Git {
        self.timeout = timeout;
        self
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs `git args...` and returns stdout, trimmed, or the failure with git's own message.
    pub async fn run(&self, args: &[&str]) -> Result<String, GitError> {
        let out = self.output(args).await?;
        if out.success() {
            return Ok(out.stdout_text().trim_end().to_owned());
        }
        // Remote URLs may carry credentials (`https://user:token@host/x.git`), in the arguments and in what git
        // says about them: the error never holds them, so no one who prints it can leak them.
        Err(GitError::Failed {
            dir: self.dir.clone(),
            args: redact_url_credentials(&args.join(" ")).into_owned(),
            code: out.code,
            stderr: redact_url_credentials(out.stderr_text().trim()).into_owned(),
        })
    }

    /// Runs `git args...` and returns the raw output whatever the exit code.
    pub async fn output(&self, args: &[&str]) -> Result<CommandOutput, GitError> {
        let config: &[&str] = if self.isolated { &ISOLATED_CONFIG } else { &[] };
        let mut spec = CommandSpec::new("git", config.iter().chain(args).copied(), &self.dir)
            .timeout(self.timeout)
            // Never prompt for credentials, never page, and speak English so messages can be matched.
            .env("GIT_TERMINAL_PROMPT", "0")
            .env("GIT_PAGER", "cat")
            .env("LC_ALL", "C");
        if self.isolated {
            spec = spec
                .env("GIT_ASKPASS", "")
                .env("SSH_ASKPASS", "")
                .env("GCM_INTERACTIVE", "never")
                .env("GIT_AUTHOR_NAME", "hive")
                .env("GIT_AUTHOR_EMAIL", "hive@users.noreply.localhost")
                .env("GIT_COMMITTER_NAME", "hive")
                .env("GIT_COMMITTER_EMAIL", "hive@users.noreply.localhost");
        }
        for (key, value) in &self.env {
            spec = spec.env(key, value);
        }
        run(&spec).await.map_err(GitError::Spawn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn runs_in_a_real_repository_and_reports_failures() {
        let dir = tempfile::tempdir().unwrap();
        let git = Git::new(dir.path());
        git.run(&["init", "-q", "-b", "main"]).await.unwrap();
        assert_eq!(git.run(&["symbolic-ref", "--short", "HEAD"]).await.unwrap(), "main");
        let err = git.run(&["rev-parse", "--verify", "no-such-ref"]).await.unwrap_err();
        assert!(err.to_string().starts_with("git rev-parse --verify no-such-ref failed in"), "{err}");
    }
}
