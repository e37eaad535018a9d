//! Formatting fixes end to end: real git with bare remotes made at test time, the real `cargo fmt`, a Makefile
//! formatter, a push race, hostile input refused before anything runs, and the formatter table.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use hive_ecosystem::{
    FixError, FixOutcome, FixRequest, Preparation, fetch_branch, format_fix, formatter_for, prepare_fix, push_branch,
};
use hive_testkit::git::git;

use crate::write_files;

const CARGO_TOML: &str = "[package]\nname = \"tiny\"\nversion = \"0.1.0\"\nedition = \"2021\"\n";
const UGLY_MAIN: &str = "fn main(){let x=1;\nprintln!(\"{}\",x);}\n";
const PRETTY_MAIN: &str = "fn main() {\n    let x = 1;\n    println!(\"{}\", x);\n}\n";

/// A temporary directory with a bare remote `remote.git` whose `main` holds `files`, and an empty `work` path.
struct Fixture {
    tmp: tempfile::TempDir,
    remote: PathBuf,
}

impl Fixture {
    fn new(files: &[(&str, &str)]) -> Fixture {
        let tmp = tempfile::tempdir().expect("temp dir");
        let seed = tmp.path().join("seed");
        write_files(&seed, files);
        git(&seed, &["init", "-q", "-b", "main"]);
        git(&seed, &["add", "-A"]);
        git(&seed, &["commit", "-q", "--allow-empty", "-m", "initial"]);
        let remote = tmp.path().join("remote.git");
        git(tmp.path(), &["init", "-q", "--bare", "-b", "main", "remote.git"]);
        git(&seed, &["push", "-q", remote.to_str().expect("utf-8 path"), "main"]);
        Fixture { tmp, remote }
    }

    fn work_dir(&self) -> PathBuf {
        self.tmp.path().join("work")
    }

    fn request(&self, branch: &str) -> FixRequest {
        let mut req = FixRequest::new(
            self.remote.to_str().expect("utf-8 path"),
            "main",
            branch,
            "style: apply the formatter",
            self.work_dir(),
        );
        req.timeout = Duration::from_secs(120);
        req
    }

    /// Where `branch` points on the remote, if it exists.
    fn branch(&self, branch: &str) -> Option<String> {
        let out = Command::new("git")
            .args(["rev-parse", "--verify", "--quiet", &format!("refs/heads/{branch}")])
            .current_dir(&self.remote)
            .output()
            .expect("git runs");
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    }

    fn show(&self, rev: &str, path: &str) -> String {
        git(&self.remote, &["show", &format!("{rev}:{path}")]) + "\n"
    }

    fn branches(&self) -> String {
        git(&self.remote, &["for-each-ref", "--format=%(refname) %(objectname)", "refs/heads"])
    }

    /// Whether the work directory holds nothing (or was never made).
    fn work_dir_is_clean(&self) -> bool {
        std::fs::read_dir(self.work_dir()).map_or(true, |mut entries| entries.next().is_none())
    }
}

#[tokio::test]
async fn cargo_fmt_fix_is_pushed_once() {
    let fx = Fixture::new(&[("Cargo.toml", CARGO_TOML), ("src/main.rs", UGLY_MAIN)]);
    let base = fx.branch("main").expect("main exists");
    let req = fx.request("hive/fix/lint-3fa2c1d0");

    let outcome = format_fix(&req).await.expect("the fix is pushed");
    let FixOutcome::Pushed { head_sha, formatter, files_changed, lines_changed } = outcome else {
        panic!("expected a push, got {outcome:?}");
    };
    assert_eq!(formatter, "cargo fmt");
    assert_eq!(files_changed, ["src/main.rs"]);
    assert!(lines_changed > 0);
    assert_eq!(fx.branch("hive/fix/lint-3fa2c1d0").as_deref(), Some(head_sha.as_str()));
    assert_eq!(fx.show("hive/fix/lint-3fa2c1d0", "src/main.rs"), PRETTY_MAIN);
    assert_eq!(fx.branch("main").as_deref(), Some(base.as_str()), "the base branch is never pushed to");
    assert_eq!(fx.show("main", "src/main.rs"), UGLY_MAIN);
    let who = git(&fx.remote, &["log", "-1", "--format=%an <%ae>|%cn|%P|%s", "hive/fix/lint-3fa2c1d0"]);
    assert_eq!(who, format!("hive <hive@users.noreply.localhost>|hive|{base}|style: apply the formatter"));
    assert!(fx.work_dir_is_clean());

    let before = fx.branches();
    let again = format_fix(&req).await.expect("the second call succeeds");
    assert_eq!(again, FixOutcome::AlreadyPushed { head_sha });
    assert_eq!(fx.branches(), before, "no new commit or branch");
    assert!(fx.work_dir_is_clean());
}

