//! What the writes about whole repositories answer: a repository hive created (or found made by it already), and
//! the reviews of a pull request, in GitHub's review states.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{RepoId, WriteError};

/// How long one git command of a branch push or fetch may take: a new repository's first push carries everything.
pub(crate) const BRANCH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// A repository hive created (or found already made by hive: see
/// [`ForgeWriter::create_repository`](crate::ForgeWriter::create_repository)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedRepository {
    /// The repository, as the forge spells it.
    pub repo: RepoId,
    /// Where git pushes to and clones from (GitHub: the clone URL; the emulator: its bare repository; local: a path).
    pub clone_url: String,
    /// The branch the repository's history starts on.
    pub default_branch: String,
    /// Whether only those given access see it (a local repository is private to its machine).
    pub private: bool,
    /// Whether this call made it (false: it existed already, e.g. a retried spawn).
    pub created: bool,
}

/// Where a repository is cloned from and which branch changes go into, as [`ForgeWriter::origin`] answers.
///
/// [`ForgeWriter::origin`]: crate::ForgeWriter::origin
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Origin {
    /// The repository, as the forge spells it.
    pub repo: RepoId,
    /// Where git clones it from (GitHub: the clone URL; local: a `file://` URL of its directory).
    pub clone_url: String,
    /// Its default branch.
    pub default_branch: String,
    /// Whether it is archived (read-only).
    pub archived: bool,
}

/// Whether the reviews of the commit `head` approve it: someone's latest review of it approves, and nobody's latest
/// asks for changes. A review of an older commit says nothing about this one.
pub fn approves(reviews: &[Review], head: &str) -> bool {
    let mut latest: Vec<(&str, &ReviewState)> = Vec::new();
    for review in reviews {
        if matches!(review.state, ReviewState::Commented | ReviewState::Pending)
            || review.commit_id.as_deref().is_some_and(|commit| commit != head)
        {
            continue;
        }
        match latest.iter_mut().find(|(user, _)| *user == review.user) {
            Some(slot) => slot.1 = &review.state,
            None => latest.push((&review.user, &review.state)),
        }
    }
    latest.iter().any(|(_, s)| **s == ReviewState::Approved)
        && !latest.iter().any(|(_, s)| **s == ReviewState::ChangesRequested)
}

/// One review of a pull request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Review {
    /// The review's id.
    pub id: u64,
    /// Who reviewed (empty when the account is gone: GitHub sends no user then).
    pub user: String,
    /// What the review says.
    pub state: ReviewState,
    /// The commit reviewed; an approval of an older head does not approve the current one.
    pub commit_id: Option<String>,
}

/// A review's state, as GitHub documents them; anything else GitHub may add is kept as [`ReviewState::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReviewState {
    /// `APPROVED`.
    Approved,
    /// `CHANGES_REQUESTED`.
    ChangesRequested,
    /// `COMMENTED`.
    Commented,
    /// `DISMISSED`: an approval or change request that no longer counts.
    Dismissed,
    /// `PENDING`: started, not submitted.
    Pending,
    /// A state this version of hive does not know, as GitHub wrote it.
    Other(String),
}

impl ReviewState {
    /// GitHub's spelling.
    pub fn as_str(&self) -> &str {
        match self {
            ReviewState::Approved => "APPROVED",
            ReviewState::ChangesRequested => "CHANGES_REQUESTED",
            ReviewState::Commented => "COMMENTED",
            ReviewState::Dismissed => "DISMISSED",
            ReviewState::Pending => "PENDING",
            ReviewState::Other(other) => other,
        }
    }

    /// The state GitHub's `text` names.
    pub fn parse(text: &str) -> ReviewState {
        match text {
            "APPROVED" => ReviewState::Approved,
            "CHANGES_REQUESTED" => ReviewState::ChangesRequested,
            "COMMENTED" => ReviewState::Commented,
            "DISMISSED" => ReviewState::Dismissed,
            "PENDING" => ReviewState::Pending,
            other => ReviewState::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for ReviewState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ReviewState {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ReviewState {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(ReviewState::parse(&String::deserialize(deserializer)?))
    }
}

/// `owner/name` as a [`RepoId`], so a hostile owner or name is refused before any request or path is made.
pub(crate) fn new_repo_id(owner: &str, name: &str) -> Result<RepoId, WriteError> {
    Ok(RepoId::new(format!("{owner}/{name}"))?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn review_states_read_and_write_githubs_spelling_and_keep_unknown_ones() {
        for (text, state) in [
            ("APPROVED", ReviewState::Approved),
            ("CHANGES_REQUESTED", ReviewState::ChangesRequested),
            ("COMMENTED", ReviewState::Commented),
            ("DISMISSED", ReviewState::Dismissed),
            ("PENDING", ReviewState::Pending),
            ("ESCALATED", ReviewState::Other("ESCALATED".into())),
        ] {
            let read: ReviewState = serde_json::from_value(serde_json::json!(text)).expect("a string");
            assert_eq!(read, state);
            assert_eq!(serde_json::to_value(&read).expect("serialises"), serde_json::json!(text));
        }
    }

    #[test]
    fn hostile_owners_and_names_are_refused() {
        for (owner, name) in [("acme", "../x"), ("acme", "a/b"), ("-x", "y"), ("acme", ""), ("acme", "a b"), ("", "x")]
        {
            let err = new_repo_id(owner, name).expect_err(name);
            assert!(err.to_string().starts_with("invalid repository name"), "{err}");
        }
        assert_eq!(new_repo_id("acme", "agent").expect("valid").as_str(), "acme/agent");
    }

    fn review(user: &str, state: ReviewState, commit: Option<&str>) -> Review {
        Review { id: 1, user: user.to_owned(), state, commit_id: commit.map(str::to_owned) }
    }

    #[test]
    fn only_a_current_approval_of_the_head_approves() {
        use ReviewState::{Approved, ChangesRequested, Commented, Dismissed};
        let table: [(&str, Vec<Review>, bool); 7] = [
            ("nothing", vec![], false),
            ("approved", vec![review("ann", Approved, Some("h1"))], true),
            ("a comment is not an approval", vec![review("ann", Commented, Some("h1"))], false),
            ("an older commit's approval", vec![review("ann", Approved, Some("h0"))], false),
            (
                "changes asked for by another",
                vec![review("ann", Approved, Some("h1")), review("bob", ChangesRequested, Some("h1"))],
                false,
            ),
            (
                "changes asked for, then approved by the same",
                vec![review("bob", ChangesRequested, Some("h1")), review("bob", Approved, Some("h1"))],
                true,
            ),
            (
                "approved, then dismissed",
                vec![review("ann", Approved, Some("h1")), review("ann", Dismissed, None)],
                false,
            ),
        ];
        for (case, reviews, expected) in table {
            assert_eq!(approves(&reviews, "h1"), expected, "{case}");
        }
    }
}
