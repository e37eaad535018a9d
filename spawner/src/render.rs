//! Making a new agent's crate from the templates kept in this crate (`spawner/templates/`): every file of it, in
//! memory, before anything touches the disk.
//!
//! Templates hold `{{key}}` placeholders filled with values made safe for where they land: the name is already
//! restricted to `[a-z0-9-]`, and the description, the only free text, goes into `Cargo.toml` as a TOML string and
//! into the README with every markdown character escaped. It never lands in code.

use std::path::{Path, PathBuf};

use hive_ecosystem::fill_placeholders;

use crate::{AgentSpec, Archetype};

/// One file of a rendered crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedFile {
    /// Its path in the crate, relative, with `/` separators.
    pub path: PathBuf,
    /// Its text.
    pub contents: String,
}

/// A rendered crate: every file of the agent's repository but its lock file and test report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedCrate {
    /// The archetype it was made from.
    pub archetype: Archetype,
    /// Its files, in a stable order.
    pub files: Vec<RenderedFile>,
}

impl RenderedCrate {
    /// The file at `path`, if the crate has one.
    pub fn file(&self, path: impl AsRef<Path>) -> Option<&str> {
        self.files.iter().find(|f| f.path == path.as_ref()).map(|f| f.contents.as_str())
    }

    /// Writes every file under `dir` (which must exist), making directories as needed.
    pub fn write_to(&self, dir: &Path) -> std::io::Result<()> {
        for file in &self.files {
            let path = dir.join(&file.path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            std::fs::write(&path, &file.contents)?;
        }
        Ok(())
    }
}

/// The dependencies of the GitHub archetypes: the client hive itself uses, with TLS on ring (no C toolchain
/// beyond cc), and a tokio runtime.
const GITHUB_DEPENDENCIES: &str = r#"octocrab = { version = "0.54", default-features = false, features = ["default-client", "rustls", "rustls-ring", "timeout"] }
tokio = { version = "1", features = ["rt-multi-thread", "macros", "time", "signal"] }
"#;

const WEBHOOK_DEPENDENCIES: &str = r#"axum = "0.8"
hex = "0.4"
hmac = "0.12"
serde_json = "1"
sha2 = "0.10"
tokio = { version = "1", features = ["rt-multi-thread", "macros", "net", "io-util", "signal"] }
"#;

const GITHUB_CONFIGURATION: &str = "Settings come from the environment: `AGENT_REPO` (required, `owner/name`), \
`GITHUB_TOKEN`, `GITHUB_API_URL` (GitHub Enterprise or a test server), `AGENT_INTERVAL_SECS` (default 300) and \
`AGENT_ONCE=1` (one pass, then exit).";

const WEBHOOK_CONFIGURATION: &str = "Settings come from the environment: `AGENT_BIND` (default `127.0.0.1:8787`) and \
`AGENT_WEBHOOK_SECRET` (required: the webhook's secret). It serves `POST /webhook` (deliveries signed with the \
secret, `X-Hub-Signature-256`, refused otherwise before they are read; the `X-GitHub-Event` header and a JSON body) \
and `GET /health`.";

/// Renders the crate of the agent `spec` from `archetype`'s templates, its CI running on pushes to `main`.
pub fn render(spec: &AgentSpec, archetype: Archetype) -> RenderedCrate {
    render_for(spec, archetype, "main")
}

/// [`render`] for a repository whose code lands on `base_branch`.
pub fn render_for(spec: &AgentSpec, archetype: Archetype, base_branch: &str) -> RenderedCrate {
    let name = spec.name();
    let (dependencies, configuration, run_example, bad) = match archetype {
        Archetype::IssueLabeler | Archetype::CiSummarizer => (
            GITHUB_DEPENDENCIES,
            GITHUB_CONFIGURATION,
            format!("AGENT_REPO=octo/widgets GITHUB_TOKEN=... cargo run --release --bin {name}"),
            ("AGENT_REPO", "../etc"),
        ),
        Archetype::WebhookResponder => (
            WEBHOOK_DEPENDENCIES,
            WEBHOOK_CONFIGURATION,
            format!("AGENT_BIND=127.0.0.1:8787 AGENT_WEBHOOK_SECRET=... cargo run --release --bin {name}"),
            ("AGENT_BIND", "nope"),
        ),
    };
    let description_toml = toml::Value::String(spec.description().to_owned()).to_string();
    let vars: [(&str, &str); 12] = [
        ("base_branch", base_branch),
        ("name", name),
        ("crate_name", &name.replace('-', "_")),
        ("description_toml", &description_toml),
        ("description_markdown", &escape_markdown(spec.description())),
        ("dependencies", dependencies),
        ("archetype", archetype.name()),
        ("archetype_summary", archetype.summary()),
        ("run_example", &run_example),
        ("configuration", configuration),
        ("bad_key", bad.0),
        ("bad_value", bad.1),
    ];
    let mut templates: Vec<(&str, &str)> = vec![
        ("Cargo.toml", include_str!("../templates/common/Cargo.toml.tmpl")),
        (".gitignore", include_str!("../templates/common/gitignore.tmpl")),
        (".github/workflows/ci-tests.yml", include_str!("../templates/common/ci-tests.yml.tmpl")),
        ("README.md", include_str!("../templates/common/README.md.tmpl")),
        ("src/shutdown.rs", include_str!("../templates/common/shutdown.rs.tmpl")),
        ("tests/cli.rs", include_str!("../templates/common/cli-test.rs.tmpl")),
    ];
    templates.extend(match archetype {
        Archetype::IssueLabeler => [
            ("src/lib.rs", include_str!("../templates/issue-labeler/lib.rs.tmpl")),
            ("src/main.rs", include_str!("../templates/issue-labeler/main.rs.tmpl")),
            ("src/config.rs", include_str!("../templates/common/github.rs.tmpl")),
        ],
        Archetype::CiSummarizer => [
            ("src/lib.rs", include_str!("../templates/ci-summarizer/lib.rs.tmpl")),
            ("src/main.rs", include_str!("../templates/ci-summarizer/main.rs.tmpl")),
            ("src/config.rs", include_str!("../templates/common/github.rs.tmpl")),
        ],
        Archetype::WebhookResponder => [
            ("src/lib.rs", include_str!("../templates/webhook-responder/lib.rs.tmpl")),
            ("src/main.rs", include_str!("../templates/webhook-responder/main.rs.tmpl")),
            ("src/config.rs", include_str!("../templates/webhook-responder/config.rs.tmpl")),
        ],
    });
    if archetype == Archetype::WebhookResponder {
        templates.push(("tests/webhook.rs", include_str!("../templates/webhook-responder/webhook-test.rs.tmpl")));
    }
    let files = templates
        .into_iter()
        .map(|(path, template)| RenderedFile { path: PathBuf::from(path), contents: fill(template, &vars) })
        .collect();
    RenderedCrate { archetype, files }
}

/// Fills every `{{key}}` of `template` in one pass (ecosystem's `fill_placeholders`, the one synced templates use): a
/// value is never read for placeholders itself, so a description holding `{{dependencies}}` stays text.
fn fill(template: &str, vars: &[(&str, &str)]) -> String {
    let value = |key: &str| vars.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
    // The templates are this crate's own and name only keys of `vars`; every archetype is rendered by the tests.
    fill_placeholders(template, value).expect("the spawner's templates name only the keys render_for gives")
}

/// `text` with every ASCII punctuation character backslash-escaped (CommonMark), so a description cannot become a
/// heading, a link, an image or HTML in the README.
pub(crate) fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_punctuation() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
