//! The scribe, the single writer of the database: concurrent callers are serialised into one intact audit chain, a
//! panicking job fails only its own caller, and stopping runs every queued job first.

use std::sync::{
    Arc,
    atomic::{AtomicUsize, Ordering},
};

use hive_cerebrum::{AuditEntry, Memory, ScribeError, ScribeHandle};

fn entry(caller: usize, n: usize) -> AuditEntry {
    AuditEntry {
        actor: format!("caller-{caller}"),
        repositories: vec![format!("acme/repo-{n}")],
        action: "open_issue".to_owned(),
        result: "ok".to_owned(),
        decision: "allow".to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_make_one_intact_chain_with_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let scribe = ScribeHandle::spawn(Memory::open(dir.path()).unwrap()).await.unwrap();
    let mut callers = Vec::new();
    for caller in 0..16 {
        let scribe = scribe.clone();
        callers.push(tokio::spawn(async move {
            for n in 0..10 {
                let seq = scribe.call(move |m| m.audit().append(&entry(caller, n)).map(|r| r.seq)).await;
                seq.expect("the scribe runs").expect("append");
            }
        }));
    }
    for caller in callers {
        caller.await.unwrap();
    }
    let verified = scribe.call(|m| m.audit().verify().map_err(|e| e.to_string())).await.unwrap();
    assert_eq!(verified, Ok(160));
    scribe.stop().await;
    // Reopened from disk: every record is there.
    assert_eq!(Memory::open(dir.path()).unwrap().audit().verify().unwrap(), 160);
}

#[tokio::test]
async fn a_panicking_job_fails_its_caller_and_the_scribe_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let scribe = ScribeHandle::spawn(Memory::open(dir.path()).unwrap()).await.unwrap();
    scribe.call(|m| m.audit().append(&entry(0, 0)).map(|_| ())).await.unwrap().unwrap();
    let err = scribe.call(|_m| -> () { panic!("job exploded on purpose") }).await.unwrap_err();
    assert_eq!(err, ScribeError::Panicked("job exploded on purpose".to_owned()));
    assert!(err.to_string().contains("'job exploded on purpose'"), "{err}");
    let count = scribe.call(|m| m.audit().verify().map_err(|e| e.to_string())).await.unwrap();
    assert_eq!(count, Ok(1), "the database survived the panic");
    scribe.stop().await;
}

#[tokio::test]
async fn stop_runs_every_queued_job_then_refuses_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let scribe = ScribeHandle::spawn(Memory::open(dir.path()).unwrap()).await.unwrap();
    let ran = Arc::new(AtomicUsize::new(0));
    let caller = scribe.clone();
    let mut pending = Vec::new();
    for n in 0..50 {
        let ran = ran.clone();
        let mut call = Box::pin(caller.call(move |m| {
            m.audit().append(&entry(0, n)).expect("append");
            ran.fetch_add(1, Ordering::SeqCst);
        }));
        // The first poll sends the job to the scribe's mailbox; the result is awaited after the stop.
        // On this single-threaded runtime the scribe cannot run before this task yields, so every call is pending.
        assert!(futures::poll!(call.as_mut()).is_pending());
        pending.push(call);
    }
    scribe.stop().await;
    assert_eq!(ran.load(Ordering::SeqCst), 50, "stop waited for every queued job");
    for call in pending {
        call.await.expect("a queued job ran and reported");
    }
    assert_eq!(caller.call(|_m| ()).await, Err(ScribeError::Stopped));
    assert_eq!(Memory::open(dir.path()).unwrap().audit().verify().unwrap(), 50);
}
