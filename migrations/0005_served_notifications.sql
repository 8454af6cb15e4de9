-- Every attempt to notify a subscriber of a served dataset (the pull
-- method's webhooks to Skolverket's SS12000 client), so a missed
-- notification is visible in `status` and can be told apart from a quiet
-- client.
CREATE TABLE served_notifications (
    dataset      TEXT NOT NULL,
    -- A UUID of its own: rows are only ever inserted.
    id           TEXT PRIMARY KEY NOT NULL,
    subscription TEXT NOT NULL,
    target       TEXT NOT NULL,
    -- The body sent, as JSON text.
    body         TEXT NOT NULL,
    attempt      BIGINT NOT NULL,
    attempted_at TEXT NOT NULL,
    -- The answer's status; NULL when none came.
    status       BIGINT,
    error        TEXT,
    -- 1 when the target took it (2xx).
    delivered    INTEGER NOT NULL,
    -- When the changes it told of began to be written: everything they
    -- touched is stamped at or after it (for re-stamping after a miss).
    changes_since TEXT NOT NULL
);

CREATE INDEX served_notifications_by_time ON served_notifications (dataset, attempted_at);
CREATE INDEX served_notifications_by_subscription ON served_notifications (dataset, subscription, attempted_at);
