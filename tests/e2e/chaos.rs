//! A thousand pilots under random panics: supervision keeps every repository observed in every cycle.

use std::{collections::HashSet, time::Duration};

use hive::{Hive, HiveEvent, PilotConfig, RestartPolicy, SimForge, cerebrum::Backoff, ecosystem::Fault};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_repository_is_observed_each_cycle_despite_panics() {
    const REPOS: usize = 1_000;
    const CYCLES: u64 = 4;
    let forge = SimForge::fleet(REPOS, 20, 7).with_seed(7);
    forge.set_fault_rate(Fault::Panic, 0.05);
    let policy = RestartPolicy {
        max_restarts: 1_000,
        period: Duration::from_secs(60),
        backoff: Backoff { min: Duration::from_millis(1), max: Duration::from_millis(5), ..Backoff::default() },
        ..RestartPolicy::default()
    };
    let hive = Hive::builder()
        .forge(forge.clone())
        .restart_policy(policy)
        .pilot_config(PilotConfig { jitter: Duration::from_millis(5), ..PilotConfig::default() })
        .bus_capacity(1 << 20)
        .start()
        .await
        .expect("start");
    let mut events = hive.subscribe();

    let mut restarts = 0;
    for cycle in 1..=CYCLES {
        hive.start_cycle().expect("cycle");
        let mut observed = HashSet::new();
        let record = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                let envelope = events.recv().await.expect("bus open");
                match &*envelope.event {
                    HiveEvent::HealthReported { member, cycle: Some(c), .. } if *c == cycle => {
                        observed.insert(member.clone());
                    }
                    HiveEvent::MemberRestarted { .. } => restarts += 1,
                    HiveEvent::CycleCompleted { record } if record.orchestration_cycle == cycle => {
                        return record.clone();
                    }
                    _ => {}
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("cycle {cycle} did not complete"));
        assert_eq!(record.missed_reports, 0, "cycle {cycle}: {record:?}");
        assert_eq!(observed.len(), REPOS, "cycle {cycle}: every repository reported for this cycle");
        assert_eq!(record.healthy_repositories, 800, "cycle {cycle}: {record:?}");
    }
    assert_eq!(events.lost(), 0, "the test subscriber must not have lost events");
    // At 5 % per read, 4,000 reads panic about 200 times; zero would mean no chaos was injected at all.
    assert!(restarts > 50, "only {restarts} restarts: were panics injected?");
    let status = hive.status().await.expect("status");
    assert!(status.members.iter().all(|m| m.state == hive::cerebrum::MemberState::Running));
    hive.shutdown().await.expect("shutdown");
}
