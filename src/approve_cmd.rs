//! `hive approve <ID>`: a human's go-ahead for risky work, recorded in the state directory's database (and in its
//! audit trail) with an expiry.

use std::{
    path::Path,
    time::{SystemTime, UNIX_EPOCH},
};

use anyhow::bail;
use hive_cerebrum::Memory;

use crate::cli::ApproveArgs;

/// Longest approver name accepted.
const MAX_NAME: usize = 100;

/// Runs `hive approve`.
pub fn run(args: &ApproveArgs, state_dir: &Path, json: bool) -> anyhow::Result<()> {
    hive::command::approval_id(&args.id)?;
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

/// The approver's name is recorded as `human:<name>`: printable, and short.
fn check_name(name: &str) -> anyhow::Result<()> {
    if name.trim().is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        let shown = crate::terminal::line(&name.chars().take(60).collect::<String>());
        bail!("'{shown}' is not a usable approver name: use 1 to {MAX_NAME} printable characters with --by");
    }
    Ok(())
}
