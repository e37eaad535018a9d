//! A package's version in a `package.json`: the version string replaced where it stands in the text, found by a
//! scanner that knows where each value is, so key order, indentation and everything else stay byte for byte.

use std::ops::Range;

use super::{Bumped, requirement};

/// The sections of a package.json that name dependencies with a version.
const SECTIONS: [&str; 4] = ["dependencies", "devDependencies", "peerDependencies", "optionalDependencies"];

/// `package` at `version` in the package.json `text`.
pub(crate) fn bump(text: &str, package: &str, version: &str) -> Result<Bumped, String> {
    // serde_json says whether (and where) the text is broken; the scanner below can then trust it.
    serde_json::from_str::<serde_json::Value>(text).map_err(|e| e.to_string())?;
    let mut scanner = Scanner { text, at: 0 };
    let top = scanner.object().ok_or("the top level is not an object")?;
    let mut found = false;
    let mut replacements = Vec::new();
    for (key, value) in top {
        if !SECTIONS.contains(&decode(text, key).as_str()) {
            continue;
        }
        let mut inner = Scanner { text, at: value.start };
        let Some(entries) = inner.object() else { continue };
        for (name, spec) in entries {
            if decode(text, name) != package {
                continue;
            }
            found = true;
            if !text[spec.clone()].starts_with('"') {
                continue;
            }
            if let Some(new) = requirement(&decode(text, spec.clone()), version) {
                replacements.push((spec, serde_json::Value::String(new).to_string()));
            }
        }
    }
    let mut out = text.to_owned();
    // From the end, so the earlier ranges still point where they did.
    replacements.sort_by_key(|(range, _)| std::cmp::Reverse(range.start));
    for (range, new) in replacements {
        out.replace_range(range, &new);
    }
    Ok(Bumped { found, text: found.then_some(out) })
}

/// The string a JSON string literal at `range` of `text` stands for (empty when it is not one).
fn decode(text: &str, range: Range<usize>) -> String {
    serde_json::from_str(&text[range]).unwrap_or_default()
}

/// Where the values of valid JSON text are, without building them.
struct Scanner<'t> {
    text: &'t str,
    at: usize,
}

impl Scanner<'_> {
    /// The object at the cursor: each member's key and value as byte ranges of the text, in order.
    fn object(&mut self) -> Option<Vec<(Range<usize>, Range<usize>)>> {
        self.skip_space();
        self.eat(b'{')?;
        let mut members = Vec::new();
        self.skip_space();
        if self.eat(b'}').is_some() {
            return Some(members);
        }
        loop {
            self.skip_space();
            let key = self.string()?;
            self.skip_space();
            self.eat(b':')?;
            self.skip_space();
            let value = self.value()?;
            members.push((key, value));
            self.skip_space();
            match self.next()? {
                b',' => continue,
                b'}' => return Some(members),
                _ => return None,
            }
        }
    }

    /// The value at the cursor, skipped over.
    fn value(&mut self) -> Option<Range<usize>> {
        let start = self.at;
        match *self.text.as_bytes().get(self.at)? {
            b'"' => return self.string(),
            b'{' => {
                self.object()?;
            }
            b'[' => {
                self.at += 1;
                self.skip_space();
                if self.eat(b']').is_none() {
                    loop {
                        self.skip_space();
                        self.value()?;
                        self.skip_space();
                        match self.next()? {
                            b',' => continue,
                            b']' => break,
                            _ => return None,
                        }
                    }
                }
            }
            // A number, true, false or null: up to the next delimiter.
            _ => {
                let rest = &self.text.as_bytes()[self.at..];
                let len = rest.iter().position(|b| matches!(b, b',' | b'}' | b']') || b.is_ascii_whitespace());
                self.at += len.unwrap_or(rest.len());
            }
        }
        Some(start..self.at)
    }

    /// The string literal at the cursor, quotes included.
    fn string(&mut self) -> Option<Range<usize>> {
        let start = self.at;
        self.eat(b'"')?;
        loop {
            match self.next()? {
                b'\\' => {
                    self.next()?;
                }
                b'"' => return Some(start..self.at),
                _ => {}
            }
        }
    }

    fn skip_space(&mut self) {
        let rest = &self.text.as_bytes()[self.at..];
        self.at += rest.iter().take_while(|b| b.is_ascii_whitespace()).count();
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.text.as_bytes().get(self.at) == Some(&byte)).then(|| self.at += 1)
    }

    fn next(&mut self) -> Option<u8> {
        let byte = *self.text.as_bytes().get(self.at)?;
        self.at += 1;
        Some(byte)
    }
}
