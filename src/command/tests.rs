//! The command language: every form, every kind of malformed input, and no panic whatever the text.

use proptest::prelude::*;

use super::*;

fn repo(name: &str) -> RepoId {
    RepoId::new(name).expect("a valid name")
}

fn agent(name: &str) -> AgentId {
    AgentId::new(name).expect("a valid agent name")
}

fn import(id: &str) -> ImportId {
    ImportId::parse(id).expect("a valid import id")
}

fn change(id: &str) -> ChangeId {
    ChangeId::parse(id).expect("a valid change id")
}

/// A change set's spec, as the router takes it: JSON on the rest of the line.
const SPEC_TEXT: &str = r#"change apply {"title":"Add the notice","message":"","targets":{"globs":["acme/*"]},"operation":{"op":"sync","source":"acme/templates","paths":["NOTICE"],"delete_missing":false},"rules":{"method":"merge","require_approval":false,"merge":true,"merge_reverts":true,"validate":false,"checks_timeout_secs":86400}}"#;
static PLAN_TEXT: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| SPEC_TEXT.replacen("apply", "plan", 1));

fn spec() -> ChangeSpec {
    ChangeSpec {
        title: "Add the notice".into(),
        message: String::new(),
        targets: hive_changes::Targets { globs: vec!["acme/*".into()], ..Default::default() },
        operation: hive_changes::Operation::Sync {
            source: "acme/templates".into(),
            paths: vec!["NOTICE".into()],
            delete_missing: false,
            skip: Default::default(),
        },
        rules: hive_changes::MergeRules::default(),
    }
}

