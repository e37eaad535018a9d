//! The steward's cases as stored: a CI failure's issue, a formatter fix's pull request, the emergency alert and a
//! re-run, each an identity row whose `state` column is a closed enum and whose `data` column is a serde-derived
//! struct, instead of strings and `data["key"]` look-ups.
//!
//! The wire format is the one rows were always written in (the state names and the data's field names), so a
//! database written before these types existed loads unchanged; fields older rows lack take their defaults. A row
//! that does not fit its case (an unknown state, a field of the wrong type) is a clear error naming the row, never
//! a guess.

use hive_cerebrum::{Identity, ItemKind, Memory, MemoryError, Risk};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// A state enum of one kind of case, with the identity kind its rows are stored under.
pub(crate) trait CaseState: Serialize + DeserializeOwned + Copy + PartialEq + std::fmt::Debug {
    /// The identity's `kind` column.
    const KIND: &'static str;
}

/// One case: an identity row with its state and data typed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Case<S, D> {
    pub(crate) key: String,
    pub(crate) repo: String,
    /// Its number on the forge, once known.
    pub(crate) number: Option<u64>,
    pub(crate) state: S,
    /// What it is about (a failure signature's hash), to recognise the same problem again.
    pub(crate) fingerprint: Option<String>,
    pub(crate) data: D,
    pub(crate) updated_at: i64,
}

impl<S: CaseState, D: Serialize + DeserializeOwned> Case<S, D> {
    /// The case stored in `identity`, or why it does not fit.
    pub(crate) fn decode(identity: &Identity) -> Result<Self, String> {
        if identity.kind != S::KIND {
            return Err(format!("kind '{}' is not '{}'", identity.kind, S::KIND));
        }
        let name = identity.state.as_deref().ok_or_else(|| "it has no state".to_owned())?;
        let state = serde_json::from_value(serde_json::Value::String(name.to_owned()))
            .map_err(|_| format!("state '{name}' is not a state of a {} case", S::KIND))?;
        let data = serde_json::from_value(identity.data.clone()).map_err(|e| format!("data does not fit: {e}"))?;
        Ok(Case {
            key: identity.key.clone(),
            repo: identity.repo.clone(),
            number: identity.number,
            state,
            fingerprint: identity.fingerprint.clone(),
            data,
            updated_at: identity.updated_at,
        })
    }

    /// The identity row this case is stored as.
    pub(crate) fn encode(&self) -> Identity {
        let state = serde_json::to_value(self.state)
            .ok()
            .and_then(|name| name.as_str().map(str::to_owned))
            .expect("a case state is a fieldless enum, which serialises to its name");
        Identity {
            key: self.key.clone(),
            repo: self.repo.clone(),
            kind: S::KIND.to_owned(),
            number: self.number,
            state: Some(state),
            fingerprint: self.fingerprint.clone(),
            data: serde_json::to_value(&self.data).expect("case data is plain fields, which always serialise"),
            updated_at: self.updated_at,
        }
    }
}

/// The case stored under `key`, if any; a row that does not fit is the database's bad record.
pub(crate) fn load<S: CaseState, D: Serialize + DeserializeOwned>(
    m: &mut Memory,
    key: &str,
) -> Result<Option<Case<S, D>>, MemoryError> {
    m.identities().get(key)?.map(|identity| typed(m, &identity)).transpose()
}

/// `identity` as a case, or the database's bad record naming it.
pub(crate) fn typed<S: CaseState, D: Serialize + DeserializeOwned>(
    m: &Memory,
    identity: &Identity,
) -> Result<Case<S, D>, MemoryError> {
    Case::decode(identity).map_err(|reason| MemoryError::BadRecord {
        path: m.path().to_path_buf(),
        table: "identity",
        key: identity.key.clone(),
        reason,
    })
}

/// Stores `case`, replacing the row with its key.
pub(crate) fn store<S: CaseState, D: Serialize + DeserializeOwned>(
    m: &mut Memory,
    case: &Case<S, D>,
) -> Result<(), MemoryError> {
    m.identities().put(&case.encode())
}

/// Where a CI failure's issue stands, as hive last wrote it. The states in `-ing` are written before the request
/// is sent, so after a crash the issue found on the forge says whether the request got there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum IssueState {
    /// Being filed: found by its marker if the request reached GitHub.
    Opening,
    /// Open on the forge.
    Open,
    /// Never filed (not allowed, or not sent).
    Unfiled,
    /// Being reopened.
    Reopening,
    /// Being closed because CI is green.
    Closing,
    /// Closed by hive.
    Closed,
    /// Closed by a human while the failure lasted: left closed until CI is green again.
    ClosedByHuman,
}

