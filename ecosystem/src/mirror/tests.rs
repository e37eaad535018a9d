//! Mirroring into local bare repositories made at test time.

use std::path::PathBuf;

use super::*;
use crate::test_support::{commit, git, init_repo};

struct Fixture {
    _tmp: tempfile::TempDir,
    src: PathBuf,
    dst: PathBuf,
}

impl Fixture {
    fn dst_arg(&self) -> &str {
        self.dst.to_str().unwrap()
    }
}

/// A source with branches `main`, `feature`, `wip/spike` and tags `v1` (lightweight), `v2` (annotated), and an
/// empty bare destination.
async fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    init_repo(&src, &[("README.md", "hi\n")]).await;
    git(&src, &["tag", "v1"]).await;
    git(&src, &["checkout", "-q", "-b", "feature"]).await;
    commit(&src, &[("feature.txt", "f")], "feature work").await;
    git(&src, &["checkout", "-q", "-b", "wip/spike", "main"]).await;
    commit(&src, &[("spike.txt", "s")], "spike").await;
    git(&src, &["checkout", "-q", "main"]).await;
    git(&src, &["tag", "-a", "v2", "-m", "release 2"]).await;
    let dst = tmp.path().join("dst.git");
    git(tmp.path(), &["init", "-q", "--bare", dst.to_str().unwrap()]).await;
    Fixture { _tmp: tmp, src, dst }
}

async fn refs(dir: &Path) -> BTreeMap<String, String> {
    let out = git(dir, &["for-each-ref", "--format=%(refname) %(objectname)", "refs/heads", "refs/tags"]).await;
    out.lines().filter_map(|l| l.split_once(' ')).map(|(r, o)| (r.to_owned(), o.to_owned())).collect()
}

fn fast() -> MirrorOptions {
    MirrorOptions {
        backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(4),
        ..MirrorOptions::default()
    }
}

#[tokio::test]
async fn first_mirror_copies_all_branches_and_tags_then_goes_incremental() {
    let f = fixture().await;
    let report = mirror(&f.src, f.dst_arg(), &fast()).await.unwrap();
    assert_eq!((report.branches, report.tags, report.attempts), (3, 2, 1));
    assert_eq!(report.updated.len(), 5);
    assert_eq!(refs(&f.dst).await, refs(&f.src).await);

    // Nothing changed: nothing is pushed.
    let again = mirror(&f.src, f.dst_arg(), &fast()).await.unwrap();
    assert!(again.updated.is_empty() && again.deleted.is_empty(), "{again:?}");

    // A new commit and a new tag: exactly those move.
    commit(&f.src, &[("more.txt", "m")], "more").await;
    git(&f.src, &["tag", "v3"]).await;
    let step = mirror(&f.src, f.dst_arg(), &fast()).await.unwrap();
    assert_eq!(step.updated, ["refs/heads/main", "refs/tags/v3"]);
    assert_eq!(refs(&f.dst).await, refs(&f.src).await);

    // A deleted branch and a deleted tag are deleted remotely.
    git(&f.src, &["branch", "-q", "-D", "feature"]).await;
    git(&f.src, &["tag", "-d", "v1"]).await;
    let step = mirror(&f.src, f.dst_arg(), &fast()).await.unwrap();
    assert_eq!(step.deleted, ["refs/heads/feature", "refs/tags/v1"]);
    assert_eq!(refs(&f.dst).await, refs(&f.src).await);
}

#[tokio::test]
async fn a_filter_leaves_excluded_refs_alone_on_both_sides() {
    let f = fixture().await;
    // Something the destination has under wip/ that the source never had: outside the filter, so never deleted.
    git(&f.src, &["push", "-q", "--", f.dst_arg(), "main:refs/heads/wip/theirs"]).await;
    let options = MirrorOptions { branches: vec!["!wip/*".to_owned()], tags: vec!["v2".to_owned()], ..fast() };
    let report = mirror(&f.src, f.dst_arg(), &options).await.unwrap();
    assert_eq!((report.branches, report.tags), (2, 1));
    let dst: Vec<String> = refs(&f.dst).await.into_keys().collect();
    assert_eq!(dst, ["refs/heads/feature", "refs/heads/main", "refs/heads/wip/theirs", "refs/tags/v2"]);
}

#[tokio::test]
async fn a_clone_mirrors_the_branches_of_its_origin() {
    let f = fixture().await;
    let clone = f.src.parent().unwrap().join("clone");
    git(f.src.parent().unwrap(), &["clone", "-q", "--", f.src.to_str().unwrap(), clone.to_str().unwrap()]).await;
    mirror(&clone, f.dst_arg(), &fast()).await.unwrap();
    assert_eq!(refs(&f.dst).await, refs(&f.src).await, "origin's branches, not refs/remotes, reach the mirror");
}

#[tokio::test]
async fn an_unreachable_destination_fails_after_the_configured_attempts() {
    let f = fixture().await;
    let missing = f.src.parent().unwrap().join("no-such-remote.git");
    let options = MirrorOptions { max_attempts: 3, ..fast() };
    let err = mirror(&f.src, missing.to_str().unwrap(), &options).await.unwrap_err();
    match &err {
        EcosystemError::Mirror { attempts, destination, .. } => {
            assert_eq!(*attempts, 3);
            assert_eq!(destination, missing.to_str().unwrap());
        }
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains("failed after 3 attempt(s)"), "{err}");
    assert!(!missing.exists(), "a failed mirror creates nothing");
}

#[tokio::test]
async fn hostile_destinations_never_reach_git() {
    let f = fixture().await;
    for bad in ["--receive-pack=touch /tmp/pwned", "-q", "ext::sh -c id"] {
        let err = mirror(&f.src, bad, &fast()).await.unwrap_err();
        assert!(matches!(err, EcosystemError::InvalidDestination { .. }), "{bad}: {err}");
    }
}