#[tokio::test]
async fn a_prepared_fix_is_measured_and_never_pushed() {
    let fx = Fixture::new(&[("Cargo.toml", CARGO_TOML), ("src/main.rs", UGLY_MAIN)]);
    let req = fx.request("hive/fix/lint-prepared");
    let before = fx.branches();
    let Preparation::Ready(fix) = prepare_fix(&req).await.expect("the fix is prepared") else {
        panic!("expected a prepared fix");
    };
    assert!(fix.lines_changed > 0);
    assert_eq!(fix.files_changed, ["src/main.rs"]);
    assert_eq!(fx.branches(), before, "nothing reached the remote");
    fix.discard().await;
    assert_eq!(fx.branches(), before, "nothing reached the remote");
    assert!(fx.work_dir_is_clean());

    // Pushed, it is exactly the measured commit.
    let Preparation::Ready(fix) = prepare_fix(&req).await.expect("the fix is prepared") else {
        panic!("expected a prepared fix");
    };
    let measured = fix.head_sha.clone();
    let pushed = fix.push().await.expect("the fix is pushed");
    assert!(matches!(&pushed, FixOutcome::Pushed { head_sha, .. } if *head_sha == measured), "{pushed:?}");
    assert_eq!(fx.branch("hive/fix/lint-prepared").as_deref(), Some(measured.as_str()));
    assert!(fx.work_dir_is_clean());
}

/// Everything of a working repository that publishing a fix must leave alone, byte for byte.
fn untouched(repo: &Path) -> Vec<(String, Vec<u8>)> {
    let status = Command::new("git")
        .args(["--no-optional-locks", "status", "--porcelain=v2", "--branch", "--untracked-files=all"])
        .current_dir(repo)
        .output()
        .expect("git runs");
    assert!(status.status.success());
    let mut kept = vec![("status".to_owned(), status.stdout)];
    for file in [".git/index", ".git/HEAD", ".git/config", "src/main.rs", "notes.txt"] {
        kept.push((file.to_owned(), std::fs::read(repo.join(file)).unwrap_or_default()));
    }
    let mut hooks: Vec<String> = std::fs::read_dir(repo.join(".git/hooks"))
        .expect("hooks dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    hooks.sort();
    kept.push(("hooks".to_owned(), hooks.join("\n").into_bytes()));
    kept
}

#[tokio::test]
async fn a_fix_for_a_local_repository_arrives_as_a_branch_and_nothing_else_changes() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let repo = tmp.path().join("app");
    write_files(&repo, &[("Cargo.toml", CARGO_TOML), ("src/main.rs", UGLY_MAIN)]);
    git(&repo, &["init", "-q", "-b", "main"]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "initial"]);
    // Work in progress: a staged change, an unstaged one on top, an untracked file; and hooks that would leave a
    // trace if anything ran them.
    std::fs::write(repo.join("src/main.rs"), format!("{UGLY_MAIN}// staged\n")).expect("write");
    git(&repo, &["add", "src/main.rs"]);
    std::fs::write(repo.join("src/main.rs"), format!("{UGLY_MAIN}// staged\n// unstaged\n")).expect("write");
    std::fs::write(repo.join("notes.txt"), "mine\n").expect("write");
    let trace = tmp.path().join("hook-ran");
    for hook in ["reference-transaction", "post-checkout", "post-merge", "pre-push"] {
        let path = repo.join(".git/hooks").join(hook);
        std::fs::write(&path, format!("#!/bin/sh\necho {hook} >> '{}'\n", trace.display())).expect("hook");
        let mut perms = std::fs::metadata(&path).expect("meta").permissions();
        std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
        std::fs::set_permissions(&path, perms).expect("chmod");
    }
    let base = git(&repo, &["rev-parse", "HEAD"]);
    let before = untouched(&repo);

    let url = format!("file://{}", repo.display());
    let mut req =
        FixRequest::new(&url, "main", "hive/fix/lint-local", "style: apply the formatter", tmp.path().join("w"));
    req.timeout = Duration::from_secs(120);
    let Preparation::Ready(fix) = prepare_fix(&req).await.expect("the fix is prepared") else {
        panic!("expected a prepared fix");
    };
    let measured = fix.head_sha.clone();
    let outcome = fix.fetch_into(&repo).await.expect("the fix is fetched");
    assert!(matches!(&outcome, FixOutcome::Pushed { head_sha, .. } if *head_sha == measured), "{outcome:?}");
    assert_eq!(git(&repo, &["rev-parse", "refs/heads/hive/fix/lint-local"]), measured);
    assert_eq!(git(&repo, &["rev-parse", "hive/fix/lint-local~1"]), base, "the fix sits on the committed head");
    assert_eq!(git(&repo, &["show", "hive/fix/lint-local:src/main.rs"]) + "\n", PRETTY_MAIN);
    assert_eq!(untouched(&repo), before, "branch, index, working tree, config and hooks are as they were");
    assert!(!trace.exists(), "a hook ran: {}", std::fs::read_to_string(&trace).unwrap_or_default());
    assert!(!repo.join(".git/FETCH_HEAD").exists());

    // Found again rather than made twice.
    let again = prepare_fix(&req).await.expect("the lookup succeeds");
    assert!(matches!(again, Preparation::Done(FixOutcome::AlreadyPushed { ref head_sha }) if *head_sha == measured));
    assert_eq!(untouched(&repo), before);
    // A branch of that name made between the lookup and the publication, even at an ancestor of the fix that a
    // fetch would fast-forward, is never moved.
    git(&repo, &["branch", "-D", "hive/fix/lint-local"]);
    let Preparation::Ready(fix) = prepare_fix(&req).await.expect("the fix is prepared") else {
        panic!("expected a prepared fix");
    };
    git(&repo, &["branch", "hive/fix/lint-local", &base]);
    let outcome = fix.fetch_into(&repo).await.expect("the fix is refused, not an error");
    assert_eq!(outcome, FixOutcome::AlreadyPushed { head_sha: base.clone() });
    assert_eq!(git(&repo, &["rev-parse", "refs/heads/hive/fix/lint-local"]), base);
}

