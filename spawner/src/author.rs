//! An agent's logic written by a language model: the archetype's `src/lib.rs` rewritten to do what the description
//! says, kept only when the crate compiles and its tests pass, with bounded repair rounds that feed cargo's errors
//! back to the model. When no round passes, the archetype's own logic stays and the note says why.
//!
//! The model answers in JSON mode (`{"lib_rs": "..."}`), like every other request of this crate's client. Its code
//! lands only in `src/lib.rs` of the scratch crate, and runs only under `cargo test`, as the archetype's would.

use std::path::Path;

use serde::Deserialize;

use crate::{
    AgentSpec, Archetype, CheckOptions, RenderedCrate, SpawnerError, TestReport,
    llm::{LlmClient, Message, Role},
    test_crate,
};

/// Repair rounds when none is configured: the first answer and two repairs.
pub const DEFAULT_ROUNDS: usize = 3;

/// At most this much of cargo's output goes back to the model per round, in bytes.
const FEEDBACK_BYTES: usize = 6_000;

/// Writes agents' logic with a language model.
#[derive(Debug, Clone)]
pub struct Author {
    client: LlmClient,
    rounds: usize,
}

/// How the model's attempts went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authored {
    /// The model's `src/lib.rs`, when a crate with it passed its tests; `None`: the archetype's stays.
    pub lib_rs: Option<String>,
    /// How many answers were asked for.
    pub rounds: usize,
    /// One line for the record: what was written, or why the archetype's logic stayed.
    pub note: String,
}

#[derive(Deserialize)]
struct Answer {
    lib_rs: String,
}

impl Author {
    /// An author asking `client`'s model, for at most [`DEFAULT_ROUNDS`] answers per agent.
    pub fn new(client: LlmClient) -> Author {
        Author { client, rounds: DEFAULT_ROUNDS }
    }

    /// At most `rounds` answers (1 or more) per agent.
    pub fn rounds(mut self, rounds: usize) -> Author {
        self.rounds = rounds.max(1);
        self
    }

    /// Asks for `rendered`'s `src/lib.rs` rewritten for `spec` and tests each answer in a scratch crate of its own
    /// under `scratch_parent` (removed afterwards, with whatever the model's tests left in it), feeding a failure
    /// back. Returns the first answer whose crate passed, if any.
    pub async fn write(
        &self,
        scratch_parent: &Path,
        spec: &AgentSpec,
        rendered: &RenderedCrate,
        check: &CheckOptions,
    ) -> Result<Authored, SpawnerError> {
        let original = rendered.file("src/lib.rs").unwrap_or_default().to_owned();
        let mut messages = vec![
            Message::new(Role::System, SYSTEM),
            Message::new(Role::User, first_request(spec, rendered.archetype, &original)),
        ];
        let mut why = String::new();
        let mut rounds = 0;
        while rounds < self.rounds {
            rounds += 1;
            let answer = match self.client.complete(&messages).await {
                Ok(completion) => completion.content,
                Err(err) => {
                    why = format!("the model could not be asked: {err}");
                    break;
                }
            };
            messages.push(Message::new(Role::Assistant, answer.clone()));
            let code = match serde_json::from_str::<Answer>(&answer) {
                Ok(parsed) if !parsed.lib_rs.trim().is_empty() => parsed.lib_rs,
                _ => {
                    why = "the answer was not {\"lib_rs\": \"...\"}".to_owned();
                    messages.push(Message::new(Role::User, format!("{why}. Answer with that JSON object only.")));
                    continue;
                }
            };
            let io = |what: &'static str| move |e: std::io::Error| SpawnerError::Io { what, reason: e.to_string() };
            let scratch = tempfile::Builder::new()
                .prefix(&format!(".{}-model-", spec.name()))
                .tempdir_in(scratch_parent)
                .map_err(io("make a scratch crate"))?;
            rendered.write_to(scratch.path()).map_err(io("write a scratch crate"))?;
            std::fs::write(scratch.path().join("src/lib.rs"), &code).map_err(io("write src/lib.rs"))?;
            let report = test_crate(scratch.path(), spec.name(), check).await?;
            if report.passed {
                let note = format!("logic written by the language model, tests passed in round {rounds}");
                return Ok(Authored { lib_rs: Some(code), rounds, note });
            }
            why = report.summary();
            messages.push(Message::new(Role::User, repair_request(&report)));
        }
        let note = format!(
            "the language model's logic did not pass in {rounds} round(s) ({why}); the {} archetype's logic is used",
            rendered.archetype
        );
        Ok(Authored { lib_rs: None, rounds, note })
    }
}

const SYSTEM: &str = "You write small, correct Rust 2021 crates. You answer with one JSON object, \
{\"lib_rs\": \"<the whole file>\"}, and nothing else.";

fn first_request(spec: &AgentSpec, archetype: Archetype, original: &str) -> String {
    format!(
        "An agent named '{}' should do this: {}\n\nIt is built from the '{archetype}' archetype ({}) Its src/main.rs \
         and tests use the public items of src/lib.rs below. Rewrite src/lib.rs so that the agent does what it \
         should: keep every public item with the same name and signature, keep the module declarations, change \
         the logic and its unit tests to fit the description. Only the standard library and the crate's \
         dependencies may be used.\n\n```rust\n{original}\n```",
        spec.name(),
        spec.description(),
        archetype.summary(),
    )
}

fn repair_request(report: &TestReport) -> String {
    let tail = &report.tail;
    let cut = tail.len().saturating_sub(FEEDBACK_BYTES);
    let start = (cut..tail.len()).find(|i| tail.is_char_boundary(*i)).unwrap_or(tail.len());
    format!(
        "`{}` failed. The end of its output:\n\n```text\n{}\n```\n\nAnswer with the whole corrected src/lib.rs in \
         the same JSON object.",
        report.command,
        &tail[start..]
    )
}
