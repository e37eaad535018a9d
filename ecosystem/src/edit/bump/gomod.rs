//! A module's version in a `go.mod`: its `require` lines, single and in blocks, edited as text so the rest of each
//! line (an `// indirect` comment) stays.

use super::Bumped;

/// `module` at `version` (`v` added when missing) in the go.mod `text`.
pub(crate) fn bump(text: &str, module: &str, version: &str) -> Result<Bumped, String> {
    let version = if version.starts_with('v') { version.to_owned() } else { format!("v{version}") };
    let mut found = false;
    let mut in_block = false;
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let code = line.split("//").next().unwrap_or("").trim();
        let mut words = code.split_whitespace();
        let spec = if in_block {
            if code == ")" {
                in_block = false;
            }
            Some(code)
        } else {
            match (words.next(), words.next()) {
                (Some("require"), Some("(")) => {
                    in_block = true;
                    None
                }
                (Some("require"), Some(_)) => code.strip_prefix("require"),
                _ => None,
            }
        };
        match spec.and_then(|spec| version_span(line, spec, module)) {
            Some((start, end)) => {
                found = true;
                out.push_str(&line[..start]);
                out.push_str(&version);
                out.push_str(&line[end..]);
            }
            None => out.push_str(line),
        }
    }
    Ok(Bumped { found, text: found.then_some(out) })
}

/// The byte range in `line` of the version of a requirement `spec` (`path version`, a part of `line`) that names
/// `module`, its path perhaps quoted.
fn version_span(line: &str, spec: &str, module: &str) -> Option<(usize, usize)> {
    let mut words = spec.split_whitespace();
    let path = words.next()?;
    let old = words.next()?;
    if path.trim_matches('"') != module || words.next().is_some() {
        return None;
    }
    // The version is the first occurrence of its text after the path.
    let spec_start = line.find(spec)?;
    let after_path = spec_start + spec.find(path)? + path.len();
    let start = after_path + line[after_path..].find(old)?;
    Some((start, start + old.len()))
}
