//! The hive database's schema: its migrations, in order, each applied once in a transaction of its own by
//! [`Memory::open`](super::Memory::open).

/// The schema migrations, in order: entry `i` takes the database from version `i` to version `i + 1`. Entries are
/// only ever appended; an edited migration would leave old databases different from new ones.
pub(super) const MIGRATIONS: &[&str] = &[
    // 1: the audit trail. `audit_head` holds the last record's seq and hash, written in the same transaction as the
    // record, so deleting the newest records is detected too (a chain alone cannot show a missing tail).
    "CREATE TABLE audit (
        seq INTEGER PRIMARY KEY,
        timestamp TEXT NOT NULL,
        actor TEXT NOT NULL,
        repositories TEXT NOT NULL,
        action TEXT NOT NULL,
        result TEXT NOT NULL,
        decision TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash TEXT NOT NULL
    );
    CREATE TABLE audit_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL
    );",
    // 2: the backlog ledger. `evidence` is a JSON list of links.
    "CREATE TABLE backlog (
        id TEXT PRIMARY KEY,
        repo TEXT NOT NULL,
        kind TEXT NOT NULL,
        title TEXT NOT NULL,
        priority INTEGER NOT NULL CHECK (priority BETWEEN 1 AND 5),
        risk TEXT NOT NULL,
        status TEXT NOT NULL,
        evidence TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        decision TEXT,
        cycle_id INTEGER,
        commit_sha TEXT
    );",
    // 3: the autonomy loop's state. `writes` holds every governed write, reserved (with its idempotency key) before
    // it is sent and completed after, so a crash in between is found on restart instead of repeated blindly.
    // `identity` maps keys to what hive made on a forge; `approvals` are a human's go-aheads with an expiry;
    // `health_history` is one score per repository and cycle; `meta` holds counters such as `last_cycle`.
    "CREATE TABLE writes (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        repo TEXT NOT NULL,
        target TEXT,
        reserved_at INTEGER NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('reserved', 'done', 'failed', 'would_do')),
        outcome TEXT
    );
    CREATE INDEX writes_by_time ON writes (reserved_at, kind);
    CREATE INDEX writes_by_state ON writes (state);
    CREATE TABLE identity (
        key TEXT PRIMARY KEY,
        repo TEXT NOT NULL,
        kind TEXT NOT NULL,
        number INTEGER,
        state TEXT,
        fingerprint TEXT,
        data TEXT NOT NULL DEFAULT 'null',
        updated_at INTEGER NOT NULL
    );
    CREATE TABLE approvals (
        id TEXT PRIMARY KEY,
        approved_by TEXT NOT NULL,
        approved_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
    );
    CREATE TABLE health_history (
        cycle INTEGER NOT NULL,
        repo TEXT NOT NULL,
        score INTEGER NOT NULL,
        level TEXT NOT NULL,
        at INTEGER NOT NULL,
        PRIMARY KEY (cycle, repo)
    );
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );",
    // 4: agents' tools and the hive's knowledge. `agent_tools` is which agent may call which tool (changed only with
    // an audit record). `knowledge` holds notes by key; `knowledge_fts` is its full-text index (FTS5, external
    // content, kept in step by the triggers), so a search reads the index and a get reads the table.
    "CREATE TABLE agent_tools (
        agent TEXT NOT NULL,
        tool TEXT NOT NULL,
        assigned_by TEXT NOT NULL,
        assigned_at INTEGER NOT NULL,
        PRIMARY KEY (agent, tool)
    );
    CREATE TABLE knowledge (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        text TEXT NOT NULL,
        stored_by TEXT NOT NULL,
        stored_at INTEGER NOT NULL
    );
    CREATE VIRTUAL TABLE knowledge_fts USING fts5(key, text, content = 'knowledge', content_rowid = 'id');
    CREATE TRIGGER knowledge_added AFTER INSERT ON knowledge BEGIN
        INSERT INTO knowledge_fts (rowid, key, text) VALUES (new.id, new.key, new.text);
    END;
    CREATE TRIGGER knowledge_removed AFTER DELETE ON knowledge BEGIN
        INSERT INTO knowledge_fts (knowledge_fts, rowid, key, text) VALUES ('delete', old.id, old.key, old.text);
    END;
    CREATE TRIGGER knowledge_changed AFTER UPDATE ON knowledge BEGIN
        INSERT INTO knowledge_fts (knowledge_fts, rowid, key, text) VALUES ('delete', old.id, old.key, old.text);
        INSERT INTO knowledge_fts (rowid, key, text) VALUES (new.id, new.key, new.text);
    END;",
    // 5: agents made by `spawn agent`: the spawner's own record of each (JSON), its state for listing, and when it
    // last changed.
    "CREATE TABLE agents (
        name TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        record TEXT NOT NULL,
        updated_at INTEGER NOT NULL
    );",
    // 6: what metrics and `explain` read, kept by triggers in the transaction of every write and audit record (and
    // filled from the rows already there), so a scrape or an explanation reads a few rows whatever the trail's
    // length. `write_counts`: the writes by kind and state. `decision_counts`: governance's decisions by kind,
    // verdict, rule and spent limit ('' for none), each counted once, by the record made when it was decided
    // (`reserved`, `would_do` or `denied: ...`; the record completing a write repeats its decision). `audit_repos`:
    // which records concern which repository.
    "CREATE TABLE write_counts (
        kind TEXT NOT NULL,
        state TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (kind, state)
    ) WITHOUT ROWID;
    CREATE TABLE decision_counts (
        kind TEXT NOT NULL,
        verdict TEXT NOT NULL,
        reason TEXT NOT NULL,
        limit_kind TEXT NOT NULL,
        n INTEGER NOT NULL,
        PRIMARY KEY (kind, verdict, reason, limit_kind)
    ) WITHOUT ROWID;
    CREATE TABLE audit_repos (
        repo TEXT NOT NULL,
        seq INTEGER NOT NULL,
        PRIMARY KEY (repo, seq)
    ) WITHOUT ROWID;
    CREATE TRIGGER writes_count_insert AFTER INSERT ON writes BEGIN
        INSERT INTO write_counts (kind, state, n) VALUES (NEW.kind, NEW.state, 1)
            ON CONFLICT (kind, state) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER writes_count_update AFTER UPDATE OF kind, state ON writes
    WHEN OLD.kind IS NOT NEW.kind OR OLD.state IS NOT NEW.state BEGIN
        UPDATE write_counts SET n = n - 1 WHERE kind = OLD.kind AND state = OLD.state;
        INSERT INTO write_counts (kind, state, n) VALUES (NEW.kind, NEW.state, 1)
            ON CONFLICT (kind, state) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER writes_count_delete AFTER DELETE ON writes BEGIN
        UPDATE write_counts SET n = n - 1 WHERE kind = OLD.kind AND state = OLD.state;
    END;
    CREATE TRIGGER audit_count_decision AFTER INSERT ON audit
    WHEN NEW.decision != '' AND json_valid(NEW.decision)
        AND (NEW.result IN ('reserved', 'would_do') OR NEW.result LIKE 'denied: %') BEGIN
        INSERT INTO decision_counts (kind, verdict, reason, limit_kind, n)
            VALUES (NEW.action, coalesce(json_extract(NEW.decision, '$.verdict'), ''),
                    coalesce(json_extract(NEW.decision, '$.reason.reason'), ''),
                    coalesce(json_extract(NEW.decision, '$.reason.limit'), ''), 1)
            ON CONFLICT (kind, verdict, reason, limit_kind) DO UPDATE SET n = n + 1;
    END;
    CREATE TRIGGER audit_index_repos AFTER INSERT ON audit WHEN json_valid(NEW.repositories) BEGIN
        INSERT OR IGNORE INTO audit_repos (repo, seq)
            SELECT value, NEW.seq FROM json_each(NEW.repositories) WHERE type = 'text';
    END;
    INSERT INTO write_counts (kind, state, n) SELECT kind, state, COUNT(*) FROM writes GROUP BY kind, state;
    INSERT INTO decision_counts (kind, verdict, reason, limit_kind, n)
        SELECT action, coalesce(json_extract(decision, '$.verdict'), ''),
               coalesce(json_extract(decision, '$.reason.reason'), ''),
               coalesce(json_extract(decision, '$.reason.limit'), ''), COUNT(*)
        FROM audit
        WHERE decision != '' AND json_valid(decision)
          AND (result IN ('reserved', 'would_do') OR result LIKE 'denied: %')
        GROUP BY 1, 2, 3, 4;
    INSERT OR IGNORE INTO audit_repos (repo, seq)
        SELECT j.value, audit.seq FROM audit, json_each(audit.repositories) AS j
        WHERE json_valid(audit.repositories) AND j.type = 'text';",
    // 7: change sets across repositories: the engine's record of each (JSON), its state, whether it still holds its
    // repositories; and one lock per repository held by an open set, so a second set's claim fails in the same
    // transaction that would record it.
    "CREATE TABLE change_sets (
        id TEXT PRIMARY KEY,
        state TEXT NOT NULL,
        open INTEGER NOT NULL,
        record TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE TABLE change_locks (
        repo TEXT PRIMARY KEY,
        change_id TEXT NOT NULL,
        owner TEXT NOT NULL,
        expires_at INTEGER NOT NULL
    );
    CREATE INDEX change_locks_by_set ON change_locks (change_id);",
    // 8: files kept in step across repositories (`[[sync]]`). `sync_files` is each (sync, repository, path)'s content
    // hash as last synced, by which change set, and the branch it waits on where a person merges (a local
    // workspace); `sync_pending` the hashes a change set will have synced once it finishes; `sync_log` every sync,
    // for history.
    "CREATE TABLE sync_files (
        name TEXT NOT NULL,
        repo TEXT NOT NULL,
        path TEXT NOT NULL,
        hash TEXT NOT NULL,
        change_id TEXT NOT NULL,
        branch TEXT NOT NULL,
        synced_at INTEGER NOT NULL,
        PRIMARY KEY (name, repo, path)
    ) WITHOUT ROWID;
    CREATE TABLE sync_pending (
        change_id TEXT NOT NULL,
        name TEXT NOT NULL,
        repo TEXT NOT NULL,
        path TEXT NOT NULL,
        hash TEXT NOT NULL,
        PRIMARY KEY (change_id, repo, path)
    );
    CREATE TABLE sync_log (
        seq INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        repo TEXT NOT NULL,
        path TEXT NOT NULL,
        hash TEXT NOT NULL,
        change_id TEXT NOT NULL,
        synced_at INTEGER NOT NULL
    );
    CREATE INDEX sync_log_by_name ON sync_log (name, seq);",
];
