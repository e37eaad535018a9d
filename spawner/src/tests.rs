//! Tests for agent requests, most of them hostile.

use super::*;

#[track_caller]
fn parse_err(request: &str) -> String {
    AgentSpec::parse(request).expect_err(request).to_string()
}

#[test]
fn accepts_good_requests() {
    let table = [
        ("triage-bot:labels new issues", "triage-bot", "labels new issues"),
        ("  triage-bot :  labels new issues  ", "triage-bot", "labels new issues"),
        ("a:b", "a", "b"),
        ("release2:bumps versions: patch, minor", "release2", "bumps versions: patch, minor"),
        ("docs-fixer:répare la documentation ✓", "docs-fixer", "répare la documentation ✓"),
    ];
    for (request, name, description) in table {
        let spec = AgentSpec::parse(request).expect(request);
        assert_eq!((spec.name(), spec.description()), (name, description));
    }
    let longest = format!("{}:{}", "a".repeat(MAX_NAME_CHARS), "é".repeat(MAX_DESCRIPTION_CHARS));
    assert!(AgentSpec::parse(&longest).is_ok());
}

#[test]
fn rejects_hostile_names() {
    let table = [
        ("../x:d", "invalid agent name '../x': it must start with a lowercase ascii letter"),
        ("a;rm -rf /:d", "invalid agent name 'a;rm -rf /': forbidden character"),
        ("$(x):d", "invalid agent name '$(x)': it must start with a lowercase ascii letter"),
        ("x$(id):d", "invalid agent name 'x$(id)': forbidden character"),
        ("a/b:d", "invalid agent name 'a/b': forbidden character"),
        ("ünï:d", "invalid agent name 'ünï': it must start with a lowercase ascii letter"),
        // A Cyrillic 'а' that looks like the Latin one.
        ("triаge:d", "invalid agent name 'triаge': forbidden character"),
        ("Triage:d", "invalid agent name 'Triage': it must start with a lowercase ascii letter"),
        ("triage_bot:d", "invalid agent name 'triage_bot': forbidden character"),
        ("-rf:d", "invalid agent name '-rf': it must start with a lowercase ascii letter"),
        ("1st:d", "invalid agent name '1st': it must start with a lowercase ascii letter"),
        ("a b:d", "invalid agent name 'a b': forbidden character"),
        ("a\nb:d", "invalid agent name 'a\\nb': forbidden character"),
        ("a\u{1b}[2Jb:d", "invalid agent name 'a\\u{1b}[2Jb': forbidden character"),
        (":d", "invalid agent name '': the name is empty"),
        ("   :d", "invalid agent name '': the name is empty"),
        ("self:d", "invalid agent name 'self': reserved by rust or the file system"),
        ("test:d", "invalid agent name 'test': reserved by rust or the file system"),
        ("con:d", "invalid agent name 'con': reserved by rust or the file system"),
    ];
    for (request, prefix) in table {
        let message = parse_err(request);
        assert!(message.starts_with(prefix), "{request:?}: {message}");
        assert!(message.ends_with("starting with a letter, e.g. 'triage-bot'"), "{message}");
    }
    let too_long = format!("{}:d", "a".repeat(MAX_NAME_CHARS + 1));
    assert!(parse_err(&too_long).contains("longer than 64 characters"));
}

#[test]
fn rejects_a_missing_colon() {
    assert_eq!(
        parse_err("triage-bot labels issues"),
        "missing ':' in agent request 'triage-bot labels issues'; write it as 'name:description', e.g. \
         'triage-bot:labels new issues'"
    );
    assert!(parse_err("").starts_with("missing ':' in agent request ''"));
    assert!(parse_err("a\tb").starts_with("missing ':' in agent request 'a\\tb'"));
}

#[test]
fn quotes_are_escaped_and_cut_short() {
    let message = parse_err(&format!("{}\u{7}", "x".repeat(1_000)));
    assert!(message.contains(&format!("'{}...'", "x".repeat(80))), "{message}");
    assert!(message.len() < 250, "{message}");
    let message = parse_err("a'b:d");
    assert!(message.starts_with("invalid agent name 'a\\'b'"), "{message}");
}