/// Adds a commit that writes `text` to `file` in `repo` and returns it.
fn commit(repo: &Path, file: &str, text: &str) -> String {
    std::fs::write(repo.join(file), text).expect("write");
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", file]);
    git(repo, &["rev-parse", "HEAD"])
}

#[tokio::test]
async fn a_branch_is_pushed_without_force_and_a_retry_is_no_error() {
    let fx = Fixture::new(&[("README.md", "x\n")]);
    let remote = fx.remote.to_str().expect("utf-8 path");
    let source = fx.tmp.path().join("source");
    git(fx.tmp.path(), &["clone", "-q", remote, "source"]);
    git(&source, &["checkout", "-qb", "agent/new"]);
    let first = commit(&source, "lib.rs", "1\n");
    let timeout = Duration::from_secs(60);
    assert_eq!(push_branch(&source, remote, "agent/new", timeout).await.expect("pushed"), first);
    assert_eq!(fx.branch("agent/new").as_deref(), Some(first.as_str()));
    assert_eq!(push_branch(&source, remote, "agent/new", timeout).await.expect("a retry"), first);
    let second = commit(&source, "lib.rs", "2\n");
    assert_eq!(push_branch(&source, remote, "agent/new", timeout).await.expect("a fast-forward"), second);

    // Other history on the remote is never replaced.
    git(&source, &["reset", "-q", "--hard", &first]);
    let other = commit(&source, "other.rs", "3\n");
    let err = push_branch(&source, remote, "agent/new", timeout).await.expect_err("diverged");
    assert!(matches!(&err, FixError::BranchDiverged { existing, .. } if *existing == second), "{err:?}");
    assert!(err.to_string().contains("exists in") && err.to_string().contains("never replaces"), "{err}");
    assert_eq!(fx.branch("agent/new").as_deref(), Some(second.as_str()), "{other} was not pushed");

    let err = push_branch(&source, remote, "agent/none", timeout).await.expect_err("no such branch");
    assert!(matches!(err, FixError::MissingBranch { .. }), "{err:?}");
    let err = push_branch(&source, remote, "-f", timeout).await.expect_err("hostile");
    assert!(matches!(err, FixError::InvalidBranch { .. }), "{err:?}");
    let err = push_branch(&source, "--upload-pack=x", "agent/new", timeout).await.expect_err("hostile");
    assert!(matches!(err, FixError::InvalidCloneUrl { .. }), "{err:?}");
    // Credentials in a URL never show in the error (port 9 on loopback: nothing listens).
    let secret = "https://hive:s3cr3t-token@127.0.0.1:9/acme/app.git";
    let err = push_branch(&source, secret, "agent/new", timeout).await.expect_err("unreachable");
    assert!(matches!(err, FixError::Git { .. }), "the push was tried: {err:?}");
    let text = format!("{err} {err:?} {}", hive_support::error_chain(&err));
    assert!(!text.contains("s3cr3t-token"), "{text}");
}

