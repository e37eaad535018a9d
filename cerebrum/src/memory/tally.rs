//! Durable counts for dashboards and metrics: the governed writes by kind and state, and the decisions governance
//! made by kind, verdict and rule, read from the database (never from the bus, which drops events for slow readers),
//! so they survive restarts and agree with the audit trail.

use std::path::Path;

use rusqlite::Connection;

use super::{MemoryError, WriteState};

/// Everything [`Memory::tally`](super::Memory::tally) counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Governed writes by kind and where they stand, sorted.
    pub writes: Vec<WriteCount>,
    /// Decisions by kind, verdict and rule, sorted.
    pub decisions: Vec<DecisionCount>,
}

/// How many governed writes of one kind stand in one state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteCount {
    /// The kind of write, e.g. `open_issue`.
    pub kind: String,
    /// Where they stand.
    pub state: WriteState,
    /// How many.
    pub count: u64,
}

/// How many times governance decided one kind of write one way for one reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionCount {
    /// The kind of write, e.g. `open_pull_request`.
    pub kind: String,
    /// The verdict: `allow`, `draft`, `would_do` or `deny`.
    pub verdict: String,
    /// The rule that decided, e.g. `limit_reached` or `needs_approval`.
    pub reason: String,
    /// For a spent rate limit, which one (e.g. `prs_per_day`).
    pub limit: Option<String>,
    /// How many.
    pub count: u64,
}

impl DecisionCount {
    /// Whether a rate limit stopped these writes.
    pub fn is_limit(&self) -> bool {
        self.limit.is_some()
    }
}

/// The writes by kind and state and the decisions in the audit trail, from the counts the database keeps in the
/// transaction of each write and record (schema version 6): a few rows, whatever the trail's length. A decision is
/// counted once, by the record made when it was decided (`reserved`, `would_do` or `denied: ...`, in one
/// transaction with the reservation, if any): the record completing a write repeats its decision and is not
/// counted again.
pub(crate) fn tally(conn: &Connection, path: &Path) -> Result<Tally, MemoryError> {
    let sql = |source| MemoryError::sqlite(path, source);
    let mut stmt =
        conn.prepare_cached("SELECT kind, state, n FROM write_counts WHERE n > 0 ORDER BY kind, state").map_err(sql)?;
    let rows = stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, i64>(2)?)))
        .map_err(sql)?;
    let mut writes = Vec::new();
    for row in rows {
        let (kind, state, count) = row.map_err(sql)?;
        let state = state.parse().map_err(|reason| MemoryError::BadRecord {
            path: path.to_path_buf(),
            table: "writes",
            key: kind.clone(),
            reason,
        })?;
        writes.push(WriteCount { kind, state, count: u64::try_from(count).unwrap_or(0) });
    }
    let mut stmt = conn
        .prepare_cached(
            "SELECT kind, verdict, reason, limit_kind, n FROM decision_counts WHERE n > 0
             ORDER BY kind, verdict, reason, limit_kind",
        )
        .map_err(sql)?;
    let rows = stmt
        .query_map([], |r| {
            let limit: String = r.get(3)?;
            Ok(DecisionCount {
                kind: r.get(0)?,
                verdict: r.get(1)?,
                reason: r.get(2)?,
                limit: Some(limit).filter(|l| !l.is_empty()),
                count: u64::try_from(r.get::<_, i64>(4)?).unwrap_or(0),
            })
        })
        .map_err(sql)?;
    let decisions = rows.collect::<rusqlite::Result<Vec<_>>>().map_err(sql)?;
    Ok(Tally { writes, decisions })
}

#[cfg(test)]
pub(crate) mod tests {
    use crate::{
        AuditEntry, Memory, NewWrite, WriteState,
        governance::{ActionKind, ActionLevel, LimitKind, Reason, Verdict, WriteDecision},
        memory::Risk,
    };

    fn decision(kind: ActionKind, verdict: Verdict, reason: Reason) -> WriteDecision {
        WriteDecision {
            verdict,
            reason,
            kind,
            repo: "acme/api".to_owned(),
            key: format!("{kind}:acme/api"),
            risk: Risk::Low,
            level: ActionLevel::Fix,
            recovery: None,
        }
    }

    fn entry(d: &WriteDecision, result: &str) -> AuditEntry {
        AuditEntry {
            actor: "steward".to_owned(),
            repositories: vec![d.repo.clone()],
            action: d.kind.as_str().to_owned(),
            result: result.to_owned(),
            decision: d.to_json(),
        }
    }

