//! Every archetype's crate, rendered and tested with the real cargo, as `spawn agent` tests it before publishing.

use std::path::PathBuf;

use hive_spawner::{AgentSpec, Archetype, CheckOptions, render, test_crate};

/// The target directory every agent of these tests shares, kept between runs like the state directory's.
fn shared_target() -> PathBuf {
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("agents-target")
}

#[tokio::test(flavor = "multi_thread")]
async fn every_archetype_renders_a_crate_whose_tests_pass() {
    let mut options = CheckOptions::new(shared_target());
    options.offline = true;
    for archetype in Archetype::ALL {
        let name = format!("probe-{}", archetype.name());
        let spec = AgentSpec::new(&name, "tries the <b>template</b> # [x](y) \"quoted\" \\ out").unwrap();
        let rendered = render(&spec, archetype);
        for file in &rendered.files {
            assert!(!file.contents.contains("{{"), "{}: a placeholder is left", file.path.display());
        }
        let dir = tempfile::tempdir().unwrap();
        rendered.write_to(dir.path()).unwrap();
        let report = test_crate(dir.path(), &name, &options).await.unwrap();
        assert!(report.passed, "{archetype}: {}\n{}", report.summary(), report.tail);
        assert!(!report.results.is_empty(), "{archetype}: no test ran");
        let written = std::fs::read_to_string(dir.path().join("TEST_REPORT.md")).unwrap();
        assert!(written.contains("**passed**"), "{written}");
        assert!(dir.path().join("Cargo.lock").exists(), "{archetype}: the lock file is made for the repository");
    }
}
