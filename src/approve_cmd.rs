//! `hive approve <ID>`: a human's go-ahead for risky work, recorded in the state directory's database (and in its
//! audit trail) with an expiry.

use std::{
    path::Path,
    time::{SystemTime, UNIX_EPOCH},
};

use anyhow::bail;
use hive_cerebrum::Memory;

use crate::cli::ApproveArgs;

/// Longest id accepted; backlog ids are 16 characters, write keys rarely pass 100.
const MAX_ID: usize = 200;
/// Longest approver name accepted.
const MAX_NAME: usize = 100;

/// Runs `hive approve`.
pub fn run(args: &ApproveArgs, state_dir: &Path, json: bool) -> anyhow::Result<()> {
    check_id(&args.id)?;
    check_name(&args.by)?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let now = i64::try_from(now).unwrap_or(i64::MAX);
    // Approving ahead of the first run is allowed, so the database is created if it is not there yet.
    let mut memory = Memory::open(state_dir)?;
    let approval = memory.approvals().approve(&args.id, &args.by, now, u64::from(args.hours) * 3_600)?;
    let until = approval.expires_rfc3339();
    if json {
        println!(
            "{}",
            serde_json::json!({ "id": approval.id, "approved_by": approval.approved_by, "expires_at": until })
        );
    } else {
        println!("approved {} until {until}", approval.id);
    }
    Ok(())
}

/// Ids end up in the database, the audit trail and terminals: only `[0-9a-zA-Z:_./-]{1,200}`.
fn check_id(id: &str) -> anyhow::Result<()> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '.' | '/' | '-');
    if id.is_empty() || id.len() > MAX_ID || !id.chars().all(allowed) {
        let shown = crate::terminal::line(&id.chars().take(60).collect::<String>());
        bail!(
            "'{shown}' is not an approvable id: use 1 to {MAX_ID} letters, digits and ':_./-' (a backlog item id \
             from `hive backlog`, or a write key)"
        );
    }
    Ok(())
}

/// The approver's name is recorded as `human:<name>`: printable, and short.
fn check_name(name: &str) -> anyhow::Result<()> {
    if name.trim().is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        let shown = crate::terminal::line(&name.chars().take(60).collect::<String>());
        bail!("'{shown}' is not a usable approver name: use 1 to {MAX_NAME} printable characters with --by");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_letters_digits_and_a_few_separators() {
        for ok in ["98673d657cef46f6", "comment:acme/api#3".replace('#', "-").as_str(), "a", &"x".repeat(200)] {
            assert!(check_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "x;rm -rf /", "id\n", "ünï", "$(id)", &"x".repeat(201)] {
            assert!(check_id(bad).is_err(), "{bad:?}");
        }
    }
}
