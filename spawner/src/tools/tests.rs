//! The built-in tools with real processes, a real SQLite database on disk and real sockets: the terminal's limits
//! (allowlist, confinement, timeout, output cap, no shell, no inherited environment), the interpreter's, the
//! knowledge round trip, web search off and unreachable, mocks, and the toolbox's refusal of unassigned tools.

use std::{path::PathBuf, time::Duration};

use hive_cerebrum::{Memory, ScribeHandle};
use serde_json::{Value, json};

use super::*;

fn search_path() -> Vec<PathBuf> {
    std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default()
}

fn context() -> CallContext {
    CallContext { agent: AgentId::new("triage-bot").unwrap() }
}

fn terminal(root: &std::path::Path, allow: &[&str]) -> ToolRegistry {
    ToolRegistry::empty().with(Terminal::new(TerminalConfig::new(root).allow(allow.iter().copied()), search_path()))
}

async fn run(registry: &ToolRegistry, args: Value) -> Result<Value, ToolError> {
    registry.call("terminal", args, &context()).await
}

#[tokio::test]
async fn the_terminal_runs_only_allowlisted_programs_by_bare_name() {
    let root = tempfile::tempdir().unwrap();
    let registry = terminal(root.path(), &["ls"]);
    std::fs::write(root.path().join("seen.txt"), "").unwrap();
    let out = run(&registry, json!({ "program": "ls" })).await.unwrap();
    assert_eq!((out["exit_code"].as_i64(), out["stdout"].as_str()), (Some(0), Some("seen.txt\n")));

    for program in ["rm", "/bin/ls", "../ls", "sh"] {
        let err = run(&registry, json!({ "program": program, "args": ["-rf", "."] })).await.unwrap_err();
        assert!(matches!(err, ToolError::NotAllowed { .. }), "{program}: {err:?}");
        assert!(
            err.to_string().starts_with(&format!("the program '{program}' is not allowed; the terminal runs only: ls")),
            "{err}"
        );
    }
    assert!(root.path().join("seen.txt").exists(), "nothing was removed");
    let err = run(&registry, json!({ "program": "ls", "shell": true })).await.unwrap_err();
    assert!(err.to_string().contains("unknown field `shell`"), "{err}");
}

