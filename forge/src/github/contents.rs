//! One file's text at a ref, through the contents API (`GET /repos/{o}/{r}/contents/{path}?ref=R`): what a drift
//! check compares against what it would write.
//!
//! GitHub answers a file with its content in base64 (wrapped in lines), a directory with a list, and a file over
//! 1 MiB without its content (`encoding: none`); the last two are errors here, not text. Its 404 means either
//! "nothing at the path" or, with the message "No commit found for the ref", a ref that names no commit; and a
//! repository the token cannot see answers the same plain 404 as a missing path, so a missing path is believed only
//! once the repository itself answers (a conditional read, free while it is unchanged).

use base64::Engine as _;
use serde::Deserialize;

use super::{
    GitHubForge,
    client::Found,
    read::{encode, from_value, repo_path},
    writes::encode_path,
};
use crate::{MAX_FILE_TEXT, RepoId, WriteError, check_path, check_ref};

#[derive(Deserialize)]
struct ContentJson {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    encoding: Option<String>,
    #[serde(default)]
    content: Option<String>,
}

impl GitHubForge {
    /// The text of `path` at `git_ref`; see [`ForgeWriter::file_text`](crate::ForgeWriter::file_text).
    pub async fn file_text(&self, repo: &RepoId, path: &str, git_ref: &str) -> Result<Option<String>, WriteError> {
        check_path(path)?;
        check_ref(git_ref)?;
        let request = repo_path(repo, &format!("/contents/{}?ref={}", encode_path(path), encode(git_ref)));
        let not_text = |reason| WriteError::NotText {
            repo: repo.clone(),
            path: path.to_owned(),
            git_ref: git_ref.to_owned(),
            reason,
        };
        let body = match self.client.get_found(&request).await? {
            Found::Page(page) => page.body,
            Found::Missing { message, .. } if message.starts_with("No commit found") => {
                return Err(WriteError::NoSuchRef { repo: repo.clone(), git_ref: git_ref.to_owned() });
            }
            Found::Missing { .. } => {
                // The repository must answer for "no such file" to be believed.
                self.client.get(&repo_path(repo, "")).await?;
                return Ok(None);
            }
        };
        if body.is_array() {
            return Err(not_text("it is a directory"));
        }
        let content: ContentJson = from_value(&request, body)?;
        match content.kind.as_str() {
            "file" => {}
            "symlink" => return Err(not_text("it is a symbolic link")),
            "submodule" => return Err(not_text("it is a submodule")),
            _ => return Err(not_text("the contents API did not answer a file")),
        }
        if content.size > MAX_FILE_TEXT || content.encoding.as_deref() != Some("base64") {
            return Err(not_text(
                "it is larger than 1 MiB, which the contents API does not return; read it from a clone",
            ));
        }
        let bytes = decode(content.content.as_deref().unwrap_or_default())
            .ok_or_else(|| not_text("its content is not valid base64"))?;
        String::from_utf8(bytes).map(Some).map_err(|_| not_text("it is not UTF-8 text"))
    }
}

/// Standard base64 as GitHub sends file content: wrapped in lines, which are not part of it.
fn decode(text: &str) -> Option<Vec<u8>> {
    let flat: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD.decode(flat).ok()
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn wrapped_base64_decodes_and_garbage_does_not() {
        assert_eq!(decode("aGl2\nZQ==\n").as_deref(), Some(&b"hive"[..]));
        assert_eq!(decode("").as_deref(), Some(&b""[..]));
        assert_eq!(decode("not base64!"), None);
    }
}
