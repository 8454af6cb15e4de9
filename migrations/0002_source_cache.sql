-- The cached copy of each source (issue 13: incremental reads): what the
-- source held at its last read, so that a read of only what changed can be
-- merged into the whole picture the plan needs. It holds personal data
-- (names, personnummer) like the source: the state file is 0600.

-- One row per source: what the cache belongs to and how it was filled
-- (JSON: the [source] section's fingerprint, the last full read, the input
-- files' stamps, a refusal of incremental reads), the extract rejects, the
-- records' origins (file sources) and the inputs' shapes of that read.
CREATE TABLE source_cache (
    source_id  TEXT PRIMARY KEY NOT NULL,
    info       TEXT NOT NULL,
    rejects    TEXT NOT NULL,
    origins    TEXT NOT NULL,
    inputs     TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- One row per cached entity: its SS 12000 JSON as the connector read it.
CREATE TABLE source_cache_entities (
    source_id TEXT NOT NULL,
    -- Organisation | Person | Duty | Group | Activity | Syllabus | Programme.
    kind      TEXT NOT NULL,
    id        TEXT NOT NULL,
    body      TEXT NOT NULL,
    PRIMARY KEY (source_id, kind, id)
);
