//! Why a change set could not be made, carried out or found.

use hive_cerebrum::MemoryError;

/// Why a change set could not go on. Where a step failed after others succeeded, the set's record in hive.db says
/// how far it got, and running the same command again resumes it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChangeError {
    /// The spec cannot be carried out.
    #[error("invalid change: {reason}")]
    InvalidSpec {
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// Not a change set's id.
    #[error("'{id}' is not a change set's id (they look like chg-0123456789ab); see 'hive change status'")]
    InvalidId {
        /// The text, escaped.
        id: String,
    },
    /// No change set has this id.
    #[error("no change set '{id}'; see 'hive change status' for the known ones")]
    NotFound {
        /// The id.
        id: String,
    },
    /// Some of the repositories are held by other open change sets.
    #[error("{} held by another open change set: {}; wait for it, or abort it with 'hive change abort <id>'", if held.len() == 1 { "a repository is" } else { "repositories are" }, held.join(", "))]
    Locked {
        /// `owner/name (by chg-...)`, one per repository.
        held: Vec<String>,
    },
    /// The targets named no repository.
    #[error("the change names no repository of the fleet: {reason}")]
    NoRepositories {
        /// What was looked for.
        reason: String,
    },
    /// The operation changes nothing in any repository named: nothing was recorded or written.
    #[error("the change changes nothing in the {} it names; nothing to do", if *repos == 1 { "one repository".to_owned() } else { format!("{repos} repositories") })]
    NoChange {
        /// How many repositories were looked at.
        repos: usize,
    },
    /// Making the change in one repository failed; nothing was published.
    #[error("cannot make the change in '{repo}': {reason}")]
    Prepare {
        /// The repository.
        repo: String,
        /// Why.
        reason: String,
    },
    /// The forge could not be read or written; the set's record says how far it got.
    #[error("forge error for '{repo}': {reason}{}", if *transient { "; the forge may answer later: run the same command again to resume" } else { "" })]
    Forge {
        /// The repository.
        repo: String,
        /// What the forge said, secrets redacted.
        reason: String,
        /// Whether waiting may help (a timeout, a 5xx, a rate limit).
        transient: bool,
    },
    /// This process is moving the set on already (the router's background apply, another command).
    #[error("change set '{id}' is being moved on already; look at it with 'changes show {id}' and try again later")]
    Busy {
        /// The set.
        id: String,
    },
    /// The operation asked for is not possible in this state.
    #[error("change set '{id}' is {state}: {reason}")]
    WrongState {
        /// The set.
        id: String,
        /// Its state.
        state: &'static str,
        /// What to do instead.
        reason: String,
    },
    /// The database refused.
    #[error(transparent)]
    Memory(#[from] MemoryError),
    /// The scribe is gone (the hive is stopping).
    #[error("the database's scribe stopped: {0}")]
    Scribe(String),
    /// A stored record could not be read.
    #[error("change set {id}'s record cannot be read: {reason}")]
    BadRecord {
        /// The set.
        id: String,
        /// Why.
        reason: String,
    },
}
