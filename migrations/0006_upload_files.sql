-- Skolverket's file method: the upload workbooks a pipeline wrote, which
-- of them a person confirmed uploaded, and the rows of the last confirmed
-- upload (the baseline of the next file, which holds only what changed).

-- One row per workbook written.
CREATE TABLE upload_files (
    -- The sink identity (`skolverket-file:<folder>`).
    sink         TEXT NOT NULL,
    -- A UUID of its own.
    file_id      TEXT NOT NULL,
    path         TEXT NOT NULL,
    -- SHA-256 of the file's bytes, hex: confirm-upload checks it.
    sha256       TEXT NOT NULL,
    run_id       TEXT NOT NULL,
    written_at   TEXT NOT NULL,
    -- written | superseded | confirmed.
    status       TEXT NOT NULL,
    -- How many rows it holds.
    row_count    BIGINT NOT NULL,
    confirmed_at TEXT,
    PRIMARY KEY (sink, file_id)
);

CREATE INDEX upload_files_by_time ON upload_files (sink, written_at);

-- The rows of the file awaiting confirmation (at most one per sink; gone
-- once it is confirmed or superseded).
CREATE TABLE upload_file_rows (
    sink    TEXT NOT NULL,
    file_id TEXT NOT NULL,
    -- classes | subject_groups | students | staff.
    sheet   TEXT NOT NULL,
    row_key TEXT NOT NULL,
    -- new | changed | removed.
    change  TEXT NOT NULL,
    -- The cells, as a JSON array of text.
    cells   TEXT NOT NULL,
    PRIMARY KEY (sink, file_id, sheet, row_key)
);

-- The rows as of the last confirmed upload.
CREATE TABLE upload_confirmed_rows (
    sink    TEXT NOT NULL,
    sheet   TEXT NOT NULL,
    row_key TEXT NOT NULL,
    cells   TEXT NOT NULL,
    PRIMARY KEY (sink, sheet, row_key)
);
