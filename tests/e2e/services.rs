//! Services through the library facade: a hive that watches repositories and runs a real process next to them,
//! added at start and at runtime, commanded by name, and gone (with its process) after removal or shutdown.

use std::time::{Duration, Instant};

use hive::{Hive, HiveError, ServiceCommand, ServiceSpec, ServiceState, ServiceStatus, SimForge, SimRepo};

use crate::daemon::is_gone;

const DEADLINE: Duration = Duration::from_secs(60);

/// A process that prints a line and then waits, long enough for any test, short enough to end by itself.
fn sleeper(name: &str) -> ServiceSpec {
    let code = "import time\nprint('up', flush=True)\ntime.sleep(120)";
    ServiceSpec { start_grace: Duration::from_millis(100), ..ServiceSpec::new(name, ["python3", "-c", code], ".") }
}

async fn until(hive: &Hive, name: &str, what: &str, done: impl Fn(&ServiceStatus) -> bool) -> ServiceStatus {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Ok(status) = hive.service_status(name).await
            && done(&status)
        {
            return status;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {name}: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn services_run_next_to_pilots_and_leave_nothing_behind() {
    let forge = SimForge::new(vec![SimRepo::healthy("acme/api")]);
    let hive = Hive::builder().forge(forge).service(sleeper("first")).start().await.expect("start");
    let running = |s: &ServiceStatus| s.ready && s.logs.iter().any(|l| l.text == "up");
    let first = until(&hive, "first", "running", running).await.pid.expect("pid");

    hive.add_service(sleeper("second")).await.expect("add");
    let second = until(&hive, "second", "running", running).await.pid.expect("pid");
    assert_eq!(hive.services(), ["first", "second"]);
    let status = hive.status().await.expect("status");
    assert_eq!(status.members.len(), 3, "one pilot and two keepers");

    // Names are unique across members: a service cannot take a pilot's name.
    let err = hive.add_service(sleeper("acme/api")).await.expect_err("duplicate");
    assert!(err.to_string().contains("'acme/api' already exists"), "{err}");
    assert_eq!(hive.services(), ["first", "second"]);

    hive.service_command("second", ServiceCommand::Stop).expect("stop");
    until(&hive, "second", "stopped", |s| s.state == ServiceState::Stopped).await;
    assert!(is_gone(second));

    hive.remove_service("second").await.expect("remove");
    assert!(matches!(hive.service_status("second").await, Err(HiveError::Service(_))));
    let err = hive.service_command("second", ServiceCommand::Start).expect_err("removed");
    assert_eq!(err.to_string(), "no service named 'second'; add it first");

    hive.shutdown().await.expect("shutdown");
    assert!(is_gone(first), "shutdown stops every service's process");
}
