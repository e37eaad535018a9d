//! `[orgs.NAME]` in `hive.toml`: what an organisation (or user) overrides for its repositories, and its own GitHub
//! credential (`token_env`, `token_file` or `installation_id`, one at most), each checked where it is written. The
//! credential is only located here; `layer.rs` reads the token or the app key when the settings are resolved.

use std::{collections::BTreeMap, path::PathBuf};

use hive::actors::Override;
use serde::Deserialize;
use toml::Spanned;

use super::file::{FileError, FileSettings, TokenSource, Validator};

/// What an organisation (or user) may override: the action level, the owners, which of its repositories to keep and
/// to skip, its own GitHub credential, and for a local workspace's owner (`local`) its repositories' test command.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOrg {
    level: Option<Spanned<String>>,
    owners: Option<Vec<Spanned<String>>>,
    include: Option<Vec<Spanned<String>>>,
    exclude: Option<Vec<Spanned<String>>>,
    test_command: Option<Spanned<Vec<String>>>,
    token_env: Option<Spanned<String>>,
    token_file: Option<Spanned<PathBuf>>,
    installation_id: Option<Spanned<u64>>,
}

/// Where an organisation's own GitHub credential comes from, with the position to blame when it cannot be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrgCredential {
    /// A token, from a variable or a file (as `[api]`'s).
    Token(TokenSource),
    /// An installation of the process's GitHub App (`HIVE_GITHUB_APP_ID`, `HIVE_GITHUB_APP_KEY_FILE`).
    Installation { id: u64, at: (usize, usize) },
}

impl Validator<'_> {
    /// Each `[orgs.NAME]` table laid into `settings`: its overrides, its globs, a local workspace's test command and
    /// its credential.
    pub(super) fn orgs(
        &self,
        orgs: BTreeMap<Spanned<String>, RawOrg>,
        settings: &mut FileSettings,
    ) -> Result<(), FileError> {
        for (name, org) in orgs {
            let login = self.logins(Some(vec![name.clone()]), "organisation")?.unwrap_or_default().concat();
            let rule = Override { level: self.level(org.level)?, owners: self.owners(org.owners)? };
            if let Some(globs) = self.globs(org.include)? {
                settings.org_includes.insert(login.clone(), globs);
            }
            for glob in self.globs(org.exclude)?.unwrap_or_default() {
                settings.org_excludes.push(format!("{login}/{glob}"));
            }
            if let Some(argv) = org.test_command {
                self.test_command_owner(&login, &argv)?;
                settings.test_commands.org = Some(argv.into_inner());
            }
            if let Some(credential) = self.org_credential(org.token_env, org.token_file, org.installation_id)? {
                settings.org_credentials.insert(login.clone(), credential);
            }
            settings.overrides.owners.insert(login, rule);
        }
        Ok(())
    }

    /// An organisation's own credential: a token (as `[api]`'s) or an installation of the process's GitHub App,
    /// one of them at most.
    fn org_credential(
        &self,
        token_env: Option<Spanned<String>>,
        token_file: Option<Spanned<PathBuf>>,
        installation_id: Option<Spanned<u64>>,
    ) -> Result<Option<OrgCredential>, FileError> {
        let token = self.token_source(token_env, token_file)?;
        match (token, installation_id) {
            (Some(_), Some(id)) => self.fail(
                &id.span(),
                "give token_env, token_file or installation_id, not several; an organisation has one credential"
                    .to_owned(),
            ),
            (Some(token), None) => Ok(Some(OrgCredential::Token(token))),
            (None, Some(id)) if *id.get_ref() == 0 => self.fail(
                &id.span(),
                "invalid installation id '0': copy the number from the installation's settings page, such as 12345678"
                    .to_owned(),
            ),
            (None, Some(id)) => {
                Ok(Some(OrgCredential::Installation { id: *id.get_ref(), at: self.position(&id.span()) }))
            }
            (None, None) => Ok(None),
        }
    }
}
