//! Secret redaction for every text hive writes or records: CI logs quoted in issues, command output, error chains.
//!
//! A leaked token in a public issue is public at once and forever, so redaction errs on the side of hiding too much:
//! every known secret value and every well-known token shape becomes [`REDACTED`], and overlapping matches are merged
//! so no fragment of a secret survives between two replacements.

use std::{borrow::Cow, fmt, ops::Range, sync::LazyLock};

use regex::Regex;

/// What every secret is replaced with.
pub const REDACTED: &str = "[REDACTED]";

/// Known values shorter than this are ignored: they would match ordinary words and numbers everywhere.
const MIN_SECRET_LEN: usize = 8;

/// Token shapes that are secrets wherever they appear, whole match redacted.
static TOKENS: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    [
        // GitHub personal, OAuth, user-to-server, server-to-server and refresh tokens.
        r"gh[pousr]_[A-Za-z0-9]{30,}",
        // GitHub fine-grained personal access tokens.
        r"github_pat_[A-Za-z0-9_]{30,}",
        // AWS access key ids.
        r"AKIA[0-9A-Z]{16}",
        // Slack tokens.
        r"xox[abprs]-[A-Za-z0-9-]{10,}",
        // PEM private keys, to the END line; a block cut off before its END line is redacted to the end of the text.
        r"(?s)-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?:.*?-----END [A-Z0-9 ]*PRIVATE KEY-----|.*)",
    ]
    .into_iter()
    .map(|pattern| Regex::new(pattern).expect("the token patterns are valid regexes"))
    .collect()
});

/// `Bearer <value>` and `token <value>`: the scheme word stays, group 1 is the value.
static AUTH_SCHEME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:bearer|token)(?:\s+|\s*[:=]\s*)([A-Za-z0-9_.~+/-]{8,}=*)")
        .expect("the auth scheme pattern is a valid regex")
});

/// Replaces secrets in text with [`REDACTED`]: known values (e.g. the tokens hive was configured with) and the
/// patterns of common credentials.
///
/// ```
/// use hive_cerebrum::{REDACTED, Redactor};
///
/// let redactor = Redactor::new(["hunter2-hunter2"]);
/// assert_eq!(redactor.redact("password hunter2-hunter2 used"), format!("password {REDACTED} used"));
/// let url = "https://me:pw@github.com/acme/api";
/// assert_eq!(redactor.redact(url), "https://[REDACTED]@github.com/acme/api");
/// ```
#[derive(Clone, Default)]
pub struct Redactor {
    /// Known secret values, at least [`MIN_SECRET_LEN`] bytes, deduplicated.
    known: Vec<String>,
}

impl Redactor {
    /// A redactor for these known secret values, plus the patterns. Values are trimmed, and values shorter than 8
    /// characters are ignored because they would match ordinary words.
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(secrets: I) -> Redactor {
        let mut known: Vec<String> = secrets
            .into_iter()
            .map(Into::into)
            .map(|secret| secret.trim().to_owned())
            .filter(|secret| secret.chars().count() >= MIN_SECRET_LEN)
            .collect();
        known.sort();
        known.dedup();
        Redactor { known }
    }

    /// `text` with every secret replaced by [`REDACTED`]; borrowed unchanged when it holds none.
    pub fn redact<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut spans = self.secret_spans(text);
        if spans.is_empty() {
            return Cow::Borrowed(text);
        }
        spans.sort_by_key(|span| (span.start, span.end));
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        let mut spans = spans.into_iter().peekable();
        while let Some(mut span) = spans.next() {
            // Overlapping or touching secrets become one replacement, so no piece of either survives.
            while let Some(next) = spans.peek()
                && next.start <= span.end
            {
                span.end = span.end.max(next.end);
                spans.next();
            }
            out.push_str(&text[copied..span.start]);
            out.push_str(REDACTED);
            copied = span.end;
        }
        out.push_str(&text[copied..]);
        Cow::Owned(out)
    }

    /// `text` safe to print on a terminal as part of one line: escape sequences removed, other control and
    /// bidirectional formatting characters replaced ([`crate::quote::terminal_line`]), then every secret redacted.
    /// Cleaning comes first, so an escape sequence cannot split a token into pieces that no pattern recognises.
    ///
    /// ```
    /// let redactor = hive_cerebrum::Redactor::new(["s3cret-value"]);
    /// assert_eq!(redactor.terminal_line("job \x1b[2Js3cret-\x1b[0mvalue"), "job [REDACTED]");
    /// ```
    pub fn terminal_line(&self, text: &str) -> String {
        let clean = crate::quote::terminal_line(text);
        self.redact(&clean).into_owned()
    }

    /// Like [`Redactor::terminal_line`], but newlines and tabs stay ([`crate::quote::terminal_text`]): for error
    /// chains and log records.
    pub fn terminal_text(&self, text: &str) -> String {
        let clean = crate::quote::terminal_text(text);
        self.redact(&clean).into_owned()
    }

    /// The byte ranges of every secret in `text`, unsorted and possibly overlapping.
    fn secret_spans(&self, text: &str) -> Vec<Range<usize>> {
        let mut spans = Vec::new();
        for secret in &self.known {
            // Every occurrence, overlapping ones too: "abab…" may hold a secret starting inside another match.
            let mut from = 0;
            while let Some(found) = text[from..].find(secret.as_str()) {
                let start = from + found;
                spans.push(start..start + secret.len());
                let step = text[start..].chars().next().map_or(1, char::len_utf8);
                from = start + step;
            }
        }
        for token in TOKENS.iter() {
            spans.extend(token.find_iter(text).map(|found| found.range()));
        }
        for caps in AUTH_SCHEME.captures_iter(text) {
            if let Some(value) = caps.get(1)
                && looks_like_credential(text, caps.get(0).map_or(0, |all| all.start()), value.as_str())
            {
                spans.push(value.range());
            }
        }
        // One definition of a URL's userinfo (`user:pass@`), shared with the ecosystem crate's git errors.
        spans.extend(hive_support::url_userinfo_spans(text));
        spans
    }
}

/// Whether the value after `Bearer` or `token` is a credential rather than prose ("token verification failed"): it
/// has a digit, is too long for a word, or the line says it is an Authorization header.
fn looks_like_credential(text: &str, start: usize, value: &str) -> bool {
    if value.chars().any(|c| c.is_ascii_digit()) || value.len() >= 20 {
        return true;
    }
    let line_start = text[..start].rfind('\n').map_or(0, |newline| newline + 1);
    text[line_start..start].to_ascii_lowercase().contains("authorization")
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the values: a redactor ends up in logs and panic messages like any other field.
        f.debug_struct("Redactor").field("known_secrets", &self.known.len()).finish()
    }
}
