-- What Skolverket's SS12000 client registers at and posts back to the pull
-- API that `skolsync serve` runs (issue 14). Rows are keyed by dataset, the
-- pull sink's identity, like the served entities.

-- One row per subscription (`POST /subscriptions`). resource_types is a JSON
-- array of type names (`["Person", "Group"]`; empty: every type). Times are
-- RFC 3339 UTC with microseconds, so text order is time order.
CREATE TABLE served_subscriptions (
    dataset        TEXT NOT NULL,
    id             TEXT NOT NULL,
    name           TEXT NOT NULL,
    target         TEXT NOT NULL,
    resource_types TEXT NOT NULL,
    created        TEXT NOT NULL,
    expires        TEXT NOT NULL,
    PRIMARY KEY (dataset, id)
);

-- One row per LogEntry the client posted (`POST /log`): what it could not
-- take, and why.
CREATE TABLE served_log_entries (
    dataset           TEXT NOT NULL,
    id                TEXT NOT NULL,
    received_at       TEXT NOT NULL,
    message           TEXT NOT NULL,
    message_type      TEXT,
    resource_type     TEXT,
    resource_id       TEXT,
    resource_url      TEXT,
    severity          TEXT NOT NULL,
    time_of_occurance TEXT,
    PRIMARY KEY (dataset, id)
);
CREATE INDEX served_log_entries_received ON served_log_entries (dataset, received_at);
CREATE INDEX served_log_entries_resource ON served_log_entries (dataset, resource_id);

-- One row per StatisticsEntry the client posted (`POST /statistics`).
CREATE TABLE served_statistics (
    dataset           TEXT NOT NULL,
    id                TEXT NOT NULL,
    received_at       TEXT NOT NULL,
    resource_type     TEXT NOT NULL,
    new_count         INTEGER NOT NULL,
    updated_count     INTEGER NOT NULL,
    deleted_count     INTEGER NOT NULL,
    resource_url      TEXT,
    time_of_occurance TEXT,
    PRIMARY KEY (dataset, id)
);
CREATE INDEX served_statistics_received ON served_statistics (dataset, received_at);
