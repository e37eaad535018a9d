//! Parsers for the two task files whose entries are commands: Makefile targets and justfile recipes.
//!
//! Both are deliberately small: they recognise what a person would call "the targets" of a hand-written file and
//! skip anything they do not understand, rather than being full make or just parsers.

use super::safe_name;

/// Directives that start a line but never a rule.
const MAKE_DIRECTIVES: [&str; 13] = [
    "ifeq", "ifneq", "ifdef", "ifndef", "else", "endif", "include", "-include", "sinclude", "export", "unexport",
    "override", "vpath",
];

/// The explicit targets of a Makefile, in order: not pattern rules (`%.o: %.c`), special targets (`.PHONY`),
/// variable assignments (`X := y`), target-specific variables (`t: X = y`), targets built from variables
/// (`$(OUT)/app`) or paths (`out/app`), nor anything inside `define ... endef`.
pub(crate) fn make_targets(text: &str) -> Vec<String> {
    let mut targets: Vec<String> = Vec::new();
    let mut in_define = false;
    for line in logical_lines(text) {
        // A recipe line: commands, not rules.
        if line.starts_with('\t') {
            continue;
        }
        let line = line.split('#').next().unwrap_or_default().trim();
        let first_word = line.split_whitespace().next().unwrap_or_default();
        if in_define {
            in_define = first_word != "endef";
            continue;
        }
        if first_word == "define" {
            in_define = true;
            continue;
        }
        if MAKE_DIRECTIVES.contains(&first_word) {
            continue;
        }
        let Some(colon) = line.find(':') else { continue };
        // `X = a:b`, `X ?= y` and friends: the '=' comes first, so this is an assignment.
        if line[..colon].contains('=') {
            continue;
        }
        // What follows `;` is an inline recipe, which may contain anything.
        let prerequisites = line[colon..].trim_start_matches(':').split(';').next().unwrap_or_default();
        // `X := y`, `X ::= y`; and `t: X = y` sets a variable for a target rather than defining a rule.
        if prerequisites.contains('=') {
            continue;
        }
        for target in line[..colon].split_whitespace() {
            let explicit = !target.starts_with('.') && !target.contains(['%', '$', '/']) && safe_name(target);
            if explicit && !targets.iter().any(|t| t == target) {
                targets.push(target.to_owned());
            }
        }
    }
    targets
}

/// Joins backslash-continued lines, as make reads them.
fn logical_lines(text: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        match line.strip_suffix('\\') {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(line);
                lines.push(std::mem::take(&mut current));
            }
        }
    }
    if !current.is_empty() {
        lines.push(current);
    }
    lines
}

/// The public recipes of a justfile, in order: not private ones (`_name` or `[private]`), aliases, settings,
/// assignments, imports or modules.
pub(crate) fn just_recipes(text: &str) -> Vec<String> {
    let mut recipes: Vec<String> = Vec::new();
    let mut private = false;
    for line in text.lines() {
        // Recipe bodies and comments.
        if line.starts_with([' ', '\t', '#']) || line.trim().is_empty() {
            continue;
        }
        if line.starts_with('[') {
            // Attributes apply to the recipe that follows.
            private |= line.contains("private");
            continue;
        }
        let first_word = line.split_whitespace().next().unwrap_or_default();
        if ["set", "alias", "export", "import", "mod", "!include"].contains(&first_word) {
            private = false;
            continue;
        }
        let body = line.strip_prefix('@').unwrap_or(line);
        let name_len = body.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-')).unwrap_or(body.len());
        let (name, rest) = body.split_at(name_len);
        let rest = rest.trim_start();
        let is_recipe = !name.is_empty() && !rest.starts_with(":=") && rest.contains(':');
        if is_recipe && !private && !name.starts_with('_') && safe_name(name) && !recipes.iter().any(|r| r == name) {
            recipes.push(name.to_owned());
        }
        private = false;
    }
    recipes
}
