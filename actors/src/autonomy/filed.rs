//! What hive has open on a forge for one repository (its CI failures' issues, its fixes' pull requests, the
//! emergency alert), read from the cases the steward stores, for people and the API: no decision reads it.

use hive_cerebrum::{Memory, MemoryError};
use serde::Serialize;

use super::case::{AlertCase, FixCase, FixState, IssueCase, typed};

/// What kind of thing hive filed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FiledKind {
    /// An issue about a CI failure.
    Issue,
    /// A fix's pull request.
    PullRequest,
    /// The emergency alert issue.
    Alert,
}

/// One issue or pull request hive filed and has not seen closed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Filed {
    /// What it is.
    pub kind: FiledKind,
    /// Its number on the forge, once known.
    pub number: Option<u64>,
    /// Where it stands as hive last wrote it (`open`, `opening`, `closing`, ...).
    pub state: String,
    /// Its title, when hive keeps it.
    pub title: Option<String>,
    /// The key hive keeps it under.
    pub key: String,
}

/// Everything hive filed for `repo` that may be open on the forge now, ordered by key. A stored case that does not
/// fit its type is the database's bad record, as everywhere else.
pub fn open_filed(m: &mut Memory, repo: &str) -> Result<Vec<Filed>, MemoryError> {
    let identities = m.identities().list(None)?;
    let mut found = Vec::new();
    for identity in identities.iter().filter(|identity| identity.repo == repo) {
        let filed = match identity.kind.as_str() {
            "issue" => {
                let case: IssueCase = typed(m, identity)?;
                case.state.is_live().then(|| Filed {
                    kind: FiledKind::Issue,
                    number: case.number,
                    state: name(&case.state),
                    title: Some(case.data.title.clone()).filter(|t| !t.is_empty()),
                    key: case.key,
                })
            }
            "fix" => {
                let case: FixCase = typed(m, identity)?;
                (case.state == FixState::Open).then(|| Filed {
                    kind: FiledKind::PullRequest,
                    number: case.number,
                    state: name(&case.state),
                    title: case.data.title.clone(),
                    key: case.key,
                })
            }
            "alert" => {
                let case: AlertCase = typed(m, identity)?;
                case.state.is_live().then(|| Filed {
                    kind: FiledKind::Alert,
                    number: case.number,
                    state: name(&case.state),
                    title: None,
                    key: case.key,
                })
            }
            _ => None,
        };
        found.extend(filed);
    }
    Ok(found)
}

/// A case state's stored name (its serde name).
fn name<S: Serialize>(state: &S) -> String {
    serde_json::to_value(state).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default()
}