    /// The counts as a full scan of the writes table and the trail finds them: what the kept counts must equal.
    pub(crate) fn scanned(dir: &std::path::Path) -> Vec<(String, String, String, String, i64)> {
        let conn = rusqlite::Connection::open(dir.join(Memory::FILE_NAME)).unwrap();
        let mut stmt = conn
            .prepare(
                "SELECT 'write', kind, state, '', COUNT(*) FROM writes GROUP BY kind, state
                 UNION ALL
                 SELECT action, json_extract(decision, '$.verdict'), json_extract(decision, '$.reason.reason'),
                        coalesce(json_extract(decision, '$.reason.limit'), ''), COUNT(*)
                 FROM audit
                 WHERE decision != '' AND json_valid(decision)
                   AND (result IN ('reserved', 'would_do') OR result LIKE 'denied: %')
                 GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
            )
            .unwrap();
        stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// A tally in the shape of [`scanned`].
    pub(crate) fn flat(tally: &super::Tally) -> Vec<(String, String, String, String, i64)> {
        let mut rows: Vec<_> = tally
            .writes
            .iter()
            .map(|w| ("write".to_owned(), w.kind.clone(), w.state.as_str().to_owned(), String::new(), w.count as i64))
            .chain(tally.decisions.iter().map(|d| {
                let limit = d.limit.clone().unwrap_or_default();
                (d.kind.clone(), d.verdict.clone(), d.reason.clone(), limit, d.count as i64)
            }))
            .collect();
        rows.sort();
        rows
    }

    #[test]
    fn the_kept_counts_equal_a_full_scan_after_many_records_and_state_changes() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Memory::open(dir.path()).unwrap();
        let kinds = [ActionKind::OpenIssue, ActionKind::Comment, ActionKind::RerunJobs, ActionKind::OpenPullRequest];
        let limits = [LimitKind::PrsPerDay, LimitKind::IssuesPerHour, LimitKind::ContentPerMinute];
        for i in 0..1_200usize {
            let kind = kinds[i % kinds.len()];
            let write = |repo: &str| NewWrite {
                key: format!("{kind}:{repo}:{i}"),
                kind: kind.as_str().to_owned(),
                repo: repo.to_owned(),
                target: None,
            };
            match i % 5 {
                // Reserved, then completed one way or another (or left reserved, as a crash would).
                0 | 1 => {
                    let allowed = decision(kind, Verdict::Allow, Reason::Allowed);
                    let write = write("acme/api");
                    m.writes().reserve(&write, 1, false, &entry(&allowed, "reserved")).unwrap();
                    let end = match i % 3 {
                        0 => Some(WriteState::Done),
                        1 => Some(WriteState::Failed),
                        _ => None,
                    };
                    if let Some(state) = end {
                        m.writes().complete(&write.key, state, "outcome", &entry(&allowed, "ok")).unwrap();
                    }
                }
                2 => {
                    let would = decision(kind, Verdict::WouldDo, Reason::DryRun);
                    m.writes().reserve(&write("acme/web"), 1, true, &entry(&would, "would_do")).unwrap();
                }
                3 => {
                    let limit = limits[i % limits.len()];
                    let denied = decision(kind, Verdict::Deny, Reason::LimitReached { limit, used: 2, max: 2 });
                    m.audit().append(&entry(&denied, &format!("denied: {}", denied.summary()))).unwrap();
                }
                // Records that count for nothing: a command, and a completion alone.
                _ => {
                    let command = AuditEntry {
                        actor: "api".to_owned(),
                        action: "command".to_owned(),
                        result: "status".to_owned(),
                        ..AuditEntry::default()
                    };
                    m.audit().append(&command).unwrap();
                    m.audit().append(&entry(&decision(kind, Verdict::Allow, Reason::Allowed), "ok: url")).unwrap();
                }
            }
        }
        let tally = m.tally().unwrap();
        let expected = scanned(dir.path());
        assert_eq!(flat(&tally), expected);
        // Every kind of count is there, so the comparison covers them all.
        assert!(tally.writes.iter().any(|w| w.state == WriteState::Reserved), "{tally:?}");
        assert!(tally.writes.iter().any(|w| w.state == WriteState::Failed), "{tally:?}");
        assert_eq!(tally.decisions.iter().filter(|d| d.is_limit()).map(|d| d.count).sum::<u64>(), 240);
        assert_eq!(tally.writes.iter().map(|w| w.count).sum::<u64>(), 720);
        // And the counts survive reopening.
        drop(m);
        assert_eq!(flat(&Memory::open(dir.path()).unwrap().tally().unwrap()), expected);
    }

    #[test]
    fn each_decision_counts_once_and_writes_count_by_state() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = Memory::open(dir.path()).unwrap();
        let allowed = decision(ActionKind::OpenIssue, Verdict::Allow, Reason::Allowed);
        let write = NewWrite {
            key: "issue:acme/api:1".to_owned(),
            kind: "open_issue".to_owned(),
            repo: "acme/api".to_owned(),
            target: None,
        };
        m.writes().reserve(&write, 1, false, &entry(&allowed, "reserved")).unwrap();
        // The completion repeats the decision: not a second decision.
        m.writes().complete(&write.key, WriteState::Done, "url", &entry(&allowed, "ok: url")).unwrap();
        let limited = decision(
            ActionKind::OpenPullRequest,
            Verdict::Deny,
            Reason::LimitReached { limit: LimitKind::PrsPerDay, used: 2, max: 2 },
        );
        for _ in 0..2 {
            m.audit().append(&entry(&limited, &format!("denied: {}", limited.summary()))).unwrap();
        }
        // A command's record has no decision and counts for nothing.
        m.audit()
            .append(&AuditEntry {
                actor: "api".to_owned(),
                repositories: Vec::new(),
                action: "command".to_owned(),
                result: "emergency declare".to_owned(),
                decision: String::new(),
            })
            .unwrap();

        let tally = m.tally().unwrap();
        assert_eq!(tally.writes.len(), 1, "{tally:?}");
        assert_eq!(
            (tally.writes[0].kind.as_str(), tally.writes[0].state, tally.writes[0].count),
            ("open_issue", WriteState::Done, 1)
        );
        let found: Vec<(&str, &str, &str, Option<&str>, u64)> = tally
            .decisions
            .iter()
            .map(|d| (d.kind.as_str(), d.verdict.as_str(), d.reason.as_str(), d.limit.as_deref(), d.count))
            .collect();
        assert_eq!(
            found,
            [
                ("open_issue", "allow", "allowed", None, 1),
                ("open_pull_request", "deny", "limit_reached", Some("prs_per_day"), 2)
            ]
        );
        assert!(tally.decisions[1].is_limit() && !tally.decisions[0].is_limit());
    }
}
