//! Import sources (URLs and local paths), validated before git sees them and normalised so the same repository
//! always gets the same id.
//!
//! git treats some "URLs" as programs to run (`ext::sh -c ...`), some as options (`--upload-pack=...`), and an ssh
//! host starting with `-` as an ssh option, so everything outside a short allow-list is refused here.

use std::path::Path;

use sha2::{Digest, Sha256};

use super::{EcosystemError, ImportId};

/// URL schemes git may use for an import. `ext` and other remote helpers are deliberately absent.
const SCHEMES: &[&str] = &["https", "http", "ssh", "git", "file"];

/// A validated import source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Source {
    /// The normalised form, hashed into the id and stored in the metadata.
    pub normalised: String,
    /// What to pass to `git clone` (after `--`).
    pub clone_arg: String,
    /// Whether it is a directory on this machine.
    pub local: bool,
    /// A short human name (the last path segment, without `.git`).
    pub name: String,
}

impl Source {
    /// Validates and normalises `raw`. Local paths must exist; they are made absolute.
    pub fn parse(raw: &str) -> Result<Source, EcosystemError> {
        let value = raw.trim();
        let shown = super::shown(&raw.escape_debug().to_string());
        let fail = |reason| Err(EcosystemError::InvalidSource { value: shown.clone(), reason });
        if value.is_empty() {
            return fail("empty");
        }
        if value.chars().any(char::is_control) {
            return fail("control characters are not allowed");
        }
        if value.starts_with('-') {
            return fail("it would be read as a command-line option");
        }
        let before_slash = value.split('/').next().unwrap_or(value);
        if let Some(scheme_end) = value.find("://") {
            let scheme = value[..scheme_end].to_ascii_lowercase();
            if !SCHEMES.contains(&scheme.as_str()) {
                return fail("unsupported URL scheme");
            }
            let rest = &value[scheme_end + 3..];
            let host = rest.split('/').next().unwrap_or("");
            let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
            if host.starts_with('-') {
                return fail("a host may not start with '-'");
            }
            if scheme != "file" && host.is_empty() {
                return fail("missing host");
            }
            let normalised = normalise_url(&format!("{scheme}://{rest}"));
            return Ok(Source { name: name_of(&normalised), clone_arg: value.to_owned(), normalised, local: false });
        }
        if before_slash.contains("::") {
            return fail("remote helper syntax 'transport::address' is not allowed");
        }
        // git reads `host:path` (a colon before any slash) as scp-like ssh, unless the path exists locally.
        let scp_like = before_slash.split_once(':').map(|(h, _)| (h, &value[h.len() + 1..]));
        if let Some((host, path)) = scp_like.filter(|_| !Path::new(value).exists()) {
            let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
            if host.is_empty() || host.starts_with('-') {
                return fail("a host may not be empty or start with '-'");
            }
            if path.is_empty() {
                return fail("missing path after ':'");
            }
            let normalised = normalise_url(value);
            return Ok(Source { name: name_of(&normalised), clone_arg: value.to_owned(), normalised, local: false });
        }
        let path = Path::new(value);
        if !path.is_dir() {
            return Err(EcosystemError::SourceNotFound { path: path.to_path_buf() });
        }
        let absolute = path.canonicalize().map_err(EcosystemError::io("resolve", path))?;
        let Some(text) = absolute.to_str() else {
            return fail("the path is not valid UTF-8");
        };
        let normalised = text.to_owned();
        Ok(Source { name: name_of(&normalised), clone_arg: normalised.clone(), normalised, local: true })
    }

    /// The argument for `git clone`: a local path becomes a `file://` URL when shallow, because git ignores
    /// `--depth` for plain local paths.
    pub fn clone_arg(&self, shallow: bool) -> String {
        if self.local && shallow { format!("file://{}", self.normalised) } else { self.clone_arg.clone() }
    }

    /// The stable id: the first 12 hex digits of SHA-256 of the normalised source.
    pub fn key(&self) -> ImportId {
        let digest = Sha256::digest(self.normalised.as_bytes());
        let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        ImportId(hex)
    }
}

/// Checks a remote (a mirror destination) by the rules for import sources, except that a local path need not exist:
/// git creates nothing there, and a missing one is a push failure like any unreachable remote.
pub(crate) fn check_remote(raw: &str) -> Result<(), EcosystemError> {
    match Source::parse(raw) {
        Ok(_) | Err(EcosystemError::SourceNotFound { .. }) => Ok(()),
        Err(EcosystemError::InvalidSource { value, reason }) => {
            Err(EcosystemError::InvalidDestination { value, reason })
        }
        Err(other) => Err(other),
    }
}

/// Trailing slashes and a `.git` suffix do not make another repository.
fn normalise_url(url: &str) -> String {
    let trimmed = url.trim_end_matches('/');
    trimmed.strip_suffix(".git").unwrap_or(trimmed).trim_end_matches('/').to_owned()
}

/// The last path segment, restricted to characters that are safe in a terminal and a file name.
fn name_of(normalised: &str) -> String {
    let last = normalised.rsplit(['/', ':']).find(|s| !s.is_empty()).unwrap_or("");
    let last = last.strip_suffix(".git").unwrap_or(last);
    let clean: String = last.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')).collect();
    let clean = clean.trim_start_matches(['-', '.']).to_owned();
    if clean.is_empty() { "repo".to_owned() } else { clean }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_normalise_to_one_id() {
        let a = Source::parse("https://example.com/acme/api.git").unwrap();
        let b = Source::parse("  HTTPS://example.com/acme/api/ ").unwrap();
        assert_eq!(a.normalised, "https://example.com/acme/api");
        assert_eq!(a.key(), b.key());
        assert_eq!(a.name, "api");
        assert_eq!(a.key().as_str().len(), 12);
        let scp = Source::parse("git@example.com:acme/web.git").unwrap();
        assert_eq!((scp.name.as_str(), scp.local), ("web", false));
    }

    #[test]
    fn hostile_sources_are_refused() {
        for bad in [
            "--upload-pack=evil",
            "-x",
            "",
            "ext::sh -c touch% /tmp/pwned",
            "fd::17",
            "ssh://-oProxyCommand=evil/x",
            "-oProxyCommand=evil:x",
            "gopher://example.com/x",
            "https://example.com/a\nb",
        ] {
            match Source::parse(bad) {
                Err(EcosystemError::InvalidSource { .. }) => {}
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
    }

    #[test]
    fn local_paths_must_exist_and_become_absolute() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path().join("my.repo");
        std::fs::create_dir(&repo).unwrap();
        let source = Source::parse(repo.to_str().unwrap()).unwrap();
        assert!(source.local);
        assert_eq!(source.name, "my.repo");
        assert!(source.clone_arg(true).starts_with("file:///"));
        assert!(!source.clone_arg(false).starts_with("file:"));
        let missing = Source::parse(dir.path().join("nope").to_str().unwrap()).unwrap_err();
        assert!(matches!(missing, EcosystemError::SourceNotFound { .. }), "{missing}");
    }
}
