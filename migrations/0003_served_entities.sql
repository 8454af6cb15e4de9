-- The served dataset of a pull sink (issue 14): what `skolsync serve` hands
-- Skolverket's SS12000 client. Keyed by dataset (the pull sink's identity)
-- so one state file can serve several sinks without mixing them. Bodies
-- hold personal data as the provtjänst gets it: the state file is 0600.

-- One row per served entity: its JSON without `meta` (the store keeps the
-- stamps), the content hash that decides whether a write changes it, and
-- the server-kept `meta.created` / `meta.modified`.
CREATE TABLE served_entities (
    dataset  TEXT NOT NULL,
    -- Organisation | Person | Group | Duty | Activity.
    kind     TEXT NOT NULL,
    id       TEXT NOT NULL,
    body     TEXT NOT NULL,
    hash     TEXT NOT NULL,
    created  TEXT NOT NULL,
    modified TEXT NOT NULL,
    -- Also the index of paging by id: a page is one range scan of it.
    PRIMARY KEY (dataset, kind, id)
);

-- The `meta.created.*` / `meta.modified.*` filters.
CREATE INDEX served_entities_by_created ON served_entities (dataset, kind, created);
CREATE INDEX served_entities_by_modified ON served_entities (dataset, kind, modified);

-- One tombstone per removed entity, for `/deletedEntities`: a re-created
-- entity loses its tombstone, a re-deleted one gets a new time.
CREATE TABLE served_tombstones (
    dataset    TEXT NOT NULL,
    kind       TEXT NOT NULL,
    id         TEXT NOT NULL,
    deleted_at TEXT NOT NULL,
    PRIMARY KEY (dataset, kind, id)
);

-- `/deletedEntities` pages in (deleted_at, kind, id) order.
CREATE INDEX served_tombstones_by_time ON served_tombstones (dataset, deleted_at, kind, id);
