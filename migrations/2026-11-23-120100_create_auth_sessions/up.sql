-- Login sessions ("token families") and their single-use refresh tokens.
CREATE TABLE auth_sessions (
    id           uuid        PRIMARY KEY,
    user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    user_agent   text,
    ip           text,
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz NOT NULL,
    -- No refresh token of the session is accepted from this instant on.
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz
);

-- Serves the foreign key and "a user's sessions, newest first".
CREATE INDEX auth_sessions_user_id_created_at_idx ON auth_sessions (user_id, created_at DESC);

-- Only SHA-256 hashes are stored: a database leak yields no usable token.
CREATE TABLE refresh_tokens (
    token_hash text        PRIMARY KEY CHECK (token_hash <> ''),
    session_id uuid        NOT NULL REFERENCES auth_sessions (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL,
    -- Set when the token is exchanged for its successor; presenting it again after
    -- that revokes the session.
    used_at    timestamptz
);

CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);
