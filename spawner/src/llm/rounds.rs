//! The tool-call rounds of one question: each assistant message that calls tools is answered with one `role: tool`
//! message per call, through the agent's [`Toolbox`], which refuses (and audits) a tool the agent does not have.
//! The rounds are bounded, and a loop is cut: the same call with the same arguments is not run again but told
//! back as an error, and one more repetition ends the question, so a model cannot spin on a tool.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{Message, ToolCall};
use crate::tools::Toolbox;

/// Longest tool result sent back to the model, in characters.
const MAX_RESULT: usize = 32 << 10;

/// What the loop detector says about a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Repeat {
    /// Not seen before in this question: run it.
    New,
    /// Seen once before: tell the model, do not run it.
    Again,
    /// Seen twice before: the model is looping.
    Looping,
}

/// Remembers every call of one question by tool and arguments (parsed, so spacing and key order do not hide a
/// repetition).
#[derive(Debug, Default)]
pub(crate) struct LoopDetector {
    seen: HashMap<(String, String), u32>,
}

impl LoopDetector {
    /// Counts `name(arguments)` and says whether it repeats.
    pub(crate) fn check(&mut self, name: &str, arguments: &str) -> Repeat {
        let canonical =
            serde_json::from_str::<Value>(arguments).map_or_else(|_| arguments.to_owned(), |v| v.to_string());
        let count = self.seen.entry((name.to_owned(), canonical)).or_insert(0);
        *count += 1;
        match *count {
            1 => Repeat::New,
            2 => Repeat::Again,
            _ => Repeat::Looping,
        }
    }
}

/// The tool calls of one question.
#[derive(Debug)]
pub(super) struct Rounds<'t> {
    toolbox: Option<&'t Toolbox>,
    max_rounds: u32,
    rounds: u32,
    detector: LoopDetector,
}

impl<'t> Rounds<'t> {
    pub(super) fn new(toolbox: Option<&'t Toolbox>, max_rounds: u32) -> Rounds<'t> {
        Rounds { toolbox, max_rounds, rounds: 0, detector: LoopDetector::default() }
    }

    /// The tool messages answering `calls`, or why the question ends here (too many rounds, a loop, a database
    /// that cannot record a refusal).
    pub(super) async fn answer(&mut self, calls: &[ToolCall]) -> Result<Vec<Message>, String> {
        self.rounds += 1;
        if self.rounds > self.max_rounds {
            return Err(format!("it called tools in more than {} rounds", self.max_rounds));
        }
        let mut results = Vec::with_capacity(calls.len());
        for call in calls {
            let name = call.function.name.as_str();
            let result = match self.detector.check(name, &call.function.arguments) {
                Repeat::New => self.run(name, &call.function.arguments).await?,
                Repeat::Again => {
                    let why = format!("the call '{}' with these arguments was already made", crate::quote(name));
                    if let Some(toolbox) = self.toolbox {
                        toolbox.record("tool_repeated", name, &why).await.map_err(|e| e.to_string())?;
                    }
                    json!({ "error": format!("{why}; its result is above: use it, or answer") })
                }
                Repeat::Looping => {
                    return Err(format!(
                        "it repeated the call '{}' with the same arguments in a loop",
                        crate::quote(name)
                    ));
                }
            };
            results.push(Message::tool_result(call.id.clone(), cut(result.to_string())));
        }
        Ok(results)
    }

    /// Runs one call; a refusal or a tool's failure is the call's result, for the model to read.
    async fn run(&self, name: &str, arguments: &str) -> Result<Value, String> {
        let Some(toolbox) = self.toolbox else {
            return Ok(
                json!({ "error": format!("no tools are available; the tool '{}' cannot be called", crate::quote(name)) }),
            );
        };
        let arguments: Value = match serde_json::from_str(arguments) {
            Ok(value) => value,
            Err(e) => return Ok(json!({ "error": format!("the arguments are not a JSON object: {e}") })),
        };
        match toolbox.call(name, arguments).await {
            Ok(output) => Ok(output),
            // The database could not tell or record what the agent may do: the question cannot go on safely.
            Err(e @ (crate::ToolError::Memory(_) | crate::ToolError::Scribe(_))) => Err(hive_support::error_chain(&e)),
            Err(e) => Ok(json!({ "error": hive_support::error_chain(&e) })),
        }
    }
}

fn cut(mut text: String) -> String {
    if let Some((at, _)) = text.char_indices().nth(MAX_RESULT) {
        text.truncate(at);
        text.push_str("...[cut]");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_call_with_the_same_arguments_is_a_repeat_whatever_its_spacing() {
        let mut detector = LoopDetector::default();
        let cases = [
            ("terminal", r#"{"program": "ls", "args": []}"#, Repeat::New),
            ("terminal", r#"{"args":[],"program":"ls"}"#, Repeat::Again),
            ("terminal", r#"{"program": "git"}"#, Repeat::New),
            ("knowledge", r#"{"program": "ls", "args": []}"#, Repeat::New),
            ("terminal", r#"{ "program" : "ls" , "args" : [ ] }"#, Repeat::Looping),
            ("terminal", "not json", Repeat::New),
            ("terminal", "not json", Repeat::Again),
        ];
        for (name, arguments, expected) in cases {
            assert_eq!(detector.check(name, arguments), expected, "{name} {arguments}");
        }
    }
}
