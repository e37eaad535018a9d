//! Safe quoting of outside text in what hive writes to GitHub issues and pull requests.
//!
//! Repository, job, step and test names come from repositories and CI, so they may be hostile: markdown that hides
//! or fakes content, HTML comments that swallow the rest of a body, `@` mentions that page people, bidirectional
//! overrides that make a name read differently than it is. Every such value goes through one of these functions.

/// The longest issue title hive writes, in characters, ellipsis included.
const MAX_TITLE_CHARS: usize = 200;

/// Whether `c` must not reach GitHub as is: control characters (newlines included) and the Unicode bidirectional
/// formatting characters, which reorder how the surrounding text is displayed (U+202E makes `gpj.exe` read `exe.jpg`).
fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// A one-line issue title: control and bidirectional formatting characters become spaces, whitespace runs collapse
/// to one space, the ends are trimmed, and a title longer than 200 characters is cut on a character boundary and
/// ends with `…` (200 characters in all).
///
/// ```
/// assert_eq!(hive_cerebrum::quote::issue_title("  ci failed:\n\ttest  x "), "ci failed: test x");
/// ```
pub fn issue_title(text: &str) -> String {
    let cleaned: String = text.chars().map(|c| if is_unsafe_char(c) { ' ' } else { c }).collect();
    let title = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    if title.chars().count() <= MAX_TITLE_CHARS {
        return title;
    }
    let mut cut: String = title.chars().take(MAX_TITLE_CHARS - 1).collect();
    // A cut right after a word would leave "word …"; the ellipsis belongs to the word.
    cut.truncate(cut.trim_end().len());
    cut.push('…');
    cut
}

/// A markdown inline code span that shows `text` literally.
///
/// The fence has one more backtick than the longest backtick run inside, so nothing inside can close it. Markdown
/// strips one space from each end of a span that starts and ends with a space, so the text is padded with one space
/// on each side when it starts or ends with a backtick (which would otherwise merge with the fence) or starts and
/// ends with a space (which would otherwise be stripped). Newlines, other control characters and bidirectional
/// formatting characters become spaces; empty text gives `` "` `" ``.
///
/// ```
/// assert_eq!(hive_cerebrum::quote::code("cargo test"), "`cargo test`");
/// assert_eq!(hive_cerebrum::quote::code("a`b"), "``a`b``");
/// assert_eq!(hive_cerebrum::quote::code("`x`"), "`` `x` ``");
/// ```
pub fn code(text: &str) -> String {
    if text.is_empty() {
        return "` `".to_owned();
    }
    let content: String = text.chars().map(|c| if is_unsafe_char(c) { ' ' } else { c }).collect();
    let mut longest = 0;
    let mut run = 0;
    for c in content.chars() {
        run = if c == '`' { run + 1 } else { 0 };
        longest = longest.max(run);
    }
    let fence = "`".repeat(longest + 1);
    let all_spaces = content.chars().all(|c| c == ' ');
    let pad = content.starts_with('`')
        || content.ends_with('`')
        || (!all_spaces && content.starts_with(' ') && content.ends_with(' '));
    let padding = if pad { " " } else { "" };
    format!("{fence}{padding}{content}{padding}{fence}")
}

/// `text` made safe as markdown prose: every markdown and HTML metacharacter
/// (`` \ ` * _ { } [ ] < > ( ) # + - ! | ~ ``) is backslash-escaped, `&` becomes `&amp;` so no entity can be
/// spelled, `@` is followed by a zero-width space so no name ever mentions a user or team, and newlines, other control
/// characters and bidirectional formatting characters become spaces.
///
/// ```
/// assert_eq!(hive_cerebrum::quote::plain("<b>@team</b>"), "\\<b\\>@\u{200b}team\\</b\\>");
/// ```
pub fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    for c in text.chars() {
        match c {
            '\\' | '`' | '*' | '_' | '{' | '}' | '[' | ']' | '<' | '>' | '(' | ')' | '#' | '+' | '-' | '!' | '|'
            | '~' => {
                out.push('\\');
                out.push(c);
            }
            '@' => out.push_str("@\u{200b}"),
            '&' => out.push_str("&amp;"),
            c if is_unsafe_char(c) => out.push(' '),
            c => out.push(c),
        }
    }
    out
}
