//! Safe quoting of outside text in what hive writes to GitHub issues and pull requests, and shows on a terminal.
//!
//! Repository, job, step and test names come from repositories and CI, so they may be hostile: markdown that hides
//! or fakes content, HTML comments that swallow the rest of a body, `@` mentions that page people, bidirectional
//! overrides that make a name read differently than it is, terminal escape sequences that retitle the window, clear
//! the screen or fake earlier output. Every such value goes through one of these functions.

/// The longest issue title hive writes, in characters, ellipsis included.
const MAX_TITLE_CHARS: usize = 200;

/// Whether `c` must not reach GitHub as is: control characters (newlines included) and the Unicode bidirectional
/// formatting characters, which reorder how the surrounding text is displayed (U+202E makes `gpj.exe` read `exe.jpg`).
pub fn is_unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200e}' | '\u{200f}' | '\u{061c}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// What a control character, a bidirectional formatting character or a broken escape sequence becomes on a terminal.
const REPLACEMENT: char = '\u{fffd}';

/// `text` safe to print on a terminal as part of one line: complete escape sequences (ANSI CSI such as `ESC [2J`,
/// OSC such as `ESC ]0;title BEL`, DCS/APC/PM/SOS strings and two-character escapes, in their 7-bit and 8-bit forms)
/// are removed, and every other control character (newlines included), a lone `ESC` and the bidirectional formatting
/// characters become U+FFFD. Secrets are not touched: `Redactor::terminal_line` does both.
///
/// ```
/// use hive_cerebrum::quote::terminal_line;
///
/// assert_eq!(terminal_line("\x1b]0;pwned\x07ci \x1b[31mred\x1b[0m\nfake"), "ci red\u{fffd}fake");
/// ```
pub fn terminal_line(text: &str) -> String {
    terminal(text, false)
}

/// Like [`terminal_line`], but newlines and tabs stay: for multi-line text such as an error chain or a log record.
///
/// ```
/// assert_eq!(hive_cerebrum::quote::terminal_text("a\n\tb\r\x1b[2J"), "a\n\tb\u{fffd}");
/// ```
pub fn terminal_text(text: &str) -> String {
    terminal(text, true)
}

fn terminal(text: &str, keep_lines: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        let rest = chars.clone();
        let skipped = match c {
            '\u{1b}' => skip_escape(rest),
            // The 8-bit forms of CSI, and of DCS, SOS, OSC, PM and APC.
            '\u{9b}' => skip_csi(rest),
            '\u{90}' | '\u{98}' | '\u{9d}' | '\u{9e}' | '\u{9f}' => skip_string(rest),
            _ => None,
        };
        match skipped {
            Some(after) => chars = after,
            None if keep_lines && matches!(c, '\n' | '\t') => out.push(c),
            None if is_unsafe_char(c) => out.push(REPLACEMENT),
            None => out.push(c),
        }
    }
    out
}

/// After an `ESC`: the rest of the text after the whole sequence, or `None` when no complete sequence follows.
fn skip_escape(mut rest: std::str::Chars<'_>) -> Option<std::str::Chars<'_>> {
    match rest.next()? {
        '[' => skip_csi(rest),
        ']' | 'P' | 'X' | '^' | '_' => skip_string(rest),
        // nF escapes: intermediate bytes, then one final byte.
        '\u{20}'..='\u{2f}' => loop {
            match rest.next()? {
                '\u{20}'..='\u{2f}' => {}
                '\u{30}'..='\u{7e}' => return Some(rest),
                _ => return None,
            }
        },
        // Two-character escapes such as `ESC c` (reset the terminal) or `ESC 7`.
        '\u{30}'..='\u{7e}' => Some(rest),
        _ => None,
    }
}

/// After a CSI: parameter and intermediate bytes, then one final byte.
fn skip_csi(mut rest: std::str::Chars<'_>) -> Option<std::str::Chars<'_>> {
    loop {
        match rest.next()? {
            '\u{20}'..='\u{3f}' => {}
            '\u{40}'..='\u{7e}' => return Some(rest),
            _ => return None,
        }
    }
}

/// After an OSC, DCS, SOS, PM or APC: everything up to BEL or the string terminator (`ESC \\` or U+009C). An
/// unterminated string is not skipped, so its text stays visible (its introducer is replaced).
fn skip_string(mut rest: std::str::Chars<'_>) -> Option<std::str::Chars<'_>> {
    loop {
        match rest.next()? {
            '\u{07}' | '\u{9c}' => return Some(rest),
            '\u{1b}' if rest.clone().next() == Some('\\') => {
                rest.next();
                return Some(rest);
            }
            _ => {}
        }
    }
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
