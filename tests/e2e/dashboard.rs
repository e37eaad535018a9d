//! The dashboard in headless Chromium (driven over WebDriver by chromedriver), against `hive serve` watching the
//! GitHub emulator: a repository whose CI starts failing turns red and the emergency banner appears with its cause,
//! without a reload; a job name written as HTML shows as text; the page's command box clears the emergency with the
//! token (and is refused without it). A screenshot is saved under
//! `target/dashboard-screenshots/`.
//!
//! Without Chromium and chromedriver the test says loudly that it skipped, unless `HIVE_REQUIRE_BROWSER=1` (as CI
//! sets), where it fails.

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use fantoccini::{Client, ClientBuilder, Locator};
use hive_testkit::{Emulator, JobSpec, RepoSpec, RunSpec};
use serde_json::{Value, json};
use tokio::io::AsyncBufReadExt;

use crate::daemon::{DEADLINE, Daemon, hive_command};

const TOKEN: &str = "dashboard-api-token";
/// A job name that would run script if the page parsed it as HTML.
const HOSTILE: &str = r#"<img src=x onerror="window.__pwned=1">tests"#;

/// Where a program is on `PATH`.
fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| p.is_file())
}

/// Chromium and chromedriver, or `None` after saying why the test does not run (a failure when CI requires it).
fn browser() -> Option<(PathBuf, PathBuf)> {
    let chromium = which("chromium").or_else(|| which("chromium-browser"));
    let driver = which("chromedriver");
    match (chromium, driver) {
        (Some(chromium), Some(driver)) => Some((chromium, driver)),
        (chromium, _) => {
            let missing = if chromium.is_none() { "chromium" } else { "chromedriver" };
            assert!(
                std::env::var("HIVE_REQUIRE_BROWSER").as_deref() != Ok("1"),
                "HIVE_REQUIRE_BROWSER=1 but {missing} is not installed (apt-get install chromium chromium-driver)"
            );
            // Straight to stderr, past the test harness's capture, so a skip is seen in every run.
            let banner = "!".repeat(96);
            let notice = format!(
                "\n{banner}\n!!! SKIPPED the dashboard's browser test: {missing} is not installed\n!!! (apt-get install \
                 chromium chromium-driver; HIVE_REQUIRE_BROWSER=1 makes this a failure)\n{banner}\n"
            );
            let _ = std::io::Write::write_all(&mut std::io::stderr(), notice.as_bytes());
            None
        }
    }
}

