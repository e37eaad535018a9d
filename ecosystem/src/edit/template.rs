//! `{{key}}` placeholders filled in one pass: the templates of synced files here, the agents' crate templates in
//! the spawner.

/// Why a template could not be filled. Lines count from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PlaceholderError {
    /// A placeholder with no value.
    #[error("unknown placeholder '{{{{{placeholder}}}}}' on line {line}")]
    Unknown {
        /// Its line.
        line: usize,
        /// The text between the braces, without surrounding spaces.
        placeholder: String,
    },
    /// A `{{` with no `}}` after it on its line.
    #[error("'{{{{' with no closing '}}}}' on line {line}")]
    Unclosed {
        /// Its line.
        line: usize,
    },
}

/// `template` with every `{{key}}` (spaces inside the braces allowed) replaced by `value(key)`, and every `{{{{` by a
/// literal `{{`. One pass over the template: a value is never read for placeholders itself, so a value holding
/// `{{name}}` stays that text. A key `value` does not know, or a `{{` not closed on its line, is an error: a template
/// never reaches a file half filled.
///
/// ```
/// use hive_ecosystem::{PlaceholderError, fill_placeholders};
///
/// let value = |key: &str| (key == "name").then_some("{{name}}s");
/// assert_eq!(fill_placeholders("{{ name }} and ${{{{ x }}", value), Ok("{{name}}s and ${{ x }}".to_owned()));
/// assert_eq!(
///     fill_placeholders("a\n{{nope}}", value),
///     Err(PlaceholderError::Unknown { line: 2, placeholder: "nope".into() })
/// );
/// ```
pub fn fill_placeholders<'v>(
    template: &str,
    value: impl Fn(&str) -> Option<&'v str>,
) -> Result<String, PlaceholderError> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    let mut line = 1;
    while let Some(start) = rest.find("{{") {
        let before = &rest[..start];
        out.push_str(before);
        line += before.matches('\n').count();
        let open = &rest[start + 2..];
        if let Some(after) = open.strip_prefix("{{") {
            out.push_str("{{");
            rest = after;
            continue;
        }
        let line_end = open.find('\n').unwrap_or(open.len());
        let end = open[..line_end].find("}}").ok_or(PlaceholderError::Unclosed { line })?;
        let key = open[..end].trim();
        let filled = value(key).ok_or_else(|| PlaceholderError::Unknown { line, placeholder: key.to_owned() })?;
        out.push_str(filled);
        rest = &open[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}
