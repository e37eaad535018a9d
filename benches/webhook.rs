//! Webhook benchmark: how long a failing `workflow_run` delivery takes to become the steward's decision, through
//! the real `hive serve` binary (a child process) on the GitHub API emulator with 50 ms injected latency.
//!
//! The server watches one organisation with the autonomy loop on (level `issue`) and its cycles a day apart, so
//! every read after the first cycle is a delivery's. Each iteration breaks one more repository's CI on the
//! emulator, sends GitHub's signed delivery for it, and polls `/api/audit` until the steward's decision about that
//! repository is recorded (the reservation and its audit record are one transaction, written before the write is
//! sent). Timed from just before the delivery is posted. Deliveries are 1.2 s apart: each decision is followed by
//! a write, and the forge spaces writes a second apart (GitHub's etiquette), so deliveries that need writes are
//! decided at most one a second; the bench measures the path of one delivery, not that pacing.
//!
//! The baseline, measured in the same run against the same emulator: one snapshot of a failing repository read
//! through the same forge code (`GitHubForge::snapshot`), the read a refresh cannot do without. The ratio says what
//! the rest costs: the refresh window, the queen's cycle, scoring, the steward's decision and the database.
//!
//! `cargo bench --bench webhook` runs 20 deliveries over 100 repositories; `-- --test` runs 3 over 5, which CI can
//! afford.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use hive::forge::{Forge, GitHubAuth, GitHubConfig, GitHubForge, RepoId, Secret};
use hive_testkit::{Emulator, JobSpec, RepoSpec, RunSpec};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// The organisation the fleet lives in.
const ORG: &str = "bench";
/// Latency the emulator adds to every request: a plausible round trip to api.github.com.
const LATENCY: Duration = Duration::from_millis(50);
/// The secret deliveries are signed with.
const SECRET: &str = "bench-webhook-secret";
/// Goal: a failing delivery reaches the steward's decision within this.
const GOAL: Duration = Duration::from_secs(1);
/// More than the forge's gap between two writes.
const WRITE_GAP: Duration = Duration::from_millis(1_200);
/// How long any one wait may take before the bench gives up.
const DEADLINE: Duration = Duration::from_secs(60);

fn main() {
    let test_mode = std::env::args().any(|arg| arg == "--test");
    let (repos, deliveries) = if test_mode { (5, 3) } else { (100, 20) };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime builds unless the process is out of threads or descriptors");
    runtime.block_on(bench(repos, deliveries));
}

async fn bench(repos: usize, deliveries: usize) {
    println!("webhook: {repos} repositories, {deliveries} failing workflow_run deliveries, {LATENCY:?} latency");
    let emu = Emulator::start().await;
    let state = emu.state();
    state.add_org(ORG);
    for i in 0..repos {
        let name = format!("r{i}");
        state.add_repo(RepoSpec::new(ORG, &name));
        state.add_workflow_run(ORG, &name, RunSpec::new("ci", "main"));
    }
    state.set_latency(LATENCY);

    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut server = Server::start(&emu, dir.path());
    let client = reqwest::Client::new();
    let mut seq = 0;
    let mut decided = Vec::with_capacity(deliveries);
    for i in 0..deliveries {
        let name = format!("r{i}");
        break_ci(&emu, &name);
        let body = serde_json::to_vec(&workflow_run(&name)).expect("json");
        let started = Instant::now();
        let answer = client
            .post(format!("{}/api/github/webhook", server.base))
            .header("content-type", "application/json")
            .header("x-github-event", "workflow_run")
            .header("x-github-delivery", format!("bench-{i}"))
            .header("x-hub-signature-256", signature(&body))
            .body(body)
            .send()
            .await
            .expect("the delivery is answered");
        assert_eq!(answer.status(), reqwest::StatusCode::ACCEPTED, "the delivery is taken");
        seq = decision(&client, &server.base, seq, &format!("{ORG}/{name}")).await;
        decided.push(started.elapsed());
        // The decision's write goes out after it, and GitHub's etiquette spaces writes a second apart: a delivery
        // sent sooner would wait for the previous write, which is the pacing, not the path measured.
        tokio::time::sleep(WRITE_GAP).await;
    }
    server.stop();

    // The baseline: the one read a refresh needs, through the same forge code, against the same emulator.
    let mut config = GitHubConfig::new(GitHubAuth::Token(Secret::new(emu.token())));
    config.api_url = emu.url();
    let forge = GitHubForge::new(config).expect("a forge");
    let mut reads = Vec::with_capacity(deliveries);
    for i in 0..deliveries {
        let repo = RepoId::new(format!("{ORG}/r{i}")).expect("a repository name");
        let started = Instant::now();
        forge.snapshot(&repo).await.expect("a snapshot");
        reads.push(started.elapsed());
    }

    let (p50, p95, max) = percentiles(&mut decided);
    let (read50, _, _) = percentiles(&mut reads);
    let verdict = if p95 <= GOAL { "met" } else { "MISSED" };
    println!(
        "webhook delivery to decision: p50 {} ms, p95 {} ms, max {} ms (goal p95 <= {} ms) [{verdict}]",
        p50.as_millis(),
        p95.as_millis(),
        max.as_millis(),
        GOAL.as_millis()
    );
    println!("one snapshot read (baseline): p50 {} ms", read50.as_millis());
    println!("ratio decision/read = {:.2}x (p50)", p50.as_secs_f64() / read50.as_secs_f64());
}

