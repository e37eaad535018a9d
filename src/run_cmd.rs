//! `hive run`: watch a real fleet until stopped (or for one cycle with `--once`).

use std::path::Path;

use anyhow::bail;

use crate::{cli::RunArgs, config::EnvConfig};

pub async fn run(args: &RunArgs, _env: &EnvConfig, _state_dir: &Path, _json: bool) -> anyhow::Result<()> {
    match &args.workspace {
        Some(dir) => bail!("watching the workspace '{}' is not available in this build yet", dir.display()),
        None => bail!(
            "nothing to watch: give a local workspace with `hive run --workspace DIR` (a directory of git repositories), or try `hive demo`"
        ),
    }
}
