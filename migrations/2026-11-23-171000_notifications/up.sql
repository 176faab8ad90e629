-- Notifications and the channel each user chose per kind.
--
-- Notifications are written by background jobs that run at least once, so each carries
-- a de-duplication key unique per user: a retried job's insert (`ON CONFLICT DO
-- NOTHING`) stores nothing. The CHECKs repeat the service's rules as a backstop.

CREATE TABLE notifications (
    id         uuid        PRIMARY KEY,
    -- A user's notifications go with the account.
    user_id    uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The text forms of domain_notifications::NotificationKind.
    kind       text        NOT NULL CHECK (kind IN ('debate_scheduled', 'session_rescheduled',
                                                    'moderation_action', 'results_published',
                                                    'role_granted')),
    title      text        NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    body       text        NOT NULL CHECK (char_length(body) <= 2000),
    -- A path on this service, never another site (`//host` is one to a browser).
    link       text        CHECK (char_length(link) <= 500 AND link LIKE '/%' AND link NOT LIKE '//%'),
    dedupe_key text        NOT NULL CHECK (char_length(dedupe_key) BETWEEN 1 AND 200),
    created_at timestamptz NOT NULL,
    -- NULL while unread. Not checked against created_at: the two come from the clocks
    -- of different instances (a worker creates, a web instance reads), which may differ.
    read_at    timestamptz,
    -- What makes a retried job's insert a no-op.
    CONSTRAINT notifications_user_id_dedupe_key_key UNIQUE (user_id, dedupe_key)
);

-- A user's list, newest first with keyset paging; also the index of the foreign key.
CREATE INDEX notifications_user_id_created_at_idx
    ON notifications (user_id, created_at DESC, id DESC);
-- Unread only: the unread count (asked on every page, when the cache does not know it)
-- and the unread filter read only the few unread rows, not a user's whole history.
CREATE INDEX notifications_unread_idx
    ON notifications (user_id, created_at DESC, id DESC) WHERE read_at IS NULL;

-- The channel a user chose for a kind; a kind without a row uses its default (in the
-- code, so defaults can change without rewriting rows).
CREATE TABLE notification_preferences (
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind    text NOT NULL CHECK (kind IN ('debate_scheduled', 'session_rescheduled',
                                          'moderation_action', 'results_published',
                                          'role_granted')),
    channel text NOT NULL CHECK (channel IN ('in_app', 'email', 'both', 'none')),
    -- Also the index of the foreign key.
    CONSTRAINT notification_preferences_pkey PRIMARY KEY (user_id, kind)
);
