//! A bad `hive.toml` as an error: the file, the line, column and dotted key of the offending key or value (found
//! again in the text from serde's byte span), what is wrong and, for a mistyped key, the known key closest to it.

use std::{
    fmt,
    ops::Range,
    path::{Path, PathBuf},
};

use toml::de::DeTable;

/// A bad configuration file: where, which key, what is wrong and, for a mistyped key, the key meant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileError {
    /// The file.
    pub path: PathBuf,
    /// 1-based line and column of the offending key or value; `None` when the file could not be read.
    pub at: Option<(usize, usize)>,
    /// The dotted key (`governance.level`), when known.
    pub key: Option<String>,
    /// What is wrong, lowercase, quoting the value.
    pub message: String,
    /// The known key closest to a mistyped one.
    pub hint: Option<String>,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration '{}", self.path.display())?;
        if let Some((line, column)) = self.at {
            write!(f, ":{line}:{column}")?;
        }
        f.write_str("'")?;
        if let Some(key) = &self.key {
            write!(f, " at key '{key}'")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "; did you mean '{hint}'?")?;
        }
        Ok(())
    }
}

impl std::error::Error for FileError {}

/// A file and its text, to turn spans into lines, columns and keys.
#[derive(Clone, Copy)]
pub(super) struct Located<'a> {
    pub(super) path: &'a Path,
    pub(super) text: &'a str,
}

impl Located<'_> {
    pub(super) fn error(&self, span: Option<Range<usize>>, message: String, hint: Option<String>) -> FileError {
        FileError {
            path: self.path.to_path_buf(),
            at: span.as_ref().map(|s| line_column(self.text, s.start)),
            key: span.and_then(|s| key_at(self.text, s.start)),
            message,
            hint,
        }
    }

    pub(super) fn at(&self, span: &Range<usize>) -> (usize, usize) {
        line_column(self.text, span.start)
    }
}

/// toml's message, lowercased where it is serde's, with the closest known key when a key is unknown. serde reports
/// an unknown key as "unknown field `x`, expected one of `a`, `b`", the one structured form it has.
pub(super) fn explain(message: &str) -> (String, Option<String>) {
    let message = message.trim().to_owned();
    let Some(rest) = message.strip_prefix("unknown field ") else { return (message, None) };
    let quoted: Vec<&str> = rest.split('`').skip(1).step_by(2).collect();
    let Some((unknown, known)) = quoted.split_first() else { return (message, None) };
    let hint = hive::command::nearest(unknown, known.iter().copied()).map(str::to_owned);
    (format!("unknown key '{}'; known keys: {}", unknown.escape_debug(), known.join(", ")), hint)
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, column)
}

/// The dotted key whose name or value holds byte `offset`: the deepest one, so an error inside `[governance]` names
/// `governance.level`, not `governance`.
fn key_at(text: &str, offset: usize) -> Option<String> {
    let doc = DeTable::parse(text).ok()?;
    let mut best: Vec<String> = Vec::new();
    let mut path = Vec::new();
    walk(doc.get_ref(), offset, &mut path, &mut best);
    (!best.is_empty()).then(|| best.join("."))
}

fn walk(table: &DeTable<'_>, offset: usize, path: &mut Vec<String>, best: &mut Vec<String>) {
    for (key, value) in table {
        // As TOML writes it: a key with other than letters, digits, `-` and `_` in quotes (`repos."acme/api"`).
        let name = key.get_ref();
        let bare = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        path.push(if bare { name.to_string() } else { format!("\"{}\"", name.escape_debug()) });
        let holds = |span: Range<usize>| span.contains(&offset) || span.start == offset;
        if (holds(key.span()) || holds(value.span())) && path.len() > best.len() {
            *best = path.clone();
        }
        match value.get_ref() {
            toml::de::DeValue::Table(inner) => walk(inner, offset, path, best),
            toml::de::DeValue::Array(items) => {
                for item in items.iter() {
                    if let toml::de::DeValue::Table(inner) = item.get_ref() {
                        walk(inner, offset, path, best);
                    }
                }
            }
            _ => {}
        }
        path.pop();
    }
}
