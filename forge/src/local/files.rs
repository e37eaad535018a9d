//! The files a maintained repository is expected to have (a security policy, a license, a CI configuration), looked
//! for in a local repository's work tree, as GitHub looks for them on its default branch.

use std::path::Path;

/// Where GitHub looks for a security policy, in its order.
const POLICY_FILES: [&str; 3] = ["SECURITY.md", ".github/SECURITY.md", "docs/SECURITY.md"];

/// How license files begin, lowercase: `LICENSE`, `LICENSE-MIT`, `LICENCE.txt`, `COPYING`, `UNLICENSE`.
const LICENSE_PREFIXES: [&str; 4] = ["license", "licence", "copying", "unlicense"];

/// The configuration files of CI services other than GitHub Actions.
const OTHER_CI_FILES: [&str; 7] = [
    ".gitlab-ci.yml",
    ".circleci/config.yml",
    ".travis.yml",
    "azure-pipelines.yml",
    "bitbucket-pipelines.yml",
    ".woodpecker.yml",
    "Jenkinsfile",
];

/// Which of the expected files `dir` has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Present {
    pub(crate) security_policy: bool,
    pub(crate) license: bool,
    pub(crate) ci_workflow: bool,
}

/// Looks for the expected files in the work tree at `dir` (a repository's directory, as discovered).
pub(crate) async fn present(dir: &Path) -> Present {
    let mut present = Present { security_policy: false, license: false, ci_workflow: false };
    for name in POLICY_FILES {
        present.security_policy |= is_file(&dir.join(name)).await;
    }
    present.license = any_entry(dir, |name| {
        let name = name.to_lowercase();
        LICENSE_PREFIXES.iter().any(|prefix| name.starts_with(prefix))
    })
    .await;
    // A workflow is a YAML file directly in `.github/workflows`, as GitHub Actions reads them.
    present.ci_workflow =
        any_entry(&dir.join(".github/workflows"), |name| name.ends_with(".yml") || name.ends_with(".yaml")).await;
    for name in OTHER_CI_FILES {
        present.ci_workflow |= is_file(&dir.join(name)).await;
    }
    present
}

async fn is_file(path: &Path) -> bool {
    tokio::fs::metadata(path).await.is_ok_and(|m| m.is_file())
}

/// Whether a regular file directly in `dir` has a name `wanted` accepts; an unreadable directory has none.
async fn any_entry(dir: &Path, wanted: impl Fn(&str) -> bool) -> bool {
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else { return false };
    while let Ok(Some(entry)) = entries.next_entry().await {
        if entry.file_name().to_str().is_some_and(&wanted) && is_file(&entry.path()).await {
            return true;
        }
    }
    false
}