impl CaseState for IssueState {
    const KIND: &'static str = "issue";
}

impl IssueState {
    /// Whether the issue may be open on the forge (or being filed, reopened or closed).
    pub(crate) fn is_live(self) -> bool {
        matches!(self, IssueState::Open | IssueState::Opening | IssueState::Reopening | IssueState::Closing)
    }
}

/// What hive keeps about a CI failure's issue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct IssueData {
    /// When hive last wrote on the issue (filed it or commented), unix seconds: at most one comment a day.
    pub(crate) last_touch: i64,
    /// The kind of the failure's backlog item, which with the title names it.
    pub(crate) kind: ItemKind,
    /// The issue's exact title, how it is found again (with its label and marker).
    pub(crate) title: String,
    /// How often the failure came back after a close: each return is an episode with its own one-off comments.
    /// Rows written before the first return lack it.
    #[serde(skip_serializing_if = "is_zero")]
    pub(crate) episode: u64,
}

impl Default for IssueData {
    fn default() -> Self {
        IssueData { last_touch: 0, kind: ItemKind::Bug, title: String::new(), episode: 0 }
    }
}

/// A CI failure's issue.
pub(crate) type IssueCase = Case<IssueState, IssueData>;

/// Where a fix stands on the forge, as hive last saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum FixState {
    /// Made and measured, recorded before its branch is pushed and its pull request opened.
    Prepared,
    /// Its pull request is open: checked each cycle, merged when green.
    Open,
    /// Published as a branch for a human to merge, on a forge without pull requests (a local repository).
    Published,
    /// Its pull request was merged.
    Merged,
    /// Its pull request was closed unmerged: a human said no; never opened again.
    ClosedByHuman,
    /// Only failed attempts so far (nothing was ever prepared).
    Failed,
}

impl CaseState for FixState {
    const KIND: &'static str = "fix";
}

/// What hive keeps about one fix.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct FixData {
    /// Failed attempts (the formatter changed nothing, or the pull request's checks were red on another day).
    pub(crate) attempts: u32,
    /// Commits a fix was tried for (the failing default-branch head), or `<head>@<day>` for a pull request's head
    /// whose checks failed that day.
    pub(crate) tried: Vec<String>,
    /// `needs-human` was added to the tracking issue.
    pub(crate) escalated: bool,
    /// The owners were mentioned (retried until the comment limit lets it through).
    pub(crate) mentioned: bool,
    /// The fix's size, measured before it was pushed: its risk.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) lines: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) branch: Option<String>,
    /// The pull request's head when last seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) head_sha: Option<String>,
    /// The commit made and measured in the clone: a branch found at it after a crash is ours, of known size.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) prepared_sha: Option<String>,
    /// The backlog item it works on (what `hive approve` names).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) item: Option<String>,
    /// The failure signature's hash, also the identity's fingerprint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) signature: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) title: Option<String>,
    /// The risk the pull request was opened at, which its merge is decided at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) risk: Option<Risk>,
}

/// A formatter fix.
pub(crate) type FixCase = Case<FixState, FixData>;

/// Where the emergency alert issue stands, as hive last wrote it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum AlertState {
    Opening,
    Open,
    Reopening,
    Closing,
    Closed,
    /// Closed by a human during the emergency: left closed until the next one.
    ClosedByHuman,
}

impl CaseState for AlertState {
    const KIND: &'static str = "alert";
}

impl AlertState {
    /// Whether the alert may be open on the forge (or being filed, reopened or closed).
    pub(crate) fn is_live(self) -> bool {
        matches!(self, AlertState::Open | AlertState::Opening | AlertState::Reopening | AlertState::Closing)
    }
}

/// The alert keeps nothing besides its state and number.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct NoData {}

/// The emergency alert.
pub(crate) type AlertCase = Case<AlertState, NoData>;

/// A re-run hive requested.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum RerunState {
    Requested,
}

impl CaseState for RerunState {
    const KIND: &'static str = "rerun";
}

/// The attempt that failed and was re-run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct RerunData {
    pub(crate) attempt: u32,
}

/// A re-run of a failed run.
pub(crate) type RerunCase = Case<RerunState, RerunData>;

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[cfg(test)]
mod tests;
