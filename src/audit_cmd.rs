//! `hive audit verify` and `hive audit export`: the audit trail in the state directory's database, checked or
//! written out as JSON Lines.

use std::{io::Write, path::Path};

use anyhow::{Context, bail};
use hive_cerebrum::{AuditBreak, Memory};

use crate::cli::{AuditArgs, AuditCommand};

/// Runs one `hive audit` subcommand.
pub fn run(args: &AuditArgs, state_dir: &Path, json: bool) -> anyhow::Result<()> {
    // Verifying or exporting a typo'd state directory must not report an empty, intact trail.
    let path = state_dir.join(Memory::FILE_NAME);
    if !path.exists() {
        bail!("no hive database at '{}'; check --state-dir (or HIVE_STATE_DIR)", path.display());
    }
    let mut memory = Memory::open(state_dir)?;
    match &args.command {
        AuditCommand::Verify => verify(&mut memory, json),
        AuditCommand::Export { output } => export(&mut memory, output.as_deref(), json),
    }
}

fn verify(memory: &mut Memory, json: bool) -> anyhow::Result<()> {
    match memory.audit().verify() {
        Ok(records) => {
            if json {
                println!("{}", serde_json::json!({ "intact": true, "records": records }));
            } else {
                println!("audit trail intact: {records} records");
            }
            Ok(())
        }
        Err(AuditBreak::Record { seq, problem }) => {
            if json {
                println!("{}", serde_json::json!({ "intact": false, "seq": seq, "problem": problem }));
            }
            bail!(
                "audit trail broken in '{}': record {seq}: {problem}; records before {seq} are intact, restore the \
                 database from a backup to recover the rest",
                memory.path().display()
            )
        }
        Err(err) => Err(err.into()),
    }
}

fn export(memory: &mut Memory, output: Option<&Path>, json: bool) -> anyhow::Result<()> {
    match output {
        None => {
            let stdout = std::io::stdout().lock();
            memory.audit().export_jsonl(std::io::BufWriter::new(stdout))?;
        }
        Some(file) => {
            let mut bytes = Vec::new();
            let records = memory.audit().export_jsonl(&mut bytes)?;
            hive_cerebrum::write_atomic(file, &bytes)
                .with_context(|| format!("cannot write the audit export to '{}'", file.display()))?;
            // With --json, stdout carries nothing but records; here they went to the file.
            if !json {
                let mut stdout = std::io::stdout().lock();
                writeln!(stdout, "exported {records} audit records to '{}'", file.display())?;
            }
        }
    }
    Ok(())
}