/// Makes `name`'s CI fail on the emulator: a newer completed run of `ci` whose one job failed.
fn break_ci(emu: &Emulator, name: &str) {
    let run = RunSpec::new("ci", "main").outcome("completed", Some("failure")).job(JobSpec::new(
        "tests",
        "completed",
        Some("failure"),
    ));
    emu.state().add_workflow_run(ORG, name, run);
}

/// Polls the audit trail after `seq` until a record about `repo` appears; returns the last seq read.
async fn decision(client: &reqwest::Client, base: &str, mut seq: u64, repo: &str) -> u64 {
    let until = Instant::now() + DEADLINE;
    loop {
        let page: Value = client
            .get(format!("{base}/api/audit?after={seq}&limit=1000"))
            .send()
            .await
            .expect("the audit is answered")
            .json()
            .await
            .expect("json");
        let records = page["records"].as_array().cloned().unwrap_or_default();
        seq = records.last().and_then(|r| r["seq"].as_u64()).unwrap_or(seq);
        let about = |r: &Value| r["repositories"].as_array().is_some_and(|rs| rs.iter().any(|x| x == repo));
        if records.iter().any(about) {
            return seq;
        }
        assert!(Instant::now() < until, "no decision about {repo} within {DEADLINE:?}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Sorts `samples`; returns p50, p95 and the maximum.
fn percentiles(samples: &mut [Duration]) -> (Duration, Duration, Duration) {
    samples.sort_unstable();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.95), at(1.0))
}

/// `X-Hub-Signature-256` of `body`, as GitHub computes it.
fn signature(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).expect("any key length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// A `workflow_run` delivery for `name`: the run completed and failed (GitHub's documented shape, abridged).
fn workflow_run(name: &str) -> Value {
    json!({
        "action": "completed",
        "workflow_run": {
            "id": 30433642, "name": "ci", "head_branch": "main", "event": "push", "status": "completed",
            "conclusion": "failure", "run_attempt": 1,
        },
        "workflow": { "id": 159038, "name": "ci", "path": ".github/workflows/ci.yml", "state": "active" },
        "repository": {
            "id": 1296269, "name": name, "full_name": format!("{ORG}/{name}"), "private": false,
            "owner": { "login": ORG, "id": 1, "type": "Organization" }, "default_branch": "main", "archived": false,
        },
        "sender": { "login": "octocat", "id": 583231, "type": "User" },
    })
}

/// `hive serve` as a child process, killed when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Server {
    /// Starts the server on the emulator's organisation and waits until its first cycle was printed.
    fn start(emu: &Emulator, dir: &std::path::Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hive"))
            .args(["serve", "--org", ORG, "--bind", "127.0.0.1:0", "--autonomy", "--level", "issue"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HIVE_STATE_DIR", dir.join("state"))
            .env("GITHUB_API_URL", emu.url())
            .env("GITHUB_TOKEN", emu.token())
            .env("HIVE_GITHUB_WEBHOOK_SECRET", SECRET)
            .env("HIVE_MAX_ISSUES_PER_HOUR", "1000")
            .env("HIVE_MAX_CONTENT_PER_MINUTE", "1000")
            .env("ORCHESTRATION_INTERVAL", "86400")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("the hive binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines();
        let mut base = None;
        for line in lines.by_ref() {
            let line = line.expect("stdout is text");
            if let Some(url) = line.strip_prefix("hive serve: listening on ") {
                base = Some(url.trim().to_owned());
            }
            if base.is_some() && line.starts_with("cycle ") {
                break;
            }
        }
        let base = base.expect("the server said where it listens and ran its first cycle");
        // The rest of stdout is read and dropped, so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server { child, base }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}