/// chromedriver on a loopback port, killed when dropped.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    async fn start(driver: &Path) -> Driver {
        let mut child = Command::new(driver)
            .args(["--port=0", "--allowed-ips=127.0.0.1"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let stdout = tokio::process::ChildStdout::from_std(child.stdout.take().expect("stdout")).expect("stdout");
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        // "ChromeDriver was started successfully on port 12345.": the port it chose (the first line only echoes 0).
        let port = tokio::time::timeout(DEADLINE, async {
            while let Some(line) = lines.next_line().await.expect("chromedriver's output") {
                if let Some(port) = line.split("started successfully on port ").nth(1) {
                    return port.trim().trim_end_matches('.').parse::<u16>().expect("a port");
                }
            }
            panic!("chromedriver ended without saying its port");
        })
        .await
        .expect("chromedriver's port in time");
        // The rest of its output is not read; it must not block on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Driver { child, url: format!("http://127.0.0.1:{port}") }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn open_browser(driver: &Driver, chromium: &Path) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".to_owned(),
        json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1280,1000", "--no-first-run", "--disable-extensions"],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    // chromedriver takes a moment to accept sessions after saying its port.
    let until = tokio::time::Instant::now() + DEADLINE;
    loop {
        match ClientBuilder::new(connector.clone()).capabilities(caps.clone()).connect(&driver.url).await {
            Ok(client) => return client,
            Err(err) if tokio::time::Instant::now() < until => {
                eprintln!("waiting for chromedriver: {err}");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(err) => panic!("no browser session: {err}"),
        }
    }
}

/// What the test reads from the page: each repository row's health, the banner, the causes, the live state, and
/// whether the hostile name ran.
const READ_PAGE: &str = r#"
const rows = {};
for (const tr of document.querySelectorAll('#repos tbody tr')) rows[tr.dataset.repo] = tr.dataset.health;
return {
  rows,
  banner: !document.getElementById('emergency').hidden,
  causes: document.getElementById('causes').textContent,
  level: document.getElementById('level').textContent,
  live: document.getElementById('live').dataset.state,
  repos_text: document.getElementById('repos').textContent,
  next_text: document.getElementById('next').textContent,
  audit_text: document.getElementById('audit').textContent,
  images: document.querySelectorAll('img').length,
  pwned: window.__pwned === 1,
  navigations: performance.getEntriesByType('navigation').length,
  marker: window.__loaded_once === true,
};
"#;

/// Polls the page until `done` holds of what [`READ_PAGE`] reads, failing after [`DEADLINE`].
async fn page_until(browser: &Client, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let until = tokio::time::Instant::now() + DEADLINE;
    loop {
        let page = browser.execute(READ_PAGE, vec![]).await.expect("read the page");
        if done(&page) {
            return page;
        }
        assert!(tokio::time::Instant::now() < until, "{what}: not within {DEADLINE:?}; the page shows {page}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Types `command` and `token` into the page's command box, sends it, and returns what the page says came back.
async fn run_command(browser: &Client, token: &str, command: &str) -> String {
    for (field, text) in [("command-token", token), ("command-text", command)] {
        let input = browser.find(Locator::Id(field)).await.expect("the command box");
        input.clear().await.expect("clear");
        input.send_keys(text).await.expect("type");
    }
    browser
        .execute("document.getElementById('command-result').textContent = ''; return true;", vec![])
        .await
        .expect("reset");
    browser.find(Locator::Css("#command-form button")).await.expect("the button").click().await.expect("click");
    let until = tokio::time::Instant::now() + DEADLINE;
    loop {
        let shown = browser
            .execute("return document.getElementById('command-result').textContent;", vec![])
            .await
            .expect("read the result");
        if let Some(text) = shown.as_str().filter(|t| !t.is_empty()) {
            return text.to_owned();
        }
        assert!(tokio::time::Instant::now() < until, "no answer to '{command}' within {DEADLINE:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn screenshot_path(name: &str) -> PathBuf {
    // The test's own target directory (`target/tmp`'s parent), whichever CARGO_TARGET_DIR is.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).parent().expect("target dir").to_path_buf();
    let dir = target.join("dashboard-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir.join(name)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_repository_turns_red_and_the_emergency_banner_appears_live_in_chromium() {
    let Some((chromium, driver)) = browser() else { return };
    let emu = Emulator::start().await;
    let s = emu.state();
    s.add_org("acme");
    for name in ["api", "web"] {
        s.add_repo(RepoSpec::new("acme", name).license("MIT").has_security_md(true));
        s.add_workflow_run("acme", name, RunSpec::new("CI", "main"));
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let mut cmd = hive_command(&dir.path().join("state"), &["serve", "--org", "acme", "--bind", "127.0.0.1:0"]);
    cmd.env("GITHUB_API_URL", emu.url())
        .env("GITHUB_TOKEN", emu.token())
        .env("HIVE_API_TOKEN", TOKEN)
        .env("ORCHESTRATION_INTERVAL", "1");
    let mut daemon = Daemon::spawn(cmd, &dir.path().join("stderr.log"));
    let line = daemon.line("the listening line", |l| l.starts_with("hive serve: listening on http://")).await;
    let base = line.trim_start_matches("hive serve: listening on ").trim().to_owned();

    let driver = Driver::start(&driver).await;
    let browser = open_browser(&driver, &chromium).await;
    browser.goto(&format!("{base}/")).await.expect("open the dashboard");
    // Marks this page load: a reload would lose it.
    browser.execute("window.__loaded_once = true; return true;", vec![]).await.expect("mark the page");
    page_until(&browser, "both repositories green and the stream live", |p| {
        p["rows"]["acme/api"] == "green" && p["rows"]["acme/web"] == "green" && p["live"] == "live"
    })
    .await;

    // acme/api's CI fails, in a job whose name is HTML; then an operator declares an emergency.
    let job = JobSpec::new(HOSTILE, "completed", Some("failure")).step("cargo test", "completed", Some("failure"));
    s.add_workflow_run("acme", "api", RunSpec::new("CI", "main").outcome("completed", Some("failure")).job(job));
    let page = page_until(&browser, "acme/api red", |p| p["rows"]["acme/api"] == "red").await;
    assert_eq!(page["rows"]["acme/web"], "green", "{page}");
    let declared = reqwest::Client::new()
        .post(format!("{base}/api/command"))
        .bearer_auth(TOKEN)
        .json(&json!({ "command": "emergency declare" }))
        .send()
        .await
        .expect("declare");
    assert!(declared.status().is_success(), "{declared:?}");
    let page = page_until(&browser, "the emergency banner with its cause", |p| {
        p["banner"] == true && p["causes"].as_str().is_some_and(|c| c.contains("declared"))
    })
    .await;
    assert_eq!(page["level"], "EMERGENCY", "{page}");
    assert_eq!(page["marker"], true, "the page was reloaded: {page}");
    assert_eq!(page["navigations"], 1, "{page}");

    // The job's name reached the page as text: shown with its angle brackets, never an element, never run.
    let page = page_until(&browser, "the hostile job name shown", |p| {
        p["repos_text"].as_str().is_some_and(|t| t.contains(HOSTILE))
    })
    .await;
    assert_eq!(page["images"], 0, "{page}");
    assert_eq!(page["pwned"], false, "{page}");

    let png = browser.screenshot().await.expect("screenshot");
    assert!(png.starts_with(b"\x89PNG"), "not a PNG");
    let path = screenshot_path("repository-red-emergency.png");
    std::fs::write(&path, png).expect("save the screenshot");
    println!("dashboard screenshot: {}", path.display());

    // The operator clears it from the page's command box, with the token: the banner goes, the trail shows it.
    let wrong = run_command(&browser, "not-the-token", "emergency clear").await;
    assert!(wrong.starts_with("403"), "{wrong}");
    let done = run_command(&browser, TOKEN, "emergency clear").await;
    assert_eq!(done, "ok: emergency clear");
    let page = page_until(&browser, "the banner gone and the clearing in the audit", |p| {
        p["banner"] == false && p["audit_text"].as_str().is_some_and(|t| t.contains("emergency clear"))
    })
    .await;
    assert_eq!(page["marker"], true, "the page was reloaded: {page}");

    browser.close().await.expect("close the browser");
    daemon.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(daemon.exit_within(Duration::from_secs(15)).await.code(), Some(0), "{}", daemon.stderr());
}
