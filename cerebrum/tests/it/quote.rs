//! Safe quoting of hostile names in issue titles, inline code and markdown prose.

use hive_cerebrum::quote::{code, issue_title, plain, terminal_line, terminal_text};

/// Markdown characters `plain` must never leave unescaped.
const METACHARACTERS: &str = "\\`*_{}[]<>()#+-!|~";

#[test]
fn issue_titles() {
    let table = [
        ("ci failed", "ci failed".to_owned()),
        ("  a\n\nb\r\n\tc  ", "a b c".to_owned()),
        ("bell\u{7}null\u{0}esc\u{1b}[31m", "bell null esc [31m".to_owned()),
        ("evil\u{202e}gpj.exe", "evil gpj.exe".to_owned()),
        ("iso\u{2066}late\u{2069}d \u{200f}mark", "iso late d mark".to_owned()),
        ("$(rm -rf /) ../../etc/passwd", "$(rm -rf /) ../../etc/passwd".to_owned()),
        ("🐝 hive ✓", "🐝 hive ✓".to_owned()),
        ("", String::new()),
        (" \n\t ", String::new()),
    ];
    for (input, expected) in table {
        assert_eq!(issue_title(input), expected, "{input:?}");
    }
}

#[test]
fn long_titles_are_cut_on_a_char_boundary() {
    let exact = "x".repeat(200);
    assert_eq!(issue_title(&exact), exact);
    for long in
        ["y".repeat(201), "🐝".repeat(10_000), "é".repeat(300), format!("{} {}", "a".repeat(198), "b".repeat(50))]
    {
        let title = issue_title(&long);
        assert!(title.chars().count() <= 200, "{} chars", title.chars().count());
        assert!(title.ends_with('…'), "{title}");
        assert!(!title.trim_end_matches('…').ends_with(' '), "{title}");
    }
    assert_eq!(issue_title(&"🐝".repeat(10_000)).chars().count(), 200);
    // Whitespace collapses before the length is measured.
    let spaced = format!("a{}b", " ".repeat(10_000));
    assert_eq!(issue_title(&spaced), "a b");
}

/// The content of a code span as CommonMark reads it: between the fences, one padding space stripped from each end
/// when both ends have one and the content is not all spaces.
fn code_content(span: &str) -> &str {
    let fence = span.len() - span.trim_start_matches('`').len();
    assert!(fence >= 1, "{span}");
    assert_eq!(span.len() - span.trim_end_matches('`').len(), fence, "unbalanced fence: {span}");
    let inner = &span[fence..span.len() - fence];
    assert!(!inner.contains(&"`".repeat(fence)), "a run inside as long as the fence: {span}");
    if inner.starts_with(' ') && inner.ends_with(' ') && inner.len() >= 2 && !inner.chars().all(|c| c == ' ') {
        &inner[1..inner.len() - 1]
    } else {
        inner
    }
}

#[test]
fn code_spans() {
    let table = [
        ("cargo test", "`cargo test`"),
        ("", "` `"),
        ("a`b", "``a`b``"),
        ("a``b`", "``` a``b` ```"),
        ("`", "`` ` ``"),
        ("`start", "`` `start ``"),
        ("end`", "`` end` ``"),
        (" padded ", "`  padded  `"),
        ("   ", "`   `"),
        ("two\nlines", "`two lines`"),
        ("<!-- x -->", "`<!-- x -->`"),
        ("@org/team", "`@org/team`"),
    ];
    for (input, expected) in table {
        assert_eq!(code(input), expected, "{input:?}");
    }
}

#[test]
fn code_spans_hold_hostile_text_literally() {
    let hostile = [
        "../../etc/passwd",
        "$(rm -rf /)",
        "`",
        "```",
        "``x``",
        "a ` b `` c ``` d",
        "<script>alert(1)</script>",
        "<!-- x -->",
        "@org/team",
        "[x](javascript:alert(1))",
        "🐝 émoji ✓",
        " leading and trailing ",
        "`` ",
    ];
    for text in hostile {
        assert_eq!(code_content(&code(text)), text, "{text:?} -> {}", code(text));
    }
    let big = "`".repeat(50) + &"a".repeat(10_000) + "``";
    let span = code(&big);
    assert!(span.starts_with(&"`".repeat(51)) && !span.starts_with(&"`".repeat(52)));
    assert_eq!(code_content(&span), big);
    // Control and bidirectional formatting characters do not reach the page.
    assert_eq!(code("evil\u{202e}gpj.exe\r\n"), "`evil gpj.exe  `");
}