#[tokio::test]
async fn a_branch_is_fetched_into_a_local_repository_without_hooks_or_force() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let (source, target) = (tmp.path().join("source"), tmp.path().join("target"));
    for repo in [&source, &target] {
        std::fs::create_dir_all(repo).expect("mkdir");
        git(repo, &["init", "-q", "-b", "main"]);
    }
    let base = commit(&source, "README.md", "x\n");
    let trace = tmp.path().join("hook-ran");
    let hook = target.join(".git/hooks/reference-transaction");
    std::fs::write(&hook, format!("#!/bin/sh\necho ran >> '{}'\n", trace.display())).expect("hook");
    let mut perms = std::fs::metadata(&hook).expect("meta").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o755);
    std::fs::set_permissions(&hook, perms).expect("chmod");
    let timeout = Duration::from_secs(60);

    // Into an empty repository: the branch is created, nothing runs.
    assert_eq!(fetch_branch(&target, &source, "main", timeout).await.expect("fetched"), base);
    assert_eq!(git(&target, &["rev-parse", "refs/heads/main"]), base);
    assert_eq!(fetch_branch(&target, &source, "main", timeout).await.expect("a retry"), base);
    git(&source, &["checkout", "-qb", "feature"]);
    let feature = commit(&source, "lib.rs", "1\n");
    assert_eq!(fetch_branch(&target, &source, "feature", timeout).await.expect("fetched"), feature);
    let next = commit(&source, "lib.rs", "2\n");
    assert_eq!(fetch_branch(&target, &source, "feature", timeout).await.expect("a fast-forward"), next);
    assert!(!trace.exists(), "a hook ran");

    // The checked-out branch is not moved, and other history is not replaced.
    git(&source, &["checkout", "-q", "main"]);
    commit(&source, "more.md", "y\n");
    let err = fetch_branch(&target, &source, "main", timeout).await.expect_err("checked out");
    assert!(matches!(err, FixError::CheckedOut { .. }), "{err:?}");
    git(&source, &["checkout", "-q", "feature"]);
    git(&source, &["reset", "-q", "--hard", &feature]);
    commit(&source, "other.rs", "3\n");
    let err = fetch_branch(&target, &source, "feature", timeout).await.expect_err("diverged");
    assert!(matches!(&err, FixError::BranchDiverged { existing, .. } if *existing == next), "{err:?}");
    assert_eq!(git(&target, &["rev-parse", "refs/heads/feature"]), next);
    assert_eq!(git(&target, &["rev-parse", "refs/heads/main"]), base);
}

#[tokio::test]
async fn formatted_repository_has_nothing_to_fix() {
    let fx = Fixture::new(&[("Cargo.toml", CARGO_TOML), ("src/main.rs", PRETTY_MAIN)]);
    let outcome = format_fix(&fx.request("hive/fix/lint-1")).await.expect("the check runs");
    assert_eq!(outcome, FixOutcome::NothingToFix { formatter: "cargo fmt".to_owned() });
    assert_eq!(fx.branch("hive/fix/lint-1"), None);
    assert!(fx.work_dir_is_clean());
}

#[tokio::test]
async fn repository_without_a_known_formatter_gets_no_fix() {
    let fx = Fixture::new(&[("README.md", "# notes\n"), ("notes.txt", "a   b\n")]);
    let outcome = format_fix(&fx.request("hive/fix/lint-2")).await.expect("the check runs");
    assert_eq!(outcome, FixOutcome::NoFormatter);
    assert_eq!(fx.branch("hive/fix/lint-2"), None);
    assert!(fx.work_dir_is_clean());
}

