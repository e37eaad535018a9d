//! The queen's ORCH fan-out thinking with a language model: a hive built with the [`LlmEngine`] against a loopback
//! server speaking the OpenAI wire format, its ORCHs asking in parallel; an ORCH whose model is too slow is timed out
//! by the queen, its HTTP request aborted, and the rest of the fan-out is unaffected.

use std::time::Duration;

use hive::{
    Hive, OrchConfig, Seed, Signal, SimForge,
    cerebrum::{CiClass, CiSignature, OrchError, OrchOutcome},
    spawner::llm::{LlmClient, LlmConfig, LlmEngine},
};
use hive_testkit::llm::{FakeLlm, LLM_KEY, LlmReply};

fn seed() -> Seed {
    Seed::new("sim/repo-0", Signal::ci_failure(CiSignature::new("ci", "test", None, CiClass::Test)))
}

fn engine(llm: &FakeLlm) -> LlmEngine {
    let config = LlmConfig::new(llm.url(), "test-model").api_key(LLM_KEY).timeout(Duration::from_secs(10));
    LlmEngine::new(LlmClient::new(config).expect("a valid configuration"))
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_orchs_ask_the_model_at_once_and_each_brings_its_proposals() {
    let llm = FakeLlm::start().await;
    // Every answer waits, so ORCHs asking one after another would never have two requests in flight.
    llm.latency(Duration::from_millis(200));
    let hive = Hive::builder().forge(SimForge::fleet(1, 0, 1)).engine(engine(&llm)).start().await.expect("start");
    let report = hive.propose(seed(), 20).await.expect("a report");
    assert_eq!(report.succeeded(), 20, "{report:#?}");
    assert!(report.proposals().all(|p| p.engine == "llm:test-model"), "{report:#?}");
    assert_eq!(llm.requests().len(), 20);
    assert!(llm.most_in_flight() > 1, "the ORCHs asked one at a time");
    hive.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_model_slower_than_the_orch_s_limit_is_cut_off_and_the_others_still_answer() {
    let llm = FakeLlm::start().await;
    llm.push(LlmReply::content(r#"{"proposals": []}"#).after(Duration::from_secs(60)));
    // The fast answers come at once; only the slow one can reach the limit, however loaded the machine.
    let orch = OrchConfig { timeout: Duration::from_secs(5), retries: 0, deadline: Duration::from_secs(30) };
    let hive =
        Hive::builder().forge(SimForge::fleet(1, 0, 1)).engine(engine(&llm)).orch(orch).start().await.expect("start");
    let report = hive.propose(seed(), 3).await.expect("a report");
    let timed_out = report
        .outcomes
        .iter()
        .filter(|o| matches!(o, OrchOutcome::Failed { error: OrchError::TimedOut { .. }, .. }))
        .count();
    assert_eq!((report.succeeded(), timed_out), (2, 1), "{report:#?}");
    // The cut-off ORCH's request was aborted, not left waiting for its minute.
    let until = tokio::time::Instant::now() + Duration::from_secs(20);
    while llm.in_flight() > 0 {
        assert!(tokio::time::Instant::now() < until, "the slow request is still open");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    hive.shutdown().await.expect("shutdown");
}

/// `hive run --once` over a workspace with a failing repository, with `[llm]` in the configuration file: the
/// autonomy loop's planning asks the model through the ORCHs, with the key from the variable the file names, and the
/// key is nowhere in what hive prints.
#[tokio::test(flavor = "multi_thread")]
async fn a_configured_model_is_what_the_loop_thinks_with_and_its_key_never_shows() {
    use hive_testkit::projects::{git_repo, write};
    let llm = FakeLlm::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let ws = dir.path().join("ws");
    write(&ws.join("bad"), "Makefile", "test:\n\tfalse\n");
    git_repo(&ws.join("bad"));
    let config = dir.path().join("hive.toml");
    std::fs::write(
        &config,
        format!(
            "[targets]\nworkspace = {:?}\n\n[llm]\nendpoint = {:?}\nmodel = \"test-model\"\napi_key_env = \"HIVE_E2E_LLM_KEY\"\n",
            ws.to_str().expect("utf-8"),
            llm.url()
        ),
    )
    .expect("write the configuration");
    let state = dir.path().join("state");
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_hive"));
    cmd.args(["--config", config.to_str().expect("utf-8"), "--state-dir", state.to_str().expect("utf-8")])
        .args(["run", "--once", "-vv"])
        .env("HIVE_E2E_LLM_KEY", LLM_KEY)
        .env("HOME", "/nonexistent/hive-e2e-home")
        .env_remove("HIVE_CONFIG")
        .env_remove("HIVE_STATE_DIR");
    let out = tokio::task::spawn_blocking(move || cmd.output().expect("run hive")).await.expect("join");
    let (stdout, stderr) = (crate::stdout(&out), crate::stderr(&out));
    assert!(out.status.success(), "{stderr}");
    let requests = llm.requests();
    assert!(!requests.is_empty(), "the loop never asked the model: {stdout}");
    assert!(requests.iter().all(|r| r.authorization.as_deref() == Some(format!("Bearer {LLM_KEY}").as_str())));
    assert!(requests[0].messages()[1].contains("local/bad"), "{:?}", requests[0].messages());
    assert!(!stdout.contains(LLM_KEY) && !stderr.contains(LLM_KEY), "the key leaked:\n{stdout}\n{stderr}");
}

/// A hive over a one-repository workspace with the autonomy loop's database, its ORCHs thinking with `llm` and
/// calling tools as `orch`; the tools are mocks when `mock`.
async fn hive_with_tools(llm: &FakeLlm, dir: &std::path::Path, mock: bool) -> Hive {
    use hive::{
        LocalForge,
        actors::{Autonomy, AutonomyConfig},
        spawner::tools::ToolsConfig,
    };
    use hive_testkit::projects::{git_repo, write};
    let ws = dir.join("ws");
    write(&ws.join("api"), "Makefile", "test:\n\ttrue\n");
    git_repo(&ws.join("api"));
    let forge = std::sync::Arc::new(LocalForge::new(&ws).expect("workspace"));
    let work = dir.join("work");
    std::fs::create_dir_all(&work).expect("work");
    Hive::builder()
        .llm_engine(engine(llm), ToolsConfig::new(&work).mock(mock))
        .autonomy(Autonomy::new(forge, AutonomyConfig::new(dir.join("state"))))
        .start()
        .await
        .expect("start")
}

/// The tool messages the model was sent, in order.
fn tool_results(llm: &FakeLlm) -> Vec<String> {
    llm.requests()
        .iter()
        .flat_map(|r| r.body["messages"].as_array().cloned().unwrap_or_default())
        .filter(|m| m["role"] == "tool")
        .filter_map(|m| m["content"].as_str().map(str::to_owned))
        .collect()
}

const PROPOSAL: &str = r#"{"proposals": [{"action": "open_issue", "title": "t", "rationale": "r", "risk": "low"}]}"#;

#[tokio::test(flavor = "multi_thread")]
async fn the_orchs_call_the_tools_a_person_assigned_to_orch_and_no_other() {
    let llm = FakeLlm::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let hive = hive_with_tools(&llm, dir.path(), false).await;
    let orch = hive::spawner::tools::AgentId::new(hive::ORCH_AGENT).expect("valid");
    hive.assign_tool(&orch, "knowledge", "human:alice").await.expect("assigned");
    hive.remember("owners", "acme/api is owned by the platform team", "human:alice").await.expect("stored");

    llm.push(LlmReply::tool_calls([
        ("knowledge", serde_json::json!({ "op": "get", "key": "owners" })),
        ("terminal", serde_json::json!({ "program": "git", "args": ["push", "--force"] })),
    ]));
    llm.push(LlmReply::content(PROPOSAL));
    let report = hive.propose(seed(), 1).await.expect("a report");
    assert!(report.proposals().all(|p| p.engine == "llm:test-model"), "{report:#?}");
    let results = tool_results(&llm);
    assert_eq!(results.len(), 2, "{results:#?}");
    assert!(results[0].contains("owned by the platform team"), "{results:#?}");
    assert!(results[1].contains("the tool 'terminal' is not assigned to agent 'orch'"), "{results:#?}");
    let records = hive.audit_records(0, 100).await.expect("trail");
    assert!(records.iter().any(|r| r.actor == "agent:orch" && r.action == "tool_refused"), "{records:#?}");
    hive.shutdown().await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread")]
async fn with_mocks_the_tools_answer_without_acting() {
    let llm = FakeLlm::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let hive = hive_with_tools(&llm, dir.path(), true).await;
    let orch = hive::spawner::tools::AgentId::new(hive::ORCH_AGENT).expect("valid");
    hive.assign_tool(&orch, "terminal", "human:alice").await.expect("assigned");
    llm.push(LlmReply::tool_calls([("terminal", serde_json::json!({ "program": "git", "args": ["init", "x"] }))]));
    llm.push(LlmReply::content(PROPOSAL));
    hive.propose(seed(), 1).await.expect("a report");
    let results = tool_results(&llm);
    assert_eq!(results.len(), 1, "{results:#?}");
    assert!(results[0].contains("mock: git init x"), "{results:#?}");
    assert!(!dir.path().join("work/x").exists(), "git did not run");
    hive.shutdown().await.expect("shutdown");
}
