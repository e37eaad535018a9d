//! Embedding hive: watch a simulated fleet, print each cycle's analytics, stop after three.

use hive::{Hive, HiveEvent, SimForge};

#[tokio::main]
async fn main() -> Result<(), hive::HiveError> {
    let hive = Hive::builder()
        .forge(SimForge::fleet(12, 25, 1))
        .cycle_interval(std::time::Duration::from_millis(200))
        .start()
        .await?;
    let mut events = hive.subscribe();
    let mut cycles = 0;
    while let Some(envelope) = events.recv().await {
        match &*envelope.event {
            HiveEvent::CycleCompleted { record } => {
                println!(
                    "cycle {}: {}/{} healthy, {}",
                    record.orchestration_cycle,
                    record.healthy_repositories,
                    record.total_repositories,
                    record.ecosystem_health.as_str()
                );
                cycles += 1;
                if cycles == 3 {
                    break;
                }
            }
            HiveEvent::EmergencyDeclared { reasons } => println!("emergency: {reasons:?}"),
            _ => {}
        }
    }
    hive.shutdown().await
}
