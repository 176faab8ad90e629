-- Accounts.
CREATE TABLE users (
    id            uuid        PRIMARY KEY,
    username      text        NOT NULL CHECK (username <> ''),
    -- The application stores addresses normalised to lower case and the unique
    -- constraint below relies on that; the CHECK keeps a manual insert from breaking it.
    email         text        NOT NULL CHECK (email <> '' AND email = lower(email)),
    -- PHC string of the argon2id hash.
    password_hash text        NOT NULL CHECK (password_hash <> ''),
    is_active     boolean     NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);

-- `Alice` and `alice` are the same user. Created before the e-mail constraint so that
-- an insert clashing on both reports the username (unique indexes are checked in
-- creation order), as the in-memory adapter does.
CREATE UNIQUE INDEX users_username_lower_key ON users (lower(username));

ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);
