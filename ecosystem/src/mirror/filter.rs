//! Branch and tag filters: glob patterns (`*` any run of characters, `/` included, `?` one character) and `!glob`
//! to exclude. The patterns are matched here and never reach git, which only ever sees explicit ref names.

use crate::EcosystemError;

/// Selects ref names (without `refs/heads/` or `refs/tags/`).
///
/// A name is selected when it matches at least one include pattern (or there are none) and no exclude pattern.
///
/// ```
/// use hive_ecosystem::RefFilter;
///
/// let filter = RefFilter::new(&["!wip/*".to_owned()]).unwrap();
/// assert!(filter.matches("main") && filter.matches("release/1.0"));
/// assert!(!filter.matches("wip/alice/spike"));
/// let only = RefFilter::new(&["main".to_owned(), "release/*".to_owned()]).unwrap();
/// assert!(only.matches("release/2") && !only.matches("feature"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RefFilter {
    include: Vec<String>,
    exclude: Vec<String>,
}

impl RefFilter {
    /// Parses patterns; an empty list selects everything.
    pub fn new(patterns: &[String]) -> Result<RefFilter, EcosystemError> {
        let mut filter = RefFilter::default();
        for raw in patterns {
            let fail = |reason| Err(EcosystemError::InvalidPattern { pattern: raw.escape_debug().to_string(), reason });
            let (negated, pattern) = match raw.strip_prefix('!') {
                Some(rest) => (true, rest),
                None => (false, raw.as_str()),
            };
            if pattern.is_empty() {
                return fail("empty pattern");
            }
            if pattern.chars().any(|c| c.is_whitespace() || c.is_control() || c == ':') {
                return fail("whitespace, control characters and ':' cannot occur in ref names");
            }
            if negated { &mut filter.exclude } else { &mut filter.include }.push(pattern.to_owned());
        }
        Ok(filter)
    }

    /// Whether `name` is selected.
    pub fn matches(&self, name: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|p| glob(p, name)))
            && !self.exclude.iter().any(|p| glob(p, name))
    }
}

/// Glob match with `*` and `?`, iterative with backtracking to the last `*` (linear in practice, never exponential).
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((star_p, star_t)) = star {
            pi = star_p + 1;
            ti = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        for (pattern, text, expected) in [
            ("main", "main", true),
            ("main", "mainline", false),
            ("wip/*", "wip/a", true),
            ("wip/*", "wip/a/b", true),
            ("wip/*", "wipe", false),
            ("v?.*", "v1.2", true),
            ("*", "", true),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "aXbY", false),
        ] {
            assert_eq!(glob(pattern, text), expected, "{pattern} ~ {text}");
        }
    }

    #[test]
    fn bad_patterns_are_refused() {
        for bad in ["", "!", "a b", "a:b"] {
            let err = RefFilter::new(&[bad.to_owned()]).unwrap_err();
            assert!(err.to_string().starts_with("invalid ref pattern"), "{err}");
        }
    }
}
