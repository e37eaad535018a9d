//! `hive audit verify` and `hive audit export`: the audit trail in the state directory's database, checked or
//! written out as JSON Lines. Both only read: the database is opened read-only, so they work on a read-only state
//! directory and while a hive runs. An export file is written only as a regular file, never over the database's
//! own files, a device, a FIFO or through a symbolic link.

use std::{
    io::Write,
    os::unix::fs::MetadataExt,
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};
use hive_cerebrum::{AuditBreak, Memory};

use crate::cli::{AuditArgs, AuditCommand};

/// Runs one `hive audit` subcommand.
pub fn run(args: &AuditArgs, state_dir: &Path, json: bool) -> anyhow::Result<()> {
    // A missing database is an error (never an empty, intact trail for a typo'd state directory), and nothing is
    // created or migrated.
    let mut memory = Memory::open_read_only(state_dir)?;
    match &args.command {
        AuditCommand::Verify => verify(&mut memory, json),
        AuditCommand::Export { output } => {
            if let Some(file) = output {
                refuse_database_file(state_dir, file)?;
            }
            export(&mut memory, output.as_deref(), json)
        }
    }
}

/// Refuses an output path that is one of the database's files (the database, its log, index, journal or a
/// backup), by name once directories and links are resolved, and by identity (device and inode) for hard links.
fn refuse_database_file(state_dir: &Path, output: &Path) -> anyhow::Result<()> {
    let files = Memory::files(state_dir);
    let canonical_dir = std::fs::canonicalize(state_dir).ok();
    let target = resolved(output);
    let identity = std::fs::metadata(output).ok().map(|m| (m.dev(), m.ino()));
    for file in &files {
        let same_name = match (&target, &canonical_dir, file.file_name()) {
            (Some(target), Some(dir), Some(name)) => *target == dir.join(name),
            _ => false,
        };
        let same_file = identity.is_some() && std::fs::metadata(file).ok().map(|m| (m.dev(), m.ino())) == identity;
        if same_name || same_file {
            bail!(
                "refusing to write the audit export to '{}': it is the hive database's own file '{}'; give another \
                 path with --output",
                output.display(),
                file.display()
            );
        }
    }
    Ok(())
}

/// `path` with its directory resolved (links included) and its final component kept as written, or `None` when
/// the directory does not exist yet (then it holds no database file either).
fn resolved(path: &Path) -> Option<PathBuf> {
    let name = path.file_name()?;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    Some(std::fs::canonicalize(dir).ok()?.join(name))
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
            hive_support::write_atomic_regular(file, &bytes)
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
