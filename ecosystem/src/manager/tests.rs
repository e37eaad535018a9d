//! Tests of the ecosystem manager against real git repositories made at test time.

use super::*;
use crate::test_support::{commit, git, init_repo};

async fn fixture(dir: &Path, name: &str) -> PathBuf {
    let repo = dir.join(name);
    init_repo(&repo, &[("README.md", "hello\n"), ("Makefile", "test:\n\ttrue\n")]).await;
    repo
}

#[tokio::test]
async fn import_clones_and_records_metadata() {
    let tmp = tempfile::tempdir().unwrap();
    let source = fixture(tmp.path(), "api").await;
    let head = git(&source, &["rev-parse", "HEAD"]).await;
    let manager = EcosystemManager::new(tmp.path().join("state"));

    let meta = manager.import(source.to_str().unwrap(), &ImportOptions::default()).await.unwrap();
    assert_eq!(meta.name, "api");
    assert_eq!(meta.id.as_str().len(), 12);
    assert_eq!(meta.default_branch.as_deref(), Some("main"));
    assert_eq!(meta.head.as_deref(), Some(head.as_str()));
    assert_eq!(meta.build_systems, ["make"]);
    assert!(manager.repo_dir(&meta.id).join("README.md").is_file());
    assert!(tmp.path().join(format!("state/ecosystem/meta/{}.json", meta.id)).is_file());

    assert_eq!(manager.list().unwrap(), vec![meta.clone()]);
    assert_eq!(manager.show(meta.id.as_str()).unwrap(), meta);

    // The same source (even spelled differently) gets the same id, and is refused a second time.
    let again = manager.import(&format!("{}/", source.display()), &ImportOptions::default()).await.unwrap_err();
    assert!(matches!(&again, EcosystemError::AlreadyImported { id, .. } if id == meta.id.as_str()), "{again}");
}

#[tokio::test]
async fn shallow_import_keeps_one_commit() {
    let tmp = tempfile::tempdir().unwrap();
    let source = fixture(tmp.path(), "deep").await;
    commit(&source, &[("b.txt", "b")], "second").await;
    let manager = EcosystemManager::new(tmp.path().join("state"));
    let meta = manager.import(source.to_str().unwrap(), &ImportOptions { shallow: true, ..Default::default() }).await;
    let meta = meta.unwrap();
    assert!(meta.shallow);
    let count = git(&manager.repo_dir(&meta.id), &["rev-list", "--count", "HEAD"]).await;
    assert_eq!(count, "1");
}

#[tokio::test]
async fn hostile_sources_and_ids_are_refused_before_git_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let manager = EcosystemManager::new(tmp.path());
    for bad in ["--upload-pack=touch /tmp/pwned", "-x", "ext::sh -c id"] {
        let err = manager.import(bad, &ImportOptions::default()).await.unwrap_err();
        assert!(matches!(err, EcosystemError::InvalidSource { .. }), "{bad}: {err}");
        assert!(err.to_string().starts_with("invalid source '"), "{err}");
    }
    for bad in ["../etc", "../../aaaaaaaaaa", "ABCDEF123456", "abc", ""] {
        let err = manager.show(bad).unwrap_err();
        assert!(matches!(err, EcosystemError::InvalidId { .. }), "{bad}: {err}");
        assert!(manager.remove(bad).await.is_err());
    }
    assert!(!tmp.path().join("ecosystem").exists(), "nothing may be created for refused input");
}

#[tokio::test]
async fn failed_clone_leaves_nothing_behind() {
    let tmp = tempfile::tempdir().unwrap();
    let not_a_repo = tmp.path().join("plain");
    std::fs::create_dir(&not_a_repo).unwrap();
    let manager = EcosystemManager::new(tmp.path().join("state"));
    let err = manager.import(not_a_repo.to_str().unwrap(), &ImportOptions::default()).await.unwrap_err();
    assert!(matches!(err, EcosystemError::Clone { .. }), "{err}");
    let left: Vec<_> = std::fs::read_dir(manager.root()).unwrap().flatten().map(|e| e.file_name()).collect();
    assert!(left.is_empty(), "left behind: {left:?}");
    assert!(manager.list().unwrap().is_empty());
}

