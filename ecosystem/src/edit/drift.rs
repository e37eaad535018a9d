//! Drift of a synced file: where its source, its target and the content last synced stand, by content hash.

use sha2::{Digest, Sha256};

/// Where one synced file stands, from three versions of it: as last synced, in the source, in the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncState {
    /// Source and target hold the same content (or neither has the file).
    InStep,
    /// The target still holds what was last synced and the source moved on: sync it again.
    Behind,
    /// The target changed and the source did not: a change to propose back to the source.
    TargetAhead,
    /// Both changed since the last sync (or there was none and they differ): a person decides.
    Conflict,
    /// The source has the file and the target does not.
    Missing,
}

/// The state of one file from the [`content_hash`]es of its three versions, `None` where a version does not
/// exist (`last_synced: None`: never synced). Pure: the caller reads the files and keeps the last synced hash.
///
/// ```
/// use hive_ecosystem::{SyncState, content_hash, sync_state};
///
/// let (old, new) = (content_hash("v1\n"), content_hash("v2\n"));
/// assert_eq!(sync_state(Some(&old), Some(&new), Some(&old)), SyncState::Behind);
/// assert_eq!(sync_state(Some(&old), Some(&old), Some(&new)), SyncState::TargetAhead);
/// ```
pub fn sync_state(last_synced: Option<&str>, source: Option<&str>, target: Option<&str>) -> SyncState {
    if source == target {
        SyncState::InStep
    } else if target.is_none() {
        SyncState::Missing
    } else if last_synced == target {
        // Also a file the source deleted since the sync, the target untouched: the deletion is the source's move.
        SyncState::Behind
    } else if last_synced == source {
        SyncState::TargetAhead
    } else {
        SyncState::Conflict
    }
}

/// The lowercase hex SHA-256 of `text`, the hash [`sync_state`] compares.
pub fn content_hash(text: &str) -> String {
    Sha256::digest(text.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}