#[test]
fn every_form_parses_and_prints_back() {
    let cases = [
        ("status", Command::Status),
        ("  explain   acme/api ", Command::Explain { repo: repo("acme/api") }),
        ("propose 3 acme/api", Command::Propose { n: 3, repo: repo("acme/api") }),
        ("emergency declare", Command::DeclareEmergency),
        ("emergency clear", Command::ClearEmergency),
        ("autonomy on", Command::Autonomy { on: true }),
        ("autonomy off", Command::Autonomy { on: false }),
        ("pause acme/api", Command::Pause { repo: repo("acme/api") }),
        ("resume acme/api", Command::Resume { repo: repo("acme/api") }),
        ("approve 98673d657cef46f6", Command::Approve { id: "98673d657cef46f6".into(), hours: DEFAULT_HOURS }),
        ("approve a1 --hours 8", Command::Approve { id: "a1".into(), hours: 8 }),
        ("approve --hours 8 a1", Command::Approve { id: "a1".into(), hours: 8 }),
        ("approvals list", Command::ListApprovals),
        ("approvals revoke comment:acme/api-3", Command::RevokeApproval { id: "comment:acme/api-3".into() }),
        ("ecosystem list", Command::ListImports),
        ("ecosystem 0123456789ab start", Command::StartService { id: import("0123456789ab"), command: None }),
        (
            "ecosystem 0123456789ab start --command make:run",
            Command::StartService { id: import("0123456789ab"), command: Some("make:run".into()) },
        ),
        ("ecosystem 0123456789ab stop", Command::StopService { id: import("0123456789ab") }),
        ("ecosystem 0123456789ab status", Command::ServiceStatus { id: import("0123456789ab") }),
        ("ecosystem 0123456789ab deploy", Command::Deploy { id: import("0123456789ab"), reference: None }),
        (
            "ecosystem 0123456789ab deploy --ref v1.2",
            Command::Deploy { id: import("0123456789ab"), reference: Some("v1.2".into()) },
        ),
        ("ecosystem 0123456789ab deploy history", Command::DeployHistory { id: import("0123456789ab") }),
        (
            "memory store ci/flaky  the tests flake;  $(id) on mondays ",
            Command::Remember { key: "ci/flaky".into(), text: "the tests flake;  $(id) on mondays".into() },
        ),
        ("memory get ci/flaky", Command::Recall { key: "ci/flaky".into() }),
        ("memory delete ci/flaky", Command::Forget { key: "ci/flaky".into() }),
        ("memory search flaky  mondays", Command::SearchMemory { query: "flaky  mondays".into() }),
        ("tools list", Command::ListTools { agent: None }),
        ("tools list orch", Command::ListTools { agent: Some(agent("orch")) }),
        ("tools assign triage-bot knowledge", Command::AssignTool { agent: agent("triage-bot"), tool: "knowledge" }),
        ("tools remove orch terminal", Command::RemoveTool { agent: agent("orch"), tool: "terminal" }),
        (
            "spawn agent triage-bot: labels new issues",
            Command::SpawnAgent {
                spec: AgentSpec::parse("triage-bot:labels new issues").expect("valid"),
                archetype: None,
                tier: Tier::Free,
            },
        ),
        (
            "spawn agent --tier paid --archetype ci-summarizer summarise nightly failures",
            Command::SpawnAgent {
                spec: AgentSpec::new("summarise-nightly-failures", "summarise nightly failures").expect("valid"),
                archetype: Some(Archetype::CiSummarizer),
                tier: Tier::Paid,
            },
        ),
        ("agents list", Command::ListAgents),
        ("agents show triage-bot", Command::ShowAgent { name: agent("triage-bot") }),
        ("agents check triage-bot", Command::CheckAgent { name: agent("triage-bot") }),
        ("agents remove triage-bot", Command::RemoveAgent { name: agent("triage-bot") }),
        (
            "agents run hooks AGENT_BIND=127.0.0.1:8787",
            Command::RunAgent { name: agent("hooks"), env: vec![("AGENT_BIND".into(), "127.0.0.1:8787".into())] },
        ),
        ("agents stop hooks", Command::StopAgent { name: agent("hooks") }),
        ("changes list", Command::ListChanges),
        ("changes show chg-0123456789ab", Command::ShowChange { id: change("chg-0123456789ab") }),
        (
            "change resume chg-0123456789ab-2",
            Command::StepChange { id: change("chg-0123456789ab-2"), step: ChangeStep::Resume },
        ),
        (
            "change abort chg-0123456789ab",
            Command::StepChange { id: change("chg-0123456789ab"), step: ChangeStep::Abort },
        ),
        (
            "change rollback chg-0123456789ab",
            Command::StepChange { id: change("chg-0123456789ab"), step: ChangeStep::Rollback },
        ),
        (SPEC_TEXT, Command::ApplyChange { spec: Box::new(spec()) }),
        (&PLAN_TEXT, Command::PlanChange { spec: Box::new(spec()) }),
        ("sync status license-and-ci", Command::SyncStatus { name: Some("license-and-ci".into()) }),
        ("sync push license-and-ci", Command::SyncPush { name: Some("license-and-ci".into()) }),
        ("sync push", Command::SyncPush { name: None }),
    ];
    for (text, command) in cases {
        assert_eq!(parse(text), Ok(command.clone()), "{text:?}");
        assert_eq!(parse(&command.to_string()), Ok(command.clone()), "{command}");
    }
    let reads = [
        "status",
        "explain acme/api",
        "approvals list",
        "ecosystem list",
        "ecosystem 0123456789ab status",
        "ecosystem 0123456789ab deploy history",
        "memory get k",
        "memory search k",
        "tools list",
        "agents list",
        "agents show x",
        "changes list",
        "changes show chg-0123456789ab",
        "sync status",
    ];
    for text in reads {
        assert!(!parse(text).expect("parses").changes_state(), "{text}");
    }
    for text in [
        "emergency declare",
        "autonomy off",
        "pause acme/api",
        "approve a1",
        "propose 1 acme/api",
        "ecosystem 0123456789ab start",
        "ecosystem 0123456789ab stop",
        "ecosystem 0123456789ab deploy",
        "memory store k v",
        "memory delete k",
        "tools assign orch knowledge",
        "tools remove orch knowledge",
        "spawn agent x:y",
        "agents check x",
        "agents remove x",
        "agents run x",
        "agents stop x",
        "change resume chg-0123456789ab",
        "change abort chg-0123456789ab",
        "change rollback chg-0123456789ab",
        SPEC_TEXT,
        &PLAN_TEXT,
        "sync push",
    ] {
        assert!(parse(text).expect("parses").changes_state(), "{text}");
    }
}

