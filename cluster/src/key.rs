//! Names as keys of the key-value buckets: any repository name, encoded so that NATS accepts it and no two
//! names share a key, and node names, which are checked instead of encoded since operators choose them.

use crate::error::ClusterError;

/// Every lease key starts with this token, so no encoded name can begin with a reserved prefix (`_kv`) or a dot.
const LEASE_PREFIX: &str = "repo.";

/// The longest repository name leased; GitHub's own limit on `owner/name` is far below it, and a bound keeps
/// subjects small.
const MAX_REPO_LEN: usize = 512;

/// The lease key of a repository: `repo.` followed by its name with every byte outside `[A-Za-z0-9-]` written as
/// `_` and two upper-case hex digits (`/` is `_2F`, `.` is `_2E`, `_` itself `_5F`). NATS keys allow
/// `[-/_=.a-zA-Z0-9]` and treat dots as token separators; the encoded name has no dot, so it is one token, and
/// since `_` always starts an escape the encoding is reversible ([`repo_of_key`]).
///
/// ```
/// assert_eq!(hive_cluster::lease_key("hive-rs/hive.rs").unwrap(), "repo.hive-rs_2Fhive_2Ers");
/// ```
pub fn lease_key(repo: &str) -> Result<String, ClusterError> {
    if repo.is_empty() {
        return Err(ClusterError::InvalidRepo { repo: String::new(), reason: "it is empty" });
    }
    if repo.len() > MAX_REPO_LEN {
        return Err(ClusterError::InvalidRepo {
            repo: repo.chars().take(64).collect::<String>().escape_default().to_string() + "...",
            reason: "it is longer than 512 bytes",
        });
    }
    let mut key = String::with_capacity(LEASE_PREFIX.len() + repo.len() * 3);
    key.push_str(LEASE_PREFIX);
    for byte in repo.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' {
            key.push(char::from(byte));
        } else {
            key.push('_');
            key.push_str(&format!("{byte:02X}"));
        }
    }
    Ok(key)
}

/// The repository a lease key names, or `None` for a key [`lease_key`] cannot have written.
pub fn repo_of_key(key: &str) -> Option<String> {
    let encoded = key.strip_prefix(LEASE_PREFIX)?;
    let mut bytes = Vec::with_capacity(encoded.len());
    let mut rest = encoded.as_bytes();
    while let Some((&first, tail)) = rest.split_first() {
        if first == b'_' {
            let hex = tail.get(..2)?;
            // Only the upper-case form is written, so a lower-case escape is another key, not the same name.
            if !hex.iter().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(b)) {
                return None;
            }
            let byte = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
            if byte.is_ascii_alphanumeric() || byte == b'-' {
                return None;
            }
            bytes.push(byte);
            rest = &tail[2..];
        } else if first.is_ascii_alphanumeric() || first == b'-' {
            bytes.push(first);
            rest = tail;
        } else {
            return None;
        }
    }
    String::from_utf8(bytes).ok().filter(|repo| !repo.is_empty())
}

/// A node's name: its key in the membership bucket and what its leases say. Checked, not encoded, so that the
/// name an operator gives is the name they read in the bucket.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NodeName(String);

impl NodeName {
    /// Checks a name: 1 to 64 of `[A-Za-z0-9_-]`.
    pub fn new(name: &str) -> Result<Self, ClusterError> {
        let invalid = |reason| ClusterError::InvalidNode { name: name.escape_default().to_string(), reason };
        if name.is_empty() {
            return Err(invalid("it is empty"));
        }
        if name.len() > 64 {
            return Err(invalid("it is longer than 64 characters"));
        }
        if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(invalid("it has a character outside the allowed ones"));
        }
        Ok(Self(name.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for NodeName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for NodeName {
    type Error = ClusterError;

    fn try_from(name: String) -> Result<Self, Self::Error> {
        Self::new(&name)
    }
}

impl From<NodeName> for String {
    fn from(name: NodeName) -> Self {
        name.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What NATS accepts as a key (async-nats's own check: `[-/_=.a-zA-Z0-9]+`, no dot first or last), and one
    /// token after the prefix, so a wildcard over `repo.*` sees every lease.
    fn valid_kv_key(key: &str) -> bool {
        !key.is_empty()
            && !key.starts_with('.')
            && !key.ends_with('.')
            && key.bytes().all(|b| b.is_ascii_alphanumeric() || b"-/_=.".contains(&b))
            && key.split('.').count() == 2
    }

    #[test]
    fn hostile_names_become_valid_distinct_keys_and_come_back() {
        let names = [
            "owner/name",
            "Owner/Name",
            "a.b/c.d",
            "..",
            ".",
            "../..",
            "owner/..",
            "/",
            "//",
            "_",
            "_2F",
            "a_2Fb",
            "a/b",
            "dé/jà-vu",
            "日本/リポジトリ",
            "emoji/🐝",
            " space/tab\t",
            "star/*",
            "gt/>",
            "nul/\0",
            "-/-",
            "_kv/x",
            "$KV/x",
        ];
        let mut seen = std::collections::BTreeMap::new();
        for name in names {
            let key = lease_key(name).expect(name);
            assert!(valid_kv_key(&key), "{name:?} -> {key:?} is not a valid key");
            assert_eq!(repo_of_key(&key).as_deref(), Some(name), "{key:?} decodes to another name");
            if let Some(other) = seen.insert(key.clone(), name) {
                panic!("{name:?} and {other:?} share the key {key:?}");
            }
        }
    }

    #[test]
    fn empty_and_oversized_names_are_refused_with_the_value_quoted() {
        let error = lease_key("").expect_err("empty").to_string();
        assert_eq!(error, "invalid repository name '': it is empty");
        let long = "x".repeat(MAX_REPO_LEN + 1);
        let error = lease_key(&long).expect_err("too long").to_string();
        assert!(error.starts_with("invalid repository name 'xxxx"), "{error}");
        assert!(error.contains("longer than 512 bytes"), "{error}");
        assert!(lease_key(&"x".repeat(MAX_REPO_LEN)).is_ok());
    }

    #[test]
    fn keys_not_written_by_lease_key_name_no_repository() {
        for key in ["repo.", "other.a", "repo.a_2f", "repo.a_", "repo.a_4", "repo.a_41", "repo.a.b", "repo.a_FF"] {
            assert_eq!(repo_of_key(key), None, "{key:?}");
        }
    }

    #[test]
    fn node_names_are_checked_and_quoted_when_refused() {
        assert_eq!(NodeName::new("node-1_a").expect("valid").as_str(), "node-1_a");
        for (name, reason) in [
            ("", "empty"),
            ("a.b", "outside the allowed"),
            ("a/b", "outside the allowed"),
            ("nœud", "outside the allowed"),
            (&"n".repeat(65), "longer than 64"),
        ] {
            let error = NodeName::new(name).expect_err(name).to_string();
            assert!(error.contains(reason), "{error}");
            assert!(error.starts_with(&format!("invalid node name '{}'", name.escape_default())), "{error}");
        }
        let parsed: Result<NodeName, _> = serde_json::from_str("\"a b\"");
        assert!(parsed.is_err(), "a stored name is checked too");
    }
}
