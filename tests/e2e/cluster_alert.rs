//! `hive serve --cluster` files the emergency alert from the fleet's leader alone: two real processes over the
//! GitHub emulator and a real nats-server. A node in an emergency that does not lead files nothing (each attempt
//! recorded as not sent, with the reason); once it leads, it files the one alert issue, and only one however many
//! cycles follow.

use hive_testkit::{Emulator, NatsServer, RepoSpec, RunSpec};
use nix::sys::signal::Signal;

use crate::{
    cluster::{node_with, poll_until},
    cluster_fleet::{cycles_pass, get},
    daemon::DEADLINE,
};

/// `acme` with `r0` .. `r3`, all passing, and the alert repository `ops/alerts`, outside the fleet.
async fn fleet() -> Emulator {
    let emu = Emulator::start().await;
    let s = emu.state();
    s.add_org("acme");
    s.add_org("ops");
    s.add_repo(RepoSpec::new("ops", "alerts"));
    for i in 0..4 {
        let name = format!("r{i:02}");
        s.add_repo(RepoSpec::new("acme", &name));
        s.add_workflow_run("acme", &name, RunSpec::new("ci", "main"));
    }
    emu
}

/// The alert issues in `ops/alerts`.
fn alerts(emu: &Emulator) -> usize {
    emu.state()
        .issues("ops", "alerts")
        .iter()
        .filter(|i| !i.is_pull && i.labels.iter().any(|l| l == "emergency"))
        .count()
}

/// A node's audit records of the alert's filing: (refused as not leading, sent).
async fn alert_records(client: &reqwest::Client, base: &str) -> (usize, usize) {
    let Some(audit) = get(client, format!("{base}/api/audit?after=0&limit=1000")).await else { return (0, 0) };
    let records = audit["records"].as_array().cloned().unwrap_or_default();
    let filing = || records.iter().filter(|r| r["action"] == "emergency_alert").filter_map(|r| r["result"].as_str());
    let refused =
        filing().filter(|r| r.starts_with("not sent: fenced:") && r.contains("does not lead the fleet")).count();
    let sent = filing().filter(|r| r.starts_with("ok:")).count();
    (refused, sent)
}

async fn leader(client: &reqwest::Client, base: &str) -> Option<String> {
    get(client, format!("{base}/api/status")).await?["cluster"]["leader"].as_str().map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread")]
async fn only_the_leader_files_the_emergency_alert_and_files_it_once() {
    let nats = NatsServer::start().await;
    let emu = fleet().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let client = reqwest::Client::new();
    let alert_repo = [("HIVE_ALERT_REPO", "ops/alerts")];

    // a leads, in no emergency; b joins in an emergency of its own (EMERGENCY_MODE), so it wants the alert filed.
    let (mut a, a_base) = node_with(&emu, &nats, dir.path(), "node-a", &alert_repo).await;
    let a_leads = poll_until(DEADLINE, || {
        let (client, a_base) = (&client, &a_base);
        async move { leader(client, a_base).await.as_deref() == Some("node-a") }
    })
    .await;
    assert!(a_leads, "node-a does not lead: {}", a.stderr());
    let (b, b_base) = node_with(&emu, &nats, dir.path(), "node-b", &[alert_repo[0], ("EMERGENCY_MODE", "1")]).await;

    // b tries, cycle after cycle, and is refused each time: it does not lead.
    let refused = poll_until(DEADLINE, || {
        let (client, b_base) = (&client, &b_base);
        async move { alert_records(client, b_base).await.0 >= 3 }
    })
    .await;
    assert!(
        refused,
        "b's alert was not refused three times: {:?}\n{}",
        alert_records(&client, &b_base).await,
        b.stderr()
    );
    assert_eq!(alerts(&emu), 0, "a node that does not lead filed the alert");
    assert_eq!(alert_records(&client, &b_base).await.1, 0);

    // a stops (its leadership released): b leads, and files the alert.
    a.signal(Signal::SIGTERM);
    a.exit_within(DEADLINE).await;
    let filed = poll_until(DEADLINE, || {
        let done = alerts(&emu) >= 1;
        async move { done }
    })
    .await;
    assert!(filed, "the new leader filed no alert: {:?}\n{}", alert_records(&client, &b_base).await, b.stderr());
    assert_eq!(leader(&client, &b_base).await.as_deref(), Some("node-b"));

    // A second node in the emergency joins and does not lead: three more cycles of both, and still one alert.
    let (c, c_base) = node_with(&emu, &nats, dir.path(), "node-c", &[alert_repo[0], ("EMERGENCY_MODE", "1")]).await;
    assert!(cycles_pass(&client, &[&b_base, &c_base], 3).await, "the nodes ran no three more cycles");
    assert_eq!(alerts(&emu), 1, "the alert was filed more than once");
    assert_eq!(alert_records(&client, &b_base).await.1, 1, "the leader filed it once");
    assert_eq!(alert_records(&client, &c_base).await.1, 0, "a node that does not lead filed it");
    drop((b, c));
}
