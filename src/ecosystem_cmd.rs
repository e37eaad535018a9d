//! `hive ecosystem`: manage imported repositories.

use std::path::Path;

use anyhow::bail;

use crate::{
    cli::{EcosystemArgs, EcosystemCommand},
    config::EnvConfig,
};

pub async fn run(args: &EcosystemArgs, _env: &EnvConfig, _state_dir: &Path, _json: bool) -> anyhow::Result<()> {
    match args.command {
        EcosystemCommand::List => bail!("the ecosystem manager is not available in this build yet"),
    }
}
