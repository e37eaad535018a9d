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

#[cfg(test)]
mod tests {
    use hive_cerebrum::{Identity, Memory};
    use serde_json::{Value, json};

    use super::*;

    fn row(key: &str, repo: &str, kind: &str, number: u64, state: &str, data: Value) -> Identity {
        Identity {
            key: key.to_owned(),
            repo: repo.to_owned(),
            kind: kind.to_owned(),
            number: Some(number),
            state: Some(state.to_owned()),
            fingerprint: None,
            data,
            updated_at: 1_700_000_000,
        }
    }

    #[test]
    fn only_what_may_be_open_on_the_repository_is_listed() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Memory::open(dir.path()).unwrap();
        let issue = json!({ "kind": "bug", "title": "CI failing on main" });
        for identity in [
            row("issue:acme/api:a", "acme/api", "issue", 3, "open", issue.clone()),
            row("issue:acme/api:b", "acme/api", "issue", 4, "closed", issue.clone()),
            row("issue:acme/web:a", "acme/web", "issue", 5, "open", issue.clone()),
            row("fix:acme/api:a", "acme/api", "fix", 6, "open", json!({ "title": "Format the code" })),
            row("fix:acme/api:b", "acme/api", "fix", 7, "merged", json!({})),
            row("alert:acme/api", "acme/api", "alert", 8, "reopening", json!({})),
            row("rerun:acme/api:1", "acme/api", "rerun", 9, "requested", json!({})),
        ] {
            m.identities().put(&identity).unwrap();
        }
        let found: Vec<(FiledKind, Option<u64>, String, Option<String>)> =
            open_filed(&mut m, "acme/api").unwrap().into_iter().map(|f| (f.kind, f.number, f.state, f.title)).collect();
        assert_eq!(
            found,
            [
                (FiledKind::Alert, Some(8), "reopening".to_owned(), None),
                (FiledKind::PullRequest, Some(6), "open".to_owned(), Some("Format the code".to_owned())),
                (FiledKind::Issue, Some(3), "open".to_owned(), Some("CI failing on main".to_owned())),
            ]
        );

        // A row that does not fit its case is the database's bad record, not a guess.
        m.identities().put(&row("issue:acme/api:c", "acme/api", "issue", 10, "shredded", issue)).unwrap();
        let err = open_filed(&mut m, "acme/api").unwrap_err().to_string();
        assert!(err.contains("issue:acme/api:c") && err.contains("shredded"), "{err}");
    }
}