#[test]
fn malformed_commands_say_what_was_wrong() {
    let cases = [
        ("", "no command given"),
        ("   ", "no command given"),
        ("stauts", "unknown command 'stauts'; did you mean 'status'?"),
        ("explian acme/api", "unknown command 'explian'; did you mean 'explain'?"),
        ("rm -rf /", "unknown command 'rm'"),
        (
            "sync push ../etc",
            "'../etc' is not a sync's name: names are lowercase letters, digits and '-', such as license-and-ci",
        ),
        ("sync pull x", "malformed 'sync' command: use sync status [<name>] or sync push [<name>]"),
        ("explain", "malformed 'explain' command: use explain <owner/name>"),
        ("status now", "malformed 'status' command: use status"),
        ("resume", "malformed 'resume' command: use pause|resume <owner/name>"),
        ("emergency panic", "malformed 'emergency' command: use emergency declare|clear"),
        ("approvals", "malformed 'approvals' command: use approvals list or approvals revoke <id>"),
        ("propose 0 acme/api", "'0' is not a number of ORCHs: give 1 to 100"),
        ("propose 101 acme/api", "'101' is not a number of ORCHs: give 1 to 100"),
        ("propose -1 acme/api", "'-1' is not a number of ORCHs: give 1 to 100"),
        ("approve a1 --hours 0", "'0' is not a number of hours: give 1 to 8760"),
        ("approve a1 --hours 9999", "'9999' is not a number of hours: give 1 to 8760"),
        ("explain bad\u{7}name", "the command holds a control character; type it on one line"),
        ("ecosystem ../x start", "'../x' is not an import id: use the 12 hex digits `ecosystem list` shows"),
        (
            "ecosystem 0123456789ab deploy --ref --upload-pack=touch",
            "invalid ref '--upload-pack=touch': it would be read as a command-line option; give a branch or tag name \
             such as 'main' or 'v1.2', or a commit id",
        ),
        (
            "ecosystem 0123456789ab deploy --ref ../x",
            "invalid ref '../x': '..' is not allowed; give a branch or tag name such as 'main' or 'v1.2', or a commit id",
        ),
        (
            "ecosystem 0123456789ab start --command a;b",
            "'a;b' is not a command name: use a name `ecosystem list` shows, such as make:run",
        ),
        (
            "ecosystem 0123456789ab restart",
            "malformed 'ecosystem' command: use ecosystem list or ecosystem <id> start [--command NAME] or ecosystem <id> \
             stop|status or ecosystem <id> deploy [--ref R] or ecosystem <id> deploy history",
        ),
        ("ecosystm list", "unknown command 'ecosystm'; did you mean 'ecosystem'?"),
        ("memroy get k", "unknown command 'memroy'; did you mean 'memory'?"),
        (
            "memory store k",
            "malformed 'memory' command: use memory store <key> <text> or memory get|delete <key> or memory search <words>",
        ),
        (
            "memory search",
            "malformed 'memory' command: use memory store <key> <text> or memory get|delete <key> or memory search <words>",
        ),
        (
            "tools assign orch",
            "malformed 'tools' command: use tools list [<agent>] or tools assign|remove <agent> <tool>",
        ),
        (
            "tools assign orch termnial",
            "unknown tool 'termnial'; did you mean 'terminal'? the tools are: code_interpreter, knowledge, terminal, web_search",
        ),
        (
            "tools assign orch shell",
            "unknown tool 'shell'; the tools are: code_interpreter, knowledge, terminal, web_search",
        ),
        (
            "tools assign ../x terminal",
            "invalid agent name '../x': it must start with a lowercase ascii letter; use 1-64 lowercase ascii letters, \
             digits or '-', starting with a letter, e.g. 'triage-bot'",
        ),
        (
            "spawn agent ../x:escape",
            "invalid agent name '../x': it must start with a lowercase ascii letter; use 1-64 lowercase ascii letters, digits or '-', starting with a letter, e.g. 'triage-bot'",
        ),
        ("spawn agent --tier gold x:y", "unknown tier 'gold'; use free, paid or enterprise"),
        ("spawn agent --shell x:y", "unknown option '--shell' of spawn agent: use --archetype or --tier"),
        ("spawn agent --tier paid", "spawn agent needs '<name>:<description>' after its options"),
        (
            "agents run hooks LD_PRELOAD=/tmp/x.so",
            "'LD_PRELOAD=/tmp/x.so' is not an agent setting: write AGENT_KEY=value (capital letters, digits and '_' after AGENT_)",
        ),
        ("spawn x", "malformed 'spawn' command: use spawn agent [--archetype A] [--tier T] <name>:<description>"),
        (
            "change resume",
            "malformed 'change' command: use change plan|apply <json> or change resume|abort|rollback <chg-id>",
        ),
        (
            "changes show ../x",
            "'../x' is not a change set's id (they look like chg-0123456789ab); see 'hive change status'",
        ),
        (
            r#"change plan {"title": "x", "targets": {"repos": ["acme/api"]}, "operation": {"op": "run", "argv": ["id"], "timeout_secs": 5}}"#,
            "a change that runs a command is made with 'hive change apply ... run -- ARGV' on the command line; the router takes sync and bump changes",
        ),
        (
            r#"change apply {"title": "x", "targets": {"repos": ["../etc"]}, "operation": {"op": "bump", "dependency": "a", "version": "1"}}"#,
            "invalid change: invalid repository name '../etc': '.' and '..' are not names; expected 'owner/name' with letters, digits, '-', '_' or '.'",
        ),
        ("memory get \u{202e}x", "'\u{fffd}x' is not a note's key: use one word of 1 to 200 printable characters"),
    ];
    for (text, message) in cases {
        let err = parse(text).expect_err(text);
        assert_eq!(err.to_string(), message, "{text:?}");
        assert!(err.usage().contains("emergency declare|clear"));
    }
    for hostile in ["explain ../etc", "pause acme/../x", "explain a;b/c", "resume acme/ａpi", "explain $(id)/x"] {
        let err = parse(hostile).expect_err(hostile);
        assert!(err.to_string().contains("invalid repository name"), "{hostile}: {err}");
    }
    for hostile in ["approve a;b", "approve $(id)", "approvals revoke ünï", &format!("approve {}", "x".repeat(201))] {
        let err = parse(hostile).expect_err(hostile);
        assert!(err.to_string().contains("is not an approvable id"), "{hostile}: {err}");
    }
    let long = format!("explain {}", "a".repeat(MAX_TEXT));
    assert_eq!(parse(&long).expect_err("long").to_string(), "the command is longer than 1000 bytes");
}