#[tokio::test]
async fn leftovers_of_an_interrupted_import_are_swept() {
    let tmp = tempfile::tempdir().unwrap();
    let source = fixture(tmp.path(), "web").await;
    let manager = EcosystemManager::new(tmp.path().join("state"));
    let id = Source::parse(source.to_str().unwrap()).unwrap().key();
    // A killed import: a temporary clone of a process that is gone, and a renamed clone whose metadata never got
    // written. Neither counts as imported.
    let dead_pid = i32::MAX - 1;
    let stale = manager.root().join(format!(".import-{dead_pid}-abc/repo"));
    std::fs::create_dir_all(&stale).unwrap();
    std::fs::create_dir_all(manager.repo_dir(&id).join("half")).unwrap();
    assert!(manager.list().unwrap().is_empty());

    let meta = manager.import(source.to_str().unwrap(), &ImportOptions::default()).await.unwrap();
    assert_eq!(meta.id, id);
    assert!(!manager.repo_dir(&id).join("half").exists());
    assert!(!stale.exists());
}

#[tokio::test]
async fn corrupted_metadata_is_an_error_naming_the_file() {
    let tmp = tempfile::tempdir().unwrap();
    let source = fixture(tmp.path(), "lib").await;
    let manager = EcosystemManager::new(tmp.path().join("state"));
    let meta = manager.import(source.to_str().unwrap(), &ImportOptions::default()).await.unwrap();
    let file = manager.root().join(format!("meta/{}.json", meta.id));
    std::fs::write(&file, "{ not json").unwrap();

    for err in [manager.list().unwrap_err(), manager.show(meta.id.as_str()).unwrap_err()] {
        assert!(matches!(err, EcosystemError::CorruptMetadata { .. }), "{err}");
        assert!(err.to_string().contains(&file.display().to_string()), "{err}");
    }
    // Never a silent reset: the file is still what it was.
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "{ not json");
}

#[tokio::test]
async fn remove_runs_the_hook_first_and_respects_a_refusal() {
    let tmp = tempfile::tempdir().unwrap();
    let source = fixture(tmp.path(), "svc").await;
    let manager = EcosystemManager::new(tmp.path().join("state"));
    let meta = manager.import(source.to_str().unwrap(), &ImportOptions::default()).await.unwrap();
    let dir = manager.repo_dir(&meta.id);

    let err = manager.remove_with(meta.id.as_str(), |_| async { Err("service 'web' did not stop") }).await;
    let err = err.unwrap_err();
    assert!(err.to_string().contains("service 'web' did not stop"), "{err}");
    assert!(dir.exists() && manager.show(meta.id.as_str()).is_ok(), "a refused removal removes nothing");

    let mut seen = None;
    let removed = manager
        .remove_with(meta.id.as_str(), |m| {
            seen = Some(m.id.clone());
            async { Ok::<(), String>(()) }
        })
        .await
        .unwrap();
    assert_eq!(seen.as_ref(), Some(&meta.id));
    assert_eq!(removed, meta);
    assert!(!dir.exists());
    assert!(manager.list().unwrap().is_empty());
    let err = manager.show(meta.id.as_str()).unwrap_err();
    assert!(matches!(err, EcosystemError::NotFound { .. }), "{err}");
}

#[tokio::test]
async fn errors_never_hold_the_credentials_of_a_source_url() {
    let tmp = tempfile::tempdir().unwrap();
    let manager = EcosystemManager::new(tmp.path().join("state"));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://me:pa55-w0rd-secret@127.0.0.1:{port}/x.git");
    let options = ImportOptions { timeout: Duration::from_secs(60), ..ImportOptions::default() };
    let err = manager.import(&url, &options).await.unwrap_err();
    // The whole chain, git's own message and the command line included.
    let chain = format!("{err} {:?}", std::error::Error::source(&err).map(ToString::to_string));
    assert!(matches!(err, EcosystemError::Clone { .. }), "{chain}");
    assert!(!chain.contains("pa55-w0rd-secret") && !chain.contains("me:"), "{chain}");
    assert!(chain.contains("[REDACTED]@127.0.0.1"), "{chain}");
    let bad = manager.import("gopher://me:pa55-w0rd-secret@h/x", &options).await.unwrap_err();
    assert!(!bad.to_string().contains("pa55"), "{bad}");
}
