//! The body of a change set's pull requests: the message, every sibling pull request, the set's id and the
//! decision record. What comes from outside hive (a forge's message, a halt's reason) is quoted as markdown prose,
//! so it cannot mention anyone, link anywhere or close the decision record's comment.

use hive_cerebrum::quote::{code, plain};

use crate::{ChangeRecord, RepoState};

/// The body of the set's pull request in each repository; `decision` is governance's record, an HTML comment.
pub(crate) fn pull_body(record: &ChangeRecord, decision: &str) -> String {
    let mut body = String::new();
    if !record.spec.message.trim().is_empty() {
        body.push_str(record.spec.message.trim());
        body.push_str("\n\n");
    }
    let changed: Vec<_> = record.changed().collect();
    body.push_str(&format!(
        "This pull request is one of {} in change set `{}` ({}). hive merges them together, dependencies first, \
         only when every check of every one is green; if one fails, none is merged and those already merged are \
         reverted.\n\n",
        changed.len(),
        record.id,
        code(&record.spec.operation.describe()),
    ));
    body.push_str("| Repository | Pull request |\n|---|---|\n");
    for repo in changed {
        let pull = match (repo.pull, repo.state) {
            (Some(number), _) => format!("{}#{number}", repo.repo),
            (None, RepoState::Planned | RepoState::Pushed) => "not opened yet".to_owned(),
            (None, _) => "none".to_owned(),
        };
        body.push_str(&format!("| {} | {pull} |\n", repo.repo));
    }
    body.push_str(&format!("\n<!-- hive-change: {} -->\n", record.id));
    body.push_str(decision);
    body.push('\n');
    body
}

/// The body of a rollback's revert pull request: why, and every step the set took.
pub(crate) fn revert_body(record: &ChangeRecord, repo: &str, merge_sha: &str, decision: &str) -> String {
    let mut body = format!(
        "Reverts {merge_sha}, the merge of change set `{}` in {repo}, because the set was rolled back",
        record.id
    );
    match &record.halt {
        Some(halt) if !halt.repo.is_empty() => {
            body.push_str(&format!(": {} failed ({}).\n\n", halt.repo, plain(&halt.reason)));
        }
        Some(halt) => body.push_str(&format!(": {}.\n\n", plain(&halt.reason))),
        None => body.push_str(".\n\n"),
    }
    body.push_str("What the set did:\n\n");
    for step in &record.steps {
        let at = if step.repo.is_empty() { String::new() } else { format!("{}: ", step.repo) };
        body.push_str(&format!("- {} {at}{}\n", step.at, plain(&step.what)));
    }
    body.push_str(&format!("\n<!-- hive-change-revert: {} -->\n", record.id));
    body.push_str(decision);
    body.push('\n');
    body
}
