//! `[orgs.NAME]`'s own credential: each bad form an error at its key, and a good one read, checked and shown by
//! its source only, never its token.

use std::path::Path;

use super::{error, origin, run_hive};
use crate::cli::Command;

#[test]
fn an_organisation_s_credential_is_one_well_formed_source() {
    for (text, at, needle) in [
        (
            "[orgs.widgets]\ntoken_env = \"W\"\ninstallation_id = 5\n",
            ":3:19' at key 'orgs.widgets.installation_id'",
            "give token_env, token_file or installation_id, not several",
        ),
        (
            "[orgs.widgets]\ntoken_env = \"W\"\ntoken_file = \"t\"\n",
            ":3:14' at key 'orgs.widgets.token_file'",
            "not both",
        ),
        (
            "[orgs.widgets]\ntoken_env = \"W-1\"\n",
            ":2:13' at key 'orgs.widgets.token_env'",
            "invalid variable name 'W-1'",
        ),
        (
            "[orgs.widgets]\ninstallation_id = 0\n",
            ":2:19' at key 'orgs.widgets.installation_id'",
            "invalid installation id '0'",
        ),
    ] {
        let err = error(text);
        assert!(err.contains(at) && err.contains(needle), "{text:?}: {err}");
    }
}

#[test]
fn an_organisation_s_own_credential_is_read_checked_and_shown_by_its_source_only() {
    let text = "[targets]\norgs = [\"acme\", \"widgets\"]\n[orgs.widgets]\ntoken_env = \"WIDGETS_TOKEN\"\n";
    let args = ["run", "--state-dir", "s"];
    let (cli, _, resolved) = run_hive(Some(text), &args, &[("WIDGETS_TOKEN", " ghs_widgets1 ")]).expect("valid");
    let Command::Run(run) = &cli.command else { unreachable!("a run") };
    let token = hive::forge::GitHubAuth::Token(hive::forge::Secret::new("ghs_widgets1"));
    assert_eq!(run.file.org_credentials, [("widgets".to_owned(), token)]);
    let shown = resolved.get("orgs.widgets.credential").expect("shown");
    assert_eq!(shown.value, "token from the variable WIDGETS_TOKEN");
    assert!(origin(&resolved, "orgs.widgets.credential").starts_with("file "));
    assert!(resolved.secrets.iter().any(|secret| secret.expose() == "ghs_widgets1"), "a secret from now on");
    assert!(!format!("{resolved:?}{cli:?}").contains("ghs_widgets1"));

    // Each bad form is an error naming the file's position and key, never the token.
    let at = "hive.toml:4:13' at key 'orgs.widgets.token_env'";
    for (env, needle) in [
        (&[][..], "the variable 'WIDGETS_TOKEN' is not set or is empty"),
        (&[("WIDGETS_TOKEN", "  ")], "the variable 'WIDGETS_TOKEN' is not set or is empty"),
        (&[("WIDGETS_TOKEN", "ghs_one two")], "holds a character a token cannot have"),
    ] {
        let err = run_hive(Some(text), &args, env).expect_err("refused").to_string();
        assert!(err.contains(at) && err.contains(needle), "{env:?}: {err}");
        assert!(!err.contains("ghs_one"), "{err}");
    }

    // A token file: its first line; unreadable, an error at its key.
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("widgets.token");
    std::fs::write(&file, "ghs_fromfile\n").expect("write");
    let with_file =
        |path: &Path| format!("[targets]\norgs = [\"widgets\"]\n[orgs.widgets]\ntoken_file = \"{}\"\n", path.display());
    let (cli, _, resolved) = run_hive(Some(&with_file(&file)), &args, &[]).expect("valid");
    let Command::Run(run) = &cli.command else { unreachable!("a run") };
    let token = hive::forge::GitHubAuth::Token(hive::forge::Secret::new("ghs_fromfile"));
    assert_eq!(run.file.org_credentials, [("widgets".to_owned(), token)]);
    let shown = resolved.get("orgs.widgets.credential").expect("shown");
    assert_eq!(shown.value, format!("token from the file {}", file.display()));
    let err = run_hive(Some(&with_file(&dir.path().join("missing"))), &args, &[]).expect_err("unreadable").to_string();
    assert!(err.contains("hive.toml:4:14' at key 'orgs.widgets.token_file': cannot read"), "{err}");

    // An installation of the process's app: the app must be configured, its key readable.
    let text = "[targets]\norgs = [\"widgets\"]\n[orgs.widgets]\ninstallation_id = 77\n";
    let err = run_hive(Some(text), &args, &[]).expect_err("no app").to_string();
    assert!(
        err.contains("hive.toml:4:19' at key 'orgs.widgets.installation_id': HIVE_GITHUB_APP_ID is not set"),
        "{err}"
    );
    let key = dir.path().join("app.pem");
    std::fs::write(&key, "-----BEGIN RSA PRIVATE KEY-----\n").expect("write");
    let app = [("HIVE_GITHUB_APP_ID", "12"), ("HIVE_GITHUB_APP_KEY_FILE", key.to_str().expect("utf-8"))];
    let (cli, _, resolved) = run_hive(Some(text), &args, &app).expect("valid");
    let Command::Run(run) = &cli.command else { unreachable!("a run") };
    assert!(matches!(
        run.file.org_credentials.as_slice(),
        [(owner, hive::forge::GitHubAuth::App { app_id: 12, installation_id: 77, .. })] if owner == "widgets"
    ));
    assert_eq!(resolved.get("orgs.widgets.credential").expect("shown").value, "GitHub App installation 77");
    let missing_key = [("HIVE_GITHUB_APP_ID", "12"), ("HIVE_GITHUB_APP_KEY_FILE", "/nonexistent/app.pem")];
    let err = run_hive(Some(text), &args, &missing_key).expect_err("no key").to_string();
    assert!(err.contains("at key 'orgs.widgets.installation_id': cannot read the GitHub App key file"), "{err}");
}
