-- Debates: topics, their sessions (scheduled -> live -> closed), the seats participants
-- take in a session, and the arguments sent in it, numbered per session.
--
-- Scopes are stored in their text form, as in the RBAC tables: a topic's sessions carry
-- a copy of its scope (a topic's scope never changes), so "the sessions of a scope" is
-- one index range. Lengths and sides are checked here as a backstop; the domain
-- validates them first.

CREATE TABLE debate_topics (
    id          uuid        PRIMARY KEY,
    title       text        NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    description text        NOT NULL CHECK (char_length(description) <= 10000),
    scope       text        NOT NULL CHECK (scope ~ '^(global|(institution|campus|department):[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$'),
    -- Who created it; kept as NULL when that account is deleted.
    created_by  uuid        REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL
);

-- The topics of a scope, by id (keyset paging).
CREATE INDEX debate_topics_scope_id_idx ON debate_topics (scope, id);
CREATE INDEX debate_topics_created_by_idx ON debate_topics (created_by);

CREATE TABLE debate_sessions (
    id              uuid        PRIMARY KEY,
    topic_id        uuid        NOT NULL REFERENCES debate_topics (id) ON DELETE CASCADE,
    -- The topic's scope, copied.
    scope           text        NOT NULL CHECK (scope ~ '^(global|(institution|campus|department):[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$'),
    title           text        NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    scheduled_start timestamptz NOT NULL,
    scheduled_end   timestamptz,
    -- NULL: any number of debaters per side.
    max_per_side    integer     CHECK (max_per_side BETWEEN 1 AND 100),
    status          text        NOT NULL CHECK (status IN ('scheduled', 'live', 'closed')),
    -- Who created it; kept as NULL when that account is deleted.
    created_by      uuid        REFERENCES users (id) ON DELETE SET NULL,
    created_at      timestamptz NOT NULL,
    started_at      timestamptz,
    closed_at       timestamptz,
    -- The sequence number of the session's last message: each append increments it
    -- (taking the row lock) and uses the new value, in the transaction that inserts the
    -- message, so numbers are gapless and commit in order.
    last_seq        bigint      NOT NULL DEFAULT 0 CHECK (last_seq >= 0)
);

-- Also the index for the topic_id foreign key (its leading column).
CREATE INDEX debate_sessions_topic_id_id_idx ON debate_sessions (topic_id, id);
CREATE INDEX debate_sessions_status_id_idx ON debate_sessions (status, id);
CREATE INDEX debate_sessions_scope_id_idx ON debate_sessions (scope, id);
CREATE INDEX debate_sessions_created_by_idx ON debate_sessions (created_by);

-- Seats. Leaving closes a seat (`left_at`); joining again, or moving to another side,
-- opens a new one, so a user has at most one active seat per session and any number of
-- closed ones.
CREATE TABLE debate_participants (
    -- A surrogate key: closed seats of one user in one session can share every other
    -- column (joined and left within the same clock tick).
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    session_id uuid        NOT NULL REFERENCES debate_sessions (id) ON DELETE CASCADE,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    side       text        NOT NULL CHECK (side IN ('pro', 'con', 'audience')),
    joined_at  timestamptz NOT NULL,
    -- NULL while the seat is taken.
    left_at    timestamptz
);

-- At most one active seat per user and session; also serves "the active seats of a
-- session, by user id".
CREATE UNIQUE INDEX debate_participants_active_key ON debate_participants (session_id, user_id)
    WHERE left_at IS NULL;
-- Counting a side's active seats (the capacity check of a join).
CREATE INDEX debate_participants_active_side_idx ON debate_participants (session_id, side)
    WHERE left_at IS NULL;
-- Every seat, closed ones included: the index of the session_id foreign key.
CREATE INDEX debate_participants_session_id_user_id_idx ON debate_participants (session_id, user_id);
CREATE INDEX debate_participants_user_id_idx ON debate_participants (user_id);

-- Arguments, numbered 1, 2, 3, ... per session without gaps (see last_seq).
CREATE TABLE debate_messages (
    session_id uuid        NOT NULL REFERENCES debate_sessions (id) ON DELETE CASCADE,
    seq        bigint      NOT NULL CHECK (seq >= 1),
    -- NOT NULL (the domain's message always has an author) and no cascade: the
    -- arguments are the debate's record, and deleting one would leave a hole in the
    -- numbering and replies answering nothing. An account that has argued cannot be
    -- deleted (accounts are disabled, not deleted).
    author_id  uuid        NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    -- Only debaters argue.
    side       text        NOT NULL CHECK (side IN ('pro', 'con')),
    body       text        NOT NULL CHECK (char_length(body) BETWEEN 1 AND 5000),
    -- An earlier message of the same session (numbers are gapless, so every number
    -- below `seq` exists).
    reply_to   bigint      CHECK (reply_to BETWEEN 1 AND seq - 1),
    created_at timestamptz NOT NULL,
    -- Also the index for the session_id foreign key.
    CONSTRAINT debate_messages_pkey PRIMARY KEY (session_id, seq)
);

CREATE INDEX debate_messages_author_id_idx ON debate_messages (author_id);
