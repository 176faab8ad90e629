-- Daily activity of debates per scope, computed by the hourly `analytics.rollup` job
-- from the debate tables (see domain_debates::analytics) and stored, so reading a year
-- of figures never scans messages or votes. A roll-up deletes and rewrites one day's
-- rows in one transaction.
--
-- No foreign keys: the rows are a record of what happened, and stay when the sessions
-- they counted are deleted.

CREATE TABLE debate_activity_daily (
    -- The UTC day.
    day              date        NOT NULL,
    -- The sessions' scope, in text form as on debate_sessions.
    scope            text        NOT NULL CHECK (scope ~ '^(global|(institution|campus|department):[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$'),
    sessions_started bigint      NOT NULL CHECK (sessions_started >= 0),
    sessions_closed  bigint      NOT NULL CHECK (sessions_closed >= 0),
    messages         bigint      NOT NULL CHECK (messages >= 0),
    votes            bigint      NOT NULL CHECK (votes >= 0),
    participants     bigint      NOT NULL CHECK (participants >= 0),
    -- When the roll-up that wrote the row ran.
    computed_at      timestamptz NOT NULL,
    -- Also "every scope's rows of a range of days".
    CONSTRAINT debate_activity_daily_pkey PRIMARY KEY (day, scope)
);

-- One scope's rows of a range of days (the common read).
CREATE INDEX debate_activity_daily_scope_day_idx ON debate_activity_daily (scope, day);

-- The roll-up reads one day of each table every hour (today and yesterday); without
-- these it would scan every session, message, vote and seat ever stored, a cost that
-- grows forever. Time-ordered keys are appended at the right edge of the index, so the
-- writes they add to appends, casts and joins are small.
CREATE INDEX debate_sessions_started_at_idx ON debate_sessions (started_at)
    WHERE started_at IS NOT NULL;
CREATE INDEX debate_sessions_closed_at_idx ON debate_sessions (closed_at)
    WHERE closed_at IS NOT NULL;
-- Messages are the hot path (every argument of every live room): a BRIN index, a few
-- pages summarising block ranges of an append-only table, costs appends next to nothing.
CREATE INDEX debate_messages_created_at_idx ON debate_messages USING brin (created_at);
CREATE INDEX debate_votes_cast_at_idx ON debate_votes (cast_at);
CREATE INDEX debate_participants_joined_at_idx ON debate_participants (joined_at);