#[tokio::test]
async fn makefile_fmt_target_is_preferred_over_cargo() {
    let fx = Fixture::new(&[
        ("Cargo.toml", CARGO_TOML),
        ("src/main.rs", UGLY_MAIN),
        ("Makefile", "build:\n\tcargo build\n\nfmt:\n\tsed -i 's/colour/color/' notes.txt\n"),
        ("notes.txt", "one colour\ntwo\n"),
    ]);
    let outcome = format_fix(&fx.request("hive/fix/make")).await.expect("the fix is pushed");
    let FixOutcome::Pushed { formatter, files_changed, lines_changed, .. } = outcome else {
        panic!("expected a push, got {outcome:?}");
    };
    assert_eq!(formatter, "make fmt");
    assert_eq!(files_changed, ["notes.txt"]);
    assert_eq!(lines_changed, 2);
    assert_eq!(fx.show("hive/fix/make", "notes.txt"), "one color\ntwo\n");
    assert_eq!(fx.show("hive/fix/make", "src/main.rs"), UGLY_MAIN, "cargo fmt did not run");
    assert!(fx.work_dir_is_clean());
}

#[tokio::test]
async fn failing_formatter_is_an_error_with_its_stderr() {
    let fx = Fixture::new(&[("Makefile", "fmt:\n\t@echo 'notes.txt:3: unbalanced quote' >&2; exit 3\n")]);
    let err = format_fix(&fx.request("hive/fix/broken")).await.expect_err("the formatter fails");
    assert!(matches!(err, FixError::FormatterFailed { code: Some(_), .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("make fmt") && message.contains("notes.txt:3: unbalanced quote"), "{message}");
    assert_eq!(fx.branch("hive/fix/broken"), None);
    assert!(fx.work_dir_is_clean());
}

#[tokio::test]
async fn branch_pushed_during_the_fix_is_reported_as_already_pushed() {
    // The formatter itself pushes a different commit to the fix branch after the lookup, as a concurrent fixer
    // would; the fix's own push is then rejected as a non-fast-forward.
    let race = "fmt:\n\tsed -i 's/colour/color/' notes.txt\n\tgit push -q origin \
                $$(git -c user.name=other -c user.email=other@example.invalid commit-tree -p HEAD -m other \
                HEAD^{tree}):refs/heads/hive/fix/race\n";
    let fx = Fixture::new(&[("Makefile", race), ("notes.txt", "colour\n")]);
    let outcome = format_fix(&fx.request("hive/fix/race")).await.expect("the race is not an error");
    let other = fx.branch("hive/fix/race").expect("the other push landed");
    assert_eq!(outcome, FixOutcome::AlreadyPushed { head_sha: other.clone() });
    assert_eq!(git(&fx.remote, &["log", "-1", "--format=%an", &other]), "other", "the other push was kept");
    assert!(fx.work_dir_is_clean());
}

#[tokio::test]
async fn hostile_branch_names_are_refused_before_anything_runs() {
    let fx = Fixture::new(&[("Cargo.toml", CARGO_TOML), ("src/main.rs", UGLY_MAIN)]);
    let before = fx.branches();
    for bad in ["../x", "-x", "a b", "x;rm -rf /", "$(id)", "a..b", "x@{1}", "x.lock", "a//b", "a\u{1b}b"] {
        let err = format_fix(&fx.request(bad)).await.expect_err("refused");
        assert!(matches!(err, FixError::InvalidBranch { field: "branch", .. }), "{bad:?}: {err:?}");
        let mut req = fx.request("hive/fix/ok");
        req.base_branch = bad.to_owned();
        let err = format_fix(&req).await.expect_err("refused");
        assert!(matches!(err, FixError::InvalidBranch { field: "base branch", .. }), "{bad:?}: {err:?}");
    }
    assert!(!fx.work_dir().exists(), "nothing was cloned");
    assert_eq!(fx.branches(), before);
}

#[tokio::test]
async fn hostile_clone_urls_are_refused() {
    let fx = Fixture::new(&[("Cargo.toml", CARGO_TOML), ("src/main.rs", UGLY_MAIN)]);
    let marker = fx.tmp.path().join("pwned");
    let marker = marker.to_str().expect("utf-8 path");
    for bad in [format!("--upload-pack=touch {marker}"), format!("ext::sh -c touch% {marker}"), "-x".to_owned()] {
        let mut req = fx.request("hive/fix/url");
        req.clone_url = bad.clone();
        let err = format_fix(&req).await.expect_err("refused");
        assert!(matches!(err, FixError::InvalidCloneUrl { .. }), "{bad:?}: {err:?}");
        assert!(err.to_string().starts_with("invalid clone url '"), "{err}");
    }
    assert!(!Path::new(marker).exists(), "no command ran");
    assert!(!fx.work_dir().exists(), "nothing was cloned");
}

#[tokio::test]
async fn unreachable_remote_is_a_git_error() {
    let fx = Fixture::new(&[("README.md", "x\n")]);
    let mut req = fx.request("hive/fix/lost");
    req.clone_url = fx.tmp.path().join("missing.git").to_str().expect("utf-8 path").to_owned();
    let err = format_fix(&req).await.expect_err("no such remote");
    assert!(matches!(err, FixError::Git { .. }), "{err:?}");
    assert!(fx.work_dir_is_clean());
}

/// What a table case is about, the files it writes, and the argument vector expected (joined with spaces).
type Case = (&'static str, Vec<(&'static str, String)>, Option<&'static str>);

#[test]
fn formatter_table() {
    let pkg = |scripts: &str, dev: &str| {
        format!(r#"{{"name": "web", "scripts": {{{scripts}}}, "devDependencies": {{{dev}}}}}"#)
    };
    let cases: Vec<Case> = vec![
        (
            "just recipe",
            vec![("justfile", "fmt:\n    cargo fmt\n".into()), ("Cargo.toml", CARGO_TOML.into())],
            Some("just fmt"),
        ),
        (
            "make target over python",
            vec![("Makefile", "format:\n\tblack .\n".into()), ("pyproject.toml", "[tool.black]\n".into())],
            Some("make format"),
        ),
        (
            "npm script over prettier",
            vec![("package.json", pkg(r#""lint:fix": "eslint --fix .""#, r#""prettier": "^3""#))],
            Some("npm run lint:fix"),
        ),
        ("fmt over lint:fix", vec![("package.json", pkg(r#""lint:fix": "x", "fmt": "y""#, ""))], Some("npm run fmt")),
        (
            "format:fix over lint:fix",
            vec![("package.json", pkg(r#""lint:fix": "x", "format:fix": "y""#, ""))],
            Some("npm run format:fix"),
        ),
        (
            "pnpm script",
            vec![("package.json", pkg(r#""format": "prettier -w .""#, "")), ("pnpm-lock.yaml", String::new())],
            Some("pnpm run format"),
        ),
        (
            "make without a format target",
            vec![("Makefile", "build:\n\tcargo build\n".into()), ("Cargo.toml", CARGO_TOML.into())],
            Some("cargo fmt --all"),
        ),
        ("go", vec![("go.mod", "module example.com/x\n\ngo 1.22\n".into())], Some("gofmt -w .")),
        (
            "ruff before black",
            vec![("pyproject.toml", "[tool.black]\n[tool.ruff]\nline-length = 100\n".into())],
            Some("ruff format ."),
        ),
        ("black", vec![("pyproject.toml", "[project]\nname = \"x\"\n\n[tool.black]\n".into())], Some("black .")),
        ("python without a formatter", vec![("pyproject.toml", "[project]\nname = \"blacklist\"\n".into())], None),
        (
            "prettier",
            vec![("package.json", pkg(r#""build": "tsc""#, r#""prettier": "^3""#))],
            Some("npx --no-install prettier --write ."),
        ),
        ("package.json without prettier", vec![("package.json", pkg(r#""test": "node --test""#, ""))], None),
        ("hostile script name", vec![("package.json", pkg(r#""-fmt": "x""#, ""))], None),
        ("nothing known", vec![("README.md", "# x\n".into())], None),
    ];
    for (what, files, expected) in cases {
        let dir = tempfile::tempdir().expect("temp dir");
        let files: Vec<(&str, &str)> = files.iter().map(|(p, c)| (*p, c.as_str())).collect();
        write_files(dir.path(), &files);
        let got = formatter_for(dir.path());
        assert_eq!(got.as_ref().map(|(_, argv)| argv.join(" ")).as_deref(), expected, "{what}");
        if let Some((name, argv)) = got {
            let expected_name = match argv[0].as_str() {
                "cargo" => "cargo fmt",
                "gofmt" => "gofmt",
                "ruff" => "ruff format",
                "black" => "black",
                "npx" => "prettier",
                _ => expected.expect("some"),
            };
            assert_eq!(name, expected_name, "{what}");
        }
    }
}
