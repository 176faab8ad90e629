-- Moderation and voting.
--
-- Moderation: mutes (at most one per session and user; expiry is read against the clock,
-- so no job cleans them up), removals (a removed user cannot take a seat in that session
-- again), the removal marks of messages (the text is kept for moderators), and the
-- record of every action. Voting: the window a closed session keeps open, and the votes,
-- one per user and ballot by the primary key, so concurrent double submits cannot store
-- two.

-- How long voting stays open after the close; the close sets voting_closes_at from it,
-- so changing the window later does not move a window already open.
ALTER TABLE debate_sessions
    ADD COLUMN voting_window_seconds integer NOT NULL DEFAULT 600
        CHECK (voting_window_seconds BETWEEN 10 AND 604800),
    ADD COLUMN voting_closes_at timestamptz,
    ADD CONSTRAINT debate_sessions_voting_closes_after_close
        CHECK (voting_closes_at IS NULL OR (closed_at IS NOT NULL AND voting_closes_at > closed_at));

-- A removed message keeps its row (numbering and replies stay whole) and its text.
ALTER TABLE debate_messages
    ADD COLUMN removed_at     timestamptz,
    -- The moderator (no cascade: see moderation_actions.actor_id).
    ADD COLUMN removed_by     uuid REFERENCES users (id) ON DELETE RESTRICT,
    ADD COLUMN removal_reason text CHECK (char_length(removal_reason) <= 500),
    -- A removal names its moderator; no removal details without a removal.
    ADD CONSTRAINT debate_messages_removal_complete
        CHECK ((removed_at IS NULL) = (removed_by IS NULL)
            AND (removed_at IS NOT NULL OR removal_reason IS NULL));

CREATE INDEX debate_messages_removed_by_idx ON debate_messages (removed_by);

-- The current mute of a user in a session; muting again replaces it (upsert on the key).
-- An expired mute may linger: active means `until IS NULL OR until > now`.
CREATE TABLE debate_mutes (
    session_id uuid        NOT NULL REFERENCES debate_sessions (id) ON DELETE CASCADE,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- NULL: until a moderator lifts it.
    until      timestamptz,
    reason     text        CHECK (char_length(reason) <= 500),
    -- Who muted (no cascade: see moderation_actions.actor_id).
    muted_by   uuid        NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    muted_at   timestamptz NOT NULL,
    CHECK (until IS NULL OR until > muted_at),
    -- Also the index of the session_id foreign key, and the append's lookup.
    CONSTRAINT debate_mutes_pkey PRIMARY KEY (session_id, user_id)
);

CREATE INDEX debate_mutes_user_id_idx ON debate_mutes (user_id);
CREATE INDEX debate_mutes_muted_by_idx ON debate_mutes (muted_by);

-- Users removed from a session: joins are refused for good.
CREATE TABLE debate_bans (
    session_id uuid        NOT NULL REFERENCES debate_sessions (id) ON DELETE CASCADE,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    reason     text        CHECK (char_length(reason) <= 500),
    banned_by  uuid        NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    banned_at  timestamptz NOT NULL,
    CONSTRAINT debate_bans_pkey PRIMARY KEY (session_id, user_id)
);

CREATE INDEX debate_bans_user_id_idx ON debate_bans (user_id);
CREATE INDEX debate_bans_banned_by_idx ON debate_bans (banned_by);

-- The record of every moderation action, written in the transaction of its effect.
CREATE TABLE moderation_actions (
    id               uuid        PRIMARY KEY,
    session_id       uuid        NOT NULL REFERENCES debate_sessions (id) ON DELETE CASCADE,
    -- The session's scope, copied, so "the actions of a scope" is one index range.
    scope            text        NOT NULL CHECK (scope ~ '^(global|(institution|campus|department):[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$'),
    -- No cascade, as for message authors: the record must name who did what to whom,
    -- and accounts are disabled, not deleted.
    actor_id         uuid        NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
    target_user_id   uuid        REFERENCES users (id) ON DELETE RESTRICT,
    target_seq       bigint      CHECK (target_seq >= 1),
    kind             text        NOT NULL CHECK (kind IN ('mute', 'unmute', 'remove', 'warn', 'remove_message')),
    reason           text        CHECK (char_length(reason) <= 500),
    duration_seconds bigint      CHECK (duration_seconds BETWEEN 1 AND 2592000),
    expires_at       timestamptz,
    created_at       timestamptz NOT NULL,
    -- A message removal names its message; nothing else does.
    CHECK ((kind = 'remove_message') = (target_seq IS NOT NULL)),
    -- A warning always says why.
    CHECK (kind <> 'warn' OR reason IS NOT NULL)
);

-- Keyset paging newest first, overall and per session, scope, target and actor (each
-- also the index of its foreign key).
CREATE INDEX moderation_actions_created_at_id_idx ON moderation_actions (created_at DESC, id DESC);
CREATE INDEX moderation_actions_session_id_idx ON moderation_actions (session_id, created_at DESC, id DESC);
CREATE INDEX moderation_actions_scope_idx ON moderation_actions (scope, created_at DESC, id DESC);
CREATE INDEX moderation_actions_target_user_id_idx ON moderation_actions (target_user_id, created_at DESC, id DESC);
CREATE INDEX moderation_actions_actor_id_idx ON moderation_actions (actor_id, created_at DESC, id DESC);

-- Votes: one per user and ballot (the primary key; a changed vote updates the row).
CREATE TABLE debate_votes (
    session_id uuid        NOT NULL REFERENCES debate_sessions (id) ON DELETE CASCADE,
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    ballot     text        NOT NULL CHECK (ballot IN ('winner', 'best_argument')),
    -- The winner ballot names a side, the best argument ballot a message; never both.
    side       text        CHECK (side IN ('pro', 'con')),
    seq        bigint,
    cast_at    timestamptz NOT NULL,
    CHECK ((ballot = 'winner' AND side IS NOT NULL AND seq IS NULL)
        OR (ballot = 'best_argument' AND seq IS NOT NULL AND side IS NULL)),
    -- The argument voted for is a message of the session (NULL seq: not checked).
    CONSTRAINT debate_votes_message_fkey FOREIGN KEY (session_id, seq)
        REFERENCES debate_messages (session_id, seq) ON DELETE CASCADE,
    CONSTRAINT debate_votes_pkey PRIMARY KEY (session_id, user_id, ballot)
);

CREATE INDEX debate_votes_user_id_idx ON debate_votes (user_id);
-- Tallying the arguments of a session, and the index of the message foreign key.
CREATE INDEX debate_votes_session_id_seq_idx ON debate_votes (session_id, seq) WHERE seq IS NOT NULL;
