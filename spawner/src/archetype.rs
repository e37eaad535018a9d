//! What kind of agent a request asks for: the built-in archetypes a new agent's crate is made from, and the tier
//! that decides where its repository lives.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::SpawnerError;

/// A built-in kind of agent, each a template of a whole crate with a real loop and its tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Archetype {
    /// Watches a repository's open issues and labels them by what they say.
    IssueLabeler,
    /// Keeps one issue summarising a repository's failing CI runs.
    CiSummarizer,
    /// Answers GitHub webhook deliveries over HTTP.
    WebhookResponder,
}

impl Archetype {
    /// Every archetype, in the order they are listed.
    pub const ALL: [Archetype; 3] = [Archetype::IssueLabeler, Archetype::CiSummarizer, Archetype::WebhookResponder];

    /// Its name, as `--archetype` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Archetype::IssueLabeler => "issue-labeler",
            Archetype::CiSummarizer => "ci-summarizer",
            Archetype::WebhookResponder => "webhook-responder",
        }
    }

    /// One line on what an agent of this kind does.
    pub fn summary(self) -> &'static str {
        match self {
            Archetype::IssueLabeler => {
                "every interval it reads the repository's open issues and labels them by what they say."
            }
            Archetype::CiSummarizer => {
                "every interval it reads the repository's recent CI runs and keeps one issue summarising the failures."
            }
            Archetype::WebhookResponder => "it answers GitHub webhook deliveries on an HTTP endpoint.",
        }
    }

    /// The words in a description that point to this archetype.
    fn cues(self) -> &'static [&'static str] {
        match self {
            Archetype::IssueLabeler => &["issue", "issues", "label", "labels", "labeler", "labeller", "triage", "tag"],
            Archetype::CiSummarizer => &[
                "ci",
                "build",
                "builds",
                "failure",
                "failures",
                "failing",
                "workflow",
                "workflows",
                "summary",
                "summarise",
                "summarize",
                "summarises",
                "summarizes",
            ],
            Archetype::WebhookResponder => &[
                "webhook", "webhooks", "http", "endpoint", "answer", "answers", "respond", "responds", "server",
                "events",
            ],
        }
    }

    /// The archetype whose cues a description matches most (ties go to the first listed; no cue at all gives the
    /// issue labeler, the most generally useful one).
    pub fn closest(description: &str) -> Archetype {
        let text = description.to_lowercase();
        let words: Vec<&str> = text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).collect();
        let score = |archetype: Archetype| words.iter().filter(|w| archetype.cues().contains(w)).count();
        let mut best = Archetype::IssueLabeler;
        for archetype in Archetype::ALL {
            if score(archetype) > score(best) {
                best = archetype;
            }
        }
        best
    }
}

impl fmt::Display for Archetype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Archetype {
    type Err = SpawnerError;

    fn from_str(s: &str) -> Result<Archetype, SpawnerError> {
        Archetype::ALL.into_iter().find(|a| a.name() == s).ok_or_else(|| SpawnerError::UnknownArchetype {
            archetype: crate::quote(s),
            known: Archetype::ALL.iter().map(|a| a.name()).collect::<Vec<_>>().join(", "),
        })
    }
}

/// Who the agent is for, which decides whether its repository is private.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tier {
    /// A public repository.
    #[default]
    Free,
    /// A private repository.
    Paid,
    /// A private repository.
    Enterprise,
}

impl Tier {
    /// Its name, as `--tier` takes it.
    pub fn name(self) -> &'static str {
        match self {
            Tier::Free => "free",
            Tier::Paid => "paid",
            Tier::Enterprise => "enterprise",
        }
    }

    /// Whether the agent's repository is private.
    pub fn private(self) -> bool {
        !matches!(self, Tier::Free)
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Tier {
    type Err = SpawnerError;

    fn from_str(s: &str) -> Result<Tier, SpawnerError> {
        [Tier::Free, Tier::Paid, Tier::Enterprise]
            .into_iter()
            .find(|t| t.name() == s)
            .ok_or_else(|| SpawnerError::UnknownTier { tier: crate::quote(s) })
    }
}
