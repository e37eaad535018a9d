//! Relative links and images in Markdown must point at something in the tree. No offline tool checks this, so it
//! is done here: documents parsed with pulldown-cmark (CommonMark with tables and footnotes, as forges render
//! them), every link and image target without a scheme resolved against the document's directory (a leading `/`
//! against the root, as forges do) and looked up on disk. Links with a scheme (`https:`, `mailto:`) are skipped:
//! nothing here reaches the network.

use std::path::{Component, Path, PathBuf};

use pulldown_cmark::{Event, Options, Parser, Tag};

use super::{Finding, LinterRun, LinterStatus, Severity};

/// Documents are read up to this size; a larger one is reported as not checked.
const MAX_DOCUMENT_BYTES: u64 = 4 << 20;

/// Checks every link of every document in `files` (relative to `root`).
pub(crate) fn check(root: &Path, files: &[PathBuf]) -> LinterRun {
    let mut findings = Vec::new();
    for file in files {
        let name = file.to_string_lossy().into_owned();
        let text = match hive_support::read_bounded(&root.join(file), MAX_DOCUMENT_BYTES) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(e) => {
                findings.push(finding(name, None, None, "not-checked", Severity::Warning, format!("not read: {e}")));
                continue;
            }
        };
        let exists = |rel: &Path| std::fs::metadata(root.join(rel)).is_ok();
        for broken in broken_links(&text, file, &exists) {
            let what = if broken.image { "image" } else { "link" };
            let message = match &broken.resolved {
                Some(resolved) => format!(
                    "{what} '{}' points at '{}', which is not in the repository",
                    broken.target,
                    resolved.display()
                ),
                None => format!("{what} '{}' points outside the repository", broken.target),
            };
            findings.push(finding(
                name.clone(),
                Some(broken.line),
                Some(broken.column),
                "broken-link",
                Severity::Error,
                message,
            ));
        }
    }
    LinterRun { linter: "links".to_owned(), status: LinterStatus::Ran, findings }
}

fn finding(
    file: String,
    line: Option<u32>,
    column: Option<u32>,
    rule: &str,
    severity: Severity,
    message: String,
) -> Finding {
    Finding { linter: "links".to_owned(), file, line, column, rule: rule.to_owned(), severity, message }
}

/// A link or image whose target is not there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BrokenLink {
    /// 1-based line of the link in the document.
    pub(crate) line: u32,
    /// 1-based column, in characters.
    pub(crate) column: u32,
    /// The target as written.
    pub(crate) target: String,
    /// Where it points, relative to the root; `None` when it leaves the tree.
    pub(crate) resolved: Option<PathBuf>,
    /// An image rather than a link.
    pub(crate) image: bool,
}

/// The broken relative links and images of the Markdown `text` of the document `doc` (relative to the root);
/// `exists` says whether a path relative to the root is there.
pub(crate) fn broken_links(text: &str, doc: &Path, exists: &dyn Fn(&Path) -> bool) -> Vec<BrokenLink> {
    let options = Options::ENABLE_TABLES | Options::ENABLE_FOOTNOTES | Options::ENABLE_STRIKETHROUGH;
    let lines = LineIndex::new(text);
    let mut broken = Vec::new();
    for (event, range) in Parser::new_ext(text, options).into_offset_iter() {
        let (target, image) = match &event {
            Event::Start(Tag::Link { dest_url, .. }) => (dest_url.to_string(), false),
            Event::Start(Tag::Image { dest_url, .. }) => (dest_url.to_string(), true),
            _ => continue,
        };
        let resolved = match resolve(doc, &target) {
            Target::Skipped => continue,
            Target::Inside(path) if exists(&path) => continue,
            Target::Inside(path) => Some(path),
            Target::Outside => None,
        };
        let (line, column) = lines.locate(range.start);
        broken.push(BrokenLink { line, column, target, resolved, image });
    }
    broken
}

/// Where a link target points.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// Not a file in the tree to check: a URL with a scheme, a fragment of the same document, nothing at all.
    Skipped,
    /// A path relative to the root (empty for the root itself).
    Inside(PathBuf),
    /// A path that climbs above the root.
    Outside,
}

/// Resolves `target` as written in the document `doc` (relative to the root): the fragment and query dropped,
/// percent-escapes decoded, `.` and `..` applied without touching the disk.
pub(crate) fn resolve(doc: &Path, target: &str) -> Target {
    if target.is_empty() || target.starts_with("//") || has_scheme(target) {
        return Target::Skipped;
    }
    let path = target.split(['#', '?']).next().unwrap_or_default();
    if path.is_empty() {
        return Target::Skipped;
    }
    let path = percent_decode(path);
    let mut resolved = PathBuf::new();
    let base = if path.starts_with('/') { Path::new("") } else { doc.parent().unwrap_or(Path::new("")) };
    for component in base.components() {
        if let Component::Normal(part) = component {
            resolved.push(part);
        }
    }
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if !resolved.pop() {
                    return Target::Outside;
                }
            }
            part => resolved.push(part),
        }
    }
    Target::Inside(resolved)
}

/// Whether `target` starts with a URL scheme (`https:`, `mailto:`, `data:`): letters first, then letters, digits,
/// `+`, `-` or `.`, then a colon.
fn has_scheme(target: &str) -> bool {
    let Some((scheme, _)) = target.split_once(':') else { return false };
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// `%XX` escapes decoded (as forges do before looking a file up); a malformed escape is kept as written, and bytes
/// that are not UTF-8 are replaced.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|pair| std::str::from_utf8(pair).ok());
        match (bytes[i], hex.and_then(|pair| u8::from_str_radix(pair, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Byte offsets to 1-based lines and columns.
struct LineIndex<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> LineIndex<'a> {
    fn new(text: &'a str) -> LineIndex<'a> {
        let starts = std::iter::once(0).chain(text.match_indices('\n').map(|(at, _)| at + 1)).collect();
        LineIndex { text, starts }
    }

    fn locate(&self, offset: usize) -> (u32, u32) {
        let line = self.starts.partition_point(|start| *start <= offset).max(1);
        let start = self.starts[line - 1];
        let column = self.text.get(start..offset).map_or(0, |before| before.chars().count()) + 1;
        (u32::try_from(line).unwrap_or(u32::MAX), u32::try_from(column).unwrap_or(u32::MAX))
    }
}