#[tokio::test]
async fn the_terminal_stays_inside_its_root() {
    let parent = tempfile::tempdir().unwrap();
    let root = parent.path().join("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::os::unix::fs::symlink(parent.path(), root.join("escape")).unwrap();
    let registry = terminal(&root, &["ls"]);
    let out = run(&registry, json!({ "program": "ls", "cwd": "sub" })).await.unwrap();
    assert_eq!(out["exit_code"], 0);
    for cwd in ["../", "sub/../..", "/", "/tmp", "escape", "missing"] {
        let err = run(&registry, json!({ "program": "ls", "cwd": cwd })).await.unwrap_err();
        assert!(matches!(err, ToolError::OutsideRoot { .. }), "{cwd}: {err:?}");
        assert!(err.to_string().contains(&format!("the working directory '{cwd}' is outside")), "{err}");
    }
}

#[tokio::test]
async fn shell_metacharacters_reach_the_program_literally() {
    let root = tempfile::tempdir().unwrap();
    let registry = terminal(root.path(), &["printf"]);
    let hostile = "$(touch pwned); `touch pwned2` | cat > pwned3 && echo $HOME";
    let out = run(&registry, json!({ "program": "printf", "args": ["%s", hostile] })).await.unwrap();
    assert_eq!(out["stdout"], hostile);
    let left: Vec<_> = std::fs::read_dir(root.path()).unwrap().collect();
    assert!(left.is_empty(), "no shell ran anything: {left:?}");
    let err = run(&registry, json!({ "program": "printf", "args": ["a\u{0}b"] })).await.unwrap_err();
    assert!(err.to_string().contains("contains a NUL byte"), "{err}");
}

#[tokio::test]
async fn the_terminal_kills_a_run_at_its_timeout_and_caps_its_output() {
    let root = tempfile::tempdir().unwrap();
    let config = TerminalConfig::new(root.path()).allow(["sleep", "seq", "env"]).timeout(Duration::from_millis(300));
    let registry = ToolRegistry::empty().with(Terminal::new(config.output_cap(1_000), search_path()));
    let out = run(&registry, json!({ "program": "sleep", "args": ["30"] })).await.unwrap();
    assert_eq!((out["timed_out"].as_bool(), out["exit_code"].is_null()), (Some(true), true), "{out}");

    let out = run(&registry, json!({ "program": "seq", "args": ["1", "100000"] })).await.unwrap();
    assert_eq!(out["truncated"], true);
    assert_eq!(out["stdout"].as_str().map(str::len), Some(1_000));

    // The child sees no variable of hive's (tokens included): only what the terminal sets, and the marker by
    // which the process tree's orphans are found.
    let out = run(&registry, json!({ "program": "env" })).await.unwrap();
    let mut names: Vec<&str> = out["stdout"].as_str().unwrap().lines().filter_map(|l| l.split('=').next()).collect();
    names.sort_unstable();
    assert_eq!(names, ["CI_RUN_TREE", "LC_ALL", "PATH"]);
}

fn interpreter(timeout: Duration) -> Option<ToolRegistry> {
    let config = InterpreterConfig { timeout, output_cap: 2_000, ..InterpreterConfig::default() };
    let tool = CodeInterpreter::new(config, search_path());
    if tool.program(Language::Python).is_none() {
        eprintln!("skipped: python3 is not installed, so the code interpreter cannot be tested here");
        return None;
    }
    Some(ToolRegistry::empty().with(tool))
}

#[tokio::test]
async fn python_runs_in_a_temporary_directory_that_is_removed_afterwards() {
    let Some(registry) = interpreter(Duration::from_secs(20)) else { return };
    // (`cargo test` gives this process `CARGO_*` variables; a `python3` launcher such as pyenv's may add its own.)
    assert!(std::env::vars().any(|(k, _)| k.starts_with("CARGO")));
    let code = "import os, sys\nprint(os.getcwd())\nprint(os.environ['HOME'] == os.getcwd(), [k for k in os.environ if \
                k.startswith('CARGO')])\nsys.exit(3)\n";
    let out = registry.call("code_interpreter", json!({ "language": "python", "code": code }), &context()).await;
    let out = out.unwrap();
    assert_eq!(out["exit_code"], 3, "{out}");
    let stdout = out["stdout"].as_str().unwrap();
    let mut lines = stdout.lines();
    let cwd = PathBuf::from(lines.next().unwrap());
    assert!(cwd.file_name().unwrap().to_string_lossy().starts_with("hive-code-"), "{stdout}");
    assert!(!cwd.exists(), "the scratch directory is removed");
    assert_eq!(lines.next(), Some("True []"), "HOME is the scratch directory, hive's variables are gone: {stdout}");

    let flood = "print('x' * 100000)";
    let out = registry.call("code_interpreter", json!({ "language": "python", "code": flood }), &context()).await;
    let out = out.unwrap();
    assert_eq!((out["truncated"].as_bool(), out["stdout"].as_str().map(str::len)), (Some(true), Some(2_000)));
}

#[tokio::test]
async fn a_timed_out_program_is_killed_with_the_processes_it_started() {
    let Some(registry) = interpreter(Duration::from_secs(2)) else { return };
    // A child in its own session, so only the tree kill (not the group kill) reaches it.
    let code = "import subprocess, sys, time\n\
                p = subprocess.Popen(['sleep', '60'], start_new_session=True)\n\
                print(p.pid, flush=True)\n\
                time.sleep(60)\n";
    let out = registry.call("code_interpreter", json!({ "language": "python", "code": code }), &context()).await;
    let out = out.unwrap();
    assert_eq!(out["timed_out"], true, "{out}");
    let pid: i32 = out["stdout"].as_str().unwrap().trim().parse().expect("the child's pid");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while hive_support::ProcStat::of(pid).is_some_and(|stat| !stat.is_dead()) {
        assert!(std::time::Instant::now() < deadline, "the child {pid} outlived the timeout");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_missing_interpreter_is_a_clear_error() {
    let tool = CodeInterpreter::new(InterpreterConfig::default(), vec![PathBuf::from("/nonexistent")]);
    let registry = ToolRegistry::empty().with(tool);
    let err = registry
        .call("code_interpreter", json!({ "language": "javascript", "code": "1" }), &context())
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "the program 'node' is not installed in /nonexistent; install it or add its directory to the tools' search \
         path"
    );
}

async fn scribe(dir: &std::path::Path) -> ScribeHandle {
    ScribeHandle::spawn(Memory::open(dir).unwrap()).await.unwrap()
}

#[tokio::test]
async fn knowledge_round_trips_through_the_database_writer() {
    let dir = tempfile::tempdir().unwrap();
    let scribe = scribe(dir.path()).await;
    let registry = ToolRegistry::builtin(ToolsConfig::new(dir.path()), Some(scribe.clone()));
    let ctx = context();
    let call = |args: Value| registry.call("knowledge", args, &ctx);
    let stored = call(json!({ "op": "store", "key": "flaky", "text": "acme/api's tests flake on Mondays" })).await;
    assert_eq!(stored.unwrap(), json!({ "result": "stored", "key": "flaky", "replaced": false }));
    let hits = call(json!({ "op": "search", "query": "mondays" })).await.unwrap();
    assert_eq!(hits["hits"][0]["key"], "flaky", "{hits}");
    let found = call(json!({ "op": "get", "key": "flaky" })).await.unwrap();
    assert_eq!(found["note"]["stored_by"], "agent:triage-bot");
    let deleted = call(json!({ "op": "delete", "key": "flaky" })).await.unwrap();
    assert_eq!(deleted["deleted"], true);
    let err = call(json!({ "op": "get", "key": "a\nb" })).await.unwrap_err();
    assert!(err.to_string().contains("the key 'a\\nb' must be 1 to 200 printable characters"), "{err}");
    scribe.stop().await;

    // On disk: what was stored and deleted is gone after a reopen, and a note stored last is there.
    let scribe2 = self::scribe(dir.path()).await;
    apply_knowledge(&scribe2, KnowledgeOp::Store { key: "k".into(), text: "kept".into() }, "human:alice")
        .await
        .unwrap();
    scribe2.stop().await;
    let mut memory = Memory::open(dir.path()).unwrap();
    assert!(memory.knowledge().get("flaky").unwrap().is_none());
    assert_eq!(memory.knowledge().get("k").unwrap().map(|n| n.text), Some("kept".to_owned()));
}

#[tokio::test]
async fn web_search_is_off_by_default_and_says_when_its_provider_is_unreachable() {
    let registry = ToolRegistry::builtin(ToolsConfig::new("."), None);
    let err = registry.call("web_search", json!({ "query": "ractor" }), &context()).await.unwrap_err();
    assert!(matches!(err, ToolError::SearchOff), "{err:?}");
    assert!(err.to_string().starts_with("web search is off: no provider is configured"), "{err}");

    // A port nothing listens on: bound, then closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut config = ToolsConfig::new(".");
    config.web_search.provider = Some(SearchProvider::Searxng { url: format!("http://127.0.0.1:{port}") });
    let registry = ToolRegistry::builtin(config, None);
    let err = registry.call("web_search", json!({ "query": "ractor" }), &context()).await.unwrap_err();
    let message = err.to_string();
    assert!(message.starts_with(&format!("the search provider at 'http://127.0.0.1:{port}' failed: unreachable")));
    assert!(message.ends_with("is it running?"), "{message}");
}

#[tokio::test]
async fn mocks_answer_deterministically_and_act_on_nothing() {
    let root = tempfile::tempdir().unwrap();
    let registry = ToolRegistry::builtin(ToolsConfig::new(root.path()).mock(true), None);
    let args = json!({ "program": "git", "args": ["init", "x"] });
    let first = registry.call("terminal", args.clone(), &context()).await.unwrap();
    assert_eq!(first, registry.call("terminal", args, &context()).await.unwrap());
    assert_eq!(first["stdout"], "mock: git init x\n");
    assert!(std::fs::read_dir(root.path()).unwrap().next().is_none(), "git did not run");
    let found = registry.call("web_search", json!({ "query": "q" }), &context()).await.unwrap();
    assert_eq!(found[0]["title"], "mock result for q");
}

#[tokio::test]
async fn output_is_redacted_and_definitions_are_openai_functions() {
    let root = tempfile::tempdir().unwrap();
    let mut config = ToolsConfig::new(root.path()).search_path(search_path());
    config.terminal = config.terminal.allow(["printf"]);
    config.secrets = vec!["hunter2-hunter2".to_owned()];
    let registry = ToolRegistry::builtin(config, None);
    let out =
        registry.call("terminal", json!({ "program": "printf", "args": ["pw hunter2-hunter2"] }), &context()).await;
    assert_eq!(out.unwrap()["stdout"], "pw [REDACTED]");

    let definitions = registry.definitions(["terminal", "nope", "web_search"]);
    assert_eq!(definitions.len(), 2);
    assert_eq!(definitions[0]["type"], "function");
    assert_eq!(definitions[0]["function"]["name"], "terminal");
    assert_eq!(definitions[0]["function"]["parameters"]["properties"]["program"]["enum"], json!(["printf"]));
    assert_eq!(definitions[1]["function"]["parameters"]["required"], json!(["query"]));
}

#[tokio::test]
async fn a_toolbox_calls_only_assigned_tools_and_audits_a_refusal() {
    let dir = tempfile::tempdir().unwrap();
    let scribe = scribe(dir.path()).await;
    let agent = AgentId::new("triage-bot").unwrap();
    let registry = ToolRegistry::builtin(ToolsConfig::new(dir.path()).mock(true), Some(scribe.clone()));
    let toolbox = Toolbox::new(registry, scribe.clone(), agent.clone());

    assert!(assign(&scribe, &agent, "knowledge", "human:alice").await.unwrap().is_some());
    assert_eq!(toolbox.assigned().await.unwrap(), ["knowledge"]);
    toolbox.call("knowledge", json!({ "op": "get", "key": "k" })).await.unwrap();
    let err = toolbox.call("terminal", json!({ "program": "ls" })).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "the tool 'terminal' is not assigned to agent 'triage-bot'; only a person can assign it (`tools assign \
         triage-bot <tool>`)"
    );
    let err = assign(&scribe, &agent, "termnial", "human:alice").await.unwrap_err();
    assert!(err.to_string().starts_with("unknown tool 'termnial'; the tools are: code_interpreter"), "{err}");
    assert!(remove(&scribe, &agent, "knowledge", "human:bob").await.unwrap().is_some());
    assert!(toolbox.assigned().await.unwrap().is_empty(), "removal takes effect at once");
    scribe.stop().await;

    let mut memory = Memory::open(dir.path()).unwrap();
    let records = memory.audit().after(0, 10).unwrap();
    let actions: Vec<(&str, &str)> = records.iter().map(|r| (r.actor.as_str(), r.action.as_str())).collect();
    assert_eq!(
        actions,
        [("human:alice", "tools_assign"), ("agent:triage-bot", "tool_refused"), ("human:bob", "tools_remove")]
    );
    assert!(records[1].result.contains("'terminal' is not assigned"), "{:?}", records[1]);
}

#[test]
fn agent_ids_follow_the_agent_name_rules() {
    assert_eq!(AgentId::new(" orch ").unwrap().as_str(), "orch");
    for bad in ["", "Orch", "a/b", "../x", "fn", "a b"] {
        assert!(AgentId::new(bad).is_err(), "{bad}");
    }
}
