-- The state store of one pipeline (or of several, once a shared PostgreSQL
-- backend exists): run history and the run lock, what each sink holds, the
-- id crosswalk for migrations and the watermarks of incremental reads.
--
-- Written in the SQL that SQLite and PostgreSQL share, so that a PostgreSQL
-- backend can run the same statements:
-- * only TEXT and BIGINT/INTEGER columns; flags are INTEGER 0/1 rather than
--   BOOLEAN (SQLite has no boolean type);
-- * timestamps are TEXT in one fixed-width RFC 3339 UTC form
--   (`2026-11-04T02:15:00.123456Z`), so they sort as text in both;
-- * ids (UUIDs) are TEXT in their hyphenated lower-case form;
-- * upserts use `INSERT … ON CONFLICT (…) DO UPDATE/NOTHING`, which both
--   understand; statements use `$1` placeholders.
-- The SQLite-only settings (WAL journal, synchronous = NORMAL, busy
-- timeout) are connection options in src/state/mod.rs, not part of the
-- schema.

-- Store-wide settings: the crosswalk salt.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

-- One row per run, inserted when it begins.
CREATE TABLE runs (
    run_id      TEXT PRIMARY KEY NOT NULL,
    pipeline    TEXT NOT NULL,
    sink        TEXT NOT NULL,
    started_at  TEXT NOT NULL,
    -- NULL while running, and for a run that died (then outcome says so).
    finished_at TEXT,
    -- NULL while running; success | partial | aborted | interrupted.
    outcome     TEXT,
    reason      TEXT,
    -- The report's counts, as JSON text.
    counts      TEXT,
    pid         BIGINT NOT NULL,
    host        TEXT NOT NULL
);

CREATE INDEX runs_by_start ON runs (started_at);

-- At most one row per pipeline: the run that currently holds it.
CREATE TABLE run_lock (
    pipeline TEXT PRIMARY KEY NOT NULL,
    run_id   TEXT NOT NULL,
    since    TEXT NOT NULL,
    pid      BIGINT NOT NULL,
    host     TEXT NOT NULL
);

-- What a sink holds (or was last told), per entity.
CREATE TABLE entities (
    -- The sink identity (e.g. the provisioning URL), so sinks never mix.
    sink           TEXT NOT NULL,
    -- Person | Duty | Group | Activity.
    kind           TEXT NOT NULL,
    -- The Skolverket (provtjänst) id.
    id             TEXT NOT NULL,
    source_id      TEXT,
    school_unit    TEXT,
    -- The content hash the service last accepted; NULL while it holds
    -- nothing of ours. Only accepted outcomes move it.
    confirmed_hash TEXT,
    -- The content hash of the last create/update attempted.
    last_hash      TEXT,
    -- create | update | delete.
    last_action    TEXT NOT NULL,
    -- success | warning | error | held_back.
    last_status    TEXT NOT NULL,
    -- The service's LogEntry list, as JSON text.
    messages       TEXT NOT NULL,
    detail         TEXT,
    run_id         TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    -- 1 when this pipeline created the entity: only those may be deleted.
    created_by_us  INTEGER NOT NULL,
    PRIMARY KEY (sink, kind, id)
);

CREATE INDEX entities_by_source_id ON entities (sink, source_id);

-- Identity continuity across source systems: a salted SHA-256 of a
-- normalised natural key (never the key itself) → the Skolverket id.
CREATE TABLE crosswalk (
    kind          TEXT NOT NULL,
    -- civic_no | eppn | email | source_id | natural.
    key_type      TEXT NOT NULL,
    key_hash      TEXT NOT NULL,
    skolverket_id TEXT NOT NULL,
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (kind, key_type, key_hash)
);

-- Where the last incremental read of a source ended.
CREATE TABLE watermarks (
    source_id  TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