#[test]
fn plain_text() {
    let table = [
        ("hello world", "hello world"),
        ("<script>alert(1)</script>", "\\<script\\>alert\\(1\\)\\</script\\>"),
        ("<!-- x -->", "\\<\\!\\-\\- x \\-\\-\\>"),
        ("@org/team", "@\u{200b}org/team"),
        ("[x](javascript:alert(1))", "\\[x\\]\\(javascript:alert\\(1\\)\\)"),
        ("$(rm -rf /)", "$\\(rm \\-rf /\\)"),
        ("../x", "../x"),
        ("a\\b", "a\\\\b"),
        ("`code`", "\\`code\\`"),
        ("*bold* _em_ ~~s~~ # h | t + {}", "\\*bold\\* \\_em\\_ \\~\\~s\\~\\~ \\# h \\| t \\+ \\{\\}"),
        ("&lt; & &amp;", "&amp;lt; &amp; &amp;amp;"),
        ("two\nlines\r\n", "two lines  "),
        ("evil\u{202e}gpj.exe", "evil gpj.exe"),
        ("🐝 ünïcödé", "🐝 ünïcödé"),
    ];
    for (input, expected) in table {
        assert_eq!(plain(input), expected, "{input:?}");
    }
}

#[test]
fn plain_never_leaves_a_metacharacter_unescaped() {
    let mut hostile: String = METACHARACTERS.chars().cycle().take(2000).collect();
    hostile.push_str(&"@&\n\u{202e}🐝".repeat(2000));
    let out = plain(&hostile);
    let mut chars = out.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let next = chars.next().expect("a backslash always escapes something");
            assert!(METACHARACTERS.contains(next), "escaped {next:?}");
        } else {
            assert!(!METACHARACTERS.contains(c), "unescaped {c:?}");
        }
        if c == '@' {
            assert_eq!(chars.next(), Some('\u{200b}'));
        }
        assert!(c != '\n' && c != '\u{202e}');
    }
    assert!(!out.contains("&\n") && out.matches('&').count() == out.matches("&amp;").count());
}

#[test]
fn terminal_lines_carry_no_escape_sequences_or_control_characters() {
    const R: char = '\u{fffd}';
    let table = [
        ("ci", "ci".to_owned()),
        ("\x1b]0;pwned\x07title", "title".to_owned()),
        ("\x1b]8;;https://evil\x1b\\link\x1b]8;;\x1b\\", "link".to_owned()),
        ("\x1b[2J\x1b[1;1Hclear", "clear".to_owned()),
        ("\x1b[38;5;196mred\x1b[0m", "red".to_owned()),
        ("\u{9b}31mc1\u{9d}0;t\u{9c}", "c1".to_owned()),
        ("\x1bc\x1b7\x1b(0reset", "reset".to_owned()),
        ("\x1bPq#0;2;0\x1b\\dcs", "dcs".to_owned()),
        // An unterminated string is not swallowed: its text stays visible, the introducer is replaced.
        ("\x1b]0;no end", format!("{R}]0;no end")),
        ("lone\x1b", format!("lone{R}")),
        ("\x1b[31", format!("{R}[31")),
        ("a\nb\rc\td\x07\x00", format!("a{R}b{R}c{R}d{R}{R}")),
        ("evil\u{202e}gpj.exe \u{2066}x\u{2069}", format!("evil{R}gpj.exe {R}x{R}")),
        ("🐝 ünï ✓ [31m", "🐝 ünï ✓ [31m".to_owned()),
    ];
    for (input, expected) in table {
        assert_eq!(terminal_line(input), expected, "{input:?}");
    }
}

#[test]
fn terminal_text_keeps_lines_and_tabs_only() {
    assert_eq!(terminal_text("a\n\tb\x1b[2J\r\n"), "a\n\tb\u{fffd}\n");
    assert_eq!(terminal_text("\x1b]0;x\x07"), "");
}