#[test]
fn quoted_words_are_cleaned_before_they_are_shown() {
    let err = parse("\u{1b}[31mstatus").expect_err("an escape sequence");
    assert!(!err.to_string().contains('\u{1b}'), "{err:?}");
    let err = parse("status\u{202e}x").expect_err("a bidi override");
    assert!(!err.to_string().contains('\u{202e}'), "{err:?}");
}

proptest! {
    #[test]
    fn no_text_makes_the_parser_panic(text in ".{0,200}") {
        let _ = parse(&text);
    }

    #[test]
    fn words_from_the_language_in_any_order_never_panic(
        words in prop::collection::vec(
            prop::sample::select(vec!["status", "explain", "propose", "emergency", "declare", "autonomy", "on",
                "approve", "--hours", "approvals", "revoke", "list", "acme/api", "7", "0", "a1", "../x", "",
                "ecosystem", "0123456789ab", "start", "stop", "--command", "make:run", "memory", "store", "get",
                "search", "delete", "tools", "assign", "remove", "orch", "terminal", "$(id)", "spawn", "agent",
                "agents", "show", "check", "--tier", "paid", "--archetype", "x:y", "a;b:c"]),
            0..6,
        )
    ) {
        let text = words.join(" ");
        if let Ok(command) = parse(&text) {
            prop_assert_eq!(parse(&command.to_string()), Ok(command));
        }
    }
}

#[test]
fn an_agents_setting_values_stay_out_of_the_audit_text() {
    let command = parse("agents run hooks AGENT_TOKEN=s3cret AGENT_BIND=127.0.0.1:1").expect("parses");
    assert_eq!(command.audit_text(), "agents run hooks AGENT_TOKEN=... AGENT_BIND=...");
    assert_eq!(parse("agents stop hooks").expect("parses").audit_text(), "agents stop hooks");
}