#[test]
fn rejects_bad_descriptions() {
    assert_eq!(
        parse_err("triage-bot:"),
        "empty description for agent 'triage-bot'; say after the ':' what the agent should do"
    );
    assert!(parse_err("triage-bot: \t \n ").starts_with("empty description"));
    assert_eq!(
        parse_err(&format!("triage-bot:{}", "d".repeat(MAX_DESCRIPTION_CHARS + 1))),
        "description for agent 'triage-bot' is 501 characters long; shorten it to at most 500"
    );
    assert_eq!(
        parse_err("triage-bot:line one\nline two"),
        "description for agent 'triage-bot' contains the control character '\\n' at position 8; write it on one line \
         without control or bidirectional characters"
    );
    assert!(parse_err("triage-bot:clear \u{1b}[2J screen").contains("control character '\\u{1b}' at position 6"));
    assert!(parse_err("triage-bot:nul\0").contains("control character '\\0'"));
    let trojan = parse_err("triage-bot:harmless \u{202E}txt.exe");
    assert!(trojan.contains("bidirectional character '\\u{202e}' at position 9"), "{trojan}");
    assert!(!trojan.contains('\u{202E}'), "the raw character must not reach the message");
}

#[test]
fn new_validates_like_parse() {
    assert_eq!(
        AgentSpec::new("triage-bot", " labels ").expect("valid"),
        AgentSpec::parse("triage-bot:labels").expect("valid")
    );
    assert!(matches!(AgentSpec::new("Bad", "d"), Err(SpawnerError::InvalidName { .. })));
    assert!(matches!(AgentSpec::new("good", ""), Err(SpawnerError::EmptyDescription { .. })));
}

#[test]
fn errors_are_lowercase_without_trailing_period() {
    let requests = ["x", "X:d", "x:", "x:\u{7}", &format!("x:{}", "d".repeat(600))];
    for request in requests {
        let message = parse_err(request);
        assert!(message.starts_with(|c: char| c.is_lowercase()), "{message}");
        assert!(!message.ends_with('.'), "{message}");
    }
}

#[test]
fn deserialization_validates() {
    let spec: AgentSpec =
        serde_json::from_str(r#"{"name":"triage-bot","description":"labels new issues"}"#).expect("valid");
    assert_eq!(spec, AgentSpec::parse("triage-bot:labels new issues").expect("valid"));
    assert_eq!(
        serde_json::to_string(&spec).expect("serializable"),
        r#"{"name":"triage-bot","description":"labels new issues"}"#
    );
    let err = serde_json::from_str::<AgentSpec>(r#"{"name":"../x","description":"d"}"#).expect_err("hostile name");
    assert!(err.to_string().starts_with("invalid agent name '../x'"), "{err}");
}

#[test]
fn a_description_alone_gets_a_name() {
    let table = [
        ("labels new issues", "labels-new-issues", "labels new issues"),
        ("triage-bot: labels new issues", "triage-bot", "labels new issues"),
        (
            "Summarise CI failures: nightly ones too",
            "summarise-ci-failures-nightly",
            "Summarise CI failures: nightly ones too",
        ),
        ("42 ways to answer webhooks", "ways-to-answer-webhooks", "42 ways to answer webhooks"),
        ("self", "self-agent", "self"),
        ("日本語だけ", "agent", "日本語だけ"),
    ];
    for (request, name, description) in table {
        let spec = AgentSpec::from_request(request).expect(request);
        assert_eq!((spec.name(), spec.description()), (name, description), "{request}");
    }
    // A name before the ':' is held to the name rules, not taken as a description.
    assert!(AgentSpec::from_request("../x: escape").is_err());
}

#[test]
fn the_closest_archetype_follows_the_description() {
    use crate::Archetype;
    let table = [
        ("labels new issues by topic", Archetype::IssueLabeler),
        ("summarise CI failures of the nightly workflow", Archetype::CiSummarizer),
        ("answers GitHub webhook events over http", Archetype::WebhookResponder),
        ("does something else entirely", Archetype::IssueLabeler),
    ];
    for (description, archetype) in table {
        assert_eq!(Archetype::closest(description), archetype, "{description}");
    }
    assert!("nope".parse::<Archetype>().unwrap_err().to_string().contains("issue-labeler, ci-summarizer"));
    assert!("gold".parse::<crate::Tier>().is_err());
    assert!("paid".parse::<crate::Tier>().unwrap().private());
}

#[test]
fn a_description_is_filled_in_once_never_read_for_placeholders() {
    let spec = AgentSpec::parse("probe: {{dependencies}} and {{name}} stay text").expect("valid");
    let rendered = crate::render(&spec, crate::Archetype::WebhookResponder);
    let manifest = rendered.file("Cargo.toml").expect("a manifest");
    assert!(manifest.contains(r#"description = "{{dependencies}} and {{name}} stay text""#), "{manifest}");
    let readme = rendered.file("README.md").expect("a readme");
    assert!(readme.contains(r"\{\{dependencies\}\}"), "escaped markdown: {readme}");
}
